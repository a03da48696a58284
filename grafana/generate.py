"""Builds the provisioned Grafana dashboards (``grafana/dashboards/*.json``) from one place.

    .venv/bin/python grafana/generate.py          # rewrite the JSON files
    .venv/bin/python grafana/generate.py --check  # exit 1 if a file is stale (a test runs this)

Every query reads the bucket through the datasource (``v.defaultBucket``), so pointing the
provisioned datasource at another bucket moves every dashboard with it. Multi-value variables
are always used with an explicit ``:regex`` format (``r.kind =~ /^${kind:regex}$/``) and a
custom "All" value of ``.*``, so the query text never depends on Grafana's default formatting.
The layout of the InfluxDB data is ``docs/schema.md``; what each panel means is
``docs/dashboards.md``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ingest.report.data import LATEST_ALERT_ROWS, LATEST_EVENT, PIVOT

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "influxdb", "uid": "vitalstream-influxdb"}
SCHEMA_VERSION = 39

SEVERITIES = ["critical", "warning", "info"]
SEVERITY_COLORS = {"critical": "red", "warning": "orange", "info": "blue"}

FROM = "from(bucket: v.defaultBucket)\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
ALERT_VARS = (
    "  |> filter(fn: (r) => r.device =~ /^${device:regex}$/ and r.kind =~ /^${kind:regex}$/)\n"
)
SEVERITY_VAR = "  |> filter(fn: (r) => r.severity =~ /^${severity:regex}$/)\n"


# ------------------------------------------------------------------------------------ helpers


class Layout:
    """Places panels left to right in 24 columns, wrapping; rows start a new line."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0
        self.next_id = 1
        self.panels: list[dict[str, Any]] = []

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0


def target(query: str, ref: str = "A") -> dict[str, Any]:
    return {"refId": ref, "datasource": DS, "query": query.strip() + "\n"}


def panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    *,
    options: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    thresholds: list[tuple[float | None, str]] | None = None,
    extra_defaults: dict[str, Any] | None = None,
    interval: str | None = None,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit}
    if custom is not None:
        defaults["custom"] = custom
    if mappings:
        defaults["mappings"] = mappings
    if thresholds:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"value": v, "color": c} for v, c in thresholds],
        }
    defaults.update(extra_defaults or {})
    p: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if interval:
        p["interval"] = interval
    return p


def timeseries_custom(axis_label: str, **more: Any) -> dict[str, Any]:
    return {
        "axisLabel": axis_label,
        "drawStyle": "line",
        "lineWidth": 1,
        "spanNulls": False,
        **more,
    }


def by_ref(ref: str, **props: Any) -> dict[str, Any]:
    return {
        "matcher": {"id": "byFrameRefID", "options": ref},
        "properties": [{"id": k, "value": v} for k, v in props.items()],
    }


def by_name(name: str, **props: Any) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": k, "value": v} for k, v in props.items()],
    }


def value_map(values: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "options": {
                k: {"text": text, "color": color, "index": i}
                for i, (k, (text, color)) in enumerate(values.items())
            },
        }
    ]


def query_var(name: str, label: str, flux: str, *, multi: bool) -> dict[str, Any]:
    v: dict[str, Any] = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "query": flux.strip() + "\n",
        "definition": flux.strip() + "\n",
        "refresh": 2,  # on time range change
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
    }
    if multi:
        v["allValue"] = ".*"
        v["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return v


def tag_values_var(name: str, label: str, measurement: str, *, multi: bool) -> dict[str, Any]:
    flux = f"""
import "influxdata/influxdb/schema"

schema.tagValues(
  bucket: v.defaultBucket,
  tag: "{name}",
  predicate: (r) => r._measurement == "{measurement}",
  start: v.timeRangeStart,
  stop: v.timeRangeStop,
)
"""
    return query_var(name, label, flux, multi=multi)


def severity_var() -> dict[str, Any]:
    return {
        "type": "custom",
        "name": "severity",
        "label": "Severity",
        "query": ",".join(SEVERITIES),
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [{"selected": False, "text": s, "value": s} for s in SEVERITIES],
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    layout: Layout,
    variables: list[dict[str, Any]],
    *,
    time_from: str,
    refresh: str,
    annotations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["vitalstream"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": {"from": time_from, "to": "now"},
        "refresh": refresh,
        "templating": {"list": variables},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                },
                *(annotations or []),
            ]
        },
        "links": [
            {
                "type": "dashboards",
                "tags": ["vitalstream"],
                "asDropdown": False,
                "includeVars": False,
                "keepTime": True,
                "title": "vitalstream",
            }
        ],
        "panels": layout.panels,
    }


