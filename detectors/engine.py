"""The detection engine: per-device state, context, rules, baselines and alert lifecycle.

One :class:`Engine` serves any number of devices. Each device owns one flat ``array('d')`` of
:data:`N_SLOTS` floats (laid out below from the detector modules' slot counts) plus a small dict
of alert tracks that exist only while an alert is pending, open or cooling down. Every reading
goes through the same pure, deterministic path:

1. data quality first: impossible values, duplicates, out-of-order/late readings and clock
   jumps are recognised and never reach a baseline or a rule;
2. context: asleep (recent non-awake sleep stage), at rest (mean cadence ~0 over the last
   ``rest_min_ms``), inactive (the same over the last ``still_min_ms``: enough for the acute
   HR rules, which must not wait 10 minutes after a walk), exercising (cadence above
   ``active_min_steps_per_min``) or lightly active;
3. score against the personal baseline *of that context* (prequential: before learning);
4. rules (sustained thresholds, episodes, multi-day and hourly aggregates) signal conditions
   to the :class:`detectors.alerts.AlertBook`;
5. learn, unless the reading was flagged.

No wall clock and no randomness: output is a function of (restored state, input sequence).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import cast

import msgspec
from pydantic import BaseModel

from detectors import desaturation, ewz, flatline, hourly, nightly, sustain
from detectors.alerts import AlertBook, Track
from detectors.config import EngineConfig
from detectors.explain import Explainer
from detectors.news2 import pulse_score, spo2_score
from detectors.types import AlertEvent, ProcessResult, Scored, Severity
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import METRICS, Metric, SleepStage

try:  # the compiled twin of the per-reading path (detectors/_fastpath.pyx), if it was built
    from detectors._fastpath import FastPath
except ImportError:  # no C compiler at install time: the pure-Python path, same output
    FastPath = None  # type: ignore[assignment,misc]

#: whether :class:`Engine` runs its per-reading path compiled by default
COMPILED = FastPath is not None

# enum members as module constants: ``K.NAME`` costs ~100 ns per lookup on the hot path
_K_ABRUPT_HR_CHANGE = K.ABRUPT_HR_CHANGE
_K_BRADYCARDIA = K.BRADYCARDIA
_K_CLOCK_SKEW = K.CLOCK_SKEW
_K_DESATURATION = K.DESATURATION
_K_DEVICE_SILENT = K.DEVICE_SILENT
_K_DROPOUT = K.DROPOUT
_K_ELEVATED_RESTING_HR = K.ELEVATED_RESTING_HR
_K_FLATLINE = K.FLATLINE
_K_HR_ACTIVITY_DECOUPLING = K.HR_ACTIVITY_DECOUPLING
_K_IMPOSSIBLE_VALUE = K.IMPOSSIBLE_VALUE
_K_OFF_WRIST = K.OFF_WRIST
_K_SLEEP_DISRUPTION = K.SLEEP_DISRUPTION
_K_TACHYCARDIA_AT_REST = K.TACHYCARDIA_AT_REST
_K_UNUSUAL_INACTIVITY = K.UNUSUAL_INACTIVITY

_MIN = 60_000
_HOUR = 3_600_000
_BLOCK_MS = 4 * _HOUR  # the circadian rest offsets have one slot per 4 hours of the day
_sqrt = math.sqrt
_VAR, _N = ewz.VAR, ewz.N
_FL_START, _FL_COUNT, _FL_LAST = flatline.START, flatline.COUNT, flatline.LAST

# -- slot layout of a device's state array --------------------------------------------------
_n = 0


def _take(k: int) -> int:
    global _n
    o = _n
    _n += k
    return o


# event-time bookkeeping (-1 = never)
T_FIRST = _take(1)
T_ANY = _take(1)  # newest in-order event time of any metric
T_HR = _take(1)
T_SPO2 = _take(1)
T_STEPS = _take(1)
T_STAGE = _take(1)
T_WATCH = _take(1)  # roster: when the deadman started watching a never-seen device
T_FIRST_STEPS = _take(1)
STEPS_RING = _take(10)  # steps of the last 10 minutes, by minute number modulo 10
RING_MIN = _take(10)  # the minute number each ring slot holds
REST_FLAG = _take(1)  # set by the newest steps reading: 10 quiet minutes
STILL_FLAG = _take(1)  # ... or at least the last few quiet minutes
CADENCE = _take(1)
STAGE = _take(1)
HR_FAST = _take(1)  # fast EW of HR (~1 min), the level an abrupt change starts from
HR_FAST_T = _take(1)
INTERVAL = _take(1)  # EW of the interval between in-order readings (any metric)
# personal baselines (ewz slots each)
B_SLEEP = _take(ewz.SLOTS)
B_REST = _take(ewz.SLOTS)
B_ACTIVE = _take(ewz.SLOTS)
CIRC = _take(6)  # rest-HR offset per 4-hour block of the day
B_SPO2 = _take(ewz.SLOTS)
# sustained rules
R_TACHY = _take(sustain.SLOTS)
R_BRADY = _take(sustain.SLOTS)
R_LOWSPO2 = _take(sustain.SLOTS)
R_ABRUPT = _take(sustain.SLOTS)
ABRUPT_OK = _take(1)
JUMP_T = _take(1)  # newest fast upward jump of the HR level
JUMP_DOWN_T = _take(1)  # ... and downward
HIGH_SINCE = _take(1)  # start of the current streak of HR above the tachycardia threshold
HIGH_LAST = _take(1)
QUIET_SINCE = _take(1)  # start of the current streak of quiet minutes (-1: moving)
R_HIGHREST = _take(sustain.SLOTS)
FL = _take(flatline.SLOTS)
DS = _take(desaturation.SLOTS)
DS_CLUSTER = _take(1)
DS_LAST_EP = _take(1)
DS_FIRST_EP = _take(1)
# exercise bout
ACT_START = _take(1)
ACT_LAST = _take(1)
ACT_HR_SUM = _take(1)
ACT_HR_N = _take(1)
ACT_CAD_SUM = _take(1)
ACT_CAD_N = _take(1)
# sleep session (one night)
SS_START = _take(1)
SS_LAST = _take(1)
SS_ASLEEP = _take(1)
SS_AWAKE = _take(1)
SS_AWAKENINGS = _take(1)
SS_AWAKE_SINCE = _take(1)
SS_HR_SUM = _take(1)
SS_HR_N = _take(1)
SS_DESATS = _take(1)
# nightly aggregates against ~4-week baselines
N_RHR = _take(nightly.SLOTS)
N_DUR = _take(nightly.SLOTS)
N_EFF = _take(nightly.SLOTS)
N_AWK = _take(nightly.SLOTS)
SLEEP_CONSEC = _take(1)
RHR_RUN_START = _take(1)
SLEEP_RUN_START = _take(1)
LAST_ODI = _take(1)
# hour-of-day activity
HP = _take(hourly.SLOTS)
H_CUR = _take(1)
H_STEPS = _take(1)
H_STEPS_N = _take(1)
H_HR_N = _take(1)
H_ASLEEP_N = _take(1)
H_RUN = _take(1)
H_RUN_START = _take(1)
H_RUN_LAST = _take(1)
H_RUN_STEPS = _take(1)
H_RUN_USUAL = _take(1)
# data quality
BEHIND_RUN = _take(1)
BEHIND_PREV = _take(1)
BEHIND_FIRST = _take(1)
BEHIND_METRICS = _take(1)  # bit set of the metrics in the current behind run
SKEW_OFFSET = _take(1)  # > 0 while the device clock is believed to run behind
SINCE_HR_STEPS = _take(1)  # steps counted since the newest heart rate
SINCE_HR_STAGES = _take(1)  # sleep stages received since the newest heart rate
WORN_SINCE = _take(1)  # first sign of wear (steps, sleep) since the newest heart rate
N_READINGS = _take(1)
N_DUP = _take(1)
N_OOO = _take(1)
N_LATE = _take(1)
N_IMPOSSIBLE = _take(1)
IMP_LAST = _take(1)

N_SLOTS = _n
STATE_BYTES = 8 * N_SLOTS

ASLEEP, REST, STILL, ACTIVE, LIGHT = 0, 1, 2, 3, 4
CONTEXT_TEXT = ("asleep", "at rest", "inactive", "exercising", "lightly active")

_SNAPSHOT_VERSION = 1
_HR, _SPO2, _STEPS, _STAGE = Metric.HEART_RATE, Metric.SPO2, Metric.STEPS, Metric.SLEEP_STAGE
_LIMITS = {m: (spec.minimum, spec.maximum) for m, spec in METRICS.items()}
_MULTIDAY = frozenset({_K_ELEVATED_RESTING_HR, _K_SLEEP_DISRUPTION, _K_UNUSUAL_INACTIVITY})
# kinds resolved by their own logic (gap ends, night closes), never by tick() staleness
_NOT_STALE = frozenset({_K_DEVICE_SILENT, _K_CLOCK_SKEW, _K_OFF_WRIST, _K_DROPOUT})
_METRIC_BIT = {_HR: 1, _SPO2: 2, _STEPS: 4, _STAGE: 8}
_ONE_BIT = frozenset({1, 2, 4, 8})
_METRIC_SLOT = {_HR: T_HR, _SPO2: T_SPO2, _STEPS: T_STEPS, _STAGE: T_STAGE}
# per metric: the physically possible range and the slot of its newest event time
_METRIC_INFO = {m: (float(lo), float(hi), _METRIC_SLOT[m]) for m, (lo, hi) in _LIMITS.items()}
_KIND_METRIC = {
    _K_TACHYCARDIA_AT_REST: T_HR,
    _K_BRADYCARDIA: T_HR,
    _K_ABRUPT_HR_CHANGE: T_HR,
    _K_HR_ACTIVITY_DECOUPLING: T_HR,
    _K_FLATLINE: T_HR,
    K.LOW_SPO2: T_SPO2,
    _K_DESATURATION: T_SPO2,
}


class _Snapshot(msgspec.Struct, array_like=True):
    version: int
    device_id: str
    slots: bytes
    tracks: list[Track]


class Device:
    """State of one device: the slot array and the alert tracks."""

    __slots__ = ("s", "tracks")

    def __init__(self, s: array[float], tracks: dict[str, Track]) -> None:
        self.s = s
        self.tracks = tracks


def _fresh_state(cfg: EngineConfig) -> array[float]:
    s = array("d", bytes(STATE_BYTES))
    for o in (
        T_FIRST,
        T_ANY,
        T_HR,
        T_SPO2,
        T_STEPS,
        T_STAGE,
        T_WATCH,
        T_FIRST_STEPS,
        HR_FAST_T,
        HIGH_SINCE,
        HIGH_LAST,
        QUIET_SINCE,
        ACT_START,
        ACT_LAST,
        SS_START,
        SS_LAST,
        SS_AWAKE_SINCE,
        DS_LAST_EP,
        DS_FIRST_EP,
        H_CUR,
        IMP_LAST,
        BEHIND_PREV,
        BEHIND_FIRST,
        RHR_RUN_START,
        SLEEP_RUN_START,
        H_RUN_START,
        LAST_ODI,
    ):
        s[o] = -1.0
    s[STAGE] = float(SleepStage.AWAKE)
    b = cfg.baseline
    ewz.reset(s, B_SLEEP, *b.hr_sleep_prior)
    ewz.reset(s, B_REST, *b.hr_rest_prior)
    ewz.reset(s, B_ACTIVE, *b.hr_active_prior)
    ewz.reset(s, B_SPO2, *b.spo2_prior)
    for o in (R_TACHY, R_BRADY, R_LOWSPO2, R_ABRUPT, R_HIGHREST):
        sustain.reset(s, o)
    flatline.reset(s, FL)
    desaturation.reset(s, DS)
    nightly.reset(s, N_RHR, b.hr_sleep_prior[0], 3.0)
    nightly.reset(s, N_DUR, 7.0, 0.6)  # hours asleep
    nightly.reset(s, N_EFF, 0.92, 0.03)
    nightly.reset(s, N_AWK, 0.5, 1.0)  # awake bouts of 5+ min
    hourly.reset(s, HP)
    s[INTERVAL] = 10_000.0
    return s


class Engine:
    """Streaming anomaly detection over any number of devices.

    Examples
    --------
    >>> from messages import Reading, Metric
    >>> eng = Engine(EngineConfig())
    >>> t0 = 1_767_225_600_000
    >>> rs = []
    >>> for i in range(40):  # at rest (0 steps/min), heart rate 131-135 bpm
    ...     rs.append(Reading("d1", t0 + i * 60_000, Metric.STEPS, 0.0, 60.0))
    ...     rs.append(Reading("d1", t0 + i * 60_000 + 1, Metric.HEART_RATE, 131.0 + i % 5))
    >>> out = eng.process(rs)
    >>> len(out.scored) == len(rs)
    True
    >>> [(a.kind.value, a.state, a.severity) for a in out.alerts]
    [('tachycardia_at_rest', 'open', 'critical')]
    >>> a = out.alerts[0]
    >>> (a.ts_ms - a.start_ms) // 60_000
    10
    >>> eng2 = Engine(EngineConfig())
    >>> eng2.restore("d1", eng.snapshot("d1"))
    >>> eng2.snapshot("d1") == eng.snapshot("d1")
    True
    """

    def __init__(self, config: EngineConfig | None = None, *, compiled: bool = True) -> None:
        self.cfg = config if config is not None else EngineConfig()
        # the hot path reads thresholds from plain objects: a pydantic attribute chain costs
        # ~70 ns, and a heart-rate reading reads ~40 of them
        self._c = cast(EngineConfig, _plain(self.cfg))
        self._devices: dict[str, Device] = {}
        self._book = AlertBook(self.cfg.alerts, Explainer(self.cfg), _MULTIDAY)
        self._enc = msgspec.msgpack.Encoder()
        self._dec = msgspec.msgpack.Decoder(_Snapshot)
        self._prev_metric_ts = -1.0  # scratch: previous event time of the current metric
        self._prev_any = -1.0  # scratch: previous event time of any metric
        #: devices whose state the last :meth:`tick` changed (to be snapshotted again)
        self.tick_touched: set[str] = set()
        # per device, the earliest event time at which tick() could change anything (a lower
        # bound; absent: unknown), so a tick visits only the devices that are due
        self._due: dict[str, float] = {}
        self._tick_every_device = False  # tests compare the index with visiting everything
        # constants of the per-reading path, read once here: even on the plain copy an
        # attribute chain costs ~30 ns, and a quiet heart-rate reading needs about 30 of them.
        # Times and counts become floats (exactly): slots are floats, and comparing a float
        # with an int costs about twice as much as with a float
        c = self._c
        q, a, b = c.quality, c.activity, c.baseline
        self._skew_ms = float(q.skew_ms)
        self._impossible_clear_ms = q.impossible_clear_ms
        self._dropout_min_gap_ms = float(q.dropout_min_gap_ms)
        self._dropout_factor = q.dropout_factor
        self._flatline_ms = float(q.flatline_ms)
        self._flatline_n = float(q.flatline_min_readings)
        self._session_gap_ms = float(c.multiday.session_gap_ms)
        self._stage_valid_ms = float(a.stage_valid_ms)
        self._steps_valid_ms = float(a.steps_valid_ms)
        self._rest_max_spm = a.rest_max_steps_per_min
        self._active_min_spm = a.active_min_steps_per_min
        self._assume_rest = a.assume_rest_without_steps
        self._rest_minutes = float(a.rest_min_ms // _MIN)  # windows of the steps ring
        self._still_minutes = float(a.still_min_ms // _MIN)
        self._hr_sd_floor = b.hr_sd_floor
        self._warmup_ms = float(b.warmup_ms)
        self._flag_z = b.flag_z
        self._max_dt_ms = float(b.max_dt_ms)
        self._tau_ms = float(b.tau_ms)
        self._prior_ms = float(b.prior_ms)
        self._circadian_tau_ms = float(b.circadian_tau_ms)
        tc, bc, ab, dc = c.tachycardia, c.bradycardia, c.abrupt, c.decoupling
        self._tachy_on = tc.enabled
        self._tachy_threshold = tc.threshold
        # below this (the threshold relaxed by the hysteresis) no reading can hit the rule
        self._tachy_low = tc.threshold - tc.hysteresis
        self._brady_on = bc.enabled
        self._brady_high = bc.threshold + bc.hysteresis  # ... and above this, bradycardia
        self._abrupt_on = ab.enabled
        self._abrupt_delta = ab.delta_bpm
        self._abrupt_jump = ab.delta_bpm / 2
        self._decoupling_on = dc.enabled
        self._rest_excess_bpm = dc.rest_excess_bpm
        # compiled=False (or no compiled module): every reading through the Python methods
        # below, which the compiled path mirrors line by line
        self._fast = FastPath(self) if compiled and FastPath is not None else None

    # -- device bookkeeping ------------------------------------------------------------------

    def device_ids(self) -> Iterable[str]:
        return list(self._devices)

    def _device(self, device_id: str) -> Device:
        d = self._devices.get(device_id)
        if d is None:
            d = self._devices[device_id] = Device(_fresh_state(self._c), {})
        return d

    def drop(self, device_id: str) -> None:
        """Forget a device (its partition moved elsewhere)."""
        self._devices.pop(device_id, None)
        self._due.pop(device_id, None)
        self._book.earlier.discard(device_id)

    def snapshot(self, device_id: str) -> bytes:
        """All state of one device as versioned msgpack (about 1.3 KB plus open alerts)."""
        d = self._devices.get(device_id)
        if d is None:
            raise KeyError(device_id)
        tracks = [d.tracks[k] for k in sorted(d.tracks)]
        return self._enc.encode(_Snapshot(_SNAPSHOT_VERSION, device_id, d.s.tobytes(), tracks))

    def restore(self, device_id: str, data: bytes) -> None:
        """Replace the state of ``device_id`` with a snapshot taken by :meth:`snapshot`."""
        snap = self._dec.decode(data)
        if snap.version != _SNAPSHOT_VERSION or len(snap.slots) != STATE_BYTES:
            raise ValueError(f"unsupported snapshot (version {snap.version}) for {device_id}")
        s = array("d")
        s.frombytes(snap.slots)
        self._devices[device_id] = Device(s, {t.kind.value: t for t in snap.tracks})
        self._due.pop(device_id, None)

    def stats(self, device_id: str) -> dict[str, int]:
        """Data-quality counters of a device (for the daemon's metrics)."""
        s = self._devices[device_id].s
        return {
            "readings": int(s[N_READINGS]),
            "duplicates": int(s[N_DUP]),
            "out_of_order": int(s[N_OOO]),
            "late": int(s[N_LATE]),
            "impossible": int(s[N_IMPOSSIBLE]),
        }

    # -- the hot path ------------------------------------------------------------------------

    def process(self, readings: Sequence[Reading]) -> ProcessResult:
        """Score every reading (one :class:`Scored` each, same order) and run the lifecycle."""
        scored: list[Scored] = []
        alerts: list[AlertEvent] = []
        if self._fast is not None:
            self._fast.process(readings, scored, alerts)
            return ProcessResult(scored, alerts)
        devices = self._devices
        one = self._one
        append = scored.append
        for r in readings:
            d = devices.get(r.device_id)
            if d is None:
                d = self._device(r.device_id)
            append(one(r, d, alerts))
        return ProcessResult(scored, alerts)

    def _one(self, r: Reading, d: Device, out: list[AlertEvent]) -> Scored:
        s = d.s
        ts = r.ts_ms
        # the event time as a float for the arithmetic on slots: an int-float comparison or
        # subtraction costs about twice as much (exact either way: ts < 2**53)
        t = float(ts)
        m = r.metric
        if m.__class__ is not Metric:
            # a metric given by name: every method below reads ``r.metric`` as a Metric
            m = Metric(m)
            r = msgspec.structs.replace(r, metric=m)
        v = r.value
        s[N_READINGS] += 1.0
        if s[T_FIRST] < 0.0:
            s[T_FIRST] = t
        lo, hi, slot = _METRIC_INFO[m]
        if not (lo <= v <= hi) or (m is _STAGE and v != int(v)):
            return self._impossible(r, d, out)
        tracks = d.tracks
        if tracks and _K_IMPOSSIBLE_VALUE in tracks:
            self._book.inactive(
                r.device_id, tracks, _K_IMPOSSIBLE_VALUE, ts, out, self._impossible_clear_ms
            )
        last = s[slot]
        self._prev_metric_ts = last
        prev = s[T_ANY]
        if t <= last or t < prev - self._skew_ms:
            if not self._behind(r, d, out):
                return self._score_only(r, d)
            prev = s[T_ANY]  # re-based on the device's new clock
        else:
            s[BEHIND_RUN] = 0.0

        # device-level bookkeeping of an in-order reading: gaps, clock, session, hour
        if prev >= 0.0 and t > prev:
            gap = t - prev
            skew = s[SKEW_OFFSET]
            if skew > 0.0 and abs(gap - skew) <= max(0.25 * skew, 2 * _MIN):
                # the clock jumped forward again by the amount it lost: corrected, not a gap
                s[SKEW_OFFSET] = 0.0
                self._book.resolve(r.device_id, tracks, _K_CLOCK_SKEW, ts, out)
            elif tracks and _K_DEVICE_SILENT in tracks and tracks[_K_DEVICE_SILENT].is_open:
                self._book.resolve(r.device_id, tracks, _K_DEVICE_SILENT, ts, out, end_ms=ts)
            elif gap >= self._dropout_min_gap_ms and gap >= self._dropout_factor * s[INTERVAL]:
                self._gap(r.device_id, d, int(prev), ts, gap, out)
            else:
                # learn the expected interval from ordinary gaps only
                iv = s[INTERVAL]
                cap = 10.0 * iv + 1000.0
                s[INTERVAL] = iv + 0.05 * ((cap if cap < gap else gap) - iv)
            if s[SS_START] >= 0.0 and t - s[SS_LAST] > self._session_gap_ms:
                self._close_night(r.device_id, d, ts, out)
            hour = ts // _HOUR
            if hour != s[H_CUR]:
                self._close_hour(r.device_id, d, hour, ts, out)
        elif prev < 0.0:
            s[H_CUR] = ts // _HOUR
        self._prev_any = prev
        if t > prev:
            s[T_ANY] = t
        s[slot] = t

        if m is _HR:
            return self._hr(r, d, s, tracks, ts, t, v, out)
        if m is _SPO2:
            return self._spo2(r, d, out)
        if m is _STEPS:
            self._steps(r, d, out)
        else:
            self._stage(r, d, out)
        return Scored(r.device_id, ts, m, v, 0.0, None, False)

    # -- data quality ------------------------------------------------------------------------

    def _impossible(self, r: Reading, d: Device, out: list[AlertEvent]) -> Scored:
        s = d.s
        s[N_IMPOSSIBLE] += 1.0
        s[IMP_LAST] = r.ts_ms
        self._book.active(
            r.device_id,
            d.tracks,
            _K_IMPOSSIBLE_VALUE,
            r.ts_ms,
            r.ts_ms,
            "info",
            None,
            True,
            out,
            detail=f"{r.metric.value} readings outside the physically possible range "
            f"(data quality, not a clinical finding).",
        )
        return Scored(r.device_id, r.ts_ms, r.metric, r.value, 0.0, None, True)

    def _behind(self, r: Reading, d: Device, out: list[AlertEvent]) -> bool:
        """A reading at or before the newest of its metric. Return True if it starts a new
        clock (a backward clock jump confirmed by consecutive readings), else count it."""
        s = d.s
        ts = r.ts_ms
        q = self._c.quality
        if ts == s[_METRIC_SLOT[r.metric]]:
            s[N_DUP] += 1.0
            return False
        s[N_OOO] += 1.0
        behind = s[T_ANY] - ts
        if behind > q.late_ms:
            s[N_LATE] += 1.0
        if behind < q.skew_ms:
            return False
        # a clock that jumped back sends a steady run of readings of all its metrics, each
        # newer than the last (a backlog of one metric uploaded late is not a clock jump)
        bit = _METRIC_BIT[r.metric]
        if s[BEHIND_RUN] > 0 and ts >= s[BEHIND_PREV]:
            s[BEHIND_RUN] += 1.0
            s[BEHIND_METRICS] = float(int(s[BEHIND_METRICS]) | bit)
        else:
            s[BEHIND_RUN] = 1.0
            s[BEHIND_FIRST] = ts
            s[BEHIND_METRICS] = float(bit)
        s[BEHIND_PREV] = ts
        if s[BEHIND_RUN] < q.skew_min_readings or int(s[BEHIND_METRICS]) in _ONE_BIT:
            return False
        # re-base the device on its new clock; remember by how much it jumped
        offset = s[T_ANY] - s[BEHIND_FIRST]
        start = int(s[T_ANY])
        s[SKEW_OFFSET] = offset
        first = s[BEHIND_FIRST]
        # times ahead of the new clock move back to just before it; older ones stay, so stale
        # context (last night's sleep stage) stays stale
        for o in (T_ANY, T_HR, T_SPO2, T_STEPS, T_STAGE, HR_FAST_T, SS_LAST, ACT_LAST):
            if s[o] >= first:
                s[o] = first - 1.0
        for o in (R_TACHY, R_BRADY, R_LOWSPO2, R_ABRUPT, R_HIGHREST):
            sustain.reset(s, o)
        flatline.reset(s, FL)
        desaturation.reset(s, DS)
        # activity context restarts on the new clock
        for k in range(10):
            s[RING_MIN + k] = 0.0
        s[REST_FLAG] = s[STILL_FLAG] = 0.0
        for o in (QUIET_SINCE, HIGH_SINCE, HIGH_LAST, JUMP_T, JUMP_DOWN_T, ACT_START):
            s[o] = -1.0
        s[H_CUR] = first // _HOUR
        s[H_STEPS] = s[H_STEPS_N] = s[H_HR_N] = s[H_ASLEEP_N] = 0.0
        s[BEHIND_RUN] = 0.0
        self._book.earlier.add(r.device_id)  # its times moved back, and so may its deadlines
        self._book.active(
            r.device_id,
            d.tracks,
            _K_CLOCK_SKEW,
            start,
            start,
            "info",
            None,
            True,
            out,
            detail=f"The device clock jumped back by about {round(offset / 60_000)} min; its "
            "readings are time-stamped in the past (data quality).",
        )
        return True

    def _gap(
        self, did: str, d: Device, prev: int, ts: int, gap: float, out: list[AlertEvent]
    ) -> None:
        """No data at all from ``prev`` to ``ts``: a dropout, or a silence found after the fact."""
        if gap >= self._silent_limit(did):
            kind = _K_DEVICE_SILENT  # found after the fact (no tick() in between)
            sev: Severity = "warning"
        else:
            kind, sev = _K_DROPOUT, "info"
        interval = d.s[INTERVAL]
        self._book.interval(
            did,
            d.tracks,
            kind,
            prev,
            ts,
            ts,
            sev,
            out,
            detail=f"No data at all for {round(gap / 60_000)} min (expected a reading "
            f"every ~{max(1, round(interval / 1000))} s); data quality.",
        )

    def _silent_limit(self, device_id: str) -> int:
        dm = self._c.deadman
        return dm.roster.get(device_id, dm.silent_after_ms)

    def _score_only(self, r: Reading, d: Device) -> Scored:
        """Score a duplicate or out-of-order reading without touching any state."""
        s = d.s
        if r.metric is _HR:
            o = (B_SLEEP, B_REST, B_ACTIVE, B_ACTIVE, B_ACTIVE)[self._context(s, r.ts_ms)]
            z = ewz.zscore(s, o, r.value, self._c.baseline.hr_sd_floor)
            return Scored(r.device_id, r.ts_ms, r.metric, r.value, abs(z), s[o], False)
        if r.metric is _SPO2:
            z = ewz.zscore(s, B_SPO2, r.value, self._c.baseline.spo2_sd_floor)
            return Scored(r.device_id, r.ts_ms, r.metric, r.value, max(-z, 0.0), s[B_SPO2], False)
        return Scored(r.device_id, r.ts_ms, r.metric, r.value, 0.0, None, False)

    # -- context -----------------------------------------------------------------------------

    def _context(self, s: array[float], ts: float) -> int:
        # stages may lag the wake-up: walking about is not asleep, whatever the last stage
        if (
            s[STAGE] != 0.0
            and ts - s[T_STAGE] <= self._stage_valid_ms
            and s[T_STAGE] >= 0.0
            and not (ts - s[T_STEPS] <= self._steps_valid_ms and s[CADENCE] > self._rest_max_spm)
        ):
            return ASLEEP
        if s[T_FIRST_STEPS] < 0.0:
            return REST if self._assume_rest else LIGHT
        if ts - s[T_STEPS] > self._steps_valid_ms:
            return LIGHT  # steps stopped arriving: activity unknown
        if s[REST_FLAG]:
            return REST
        if s[STILL_FLAG]:
            return STILL
        if s[CADENCE] >= self._active_min_spm:
            return ACTIVE
        return LIGHT

    # -- heart rate --------------------------------------------------------------------------

    def _hr(
        self,
        r: Reading,
        d: Device,
        s: array[float],
        tracks: dict[str, Track],
        ts: int,
        t: float,
        v: float,
        out: list[AlertEvent],
    ) -> Scored:
        # Most readings are quiet: far from every threshold, with no run or alert in progress.
        # Each rule block below first checks, cheaply, whether its outcome can differ from
        # "nothing happens", and skips the rest if not; the output is the same either way.
        did = r.device_id
        book = self._book
        ctx = self._context(s, t)
        # slots are read once into locals (an array read costs ~25 ns): nothing below changes
        # the baselines, the circadian offset or the fast level before the learning step
        circ = CIRC + (ts // _BLOCK_MS) % 6  # rest-HR offset of this 4-hour block
        offset = s[circ]
        rest = s[B_REST]
        rest_expected = rest + offset
        if ctx == ASLEEP:
            o = B_SLEEP
            mean = expected = s[o]
        elif ctx == REST:
            o = B_REST
            mean = rest
            expected = rest_expected
        else:
            o = B_ACTIVE
            mean = expected = s[o]
        var = s[o + _VAR]
        learned = s[o + _N]
        sd = _sqrt(var)
        if sd < self._hr_sd_floor:
            sd = self._hr_sd_floor
        z = (v - expected) / sd
        warm = learned >= self._warmup_ms
        flagged = warm and (z >= self._flag_z or z <= -self._flag_z)
        rest_like = ctx <= STILL
        fast_t = s[HR_FAST_T]
        fast = s[HR_FAST]

        # sustained tachycardia while inactive (asleep or at rest): below the relaxed threshold
        # no reading hits, so without a run or a track there is nothing to do
        if self._tachy_on and (v > self._tachy_low or s[R_TACHY] >= 0.0 or tracks):
            flagged = self._tachycardia(r, d, out, ctx, rest_expected) or flagged
        # sustained bradycardia, any context
        if self._brady_on and (v < self._brady_high or s[R_BRADY] >= 0.0 or tracks):
            flagged = self._bradycardia(r, d, out, ctx, expected) or flagged
        # abrupt change from the personal baseline of the context (asleep / at rest)
        if self._abrupt_on:
            # the level jumped faster than the ~1 min average could follow (a drift, or the
            # slow recovery after exercise, is not abrupt); remembered for onset_ms
            if fast_t >= 0.0:
                if v - fast >= self._abrupt_jump:
                    s[JUMP_T] = t
                elif fast - v >= self._abrupt_jump:
                    s[JUMP_DOWN_T] = t
            ref = expected if ctx == ASLEEP else rest_expected
            dv = v - ref
            # the threshold is at least delta_bpm: nearer the baseline nothing can hit
            near = dv < self._abrupt_delta and dv > -self._abrupt_delta
            if (rest_like and not near) or s[R_ABRUPT] >= 0.0 or tracks:
                flagged = self._abrupt(r, d, out, ctx, ref, sd, warm, not near) or flagged

        # HR decoupled from activity: high at rest, or no rise during exercise
        # (high at rest needs a rest excess; no rise needs an exercise bout)
        if self._decoupling_on and (
            (ctx == REST and v - rest_expected >= self._rest_excess_bpm)
            or (ctx == ACTIVE and s[ACT_START] >= 0.0)
            or s[R_HIGHREST] >= 0.0
            or tracks
        ):
            flagged = self._decoupling(r, d, out, ctx, rest_expected) or flagged

        # stuck sensor (data quality): flatline.update and flatline.active, inlined
        if s[FL + _FL_COUNT] > 0.0 and v == s[FL]:
            n = s[FL + _FL_COUNT] + 1.0
            s[FL + _FL_COUNT] = n
            s[FL + _FL_LAST] = t
            stuck = n >= self._flatline_n and t - s[FL + _FL_START] >= self._flatline_ms
        else:
            s[FL] = v
            s[FL + _FL_START] = t
            s[FL + _FL_LAST] = t
            s[FL + _FL_COUNT] = 1.0
            # a run of one reading spanning 0 ms (never, with a valid config)
            stuck = self._flatline_n <= 1.0 and self._flatline_ms <= 0.0
        if stuck:
            book.active(
                did, tracks, _K_FLATLINE, ts, int(s[FL + flatline.START]), "info", v, True, out
            )
            flagged = True
        elif tracks and _K_FLATLINE in tracks:
            book.inactive(did, tracks, _K_FLATLINE, ts, out, 0)
        if tracks:
            if _K_OFF_WRIST in tracks:
                book.resolve(did, tracks, _K_OFF_WRIST, ts, out, end_ms=ts)
            if _K_DROPOUT in tracks:
                book.resolve(did, tracks, _K_DROPOUT, ts, out, end_ms=ts)
        s[SINCE_HR_STEPS] = s[SINCE_HR_STAGES] = s[WORN_SINCE] = 0.0

        # aggregates: the night, the hour
        if ctx == ASLEEP:
            if s[SS_START] >= 0.0:
                s[SS_HR_SUM] += v
                s[SS_HR_N] += 1.0
            s[H_ASLEEP_N] += 1.0
        s[H_HR_N] += 1.0

        # learn (prequential: after scoring), never from a flagged reading
        max_dt = self._max_dt_ms
        dt = t - fast_t if fast_t >= 0.0 else max_dt
        if dt > max_dt:
            dt = max_dt
        if not flagged:
            # ewz.learn_timed(s, o, v, dt, tau_ms, prior_ms), inlined
            n = learned + dt
            s[o + _N] = n if n < 1e15 else 1e15
            a = dt / (n + self._prior_ms)
            if a < dt / self._tau_ms:
                a = dt / self._tau_ms
            if not a < 1.0:
                a = 1.0
            dev = v - mean
            inc = a * dev
            mean += inc
            s[o] = mean
            s[o + _VAR] = (1.0 - a) * (var + dev * inc)
            if ctx == REST:  # o is B_REST: ``mean`` is the rest baseline just learned
                w = dt / self._circadian_tau_ms
                s[circ] = offset + (w if w < 1.0 else 1.0) * ((v - mean) - offset)
        # ~1 min EW of the raw level (learned even when flagged: it tracks "now")
        if fast_t < 0.0:
            s[HR_FAST] = v
        else:
            af = dt / 60_000.0
            s[HR_FAST] = fast + (1.0 if af > 1.0 else af) * (v - fast)
        s[HR_FAST_T] = t
        return Scored(did, ts, r.metric, v, abs(z), expected, flagged)

    def _tachycardia(
        self, r: Reading, d: Device, out: list[AlertEvent], ctx: int, rest_expected: float
    ) -> bool:
        """Sustained tachycardia while inactive; True if this reading hits the rule."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        tracks = d.tracks
        tc = self._c.tachycardia
        h = (
            ctx <= STILL
            and v > self._tachy_low
            and sustain.hit(s, R_TACHY, v, tc.threshold, tc.hysteresis, tc.sustain_ms, True)
        )
        # a run counts from when the rate was high *and* the wearer still, whichever is
        # later (not from when "still" was confirmed, minutes later)
        if v > tc.threshold:
            if s[HIGH_SINCE] < 0 or ts - s[HIGH_LAST] > tc.grace_ms:
                s[HIGH_SINCE] = ts
            s[HIGH_LAST] = ts
        if (h or s[R_TACHY] >= 0) and sustain.update(
            s,
            R_TACHY,
            ts,
            h,
            v,
            tc.sustain_ms,
            tc.grace_ms,
            True,
            max(s[HIGH_SINCE], s[QUIET_SINCE]) if ctx != ASLEEP else s[HIGH_SINCE],
        ):
            peak = s[R_TACHY + sustain.PEAK]
            sev: Severity = "critical" if pulse_score(peak) >= 3 else "warning"
            self._book.active(
                r.device_id,
                tracks,
                _K_TACHYCARDIA_AT_REST,
                ts,
                int(s[R_TACHY]),
                sev,
                v,
                True,
                out,
                baseline=_r1(rest_expected),
                context=CONTEXT_TEXT[ctx],
            )
        elif _K_TACHYCARDIA_AT_REST in tracks:
            self._book.inactive(r.device_id, tracks, _K_TACHYCARDIA_AT_REST, ts, out)
        return h

    def _bradycardia(
        self, r: Reading, d: Device, out: list[AlertEvent], ctx: int, expected: float
    ) -> bool:
        """Sustained bradycardia, any context; True if this reading hits the rule."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        tracks = d.tracks
        bc = self._c.bradycardia
        h = v < self._brady_high and sustain.hit(
            s, R_BRADY, v, bc.threshold, bc.hysteresis, bc.sustain_ms, False
        )
        if (h or s[R_BRADY] >= 0) and sustain.update(
            s, R_BRADY, ts, h, v, bc.sustain_ms, bc.grace_ms, False
        ):
            low = s[R_BRADY + sustain.PEAK]
            # NEWS2 pulse <= 40 scores 3; asleep, a low rate is often physiological
            sev: Severity = "critical" if (ctx != ASLEEP or low <= 35) else "warning"
            self._book.active(
                r.device_id,
                tracks,
                _K_BRADYCARDIA,
                ts,
                int(s[R_BRADY]),
                sev,
                v,
                False,
                out,
                baseline=_r1(expected),
                context=CONTEXT_TEXT[ctx],
            )
        elif _K_BRADYCARDIA in tracks:
            self._book.inactive(r.device_id, tracks, _K_BRADYCARDIA, ts, out)
        return h

    def _abrupt(
        self,
        r: Reading,
        d: Device,
        out: list[AlertEvent],
        ctx: int,
        ref: float,
        sd: float,
        warm: bool,
        far: bool,
    ) -> bool:
        """Abrupt change from ``ref``, the baseline of the context; ``far``: at least
        ``delta_bpm`` from it. True if this reading hits the rule."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        tracks = d.tracks
        ab = self._c.abrupt
        h = ctx <= STILL and far and self._abrupt_hit(s, ts, v, ctx, ref, sd, warm)
        if (
            (h or s[R_ABRUPT] >= 0)
            and sustain.update(s, R_ABRUPT, ts, h, v, ab.sustain_ms, ab.grace_ms, v > ref)
            and s[ABRUPT_OK] == 1.0
        ):
            sev: Severity = "warning" if pulse_score(v) >= 2 else "info"
            self._book.active(
                r.device_id,
                tracks,
                _K_ABRUPT_HR_CHANGE,
                ts,
                int(s[R_ABRUPT]),
                sev,
                v,
                v > ref,
                out,
                baseline=_r1(ref),
                context=CONTEXT_TEXT[ctx],
            )
        elif _K_ABRUPT_HR_CHANGE in tracks:
            self._book.inactive(r.device_id, tracks, _K_ABRUPT_HR_CHANGE, ts, out)
        return h

    def _abrupt_hit(
        self, s: array[float], ts: int, v: float, ctx: int, ref: float, sd: float, warm: bool
    ) -> bool:
        """Whether ``v`` (resting or asleep, at least ``delta_bpm`` from ``ref``) is an abrupt
        change; a hit that starts a new run records whether the run began with a jump."""
        ab = self._c.abrupt
        if ctx == ASLEEP:
            ref_sd, ref_warm = sd, warm
        else:
            ref_sd = max(math.sqrt(s[B_REST + ewz.VAR]), self._hr_sd_floor)
            ref_warm = s[B_REST + ewz.N] >= self._warmup_ms
        if not ref_warm:
            return False
        thr = max(ab.delta_bpm, ab.z * ref_sd)
        h = abs(v - ref) >= thr
        m = ab.defer_margin_bpm
        if (
            h
            and m is not None
            and not (self._c.bradycardia.threshold <= v <= self._tachy_threshold + m)
        ):
            h = False  # clearly tachycardic or bradycardic: those rules own it
        if h and (s[R_ABRUPT] < 0 or ts - s[R_ABRUPT + sustain.LAST_HIT] > ab.grace_ms):
            # a new run: abrupt only if it began with a jump after the last exercise (recovery
            # and motion artefacts of a workout are not abrupt changes)
            jump = s[JUMP_T] if v > ref else s[JUMP_DOWN_T]  # same direction only
            fresh = 0 <= ts - jump <= ab.onset_ms and jump > s[ACT_LAST]
            s[ABRUPT_OK] = 1.0 if fresh else 0.0
        return h

    def _decoupling(
        self, r: Reading, d: Device, out: list[AlertEvent], ctx: int, rest_expected: float
    ) -> bool:
        """HR decoupled from activity (high at rest, or no rise during exercise); True if the
        condition holds at this reading (the reading is flagged)."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        did = r.device_id
        tracks = d.tracks
        book = self._book
        dc = self._c.decoupling
        rest_warm = s[B_REST + ewz.N] >= self._warmup_ms
        h = (
            ctx == REST
            and rest_warm
            and v - rest_expected >= dc.rest_excess_bpm
            and v <= self._tachy_threshold
        )
        high = (h or s[R_HIGHREST] >= 0) and sustain.update(
            s, R_HIGHREST, ts, h, v, dc.rest_sustain_ms, 2 * _MIN, True
        )
        norise = False
        if ctx == ACTIVE and s[ACT_START] >= 0:
            if ts - s[ACT_START] >= 3 * _MIN:
                s[ACT_HR_SUM] += v
                s[ACT_HR_N] += 1.0
            if (
                ts - s[ACT_START] >= dc.exercise_min_ms
                and s[ACT_HR_N] >= 3
                and rest_warm
                and s[ACT_HR_SUM] / s[ACT_HR_N] < s[B_REST] + dc.min_rise_bpm
            ):
                norise = True
        if high or norise:
            detail = (
                f"Heart rate stayed near the resting baseline ({_g1(s[B_REST])} bpm) during "
                f"exercise (mean {_g1(s[ACT_HR_SUM] / max(s[ACT_HR_N], 1))} bpm at about "
                f"{round(s[ACT_CAD_SUM] / max(s[ACT_CAD_N], 1))} steps/min)."
                if norise
                else f"Heart rate at least {round(dc.rest_excess_bpm)} bpm above the personal "
                f"resting baseline ({_g1(rest_expected)} bpm) while at rest."
            )
            start = int(s[ACT_START]) if norise else int(s[R_HIGHREST])
            t = tracks.get(_K_HR_ACTIVITY_DECOUPLING)
            book.active(
                did,
                tracks,
                _K_HR_ACTIVITY_DECOUPLING,
                ts,
                start,
                "info",
                v,
                not norise,
                out,
                baseline=_r1(rest_expected),
                context=CONTEXT_TEXT[ctx],
                detail=detail if t is None or not t.is_open else "",
            )
            return True
        if _K_HR_ACTIVITY_DECOUPLING in tracks:
            book.inactive(did, tracks, _K_HR_ACTIVITY_DECOUPLING, ts, out)
        return False

    # -- SpO2 --------------------------------------------------------------------------------

    def _spo2(self, r: Reading, d: Device, out: list[AlertEvent]) -> Scored:
        s = d.s
        ts = r.ts_ms
        v = r.value
        did = r.device_id
        cfg = self._c
        b = cfg.baseline
        book = self._book
        tracks = d.tracks
        ctx = self._context(s, ts)
        base = s[B_SPO2]
        z = ewz.zscore(s, B_SPO2, v, b.spo2_sd_floor)
        score = -z if z < 0 else 0.0  # only low saturation is anomalous
        warm = s[B_SPO2 + ewz.N] >= b.warmup_ms
        flagged = warm and score >= b.flag_z

        lc = cfg.low_spo2
        if lc.enabled:
            h = v < lc.threshold + lc.hysteresis and sustain.hit(
                s, R_LOWSPO2, v, lc.threshold, lc.hysteresis, lc.sustain_ms, False
            )
            flagged = flagged or h
            if (h or s[R_LOWSPO2] >= 0) and sustain.update(
                s, R_LOWSPO2, ts, h, v, lc.sustain_ms, lc.grace_ms, False
            ):
                low = s[R_LOWSPO2 + sustain.PEAK]
                # NEWS2 SpO2 scale 1 scores 3 at <= 91 %; a wrist sensor is noisier than a
                # ward oximeter, so only a deep drop is critical
                sev: Severity = (
                    "critical" if low <= 85 else "warning" if spo2_score(low) >= 3 else "info"
                )
                book.active(
                    did,
                    tracks,
                    K.LOW_SPO2,
                    ts,
                    int(s[R_LOWSPO2]),
                    sev,
                    v,
                    False,
                    out,
                    baseline=_r1(base),
                    context=CONTEXT_TEXT[ctx],
                )
            elif K.LOW_SPO2 in tracks:
                book.inactive(did, tracks, K.LOW_SPO2, ts, out)

        dc = cfg.desaturation
        if dc.enabled:
            counted = desaturation.update(s, DS, ts, v, base, dc.drop, dc.min_episode_ms)
            if counted:
                if s[DS_LAST_EP] < 0 or ts - s[DS_LAST_EP] > dc.quiet_ms:
                    s[DS_CLUSTER] = 0.0
                    s[DS_FIRST_EP] = s[DS + desaturation.START]
                s[DS_CLUSTER] += 1.0
                s[DS_LAST_EP] = ts
                if ctx == ASLEEP and s[SS_START] >= 0:
                    s[SS_DESATS] += 1.0
            ongoing = desaturation.in_episode(s, DS)
            if ongoing:
                flagged = True
            # one long drop counts only above the low-SpO2 threshold (below it is low_spo2's)
            long_ep = (
                ongoing
                and ts - s[DS + desaturation.START] >= dc.long_episode_ms
                and s[DS + desaturation.MIN] >= lc.threshold
            )
            low_open = K.LOW_SPO2 in tracks and tracks[K.LOW_SPO2].is_open
            if (long_ep or (counted and s[DS_CLUSTER] >= dc.min_episodes)) and not low_open:
                start = int(s[DS + desaturation.START]) if long_ep else int(s[DS_FIRST_EP])
                n = int(s[DS_CLUSTER]) + (1 if long_ep and not counted else 0)
                odi = s[LAST_ODI]
                sev = "warning" if (odi >= dc.odi_warning or v <= 88) else "info"
                book.active(
                    did,
                    tracks,
                    _K_DESATURATION,
                    ts,
                    start,
                    sev,
                    v,
                    False,
                    out,
                    baseline=_r1(base),
                    context=CONTEXT_TEXT[ctx],
                    detail=f"{n} episode(s) in this cluster"
                    + (f"; last night's desaturation index {odi:.1f}/h." if odi >= 0 else "."),
                )
            elif _K_DESATURATION in tracks and not ongoing:
                book.inactive(did, tracks, _K_DESATURATION, ts, out, dc.quiet_ms)

        if not flagged and not desaturation.in_episode(s, DS):
            prev = self._prev_metric_ts
            dt = ts - prev if 0 <= prev < ts else b.max_dt_ms
            ewz.learn_timed(s, B_SPO2, v, min(dt, b.max_dt_ms), b.tau_ms, b.prior_ms)
        return Scored(did, ts, r.metric, v, score, base, flagged)

    # -- steps and sleep stages --------------------------------------------------------------

    def _steps(self, r: Reading, d: Device, out: list[AlertEvent]) -> None:
        s = d.s
        ts = r.ts_ms
        a = self._c.activity
        interval = (r.interval_s or 60.0) * 1000.0
        cadence = r.value * 60_000.0 / interval
        s[CADENCE] = cadence
        if s[T_FIRST_STEPS] < 0:
            s[T_FIRST_STEPS] = ts - interval
        if cadence <= a.rest_max_steps_per_min:
            if s[QUIET_SINCE] < 0:
                s[QUIET_SINCE] = ts - interval
        else:
            s[QUIET_SINCE] = -1.0
        # quiet windows over the last minutes (pottering about is still "at rest")
        minute = ts // _MIN
        slot = minute % 10
        now = float(minute)  # float arithmetic with the slots is cheaper, and exact
        s[STEPS_RING + slot] = cadence
        s[RING_MIN + slot] = now
        rest_n = self._rest_minutes
        still_n = self._still_minutes
        sum_rest = sum_still = 0.0
        n_rest = n_still = 0
        for k in range(10):
            age = now - s[RING_MIN + k]
            if 0.0 <= age < rest_n:
                c = s[STEPS_RING + k]
                sum_rest += c
                n_rest += 1
                if age < still_n:
                    sum_still += c
                    n_still += 1
        quiet = self._rest_max_spm
        still = n_still >= still_n - 1 and sum_still <= quiet * n_still
        s[STILL_FLAG] = float(still)
        s[REST_FLAG] = float(still and n_rest >= rest_n - 1 and sum_rest <= quiet * n_rest)
        if cadence >= a.active_min_steps_per_min:
            if s[ACT_START] < 0 or ts - s[ACT_LAST] > 2 * _MIN:
                s[ACT_START] = ts - interval
                s[ACT_HR_SUM] = s[ACT_HR_N] = s[ACT_CAD_SUM] = s[ACT_CAD_N] = 0.0
            s[ACT_LAST] = ts
            s[ACT_CAD_SUM] += cadence
            s[ACT_CAD_N] += 1.0
        elif s[ACT_START] >= 0 and ts - s[ACT_LAST] > 2 * _MIN:
            s[ACT_START] = -1.0
        s[H_STEPS] += r.value
        s[H_STEPS_N] += 1.0
        self._off_wrist_check(r, d, out)

    def _off_wrist_check(self, r: Reading, d: Device, out: list[AlertEvent]) -> None:
        """Other data flows but heart rate stopped: off the wrist (no motion, no sleep staging)
        or an optical dropout (the wearer still moves or sleeps)."""
        s = d.s
        if r.metric is _STEPS:
            # a steps count covers the interval before its timestamp: only count intervals
            # that began after the newest heart rate (the wrist may have moved before it)
            if r.ts_ms - (r.interval_s or 60.0) * 1000.0 >= s[T_HR]:
                s[SINCE_HR_STEPS] += r.value
        else:
            s[SINCE_HR_STAGES] += 1.0
        last_hr = s[T_HR]
        gap = self._c.quality.off_wrist_gap_ms
        # only while data keeps flowing: after a gap of everything it is a dropout
        if last_hr < 0 or r.ts_ms - last_hr < gap or r.ts_ms - self._prev_any >= gap / 2:
            return
        self._off_wrist(r, d, last_hr, gap, out)

    def _off_wrist(
        self, r: Reading, d: Device, last_hr: float, gap: int, out: list[AlertEvent]
    ) -> None:
        """Heart rate has been missing for ``gap`` while other data flows: which is it?"""
        s = d.s
        tracks = d.tracks
        worn = s[SINCE_HR_STEPS] >= 5 or s[SINCE_HR_STAGES] >= 2
        if worn and s[WORN_SINCE] <= 0:
            s[WORN_SINCE] = r.ts_ms
        off = _K_OFF_WRIST in tracks and tracks[_K_OFF_WRIST].is_open
        if off and worn and r.ts_ms - s[WORN_SINCE] < gap:
            return  # put back on: heart rate should follow within minutes
        if worn:
            self._book.resolve(r.device_id, tracks, _K_OFF_WRIST, r.ts_ms, out)
            self._book.active(
                r.device_id,
                tracks,
                _K_DROPOUT,
                r.ts_ms,
                int(last_hr),
                "info",
                None,
                True,
                out,
                detail="No heart rate or SpO2 while the device is worn (it still counts steps "
                "or stages sleep): the optical sensor dropped out (data quality).",
            )
        elif not (_K_DROPOUT in tracks and tracks[_K_DROPOUT].is_open):
            self._book.active(
                r.device_id,
                tracks,
                _K_OFF_WRIST,
                r.ts_ms,
                int(last_hr),
                "info",
                None,
                True,
                out,
                detail="No heart rate and no motion while the device keeps sending: off "
                "the wrist or charging (data quality).",
            )

    def _stage(self, r: Reading, d: Device, out: list[AlertEvent]) -> None:
        s = d.s
        ts = r.ts_ms
        md = self._c.multiday
        stage = r.value
        awake = stage == 0.0
        if s[SS_START] >= 0:
            dt = min(ts - s[SS_LAST], self._c.activity.stage_valid_ms)
            if s[STAGE] == 0.0:
                s[SS_AWAKE] += dt
            else:
                s[SS_ASLEEP] += dt
            if awake:
                if s[SS_AWAKE_SINCE] < 0:
                    s[SS_AWAKE_SINCE] = ts
                elif ts - s[SS_AWAKE_SINCE] >= md.session_wake_ms:
                    s[SS_LAST] = s[SS_AWAKE_SINCE]
                    self._close_night(r.device_id, d, ts, out)
            else:
                if s[SS_AWAKE_SINCE] >= 0 and ts - s[SS_AWAKE_SINCE] >= md.awakening_min_ms:
                    s[SS_AWAKENINGS] += 1.0
                s[SS_AWAKE_SINCE] = -1.0
            if s[SS_START] >= 0:
                s[SS_LAST] = ts
        if s[SS_START] < 0 and not awake:
            self._book.earlier.add(r.device_id)  # a night began: tick() closes it when it ends
            s[SS_START] = ts
            s[SS_LAST] = ts
            s[SS_ASLEEP] = s[SS_AWAKE] = s[SS_AWAKENINGS] = 0.0
            s[SS_HR_SUM] = s[SS_HR_N] = s[SS_DESATS] = 0.0
            s[SS_AWAKE_SINCE] = -1.0
        s[STAGE] = stage
        self._off_wrist_check(r, d, out)

    # -- nights and hours --------------------------------------------------------------------

    def _close_night(self, did: str, d: Device, ts: int, out: list[AlertEvent]) -> None:
        s = d.s
        md = self._c.multiday
        start, end = s[SS_START], s[SS_LAST]
        asleep = s[SS_ASLEEP]
        s[SS_START] = -1.0
        if asleep < md.min_sleep_ms or start - s[T_FIRST] < 10 * _MIN:
            return  # a nap, a fragment, or a night we joined half-way: not a night
        book = self._book
        tracks = d.tracks
        hours = asleep / _HOUR
        eff = asleep / max(end - start, 1.0)
        awk = s[SS_AWAKENINGS]
        s[LAST_ODI] = s[SS_DESATS] / hours
        span, floor = md.baseline_nights, 0.5
        if s[SS_HR_N] >= 10:
            rhr = s[SS_HR_SUM] / s[SS_HR_N]
            base = s[N_RHR]
            consec = nightly.close_night(
                s, N_RHR, rhr, 1, md.rhr_delta_bpm, None, floor, md.min_nights, span, 0.05
            )
            if consec == 1:
                s[RHR_RUN_START] = start
            if consec >= md.rhr_consecutive_nights:
                sev: Severity = (
                    "warning"
                    if consec > md.rhr_consecutive_nights or rhr - base >= 2 * md.rhr_delta_bpm
                    else "info"
                )
                book.active(
                    did,
                    tracks,
                    _K_ELEVATED_RESTING_HR,
                    ts,
                    int(s[RHR_RUN_START]),
                    sev,
                    _r1(rhr),
                    True,
                    out,
                    baseline=_r1(base),
                    context="asleep",
                    detail=f"Nightly resting heart rate {_g1(rhr)} bpm, at least "
                    f"{_g1(md.rhr_delta_bpm)} bpm above the ~{span}-night personal baseline of "
                    f"{_g1(base)} bpm, for {consec} consecutive nights (an early illness sign).",
                )
            elif consec == 0:
                book.resolve(did, tracks, _K_ELEVATED_RESTING_HR, ts, out, end_ms=int(start))
        # sleep disruption: one measure far off, or two of them clearly off
        z = md.sleep_z
        b_dur, b_eff, b_awk = s[N_DUR], s[N_EFF], s[N_AWK]
        checks = (
            (N_DUR, hours, -1, md.sleep_duration_delta_h, 0.5),
            (N_EFF, eff, -1, md.sleep_efficiency_delta, 0.03),
            (N_AWK, awk, 1, md.sleep_awakenings_delta, 1.0),
        )
        lf = md.sleep_loose_factor
        strict = loose = 0
        for o, x, sign, delta, floor_ in checks:
            strict += nightly.abnormal(s, o, x, sign, delta, z, floor_, md.min_nights)
            loose += nightly.abnormal(s, o, x, sign, delta * lf, z * lf, floor_, md.min_nights)
        if strict or loose >= 2:
            s[SLEEP_CONSEC] += 1.0
            if s[SLEEP_CONSEC] == 1.0:
                s[SLEEP_RUN_START] = start
        else:
            s[SLEEP_CONSEC] = 0.0
            for o, x, _, _, _ in checks:
                ewz.learn(s, o, x, 2.0 / (span + 1.0), 0.5)
        if s[SLEEP_CONSEC] >= md.sleep_consecutive_nights:
            book.active(
                did,
                tracks,
                _K_SLEEP_DISRUPTION,
                ts,
                int(s[SLEEP_RUN_START]),
                "info",
                _r1(hours),
                False,
                out,
                baseline=_r1(b_dur),
                context="asleep",
                detail=f"Sleep disrupted for {int(s[SLEEP_CONSEC])} consecutive nights: last "
                f"night {hours:.1f} h asleep (personal baseline {b_dur:.1f} h), efficiency "
                f"{eff:.0%} (baseline {b_eff:.0%}), {int(awk)} awakenings (baseline "
                f"{b_awk:.1f}).",
            )
        elif s[SLEEP_CONSEC] == 0:
            book.resolve(did, tracks, _K_SLEEP_DISRUPTION, ts, out, end_ms=int(start))

    def _close_hour(self, did: str, d: Device, hour: int, ts: int, out: list[AlertEvent]) -> None:
        """Judge the finished hour against the person's usual steps for that hour of day.

        Only hours worn and awake are judged; usually quiet hours neither extend nor break a
        run of unusual hours, a usually active hour back to a third of its usual ends it.
        """
        s = d.s
        ic = self._c.inactivity
        cur = int(s[H_CUR])
        worn = s[H_HR_N] >= 5 and s[H_STEPS_N] >= 30 and s[H_ASLEEP_N] * 2 < s[H_HR_N]
        if s[H_RUN] > 0 and cur - s[H_RUN_LAST] > 12:
            s[H_RUN] = 0.0  # too long without evidence either way
        if cur >= 0 and worn:
            hod = cur % 24
            total = s[H_STEPS]
            usual = hourly.usual(s, HP, hod)
            if ic.enabled and hourly.unusual(
                s, HP, hod, total, ic.usual_active_steps_per_hour, ic.fraction, ic.min_days
            ):
                if s[H_RUN] == 0:
                    s[H_RUN_START] = cur * _HOUR
                    s[H_RUN_STEPS] = s[H_RUN_USUAL] = 0.0
                s[H_RUN] += 1.0
                s[H_RUN_LAST] = cur
                s[H_RUN_STEPS] += total
                s[H_RUN_USUAL] += usual
                if s[H_RUN] >= ic.consecutive_hours:
                    n = s[H_RUN]
                    self._book.active(
                        did,
                        d.tracks,
                        _K_UNUSUAL_INACTIVITY,
                        ts,
                        int(s[H_RUN_START]),
                        "warning",
                        _r1(s[H_RUN_STEPS] / n),
                        False,
                        out,
                        baseline=_r1(s[H_RUN_USUAL] / n),
                        context="awake and wearing the device",
                        detail=f"About {round(s[H_RUN_STEPS] / n)} steps/hour over {int(n)} "
                        f"hours that usually see about {round(s[H_RUN_USUAL] / n)} steps/hour.",
                    )
            else:
                hourly.learn(s, HP, hod, total, 28)
                if (
                    s[H_RUN] > 0
                    and usual >= ic.usual_active_steps_per_hour
                    and (total >= 3 * ic.fraction * usual)
                ):
                    s[H_RUN] = 0.0
                    self._book.resolve(
                        did, d.tracks, _K_UNUSUAL_INACTIVITY, ts, out, end_ms=cur * _HOUR
                    )
        s[H_CUR] = hour
        s[H_STEPS] = s[H_STEPS_N] = s[H_HR_N] = s[H_ASLEEP_N] = 0.0

    # -- time-driven events ------------------------------------------------------------------

    def tick(self, now_ms: int, devices: Iterable[str] | None = None) -> list[AlertEvent]:
        """Deadman and staleness at event time ``now_ms``.

        Opens ``device_silent`` for roster devices and (if configured) every device seen before
        that has sent nothing for longer than its limit; resolves open alerts whose condition
        has not been observable for ``stale_ms``; closes nights whose sleep data stopped.

        ``devices`` limits the tick to those devices (a daemon ticks each Kafka partition's
        devices on that partition's own clock); by default every device seen and every roster
        device. Only devices that are due are visited, in sorted order, so the output is
        deterministic and a tick costs little when nothing is due. The devices whose state it
        changed are left in :attr:`tick_touched`, so a caller that persists state per device
        snapshots them again.
        """
        out: list[AlertEvent] = []
        touched = self.tick_touched = set()
        dm = self._c.deadman
        roster = dm.roster
        known = self._devices
        if devices is None:
            devices = known.keys() | roster.keys()
        due = self._due
        earlier = self._book.earlier
        every = self._tick_every_device
        visit = sorted(
            did
            for did in devices
            if (every or due.get(did, -1.0) <= now_ms or did in earlier)
            and (did in roster or (dm.watch_seen_devices and did in known))
        )
        for did in visit:
            self._tick_device(did, now_ms, out, touched)
            earlier.discard(did)
            due[did] = self._next_due(did, now_ms)
        return out

    def _tick_device(self, did: str, now_ms: int, out: list[AlertEvent], touched: set[str]) -> None:
        ac = self._c.alerts
        d = self._device(did)
        s = d.s
        if s[T_ANY] < 0 and s[T_WATCH] < 0:
            s[T_WATCH] = now_ms  # a roster device never seen: watch from now
            touched.add(did)
        last = s[T_ANY] if s[T_ANY] >= 0 else s[T_WATCH]
        tracks = d.tracks
        if now_ms - last >= self._silent_limit(did):
            self._book.active(
                did, tracks, _K_DEVICE_SILENT, now_ms, int(last), "warning", None, True, out
            )
            touched.add(did)
        if s[SS_START] >= 0 and now_ms - s[SS_LAST] > self._c.multiday.session_gap_ms:
            self._close_night(did, d, now_ms, out)
            touched.add(did)
        for kind in sorted(tracks):
            t = tracks[kind]
            if not t.is_open or t.kind in _NOT_STALE:
                continue
            limit = ac.multiday_stale_ms if t.kind in _MULTIDAY else ac.stale_ms
            slot = _KIND_METRIC.get(t.kind)
            seen = s[slot] if slot is not None else s[T_ANY]
            if now_ms - t.last_active >= limit and now_ms - seen >= limit // 2:
                touched.add(did)
                self._book.resolve(
                    did,
                    tracks,
                    t.kind,
                    now_ms,
                    out,
                    end_ms=t.last_active,
                    detail="No longer observable: its data stopped.",
                )

    def _next_due(self, did: str, now_ms: int) -> float:
        """The earliest event time at which :meth:`_tick_device` could change ``did`` again,
        unless its readings move a deadline earlier (the alert book then lists it)."""
        d = self._devices[did]
        s = d.s
        tracks = d.tracks
        silent = tracks.get(_K_DEVICE_SILENT)
        if silent is not None and silent.is_open:
            return now_ms + 1  # every tick: the open alert's heartbeat and severity
        last = s[T_ANY] if s[T_ANY] >= 0 else s[T_WATCH]
        due = last + self._silent_limit(did)
        if s[SS_START] >= 0:
            due = min(due, s[SS_LAST] + self._c.multiday.session_gap_ms)
        ac = self._c.alerts
        for t in tracks.values():
            if not t.is_open or t.kind in _NOT_STALE:
                continue
            limit = ac.multiday_stale_ms if t.kind in _MULTIDAY else ac.stale_ms
            slot = _KIND_METRIC.get(t.kind)
            seen = s[slot] if slot is not None else s[T_ANY]
            due = min(due, max(t.last_active + limit, seen + limit // 2))
        return due


def _plain(m: BaseModel) -> SimpleNamespace:
    """A plain-attribute copy of a (nested) pydantic model."""
    return SimpleNamespace(
        **{k: _plain(v) if isinstance(v, BaseModel) else v for k, v in m.__dict__.items()}
    )


def _r1(x: float) -> float:
    return round(x, 1)


def _g1(x: float) -> str:
    return f"{x:.1f}"
