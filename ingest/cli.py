"""The ``vitalstream`` command. Builds the settings object and hands it to a subcommand.

Subcommands live one per module in :mod:`ingest.commands`; each module defines
``register(subparsers)`` and sets ``handler(args, settings) -> int`` as its default. A command
module imports only the standard library at the top (the rest where it is used), so ``--help``
of any command starts fast (``bench/bench_cli.py``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

import ingest.commands
from ingest.errors import VitalstreamError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vitalstream",
        description="Streaming anomaly detection for wearable health sensors.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML settings file (env VITALSTREAM_* overrides it). Secrets: env or files only.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(ingest.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"ingest.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # imported once the arguments parsed: ``--help`` and usage errors need neither pydantic nor
    # the settings (which import the engine's config and numpy); each command imports what it
    # uses when it runs
    from pydantic import ValidationError

    from ingest.log import configure_logging
    from ingest.settings import describe_invalid, load_settings

    try:
        settings = load_settings(args.config)
    except ValidationError as exc:
        print(f"vitalstream: invalid settings: {describe_invalid(exc)}", file=sys.stderr)
        return 2
    except VitalstreamError as exc:  # the settings file
        print(f"vitalstream: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.level, settings.log.format)
    try:
        code: int = args.handler(args, settings)
    except VitalstreamError as exc:
        print(f"vitalstream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
