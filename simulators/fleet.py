"""The fleet generator: scenario + seed -> time-ordered chunks of readings, plus labels.

Generation works on a minute grid of event time, vectorised across devices:

1. plan days (sleep, walks, workouts, charging, gaps) per device as needed;
2. build per-minute latent state (steps, exercise intensity, sleep stage, target heart rate,
   SpO2) and apply the clinical events;
3. pass the target heart rate through a first-order lag (fast rise, slower recovery);
4. sample each signal at its device's rate, add sensor noise and motion artefacts, apply the
   data-quality events;
5. add transport artefacts (clock drift, latency, late and duplicate delivery, malformed bytes)
   and emit rows by delivery time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from messages.kinds import AnomalyKind
from messages.labels import Label
from simulators import _noise, illness
from simulators.chunk import DUPLICATE, HR, LATE, MALFORMED, SLEEP, SPO2, STEPS, Chunk
from simulators.events import Event, resolve_events
from simulators.pacing import default_start_ms
from simulators.population import DAY_MS, HOUR_MS, MINUTE_MS, Population, make_population
from simulators.routine import EPOCH_MS, Plans, plan_day
from simulators.scenario import Scenario

K = AnomalyKind
# hash streams: one per purpose, so draws never collide
_S_PUTTER, _S_PUTTER_N, _S_SEG, _S_DRIFT_HR, _S_ROW, _S_SPOT, _S_DIP, _S_EVT = range(1, 9)
# calibrated only (simulators.calibration): day-to-day resting offset, minute-to-minute HR
# variation, one-sample spikes
_S_DAY_HR, _S_MIN_HR, _S_SPIKE = range(9, 12)
_LATE_MIN_MS, _LATE_MAX_MS = 10_000, 15 * MINUTE_MS
_IMPOSSIBLE = {HR: (0.0, 251.0, 255.0, 300.0), SPO2: (0.0, 101.0, 127.0), STEPS: (-1.0, 1500.0)}
# extra heart rate by sleep stage code + 1 (0 = not asleep): awake in bed, light, deep, REM
_STAGE_HR = np.array([0.0, 5.0, 0.0, -3.0, 3.0])
_NORMAL_HR_MIN, _NORMAL_HR_MAX = 41.0, 215.0
_MAX_ROWS_PER_CHUNK = 1_500_000
_NEEDS_AWAKE = frozenset(
    {K.TACHYCARDIA_AT_REST, K.BRADYCARDIA, K.ABRUPT_HR_CHANGE, K.HR_ACTIVITY_DECOUPLING}
)


def _auto_chunk_ms(n_devices: int) -> int:
    # ~1 M rows per chunk: a device sends roughly 750 readings per hour at most rates
    minutes = int(_MAX_ROWS_PER_CHUNK / (max(n_devices, 1) * 14))
    return max(1, min(60, minutes)) * MINUTE_MS


class FleetSimulator:
    """A seeded, deterministic simulation of a fleet of wearables.

    Parameters
    ----------
    scenario
        Fleet, span, artefact rates and events.
    devices, seed, duration_ms
        Override the scenario's values.
    start_ms
        First instant of event time (epoch ms, floored to the minute). Default: the scenario's
        ``start_ms``, else :func:`simulators.pacing.default_start_ms` for ``speed``.
    speed
        Only used to choose the default start (``None`` = as fast as possible).
    chunk_ms
        Event time per generated chunk (whole minutes); default keeps chunks near 1 M rows.
        The stream does not depend on it.

    Examples
    --------
    >>> sim = FleetSimulator(Scenario(devices=3, duration_ms=HOUR_MS), seed=7,
    ...                      start_ms=1767225600000)
    >>> n = sum(len(c) for c in sim)
    >>> n == sum(len(c) for c in FleetSimulator(sim.scenario, seed=7, start_ms=1767225600000))
    True
    >>> sim.device_ids
    ('ring-000000', 'watch-000001', 'watch-000002')
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        devices: int | None = None,
        seed: int | None = None,
        start_ms: int | None = None,
        duration_ms: int | None = None,
        speed: float | None = None,
        chunk_ms: int | None = None,
    ) -> None:
        if devices is not None:
            scenario = scenario.replace(devices=devices)
        if duration_ms is not None:
            scenario = scenario.replace(duration_ms=duration_ms)
        if scenario.devices < 1:
            raise ValueError("a fleet needs at least one device")
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        duration = -(-scenario.duration_ms // MINUTE_MS) * MINUTE_MS
        if start_ms is None:
            start_ms = scenario.start_ms
        if start_ms is None:
            start_ms = default_start_ms(duration, speed)
        self.start_ms = start_ms // MINUTE_MS * MINUTE_MS
        self.end_ms = self.start_ms + duration
        if chunk_ms is None:
            chunk_ms = _auto_chunk_ms(scenario.devices)
        if chunk_ms < MINUTE_MS or chunk_ms % MINUTE_MS:
            raise ValueError("chunk_ms must be a positive whole number of minutes")
        self.chunk_ms = chunk_ms
        art = scenario.artefacts
        self.artefacts = art
        self.population: Population = make_population(
            scenario.devices,
            self.seed,
            models=scenario.models,
            utc_offsets_h=scenario.utc_offsets_h,
            clock_drift_ppm=art.clock_drift_ppm,
            calibration=scenario.calibration,
        )
        self.calibration = scenario.calibration
        self.device_ids: tuple[str, ...] = self.population.device_ids
        self.events: list[Event] = resolve_events(
            scenario.events, self.population, self.seed, self.start_ms, self.end_ms
        )
        self._event_labels = [e.label(self.device_ids[e.device]) for e in self.events]
        # keyed so that iterating again (or partly) never duplicates or loses a label
        self._routine_labels: dict[tuple[int, int], Label] = {}
        self._event_start = np.array([e.start_ms for e in self.events], np.int64)
        self._event_end = np.array([e.end_ms for e in self.events], np.int64)
        self._by_device: dict[int, list[Event]] = {}
        for e in self.events:
            self._by_device.setdefault(e.device, []).append(e)
        self._prefixes = tuple(b'{"device_id":"' + d.encode() + b'","ts":' for d in self.device_ids)

    # -- public ---------------------------------------------------------------------------

    @property
    def n_devices(self) -> int:
        return len(self.device_ids)

    def nominal_rate(self) -> float:
        """Average readings per second of event time for the whole fleet (a day's mean).

        Use it to pick a speed for an offered load: ``speed = target_rate / nominal_rate()``.
        Transport duplicates, gaps and events shift the real rate by a few percent.

        >>> sim = FleetSimulator(Scenario(devices=100, duration_ms=DAY_MS), seed=1)
        >>> 15 < sim.nominal_rate() < 25  # ~0.2 readings/s per device
        True
        """
        pop = self.population
        hr = np.where(pop.hr_interval_ms > 0, 1000.0 / np.maximum(pop.hr_interval_ms, 1), 0.0)
        sleep_share = np.array([p.sleep_need_h for p in pop.people]) / 24.0
        per_device = (
            hr * (1.0 - 0.03)  # charging and gaps
            + 1.0 / 60.0  # steps
            + pop.has_sleep * sleep_share * 2.0 / 60.0  # 30 s sleep epochs
            + pop.has_spo2 * (sleep_share / 60.0 + pop.spo2_spot_per_day / 86_400.0)
        )
        return float(per_device.sum())

    @property
    def labels(self) -> list[Label]:
        """Ground truth: injected events (known up front) plus routine off-wrist charging
        periods generated so far (complete once iteration has finished), by start time."""
        return sorted(
            self._event_labels + list(self._routine_labels.values()),
            key=lambda lb: (lb.start_ms, lb.device_id, lb.kind.value),
        )

    @property
    def event_labels(self) -> list[Label]:
        """Labels of the injected events only (what recall is measured on)."""
        return list(self._event_labels)

    def __iter__(self) -> Iterator[Chunk]:
        return self.chunks()

    def chunks(self) -> Iterator[Chunk]:
        """Generate the run: chunks cover consecutive windows of delivery time.

        The last chunk holds readings delivered after ``end_ms`` (late ones).
        """
        state = _State.initial(self)
        t0 = self.start_ms
        while t0 < self.end_ms:
            t1 = min(t0 + self.chunk_ms, self.end_ms)
            rows = self._generate(state, t0, t1)
            yield state.deliver(rows, t0, t1, self)
            t0 = t1
        tail = state.pending
        if tail is not None and len(tail[0]):
            last = int(tail[4].max()) + 1
            yield state.deliver(None, self.end_ms, max(last, self.end_ms + 1), self)

    # -- generation -----------------------------------------------------------------------

    def _disruption(self, dev: int, t0: int, t1: int) -> float:
        level = 0.0
        for e in self._by_device.get(dev, ()):
            if e.kind is K.SLEEP_DISRUPTION and e.start_ms < t1 and e.end_ms > t0:
                level = max(level, float(e.params["level"]))
        return level

    def _conflicts(self, dev: int, t0: int, t1: int) -> bool:
        return any(
            e.start_ms < t1 + 10 * MINUTE_MS
            and e.end_ms > t0 - 10 * MINUTE_MS
            and e.end_ms - e.start_ms < 12 * HOUR_MS
            for e in self._by_device.get(dev, ())
        )

    def _plan(self, state: _State, t1: int) -> None:
        pop = self.population
        local_midnight = state.next_day * DAY_MS - pop.utc_offset_ms
        for dev in np.flatnonzero(local_midnight <= t1 + HOUR_MS).tolist():
            while state.next_day[dev] * DAY_MS - pop.utc_offset_ms[dev] <= t1 + HOUR_MS:
                wake, charge = plan_day(
                    self.seed,
                    state.plans,
                    dev,
                    pop.people[dev],
                    int(state.next_day[dev]),
                    int(pop.utc_offset_ms[dev]),
                    int(state.wake[dev]),
                    self.artefacts,
                    self._disruption,
                    self._conflicts,
                    self.calibration,
                )
                state.wake[dev] = wake
                state.next_day[dev] += 1
                if charge and charge[1] > self.start_ms and charge[0] < self.end_ms:
                    self._routine_labels[(dev, charge[0])] = Label(
                        kind=K.OFF_WRIST,
                        device_id=self.device_ids[dev],
                        start_ms=max(charge[0], self.start_ms),
                        end_ms=min(charge[1], self.end_ms),
                        severity="info",
                        params={"cause": "charging"},
                    )

    def _generate(self, state: _State, t0: int, t1: int) -> _Rows:
        self._plan(state, t1)
        state.plans.prune(t0 - DAY_MS)
        lat = _Latent.build(self, state, t0, t1)
        _apply_events(self, lat, t0, t1)
        hr = _heart_rate(self, state, lat)
        parts = [
            _sample_hr(self, state, lat, hr),
            _sample_spo2(self, lat),
            _sample_steps(self, lat),
            _sample_sleep(self, lat),
        ]
        state.hr_last = hr[:, -1].copy()
        state.step_last = lat.hr_step[:, -1].copy()
        return _transport(self, _concat(parts), lat)


# columns: device (int32), reported ts (int64), metric (int8), value (float64),
# send time (int64), flags (uint8)
_Rows = tuple[NDArray[Any], ...]


def _concat(parts: list[tuple[NDArray[Any], ...]]) -> tuple[NDArray[Any], ...]:
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))


