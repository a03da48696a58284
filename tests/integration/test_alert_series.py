"""The ``alerts`` measurement on the real InfluxDB: its series stay bounded as alerts
accumulate, and no two lifecycle events the engine emits overwrite each other's point.

The events come from the engine's own lifecycle rules (:class:`detectors.alerts.AlertBook`),
including every case that emits two events of one device and kind at one millisecond
(docs/schema.md, "Alerts: point identity").
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from influxdb_client.client.write_api import SYNCHRONOUS

from detectors.alerts import AlertBook, Track
from detectors.config import AlertConfig
from detectors.types import AlertEvent, Severity
from ingest.influx.alert_migration import (
    AlertLayoutMigration,
    MigrationCounts,
    migrate,
    run_migration,
)
from ingest.influx.line_protocol import alert_fields, alert_line, alert_tags, line
from ingest.report.data import LATEST_ALERT_ROWS
from ingest.report.data import influx_client as report_influx_client
from ingest.settings import Settings
from messages.kinds import AnomalyKind as K
from tests.integration.harness import (
    PIVOT,
    create_bucket,
    flux,
    influx_client,
    isolated_settings,
    settings_env,
)

pytestmark = pytest.mark.integration

MIN, HOUR = 60_000, 3_600_000
T0 = 1_767_225_600_000  # event time of the first alert
DEVICE = "pdev1"
FAR_PAST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _explain(device_id: str, t: Track, ts: int, end: int | None) -> str:
    return f"{t.kind} of {device_id} at {ts}"


def _write(s: Settings, events: list[AlertEvent]) -> None:
    """One write request, in emission order, as the daemon writes a batch."""
    with influx_client(s) as c, c.write_api(write_options=SYNCHRONOUS) as w:
        w.write(
            bucket=s.influxdb.bucket,
            record=[alert_line(e, e.device_id) for e in events],
            write_precision="ms",
        )


def _series(s: Settings) -> int:
    (row,) = flux(
        s,
        'import "influxdata/influxdb"\n'
        f'influxdb.cardinality(bucket: "{s.influxdb.bucket}", start: time(v: 0), '
        'predicate: (r) => r._measurement == "alerts")',
    )
    return int(row["_value"])  # type: ignore[call-overload]


def _stored_events(s: Settings) -> list[tuple[str, str, str, int]]:
    """(alert_id, state, severity, event time) of every point of the measurement."""
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "alerts" '
        f'and (r._field == "alert_id" or r._field == "open")) {PIVOT}',
    )
    return sorted(
        (
            str(r["alert_id"]),
            str(r["state"]),
            str(r["severity"]),
            int(r["_time"].timestamp() * 1000),  # type: ignore[attr-defined]
        )
        for r in rows
    )


def _latest(s: Settings) -> dict[str, tuple[str, str]]:
    """alert_id -> (state, severity) of its latest event, as the dashboards and report read."""
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "alerts")\n' + LATEST_ALERT_ROWS,
    )
    return {str(r["alert_id"]): (str(r["state"]), str(r["severity"])) for r in rows}


def _key(e: AlertEvent) -> tuple[str, str, str, int]:
    return e.alert_id, e.state, e.severity, e.ts_ms


def _lifecycles(
    kind: K, severity: Severity, n: int, *, heartbeat: bool, value: float = 125.0
) -> list[AlertEvent]:
    """``n`` alerts of ``kind`` on one device, 8 h apart (more than the flap window): each
    opened, given a heartbeat ``ongoing`` 30 min later if ``heartbeat``, and resolved 10 min
    after its condition last held."""
    book = AlertBook(AlertConfig(), _explain)
    tracks: dict[str, Track] = {}
    events: list[AlertEvent] = []
    for i in range(n):
        start = last = T0 + i * 8 * HOUR
        book.active(DEVICE, tracks, kind, start, start, severity, value, True, events)
        if heartbeat:
            last = start + 30 * MIN
            book.active(DEVICE, tracks, kind, last, start, severity, value, True, events)
        book.inactive(DEVICE, tracks, kind, last + 10 * MIN, events)
    return events


def test_series_stay_bounded_as_alerts_accumulate(live_stack: Settings, unique_name: str) -> None:
    """50 lifecycles (open, heartbeat, resolved) of one device and kind: three series (one per
    state) after the first five and after all fifty; every alert and event still readable."""
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    events = _lifecycles(K.TACHYCARDIA_AT_REST, "warning", 50, heartbeat=True)
    assert [e.state for e in events] == ["open", "ongoing", "resolved"] * 50
    _write(s, events[:15])
    assert _series(s) == 3
    _write(s, events[15:])
    assert _series(s) == 3, "the series do not grow with the alerts raised"
    assert _stored_events(s) == sorted(_key(e) for e in events)
    latest = _latest(s)
    assert len(latest) == 50
    assert set(latest.values()) == {("resolved", "warning")}


def test_events_of_one_instant_keep_points_of_their_own(
    live_stack: Settings, unique_name: str
) -> None:
    """Every case in which the engine emits two events of one device and kind at the same
    millisecond, written in one batch: each keeps its point, and each alert's latest state is
    the one emitted last."""
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    # no cooldown: an alert of a kind may open in the tick that resolved the previous one
    book = AlertBook(AlertConfig(cooldown_ms=0), _explain)
    tracks: dict[str, Track] = {}
    events: list[AlertEvent] = []
    # an episode found after the fact: opened and resolved at once
    t1 = T0
    book.interval(DEVICE, tracks, K.DROPOUT, t1 - 20 * MIN, t1 - 5 * MIN, t1, "info", events)
    # opened, and escalated by another signal in the same tick
    t2 = T0 + HOUR
    book.active(DEVICE, tracks, K.TACHYCARDIA_AT_REST, t2, t2, "warning", 125.0, True, events)
    book.active(DEVICE, tracks, K.TACHYCARDIA_AT_REST, t2, t2, "critical", 150.0, True, events)
    # a heartbeat that de-escalates, then an escalation at the same instant
    t3 = t2 + 30 * MIN
    book.active(DEVICE, tracks, K.TACHYCARDIA_AT_REST, t3, t2, "info", 121.0, True, events)
    book.active(DEVICE, tracks, K.TACHYCARDIA_AT_REST, t3, t2, "warning", 130.0, True, events)
    # resolved, and the next alert of the same kind opened in the same tick
    t4 = t3 + 10 * MIN
    book.resolve(DEVICE, tracks, K.TACHYCARDIA_AT_REST, t4, events)
    book.active(DEVICE, tracks, K.TACHYCARDIA_AT_REST, t4, t4, "warning", 128.0, True, events)
    assert [(e.kind, e.state, e.ts_ms) for e in events] == [
        (K.DROPOUT, "open", t1),
        (K.DROPOUT, "resolved", t1),
        (K.TACHYCARDIA_AT_REST, "open", t2),
        (K.TACHYCARDIA_AT_REST, "ongoing", t2),
        (K.TACHYCARDIA_AT_REST, "ongoing", t3),
        (K.TACHYCARDIA_AT_REST, "ongoing", t3),
        (K.TACHYCARDIA_AT_REST, "resolved", t4),
        (K.TACHYCARDIA_AT_REST, "open", t4),
    ], "the engine emits the cases this test is about"
    _write(s, events)
    assert _stored_events(s) == sorted(_key(e) for e in events), "no event overwrote another"
    last = {e.alert_id: (e.state, e.severity) for e in events}
    assert len(last) == 3
    assert _latest(s) == last


def _old_layout_line(e: AlertEvent) -> str:
    """A point as written before the alert id became a field: ``alert_id`` a tag."""
    tags = {**alert_tags(e, e.device_id), "alert_id": e.alert_id}
    return line("alerts", tags, alert_fields(e), e.ts_ms)


def _write_old_layout(s: Settings, events: list[AlertEvent]) -> None:
    with influx_client(s) as c, c.write_api(write_options=SYNCHRONOUS) as w:
        w.write(
            bucket=s.influxdb.bucket,
            record=[_old_layout_line(e) for e in events],
            write_precision="ms",
        )


def _across_the_upgrade(s: Settings, events: list[AlertEvent], upgrade: int) -> Settings:
    """A new bucket of ``events``, those before index ``upgrade`` in the old layout."""
    create_bucket(s)
    _write_old_layout(s, events[:upgrade])
    _write(s, events[upgrade:])
    return s


def test_points_of_the_old_layout_read_alike(live_stack: Settings, unique_name: str) -> None:
    """A bucket written before and after the upgrade: the alerts of both layouts are read,
    each in its latest state (an alert opened before the upgrade and resolved after it too)."""
    # three alerts resolved, a fourth still open
    events = _lifecycles(K.LOW_SPO2, "critical", 4, heartbeat=False, value=85.0)[:-1]
    # the upgrade falls inside the second alert
    s = _across_the_upgrade(isolated_settings(live_stack, unique_name), events, 3)
    assert _stored_events(s) == sorted(_key(e) for e in events)
    last = {e.alert_id: (e.state, e.severity) for e in events}
    assert _latest(s) == last
    assert sorted(st for st, _ in last.values()) == ["open", "resolved", "resolved", "resolved"]


def _all_points(s: Settings, where: str = "true") -> list[str]:
    """Every point of the measurement (``where``: those the Flux predicate keeps before the
    pivot), its fields and tags as one row (alert_id a column in both layouts), as JSON."""
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        f'|> filter(fn: (r) => r._measurement == "alerts" and {where}) {PIVOT} '
        '|> drop(columns: ["_start", "_stop"]) |> group()',
    )
    return sorted(
        json.dumps(
            {k: v for k, v in r.items() if k not in ("result", "table")},
            default=str,
            sort_keys=True,
        )
        for r in rows
    )


def _new_layout_points(s: Settings) -> list[str]:
    return _all_points(s, "not exists r.alert_id")


@pytest.mark.parametrize("batch", [1, 100])
def test_migrate_rewrites_the_old_layout_and_drops_its_series(
    live_stack: Settings, unique_name: str, batch: int
) -> None:
    """``vitalstream alerts migrate`` on a bucket written before and after the upgrade: the
    old points come back in the new layout (same time, tags, fields), the new ones are left
    as they were, the old series are gone, every alert reads as before; a second run finds
    nothing. ``batch`` 1: one alert id per batch (many batches)."""
    events = _lifecycles(K.LOW_SPO2, "critical", 4, heartbeat=True, value=85.0)[:-1]
    before = events[:7]  # the upgrade falls inside the third alert
    s = _across_the_upgrade(isolated_settings(live_stack, unique_name), events, len(before))
    stored, latest, points = _stored_events(s), _latest(s), _all_points(s)
    new_before = _new_layout_points(s)
    series_before = _series(s)
    old_ids = {e.alert_id for e in before}
    assert len(old_ids) == 3
    # a series per old event (its alert id and state) + one per state of the new layout
    assert series_before == len(before) + 3

    dry = run_migration(s, FAR_PAST, batch, dry_run=True)
    assert dry == MigrationCounts(alert_ids=3, points=len(before), series=len(before))
    assert _all_points(s) == points, "a dry run changes nothing"
    assert _series(s) == series_before

    done = run_migration(s, FAR_PAST, batch, dry_run=False)
    assert done == dry
    assert _all_points(s) == points, "every point reads as before, field for field"
    assert _stored_events(s) == stored
    assert _latest(s) == latest
    assert set(_new_layout_points(s)) >= set(new_before), "new-layout points untouched"
    assert len(_new_layout_points(s)) == len(events)
    assert _series(s) == 3, "one series per state, as in a bucket of the new layout alone"
    assert run_migration(s, FAR_PAST, batch, dry_run=False) == MigrationCounts()


def test_migrate_from_a_start_leaves_older_points_alone(
    live_stack: Settings, unique_name: str
) -> None:
    """``--start``: old points before it are neither rewritten nor deleted."""
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    events = _lifecycles(K.LOW_SPO2, "critical", 2, heartbeat=False, value=85.0)
    _write_old_layout(s, events)
    points = _all_points(s)
    second = dt.datetime.fromtimestamp(events[2].ts_ms / 1000, tz=dt.UTC)
    assert run_migration(s, second, 100, dry_run=False) == MigrationCounts(1, 2, 2)
    assert _all_points(s) == points
    assert run_migration(s, FAR_PAST, 100, dry_run=True) == MigrationCounts(1, 2, 2)


class _InterruptedAfterOneDelete(AlertLayoutMigration):
    """Stops (as a kill would) right after deleting the first alert's old series."""

    def delete_old(self, alert_id: str) -> None:
        super().delete_old(alert_id)
        raise KeyboardInterrupt


