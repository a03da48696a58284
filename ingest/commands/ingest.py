"""``vitalstream ingest``: the long-running daemon."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "ingest",
        help="run the daemon: Kafka readings -> detection -> InfluxDB (SIGTERM stops cleanly)",
        description="Consume readings, score them per device, write points and alerts to "
        "InfluxDB, dead-letter bad input, commit only what is durable. Configure with "
        "VITALSTREAM_* environment variables or --config FILE.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.daemon import run_daemon

    asyncio.run(run_daemon(settings))
    return 0
