"""Same seed -> identical stream; the stream does not depend on chunking or fleet size."""

from __future__ import annotations

import numpy as np

from simulators import Artefacts, FleetSimulator, Scenario, load_scenario

from .conftest import DAY_MS, START_MS


def _bytes(sim: FleetSimulator) -> list[bytes]:
    return [v for chunk in sim for v in chunk.values()]


def test_same_seed_identical_stream_and_labels() -> None:
    scenario = load_scenario("acute_events").replace(devices=10, duration_ms=2 * DAY_MS)
    a = FleetSimulator(scenario, seed=11, start_ms=START_MS)
    b = FleetSimulator(scenario, seed=11, start_ms=START_MS)
    assert _bytes(a) == _bytes(b)
    assert a.labels == b.labels


def test_other_seed_other_stream() -> None:
    scenario = Scenario(devices=3, duration_ms=3_600_000)
    a = FleetSimulator(scenario, seed=1, start_ms=START_MS)
    b = FleetSimulator(scenario, seed=2, start_ms=START_MS)
    assert _bytes(a) != _bytes(b)


def _rows(sim: FleetSimulator) -> list[tuple[int, ...]]:
    rows: list[tuple[int, ...]] = []
    for c in sim:
        rows += zip(
            c.device_idx.tolist(),
            c.ts_ms.tolist(),
            c.metric.tolist(),
            np.rint(c.value).astype(int).tolist(),
            c.send_ms.tolist(),
            c.flags.tolist(),
            strict=True,
        )
    return sorted(rows)


def test_stream_does_not_depend_on_chunk_size() -> None:
    scenario = load_scenario("acute_events").replace(devices=6, duration_ms=DAY_MS)
    small = FleetSimulator(scenario, seed=3, start_ms=START_MS, chunk_ms=7 * 60_000)
    big = FleetSimulator(scenario, seed=3, start_ms=START_MS, chunk_ms=180 * 60_000)
    assert _rows(small) == _rows(big)


def test_device_does_not_depend_on_fleet_size() -> None:
    scenario = Scenario(duration_ms=DAY_MS // 2, artefacts=Artefacts())
    few = FleetSimulator(scenario, devices=2, seed=4, start_ms=START_MS)
    many = FleetSimulator(scenario, devices=9, seed=4, start_ms=START_MS)
    assert many.device_ids[:2] == few.device_ids
    assert [r for r in _rows(many) if r[0] < 2] == _rows(few)
