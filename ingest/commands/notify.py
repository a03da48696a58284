"""``vitalstream notify``: alert events -> Prometheus Alertmanager (routing, grouping,
deduplication, silences and the receivers are Alertmanager's)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the settings import the engine: not for --help
    from ingest.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "notify",
        help="keep Alertmanager in step with the alerts topic (SIGTERM stops cleanly)",
        description="Consume alert lifecycle events (read_committed, own consumer group) and "
        "post them to Alertmanager's API v2; offsets are committed only after Alertmanager "
        "accepted them. Alertmanager: settings alertmanager.url (default: the local stack's).",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # on use: every command module loads with the parser (~20 ms)

    from ingest.alertmanager.notifier import run_notify

    asyncio.run(run_notify(settings))
    return 0