class _State:
    """What carries over from one chunk to the next."""

    def __init__(self, sim: FleetSimulator) -> None:
        pop = sim.population
        n = len(pop)
        self.plans = Plans.empty()
        local_day0 = (sim.start_ms + pop.utc_offset_ms) // DAY_MS
        # plan from the day before the start so the first night exists
        self.next_day: NDArray[np.int64] = local_day0 - 1
        self.wake: NDArray[np.int64] = self.next_day * DAY_MS - pop.utc_offset_ms + 7 * HOUR_MS
        self.hr_filt: NDArray[np.float64] = pop.resting_hr.copy()
        self.hr_last: NDArray[np.float64] = pop.resting_hr.copy()
        self.step_last: NDArray[np.bool_] = np.zeros(n, np.bool_)
        self.pending: _Rows | None = None

    @classmethod
    def initial(cls, sim: FleetSimulator) -> _State:
        return cls(sim)

    def deliver(self, rows: _Rows | None, t0: int, t1: int, sim: FleetSimulator) -> Chunk:
        parts = [p for p in (self.pending, rows) if p is not None]
        allrows = _concat(list(parts)) if len(parts) > 1 else parts[0]
        send = allrows[4]
        now = send < t1
        later = ~now
        self.pending = tuple(a[later] for a in allrows) if later.any() else None
        sel = tuple(a[now] for a in allrows)
        order = np.argsort(sel[4], kind="stable")
        dev, ts, metric, value, send_ms, flags = (a[order] for a in sel)
        return Chunk(t0, t1, dev, ts, metric, value, send_ms, flags, sim.device_ids, sim._prefixes)


