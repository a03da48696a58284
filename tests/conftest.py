"""Shared fixtures. Integration tests get a real Kafka and InfluxDB from the local stack."""

from __future__ import annotations

import os
import uuid

import pytest

from ingest.settings import Settings, load_settings

# browser checks need Chromium and run from `make ui-check`, not from `make test`
collect_ignore = [] if os.environ.get("VITALSTREAM_BROWSER_CHECKS") == "1" else ["browser"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path).replace(os.sep, "/")
        if "tests/integration/" in path or "tests/chaos/" in path:
            item.add_marker(pytest.mark.integration)
        if "tests/chaos/" in path:
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings from the environment, as the CLI builds them."""
    return load_settings()


@pytest.fixture(scope="session")
def live_stack(settings: Settings) -> Settings:
    """A running local stack (idempotent `stack up`; services the settings point elsewhere are
    used as they are). Left running for fast re-runs: `make stack-down` stops it."""
    from ingest import stack

    stack.up(settings)
    return settings


@pytest.fixture
def unique_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"
