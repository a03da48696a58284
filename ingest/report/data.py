"""What ``vitalstream report`` reads from InfluxDB: alerts and vitals per device for a range.

Device ids are shown as they are stored (pseudonyms when the daemon pseudonymises). Nothing
here logs a reading value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingest.settings import Settings

if TYPE_CHECKING:
    from influxdb_client import InfluxDBClient  # type: ignore[attr-defined]

#: Flux, on rows with an ``alert_id`` column (one per event): the latest event of every alert,
#: one table per alert. Events of one alert at one millisecond are ordered as the engine emits
#: them (docs/schema.md, "Alerts: point identity"): ``open``, then escalations (``ongoing``,
#: each more severe), then ``resolved``.
LATEST_EVENT = (
    '  |> group(columns: ["alert_id"])\n'
    "  |> map(fn: (r) => ({r with emitted: "
    '(if r.state == "open" then 0 else if r.state == "ongoing" then 1 else 4) + '
    '(if r.severity == "critical" then 2 else if r.severity == "warning" then 1 else 0)}))\n'
    '  |> sort(columns: ["_time", "emitted"])\n'
    '  |> last(column: "_time")\n'
    '  |> drop(columns: ["emitted"])\n'
)

#: Flux: one row per point, its fields as columns
PIVOT = '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'

#: Flux, after a filter to the ``alerts`` measurement: the latest event of every alert, one row
#: each, its fields as columns (the report and the Grafana dashboards both read alerts so).
#: The alert id is a field (docs/schema.md); points written before it was one carry it as a
#: tag, and the pivot gives both an ``alert_id`` column, so both layouts read alike.
LATEST_ALERT_ROWS = (
    '  |> filter(fn: (r) => r._field == "alert_id" or r._field == "start_ms" '
    'or r._field == "end_ms" or r._field == "duration_s" or r._field == "explanation")\n'
    + PIVOT
    + LATEST_EVENT
    + "  |> group()\n"
)

SLEEP_STAGES = ("awake", "light", "deep", "REM")  # stored codes 0-3 (docs/schema.md)
_DURATION = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """``24h``, ``90m``, ``7d``, ``2w`` before ``now``, or an RFC 3339 time with offset.

    >>> now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    >>> parse_since("36h", now).isoformat()
    '2025-12-31T12:00:00+00:00'
    >>> parse_since("1d", now) == now - dt.timedelta(days=1)
    True
    >>> parse_since("2026-01-01T06:00:00+01:00", now).isoformat()
    '2026-01-01T05:00:00+00:00'
    """
    m = _DURATION.match(text.strip())
    if m:
        return now - dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a duration (24h, 7d, 90m) or RFC 3339 time: {text!r}") from None
    if t.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {text!r}")
    return t.astimezone(dt.UTC)


def window_for(start: dt.datetime, stop: dt.datetime, points: int = 720) -> int:
    """Aggregation window in whole minutes: about ``points`` per plot, at least one minute."""
    minutes = (stop - start).total_seconds() / 60 / points
    for nice in (1, 2, 5, 10, 15, 30, 60, 120, 360, 720, 1440):
        if minutes <= nice:
            return nice
    return 1440


@dataclass
class Series:
    times: list[dt.datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)


@dataclass
class Alert:
    """One alert, in its latest state within the range."""

    alert_id: str
    device: str
    kind: str
    category: str
    severity: str
    state: str
    start: dt.datetime
    end: dt.datetime | None
    duration_s: float
    explanation: str


@dataclass
class DeviceVitals:
    device: str
    heart_rate: Series
    baseline: Series
    spo2: Series
    spo2_min: Series
    steps_per_hour: Series
    sleep: Series


@dataclass
class ReportData:
    start: dt.datetime
    stop: dt.datetime
    bucket: str
    window_min: int
    alerts: list[Alert]
    devices_in_range: int
    vitals: list[DeviceVitals]

    def alerts_of(self, device: str) -> list[Alert]:
        return [a for a in self.alerts if a.device == device]


def _flux_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _device_regex(devices: Sequence[str]) -> str:
    return "/^(" + "|".join(re.escape(d).replace("/", r"\/") for d in devices) + ")$/"


def influx_client(s: Settings) -> InfluxDBClient:
    """An influxdb-client client of the configured InfluxDB, for queries that take a while
    (at least a minute's timeout)."""
    from influxdb_client import InfluxDBClient  # type: ignore[attr-defined]

    return InfluxDBClient(
        url=s.influx_url,
        token=s.influx_token(),
        org=s.influxdb.org,
        timeout=max(s.influxdb.timeout_ms, 60_000),
        verify_ssl=s.influxdb.verify_ssl,
        ssl_ca_cert=str(s.influxdb.ssl_ca_cert) if s.influxdb.ssl_ca_cert else None,
    )


class InfluxReader:
    """Runs the report's Flux queries (read-only) against the configured bucket."""

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.influxdb.bucket
        self.org = settings.influxdb.org
        self._client = influx_client(settings)

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    def rows(self, query: str) -> list[dict[str, Any]]:
        tables = self._client.query_api().query(query, org=self.org)
        return [dict(rec.values) for t in tables for rec in t.records]

    def _range(self, start: dt.datetime, stop: dt.datetime) -> str:
        return (
            f'from(bucket: "{self.bucket}")\n'
            f"  |> range(start: {_flux_time(start)}, stop: {_flux_time(stop)})\n"
        )

    def alerts(self, start: dt.datetime, stop: dt.datetime) -> list[Alert]:
        q = (
            self._range(start, stop)
            + '  |> filter(fn: (r) => r._measurement == "alerts")\n'
            + LATEST_ALERT_ROWS
        )
        out = []
        for r in self.rows(q):
            end_ms = r.get("end_ms")
            out.append(
                Alert(
                    alert_id=str(r["alert_id"]),
                    device=str(r["device"]),
                    kind=str(r["kind"]),
                    category=str(r["category"]),
                    severity=str(r["severity"]),
                    state=str(r["state"]),
                    start=_ms(int(r["start_ms"])),
                    end=_ms(int(end_ms)) if end_ms is not None else None,
                    duration_s=float(r.get("duration_s") or 0.0),
                    explanation=str(r.get("explanation") or ""),
                )
            )
        out.sort(key=lambda a: (a.start, a.device, a.kind))
        return out

    def devices(self, start: dt.datetime, stop: dt.datetime) -> list[str]:
        q = (
            'import "influxdata/influxdb/schema"\n'
            f'schema.tagValues(bucket: "{self.bucket}", tag: "device", '
            'predicate: (r) => r._measurement == "vitals", '
            f"start: {_flux_time(start)}, stop: {_flux_time(stop)})"
        )
        return sorted(str(r["_value"]) for r in self.rows(q))

    def _series(
        self,
        devices: Sequence[str],
        metric: str,
        field_name: str,
        fn: str,
        every_min: int,
        start: dt.datetime,
        stop: dt.datetime,
        measurement: str = "vitals",
    ) -> dict[str, Series]:
        q = (
            self._range(start, stop) + f'  |> filter(fn: (r) => r._measurement == "{measurement}" '
            f'and r.metric == "{metric}" and r._field == "{field_name}")\n'
            f"  |> filter(fn: (r) => r.device =~ {_device_regex(devices)})\n"
            '  |> group(columns: ["device"])\n'
            f"  |> aggregateWindow(every: {every_min}m, fn: {fn}, createEmpty: false, "
            'timeSrc: "_start")\n'
            '  |> keep(columns: ["_time", "_value", "device"])\n'
        )
        out: dict[str, Series] = {d: Series() for d in devices}
        for r in self.rows(q):
            s = out[str(r["device"])]
            s.times.append(r["_time"])
            s.values.append(float(r["_value"]))
        return out

    def vitals(
        self, devices: Sequence[str], start: dt.datetime, stop: dt.datetime, every_min: int
    ) -> list[DeviceVitals]:
        if not devices:
            return []
        args = (start, stop)
        hr = self._series(devices, "heart_rate", "value", "mean", every_min, *args)
        # scores and baselines are stored per device-minute (docs/schema.md)
        base = self._series(
            devices, "heart_rate", "baseline", "mean", every_min, *args, "vitals_minute"
        )
        spo2 = self._series(devices, "spo2", "value", "mean", every_min, *args)
        spo2_min = self._series(devices, "spo2", "value", "min", every_min, *args)
        steps = self._series(devices, "steps", "value", "sum", 60, *args)
        sleep = self._series(devices, "sleep_stage", "value", "last", every_min, *args)
        return [
            DeviceVitals(d, hr[d], base[d], spo2[d], spo2_min[d], steps[d], sleep[d])
            for d in devices
        ]


def _ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def choose_devices(
    all_devices: Iterable[str], alerts: Sequence[Alert], wanted: Sequence[str], limit: int
) -> list[str]:
    """The devices to plot: the ones asked for, else those with the most alerts first."""
    known = list(all_devices)
    if wanted:
        return [d for d in wanted if d in set(known)]
    counts = Counter(a.device for a in alerts)
    ranked = sorted(known, key=lambda d: (-counts[d], d))
    return ranked[:limit]


def load(
    settings: Settings,
    start: dt.datetime,
    stop: dt.datetime,
    devices: Sequence[str] = (),
    max_devices: int = 12,
) -> ReportData:
    reader = InfluxReader(settings)
    try:
        alerts = reader.alerts(start, stop)
        present = reader.devices(start, stop)
        chosen = choose_devices(present, alerts, devices, max_devices)
        every = window_for(start, stop)
        vitals = reader.vitals(chosen, start, stop, every)
    finally:
        reader.close()
    return ReportData(
        start=start,
        stop=stop,
        bucket=settings.influxdb.bucket,
        window_min=every,
        alerts=alerts,
        devices_in_range=len(present),
        vitals=vitals,
    )
