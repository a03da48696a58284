"""compose.yaml validates against the Compose specification and matches the local stack."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ingest.settings import INFLUXDB_VERSION, KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[2]
# compose-go is the library `docker compose` itself uses; its module ships the spec's schema
COMPOSE_GO = "github.com/compose-spec/compose-go/v2@v2.16.2"


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    go = shutil.which("go")
    assert go is not None, "go is needed to fetch the Compose schema from the Go module proxy"
    out = subprocess.run(
        [go, "mod", "download", "-json", COMPOSE_GO],
        capture_output=True,
        text=True,
        check=True,
        env={"GOTOOLCHAIN": "local", **_go_env()},
    )
    schema_path = Path(json.loads(out.stdout)["Dir"]) / "schema" / "compose-spec.json"
    return json.loads(schema_path.read_text())  # type: ignore[no-any-return]


def _go_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "GOFLAGS"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_file_is_valid_against_the_spec(
    compose_schema: dict[str, Any], compose: dict[str, Any]
) -> None:
    jsonschema.validate(compose, compose_schema)


def test_schema_rejects_a_broken_file(compose_schema: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"services": {"x": {"image": 5, "ports": "nope"}}}, compose_schema)


def test_compose_uses_the_local_stack_versions(compose: dict[str, Any]) -> None:
    images = {name: svc.get("image", "") for name, svc in compose["services"].items()}
    assert images["kafka"] == f"apache/kafka:{KAFKA_VERSION}"
    assert images["influxdb"] == f"influxdb:{INFLUXDB_VERSION.lstrip('v')}"


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if re.fullmatch(r"kafka|influxdb", name):
            assert "healthcheck" in svc, name