class _Latent:
    """Per-minute state of every device in one chunk (arrays of shape ``(n_devices, minutes)``)."""

    def __init__(self, **arrays: Any) -> None:
        self.__dict__.update(arrays)

    t0: int
    n_min: int
    minute: NDArray[np.int64]  # absolute minute numbers
    steps: NDArray[np.float64]
    intensity: NDArray[np.float64]
    stage2: NDArray[np.int64]  # per 30 s epoch: sleep stage + 1, 0 = not in a sleep episode
    off_wrist: NDArray[np.bool_]
    gaps: NDArray[np.bool_]
    local_h: NDArray[np.float64]
    hr_add: NDArray[np.float64]
    hr_override: NDArray[np.float64]  # NaN = none
    hr_delta: NDArray[np.float64]
    hr_step: NDArray[np.bool_]  # minutes where HR jumps (no interpolation)
    spo2_override: NDArray[np.float64]  # NaN = none
    spo2_force: NDArray[np.bool_]
    clinical: NDArray[np.bool_]
    drop_optical: NDArray[np.bool_]
    silent: NDArray[np.bool_]
    flat: NDArray[np.float64]  # NaN = none
    impossible: NDArray[np.int64]  # metric code + 1, 0 = none
    impossible_frac: NDArray[np.float64]
    skew_ms: NDArray[np.int64]

    @classmethod
    def build(cls, sim: FleetSimulator, state: _State, t0: int, t1: int) -> _Latent:
        pop, seed, n = sim.population, sim.seed, sim.n_devices
        m = (t1 - t0) // MINUTE_MS
        minute = t0 // MINUTE_MS + np.arange(m, dtype=np.int64)
        dev = np.arange(n, dtype=np.int64)[:, None]
        seg_steps, seg_int = state.plans.activity.raster(t0, m, MINUTE_MS, n)
        (stage2,) = state.plans.sleep.raster(t0, 2 * m, EPOCH_MS, n)
        off = state.plans.charging.mask(t0, m, MINUTE_MS, n)
        gaps = state.plans.gaps.mask(t0, m, MINUTE_MS, n)
        # calibrated: the worn device loses the pulse for a while (no HR, steps go on)
        dropouts = state.plans.dropouts.mask(t0, m, MINUTE_MS, n)
        asleep = stage2[:, ::2] > 0
        local_h = ((minute[None, :] * MINUTE_MS + pop.utc_offset_ms[:, None]) % DAY_MS) / HOUR_MS
        # pottering about: a few steps in a third of waking minutes (fewer late at night)
        u = _noise.uniform(seed, _S_PUTTER, dev, minute[None, :])
        p_move = np.where((local_h > 7.0) & (local_h < 22.0), 0.33, 0.08)
        u2 = _noise.uniform(seed, _S_PUTTER_N, dev, minute[None, :])
        putter = np.where(u < p_move, 4.0 + 46.0 * u2 * u2, 0.0)
        in_seg = seg_steps > 0
        u3 = _noise.uniform(seed, _S_SEG, dev, minute[None, :])
        steps = np.where(in_seg, seg_steps * (0.92 + 0.16 * u3), putter)
        per_step = sim.calibration.putter_intensity_per_step
        intensity = np.where(
            in_seg, seg_int, putter / 400.0 if per_step is None else putter * per_step
        )
        awake_free = ~asleep & ~off
        steps = np.where(awake_free, steps, 0.0)
        intensity = np.where(awake_free, intensity, 0.0)
        shape = (n, m)
        return cls(
            t0=t0,
            n_min=m,
            minute=minute,
            steps=steps,
            intensity=intensity,
            stage2=stage2.astype(np.int64),
            off_wrist=off,
            gaps=gaps,
            local_h=local_h,
            hr_add=np.zeros(shape),
            hr_override=np.full(shape, np.nan),
            hr_delta=np.zeros(shape),
            hr_step=np.zeros(shape, np.bool_),
            spo2_override=np.full(shape, np.nan),
            spo2_force=np.zeros(shape, np.bool_),
            clinical=np.zeros(shape, np.bool_),
            drop_optical=dropouts,
            silent=np.zeros(shape, np.bool_),
            flat=np.full(shape, np.nan),
            impossible=np.zeros(shape, np.int64),
            impossible_frac=np.zeros(shape),
            skew_ms=np.zeros(shape, np.int64),
        )