# ------------------------------------------------------------------------------ alert queries


# the fields "open" and "alert_id" of each alert event as one row (the id is a field; points
# of the layout before it carry it as a tag, which the pivot keeps as the same column)
OPEN_AND_ID = '(r._field == "open" or r._field == "alert_id")'


def open_alerts_query(category: str, group: str) -> str:
    """Alerts whose latest event in the range is not ``resolved``, counted by ``group``."""
    return (
        FROM + f'  |> filter(fn: (r) => r._measurement == "alerts" and {OPEN_AND_ID} '
        f'and r.category == "{category}")\n'
        + ALERT_VARS
        + PIVOT
        + LATEST_EVENT
        + "  |> filter(fn: (r) => r.open)\n"
        + SEVERITY_VAR
        + f"  |> group(columns: [{group}])\n"
        '  |> count(column: "alert_id")\n'
        '  |> rename(columns: {alert_id: "_value"})\n'
    )


def timeline_query(category: str) -> str:
    return (
        FROM + f'  |> filter(fn: (r) => r._measurement == "alerts" and r._field == "open" '
        f'and r.category == "{category}")\n'
        + ALERT_VARS
        + SEVERITY_VAR
        + "  |> map(fn: (r) => ({_time: r._time, _value: if r._value then 1 else 0, "
        "device: r.device, kind: r.kind}))\n"
        '  |> group(columns: ["device", "kind"])\n'
        '  |> sort(columns: ["_time"])\n'
    )


def raised_by_kind_query(category: str) -> str:
    return (
        FROM + '  |> filter(fn: (r) => r._measurement == "alerts" and r._field == "open" '
        f'and r.state == "open" and r.category == "{category}")\n'
        + ALERT_VARS
        + SEVERITY_VAR
        + '  |> group(columns: ["kind", "severity"])\n'
        "  |> count()\n"
        "  |> group()\n"
        '  |> pivot(rowKey: ["kind"], columnKey: ["severity"], valueColumn: "_value")\n'
        '  |> sort(columns: ["kind"])\n'
    )


# join.inner/join.left fail on an empty side ("cannot join on an empty table"), e.g. before
# the first acknowledgement: each side gets one row with alert_id "" (no alert has that id),
# dropped again after the join. Each side must be ONE table (group() after the union), or the
# join pairs rows wrongly. Never sort() a join's output (Flux 0.196 then scrambles columns
# against each other, seen on this stack): the table panels sort in Grafana (sortBy).
NO_MATCH = "  array.from(rows: [{{{}}}]),\n])\n  |> group()\n"
NOT_SENTINEL = '  |> filter(fn: (r) => r.alert_id != "")\n'
RAISED = (
    "raised = union(tables: [\n"
    "  from(bucket: v.defaultBucket)\n"
    "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
    f'  |> filter(fn: (r) => r._measurement == "alerts" and {OPEN_AND_ID} '
    'and r.state == "open")\n' + ALERT_VARS + SEVERITY_VAR + PIVOT + "  |> group()\n"
    '  |> keep(columns: ["_time", "alert_id", "device", "kind", "category", "severity"]),\n'
    + NO_MATCH.format(
        '_time: 1970-01-01T00:00:00Z, alert_id: "", device: "", kind: "", category: "", '
        'severity: ""'
    )
)
# acknowledgements: `vitalstream alerts ack` writes measurement alert_acks (no tags; fields
# alert_id, acked_by, note; time = ack time in ns). Acks may come after the range ends. The
# first acknowledgement of each alert, its author as _value.
ACKS = (
    "acks = union(tables: [\n"
    "  from(bucket: v.defaultBucket)\n"
    "  |> range(start: v.timeRangeStart)\n"
    '  |> filter(fn: (r) => r._measurement == "alert_acks" '
    'and (r._field == "acked_by" or r._field == "alert_id"))\n'
    + PIVOT
    + '  |> group(columns: ["alert_id"])\n'
    '  |> sort(columns: ["_time"])\n'
    '  |> first(column: "_time")\n'
    "  |> group()\n"
    "  |> map(fn: (r) => ({_time: r._time, alert_id: r.alert_id, _value: r.acked_by})),\n"
    + NO_MATCH.format('_time: 1970-01-01T00:00:00Z, alert_id: "", _value: ""')
)
ACK_JOIN = (
    "join.inner(\n"
    "  left: raised,\n"
    "  right: acks,\n"
    "  on: (l, r) => l.alert_id == r.alert_id,\n"
    "  as: (l, r) => ({\n"
    "    alert_id: l.alert_id,\n"
    "    raised: l._time,\n"
    "    acknowledged: r._time,\n"
    "    device: l.device,\n"
    "    kind: l.kind,\n"
    "    severity: l.severity,\n"
    "    acked_by: r._value,\n"
    "    tta_s: float(v: int(v: r._time) - int(v: l._time)) / 1000000000.0,\n"
    "  }),\n"
    ")\n" + NOT_SENTINEL
)

