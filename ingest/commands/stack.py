"""``vitalstream stack up | down | status [--json]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.settings import Settings
    from ingest.stack.service import ServiceStatus


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "stack", help="the local Kafka + InfluxDB + Alertmanager (no Docker needed)"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("up", help="install on first use, start, wait until each serves requests")
    actions.add_parser("down", help="stop the processes that 'up' started")
    st = actions.add_parser("status", help="state, version, address and PID of each service")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    cfg = actions.add_parser(
        "alertmanager-config",
        help="the alertmanager.yml that 'up' provisions (routing example, or your own file)",
    )
    cfg.add_argument("--out", type=Path, default=None, help="write it here (default: stdout)")
    parser.set_defaults(handler=run)


def _table(rows: list[ServiceStatus]) -> str:
    lines = [f"{'service':<12} {'state':<14} {'version':<9} {'address':<24} pid"]
    lines += [
        f"{r.name:<12} {r.state:<14} {r.version:<9} {r.address:<24} {r.pid or '-'}" for r in rows
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest import stack

    if args.action == "up":
        print(_table(stack.up(settings)))
        return 0
    if args.action == "alertmanager-config":
        from ingest.stack.alertmanager import provisioned_config

        text = provisioned_config(settings)
        if args.out is None:
            print(text, end="")
        else:
            args.out.write_text(text)
        return 0
    if args.action == "down":
        stopped = stack.down(settings)
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return 0
    rows = stack.status(settings)
    if args.json:
        print(json.dumps({r.name: r.as_dict() for r in rows}, indent=2))
    else:
        print(_table(rows))
    return 0