def _apply_events(sim: FleetSimulator, lat: _Latent, t0: int, t1: int) -> None:
    """Write the events overlapping ``[t0, t1)`` into the latent state."""
    active = np.flatnonzero((sim._event_start < t1) & (sim._event_end > t0))
    for e in (sim.events[i] for i in active.tolist()):
        d = e.device
        s = (max(e.start_ms, t0) - t0) // MINUTE_MS
        x = (min(e.end_ms, t1) - t0) // MINUTE_MS
        sl = (d, slice(s, x))
        p = e.params
        k = e.kind
        wobble = 2.0 * _noise.normal(sim.seed, _S_EVT, d, lat.minute[s:x] // 3)
        if k in _NEEDS_AWAKE:
            # these need the wearer awake (in bed, or up and walking for decoupling)
            ep = lat.stage2[d, 2 * s : 2 * x]
            ep[ep > 0] = 0 if k is K.HR_ACTIVITY_DECOUPLING else 1
        if k in (K.TACHYCARDIA_AT_REST, K.BRADYCARDIA):
            lat.steps[sl] = 0.0
            lat.intensity[sl] = 0.0
            lat.hr_override[sl] = float(p["hr_bpm"]) + np.clip(wobble, -3.0, 3.0)
            lat.hr_step[sl] = True
            lat.clinical[sl] = True
        elif k is K.ABRUPT_HR_CHANGE:
            lat.steps[sl] = 0.0
            lat.intensity[sl] = 0.0
            lat.hr_delta[sl] = float(p["delta_bpm"])
            lat.hr_step[sl] = True
            lat.clinical[sl] = True
        elif k is K.LOW_SPO2:
            lat.spo2_override[sl] = float(p["spo2_pct"]) + np.clip(wobble / 2, -1.0, 1.0)
            lat.spo2_force[sl] = True
            lat.clinical[sl] = True
        elif k is K.DESATURATION:
            lat.spo2_override[sl] = float(p["baseline"]) - float(p["drop"])
            lat.spo2_force[sl] = True
            lat.clinical[sl] = True
        elif k is K.ELEVATED_RESTING_HR or k is K.ILLNESS:
            hr_add, act, up, forced, intensity = illness.effects(
                p, e.start_ms, lat.minute[s:x] * MINUTE_MS
            )
            lat.hr_add[sl] += hr_add
            lat.steps[sl] *= act
            lat.intensity[sl] *= act
            if up.any():  # out of bed (a late night, an evening session) whatever the plan
                cols = np.flatnonzero(up) + s
                lat.stage2[d, 2 * cols] = 0
                lat.stage2[d, 2 * cols + 1] = 0
                lat.steps[d, cols] = forced[up]
                lat.intensity[d, cols] = intensity
        elif k is K.UNUSUAL_INACTIVITY:
            lat.steps[sl] *= float(p["activity_factor"])
            lat.intensity[sl] *= float(p["activity_factor"])
        elif k is K.HR_ACTIVITY_DECOUPLING:
            cadence = float(p["cadence"])
            lat.steps[sl] = cadence + np.clip(wobble * 2, -6.0, 6.0)
            lat.intensity[sl] = float(p["hr_gain"]) * cadence / 200.0
            lat.clinical[sl] = True
        elif k is K.FLATLINE:
            lat.flat[sl] = float(p["hr_bpm"])
        elif k is K.DROPOUT:
            lat.drop_optical[sl] = True
        elif k is K.IMPOSSIBLE_VALUE:
            code = {"heart_rate": HR, "spo2": SPO2, "steps": STEPS}[str(p["metric"])]
            lat.impossible[sl] = code + 1
            lat.impossible_frac[sl] = float(p["fraction"])
            if code == SPO2:
                lat.spo2_force[sl] = True
        elif k is K.OFF_WRIST:
            lat.off_wrist[sl] = True
            lat.steps[sl] = 0.0
            lat.intensity[sl] = 0.0
            lat.stage2[d, 2 * s : 2 * x] = 0
        elif k is K.CLOCK_SKEW:
            lat.skew_ms[sl] = int(p["offset_s"]) * 1000
        elif k is K.DEVICE_SILENT:
            lat.silent[sl] = True
        # SLEEP_DISRUPTION acts on the night plans (see FleetSimulator._disruption)


def _heart_rate(sim: FleetSimulator, state: _State, lat: _Latent) -> NDArray[np.float64]:
    """Per-minute heart rate: circadian rest level, sleep, exercise through a lagged response."""
    pop = sim.population
    rhr = pop.resting_hr[:, None]
    circ = pop.circadian_amp[:, None] * np.cos(2 * math.pi * (lat.local_h - 16.0) / 24.0)
    stage = lat.stage2[:, ::2]
    asleep = stage > 0
    rest = rhr + circ + lat.hr_add
    cal = sim.calibration
    if cal.resting_hr_daily_sd > 0:
        # the resting level moves from day to day (local days)
        local_day = (lat.minute[None, :] * MINUTE_MS + pop.utc_offset_ms[:, None]) // DAY_MS
        dev_ = np.arange(sim.n_devices, dtype=np.int64)[:, None]
        day_shift = cal.resting_hr_daily_sd * _noise.normal(sim.seed, _S_DAY_HR, dev_, local_day)
        rest = rest + day_shift
        rhr = rhr + day_shift
    awake_target = rest + lat.intensity * (pop.max_hr[:, None] - rest)
    sleep_target = rhr - pop.sleep_hr_drop[:, None] + 0.4 * circ + _STAGE_HR[stage] + lat.hr_add
    target = np.where(asleep, sleep_target, awake_target)
    # slow wander of a couple of bpm (value noise on 20-minute knots)
    dev = np.arange(sim.n_devices, dtype=np.int64)[:, None]
    knot, frac = np.divmod(lat.minute, 20)
    z0 = _noise.normal(sim.seed, _S_DRIFT_HR, dev, knot[None, :])
    z1 = _noise.normal(sim.seed, _S_DRIFT_HR, dev, knot[None, :] + 1)
    # heart rate is steadier asleep
    wander = np.where(asleep, 0.8, 1.8)
    target = target + wander * (z0 + (z1 - z0) * (frac / 20.0)[None, :])
    if cal.rest_minute_sd > 0:
        z = np.clip(_noise.normal(sim.seed, _S_MIN_HR, dev, lat.minute[None, :]), -3, 3)
        target = target + cal.rest_minute_sd * z
    a_up = 1.0 - np.exp(-1.0 / pop.tau_up_min)
    a_down = 1.0 - np.exp(-1.0 / pop.tau_down_min)
    out = np.empty_like(target)
    h = state.hr_filt
    for j in range(lat.n_min):
        tj = target[:, j]
        h = h + np.where(tj > h, a_up, a_down) * (tj - h)
        out[:, j] = h
    state.hr_filt = h
    out = np.clip(out, _NORMAL_HR_MIN, pop.max_hr[:, None] + 5.0)
    return np.where(np.isnan(lat.hr_override), out, lat.hr_override) + lat.hr_delta


def _ragged_times(
    t0: int, t1: int, interval: NDArray[np.int64], phase: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Sample times ``phase + k * interval`` in ``[t0, t1)`` for every device, flattened."""
    has = interval > 0
    iv = np.where(has, interval, 1)
    first = t0 + (phase - t0) % iv
    cnt = np.where(has, np.maximum(0, -(-(t1 - first) // iv)), 0)
    dev = np.repeat(np.arange(len(iv), dtype=np.int64), cnt)
    offsets = np.cumsum(cnt) - cnt
    k = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(offsets, cnt)
    return dev, first[dev] + k * iv[dev]


def _sample_hr(
    sim: FleetSimulator, state: _State, lat: _Latent, hr: NDArray[np.float64]
) -> tuple[NDArray[Any], ...]:
    pop, art = sim.population, sim.artefacts
    t1 = lat.t0 + lat.n_min * MINUTE_MS
    dev, t = _ragged_times(lat.t0, t1, pop.hr_interval_ms, pop.hr_phase_ms)
    m = (t - lat.t0) // MINUTE_MS
    keep = ~(lat.off_wrist | lat.gaps | lat.silent | lat.drop_optical)[dev, m]
    dev, t, m = dev[keep], t[keep], m[keep]
    ext = np.concatenate([state.hr_last[:, None], hr], axis=1)
    step_ext = np.concatenate([state.step_last[:, None], lat.hr_step], axis=1)
    frac = ((t - lat.t0) % MINUTE_MS) / MINUTE_MS
    prev, cur = ext[dev, m], ext[dev, m + 1]
    jump = step_ext[dev, m] | step_ext[dev, m + 1]
    v = np.where(jump, cur, prev + (cur - prev) * frac)
    h = _noise.hash64(sim.seed, _S_ROW, dev, t, HR)
    z = _noise.normal(sim.seed, 0, h)
    moving = lat.intensity[dev, m] > 0.3
    asleep = lat.stage2[dev, 2 * m] > 1
    sd = np.where(moving, 3.0, np.where(asleep, 1.0, 1.2))
    v = v + art.noise_scale * np.clip(z, -3, 3) * sd
    normal = ~lat.clinical[dev, m]
    if art.motion_artefact_rate > 0:
        u = _noise.uniform(sim.seed, 1, h)
        bad = (u < art.motion_artefact_rate) & (lat.steps[dev, m] > 60) & normal
        u2 = _noise.uniform(sim.seed, 2, h[bad])
        # optical sensors lock onto cadence, or jump a few tens of bpm
        v[bad] = np.where(u2 < 0.5, lat.steps[dev[bad], m[bad]], v[bad] + 20 + 20 * u2)
    cal = sim.calibration
    if cal.spike_rate > 0:
        spike = (_noise.uniform(sim.seed, _S_SPIKE, h) < cal.spike_rate) & normal
        u3 = _noise.uniform(sim.seed, _S_SPIKE + 1, h[spike])
        v[spike] += np.where(u3 < 0.5, -1.0, 1.0) * (15.0 + 16.0 * np.abs(u3 - 0.5))
    if cal.flat_runs_per_day > 0:
        # the sensor holds the first value of a flat stretch
        (run_id,) = state.plans.flat.raster(lat.t0, lat.n_min, MINUTE_MS, sim.n_devices)
        rid = run_id[dev, m]
        held = (rid > 0) & normal
        if held.any():
            key = (dev[held] << 32) | rid[held].astype(np.int64)
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
            v[held] = v[held][first][inverse]
    v = np.where(normal & np.isnan(lat.flat[dev, m]), np.clip(v, _NORMAL_HR_MIN, _NORMAL_HR_MAX), v)
    flat = lat.flat[dev, m]
    v = np.where(np.isnan(flat), v, flat)
    v = _impossible(sim, lat, HR, dev, m, t, np.rint(v))
    return dev.astype(np.int32), t, np.full(len(t), HR, np.int8), v


def _impossible(
    sim: FleetSimulator,
    lat: _Latent,
    code: int,
    dev: NDArray[np.int64],
    m: NDArray[np.int64],
    t: NDArray[np.int64],
    v: NDArray[np.float64],
) -> NDArray[np.float64]:
    hit = lat.impossible[dev, m] == code + 1
    if not hit.any():
        return v
    u = _noise.uniform(sim.seed, _S_EVT, dev[hit], t[hit], code)
    choice = np.asarray(_IMPOSSIBLE[code])
    picked = choice[(u * 1e6).astype(np.int64) % len(choice)]
    v = v.copy()
    v[np.flatnonzero(hit)[u < lat.impossible_frac[dev[hit], m[hit]]]] = picked[
        u < lat.impossible_frac[dev[hit], m[hit]]
    ]
    return v


def _sample_spo2(sim: FleetSimulator, lat: _Latent) -> tuple[NDArray[Any], ...]:
    pop, seed = sim.population, sim.seed
    n = sim.n_devices
    d2 = np.arange(n, dtype=np.int64)[:, None]
    asleep = lat.stage2[:, ::2] > 1  # asleep, not awake in bed
    in_episode = lat.stage2[:, ::2] > 0
    spot_p = pop.spo2_spot_per_day[:, None] / 900.0  # ~900 waking minutes a day
    spot = (
        (_noise.uniform(seed, _S_SPOT, d2, lat.minute[None, :]) < spot_p)
        & ~in_episode
        & (lat.steps < 10)
    )
    want = pop.has_spo2[:, None] & (in_episode | spot | lat.spo2_force)
    want &= ~(lat.off_wrist | lat.gaps | lat.silent | lat.drop_optical)
    dev, m = np.nonzero(want)
    t = (lat.minute[m] * MINUTE_MS + pop.spo2_phase_ms[dev]).astype(np.int64)
    base = pop.spo2_baseline[dev] - 0.5 * asleep[dev, m]
    # brief shallow dips in sleep (<= 2 points, never a desaturation)
    udip = _noise.uniform(seed, _S_DIP, dev, lat.minute[m] // 3)
    base = base - np.where(asleep[dev, m] & (udip < 0.04), 1.0 + 25.0 * udip, 0.0)
    z = _noise.normal(seed, _S_ROW, dev, t, SPO2)
    v = base + np.clip(0.6 * sim.artefacts.noise_scale * z, -1.0, 1.0)
    ov = lat.spo2_override[dev, m]
    v = np.minimum(np.rint(np.where(np.isnan(ov), v, ov)), 100.0)
    v = _impossible(sim, lat, SPO2, dev, m, t, v)
    return dev.astype(np.int32), t, np.full(len(t), SPO2, np.int8), v


def _sample_steps(sim: FleetSimulator, lat: _Latent) -> tuple[NDArray[Any], ...]:
    pop = sim.population
    want = ~(lat.gaps | lat.silent)
    dev, m = np.nonzero(want)
    # the count of the 60 s before ts; stamped inside minute m so that the minute's masks
    # (gaps, off-wrist, silence) and its step rate apply to it
    t = lat.minute[m] * MINUTE_MS + pop.steps_phase_ms[dev]
    v = np.rint(lat.steps[dev, m])
    v = _impossible(sim, lat, STEPS, dev, m, t, v)
    return dev.astype(np.int32), t, np.full(len(t), STEPS, np.int8), v


def _sample_sleep(sim: FleetSimulator, lat: _Latent) -> tuple[NDArray[Any], ...]:
    pop = sim.population
    want = (lat.stage2 > 0) & pop.has_sleep[:, None]
    blocked = lat.off_wrist | lat.gaps | lat.silent
    want &= ~np.repeat(blocked, 2, axis=1)
    dev, k = np.nonzero(want)
    t = lat.t0 + k * EPOCH_MS
    v = (lat.stage2[dev, k] - 1).astype(np.float64)
    return dev.astype(np.int32), t.astype(np.int64), np.full(len(t), SLEEP, np.int8), v


def _transport(sim: FleetSimulator, rows: tuple[NDArray[Any], ...], lat: _Latent) -> _Rows:
    """Device clock, delivery latency, late and duplicate delivery, malformed bytes."""
    dev, t, metric, value = rows
    art, seed = sim.artefacts, sim.seed
    pop = sim.population
    h = _noise.hash64(seed, _S_ROW + 100, dev, t, metric)
    m = np.clip((t - lat.t0) // MINUTE_MS, 0, lat.n_min - 1)
    drift = pop.drift_ppm[dev] * 1e-6 * (t - sim.start_ms)
    ts = t + np.rint(drift).astype(np.int64) + lat.skew_ms[dev, m]
    lo = 50
    send = t + lo + (_noise.uniform(seed, 1, h) * max(0, art.max_latency_ms - lo)).astype(np.int64)
    flags = np.zeros(len(t), np.uint8)
    if art.late_rate > 0:
        late = _noise.uniform(seed, 2, h) < art.late_rate
        extra = _LATE_MIN_MS + _noise.uniform(seed, 3, h[late]) * (_LATE_MAX_MS - _LATE_MIN_MS)
        send[late] += extra.astype(np.int64)
        flags[late] |= LATE
    if art.malformed_rate > 0:
        flags[_noise.uniform(seed, 4, h) < art.malformed_rate] |= MALFORMED
    out: _Rows = (dev.astype(np.int32), ts, metric, value, send, flags)
    if art.duplicate_rate > 0:
        dup = np.flatnonzero(_noise.uniform(seed, 5, h) < art.duplicate_rate)
        if len(dup):
            again = [a[dup].copy() for a in out]
            again[4] += 1 + (_noise.uniform(seed, 6, h[dup]) * 1000).astype(np.int64)
            again[5] |= DUPLICATE
            out = tuple(np.concatenate([a, b]) for a, b in zip(out, again, strict=True))
    return out
