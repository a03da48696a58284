"""Calibrations: the default keeps the simulator as it was; ``fitbit`` behaves like the real
Fitbit recordings it was fitted to (docs/simulator-realism.md)."""

from __future__ import annotations

import hashlib
import io
import itertools

import numpy as np
import pytest

from simulators import FleetSimulator, Scenario, load_scenario
from simulators.calibration import CALIBRATIONS, DEFAULT, FITBIT, SOURCES, Calibration
from simulators.chunk import HR, SLEEP, SPO2, STEPS
from simulators.sinks import write_csv

from .conftest import DAY_MS, START_MS, columns

HOUR_MS = 3_600_000


def _digest(sim: FleetSimulator) -> str:
    buf = io.StringIO()
    write_csv(sim, buf)
    return hashlib.sha256(buf.getvalue().encode()).hexdigest()


def test_fields_at_their_defaults_change_nothing() -> None:
    """A calibration equal to the default but not the default object still takes the
    calibrated code paths; with every field at its default they must not change a byte."""
    scenario = load_scenario("acute_events")
    same = Calibration(name="default")
    assert same == DEFAULT
    assert same is not DEFAULT
    other = Calibration(name="copy")  # != DEFAULT (name), so the calibrated branch runs

    def run(cal: Calibration) -> str:
        sc = scenario.replace(calibration=cal)
        return _digest(FleetSimulator(sc, devices=6, seed=2, start_ms=START_MS, duration_ms=DAY_MS))

    assert run(DEFAULT) == run(other)


@pytest.fixture(scope="module")
def fitbit_days() -> tuple[FleetSimulator, dict[str, np.ndarray]]:
    sc = Scenario(devices=8, duration_ms=4 * DAY_MS, calibration=FITBIT)
    sim = FleetSimulator(sc, seed=5, start_ms=START_MS)
    return sim, columns(sim)


def test_fitbit_devices_send_heart_rate_and_steps_only(
    fitbit_days: tuple[FleetSimulator, dict[str, np.ndarray]],
) -> None:
    sim, r = fitbit_days
    assert set(sim.population.models) == {"fitbit"}
    assert not (r["m"] == SPO2).any()
    assert not (r["m"] == SLEEP).any()
    assert (r["m"] == HR).sum() > 0
    assert (r["m"] == STEPS).sum() > 0
    rhr = sim.population.resting_hr
    assert rhr.min() >= FITBIT.resting_hr_min
    assert rhr.max() <= FITBIT.resting_hr_max


