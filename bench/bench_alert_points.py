"""What an ``alerts`` point costs influxd: the bounded-series layout (``alert_id`` a field)
against the one it replaced (``alert_id`` a tag: a new series per alert and state), same run.

Run: ``.venv/bin/python bench/bench_alert_points.py [--devices 100] [--alerts 30]``
``[--batch 50 1000] [--rounds 3]``

The events: ``--alerts`` lifecycles per device (``open``, a heartbeat ``ongoing``, ``resolved``;
kinds and severities varied), from the engine's own lifecycle rules
(:class:`detectors.alerts.AlertBook`), pseudonymised ids as the daemon writes them. Each layout
writes all of them into a fresh bucket of the local stack, in requests of ``--batch`` lines
(alert points reach InfluxDB a few per daemon write: 50; 1000 shows the cost per point
without the requests'), one request at a time; the layouts
alternate every round (A B, then B A). Figures: influxd's CPU (user + system, psutil) per alert
point (best and median of the rounds), and the bucket's series afterwards
(``influxdb.cardinality``). influxd is shared, so the best round is the least disturbed one.
Prints them and writes ``bench/results/alert_points.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import msgspec
import psutil
from influxdb_client import InfluxDBClient

from detectors.alerts import AlertBook, Track
from detectors.config import AlertConfig
from detectors.types import AlertEvent
from ingest.influx.line_protocol import alert_fields, alert_line, alert_tags, line
from ingest.privacy import Pseudonymizer
from ingest.settings import Settings
from messages.kinds import AnomalyKind

sys.path.insert(0, str(Path(__file__).parent))
from bench_e2e import RESULTS, _service_pids

MIN, HOUR = 60_000, 3_600_000
T0 = 1_767_225_600_000
KINDS = [
    (AnomalyKind.TACHYCARDIA_AT_REST, "warning"),
    (AnomalyKind.LOW_SPO2, "critical"),
    (AnomalyKind.OFF_WRIST, "info"),
    (AnomalyKind.BRADYCARDIA, "warning"),
]


def tag_layout_line(e: AlertEvent) -> str:
    """The ``alerts`` point before the change: the same fields, ``alert_id`` a tag."""
    tags = {**alert_tags(e, e.device_id), "alert_id": e.alert_id}
    return line("alerts", tags, alert_fields(e), e.ts_ms)


def events(devices: int, alerts: int) -> list[AlertEvent]:
    """``alerts`` lifecycles per device, in event-time order, ids pseudonymised."""
    pseudo = Pseudonymizer(b"bench-alert-points-key-0123456789")

    def explain(device_id: str, t: Track, ts: int, end: int | None) -> str:
        return f"{t.kind}: heart rate above 120 bpm for 10 min while at rest (baseline 64 bpm)"

    book = AlertBook(AlertConfig(), explain)
    out: list[AlertEvent] = []
    for d in range(devices):
        device = f"watch-{d:05d}"
        tracks: dict[str, Track] = {}
        for i in range(alerts):
            kind, severity = KINDS[(d + i) % len(KINDS)]
            start = T0 + i * 8 * HOUR + d * 1000
            beat = start + 30 * MIN
            book.active(device, tracks, kind, start, start, severity, 125.0, True, out)
            book.active(device, tracks, kind, beat, start, severity, 126.0, True, out)
            book.inactive(device, tracks, kind, beat + 10 * MIN, out)
    out.sort(key=lambda e: e.ts_ms)
    return [
        msgspec.structs.replace(e, alert_id=pseudo(e.alert_id), device_id=pseudo(e.device_id))
        for e in out
    ]


def _cpu(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def write_cost(s: Settings, lines: list[str], batch: int) -> tuple[float, int]:
    """influxd CPU seconds to write ``lines`` into a fresh bucket, and its series afterwards."""
    bucket = f"bench-alerts-{uuid.uuid4().hex[:6]}"
    with InfluxDBClient(url=s.influx_url, token=s.influx_token(), org=s.influxdb.org) as c:
        created = c.buckets_api().create_bucket(bucket_name=bucket, org=s.influxdb.org)
    influxd = _service_pids(s)["influxdb"]
    params = {"org": s.influxdb.org, "bucket": bucket, "precision": "ms"}
    try:
        with httpx.Client(
            base_url=s.influx_url, headers={"Authorization": f"Token {s.influx_token()}"}
        ) as client:
            before = _cpu(influxd)
            for i in range(0, len(lines), batch):
                body = "\n".join(lines[i : i + batch]).encode()
                resp = client.post("/api/v2/write", params=params, content=body)
                if resp.status_code != 204:
                    raise RuntimeError(f"InfluxDB answered {resp.status_code}: {resp.text}")
            time.sleep(1.0)  # the write's tail inside influxd (index, cache)
            spent = _cpu(influxd) - before
        with InfluxDBClient(url=s.influx_url, token=s.influx_token(), org=s.influxdb.org) as c:
            tables = c.query_api().query(
                'import "influxdata/influxdb"\n'
                f'influxdb.cardinality(bucket: "{bucket}", start: time(v: 0))'
            )
            series = int(tables[0].records[0].get_value())
    finally:
        with InfluxDBClient(url=s.influx_url, token=s.influx_token(), org=s.influxdb.org) as c:
            c.buckets_api().delete_bucket(created)
    return spent, series


def main(args: argparse.Namespace) -> dict[str, object]:
    s = Settings()
    evs = events(args.devices, args.alerts)
    layouts = {
        "alert_id_tag (before)": [tag_layout_line(e) for e in evs],
        "alert_id_field (after)": [alert_line(e, e.device_id) for e in evs],
    }
    n = len(evs)
    out: dict[str, object] = {
        "devices": args.devices,
        "alerts_per_device": args.alerts,
        "points": n,
        "rounds": args.rounds,
        "by_batch": {},
    }
    print(f"{n} alert points ({args.devices} devices x {args.alerts} lifecycles x 3 events)")
    for batch in args.batch:
        cpu: dict[str, list[float]] = {name: [] for name in layouts}
        series: dict[str, int] = {}
        for r in range(args.rounds):
            order = list(layouts) if r % 2 == 0 else list(reversed(layouts))
            for name in order:
                spent, series[name] = write_cost(s, layouts[name], batch)
                cpu[name].append(spent)
        figures = out["by_batch"][str(batch)] = {}  # type: ignore[index]
        for name in layouts:
            us = [1e6 * c / n for c in cpu[name]]
            figures[name] = {
                "influxd_us_per_point_best": min(us),
                "influxd_us_per_point_median": statistics.median(us),
                "series": series[name],
            }
            print(
                f"  {batch:5d} lines/request  {name:24s} influxd {min(us):7.1f} µs/point best, "
                f"{statistics.median(us):7.1f} median   series {series[name]:6d}"
            )
    return out


def _options() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--alerts", type=int, default=30, help="lifecycles per device")
    p.add_argument(
        "--batch", type=int, nargs="+", default=[50, 1000], help="lines per write request"
    )
    p.add_argument("--rounds", type=int, default=3)
    return p.parse_args()


if __name__ == "__main__":
    result = main(_options())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "alert_points.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'alert_points.json'}")
