"""``vitalstream schema --out DIR``: export JSON Schema files from the wire models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("schema", help="write the wire format's JSON Schema files")
    parser.add_argument("--out", type=Path, default=Path("docs/schemas"))
    parser.set_defaults(handler=run)


def schemas() -> dict[str, dict[str, object]]:
    """File name -> JSON Schema, generated from the pydantic and msgspec models."""
    import msgspec

    from detectors import AlertEvent
    from messages.labels import Label
    from messages.models import reading_json_schema

    return {
        "reading.schema.json": reading_json_schema(),
        "alert-event.schema.json": msgspec.json.schema(AlertEvent),
        "label.schema.json": msgspec.json.schema(Label),
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    for name, doc in schemas().items():
        (args.out / name).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(args.out / name)
    return 0
