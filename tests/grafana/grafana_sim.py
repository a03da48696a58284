"""What Grafana does to a Flux panel query before InfluxDB sees it, without running Grafana.

Two steps, in Grafana's order:

1. the **frontend** replaces dashboard variables (``$var``, ``${var}``, ``${var:format}``,
   ``[[var]]``) with the variable's current value, formatted (``raw``, ``regex``, ``pipe``,
   ``csv``, ``doublequote``, ``singlequote``, ``json``; multi-value and "All" handled);
2. the **backend** (grafana/grafana ``pkg/tsdb/influxdb/flux/macros.go``) replaces every
   ``<letters>.timeRangeStart|timeRangeStop`` with an RFC 3339 (nano) UTC literal,
   ``<letters>.windowPeriod`` with Go's ``time.Duration.String()`` of the query interval,
   ``<letters>.bucket|defaultBucket|organization`` with quoted strings from the datasource, then
   ``$__interval_ms`` and ``$__interval``.

The query interval is the frontend's: ``(to - from) / maxDataPoints`` rounded by Grafana's
``roundInterval`` table, and never below the panel's ``interval`` or the datasource's
``timeInterval`` (minimum intervals).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# grafana/grafana public/app/features/templating/template_srv.ts (variableRegex)
VARIABLE_RE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)
# pkg/tsdb/influxdb/flux/macros.go (fluxVariableFilterExp)
FLUX_VARIABLE_RE = re.compile(r"(?m)([a-zA-Z]+)\.([a-zA-Z]+)")
ALL = "$__all"


@dataclass(frozen=True)
class Variable:
    """A dashboard variable's current state, as the frontend holds it."""

    name: str
    values: tuple[str, ...]
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    options: tuple[str, ...] = ()  # every value (what "All" expands to without allValue)

    @property
    def is_all(self) -> bool:
        return self.values == (ALL,)


def regex_escape(value: str) -> str:
    """Grafana's ``kbn.regexEscape`` (used by the ``regex`` format)."""
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(0), value)


