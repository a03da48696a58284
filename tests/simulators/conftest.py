"""Shared fixtures: small, fixed-start runs (fixed start keeps every test reproducible)."""

from __future__ import annotations

import numpy as np
import pytest

from simulators import FleetSimulator, load_scenario
from simulators.chunk import DUPLICATE, MALFORMED

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
DAY_MS = 86_400_000


@pytest.fixture(scope="session")
def acute() -> FleetSimulator:
    return FleetSimulator(load_scenario("acute_events"), start_ms=START_MS)


def columns(sim: FleetSimulator) -> dict[str, np.ndarray]:
    """A whole run as columns (device, ts, metric, value), malformed and duplicates left out."""
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("dev", "ts", "m", "v")}
    for c in sim:
        ok = (c.flags & (MALFORMED | DUPLICATE)) == 0
        cols["dev"].append(c.device_idx[ok])
        cols["ts"].append(c.ts_ms[ok])
        cols["m"].append(c.metric[ok])
        cols["v"].append(c.value[ok])
    return {k: np.concatenate(v) for k, v in cols.items()}