# the latest event of every alert, one row each, fields as columns: the report's query
ALERT_ROWS = LATEST_ALERT_ROWS


def alerts_overview() -> dict[str, Any]:
    lay = Layout()
    sev_overrides = [
        by_name(s, color={"mode": "fixed", "fixedColor": c}) for s, c in SEVERITY_COLORS.items()
    ]
    state_map = value_map({"1": ("open", "red"), "0": ("resolved", "green")})
    timeline_overrides = [
        {
            "matcher": {"id": "byType", "options": "number"},
            "properties": [
                {"id": "displayName", "value": "${__field.labels.device} ${__field.labels.kind}"}
            ],
        }
    ]
    for category, name in (("clinical", "Clinical"), ("data_quality", "Data quality")):
        lay.row(f"{name} alerts")
        lay.add(
            panel(
                "stat",
                f"Open {name.lower()} alerts by severity",
                f"{name} alerts whose latest event in the time range is not resolved.",
                [target(open_alerts_query(category, '"severity"'))],
                "short",
                options={
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background",
                    "graphMode": "none",
                    "textMode": "value_and_name",
                },
                overrides=[
                    {
                        "matcher": {"id": "byType", "options": "number"},
                        "properties": [
                            {"id": "displayName", "value": "${__field.labels.severity}"}
                        ],
                    }
                ],
                extra_defaults={"noValue": "0", "color": {"mode": "fixed", "fixedColor": "red"}},
            ),
            6,
            6,
        )
        lay.add(
            panel(
                "table",
                f"Open {name.lower()} alerts by kind and severity",
                f"Currently open {name.lower()} alerts (latest event not resolved), per kind.",
                [
                    target(
                        open_alerts_query(category, '"kind", "severity"') + "  |> group()\n"
                        '  |> pivot(rowKey: ["kind"], columnKey: ["severity"], '
                        'valueColumn: "_value")\n'
                    )
                ],
                "short",
                overrides=sev_overrides,
                extra_defaults={"noValue": "none open"},
            ),
            6,
            6,
        )
        lay.add(
            panel(
                "barchart",
                f"{name} alerts raised in range, by kind and severity",
                f"{name} alerts opened in the time range, stacked by severity.",
                [target(raised_by_kind_query(category))],
                "short",
                options={
                    "xField": "kind",
                    "orientation": "horizontal",
                    "stacking": "normal",
                    "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
                },
                custom={"axisLabel": "alerts raised"},
                overrides=sev_overrides,
            ),
            12,
            6,
        )
        lay.add(
            panel(
                "state-timeline",
                f"{name} alert timeline",
                f"One line per device and kind: red while a {name.lower()} alert is open.",
                [target(timeline_query(category))],
                "none",
                options={"mergeValues": True, "showValue": "never", "rowHeight": 0.8},
                mappings=state_map,
                custom={"fillOpacity": 80, "lineWidth": 0},
                overrides=timeline_overrides,
            ),
            24,
            9,
        )
    lay.row("Devices")
    lay.add(
        panel(
            "table",
            "Devices with the most alerts",
            "Alerts raised in the time range per device (ids as stored: pseudonyms when the "
            "daemon pseudonymises), clinical and data quality apart.",
            [
                target(
                    FROM
                    + '  |> filter(fn: (r) => r._measurement == "alerts" and r._field == "open" '
                    'and r.state == "open")\n'
                    + ALERT_VARS
                    + SEVERITY_VAR
                    + '  |> group(columns: ["device", "category"])\n'
                    "  |> count()\n"
                    "  |> group()\n"
                    '  |> pivot(rowKey: ["device"], columnKey: ["category"], '
                    'valueColumn: "_value")\n'
                    "  |> map(fn: (r) => ({r with total: "
                    "(if exists r.clinical then r.clinical else 0) + "
                    "(if exists r.data_quality then r.data_quality else 0)}))\n"
                    '  |> sort(columns: ["total", "device"], desc: true)\n'
                    "  |> limit(n: 15)\n"
                )
            ],
            "short",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "device"},
                    "properties": [
                        {
                            "id": "links",
                            "value": [
                                {
                                    "title": "Device drill-down",
                                    "url": "/d/vitalstream-device?var-device=${__value.raw}"
                                    "&${__url_time_range}",
                                }
                            ],
                        }
                    ],
                },
                by_name("total", **{"custom.cellOptions": {"type": "gauge", "mode": "basic"}}),
            ],
        ),
        24,
        8,
    )
    lay.row("Acknowledgement")
    lay.add(
        panel(
            "piechart",
            "Acknowledged vs unacknowledged",
            "Alerts raised in the time range, and whether `vitalstream alerts ack` "
            "acknowledged them (at any time since the range started).",
            [
                target(
                    'import "array"\nimport "join"\n\n' + RAISED + "\n" + ACKS + "\n"
                    "join.left(\n"
                    "  left: raised,\n"
                    "  right: acks,\n"
                    "  on: (l, r) => l.alert_id == r.alert_id,\n"
                    "  as: (l, r) => ({alert_id: l.alert_id, status: "
                    'if exists r._value then "acknowledged" else "unacknowledged"}),\n'
                    ")\n" + NOT_SENTINEL + '  |> group(columns: ["status"])\n'
                    '  |> count(column: "alert_id")\n'
                    '  |> rename(columns: {alert_id: "_value"})\n'
                )
            ],
            "short",
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "pieType": "donut",
                "legend": {
                    "showLegend": True,
                    "displayMode": "table",
                    "placement": "right",
                    "values": ["value", "percent"],
                },
            },
            overrides=[
                {
                    "matcher": {"id": "byType", "options": "number"},
                    "properties": [{"id": "displayName", "value": "${__field.labels.status}"}],
                },
                by_name("acknowledged", color={"mode": "fixed", "fixedColor": "green"}),
                by_name("unacknowledged", color={"mode": "fixed", "fixedColor": "red"}),
            ],
        ),
        8,
        8,
    )
    lay.add(
        panel(
            "stat",
            "Median time to acknowledge",
            "From the alert's open event (device time) to its first acknowledgement.",
            [
                target(
                    'import "array"\nimport "join"\n\n'
                    + RAISED
                    + "\n"
                    + ACKS
                    + "\n"
                    + ACK_JOIN
                    + "  |> group()\n"
                    '  |> median(column: "tta_s")\n'
                )
            ],
            "s",
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "/^tta_s$/", "values": False},
                "colorMode": "value",
                "graphMode": "none",
            },
            thresholds=[(None, "green"), (900, "orange"), (3600, "red")],
            extra_defaults={"noValue": "no acknowledgements"},
        ),
        4,
        8,
    )
    lay.add(
        panel(
            "table",
            "Time to acknowledge",
            "Acknowledged alerts raised in the time range, latest acknowledgement first.",
            [target('import "array"\nimport "join"\n\n' + RAISED + "\n" + ACKS + "\n" + ACK_JOIN)],
            "short",
            options={"sortBy": [{"displayName": "acknowledged", "desc": True}]},
            overrides=[by_name("tta_s", unit="s", displayName="time to acknowledge")],
        ),
        12,
        8,
    )
    variables = [
        tag_values_var("device", "Device", "alerts", multi=True),
        tag_values_var("kind", "Kind", "alerts", multi=True),
        severity_var(),
    ]
    return dashboard(
        "vitalstream-alerts",
        "vitalstream / Alerts overview",
        "Open and recent alerts, clinical and data quality apart, and acknowledgement.",
        lay,
        variables,
        time_from="now-24h",
        refresh="1m",
    )


