"""Distributions that say how a wearable feed looks, measured the same way on real recordings
and on simulator output (both as replay CSVs), so the two can be put side by side.

Every feature is a 1-D sample (pooled over devices); :func:`compare` summarises each side
(quantiles) and gives the two-sample Kolmogorov-Smirnov distance. The definitions are in
:data:`FEATURES` and written into the realism report.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.stats import ks_2samp

from ingest.replay.replay import ReplayStats, open_text, read_rows
from messages.codec import Reading
from messages.metrics import Metric, SleepStage

MIN_S = 60
DAY_MIN = 1440
WALK_SPM = 40  # a minute with at least this many steps is walking
BOUT_SPM = 80  # a bout that should raise heart rate (for recovery)
CADENCE_BINS = ((0, 1), (1, 40), (40, 80), (80, 100), (100, 120), (120, 250))
UP_SPM = 10  # a minute with at least this many steps shows the wearer up and about
DAY_START_H = 4  # routine days run 04:00-04:00 so that a late night stays in its evening
ELEVATED_BPM = 100  # heart rate of exercise, stress or a party, not of rest
STEPLESS_SPM = 5  # at most this many steps/min: the wrist barely moves
STEPLESS_MIN = 10  # episodes at least this long count

FEATURES: dict[str, str] = {
    "hr_interval_s": "seconds between consecutive heart-rate samples, gaps of <= 60 s",
    "hr_gap_min": "length of heart-rate gaps > 1 min (minutes, capped at 24 h)",
    "wear_h_per_day": "hours with heart rate per day, days with any heart rate",
    "resting_hr": "daily resting HR: 10th percentile of per-minute HR in still minutes"
    " (no steps in it and the 2 before), days with >= 6 h of heart rate",
    "resting_hr_sd": "per device: SD of its daily resting HR (day-to-day spread)",
    "rest_hr_change": "|change| of per-minute mean HR between consecutive still minutes (bpm)",
    "hr_excess_slow_walk": "per-minute HR minus that day's resting HR at 40-80 steps/min",
    "hr_excess_brisk_walk": "per-minute HR minus that day's resting HR at 100-120 steps/min",
    "hr_recovery_3min": "share of a bout's HR excess left 3 min after a >= 5 min bout at >= 80"
    " steps/min ends",
    "cadence_spm": "steps/min in minutes with any steps",
    "walk_bout_min": "length of runs of minutes at >= 40 steps/min",
    "flat_run_min": "length of runs of identical consecutive HR values lasting >= 2 min",
    "hr_spike_bpm": "|jump| between HR samples <= 15 s apart, jumps >= 15 bpm",
    "first_up_h_weekday": "hour of the day's first minute with >= 10 steps (days from 04:00"
    " to 04:00), Monday to Friday mornings (the timestamp's clock: Fitabase local, PMData UTC"
    " = local - 1 h, the simulator local = UTC)",
    "first_up_h_weekend": "the same on Saturday and Sunday mornings (weekend lie-ins)",
    "last_up_h": "hour of the last minute with >= 10 steps before 04:00 the next morning (24-28"
    " = after midnight: late nights)",
    "stepless_elevated_min": "length of runs of >= 10 min with per-minute HR >= 100 bpm and <= 5"
    " steps/min (cycling, gym, a night out: exercise the wrist does not count)",
    "stepless_elevated_per_day": "such runs per day with >= 6 h of heart rate and of steps rows",
    "sleep_h_per_night": "hours of sleep-stage epochs per sleep episode (episodes split at"
    " gaps > 1 h), episodes >= 3 h",
    "awake_share_in_sleep": "share of a sleep episode's epochs staged awake",
}


@dataclass
class _Device:
    hr_t: list[int] = field(default_factory=list)
    hr_v: list[float] = field(default_factory=list)
    steps_t: list[int] = field(default_factory=list)
    steps_v: list[float] = field(default_factory=list)
    sleep_t: list[int] = field(default_factory=list)
    sleep_v: list[float] = field(default_factory=list)

    def add(self, r: Reading) -> None:
        if r.value != r.value:
            return
        if r.metric is Metric.HEART_RATE:
            self.hr_t.append(r.ts_ms)
            self.hr_v.append(r.value)
        elif r.metric is Metric.STEPS:
            self.steps_t.append(r.ts_ms)
            self.steps_v.append(r.value)
        elif r.metric is Metric.SLEEP_STAGE:
            self.sleep_t.append(r.ts_ms)
            self.sleep_v.append(r.value)


@dataclass
class Features:
    """Pooled samples of every feature, plus counts of what was measured."""

    samples: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in FEATURES})
    devices: int = 0
    hr_samples: int = 0
    non_integer_hr: int = 0

    def extend(self, name: str, values: Iterable[float]) -> None:
        self.samples[name].extend(float(v) for v in values)

    def array(self, name: str) -> NDArray[np.float64]:
        return np.asarray(self.samples[name], dtype=np.float64)


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``(start, end)`` index ranges of the True runs of ``mask``."""
    if not len(mask):
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _device_features(d: _Device, out: Features) -> None:
    out.devices += 1
    if d.sleep_t:
        _sleep_features(d, out)
    hr_t = np.asarray(d.hr_t, np.int64)
    hr_v = np.asarray(d.hr_v, np.float64)
    steps_min: dict[int, float] = {}
    for t, v in zip(d.steps_t, d.steps_v, strict=True):
        m = t // 60_000
        steps_min[m] = steps_min.get(m, 0.0) + v
    if steps_min:
        sv = np.asarray([v for v in steps_min.values() if v > 0])
        out.extend("cadence_spm", sv)
        first, last = min(steps_min), max(steps_min)
        grid = np.zeros(last - first + 1)
        for m, v in steps_min.items():
            grid[m - first] = v
        out.extend("walk_bout_min", [e - s for s, e in _runs(grid >= WALK_SPM)])
        _up_hours(steps_min, out)
    if len(hr_t) < 2:
        return
    order = np.argsort(hr_t, kind="stable")
    hr_t, hr_v = hr_t[order], hr_v[order]
    out.hr_samples += len(hr_v)
    out.non_integer_hr += int(np.count_nonzero(hr_v != np.rint(hr_v)))
    dt = np.diff(hr_t) / 1000.0
    out.extend("hr_interval_s", dt[(dt > 0) & (dt <= 60)])
    out.extend("hr_gap_min", np.minimum(dt[dt > 60] / 60.0, 1440.0))
    dv = np.abs(np.diff(hr_v))
    out.extend("hr_spike_bpm", dv[(dt <= 15) & (dv >= 15)])
    # runs of identical values
    same = np.concatenate([[False], np.diff(hr_v) == 0])
    for s, e in _runs(same):
        span_min = (hr_t[e - 1] - hr_t[s - 1]) / 60_000
        if span_min >= 2:
            out.extend("flat_run_min", [span_min])
    # per-minute HR on a grid
    minute = hr_t // 60_000
    m0 = int(minute[0])
    idx = minute - m0
    n = int(idx[-1]) + 1
    hr_sum = np.bincount(idx, weights=hr_v, minlength=n)
    hr_n = np.bincount(idx, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        hr_min = np.where(hr_n > 0, hr_sum / np.maximum(hr_n, 1), np.nan)
    steps = np.zeros(n)
    has_steps = np.zeros(n, np.bool_)
    for m, v in steps_min.items():
        if 0 <= m - m0 < n:
            steps[m - m0] = v
            has_steps[m - m0] = True
    if not has_steps.any():
        return
    moving = steps > 0
    recent = moving.copy()
    recent[1:] |= moving[:-1]
    recent[2:] |= moving[:-2]
    still = ~recent & has_steps & ~np.isnan(hr_min)
    day = (np.arange(n) + m0) // DAY_MIN
    worn = ~np.isnan(hr_min)
    rest_of_day: dict[int, float] = {}
    # a steps row of 0 counts here: without steps rows (a day before the export's steps start)
    # nothing tells a still wrist from a missing stream
    elevated = (hr_min >= ELEVATED_BPM) & has_steps & (steps <= STEPLESS_SPM)
    stepless_by_day: dict[int, list[float]] = {}
    for s, e in _runs(elevated):
        if e - s >= STEPLESS_MIN:
            stepless_by_day.setdefault(int(day[s]), []).append(float(e - s))
    for dd in np.unique(day).tolist():
        sel = day == dd
        wear_h = np.count_nonzero(worn & sel) / 60.0
        if wear_h > 0:
            out.extend("wear_h_per_day", [wear_h])
        rest = hr_min[sel & still]
        if wear_h >= 6 and len(rest) >= 60:
            rest_of_day[dd] = float(np.percentile(rest, 10))
        if wear_h >= 6 and np.count_nonzero(has_steps & sel) >= 360:
            out.extend("stepless_elevated_per_day", [len(stepless_by_day.get(dd, []))])
    for lengths in stepless_by_day.values():
        out.extend("stepless_elevated_min", lengths)
    out.extend("resting_hr", rest_of_day.values())
    if len(rest_of_day) >= 3:
        out.extend("resting_hr_sd", [float(np.std(list(rest_of_day.values()), ddof=1))])
    both_still = still[1:] & still[:-1]
    out.extend("rest_hr_change", np.abs(np.diff(hr_min))[both_still])
    rest_arr = np.asarray([rest_of_day.get(dd, np.nan) for dd in day.tolist()])
    excess = hr_min - rest_arr
    ok = ~np.isnan(excess) & has_steps
    out.extend("hr_excess_slow_walk", excess[ok & (steps >= 40) & (steps < 80)])
    out.extend("hr_excess_brisk_walk", excess[ok & (steps >= 100) & (steps < 120)])
    for s, e in _runs(steps >= BOUT_SPM):
        if e - s < 5 or e + 3 >= n:
            continue
        at_end, later = excess[e - 1], excess[e + 2]
        if not np.isnan(at_end) and not np.isnan(later) and at_end >= 15 and steps[e] < 10:
            out.extend("hr_recovery_3min", [later / at_end])


def _up_hours(steps_min: dict[int, float], out: Features) -> None:
    """First and last minutes up and about (>= :data:`UP_SPM` steps) of each 04:00 day."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for m, v in steps_min.items():
        if v < UP_SPM:
            continue
        dd = (m - DAY_START_H * 60) // DAY_MIN
        first[dd] = min(first.get(dd, m), m)
        last[dd] = max(last.get(dd, m), m)
    for dd, m in first.items():
        weekend = (dd + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        name = "first_up_h_weekend" if weekend else "first_up_h_weekday"
        out.extend(name, [(m - dd * DAY_MIN) / 60])
        out.extend("last_up_h", [(last[dd] - dd * DAY_MIN) / 60])


def _sleep_features(d: _Device, out: Features) -> None:
    t = np.asarray(d.sleep_t, np.int64)
    v = np.asarray(d.sleep_v, np.float64)
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    breaks = np.flatnonzero(np.diff(t) > 3_600_000) + 1
    for part_t, part_v in zip(np.split(t, breaks), np.split(v, breaks), strict=True):
        hours = len(part_t) * 30 / 3600
        if hours >= 3:
            out.extend("sleep_h_per_night", [hours])
            out.extend("awake_share_in_sleep", [float(np.mean(part_v == SleepStage.AWAKE))])


def features_of_files(paths: Iterable[Path]) -> Features:
    """Measure every feature over the replay CSVs ``paths`` (one device at a time)."""
    out = Features()
    for p in paths:
        devices: dict[str, _Device] = {}
        with open_text(p) as src:
            for r in read_rows(src, ReplayStats()):
                dev = devices.get(r.device_id)
                if dev is None:
                    dev = devices[r.device_id] = _Device()
                dev.add(r)
        for dev in devices.values():
            _device_features(dev, out)
    return out


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class Comparison:
    feature: str
    n_real: int
    n_sim: int
    q_real: list[float] | None
    q_sim: list[float] | None
    ks: float | None


def quantiles(a: NDArray[np.float64]) -> list[float] | None:
    """:data:`QUANTILES` of a sample (``None`` if empty)."""
    return [float(x) for x in np.quantile(a, QUANTILES)] if len(a) else None


def compare(real: Features, sim: Features) -> list[Comparison]:
    """Quantiles of each feature on both sides and the KS distance between them."""
    out = []
    for name in FEATURES:
        a, b = real.array(name), sim.array(name)
        ks = float(ks_2samp(a, b).statistic) if len(a) and len(b) else None
        out.append(Comparison(name, len(a), len(b), quantiles(a), quantiles(b), ks))
    return out


def simulate_to_csv(
    path: Path,
    *,
    calibration: str,
    scenario: str = "normal_week",
    devices: int = 40,
    days: float = 14.0,
    seed: int = 1,
) -> int:
    """Write a simulated fleet (``scenario`` with ``calibration``) as a gzip replay CSV.

    Returns the rows written. The start is fixed (2026-01-01) so reports are reproducible.
    """
    from simulators import FleetSimulator, load_scenario
    from simulators.calibration import get_calibration
    from simulators.sinks import write_csv

    sc = load_scenario(scenario).replace(calibration=get_calibration(calibration))
    sim = FleetSimulator(
        sc,
        devices=devices,
        seed=seed,
        start_ms=1_767_225_600_000,
        duration_ms=int(days * 86_400_000),
    )
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        return write_csv(sim, f)
