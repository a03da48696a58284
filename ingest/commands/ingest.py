"""``vitalstream ingest``: the long-running daemon (``--check``: only its start-up checks)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "ingest",
        help="run the daemon: Kafka readings -> detection -> InfluxDB (SIGTERM stops cleanly)",
        description="Consume readings, score them per device, write points and alerts to "
        "InfluxDB, dead-letter bad input, commit only what is durable. Configure with "
        "VITALSTREAM_* environment variables or --config FILE. At start the daemon checks "
        "Kafka, its topics, the InfluxDB bucket and the token's write permission, and exits "
        "non-zero with one line if any is wrong.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only run the start-up checks (creates nothing), print what passed, exit 0 or 1",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # on use: every command module loads with the parser (~20 ms)

    if args.check:
        from ingest import preflight

        for line in asyncio.run(preflight.check(settings)):
            print(f"ok: {line}")
        return 0
    from ingest.daemon import run_daemon

    asyncio.run(run_daemon(settings))
    return 0