def test_an_interrupted_migration_loses_nothing_and_a_rerun_completes(
    live_stack: Settings, unique_name: str
) -> None:
    """Interrupted after the rewrite and the first delete of a batch: every event still
    reads (the rest of the batch in both layouts, which the latest state does not mind); the
    command, run again as an operator would (a subprocess, settings from the environment),
    finishes the job."""
    events = _lifecycles(K.LOW_SPO2, "critical", 3, heartbeat=True, value=85.0)
    s = _across_the_upgrade(isolated_settings(live_stack, unique_name), events, len(events))
    stored, latest = _stored_events(s), _latest(s)
    with report_influx_client(s) as client:
        interrupted = _InterruptedAfterOneDelete(
            client, s.influxdb.bucket, s.influxdb.org, FAR_PAST
        )
        with pytest.raises(KeyboardInterrupt):
            migrate(interrupted, batch=100)
    assert set(_stored_events(s)) == set(stored)
    assert len(_stored_events(s)) == len(stored) + 6, "two alerts' events still twice"
    assert _latest(s) == latest
    cmd = [sys.executable, "-m", "ingest.cli", "alerts", "migrate"]
    done = subprocess.run(cmd, env=settings_env(s), capture_output=True, text=True, check=True)
    assert "rewrote 6 points of 2 alerts; deleted 6 old series" in done.stderr
    assert _stored_events(s) == stored
    assert _latest(s) == latest
    assert _series(s) == 3
    again = subprocess.run(
        [*cmd, "--dry-run"], env=settings_env(s), capture_output=True, text=True, check=True
    )
    assert "would rewrite 0 points of 0 alerts; would delete 0 old series" in again.stderr
