"""``vitalstream report --since 24h --out DIR``: alerts and vitals per device as HTML + PNGs.

Reads the configured InfluxDB bucket (read-only), plots the alerts of the range (clinical and
data quality apart) and, for the devices with the most alerts (or those named with
``--device``), heart rate against the personal baseline, SpO2, sleep stages and steps. Works
without a display (matplotlib's Agg backend). Device ids appear as they are stored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import ConfigError

if TYPE_CHECKING:
    from ingest.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="HTML page with PNG plots of alerts and vitals per device (no Grafana needed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--since", default="24h", help="start: 24h, 90m, 7d before --until, or RFC 3339 time"
    )
    p.add_argument("--until", default=None, help="end: RFC 3339 time (default: now)")
    p.add_argument("--out", type=Path, required=True, help="directory to write (created)")
    p.add_argument("--device", action="append", default=[], help="plot this device (repeatable)")
    p.add_argument("--max-devices", type=int, default=12, help="devices plotted without --device")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.report.data import load, parse_since
    from ingest.report.render import write_report

    try:
        stop = (
            parse_since(args.until, dt.datetime.now(dt.UTC))
            if args.until
            else dt.datetime.now(dt.UTC)
        )
        start = parse_since(args.since, stop)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if start >= stop:
        raise ConfigError("--since must be before --until")
    if args.max_devices < 1:
        raise ConfigError("--max-devices must be at least 1")
    data = load(settings, start, stop, args.device, args.max_devices)
    files = write_report(data, args.out)
    print(
        f"report: {len(data.alerts)} alerts, {len(data.vitals)} devices plotted -> "
        f"{files[0]} ({len(files) - 1} images)",
        file=sys.stderr,
    )
    return 0
