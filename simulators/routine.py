"""Daily routines: sleep, walks, workouts, charging and gaps, planned per person and day.

A plan is a set of time segments, drawn from a generator seeded by ``(seed, device, day)`` so
that a day never depends on chunking or on other devices. Segments are kept column-wise in
:class:`SegmentTable` and rasterised onto the minute (or 30-second) grid of a chunk with a
difference array, which vectorises across devices.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from messages.metrics import SleepStage
from simulators._noise import scalar_rng
from simulators.artefacts import Artefacts
from simulators.calibration import DEFAULT, Calibration
from simulators.population import DAY_MS, HOUR_MS, MINUTE_MS, Person

EPOCH_MS = 30_000


class SegmentTable:
    """Time segments ``[start, end)`` of devices, each with a few float values.

    >>> t = SegmentTable(1)
    >>> t.add(0, 60_000, 180_000, 5.0)
    >>> t.raster(0, 4, 60_000, 2)[0].tolist()
    [[0.0, 5.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """

    def __init__(self, n_values: int) -> None:
        self._n_values = n_values
        self._pending: list[tuple[float, ...]] = []
        self.dev = np.zeros(0, np.int64)
        self.start = np.zeros(0, np.int64)
        self.end = np.zeros(0, np.int64)
        self.values = np.zeros((0, n_values), np.float64)

    def add(self, dev: int, start: int, end: int, *values: float) -> None:
        if end > start:
            self._pending.append((dev, start, end, *values))

    def _flush(self) -> None:
        if not self._pending:
            return
        arr = np.asarray(self._pending, dtype=np.float64).reshape(-1, 3 + self._n_values)
        self._pending.clear()
        self.dev = np.concatenate([self.dev, arr[:, 0].astype(np.int64)])
        self.start = np.concatenate([self.start, arr[:, 1].astype(np.int64)])
        self.end = np.concatenate([self.end, arr[:, 2].astype(np.int64)])
        self.values = np.concatenate([self.values, arr[:, 3:]])

    def prune(self, before_ms: int) -> None:
        """Forget segments that ended before ``before_ms``."""
        self._flush()
        keep = self.end > before_ms
        self.dev, self.start, self.end = self.dev[keep], self.start[keep], self.end[keep]
        self.values = self.values[keep]

    def raster(
        self, t0: int, n_slots: int, res_ms: int, n_dev: int
    ) -> tuple[NDArray[np.float64], ...]:
        """One ``(n_dev, n_slots)`` array per value column; 0 where no segment covers a slot.

        Segments of one device and table must not overlap (plans guarantee it).
        """
        self._flush()
        t1 = t0 + n_slots * res_ms
        sel = (self.start < t1) & (self.end > t0)
        dev = self.dev[sel]
        s = np.clip((self.start[sel] - t0) // res_ms, 0, n_slots)
        e = np.clip(-((t0 - self.end[sel]) // res_ms), 0, n_slots)  # ceil division
        out = []
        for col in range(self._n_values):
            v = self.values[sel, col]
            diff = np.zeros((n_dev, n_slots + 1), np.float64)
            np.add.at(diff, (dev, s), v)
            np.add.at(diff, (dev, e), -v)
            acc = np.cumsum(diff[:, :n_slots], axis=1)
            # cumsum of +v/-v leaves float dust where a segment ended
            acc[np.abs(acc) < 1e-9] = 0.0
            out.append(acc)
        return tuple(out)

    def mask(self, t0: int, n_slots: int, res_ms: int, n_dev: int) -> NDArray[np.bool_]:
        """Where any segment covers a slot (segments may overlap here)."""
        self._flush()
        t1 = t0 + n_slots * res_ms
        sel = (self.start < t1) & (self.end > t0)
        s = np.clip((self.start[sel] - t0) // res_ms, 0, n_slots)
        e = np.clip(-((t0 - self.end[sel]) // res_ms), 0, n_slots)
        diff = np.zeros((n_dev, n_slots + 1), np.int64)
        np.add.at(diff, (self.dev[sel], s), 1)
        np.add.at(diff, (self.dev[sel], e), -1)
        out: NDArray[np.bool_] = np.cumsum(diff[:, :n_slots], axis=1) > 0
        return out


@dataclass(slots=True)
class Plans:
    """Everything planned so far for the fleet.

    ``activity`` values: steps per minute, exercise intensity (0-1 of heart-rate reserve).
    ``sleep`` values: stage + 1 per 30 s epoch (so 0 means "not in a sleep episode").
    ``charging`` and ``gaps`` carry no values (a placeholder 1.0); ``charging`` also holds the
    calibrated off-wrist periods (removals, nights off).
    ``flat`` values: an id per stretch in which the heart-rate sensor repeats one value (its
    start minute; calibrated sensor quirk). ``dropouts``: stretches without heart rate while
    the device is worn (calibrated sensor quirk; no values).
    """

    activity: SegmentTable
    sleep: SegmentTable
    charging: SegmentTable
    gaps: SegmentTable
    flat: SegmentTable
    dropouts: SegmentTable

    @classmethod
    def empty(cls) -> Plans:
        return cls(
            SegmentTable(2),
            SegmentTable(1),
            SegmentTable(1),
            SegmentTable(1),
            SegmentTable(1),
            SegmentTable(1),
        )

    def prune(self, before_ms: int) -> None:
        for table in (
            self.activity,
            self.sleep,
            self.charging,
            self.gaps,
            self.flat,
            self.dropouts,
        ):
            table.prune(before_ms)


# how strongly (0-1) sleep is disrupted for a device during [t0, t1)
DisruptionFn = Callable[[int, int, int], float]
# whether [t0, t1) of a device overlaps an injected event that a gap or charge would hide
ConflictFn = Callable[[int, int, int], bool]


def _floor(t: float, res: int) -> int:
    return int(t // res) * res


def plan_night(
    r: random.Random, plans: Plans, dev: int, onset: int, wake: int, disruption: float
) -> None:
    """Fill ``[onset, wake)`` with a hypnogram of ~90-minute cycles.

    Each cycle runs light -> deep -> light -> REM; deep sleep shrinks and REM grows across the
    night; brief awakenings follow some cycles. ``disruption`` (0-1) adds long awakenings and
    removes deep sleep.
    """
    # (stage + 1, epochs) runs; a few thousand nights per second must be planned for big fleets
    awake, light_, deep_, rem_ = (float(s) + 1.0 for s in SleepStage)
    runs: list[tuple[float, int]] = [
        (awake, r.randint(6, 30) + int(disruption * r.randint(20, 90)))
    ]
    need = (wake - onset) // EPOCH_MS + 1
    total = runs[0][1]
    cycle = 0
    gauss, rand, randint = r.gauss, r.random, r.randint
    while total < need:
        length = max(140, int(gauss(180, 20)))  # epochs: ~90 min
        deep = max(0, int((90 - 30 * cycle + gauss(0, 10)) * (1.0 - 0.7 * disruption)))
        rem = min(80, max(10, int(20 + 16 * cycle + gauss(0, 6))))
        light = max(20, length - deep - rem)
        first = light * 6 // 10
        runs += ((light_, first), (deep_, deep), (light_, light - first), (rem_, rem))
        total += light + deep + rem
        if rand() < 0.45 + 0.55 * disruption:
            extra = randint(2, 10) + int(disruption * randint(20, 80))
            runs.append((awake, extra))
            total += extra
        cycle += 1
    t = onset
    for stage, epochs in runs:
        if t >= wake:
            break
        end = min(wake, t + epochs * EPOCH_MS)
        plans.sleep.add(dev, t, end, stage)
        t = end


_Seg = tuple[int, int, float, float]


def _non_overlapping(segs: list[_Seg]) -> list[_Seg]:
    out: list[_Seg] = []
    for seg in segs:
        if all(seg[1] <= o[0] or seg[0] >= o[1] for o in out):
            out.append(seg)
    return out


def plan_day(
    seed: int,
    plans: Plans,
    dev: int,
    person: Person,
    day: int,
    utc_offset_ms: int,
    wake_ms: int,
    artefacts: Artefacts,
    disruption: DisruptionFn,
    conflicts: ConflictFn,
    cal: Calibration = DEFAULT,
) -> tuple[int, tuple[int, int] | None]:
    """Plan local calendar day ``day`` of a device (epoch days).

    ``wake_ms`` is when the previous night ended. The day holds commutes, a lunch walk, maybe a
    workout, maybe a charge and a few gaps; the night starting this evening is planned too.
    Charging and gaps that would hide an injected event (``conflicts``) are skipped.
    ``cal`` adds what a calibrated population does (removals, nights off, step-less workouts,
    sensor flat runs), from a generator of its own so that the default plan is unchanged.
    Returns the next wake time and the charging span, if any.
    """
    r = scalar_rng(seed, "day", dev, day)
    rx = scalar_rng(seed, "day-calibrated", dev, day) if cal != DEFAULT else None
    midnight = day * DAY_MS - utc_offset_ms
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    weekend = weekday >= 5
    h = HOUR_MS

    def at(hours: float) -> int:
        return _floor(midnight + hours * h, MINUTE_MS)

    segs: list[_Seg] = []
    # workouts first so that they win over routine walks
    if r.random() < person.workouts_per_week / 7.0:
        kind = r.random()
        if person.active_start_h < 7.5 or r.random() < 0.35:
            start = at(person.active_start_h + r.uniform(0.2, 1.0))
        else:
            start = at(min(person.active_end_h - 1.5, r.uniform(17.5, 19.5)))
        if kind < 0.55:  # run: HR 150-180
            dur, cadence, intensity = r.uniform(25, 60), r.uniform(150, 175), r.uniform(0.72, 0.9)
        elif kind < 0.85:  # brisk hike or walk
            dur, cadence, intensity = r.uniform(40, 90), r.uniform(110, 128), r.uniform(0.45, 0.6)
        else:  # cycling: the wrist moves a little, the heart works hard
            dur, cadence, intensity = r.uniform(40, 90), r.uniform(15, 35), r.uniform(0.6, 0.8)
        if rx is not None and rx.random() < cal.stepless_workout_share:
            # cycling, rowing or gym with the wrist still: no steps, the heart works
            cadence, intensity = rx.uniform(0.0, 4.0), rx.uniform(0.35, 0.6)
        segs.append((start, start + _floor(dur * MINUTE_MS, MINUTE_MS), cadence, intensity))
    if person.commuter and not weekend:
        for hours in (person.active_start_h + r.uniform(0.5, 1.2), r.uniform(17.0, 18.5)):
            start = at(hours)
            dur = r.uniform(8, 25) * MINUTE_MS
            segs.append(
                (start, start + _floor(dur, MINUTE_MS), r.uniform(95, 115), _walk(rx, cal, 0.25))
            )
    if r.random() < (0.7 if weekend else 0.5):
        start = at(r.uniform(11.5, 16.0) if weekend else r.uniform(12.0, 13.5))
        dur = r.uniform(10, 60 if weekend else 25) * MINUTE_MS
        segs.append(
            (start, start + _floor(dur, MINUTE_MS), r.uniform(85, 112), _walk(rx, cal, 0.22))
        )

    bed = at(23.0 + person.chronotype_h + (0.6 if weekday >= 4 else 0.0) + r.gauss(0, 0.4))
    late_h = 0.0
    if rx is not None:
        late_h, extra = _late_night_and_stepless(rx, cal, weekday, wake_ms, bed)
        bed += _floor(late_h * h, MINUTE_MS)
        segs += extra
    for seg in _non_overlapping(segs):
        if seg[0] > wake_ms + 10 * MINUTE_MS and seg[1] < bed:
            plans.activity.add(dev, seg[0], seg[1], seg[2], seg[3])

    charge: tuple[int, int] | None = None
    if r.random() < artefacts.charging_per_day:
        start = at(r.choice((person.active_start_h + 0.3, 19.5 + r.uniform(0, 1.5))))
        start = max(start, wake_ms + 5 * MINUTE_MS)
        end = start + _floor(r.uniform(30, 90) * MINUTE_MS, MINUTE_MS)
        if not conflicts(dev, start, end):
            plans.charging.add(dev, start, end, 1)
            charge = (start, end)
    n_gaps = int(artefacts.gaps_per_day) + (r.random() < artefacts.gaps_per_day % 1.0)
    for _ in range(n_gaps):
        start = _floor(midnight + r.uniform(0, DAY_MS), MINUTE_MS)
        end = start + r.randint(1, 5) * MINUTE_MS
        if not conflicts(dev, start, end):
            plans.gaps.add(dev, start, end, 1)

    sleep_h = person.sleep_need_h + r.gauss(0, 0.5)
    if rx is None:
        sleep_h += cal.weekend_extra_sleep_h if weekday >= 5 else 0.0
    elif weekday in (4, 5):
        # Friday and Saturday nights end on a weekend morning: a lie-in of 0 to twice the mean
        # (the default model keeps its original Saturday and Sunday nights, byte for byte)
        sleep_h += rx.uniform(0.0, 2.0 * cal.weekend_extra_sleep_h)
    else:
        sleep_h -= cal.late_night_sleep_loss * late_h  # the alarm clock still rings
    onset = _floor(bed, EPOCH_MS)
    level = disruption(dev, onset, onset + int(sleep_h * h))
    # disrupted nights start later and end earlier
    onset += _floor(level * r.uniform(0.5, 1.5) * h, EPOCH_MS)
    wake = _floor(bed + sleep_h * h * (1.0 - 0.15 * level), EPOCH_MS)
    if wake - onset > h:
        plan_night(r, plans, dev, onset, wake, level)
    if rx is not None:
        _plan_calibrated(rx, plans, dev, person, midnight, wake_ms, bed, wake, cal, conflicts)
    return wake, charge


def _late_night_and_stepless(
    rx: random.Random, cal: Calibration, weekday: int, wake_ms: int, bed: int
) -> tuple[float, list[_Seg]]:
    """A late night (hours past the usual bedtime), a night out in it, short stretches of
    exercise the wrist counts no steps for, and short errand walks (calibrated only).

    Returns the hours the night starts late and the activity segments (start, end, steps/min,
    intensity).
    """
    segs: list[_Seg] = []
    late_h = 0.0
    p_late = cal.late_night_prob * (cal.late_night_weekend_factor if weekday in (4, 5) else 1.0)
    if rx.random() < p_late:
        late_h = rx.uniform(1.0, cal.late_night_max_h)
        if weekday in (4, 5) and rx.random() < cal.night_out_share:
            # out: heart rate up for hours, hardly a step the wrist counts (dancing, standing)
            start = bed + _floor(rx.uniform(0.0, 0.5) * HOUR_MS, MINUTE_MS)
            end = bed + _floor((late_h - 0.25) * HOUR_MS, MINUTE_MS)
            segs += _ramped(start, end, rx.uniform(0.0, 4.0), rx.uniform(0.3, 0.5))
    for _ in range(_poisson(rx, cal.stepless_bouts_per_day)):
        if bed - wake_ms < 3 * HOUR_MS:
            break
        start = _floor(rx.uniform(wake_ms + HOUR_MS, bed - HOUR_MS), MINUTE_MS)
        minutes = min(90.0, 8.0 + cal.stepless_bout_median_min * math.exp(rx.gauss(0, 1)))
        end = start + _floor(minutes * MINUTE_MS, MINUTE_MS)
        segs += _ramped(start, end, rx.uniform(0.0, 4.0), rx.uniform(0.25, 0.45))
    for _ in range(_poisson(rx, cal.errand_walks_per_day)):
        if bed - wake_ms < 2 * HOUR_MS:
            break
        start = _floor(rx.uniform(wake_ms + 30 * MINUTE_MS, bed - 30 * MINUTE_MS), MINUTE_MS)
        minutes = min(20.0, 1.0 + cal.errand_median_min * math.exp(rx.gauss(0, 1)))
        end = start + _floor(minutes * MINUTE_MS, MINUTE_MS)
        segs.append((start, end, rx.uniform(45.0, 115.0), _walk(rx, cal, 0.22)))
    return late_h, segs


def _ramped(start: int, end: int, cadence: float, intensity: float) -> list[_Seg]:
    """An effort that builds up: the first 3 minutes at half the intensity (real step-less
    stretches rise gradually, not in one jump)."""
    ramp_end = min(end, start + 3 * MINUTE_MS)
    return [(start, ramp_end, cadence, intensity / 2), (ramp_end, end, cadence, intensity)]


def _walk(rx: random.Random | None, cal: Calibration, default: float) -> float:
    """Intensity of a routine walk."""
    if rx is None or cal.walk_intensity_min is None or cal.walk_intensity_max is None:
        return default
    return rx.uniform(cal.walk_intensity_min, cal.walk_intensity_max)


def _poisson(r: random.Random, mean: float) -> int:
    """A Poisson count (inversion; small means only)."""
    n, p, u = 0, math.exp(-mean), r.random()
    acc = p
    while u > acc and n < 100:
        n += 1
        p *= mean / n
        acc += p
    return n


def _plan_calibrated(
    rx: random.Random,
    plans: Plans,
    dev: int,
    person: Person,
    midnight: int,
    wake_ms: int,
    bed: int,
    wake: int,
    cal: Calibration,
    conflicts: ConflictFn,
) -> None:
    """Off-wrist removals in the day, a night off, heart-rate dropouts and sensor flat runs
    (calibrated only)."""
    day_start, day_end = wake_ms + 30 * MINUTE_MS, bed
    for _ in range(_poisson(rx, cal.removals_per_day)):
        if day_end - day_start < HOUR_MS:
            break
        start = _floor(rx.uniform(day_start, day_end), MINUTE_MS)
        minutes = min(
            240.0, max(2.0, cal.removal_median_min * math.exp(rx.gauss(0, 1) * cal.removal_sigma))
        )
        end = start + _floor(minutes * MINUTE_MS, MINUTE_MS)
        if not conflicts(dev, start, end):
            plans.charging.add(dev, start, end, 1)
    for _ in range(_poisson(rx, cal.hr_dropouts_per_day)):
        if day_end - day_start < HOUR_MS:
            break
        start = _floor(rx.uniform(day_start, day_end), MINUTE_MS)
        minutes = min(180.0, 10.0 + cal.hr_dropout_median_min * math.exp(rx.gauss(0, 1)))
        end = start + _floor(minutes * MINUTE_MS, MINUTE_MS)
        if not conflicts(dev, start, end):
            plans.dropouts.add(dev, start, end, 1)
    if rx.random() < person.night_off_prob:
        start = _floor(bed - rx.uniform(0, 0.5) * HOUR_MS, MINUTE_MS)
        end = _floor(wake + rx.uniform(0, 1.0) * HOUR_MS, MINUTE_MS)
        if not conflicts(dev, start, end):
            plans.charging.add(dev, start, end, 1)
    runs = []
    for _ in range(_poisson(rx, cal.flat_runs_per_day)):
        start = _floor(midnight + rx.uniform(0, DAY_MS), MINUTE_MS)
        minutes = min(60.0, 2.0 + cal.flat_median_min * math.exp(rx.gauss(0, 1) * cal.flat_sigma))
        runs.append((start, start + _floor(minutes * MINUTE_MS, MINUTE_MS)))
    kept: list[tuple[int, int]] = []
    for start, end in sorted(runs):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
            plans.flat.add(dev, start, end, float(start // MINUTE_MS))