# ------------------------------------------------------------------------------- drill-down

DEVICE = 'r.device == "${device:raw}"'


def vitals_query(metric: str, fn: str, every: str = "v.windowPeriod") -> str:
    return (
        FROM + f'  |> filter(fn: (r) => r._measurement == "vitals" and {DEVICE} '
        f'and r.metric == "{metric}" and r._field == "value")\n'
        f"  |> aggregateWindow(every: {every}, fn: {fn}, createEmpty: false)\n"
        '  |> keep(columns: ["_time", "_value"])\n'
    )


def minute_query(metric: str, field: str, fn: str) -> str:
    """A field of the device's ``vitals_minute`` points (scores and baselines are summarised
    per device-minute, docs/schema.md), aggregated per interval."""
    return (
        FROM + f'  |> filter(fn: (r) => r._measurement == "vitals_minute" and {DEVICE} '
        f'and r.metric == "{metric}" and r._field == "{field}")\n'
        f"  |> aggregateWindow(every: v.windowPeriod, fn: {fn}, createEmpty: false)\n"
        '  |> keep(columns: ["_time", "_value"])\n'
    )


def band_query(sign: str) -> str:
    """The personal baseline +- 2 sd, around the baseline line (query B) in every window.

    Each device-minute stores the sd its baseline had (``sd`` = |value - baseline| / score
    of the minute's last reading scoring >= 0.5: smaller scores are dominated by rounding).
    The window's mean sd is joined to the window's mean baseline, the same aggregate query B
    draws, so the band always surrounds that line, whatever contexts the window mixes.
    """
    return (
        "base = "
        + minute_query("heart_rate", "baseline", "mean")
        + "sd = "
        + minute_query("heart_rate", "sd", "mean")
        + 'join(tables: {base: base, sd: sd}, on: ["_time"])\n'
        "  |> map(fn: (r) => ({_time: r._time, "
        f"_value: r._value_base {sign} 2.0 * r._value_sd}}))\n"
    )


