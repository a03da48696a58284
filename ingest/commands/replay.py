"""``vitalstream replay INPUT --out ALERTS.ndjson [--scores SCORES.csv]``: the detection engine
offline over a recorded export, in event-time order (see :mod:`ingest.replay.replay`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import ConfigError

if TYPE_CHECKING:
    from ingest.replay.replay import ReplayStats
    from ingest.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "replay",
        help="run the detection engine over a CSV export and write its alerts",
        description="INPUT is CSV (optionally gzip, '-' for stdin) with the header "
        "device_id,ts,metric,value. Output: one JSON line per alert (final state).",
    )
    parser.add_argument("input", type=Path, metavar="INPUT")
    parser.add_argument("--out", type=Path, required=True, metavar="ALERTS.ndjson")
    parser.add_argument(
        "--scores",
        type=Path,
        default=None,
        metavar="SCORES.csv",
        help="also write one scored row per reading",
    )
    parser.add_argument(
        "--order",
        choices=("time", "device"),
        default="time",
        help="how the export is sorted (default: time)",
    )
    parser.add_argument(
        "--reorder-window",
        type=float,
        default=10.0,
        metavar="MINUTES",
        help="disorder of event time put right per device (default 10)",
    )
    parser.add_argument(
        "--timezone",
        default=None,
        metavar="ZONE",
        help="the wearers' local time zone: an IANA name (Europe/Oslo, follows daylight saving "
        "time) or a fixed offset (+01:00); default: the configured "
        "detection.local_time.timezone; write a negative offset as --timezone=-07:00",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(handler=run)


def _progress(stats: ReplayStats, alerts: int) -> None:
    # one updating line on a terminal, plain lines in a log
    tty = sys.stderr.isatty()
    print(
        f"{chr(13) if tty else ''}replay: {stats.rows:,} rows, {stats.readings:,} scored, "
        f"{alerts:,} alerts",
        end="" if tty else "\n",
        file=sys.stderr,
        flush=True,
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.replay.replay import MIN, ReplayError, in_time_zone, replay_file

    if not args.input.exists() and str(args.input) != "-":
        raise ConfigError(f"replay input {args.input} does not exist")
    try:
        config = in_time_zone(settings.detection, args.timezone)
    except ValueError as exc:
        raise ConfigError(f"--timezone: {exc}") from None
    try:
        stats = replay_file(
            args.input,
            args.out,
            scores_path=args.scores,
            config=config,
            window_ms=int(args.reorder_window * MIN),
            order=args.order,
            progress=None if args.quiet else _progress,
        )
    except ReplayError as exc:
        print(f"vitalstream replay: {exc}", file=sys.stderr)
        return 2
    rate = stats.readings / stats.seconds if stats.seconds else 0.0
    skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.skipped.items())) or "none"
    lead = "\r" if sys.stderr.isatty() else ""
    print(
        f"{lead}replay: {stats.rows:,} rows, {stats.readings:,} scored in {stats.seconds:.1f} s "
        f"({rate:,.0f}/s), {stats.alerts:,} alerts -> {args.out}; skipped rows: {skipped}",
        file=sys.stderr,
    )
    return 0
