"""Every panel, annotation and variable query of every dashboard, run against the real InfluxDB.

Data: the shared simulator run of ``conftest.py`` (through Kafka and the real daemon). Each
query is interpolated as Grafana would (dashboard variables, then the Flux macros of
``macros.go``), with the datasource options read from the provisioning file, and run.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from influxdb_client.client.write_api import SYNCHRONOUS

from detectors import Engine
from ingest.commands.alerts import Ack, ack_line
from ingest.influx.alert_migration import MigrationCounts, run_migration
from ingest.influx.line_protocol import line
from ingest.influx.minutes import LATE_WINDOW_MS
from ingest.privacy import Pseudonymizer
from messages import InvalidReading, ReadingDecoder
from tests.grafana import grafana_sim as g
from tests.grafana.checks import GRAFANA
from tests.grafana.conftest import Scenario
from tests.integration.harness import PIVOT, create_bucket

pytestmark = pytest.mark.integration

DASHBOARDS = {p.stem: json.loads(p.read_text()) for p in (GRAFANA / "dashboards").glob("*.json")}


# ----------------------------------------------------------------------------- expectations

TIME_VALUE = {"_time", "_value"}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ALWAYS, OPEN_CLINICAL, OPEN_DQ = "data", "open_clinical", "open_data_quality"
# dashboard -> query (panel title + refId, annotation or variable) -> (columns every row has,
# when the scenario guarantees rows: ALWAYS, or OPEN_* = while an alert of that category is open)
EXPECT: dict[str, dict[str, tuple[set[str], str]]] = {
    "alerts-overview": {
        "Open clinical alerts by severity A": ({"severity", "_value"}, OPEN_CLINICAL),
        "Open clinical alerts by kind and severity A": ({"kind"}, OPEN_CLINICAL),
        "Clinical alerts raised in range, by kind and severity A": ({"kind"}, ALWAYS),
        "Clinical alert timeline A": (TIME_VALUE | {"device", "kind"}, ALWAYS),
        "Open data quality alerts by severity A": ({"severity", "_value"}, OPEN_DQ),
        "Open data quality alerts by kind and severity A": ({"kind"}, OPEN_DQ),
        "Data quality alerts raised in range, by kind and severity A": ({"kind"}, ALWAYS),
        "Data quality alert timeline A": (TIME_VALUE | {"device", "kind"}, ALWAYS),
        "Devices with the most alerts A": ({"device", "total"}, ALWAYS),
        "Acknowledged vs unacknowledged A": ({"status", "_value"}, ALWAYS),
        "Median time to acknowledge A": ({"tta_s"}, ALWAYS),
        "Time to acknowledge A": (
            {"alert_id", "raised", "acknowledged", "device", "kind", "severity", "acked_by"}
            | {"tta_s"},
            ALWAYS,
        ),
        "variable device": ({"_value"}, ALWAYS),
        "variable kind": ({"_value"}, ALWAYS),
    },
    "device-drilldown": {
        "Heart rate and personal baseline A": (TIME_VALUE, ALWAYS),
        "Heart rate and personal baseline B": (TIME_VALUE, ALWAYS),
        "Heart rate and personal baseline C": (TIME_VALUE, ALWAYS),
        "Heart rate and personal baseline D": (TIME_VALUE, ALWAYS),
        "Anomaly score A": (TIME_VALUE | {"metric"}, ALWAYS),
        "SpO2 A": (TIME_VALUE, ALWAYS),
        "SpO2 B": (TIME_VALUE, ALWAYS),
        "Steps per hour A": (TIME_VALUE, ALWAYS),
        "Sleep stages A": (TIME_VALUE, ALWAYS),
        "Alerts of this device A": (
            {"alert_id", "started", "kind", "category", "severity", "state", "duration_s"}
            | {"explanation", "acked_by"},
            ALWAYS,
        ),
        "annotation Alerts": ({"_time", "timeEnd", "text", "kind"}, ALWAYS),
        "variable device": ({"_value"}, ALWAYS),
        "variable kind": ({"_value"}, ALWAYS),
    },
    "pipeline-health": {
        "Seconds since last heartbeat A": (TIME_VALUE | {"instance"}, ALWAYS),
        "Daemon up / down A": (TIME_VALUE, ALWAYS),
        "Readings per second A": (TIME_VALUE | {"instance"}, ALWAYS),
        "Consumer lag A": (TIME_VALUE | {"instance"}, ALWAYS),
        "Dead-letter rate A": (TIME_VALUE | {"instance"}, ALWAYS),
        "Dead-letter rate by reason A": (TIME_VALUE | {"reason"}, ALWAYS),
        "Dead letters by reason A": ({"reason", "_value"}, ALWAYS),
        "Errors A": (TIME_VALUE | {"instance"}, ALWAYS),
        "InfluxDB write latency A": (TIME_VALUE | {"instance"}, ALWAYS),
        "variable instance": ({"_value"}, ALWAYS),
    },
}


def _all(name: str) -> g.Variable:
    return g.Variable(name, (g.ALL,), multi=True, include_all=True, all_value=".*")


def _default_range(dashboard: Mapping[str, Any], now: dt.datetime) -> tuple[dt.datetime, ...]:
    m = re.fullmatch(r"now-(\d+)h", dashboard["time"]["from"])
    assert m, dashboard["time"]
    return now - dt.timedelta(hours=int(m.group(1))), now


def _run_dashboard(
    sc: Scenario,
    name: str,
    variables: Mapping[str, g.Variable],
    start: dt.datetime,
    stop: dt.datetime,
    max_data_points: int = 1000,
) -> dict[str, list[dict[str, Any]]]:
    d = DASHBOARDS[name]
    out = {}
    for where, owner, query in g.iter_queries(d):
        interval = g.query_interval(start, stop, max_data_points, owner.get("interval") or "10s")
        text = g.interpolate(
            query, variables=variables, start=start, stop=stop, interval=interval, ds=sc.ds
        )
        assert not re.search(r"\bv\.[a-zA-Z]", text), text
        try:
            out[_key(where)] = sc.run(text)
        except Exception as exc:  # the query text is the useful part of the failure
            raise AssertionError(f"{name} {where} failed: {exc}\n{text}") from None
    return out


def _key(where: str) -> str:
    """``panel 2 'Title' A`` -> ``Title A``; ``variable 'device'`` -> ``variable device``."""
    where = re.sub(r"^panel \d+ '(.*)' (\w+)$", r"\1 \2", where)
    return re.sub(r"^(annotation|variable) '(.*)'$", r"\1 \2", where)


def _check(name: str, results: Mapping[str, list[dict[str, Any]]], when: set[str]) -> None:
    assert results.keys() == EXPECT[name].keys(), "every query has an expectation"
    for where, rows in results.items():
        columns, guaranteed = EXPECT[name][where]
        if guaranteed in when:
            assert rows, f"{name} {where}: no rows where the scenario guarantees data"
        for row in rows:
            missing = columns - row.keys()
            assert not missing, f"{name} {where}: row without {missing}: {sorted(row)}"


def _emitted(e: Mapping[str, Any]) -> tuple[dt.datetime, int]:
    """An event's place in its alert's history: its time, then, at one instant, the order the
    engine emits events (open, escalations by severity, resolved)."""
    state = {"open": 0, "ongoing": 1, "resolved": 4}[e["state"]]
    return e["_time"], state + {"info": 0, "warning": 1, "critical": 2}[e["severity"]]


def _open_at(
    sc: Scenario, stop: dt.datetime, category: str
) -> collections.Counter[tuple[str, str]]:
    """Alerts of a category open at ``stop`` by kind and severity, from the raw events."""
    latest: dict[str, dict[str, Any]] = {}
    for e in sorted(sc.events, key=_emitted):
        if e["_time"] <= stop and e["category"] == category:
            latest[e["alert_id"]] = e
    return collections.Counter((e["kind"], e["severity"]) for e in latest.values() if e["open"])


# ---------------------------------------------------------------------------------- tests


def test_alerts_overview(scenario: Scenario) -> None:
    sc = scenario
    variables = {n: _all(n) for n in ("device", "kind", "severity")}
    start, stop = _default_range(DASHBOARDS["alerts-overview"], sc.now)
    res = _run_dashboard(sc, "alerts-overview", variables, start, stop)
    _check("alerts-overview", res, {ALWAYS})

    raised = [e for e in sc.events if e["state"] == "open" and start <= e["_time"] < stop]
    per_device = collections.Counter((e["device"], e["category"]) for e in raised)
    top = res["Devices with the most alerts A"]
    assert sum(r["total"] for r in top) == len(raised)
    for r in top:  # row by row: sorting must keep each row's columns together
        assert (r["clinical"] or 0) == per_device[(r["device"], "clinical")]
        assert (r["data_quality"] or 0) == per_device[(r["device"], "data_quality")]
    assert [r["total"] for r in top] == sorted((r["total"] for r in top), reverse=True)
    per_kind = collections.Counter(
        (e["kind"], e["severity"]) for e in raised if e["category"] == "clinical"
    )
    by_kind = res["Clinical alerts raised in range, by kind and severity A"]
    assert {(r["kind"], k): v for r in by_kind for k, v in r.items() if k != "kind" and v} == (
        dict(per_kind)
    )

    status = {r["status"]: r["_value"] for r in res["Acknowledged vs unacknowledged A"]}
    assert status == {"acknowledged": len(sc.acks), "unacknowledged": len(raised) - len(sc.acks)}
    tta = res["Time to acknowledge A"]
    assert {r["alert_id"] for r in tta} == set(sc.acks)
    opened_at = {e["alert_id"]: e["_time"] for e in raised}
    for r in tta:
        expected = (sc.acks[r["alert_id"]] - opened_at[r["alert_id"]]).total_seconds()
        assert r["tta_s"] == pytest.approx(expected, abs=0.002)
    (median,) = res["Median time to acknowledge A"]
    assert min(r["tta_s"] for r in tta) <= median["tta_s"] <= max(r["tta_s"] for r in tta)
    assert {r["_value"] for r in res["variable device"]} <= set(sc.devices)


@pytest.mark.parametrize("category", ["clinical", "data_quality"])
def test_open_alert_panels_while_alerts_are_open(scenario: Scenario, category: str) -> None:
    """At the end of the run every alert has resolved; stop the range where the most alerts
    of the category are open instead (several, so a query counting one alert per table of
    the wrong grouping fails)."""
    sc = scenario
    opened = [e["_time"] for e in sc.events if e["category"] == category and e["state"] == "open"]
    stop = max(
        (t + dt.timedelta(seconds=1) for t in opened),
        key=lambda t: sum(_open_at(sc, t, category).values()),
    )
    expected = _open_at(sc, stop, category)
    assert sum(expected.values()) >= 2, "several alerts are open at the chosen instant"
    variables = {n: _all(n) for n in ("device", "kind", "severity")}
    res = _run_dashboard(sc, "alerts-overview", variables, stop - dt.timedelta(hours=24), stop)
    _check("alerts-overview", res, {f"open_{category}"})
    label = "clinical" if category == "clinical" else "data quality"
    stat = res[f"Open {label} alerts by severity A"]
    by_severity: collections.Counter[str] = collections.Counter()
    for (_, severity), n in expected.items():
        by_severity[severity] += n
    assert {r["severity"]: r["_value"] for r in stat} == dict(by_severity)
    by_kind = res[f"Open {label} alerts by kind and severity A"]
    got = {(r["kind"], k): v for r in by_kind for k, v in r.items() if k != "kind" and v}
    assert got == dict(expected)


def test_alerts_overview_with_selected_variables(scenario: Scenario) -> None:
    """Multi-value selections reach the query as anchored regexes and filter exactly."""
    sc = scenario
    clinical = [e for e in sc.events if e["category"] == "clinical" and e["state"] == "open"]
    pick = clinical[0]
    devices = (str(pick["device"]), sc.devices[-1])
    variables = {
        "device": g.Variable("device", devices, multi=True, include_all=True, all_value=".*"),
        "kind": g.Variable("kind", (str(pick["kind"]),), multi=True, include_all=True),
        "severity": _all("severity"),
    }
    start, stop = _default_range(DASHBOARDS["alerts-overview"], sc.now)
    res = _run_dashboard(sc, "alerts-overview", variables, start, stop)
    timeline = res["Clinical alert timeline A"]
    assert timeline
    assert {r["device"] for r in timeline} <= set(devices)
    assert {r["kind"] for r in timeline} == {pick["kind"]}


def _minute_scores(sc: Scenario, device: str) -> dict[tuple[str, int], float]:
    """Max |z| per (metric, minute) of one device, computed here from the records produced:
    a standalone engine scores the device's valid readings in their order (scores depend
    on the device's own readings only), and a minute takes the readings of its own minute,
    late ones too if they are at most ``LATE_WINDOW_MS`` before the newest minute of their
    metric and not before its first (older ones leave a written minute alone); minutes
    without a score, baseline or flag have no summary."""
    pseudo = Pseudonymizer(sc.s.pseudonym_key())
    decoder = ReadingDecoder()
    readings = []
    for key, value in sc.messages:
        try:
            r = decoder.decode(value)
        except InvalidReading:
            continue
        if key == r.device_id.encode() and pseudo(r.device_id) == device:
            readings.append(r)
    scored = Engine(sc.s.detection).process(readings).scored
    newest: dict[str, int] = {}
    first: dict[str, int] = {}
    out: dict[tuple[str, int], float] = {}
    says_something: set[tuple[str, int]] = set()  # a score, a baseline or a flag
    for s in scored:
        metric, minute = s.metric.value, s.ts_ms - s.ts_ms % 60_000
        first.setdefault(metric, minute)
        if minute < max(first[metric], newest.get(metric, minute) - LATE_WINDOW_MS):
            continue
        newest[metric] = max(minute, newest.get(metric, minute))
        out[metric, minute] = max(out.get((metric, minute), 0.0), s.score)
        if s.score > 0 or s.baseline is not None or s.flagged:
            says_something.add((metric, minute))
    return {k: v for k, v in out.items() if k in says_something}


def _check_scores(
    sc: Scenario,
    device: str,
    rows: list[dict[str, Any]],
    start: dt.datetime,
    stop: dt.datetime,
) -> None:
    """The score panel shows, per window and signal, the largest score of its minutes."""
    every = g.query_interval(start, stop, 1000, "10s")
    every_ms = int(every.total_seconds() * 1000)
    expected: dict[tuple[str, int], float] = {}
    start_ms = int(start.timestamp() * 1000)
    for (metric, minute), score in _minute_scores(sc, device).items():
        if minute < start_ms:
            continue
        window_end = minute - minute % every_ms + every_ms  # aggregateWindow's _time: its stop
        key = (metric, window_end)
        expected[key] = max(expected.get(key, 0.0), score)
    got = {(r["metric"], int(r["_time"].timestamp() * 1000)): r["_value"] for r in rows}
    assert got.keys() == expected.keys(), "one value per window and signal with readings"
    assert all(abs(got[k] - expected[k]) <= 1e-4 for k in got), "the minutes' largest score"
    assert max(got.values()) > 3, "the scenario's events stand out"


def test_device_drilldown(scenario: Scenario) -> None:
    sc = scenario
    counts = collections.Counter(e["device"] for e in sc.events if e["state"] == "open")
    device = str(counts.most_common(1)[0][0])
    variables = {
        "device": g.Variable("device", (device,)),
        "kind": _all("kind"),
        "severity": _all("severity"),
    }
    start, stop = _default_range(DASHBOARDS["device-drilldown"], sc.now)
    res = _run_dashboard(sc, "device-drilldown", variables, start, stop)
    _check("device-drilldown", res, {ALWAYS})

    hr = "Heart rate and personal baseline "
    assert all(20 <= r["_value"] <= 250 for r in res[hr + "A"])
    low = {r["_time"]: r["_value"] for r in res[hr + "C"]}
    high = {r["_time"]: r["_value"] for r in res[hr + "D"]}
    base = {r["_time"]: r["_value"] for r in res[hr + "B"]}
    common = low.keys() & high.keys() & base.keys()
    assert common
    assert all(low[t] < base[t] < high[t] for t in common), "the band surrounds the baseline"
    _check_scores(sc, device, res["Anomaly score A"], start, stop)
    assert {r["_value"] for r in res["Sleep stages A"]} <= {0, 1, 2, 3}
    assert all(r["_value"] <= 100 for r in res["SpO2 B"])

    table = res["Alerts of this device A"]
    mine = {e["alert_id"] for e in sc.events if e["device"] == device}
    assert {r["alert_id"] for r in table} == mine
    assert all(r["explanation"] for r in table)
    latest: dict[str, dict[str, Any]] = {}
    for e in sorted(sc.events, key=_emitted):
        if e["device"] == device:
            latest[e["alert_id"]] = e
    for r in table:  # row by row: every column belongs to the row's alert
        e = latest[r["alert_id"]]
        assert (r["state"], r["kind"], r["severity"]) == (e["state"], e["kind"], e["severity"])
        assert r["started"] <= e["_time"]
    acked = {r["alert_id"] for r in table if r["acked_by"]}
    assert acked == mine & set(sc.acks)
    annotations = res["annotation Alerts"]
    assert len(annotations) == len(mine)
    assert all(a["_time"] <= a["timeEnd"] for a in annotations)
    assert {a["text"].split(" ")[0] for a in annotations} == {latest[i]["kind"] for i in mine}


def test_pipeline_health(scenario: Scenario) -> None:
    sc = scenario
    variables = {"instance": _all("instance")}
    start, stop = _default_range(DASHBOARDS["pipeline-health"], sc.now)
    res = _run_dashboard(sc, "pipeline-health", variables, start, stop)
    _check("pipeline-health", res, {ALWAYS})
    (beat,) = res["Seconds since last heartbeat A"]
    assert 0 <= beat["_value"] < 600
    assert max(r["_value"] for r in res["Daemon up / down A"]) == 1
    assert max(r["_value"] for r in res["Readings per second A"]) > 0
    by_reason = {r["reason"]: r["_value"] for r in res["Dead letters by reason A"]}
    assert by_reason == sc.reasons
    assert max(r["_value"] for r in res["Dead-letter rate A"]) > 0


def _copy_across_the_upgrade(sc: Scenario, bucket: str) -> None:
    """The scenario's alerts and acks into ``bucket``, the events of the first half of the run
    as the layout before the alert id became a field wrote them (``alert_id`` a tag)."""
    source = sc.s.influxdb.bucket
    rows = sc.run(
        f'from(bucket: "{source}") |> range(start: 0) '
        f'|> filter(fn: (r) => r._measurement == "alerts") {PIVOT}'
    )
    times = sorted(r["_time"] for r in rows)
    upgrade = times[len(times) // 2]
    field_names = ("start_ms", "end_ms", "peak_value", "duration_s", "explanation", "open")
    lines = []
    for r in rows:
        tags = {k: str(r[k]) for k in ("device", "kind", "category", "severity", "state")}
        fields = {k: r.get(k) for k in field_names}
        if r["_time"] < upgrade:
            tags["alert_id"] = str(r["alert_id"])
        else:
            fields = {"alert_id": str(r["alert_id"]), **fields}
        lines.append(line("alerts", tags, fields, int(r["_time"].timestamp() * 1000)))
    acks = [
        ack_line(Ack(str(a["alert_id"]), str(a["note"]), str(a["acked_by"]), 0, ns))
        for a in sc.run(
            f'from(bucket: "{source}") |> range(start: 0) '
            f'|> filter(fn: (r) => r._measurement == "alert_acks") {PIVOT}'
        )
        for ns in [int(a["_time"].timestamp() * 1_000_000) * 1000]
    ]
    with sc.client.write_api(write_options=SYNCHRONOUS) as w:
        w.write(bucket=bucket, record=lines, write_precision="ms")
        w.write(bucket=bucket, record=acks, write_precision="ns")


@pytest.mark.parametrize("name", ["alerts-overview", "device-drilldown"])
def test_a_range_spanning_the_alert_id_upgrade_shows_the_same(
    scenario: Scenario, name: str
) -> None:
    """A bucket whose older alert points carry ``alert_id`` as a tag (written before the
    upgrade) and newer ones as a field: every alert panel shows what it shows when all are
    new (docs/schema.md, "Upgrading a bucket"); and again once ``vitalstream alerts migrate``
    rewrote the old points into the new layout and deleted their series."""
    sc = scenario
    bucket = f"{sc.s.influxdb.bucket}-{name}"
    mixed = sc.s.model_copy(
        update={"influxdb": sc.s.influxdb.model_copy(update={"bucket": bucket})}
    )
    create_bucket(mixed)
    _copy_across_the_upgrade(sc, mixed.influxdb.bucket)
    counts = collections.Counter(e["device"] for e in sc.events if e["state"] == "open")
    device = str(counts.most_common(1)[0][0])
    variables = {n: _all(n) for n in ("device", "kind", "severity")}
    if name == "device-drilldown":
        variables["device"] = g.Variable("device", (device,))
    spanning = dataclasses.replace(sc, ds=g.Datasource(sc.ds.organization, mixed.influxdb.bucket))
    start, stop = _default_range(DASHBOARDS[name], sc.now)
    ranges = [(start, stop)]
    if name == "alerts-overview":  # and where the most alerts are open (none is at the end)
        opened = [e["_time"] for e in sc.events if e["state"] == "open"]
        busiest = max(
            (t + dt.timedelta(seconds=1) for t in opened),
            key=lambda t: (
                sum(_open_at(sc, t, "clinical").values())
                + sum(_open_at(sc, t, "data_quality").values())
            ),
        )
        ranges.append((busiest - dt.timedelta(hours=24), busiest))
    new_only = {r: _run_dashboard(sc, name, variables, *r) for r in ranges}
    for start, stop in ranges:
        both = _run_dashboard(spanning, name, variables, start, stop)
        alert_panels = _alert_panels(new_only[start, stop])
        assert len(alert_panels) >= 2
        assert any(new_only[start, stop][k] for k in alert_panels)
        for key in alert_panels:
            assert _canonical(both[key]) == _canonical(new_only[start, stop][key]), key
    # and after `vitalstream alerts migrate` rewrote the old points (docs/schema.md)
    counts = run_migration(mixed, EPOCH, 100, dry_run=False)
    assert counts.points > 0
    assert run_migration(mixed, EPOCH, 100, dry_run=True) == MigrationCounts()
    for start, stop in ranges:
        migrated = _run_dashboard(spanning, name, variables, start, stop)
        for key in _alert_panels(new_only[start, stop]):
            assert _canonical(migrated[key]) == _canonical(new_only[start, stop][key]), key


def _alert_panels(results: Mapping[str, object]) -> list[str]:
    return [k for k in results if "alert" in k.lower() or "ack" in k.lower()]


def _canonical(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