def device_drilldown() -> dict[str, Any]:
    lay = Layout()
    lay.row("Vitals")
    lay.add(
        panel(
            "timeseries",
            "Heart rate and personal baseline",
            "Heart rate (mean per interval), the personal baseline of the wearer's context "
            "(asleep, at rest, active) and its band of +-2 standard deviations as the "
            "detector sees it. Alerts are annotations.",
            [
                target(vitals_query("heart_rate", "mean"), "A"),
                target(minute_query("heart_rate", "baseline", "mean"), "B"),
                target(band_query("-"), "C"),
                target(band_query("+"), "D"),
            ],
            "suffix: bpm",
            custom=timeseries_custom("heart rate (bpm)"),
            overrides=[
                by_ref("A", displayName="heart rate", color={"mode": "fixed", "fixedColor": "red"}),
                by_ref(
                    "B",
                    displayName="personal baseline",
                    color={"mode": "fixed", "fixedColor": "blue"},
                    **{"custom.lineStyle": {"fill": "dash", "dash": [10, 10]}},
                ),
                by_ref(
                    "C",
                    displayName="baseline -2 sd",
                    color={"mode": "fixed", "fixedColor": "#8AB8FF"},
                    **{"custom.lineWidth": 0},
                ),
                by_ref(
                    "D",
                    displayName="baseline +2 sd",
                    color={"mode": "fixed", "fixedColor": "#8AB8FF"},
                    **{
                        "custom.lineWidth": 0,
                        "custom.fillBelowTo": "baseline -2 sd",
                        "custom.fillOpacity": 20,
                    },
                ),
            ],
        ),
        24,
        10,
    )
    lay.add(
        panel(
            "timeseries",
            "Anomaly score",
            "How unusual the readings were for this wearer: the largest |z| (distance from "
            "the personal baseline in standard deviations) per interval and signal, from the "
            "per-minute summaries.",
            [
                target(
                    FROM + f'  |> filter(fn: (r) => r._measurement == "vitals_minute" and {DEVICE} '
                    'and r._field == "score_max")\n'
                    "  |> aggregateWindow(every: v.windowPeriod, fn: max, createEmpty: false)\n"
                    '  |> keep(columns: ["_time", "_value", "metric"])\n',
                    "A",
                )
            ],
            "none",
            custom=timeseries_custom("|z|", drawStyle="points", pointSize=4),
            overrides=[by_ref("A", displayName="${__field.labels.metric}")],
            extra_defaults={"min": 0, "decimals": 1},
        ),
        24,
        6,
    )
    lay.add(
        panel(
            "timeseries",
            "SpO2",
            "Blood oxygen saturation: mean and lowest reading per interval.",
            [
                target(vitals_query("spo2", "mean"), "A"),
                target(vitals_query("spo2", "min"), "B"),
            ],
            "percent",
            custom=timeseries_custom("SpO2 (%)", thresholdsStyle={"mode": "line+area"}),
            thresholds=[(None, "red"), (88, "orange"), (92, "transparent")],
            overrides=[
                by_ref("A", displayName="SpO2 mean"),
                by_ref(
                    "B",
                    displayName="SpO2 lowest",
                    **{"custom.lineStyle": {"fill": "dot", "dash": [2, 6]}},
                ),
            ],
            extra_defaults={"max": 100},
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "timeseries",
            "Steps per hour",
            "Steps counted per hour.",
            [target(vitals_query("steps", "sum", "1h"), "A")],
            "suffix: steps",
            custom=timeseries_custom("steps per hour", drawStyle="bars", fillOpacity=70),
            overrides=[by_ref("A", displayName="steps")],
            extra_defaults={"min": 0},
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "state-timeline",
            "Sleep stages",
            "Sleep stage (stored as codes 0 awake, 1 light, 2 deep, 3 REM), last stage per "
            "interval.",
            [target(vitals_query("sleep_stage", "last"), "A")],
            "none",
            options={"mergeValues": True, "showValue": "never", "rowHeight": 0.9},
            mappings=value_map(
                {
                    "0": ("awake", "yellow"),
                    "1": ("light", "light-blue"),
                    "2": ("deep", "dark-blue"),
                    "3": ("REM", "purple"),
                }
            ),
            custom={"fillOpacity": 90, "lineWidth": 0},
            overrides=[by_ref("A", displayName="sleep stage")],
        ),
        24,
        4,
    )
    lay.row("Alerts")
    lay.add(
        panel(
            "table",
            "Alerts of this device",
            "Every alert of the device with an event in the time range: its latest state "
            "and the detector's explanation; acknowledgement if any.",
            [
                target(
                    'import "array"\nimport "join"\n\n'
                    "alerts = union(tables: [\n"
                    "  from(bucket: v.defaultBucket)\n"
                    "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
                    f'  |> filter(fn: (r) => r._measurement == "alerts" and {DEVICE})\n'
                    "  |> filter(fn: (r) => r.kind =~ /^${kind:regex}$/)\n"
                    + ALERT_ROWS
                    + SEVERITY_VAR
                    + '  |> keep(columns: ["_time", "alert_id", "kind", "category", "severity", '
                    '"state", "start_ms", "duration_s", "explanation"]),\n'
                    + NO_MATCH.format(
                        '_time: 1970-01-01T00:00:00Z, alert_id: "", kind: "", category: "", '
                        'severity: "", state: "", start_ms: 0, duration_s: 0.0, explanation: ""'
                    )
                    + "\n"
                    + ACKS  # the join below keeps the acks of this device's alerts
                    + "\n"
                    "join.left(\n"
                    "  left: alerts,\n"
                    "  right: acks,\n"
                    "  on: (l, r) => l.alert_id == r.alert_id,\n"
                    "  as: (l, r) => ({\n"
                    "    alert_id: l.alert_id,\n"
                    "    started: time(v: l.start_ms * 1000000),\n"
                    "    kind: l.kind,\n"
                    "    category: l.category,\n"
                    "    severity: l.severity,\n"
                    "    state: l.state,\n"
                    "    duration_s: l.duration_s,\n"
                    "    explanation: l.explanation,\n"
                    '    acked_by: if exists r._value then r._value else "",\n'
                    "  }),\n"
                    ")\n" + NOT_SENTINEL
                )
            ],
            "short",
            options={"sortBy": [{"displayName": "started", "desc": True}]},
            overrides=[
                by_name("duration_s", unit="s", displayName="duration"),
                by_name("started", unit="dateTimeAsLocal"),
                by_name("explanation", **{"custom.width": 700}),
                by_name(
                    "severity",
                    mappings=value_map({s: (s, c) for s, c in SEVERITY_COLORS.items()}),
                    **{"custom.cellOptions": {"type": "color-text"}},
                ),
            ],
        ),
        24,
        10,
    )
    annotation = {
        "name": "Alerts",
        "enable": True,
        "hide": False,
        "iconColor": "red",
        "datasource": DS,
        "target": {
            "refId": "Anno",
            "query": (
                FROM + f'  |> filter(fn: (r) => r._measurement == "alerts" and {DEVICE})\n'
                "  |> filter(fn: (r) => r.kind =~ /^${kind:regex}$/)\n"
                + ALERT_ROWS
                + SEVERITY_VAR
                + "  |> map(fn: (r) => ({\n"
                "    _time: time(v: r.start_ms * 1000000),\n"
                "    timeEnd: if exists r.end_ms then time(v: r.end_ms * 1000000) else r._time,\n"
                '    text: r.kind + " (" + r.severity + "): " + r.explanation,\n'
                "    kind: r.kind,\n"
                "  }))\n"
            ),
        },
        "mappings": {
            "time": {"source": "field", "value": "_time"},
            "timeEnd": {"source": "field", "value": "timeEnd"},
            "text": {"source": "field", "value": "text"},
            "tags": {"source": "field", "value": "kind"},
        },
    }
    variables = [
        tag_values_var("device", "Device", "vitals", multi=False),
        tag_values_var("kind", "Alert kind", "alerts", multi=True),
        severity_var(),
    ]
    return dashboard(
        "vitalstream-device",
        "vitalstream / Device drill-down",
        "One device: heart rate against its personal baseline, SpO2, sleep, steps, alerts.",
        lay,
        variables,
        time_from="now-24h",
        refresh="1m",
        annotations=[annotation],
    )