def format_value(var: Variable, fmt: str | None) -> str:
    if var.is_all:
        if var.all_value is not None:
            return var.all_value  # a custom allValue is used verbatim, whatever the format
        values: Sequence[str] = var.options
    else:
        values = var.values
    if fmt in (None, "raw") and len(values) == 1:
        return values[0]
    if fmt == "regex":
        escaped = [regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "csv" or fmt == "raw":
        return ",".join(values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "json":
        return json.dumps(list(values))
    if fmt is None:
        raise ValueError(
            f"${var.name} has several values: name a format (${{{var.name}:regex}}) so the "
            "query does not depend on the datasource's default multi-value formatting"
        )
    raise ValueError(f"unknown variable format {fmt!r}")


def replace_variables(query: str, variables: Mapping[str, Variable]) -> str:
    """The frontend's ``templateSrv.replace``; unknown ``$names`` are left as they are."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        var = variables.get(name)
        if var is None:
            return m.group(0)
        return format_value(var, fmt)

    return VARIABLE_RE.sub(sub, query)


def variable_names(query: str) -> set[str]:
    """Every variable name referenced (``$__`` built-ins excluded)."""
    names = set()
    for m in VARIABLE_RE.finditer(query):
        name = m.group(1) or m.group(2) or m.group(4)
        if not name.startswith("__"):
            names.add(name)
    return names


def go_duration(d: dt.timedelta) -> str:
    """Go's ``time.Duration.String()`` (``1m0s``, ``1h0m0s``, ``500ms``, ``1.5s``)."""
    ns = round(d.total_seconds() * 1e9)
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return _frac(ns, size) + unit
    h, rem = divmod(ns, 3_600_000_000_000)
    m, rem = divmod(rem, 60_000_000_000)
    s = _frac(rem, 1_000_000_000) + "s"
    if h:
        return f"{h}h{m}m{s}"
    if m:
        return f"{m}m{s}"
    return s


def _frac(n: int, size: int) -> str:
    whole, part = divmod(n, size)
    if not part:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}.{part:0{digits}d}".rstrip("0")


def format_interval(d: dt.timedelta) -> str:
    """grafana-plugin-sdk-go ``gtime.FormatInterval`` (the ``$__interval`` text)."""
    ms = int(d.total_seconds() * 1000)
    for size, unit in (
        (31_536_000_000, "y"),
        (604_800_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ):
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


# grafana/grafana packages/grafana-data/src/datetime/rangeutil.ts (roundInterval), in ms
_ROUND = [
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
]


def round_interval(ms: float) -> int:
    for limit, value in _ROUND:
        if ms < limit:
            return value
    return 31_536_000_000


_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_interval(text: str) -> dt.timedelta:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text.strip().lstrip(">"))
    if not m:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return dt.timedelta(milliseconds=int(m.group(1)) * _UNIT_MS[m.group(2)])


def query_interval(
    start: dt.datetime, stop: dt.datetime, max_data_points: int, min_interval: str | None
) -> dt.timedelta:
    """The frontend's ``calculateInterval``: range / points, rounded, at least the minimum."""
    ms = round_interval((stop - start).total_seconds() * 1000 / max_data_points)
    low = parse_interval(min_interval).total_seconds() * 1000 if min_interval else 1
    return dt.timedelta(milliseconds=max(ms, low))


def rfc3339nano(t: dt.datetime) -> str:
    """Go's ``time.RFC3339Nano`` of a UTC time (trailing zeros of the fraction dropped)."""
    t = t.astimezone(dt.UTC)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


@dataclass(frozen=True)
class Datasource:
    """The options Grafana's Flux backend takes from the provisioned datasource."""

    organization: str
    default_bucket: str
    bucket: str = ""  # the query model's bucket; Grafana fills it for the Flux editor only


def flux_macros(
    query: str, *, start: dt.datetime, stop: dt.datetime, interval: dt.timedelta, ds: Datasource
) -> str:
    """``macros.go``'s ``interpolate``: Flux-specific variables, then interval macros."""
    values = {
        "timeRangeStart": rfc3339nano(start),
        "timeRangeStop": rfc3339nano(stop),
        "windowPeriod": go_duration(interval),
        "bucket": f'"{ds.bucket}"',
        "defaultBucket": f'"{ds.default_bucket}"',
        "organization": f'"{ds.organization}"',
    }
    # Go replaces each whole match string everywhere (strings.ReplaceAll), in match order
    for m in FLUX_VARIABLE_RE.finditer(query):
        if m.group(2) in values:
            query = query.replace(m.group(0), values[m.group(2)])
    query = query.replace("$__interval_ms", str(int(interval.total_seconds() * 1000)))
    return query.replace("$__interval", format_interval(interval))


def interpolate(
    query: str,
    *,
    variables: Mapping[str, Variable],
    start: dt.datetime,
    stop: dt.datetime,
    interval: dt.timedelta,
    ds: Datasource,
) -> str:
    """The whole way from a dashboard's query text to the Flux InfluxDB runs."""
    return flux_macros(
        replace_variables(query, variables), start=start, stop=stop, interval=interval, ds=ds
    )


# ---------------------------------------------------------------------------- dashboard walking


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", []) or []


def iter_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """``(where, owner, flux)`` for every panel target, annotation and query variable."""
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []) or []:
            yield (
                f"panel {panel['id']} {panel.get('title')!r} {target.get('refId')}",
                panel,
                (target.get("query") or ""),
            )
    for ann in dashboard.get("annotations", {}).get("list", []):
        target = ann.get("target") or {}
        if target.get("query"):
            yield f"annotation {ann.get('name')!r}", ann, target["query"]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var.get("query")
            text = q.get("query", "") if isinstance(q, dict) else q
            yield f"variable {var['name']!r}", var, text
