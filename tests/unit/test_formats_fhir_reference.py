"""Our FHIR structs (msgspec, on the hot path) checked against the reference R4 models of
``fhir.resources`` (pydantic; about 10x slower per reading: bench/bench_formats.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from messages import ReadingDecoder
from messages.codec import parse_ts
from messages.formats import Decoded, RecordDecoder

FIXTURES = Path(__file__).parent.parent / "fixtures" / "formats"
FHIR_FILES = sorted(FIXTURES.glob("fhir-*.json"))
NOW = parse_ts("2026-01-02T00:00:00Z")


def reference_valid(doc: dict[str, Any]) -> bool:
    model = Bundle if doc.get("resourceType") == "Bundle" else Observation
    try:
        model.model_validate(doc)
    except ValueError:
        return False
    return True


def ours_accepts(doc: dict[str, Any]) -> bool:
    dec = RecordDecoder(ReadingDecoder())
    try:
        out = dec.decode(json.dumps(doc).encode(), key=b"watch-0001", now_ms=NOW)
    except ValueError:
        return False
    return isinstance(out, Decoded) and bool(out.readings)


@pytest.mark.parametrize("path", FHIR_FILES, ids=lambda p: p.name)
def test_fixtures_are_valid_r4(path: Path) -> None:
    assert reference_valid(json.loads(path.read_bytes()))


def _mutations() -> list[tuple[str, Any]]:
    return [
        ("status", 7),
        ("status", None),
        ("code", None),
        ("code", {"coding": "8867-4"}),
        ("valueQuantity", {"value": "forty-four", "code": "/min"}),
        ("effectiveDateTime", "2026-13-45T25:00:00Z"),
        ("device", "Device/watch-0001"),
        ("category", {"coding": []}),
    ]


@pytest.mark.parametrize(("field", "bad"), _mutations())
def test_structurally_invalid_observations_are_rejected_by_both(field: str, bad: Any) -> None:
    doc = json.loads((FIXTURES / "fhir-heart-rate.json").read_bytes())
    broken = copy.deepcopy(doc)
    if bad is None:
        del broken[field]
    else:
        broken[field] = bad
    assert reference_valid(doc)
    assert ours_accepts(doc)
    assert not reference_valid(broken)
    assert not ours_accepts(broken)