# ---------------------------------------------------------------------------------- pipeline

INSTANCE = "  |> filter(fn: (r) => r.instance =~ /^${instance:regex}$/)\n"


def pipeline_field(field: str) -> str:
    return (
        FROM
        + f'  |> filter(fn: (r) => r._measurement == "pipeline" and r._field == "{field}")\n'
        + INSTANCE
    )


def rate(field: str) -> str:
    return (
        pipeline_field(field) + "  |> derivative(unit: 1s, nonNegative: true)\n"
        "  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)\n"
    )


def pipeline_health() -> dict[str, Any]:
    lay = Layout()
    by_instance = [
        {
            "matcher": {"id": "byType", "options": "number"},
            "properties": [{"id": "displayName", "value": "${__field.labels.instance}"}],
        }
    ]
    lay.row("Daemon")
    lay.add(
        panel(
            "stat",
            "Seconds since last heartbeat",
            "Every daemon writes a pipeline point every ingest.metrics_interval_s (10 s by "
            "default); older than 30 s means the daemon is down or cannot write.",
            [
                target(
                    pipeline_field("up") + "  |> last()\n"
                    "  |> map(fn: (r) => ({r with _value: "
                    "float(v: int(v: now()) - int(v: r._time)) / 1000000000.0}))\n"
                    '  |> keep(columns: ["_time", "_value", "instance"])\n'
                )
            ],
            "s",
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "background",
                "graphMode": "none",
                "textMode": "value_and_name",
            },
            thresholds=[(None, "green"), (30, "red")],
            overrides=by_instance,
            extra_defaults={"noValue": "no daemon reported in range"},
        ),
        8,
        6,
    )
    lay.add(
        panel(
            "state-timeline",
            "Daemon up / down",
            "Daemons that wrote a heartbeat in each interval (0 = down).",
            [
                target(
                    pipeline_field("up")
                    + "  |> aggregateWindow(every: v.windowPeriod, fn: count, createEmpty: true)\n"
                    "  |> map(fn: (r) => ({r with _value: if r._value > 0 then 1 else 0}))\n"
                    '  |> group(columns: ["_time"])\n'
                    "  |> sum()\n"
                    "  |> group()\n"
                    '  |> sort(columns: ["_time"])\n'
                )
            ],
            "short",
            options={"mergeValues": True, "showValue": "auto", "rowHeight": 0.8},
            mappings=[
                {"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0}}},
                {
                    "type": "range",
                    "options": {
                        "from": 1,
                        "to": 1000,
                        "result": {"text": "up", "color": "green", "index": 1},
                    },
                },
            ],
            custom={"fillOpacity": 80, "lineWidth": 0},
            overrides=[by_ref("A", displayName="daemons reporting")],
            interval="30s",
        ),
        16,
        6,
    )
    lay.row("Throughput and lag")
    lay.add(
        panel(
            "timeseries",
            "Readings per second",
            "Valid readings scored per second, per daemon instance.",
            [
                target(
                    pipeline_field("readings_per_s")
                    + "  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)\n"
                )
            ],
            "suffix: readings/s",
            custom=timeseries_custom("readings/s", fillOpacity=10),
            overrides=by_instance,
            extra_defaults={"min": 0},
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "timeseries",
            "Consumer lag",
            "Records in the readings topic not yet consumed (highest per interval).",
            [
                target(
                    pipeline_field("consumer_lag")
                    + "  |> aggregateWindow(every: v.windowPeriod, fn: max, createEmpty: false)\n"
                )
            ],
            "suffix: records",
            custom=timeseries_custom("records behind"),
            overrides=by_instance,
            extra_defaults={"min": 0},
        ),
        12,
        8,
    )
    lay.row("Dead letters and errors")
    lay.add(
        panel(
            "timeseries",
            "Dead-letter rate",
            "Records dead-lettered per second (derivative of dead_letters_total).",
            [target(rate("dead_letters_total"))],
            "suffix: records/s",
            custom=timeseries_custom("dead letters/s"),
            overrides=by_instance,
            extra_defaults={"min": 0},
        ),
        8,
        8,
    )
    reasons = (
        FROM + '  |> filter(fn: (r) => r._measurement == "pipeline_dead_letters" '
        'and r._field == "dead_letters_total")\n' + INSTANCE
    )
    lay.add(
        panel(
            "timeseries",
            "Dead-letter rate by reason",
            "PROPOSED DATA (see docs/dashboards.md): needs the daemon to write measurement "
            "pipeline_dead_letters (tags instance, reason; field dead_letters_total). Today "
            "the reasons are only in the dead-letter topic's dl.reason header.",
            [
                target(
                    reasons + "  |> derivative(unit: 1s, nonNegative: true)\n"
                    "  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)\n"
                    '  |> group(columns: ["reason", "_time"])\n'
                    "  |> sum()\n"
                    '  |> group(columns: ["reason"])\n'
                    '  |> sort(columns: ["_time"])\n'
                )
            ],
            "suffix: records/s",
            custom=timeseries_custom("dead letters/s", stacking={"mode": "normal"}, fillOpacity=40),
            overrides=[
                {
                    "matcher": {"id": "byType", "options": "number"},
                    "properties": [{"id": "displayName", "value": "${__field.labels.reason}"}],
                }
            ],
            extra_defaults={"min": 0},
        ),
        8,
        8,
    )
    lay.add(
        panel(
            "barchart",
            "Dead letters by reason",
            "PROPOSED DATA (pipeline_dead_letters, see docs/dashboards.md): the counters of "
            "the daemons that reported in the range, summed per reason (since each started).",
            [
                target(
                    reasons + "  |> last()\n"
                    '  |> group(columns: ["reason"])\n'
                    "  |> sum()\n"
                    "  |> group()\n"
                    '  |> keep(columns: ["reason", "_value"])\n'
                    '  |> sort(columns: ["_value"], desc: true)\n'
                )
            ],
            "short",
            options={
                "xField": "reason",
                "orientation": "horizontal",
                "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
            },
            custom={"axisLabel": "dead letters"},
            overrides=[by_name("_value", displayName="dead letters")],
        ),
        8,
        8,
    )
    lay.add(
        panel(
            "timeseries",
            "Errors",
            "Sink and commit errors per second (derivative of errors_total).",
            [target(rate("errors_total"))],
            "suffix: errors/s",
            custom=timeseries_custom("errors/s"),
            overrides=by_instance,
            thresholds=[(None, "green"), (0.001, "red")],
            extra_defaults={"min": 0},
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "timeseries",
            "InfluxDB write latency",
            "Mean InfluxDB write request latency since the daemon started (write_latency_s).",
            [
                target(
                    pipeline_field("write_latency_s")
                    + "  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)\n"
                )
            ],
            "s",
            custom=timeseries_custom("latency (s)"),
            overrides=by_instance,
            extra_defaults={"min": 0},
        ),
        12,
        8,
    )
    variables = [tag_values_var("instance", "Daemon instance", "pipeline", multi=True)]
    return dashboard(
        "vitalstream-pipeline",
        "vitalstream / Pipeline health",
        "The ingest daemon: throughput, lag, dead letters, errors, write latency, up/down.",
        lay,
        variables,
        time_from="now-6h",
        refresh="30s",
    )


DASHBOARDS = {
    "alerts-overview.json": alerts_overview,
    "device-drilldown.json": device_drilldown,
    "pipeline-health.json": pipeline_health,
}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    stale = []
    for name, text in render().items():
        path = OUT / name
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)} (run python grafana/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
