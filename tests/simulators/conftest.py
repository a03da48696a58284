"""Shared fixtures: small, fixed-start runs (fixed start keeps every test reproducible)."""

from __future__ import annotations

import pytest

from simulators import FleetSimulator, load_scenario

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
DAY_MS = 86_400_000


@pytest.fixture(scope="session")
def acute() -> FleetSimulator:
    return FleetSimulator(load_scenario("acute_events"), start_ms=START_MS)