def test_fitbit_quirks_and_wear(fitbit_days: tuple[FleetSimulator, dict[str, np.ndarray]]) -> None:
    """Flat runs (one value repeated for minutes), long gaps (nights off, removals) and a
    wear time well under 24 h a day, as in the Fitabase recordings."""
    sim, r = fitbit_days
    hr = r["m"] == HR
    longest_flat_min = []
    gaps_h = []
    worn_h = []
    for d in range(sim.n_devices):
        sel = hr & (r["dev"] == d)
        order = np.argsort(r["ts"][sel], kind="stable")
        t, v = r["ts"][sel][order], r["v"][sel][order]
        same = np.flatnonzero(np.diff(v) != 0)
        bounds = np.concatenate([[0], same + 1, [len(v)]])
        # runs of one repeated value with at least 20 samples (not a value repeated over a gap)
        spans = [(t[e - 1] - t[s]) / 60_000 for s, e in itertools.pairwise(bounds) if e - s >= 20]
        longest_flat_min.append(max(spans, default=0.0))
        gaps_h += (np.diff(t) / HOUR_MS).tolist()
        worn_h.append(len(np.unique(t // 60_000)) / 60 / 4)
    assert max(longest_flat_min) >= 5
    assert max(gaps_h) >= 4  # a night off the wrist
    assert sum(g > 1 / 60 for g in gaps_h) >= 8 * 4  # about three removals a day or more
    assert np.median(worn_h) < 22


def test_calibration_from_toml_and_names() -> None:
    sc = Scenario.from_dict({"fleet": {"devices": 2, "calibration": "fitbit"}})
    assert sc.calibration is FITBIT
    assert Scenario.from_dict({"fleet": {"devices": 2}}).calibration is DEFAULT
    with pytest.raises(ValueError, match="unknown calibration"):
        Scenario.from_dict({"fleet": {"calibration": "nope"}})
    assert set(CALIBRATIONS) == {"default", "fitbit"}
    # every calibrated number says where it came from (a companion field shares its entry)
    companions = {
        "sleep_hr_drop_max": "sleep_hr_drop_min",
        "walk_intensity_max": "walk_intensity_min",
        "removal_median_min": "removals_per_day",
        "removal_sigma": "removals_per_day",
        "flat_median_min": "flat_runs_per_day",
        "flat_sigma": "flat_runs_per_day",
        "late_night_weekend_factor": "late_night_prob",
        "late_night_max_h": "late_night_prob",
        "late_night_sleep_loss": "late_night_prob",
        "stepless_bout_median_min": "stepless_bouts_per_day",
        "errand_median_min": "errand_walks_per_day",
    }
    changed = [
        f
        for f in FITBIT.__dataclass_fields__
        if f != "name" and getattr(FITBIT, f) != getattr(DEFAULT, f)
    ]
    assert len(changed) >= 15
    for f in changed:
        assert f in SOURCES or companions.get(f) in SOURCES, f


def test_fitbit_confounders(fitbit_days: tuple[FleetSimulator, dict[str, np.ndarray]]) -> None:
    """What made real wearers raise false alarms happens in the fitbit fleet: effort without
    counted steps (heart rate >= 100 bpm for >= 10 min at <= 5 steps/min) and late nights
    (steps after 00:30); the default fleet has neither late nights nor such stretches."""

    def minutes(sim: FleetSimulator, r: dict[str, np.ndarray]) -> tuple[int, int]:
        stepless_runs = late_minutes = 0
        for d in range(sim.n_devices):
            mine = r["dev"] == d
            hr_m = r["ts"][mine & (r["m"] == HR)] // 60_000
            hr_v = r["v"][mine & (r["m"] == HR)]
            st_m = r["ts"][mine & (r["m"] == STEPS)] // 60_000
            st_v = r["v"][mine & (r["m"] == STEPS)]
            first = int(START_MS // 60_000)
            n = 4 * 1440
            hr_sum = np.bincount(hr_m - first, weights=hr_v, minlength=n)[:n]
            hr_n = np.bincount(hr_m - first, minlength=n)[:n]
            steps = np.bincount(st_m - first, weights=st_v, minlength=n)[:n]
            has_steps = np.bincount(st_m - first, minlength=n)[:n] > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                per_min = np.where(hr_n > 0, hr_sum / np.maximum(hr_n, 1), 0.0)
            hot = (per_min >= 100) & has_steps & (steps <= 5)
            edges = np.flatnonzero(np.diff(np.concatenate([[0], hot.astype(int), [0]])))
            stepless_runs += int(np.sum(edges[1::2] - edges[::2] >= 10))
            clock_h = (np.arange(n) % 1440) / 60
            late_minutes += int(np.count_nonzero((steps >= 10) & (clock_h >= 0.5) & (clock_h < 3)))
        return stepless_runs, late_minutes

    sim, r = fitbit_days
    stepless, late = minutes(sim, r)
    assert stepless >= 2
    assert late >= 10
    default = FleetSimulator(
        Scenario(devices=8, duration_ms=4 * DAY_MS, models={"watch": 1.0}),
        seed=5,
        start_ms=START_MS,
    )
    d_stepless, d_late = minutes(default, columns(default))
    assert d_late < late
    assert d_stepless < stepless
