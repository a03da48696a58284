"""Simulated wearers and their devices: per-person physiology and per-device sampling.

Each person is drawn from their own seeded generator, so person ``i`` does not depend on how
many others are in the fleet. The fleet is stored column-wise (one numpy array per parameter) so
the generator can vectorise across devices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators._noise import scalar_rng
from simulators.calibration import DEFAULT, Calibration

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """What a kind of device measures and how often.

    ``hr_intervals_s`` maps a heart-rate sampling interval to the share of devices using it.
    """

    name: str
    hr_intervals_s: Mapping[int, float]
    has_spo2: bool
    has_sleep: bool
    spo2_spot_checks_per_day: float = 4.0


DEVICE_MODELS: dict[str, DeviceModel] = {
    # wrist watches: optical HR every few seconds, SpO2 overnight and on demand
    "watch": DeviceModel("watch", {1: 0.05, 5: 0.55, 10: 0.25, 60: 0.15}, True, True),
    # rings sample slowly to save battery but sleep well on a finger
    "ring": DeviceModel("ring", {60: 1.0}, True, True, spo2_spot_checks_per_day=0.0),
    # ECG patches: beat-to-beat HR aggregated per second, no optical SpO2, no sleep staging
    "patch": DeviceModel("patch", {1: 1.0}, False, False, spo2_spot_checks_per_day=0.0),
    # a wrist tracker as in the Fitabase recordings (simulators.calibration.SOURCES): heart
    # rate every 1-15 s and steps, no SpO2 and no sleep stages in its export
    "fitbit": DeviceModel(
        "fitbit",
        {1: 0.011, 2: 0.012, 3: 0.072, 5: 0.216, 10: 0.32, 15: 0.369},
        False,
        False,
        spo2_spot_checks_per_day=0.0,
    ),
}


@dataclass(frozen=True, slots=True)
class Person:
    """Physiological and behavioural parameters of one simulated wearer.

    ``resting_hr`` is the awake, seated resting heart rate in bpm (sleep runs
    ``sleep_hr_drop`` lower); ``chronotype_h`` shifts bed and wake times (positive = later);
    ``active_start_h``/``active_end_h`` are the usual local hours for errands and workouts;
    ``night_off_prob`` is the chance of taking the device off for a night (calibrated
    populations only, :mod:`simulators.calibration`).
    """

    age: float
    resting_hr: float
    max_hr: float
    fitness: float
    sleep_hr_drop: float
    chronotype_h: float
    sleep_need_h: float
    workouts_per_week: float
    commuter: bool
    active_start_h: float
    active_end_h: float
    spo2_baseline: float
    circadian_amp: float
    night_off_prob: float = 0.0


def _draw_person(rng_seed: int, idx: int, cal: Calibration = DEFAULT) -> Person:
    person = _draw_default_person(rng_seed, idx)
    if cal.resting_hr_mean is None and cal.night_off_max == 0.0:
        return person
    # a separate generator, so the default draws above stay as they were
    r = scalar_rng(rng_seed, "person-calibrated", idx)
    resting_hr = person.resting_hr
    sleep_hr_drop = person.sleep_hr_drop
    if cal.resting_hr_mean is not None:
        level = cal.resting_hr_mean - 10.0 * (person.fitness - 0.5)
        resting_hr = min(
            cal.resting_hr_max, max(cal.resting_hr_min, r.gauss(level, cal.resting_hr_sd))
        )
        sleep_hr_drop = r.uniform(cal.sleep_hr_drop_min, cal.sleep_hr_drop_max)
    return dataclasses.replace(
        person,
        resting_hr=resting_hr,
        sleep_hr_drop=sleep_hr_drop,
        night_off_prob=r.uniform(0.0, cal.night_off_max),
    )


def _draw_default_person(rng_seed: int, idx: int) -> Person:
    r = scalar_rng(rng_seed, "person", idx)
    age = min(85.0, max(18.0, r.gauss(42.0, 14.0)))
    fitness = min(0.98, max(0.02, r.betavariate(2.0, 2.2)))
    # fitter people have lower resting HR; kept >= 52 so normal sleep HR stays >= 42 bpm
    resting_hr = min(88.0, max(52.0, 76.0 - 16.0 * fitness + r.gauss(0.0, 4.0)))
    chrono = min(2.5, max(-2.0, r.gauss(0.0, 0.9)))
    return Person(
        age=age,
        resting_hr=resting_hr,
        max_hr=208.0 - 0.7 * age,
        fitness=fitness,
        sleep_hr_drop=r.uniform(7.0, 11.0),
        chronotype_h=chrono,
        sleep_need_h=min(9.0, max(6.0, r.gauss(7.4, 0.5))),
        workouts_per_week=min(6.0, max(0.5, 0.5 + 5.0 * fitness + r.gauss(0.0, 0.7))),
        commuter=r.random() < 0.6,
        active_start_h=min(11.0, max(6.0, 7.5 + chrono + r.gauss(0.0, 0.5))),
        active_end_h=min(22.5, max(17.0, 20.0 + chrono + r.gauss(0.0, 0.7))),
        spo2_baseline=min(98.8, max(95.2, r.gauss(97.3, 0.8))),
        circadian_amp=r.uniform(2.0, 5.0),
    )


@dataclass(frozen=True, slots=True)
class Population:
    """The fleet, column-wise: index ``i`` of every array is device ``device_ids[i]``."""

    seed: int
    device_ids: tuple[str, ...]
    people: tuple[Person, ...]
    models: tuple[str, ...]
    hr_interval_ms: NDArray[np.int64]  # 0 = no heart rate
    hr_phase_ms: NDArray[np.int64]
    steps_phase_ms: NDArray[np.int64]
    spo2_phase_ms: NDArray[np.int64]
    has_spo2: NDArray[np.bool_]
    has_sleep: NDArray[np.bool_]
    spo2_spot_per_day: NDArray[np.float64]
    utc_offset_ms: NDArray[np.int64]
    drift_ppm: NDArray[np.float64]
    resting_hr: NDArray[np.float64]
    max_hr: NDArray[np.float64]
    sleep_hr_drop: NDArray[np.float64]
    spo2_baseline: NDArray[np.float64]
    circadian_amp: NDArray[np.float64]
    tau_up_min: NDArray[np.float64]
    tau_down_min: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.device_ids)


def _pick(r_value: float, weights: Mapping[str, float] | Mapping[int, float]) -> object:
    total = sum(weights.values())
    acc = 0.0
    for key, w in weights.items():
        acc += w / total
        if r_value < acc:
            return key
    return next(reversed(list(weights)))


def make_population(
    n: int,
    seed: int,
    *,
    models: Mapping[str, float] | None = None,
    utc_offsets_h: Sequence[float] = (0.0,),
    clock_drift_ppm: float = 20.0,
    calibration: Calibration = DEFAULT,
) -> Population:
    """Draw ``n`` wearers and their devices.

    Parameters
    ----------
    n
        Number of devices (one device per person).
    seed
        Seed of the run; person ``i`` depends only on ``(seed, i)``.
    models
        Share of each :data:`DEVICE_MODELS` name in the fleet (default 70 % watches, 25 % rings,
        5 % patches).
    utc_offsets_h
        Time zones the wearers live in, picked uniformly per person (sleep follows local time).
    clock_drift_ppm
        Standard deviation of the devices' clock drift.
    calibration
        Person and device parameters (:mod:`simulators.calibration`); its ``device_model``,
        if set, replaces ``models``.

    Examples
    --------
    >>> pop = make_population(3, seed=1)
    >>> pop.device_ids
    ('ring-000000', 'ring-000001', 'watch-000002')
    >>> bool((pop.resting_hr >= 52).all())
    True
    """
    mix = dict(models) if models else {"watch": 0.70, "ring": 0.25, "patch": 0.05}
    if calibration.device_model is not None:
        mix = {calibration.device_model: 1.0}
    unknown = set(mix) - set(DEVICE_MODELS)
    if unknown:
        raise ValueError(f"unknown device models {sorted(unknown)}; known: {sorted(DEVICE_MODELS)}")
    people = tuple(_draw_person(seed, i, calibration) for i in range(n))
    ids: list[str] = []
    model_names: list[str] = []
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "hr_interval_ms",
            "hr_phase_ms",
            "steps_phase_ms",
            "spo2_phase_ms",
            "has_spo2",
            "has_sleep",
            "spot",
            "utc",
            "drift",
            "tau_up",
            "tau_down",
        )
    }
    for i, p in enumerate(people):
        r = scalar_rng(seed, "device", i)
        model = DEVICE_MODELS[str(_pick(r.random(), mix))]
        hr_s = int(str(_pick(r.random(), model.hr_intervals_s)))
        ids.append(f"{model.name}-{i:06d}")
        model_names.append(model.name)
        cols["hr_interval_ms"].append(hr_s * 1000)
        cols["hr_phase_ms"].append(r.randrange(hr_s * 1000))
        cols["steps_phase_ms"].append(r.randrange(MINUTE_MS))
        cols["spo2_phase_ms"].append(r.randrange(MINUTE_MS))
        cols["has_spo2"].append(model.has_spo2)
        cols["has_sleep"].append(model.has_sleep)
        cols["spot"].append(model.spo2_spot_checks_per_day)
        cols["utc"].append(utc_offsets_h[r.randrange(len(utc_offsets_h))] * HOUR_MS)
        cols["drift"].append(r.gauss(0.0, clock_drift_ppm))
        # fit hearts react about as fast but recover faster after effort
        cols["tau_up"].append(r.uniform(0.6, 1.2))
        cols["tau_down"].append(r.uniform(1.5, 2.5) + 2.0 * (1.0 - p.fitness))

    def f64(values: Sequence[float]) -> NDArray[np.float64]:
        return np.asarray(values, dtype=np.float64)

    def i64(values: Sequence[float]) -> NDArray[np.int64]:
        return np.asarray(values, dtype=np.int64)

    return Population(
        seed=seed,
        device_ids=tuple(ids),
        people=people,
        models=tuple(model_names),
        hr_interval_ms=i64(cols["hr_interval_ms"]),
        hr_phase_ms=i64(cols["hr_phase_ms"]),
        steps_phase_ms=i64(cols["steps_phase_ms"]),
        spo2_phase_ms=i64(cols["spo2_phase_ms"]),
        has_spo2=np.asarray(cols["has_spo2"], dtype=np.bool_),
        has_sleep=np.asarray(cols["has_sleep"], dtype=np.bool_),
        spo2_spot_per_day=f64(cols["spot"]),
        utc_offset_ms=i64(cols["utc"]),
        drift_ppm=f64(cols["drift"]),
        resting_hr=f64([p.resting_hr for p in people]),
        max_hr=f64([p.max_hr for p in people]),
        sleep_hr_drop=f64([p.sleep_hr_drop for p in people]),
        spo2_baseline=f64([p.spo2_baseline for p in people]),
        circadian_amp=f64([p.circadian_amp for p in people]),
        tau_up_min=f64(cols["tau_up"]),
        tau_down_min=f64(cols["tau_down"]),
    )
