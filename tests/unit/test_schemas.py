"""The committed JSON Schema files are the ones the models generate, and they validate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ingest.commands.schema import schemas

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


@pytest.mark.parametrize("name", sorted(schemas()))
def test_committed_schema_is_up_to_date(name: str) -> None:
    assert json.loads((DOCS / name).read_text()) == schemas()[name], (
        "run `make schemas` and commit docs/schemas"
    )


def test_reading_schema_accepts_the_examples_and_rejects_garbage() -> None:
    schema = schemas()["reading.schema.json"]
    for example in schema["examples"]:  # type: ignore[union-attr]
        jsonschema.validate(example, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"device_id": "d", "metric": "heart_rate", "value": 60}, schema)
