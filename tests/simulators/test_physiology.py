"""Normal life stays in physiological ranges; fleet statistics fall in documented ranges.

The ranges asserted here are the ones documented in docs/simulator.md ("Plausibility").
"""

from __future__ import annotations

import numpy as np
import pytest

from simulators import FleetSimulator, load_scenario
from simulators.chunk import HR, MALFORMED, SLEEP, SPO2, STEPS

from .conftest import DAY_MS, START_MS, columns

DAYS = 7


@pytest.fixture(scope="module")
def week() -> tuple[FleetSimulator, dict[str, np.ndarray]]:
    sim = FleetSimulator(load_scenario("normal_week"), devices=24, start_ms=START_MS)
    return sim, columns(sim)


def test_values_in_physiological_ranges(week: tuple[FleetSimulator, dict[str, np.ndarray]]) -> None:
    _, r = week
    hr = r["v"][r["m"] == HR]
    spo2 = r["v"][r["m"] == SPO2]
    steps = r["v"][r["m"] == STEPS]
    assert hr.min() >= 41
    assert hr.max() <= 215
    assert spo2.min() >= 90
    assert spo2.max() <= 100
    assert steps.min() >= 0
    assert steps.max() <= 200
    assert set(np.unique(r["v"][r["m"] == SLEEP]).tolist()) == {0.0, 1.0, 2.0, 3.0}


def _per_device(sim: FleetSimulator, r: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = sim.n_devices
    steps_day = np.zeros(n)
    sleep_h = np.zeros(n)
    deep_frac = np.zeros(n)
    rest_hr = np.full(n, np.nan)
    peak_hr = np.full(n, np.nan)
    for d in range(n):
        sel = r["dev"] == d
        steps_day[d] = r["v"][sel & (r["m"] == STEPS)].sum() / DAYS
        stages = r["v"][sel & (r["m"] == SLEEP)]
        if len(stages):
            sleep_h[d] = (stages > 0).sum() * 30 / 3600 / DAYS
            deep_frac[d] = (stages == 2).sum() / max(1, (stages > 0).sum())
        hr = r["v"][sel & (r["m"] == HR)]
        if len(hr):
            rest_hr[d] = np.percentile(hr, 5)
            peak_hr[d] = np.percentile(hr, 99.9)
    return {
        "steps": steps_day,
        "sleep_h": sleep_h,
        "deep": deep_frac,
        "rest": rest_hr,
        "peak": peak_hr,
    }


def test_fleet_statistics_are_plausible(week: tuple[FleetSimulator, dict[str, np.ndarray]]) -> None:
    sim, r = week
    s = _per_device(sim, r)
    sleepers = sim.population.has_sleep
    assert 4_000 <= np.median(s["steps"]) <= 12_000
    assert ((s["steps"] > 2_000) & (s["steps"] < 20_000)).all()
    assert 6.0 <= np.median(s["sleep_h"][sleepers]) <= 8.5
    assert ((s["sleep_h"][sleepers] > 5.0) & (s["sleep_h"][sleepers] < 9.5)).all()
    assert 0.10 <= np.median(s["deep"][sleepers]) <= 0.25
    assert 45 <= np.nanmedian(s["rest"]) <= 70
    # someone in a fleet of 24 runs during a week, reaching 150+
    assert np.nanmax(s["peak"]) >= 150


def test_exercise_raises_heart_rate_with_lag(
    week: tuple[FleetSimulator, dict[str, np.ndarray]],
) -> None:
    sim, r = week
    # minutes with running cadence: HR must be well above the person's rest level
    hr_by_minute: dict[tuple[int, int], float] = {}
    sel = r["m"] == HR
    for d, t, v in zip(
        r["dev"][sel].tolist(), r["ts"][sel].tolist(), r["v"][sel].tolist(), strict=True
    ):
        hr_by_minute[(d, t // 60_000)] = v
    sel = (r["m"] == STEPS) & (r["v"] >= 145)
    lifts = [
        hr_by_minute[(d, t // 60_000)] - sim.population.resting_hr[d]
        for d, t in zip(r["dev"][sel].tolist(), r["ts"][sel].tolist(), strict=True)
        if (d, t // 60_000) in hr_by_minute
    ]
    assert len(lifts) > 100
    assert np.median(lifts) > 50


def test_day_night_rhythm(week: tuple[FleetSimulator, dict[str, np.ndarray]]) -> None:
    _sim, r = week
    sel = r["m"] == HR
    hour = (r["ts"][sel] - START_MS) % DAY_MS // 3_600_000
    v = r["v"][sel]
    night = np.median(v[(hour >= 2) & (hour < 5)])
    day = np.median(v[(hour >= 10) & (hour < 18)])
    assert day - night > 8


def test_sleep_follows_local_time() -> None:
    scenario = load_scenario("normal_week").replace(devices=6, utc_offsets_h=(-5.0, 9.0))
    sim = FleetSimulator(scenario, start_ms=START_MS, duration_ms=3 * DAY_MS)
    offsets = sim.population.utc_offset_ms
    assert set(offsets.tolist()) <= {-5 * 3_600_000, 9 * 3_600_000}
    for c in sim:
        sel = (c.metric == SLEEP) & (c.value > 0)
        local_h = (c.ts_ms[sel] + offsets[c.device_idx[sel]]) % DAY_MS / 3_600_000
        # asleep between 20:00 and 11:00 local, whatever the time zone
        assert ((local_h >= 20) | (local_h < 11)).all()


@pytest.mark.parametrize("seed", [0, 17, 123456789])
def test_ranges_hold_for_any_seed(seed: int) -> None:
    from messages import ReadingDecoder

    sim = FleetSimulator(
        load_scenario("normal_week"),
        devices=12,
        seed=seed,
        start_ms=START_MS,
        duration_ms=2 * DAY_MS,
    )
    dec = ReadingDecoder()
    now = sim.end_ms + DAY_MS
    for c in sim:
        ok = (c.flags & MALFORMED) == 0
        for code, lo, hi in ((HR, 41, 215), (SPO2, 90, 100), (STEPS, 0, 200), (SLEEP, 0, 3)):
            v = c.value[ok & (c.metric == code)]
            assert ((v >= lo) & (v <= hi)).all()
        for value, bad in zip(c.values()[::50], c.malformed[::50].tolist(), strict=True):
            if not bad:
                dec.decode(value, now_ms=now)
