"""Grafana provisioning and dashboards, checked without Grafana or services."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.grafana import grafana_sim as g
from tests.grafana.checks import (
    GRAFANA,
    check_dashboard,
    check_datasources,
    check_providers,
    load_yaml,
)

DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def _uids() -> set[str]:
    doc = load_yaml(GRAFANA / "provisioning" / "datasources" / "influxdb.yaml")
    return {ds["uid"] for ds in doc["datasources"]}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_the_three_dashboards_exist_and_are_generated_from_the_source() -> None:
    assert [p.name for p in DASHBOARDS] == [
        "alerts-overview.json",
        "device-drilldown.json",
        "pipeline-health.json",
    ]
    out = subprocess.run(
        [sys.executable, str(GRAFANA / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


def test_datasource_provisioning() -> None:
    doc = load_yaml(GRAFANA / "provisioning" / "datasources" / "influxdb.yaml")
    assert check_datasources(doc) == []
    (ds,) = doc["datasources"]
    assert ds["jsonData"]["defaultBucket"] == "${VITALSTREAM_INFLUXDB__BUCKET}"
    assert ds["secureJsonData"]["token"] == "${VITALSTREAM_INFLUXDB__TOKEN}"


def test_datasource_check_catches_mistakes() -> None:
    bad = {
        "apiVersion": 1,
        "datasources": [
            {"name": "a", "uid": "x", "type": "influxdb", "url": "http://h:8086",
             "jsonData": {"version": "InfluxQL", "organization": "o"},
             "secureJsonData": {"token": "literal-secret"}},
            {"name": "b", "uid": "x", "type": "prometheus"},
        ],
    }  # fmt: skip
    errs = "\n".join(check_datasources(bad))
    for needle in ("duplicate uid", "Flux", "url", "defaultBucket", "token"):
        assert needle in errs


def test_dashboard_provider() -> None:
    doc = load_yaml(GRAFANA / "provisioning" / "dashboards" / "vitalstream.yaml")
    assert check_providers(doc) == []
    assert check_providers({"apiVersion": 1, "providers": [{"type": "x", "options": {}}]})


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_is_valid(path: Path) -> None:
    d = _load(path)
    assert check_dashboard(d, _uids()) == []
    assert d["time"]["to"] == "now"
    assert d["time"]["from"].startswith("now-")
    assert all(p.get("description") for p in g.iter_panels(d) if p["type"] != "row")


def test_dashboard_uids_are_unique() -> None:
    uids = [_load(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


def test_variables_declared_as_the_issue_asks() -> None:
    names = {p.stem: {v["name"] for v in _load(p)["templating"]["list"]} for p in DASHBOARDS}
    assert {"device", "kind", "severity"} <= names["alerts-overview"]
    assert {"device", "kind", "severity"} <= names["device-drilldown"]
    assert "instance" in names["pipeline-health"]
    drill = {v["name"]: v for v in _load(GRAFANA / "dashboards/device-drilldown.json")[
        "templating"]["list"]}  # fmt: skip
    assert not drill["device"]["multi"], "the drill-down shows one device"


def test_data_quality_is_kept_apart_from_clinical() -> None:
    d = _load(GRAFANA / "dashboards" / "alerts-overview.json")
    for panel in g.iter_panels(d):
        title = panel["title"].lower()
        for t in panel.get("targets", []):
            if title.startswith(("clinical", "open clinical")):
                assert 'r.category == "clinical"' in t["query"], title
            if "data quality" in title:
                assert 'r.category == "data_quality"' in t["query"], title


def test_dashboard_check_catches_mistakes() -> None:
    d = _load(GRAFANA / "dashboards" / "alerts-overview.json")
    broken = copy.deepcopy(d)
    panels = [p for p in broken["panels"] if p["type"] != "row"]
    panels[1]["id"] = panels[0]["id"]
    panels[1]["gridPos"] = dict(panels[0]["gridPos"])
    panels[2]["gridPos"]["x"] = 20
    panels[2]["fieldConfig"]["defaults"].pop("unit")
    panels[2]["targets"][0]["datasource"] = {"type": "influxdb", "uid": "nope"}
    panels[3]["targets"][0]["query"] += '\n  |> filter(fn: (r) => r.x == "$nothere")\n'
    panels[3]["targets"][0]["query"] += "  |> filter(fn: (r) => r.kind =~ /$kind/)\n"
    panels[4]["targets"][0]["query"] = 'from(bucket: "vitals") |> range(start: -1h)'
    errs = "\n".join(check_dashboard(broken, _uids()))
    for needle in (
        "duplicate panel id",
        "overlap",
        "outside the 24 columns",
        "no unit",
        "not a provisioned datasource",
        "undeclared variable $nothere",
        "multi-value $kind used without a format",
        "hard-coded bucket",
        "v.timeRangeStart",
    ):
        assert needle in errs, needle


# ------------------------------------------------------------------ the interpolation itself

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DS = g.Datasource(organization="org", default_bucket="vit")


def test_go_duration_matches_go() -> None:
    cases = {
        dt.timedelta(minutes=1): "1m0s",
        dt.timedelta(hours=1): "1h0m0s",
        dt.timedelta(hours=24): "24h0m0s",
        dt.timedelta(seconds=10): "10s",
        dt.timedelta(milliseconds=500): "500ms",
        dt.timedelta(seconds=1.5): "1.5s",
        dt.timedelta(minutes=2, seconds=30): "2m30s",
    }
    for d, text in cases.items():
        assert g.go_duration(d) == text


def test_query_interval_rounds_like_grafana_and_respects_minimums() -> None:
    day = T0 + dt.timedelta(hours=24)
    assert g.query_interval(T0, day, 1000, None) == dt.timedelta(minutes=1)  # 86.4 s -> 1m
    assert g.query_interval(T0, T0 + dt.timedelta(hours=1), 1000, "10s") == dt.timedelta(seconds=10)
    assert g.query_interval(T0, day, 1000, "5m") == dt.timedelta(minutes=5)


def test_macros_and_variables() -> None:
    q = (
        "from(bucket: v.defaultBucket) |> range(start: v.timeRangeStart, stop: v.timeRangeStop)"
        ' |> filter(fn: (r) => r.device =~ /^${device:regex}$/ and r.x == "${one:raw}")'
        " |> aggregateWindow(every: v.windowPeriod, fn: mean) // $__interval"
    )
    variables = {
        "device": g.Variable("device", ("a.b", "c"), multi=True, include_all=True,
                             all_value=".*"),
        "one": g.Variable("one", ("w-1",)),
    }  # fmt: skip
    out = g.interpolate(
        q,
        variables=variables,
        start=T0,
        stop=T0 + dt.timedelta(hours=24),
        interval=dt.timedelta(minutes=1),
        ds=DS,
    )
    assert 'from(bucket: "vit")' in out
    assert "range(start: 2026-01-01T00:00:00Z, stop: 2026-01-02T00:00:00Z)" in out
    assert r"r.device =~ /^(a\.b|c)$/" in out
    assert 'r.x == "w-1"' in out
    assert "every: 1m0s" in out
    assert out.endswith("// 1m")
    all_vars = {"device": g.Variable("device", (g.ALL,), True, True, ".*"), "one": variables["one"]}
    assert "/^.*$/" in g.interpolate(
        q, variables=all_vars, start=T0, stop=T0, interval=dt.timedelta(seconds=1), ds=DS
    )


def test_multi_value_without_format_is_refused() -> None:
    v = {"k": g.Variable("k", ("a", "b"), multi=True)}
    with pytest.raises(ValueError, match="name a format"):
        g.replace_variables("r.k == $k", v)
