"""The realistic illness time course and its healthy look-alikes (``simulators/illness.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from messages.kinds import AnomalyKind
from simulators import FleetSimulator
from simulators.chunk import HR, SLEEP, STEPS
from simulators.events import EventSpec
from simulators.scenario import Scenario

from .conftest import DAY_MS, START_MS

HOUR_MS = 3_600_000
K = AnomalyKind


def _run(events: tuple[EventSpec, ...], days: int) -> tuple[FleetSimulator, dict[str, np.ndarray]]:
    sim = FleetSimulator(
        Scenario(devices=2, duration_ms=days * DAY_MS, models={"ring": 1.0}, events=events),
        seed=5,
        start_ms=START_MS,
    )
    cols: dict[str, list[np.ndarray]] = {"dev": [], "ts": [], "metric": [], "value": []}
    for c in sim:
        cols["dev"].append(c.device_idx)
        cols["ts"].append(c.ts_ms)
        cols["metric"].append(c.metric)
        cols["value"].append(c.value)
    return sim, {k: np.concatenate(v) for k, v in cols.items()}


def _night_hr(rows: dict[str, np.ndarray], dev: int, day: int) -> float:
    t0 = START_MS + day * DAY_MS + 2 * HOUR_MS  # 02:00-05:00 UTC (offset 0): asleep
    sel = (rows["dev"] == dev) & (rows["metric"] == HR)
    sel &= (rows["ts"] >= t0) & (rows["ts"] < t0 + 3 * HOUR_MS)
    return float(np.median(rows["value"][sel]))


def _steps(rows: dict[str, np.ndarray], dev: int, day: int) -> float:
    t0 = START_MS + day * DAY_MS
    sel = (rows["dev"] == dev) & (rows["metric"] == STEPS)
    sel &= (rows["ts"] >= t0) & (rows["ts"] < t0 + DAY_MS)
    return float(rows["value"][sel].sum())


def test_illness_rises_before_onset_and_recovers() -> None:
    spec = EventSpec(
        kind=K.ELEVATED_RESTING_HR,
        devices=[0],
        day=6,
        time_h=12.0,
        params={
            "profile": "illness",
            "lead_days": 3,
            "peak_bpm": 7,
            "recovery_days": 10,
            "steps_factor": 0.4,
        },
    )
    sim, rows = _run((spec,), 24)
    (label,) = sim.event_labels
    onset = int(label.params["onset_ms"])
    assert onset == label.start_ms + 3 * DAY_MS
    assert label.end_ms == onset + 10 * DAY_MS
    onset_day = (onset - START_MS) // DAY_MS
    before = np.mean([_night_hr(rows, 0, d) for d in range(1, 6)])
    # one night before symptoms resting HR is already well up; at onset + 1 it peaks
    assert _night_hr(rows, 0, onset_day - 1 + 1) - before >= 3.0
    assert _night_hr(rows, 0, onset_day + 2) - before >= 5.0
    # recovered by the end; the healthy wearer saw nothing
    assert abs(_night_hr(rows, 0, 23) - before) < 1.5
    other = [_night_hr(rows, 1, d) for d in range(1, 23)]
    assert max(other) - min(other) < 4.0
    # steps fall from onset and come back
    usual = np.mean([_steps(rows, 0, d) for d in range(1, 6)])
    assert _steps(rows, 0, onset_day + 1) < 0.6 * usual
    assert _steps(rows, 0, 23) > 0.8 * usual


@pytest.mark.parametrize("profile", ["late_night", "hard_training"])
def test_healthy_look_alikes_last_one_night(profile: str) -> None:
    spec = EventSpec(
        kind=K.ELEVATED_RESTING_HR,
        devices=[0],
        day=3,
        time_h=22.0 if profile == "late_night" else 18.0,
        params={"profile": profile, "delta_bpm": 5.0},
    )
    sim, rows = _run((spec,), 6)
    (label,) = sim.event_labels
    assert label.params["profile"] == profile
    assert label.end_ms - label.start_ms == 14 * HOUR_MS
    usual = np.mean([_night_hr(rows, 0, d) for d in (1, 2)])
    # the night after: a few bpm after a night out, a bpm or two after training
    assert _night_hr(rows, 0, 4) - usual >= (2.5 if profile == "late_night" else 1.0)
    assert abs(_night_hr(rows, 0, 5) - usual) < 1.5  # and back to normal
    # out of bed: no sleep epochs, steps, during the first hour
    first_hour = (rows["dev"] == 0) & (rows["ts"] >= label.start_ms)
    first_hour &= rows["ts"] < label.start_ms + HOUR_MS
    assert not (first_hour & (rows["metric"] == SLEEP)).any()
    assert rows["value"][first_hour & (rows["metric"] == STEPS)].min() >= 25


def test_unknown_profile_is_a_clear_error() -> None:
    spec = EventSpec(kind=K.ELEVATED_RESTING_HR, devices=[0], params={"profile": "flu"})
    with pytest.raises(ValueError, match="profile must be one of"):
        FleetSimulator(Scenario(devices=1, duration_ms=5 * DAY_MS, events=(spec,)), seed=1)
