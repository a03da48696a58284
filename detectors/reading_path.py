# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=False
# cython: initializedcheck=False, infer_types=False, annotation_typing=False
"""The per-reading path: data quality, routing by metric, context, heart-rate scoring and learning.

One source, two builds. This plain Python module is what :class:`detectors.engine.Engine` runs
with ``compiled=False`` (or when no C compiler was available at install time); the install also
compiles *this same file* with Cython, typed by the augmenting declarations in
``reading_path.pxd`` (pure-Python mode: the ``.pxd`` adds C types, the code stays Python), and
that build runs by default. Python floats are IEEE-754 doubles and the extension is compiled with
``-ffp-contract=off`` (no fused multiply-adds), so both builds compute the same bits;
``tests/detectors/test_fastpath.py`` checks it on simulated fleets and on hypothesis streams with
randomised :class:`detectors.config.EngineConfig` values.

Only what nearly every reading does lives here: a heart-rate reading is a few dozen float
operations on the device's slot array, and the interpreter overhead around them is most of
their cost. Every rule runs in its own module (:mod:`detectors.kinds`), called from here when a
cheap guard says its outcome can differ from "nothing happens"; so do the rare events (clock
jumps, gaps, nights and hours closing, the SpO2 rules, the off-wrist decision).

Coding rules for this file (so that the compiled build stays bit-identical): a reading's value
is passed on as the object it came in (``v_o``: an int stays an int in the alerts), its event
time as the integer ``its`` (compiled: a C integer, made a Python int only where a module or an
alert gets it), arithmetic uses their float copies (``v``, ``t``); ``math`` means C's
``libc.math`` in the compiled build, so only ``math.sqrt`` of a checked non-negative number is
used.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from detectors.alerts import Track
from detectors.kinds.base import ACTIVE, ASLEEP, HOUR, LIGHT, MIN, REST, STILL
from detectors.layout import StateLayout
from detectors.types import AlertEvent, Scored
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import METRICS, Metric

_HR, _SPO2, _STEPS, _STAGE = Metric.HEART_RATE, Metric.SPO2, Metric.STEPS, Metric.SLEEP_STAGE
# enum members as module constants: ``K.NAME`` costs ~100 ns per lookup on the hot path
_K_IMPOSSIBLE_VALUE, _K_CLOCK_SKEW, _K_DEVICE_SILENT = (
    K.IMPOSSIBLE_VALUE,
    K.CLOCK_SKEW,
    K.DEVICE_SILENT,
)
_K_FLATLINE, _K_OFF_WRIST, _K_DROPOUT = K.FLATLINE, K.OFF_WRIST, K.DROPOUT
# the heart-rate rules' own kinds: a rule is called for a track of its own kind only (a device
# keeps resolved tracks of other kinds, and calling four modules per reading for them costs more
# than the rest of the reading)
_K_TACHY, _K_BRADY, _K_ABRUPT, _K_DECOUPLING = (
    K.TACHYCARDIA_AT_REST,
    K.BRADYCARDIA,
    K.ABRUPT_HR_CHANGE,
    K.HR_ACTIVITY_DECOUPLING,
)
# the SpO2 rules' kinds: their module is called only when one of them can act
_K_LOW_SPO2, _K_DESATURATION = K.LOW_SPO2, K.DESATURATION
_METRIC_ORDER = (_HR, _SPO2, _STEPS, _STAGE)
# a bit per kind whose track the path looks for, and the same shifted by _OPEN while it is open:
# one pass over a device's few tracks (usually one: a resolved off-wrist episode) costs less
# than a dictionary lookup per rule, and a heart-rate reading made up to ten of them
_B_IMPOSSIBLE, _B_SILENT, _B_FLATLINE, _B_OFF_WRIST, _B_DROPOUT, _B_TACHY = 1, 2, 4, 8, 16, 32
_B_BRADY, _B_ABRUPT, _B_DECOUPLING, _B_LOW_SPO2, _B_DESATURATION = 64, 128, 256, 512, 1024
_OPEN = 11
_KIND_BITS: dict[str, int] = {
    _K_IMPOSSIBLE_VALUE: _B_IMPOSSIBLE,
    _K_DEVICE_SILENT: _B_SILENT,
    _K_FLATLINE: _B_FLATLINE,
    _K_OFF_WRIST: _B_OFF_WRIST,
    _K_DROPOUT: _B_DROPOUT,
    _K_TACHY: _B_TACHY,
    _K_BRADY: _B_BRADY,
    _K_ABRUPT: _B_ABRUPT,
    _K_DECOUPLING: _B_DECOUPLING,
    _K_LOW_SPO2: _B_LOW_SPO2,
    _K_DESATURATION: _B_DESATURATION,
}
_BLOCK_MS = 4 * HOUR  # the circadian rest offsets have one slot per 4 hours of the day
# a Reading's fields in one C call, in declaration order (see _FIELDS): five to seven attribute
# lookups on a Struct cost about a quarter of a compiled reading's time
_as_tuple = msgspec.structs.astuple
_FIELDS = ("device_id", "ts_ms", "metric", "value", "interval_s", "seq", "utc_offset_min")
_MIN = MIN
_HOUR = HOUR


class Device:
    """State of one device: the slot array ``s``, the alert tracks by kind and the modules'
    per-day models by module name (River objects, judged per night: never per reading)."""

    def __init__(
        self, s: array[float], tracks: dict[str, Track], models: dict[str, Any] | None = None
    ) -> None:
        self.s = s
        self.tracks = tracks
        self.models = {} if models is None else models
        self.v = s  # compiled: a typed view of the same memory, made once per device


def fields_of(r: Any) -> tuple[Any, ...]:
    """The fields of a reading that is not exactly a :class:`Reading` (a subclass, or any
    object with its attributes), as :func:`msgspec.structs.astuple` gives a Reading's. The
    path never reads ``seq``: an object without it is a reading all the same."""
    return tuple(getattr(r, name) if name != "seq" else getattr(r, name, None) for name in _FIELDS)


class ReadingPath:
    """Runs :meth:`Engine.process` for one engine: see the module docstring.

    ``rules`` holds the modules' entry points the path calls (bound methods, by role).
    """

    def __init__(
        self,
        cfg: Any,
        layout: StateLayout,
        devices: dict[str, Device],
        new_device: Callable[[str], Device],
        rules: dict[str, Any],
    ) -> None:
        at = layout.offsets
        self.devices = devices
        self.new_device = new_device
        self.rules = rules
        self.impossible = rules["impossible"]
        self.behind = rules["behind"]
        self.gap = rules["gap"]
        self.close_night = rules["close_night"]
        self.close_hour = rules["close_hour"]
        self.presence = rules["presence"]
        self.spo2 = rules["spo2"]
        self.off_wrist = rules["off_wrist"]
        self.hr_back = rules["hr_back"]
        self.tachycardia = rules["tachycardia"]
        self.bradycardia = rules["bradycardia"]
        self.abrupt = rules["abrupt"]
        self.decoupling = rules["decoupling"]
        book = rules["book"]
        self.earlier = book.earlier
        self.book_active = book.active
        self.book_inactive = book.inactive
        self.book_resolve = book.resolve
        # slot offsets
        self.T_FIRST = at["device.first"]
        self.T_ANY = at["device.newest"]
        self.T_HR = at["device.newest_heart_rate"]
        self.T_STEPS = at["device.newest_steps"]
        self.T_STAGE = at["device.newest_sleep_stage"]
        self.INTERVAL = at["device.interval"]
        self.N_READINGS = at["device.readings"]
        self.N_DUP = at["device.duplicates"]
        self.N_OOO = at["device.out_of_order"]
        self.N_LATE = at["device.late"]
        self.UTC_OFFSET = at["local_time.utc_offset_ms"]
        self.OFFSET_FROM_READING = at["local_time.from_reading"]
        self.BEHIND_RUN = at["clock_skew.behind_run"]
        self.SKEW_OFFSET = at["clock_skew.offset"]
        self.T_FIRST_STEPS = at["activity.first_steps"]
        self.STEPS_RING = at["activity.steps_ring"]
        self.RING_MIN = at["activity.ring_minute"]
        self.REST_FLAG = at["activity.rest"]
        self.STILL_FLAG = at["activity.still"]
        self.CADENCE = at["activity.cadence"]
        self.STAGE = at["activity.stage"]
        self.QUIET_SINCE = at["activity.quiet_since"]
        self.ACT_START = at["activity.bout_start"]
        self.ACT_LAST = at["activity.bout_last"]
        self.ACT_HR_SUM = at["activity.bout_hr_sum"]
        self.ACT_HR_N = at["activity.bout_hr_n"]
        self.ACT_CAD_SUM = at["activity.bout_cadence_sum"]
        self.ACT_CAD_N = at["activity.bout_cadence_n"]
        self.B_SLEEP = at["heart_rate.asleep"]
        self.B_REST = at["heart_rate.rest"]
        self.B_ACTIVE = at["heart_rate.active"]
        self.CIRC = at["heart_rate.circadian"]
        self.HR_FAST = at["heart_rate.fast"]
        self.HR_FAST_T = at["heart_rate.fast_time"]
        self.B_SPO2 = at["spo2.baseline"]
        self.R_LOW_SPO2 = at["low_spo2.run"]
        self.DS = at["desaturation.run"]  # start (-1: no episode), lowest, counted, last
        self.R_TACHY = at["tachycardia.run"]
        self.R_BRADY = at["bradycardia.run"]
        self.R_ABRUPT = at["abrupt_hr_change.run"]
        self.JUMP_T = at["abrupt_hr_change.jump_up"]
        self.JUMP_DOWN_T = at["abrupt_hr_change.jump_down"]
        self.JUMP_FROM = at["abrupt_hr_change.jump_up_from"]
        self.JUMP_DOWN_FROM = at["abrupt_hr_change.jump_down_from"]
        self.R_HIGHREST = at["hr_activity_decoupling.run"]
        self.FL = at["flatline.run"]
        self.SS_START = at["sleep_session.start"]
        self.SS_LAST = at["sleep_session.last"]
        self.SS_ASLEEP = at["sleep_session.asleep_ms"]
        self.SS_AWAKE = at["sleep_session.awake_ms"]
        self.SS_AWAKENINGS = at["sleep_session.awakenings"]
        self.SS_AWAKE_SINCE = at["sleep_session.awake_since"]
        self.SS_HR_SUM = at["sleep_session.hr_sum"]
        self.SS_HR_N = at["sleep_session.hr_n"]
        self.SS_DESATS = at["sleep_session.desaturations"]
        self.H_CUR = at["hour.current"]
        self.H_STEPS = at["hour.steps"]
        self.H_STEPS_N = at["hour.steps_n"]
        self.H_HR_N = at["hour.hr_n"]
        self.H_HR_SUM = at["hour.hr_sum"]
        self.H_HR_SQ = at["hour.hr_sq"]
        self.H_ASLEEP_N = at["hour.asleep_n"]
        self.SINCE_HR_STEPS = at["off_wrist.steps_since_hr"]
        self.SINCE_HR_STAGES = at["off_wrist.stages_since_hr"]
        self.WORN_SINCE = at["off_wrist.worn_since"]
        self.HR_BACK_SINCE = at["off_wrist.back_since"]  # -1: heart rate not back
        self.IL_WORN = at["illness.hour_worn"]  # then rest_w, rest_sum, rest_sq
        # per metric number (heart rate, SpO2, steps, stage): the physically possible range
        # and the slot of the metric's newest event time
        newest = (self.T_HR, at["device.newest_spo2"], self.T_STEPS, self.T_STAGE)
        self.LO = [float(METRICS[m].minimum) for m in _METRIC_ORDER]
        self.HI = [float(METRICS[m].maximum) for m in _METRIC_ORDER]
        self.NEWEST = list(newest)
        # thresholds, read once: even on the plain copy an attribute chain costs ~30 ns, and a
        # quiet heart-rate reading needs about 30 of them. Times and counts become floats
        # (exactly): slots are floats, and comparing a float with an int costs about twice as
        # much as with a float
        q, a, b = cfg.quality, cfg.activity, cfg.baseline
        self.skew_ms = float(q.skew_ms)
        self.late_ms = float(q.late_ms)
        self.impossible_clear_ms = q.impossible_clear_ms
        self.dropout_min_gap_ms = float(q.dropout_min_gap_ms)
        self.dropout_factor = float(q.dropout_factor)
        self.flatline_ms = float(q.flatline_ms)
        self.flatline_n = float(q.flatline_min_readings)
        self.flatline_gap_ms = float(q.flatline_max_gap_ms)
        self.off_wrist_gap = q.off_wrist_gap_ms  # an int, passed on as it is
        self.off_wrist_gap_ms = float(q.off_wrist_gap_ms)
        self.session_gap_ms = float(cfg.multiday.session_gap_ms)
        self.session_wake_ms = float(cfg.multiday.session_wake_ms)
        self.awakening_min_ms = float(cfg.multiday.awakening_min_ms)
        self.stage_valid_ms = float(a.stage_valid_ms)
        self.steps_valid_ms = float(a.steps_valid_ms)
        self.rest_max_spm = float(a.rest_max_steps_per_min)
        self.active_min_spm = float(a.active_min_steps_per_min)
        self.assume_rest = bool(a.assume_rest_without_steps)
        self.rest_minutes = float(a.rest_min_ms // _MIN)  # windows of the steps ring
        self.still_minutes = float(a.still_min_ms // _MIN)
        self.hr_sd_floor = float(b.hr_sd_floor)
        self.spo2_sd_floor = float(b.spo2_sd_floor)
        self.warmup_ms = float(b.warmup_ms)
        self.flag_z = float(b.flag_z)
        self.max_dt_ms = float(b.max_dt_ms)
        self.tau_ms = float(b.tau_ms)
        self.prior_ms = float(b.prior_ms)
        self.circadian_tau_ms = float(b.circadian_tau_ms)
        tc, bc, ab, dc = cfg.tachycardia, cfg.bradycardia, cfg.abrupt, cfg.decoupling
        self.tachy_on = bool(tc.enabled)
        # below this (the threshold relaxed by the hysteresis) no reading can hit the rule
        self.tachy_low = float(tc.threshold - tc.hysteresis)
        self.tachy_threshold = float(tc.threshold)  # above it the module follows a streak
        self.brady_on = bool(bc.enabled)
        self.brady_high = float(bc.threshold + bc.hysteresis)  # ... and above this, bradycardia
        self.abrupt_on = bool(ab.enabled)
        self.abrupt_delta = float(ab.delta_bpm)
        self.abrupt_jump = float(ab.delta_bpm / 2)
        self.abrupt_grace_ms = float(ab.grace_ms)
        self.decoupling_on = bool(dc.enabled)
        self.rest_excess_bpm = float(dc.rest_excess_bpm)
        lc, ds = cfg.low_spo2, cfg.desaturation
        self.low_spo2_on = bool(lc.enabled)
        # at or above this (the threshold relaxed by the hysteresis) no reading is low
        self.low_spo2_high = float(lc.threshold + lc.hysteresis)
        self.desaturation_on = bool(ds.enabled)
        self.desaturation_drop = float(ds.drop)

    def process(
        self, readings: Sequence[Reading], scored: list[Scored], out: list[AlertEvent]
    ) -> None:
        """Append one :class:`Scored` per reading to ``scored`` and the alert events to ``out``."""
        devices = self.devices
        for r in readings:
            f = _as_tuple(r) if type(r) is Reading else fields_of(r)
            did = f[0]
            d = devices.get(did)
            if d is None:
                d = self.new_device(did)
            scored.append(self.one(r, f, d, out))

    def process_columns(
        self,
        ids: list[str],
        dev: Sequence[int],
        ts: Sequence[int],
        metric: Sequence[int],
        value: Sequence[float],
        interval_s: Sequence[float],
        score: Any,
        baseline: Any,
        flags: Any,
        odd: dict[int, Scored],
        out: list[AlertEvent],
    ) -> None:
        """:meth:`process` of readings given as columns, without a :class:`Reading` or a
        :class:`Scored` per row (see :meth:`detectors.engine.Engine.process_columns`).

        Row ``i`` is ``Reading(ids[dev[i]], ts[i], _METRIC_ORDER[metric[i]], value[i],
        interval_s[i])`` (NaN: no interval). Its score goes to ``score[i]``, ``baseline[i]`` and
        ``flags[i]`` (1: flagged, 2: has a baseline), or, when a rule module made the
        :class:`Scored` (impossible values, late readings), into ``odd[i]``. A rule that
        needs the reading gets it built then.
        """
        devices = self.devices
        n_ids = len(ids)
        # each code's device, looked up once per call: a dictionary lookup per row cost a tenth
        # of the path's time (a list as long as the ids costs less only with as many rows)
        cache = n_ids <= len(ts)
        by_code: list[Device | None] = [None] * n_ids if cache else []
        for i in range(len(ts)):
            k = dev[i]
            mi = metric[i]
            if k < 0 or k >= n_ids or mi < 0 or mi > 3:
                raise IndexError(f"row {i}: device code {k} or metric code {mi} out of range")
            did = ids[k]
            d = by_code[k] if cache else None
            if d is None:
                d = devices.get(did)
                if d is None:
                    d = self.new_device(did)
                if cache:
                    by_code[k] = d
            its = ts[i]
            v = value[i]
            iv_s = interval_s[i]
            interval = 0.0
            if mi == 2:
                # as ``(r.interval_s or 60.0) * 1000.0``, NaN standing for None
                interval = (60.0 if iv_s != iv_s or iv_s == 0.0 else iv_s) * 1000.0
            rare = self.step(None, d, did, its, mi, None, v, interval, iv_s, None, out)
            if rare is None:
                score[i] = self.score_out
                baseline[i] = self.baseline_out
                flags[i] = (1 if self.flagged_out else 0) + (2 if self.has_baseline_out else 0)
            else:
                odd[i] = rare

    def reading(self, did: str, ts: int, mi: int, v_o: float, iv_s: float) -> Reading:
        """The :class:`Reading` of a row of :meth:`process_columns`, for a rule module."""
        return Reading(did, ts, _METRIC_ORDER[mi], v_o, None if iv_s != iv_s else iv_s)

    def value(self, v_o: float | None, v: float) -> float:
        """A reading's value for a module: as it came (``v_o``), or, from a column (None), the
        float ``v`` (compiled: made a Python float only then, not per row)."""
        return v if v_o is None else v_o

    def one(self, r: Reading, f: tuple[Any, ...], d: Device, out: list[AlertEvent]) -> Scored:
        """Score ``r``, whose fields are ``f`` (in :data:`_FIELDS` order), on device ``d``."""
        m = f[2]
        if m is not _HR and m is not _STEPS and m is not _STAGE and m is not _SPO2:
            # a metric given by name: every rule reads ``r.metric`` as a Metric
            m = Metric(m)
            r = msgspec.structs.replace(r, metric=m)
        if m is _HR:
            mi = 0
        elif m is _STEPS:
            mi = 2
        elif m is _STAGE:
            mi = 3
        elif m is _SPO2:
            mi = 1
        else:
            raise ValueError(f"the engine has no route for metric {m.value!r}")
        did = f[0]
        ts = f[1]  # passed on as it came
        v_o = f[3]
        interval = 0.0
        if mi == 2:
            interval = (f[4] or 60.0) * 1000.0
        rare = self.step(r, d, did, ts, mi, v_o, float(v_o), interval, 0.0, f[6], out)
        if rare is not None:
            return rare
        return Scored(
            did,
            ts,
            m,
            v_o,
            self.score_out,
            self.baseline_out if self.has_baseline_out else None,
            self.flagged_out,
        )

    def step(
        self,
        r: Reading | None,
        d: Device,
        did: str,
        its: int,
        mi: int,
        v_o: float | None,
        v: float,
        interval: float,
        iv_s: float,
        uo: int | None,
        out: list[AlertEvent],
    ) -> Scored | None:
        """One reading of metric number ``mi`` (``r``, or its fields when ``r`` is None, built
        only if a rule module needs it). Returns the :class:`Scored` a rule module made, or None
        with the score in ``score_out``, ``baseline_out``, ``flagged_out``, ``has_baseline_out``.
        ``its`` is the event time (compiled: a C integer; a Python int made per row cost more than
        the rare modules' uses), ``v`` is ``float(v_o)`` (``v_o`` None: a column's float, see
        :meth:`value`), ``interval`` the steps interval in ms
        (``iv_s`` its seconds, NaN for none, only for building ``r``), ``uo`` the reading's
        UTC offset in minutes (None: none, or a column's row)."""
        # the event time as a float for the arithmetic on slots: an int-float comparison or
        # subtraction costs about twice as much (exact either way: ts < 2**53)
        t = float(its)
        s = d.v
        s[self.N_READINGS] += 1.0
        if s[self.T_FIRST] < 0.0:
            s[self.T_FIRST] = t
        slot = self.NEWEST[mi]
        if not (self.LO[mi] <= v <= self.HI[mi]) or (mi == 3 and v != math.floor(v)):
            if r is None:
                r = self.reading(did, its, mi, self.value(v_o, v), iv_s)
            return self.impossible(r, d, out)  # type: ignore[no-any-return]
        tracks = d.tracks
        kinds = self.kinds(tracks) if tracks else 0
        if kinds & _B_IMPOSSIBLE:
            self.book_inactive(did, tracks, _K_IMPOSSIBLE_VALUE, its, out, self.impossible_clear_ms)
            kinds = self.kinds(tracks)
        last = s[slot]
        prev = s[self.T_ANY]
        if t <= last or t < prev - self.skew_ms:
            # a duplicate or an out-of-order reading: counted here (most are, and a call into the
            # clock-skew module for each cost a tenth of the path on a fleet with duplicates);
            # only one far enough behind to begin a backward clock jump goes to the module
            jumped = False
            if t == last:
                s[self.N_DUP] += 1.0
            else:
                s[self.N_OOO] += 1.0
                behind = prev - t
                if behind > self.late_ms:
                    s[self.N_LATE] += 1.0
                if behind >= self.skew_ms:
                    if r is None:
                        r = self.reading(did, its, mi, self.value(v_o, v), iv_s)
                    jumped = self.behind(r, d, out)
            if not jumped:
                return self.score_only(d, did, its, mi, self.value(v_o, v), v)
            prev = s[self.T_ANY]  # re-based on the device's new clock
            kinds = self.kinds(tracks)
        else:
            s[self.BEHIND_RUN] = 0.0
        # (columns carry no offset: a replay CSV's times are UTC)
        if uo is not None:
            # the wearer's clock, as the timestamp wrote it: wins over any configured zone
            s[self.UTC_OFFSET] = uo * 60_000.0
            s[self.OFFSET_FROM_READING] = 1.0

        # device-level bookkeeping of an in-order reading: gaps, clock, session, hour
        if prev >= 0.0 and t > prev:
            gap = t - prev
            skew = s[self.SKEW_OFFSET]
            bound = 0.25 * skew
            if bound < 2.0 * _MIN:
                bound = 2.0 * _MIN
            if skew > 0.0 and abs(gap - skew) <= bound:
                # the clock jumped forward again by the amount it lost: corrected, not a gap
                s[self.SKEW_OFFSET] = 0.0
                self.book_resolve(did, tracks, _K_CLOCK_SKEW, its, out)
                kinds = -1  # (a module ran: computed again below)
            elif kinds & (_B_SILENT << _OPEN):
                self.book_resolve(did, tracks, _K_DEVICE_SILENT, its, out, end_ms=its)
                kinds = -1
            elif gap >= self.dropout_min_gap_ms and gap >= self.dropout_factor * s[self.INTERVAL]:
                # the metric that ends it says what the gap was (a sleep log starting: bedtime)
                self.gap(did, d, int(prev), its, gap, _METRIC_ORDER[mi], out)
                kinds = -1
            else:
                # learn the expected interval from ordinary gaps only
                iv = s[self.INTERVAL]
                cap = 10.0 * iv + 1000.0
                s[self.INTERVAL] = iv + 0.05 * ((cap if cap < gap else gap) - iv)
            if s[self.SS_START] >= 0.0 and t - s[self.SS_LAST] > self.session_gap_ms:
                self.close_night(did, d, its, out)
                kinds = -1
            hour = its // _HOUR
            if hour != s[self.H_CUR]:
                old_hour = s[self.H_CUR]
                # closing the hour looks the local offset up again: presence learns local hours
                self.close_hour(did, d, hour, its, out)
                self.presence(d, old_hour, hour, t)
                kinds = -1
        elif prev < 0.0:
            # the first hour: nothing to judge yet; the local-time module sets the offset
            self.close_hour(did, d, its // _HOUR, its, out)
            self.presence(d, -1.0, its // _HOUR, t)
            kinds = -1
        if t > prev:
            s[self.T_ANY] = t
        s[slot] = t

        if kinds < 0:
            kinds = self.kinds(tracks)
        if mi == 0:
            self.heart_rate(r, d, s, tracks, kinds, its, t, v, v_o, did, out)
            return None
        if mi == 1:
            self.spo2_reading(d, s, t, v, last, tracks, kinds, r, did, its, v_o, iv_s, out)
            return None
        if mi == 2:
            self.steps(s, its, t, v, interval)
        else:
            self.stage(d, s, its, t, v, did, out)
        if self.off_wrist_check(s, t, v, mi == 2, interval, prev):
            if r is None:
                r = self.reading(did, its, mi, self.value(v_o, v), iv_s)
            self.off_wrist(r, d, s[self.T_HR], self.off_wrist_gap, out)
        self.score_out = 0.0
        self.baseline_out = 0.0
        self.flagged_out = False
        self.has_baseline_out = False
        return None

    def kinds(self, tracks: dict[str, Track]) -> int:
        """The ``_B_*`` bits of the kinds ``tracks`` holds, each also shifted by ``_OPEN`` while
        its track is open. Valid until a rule module runs (modules add, resolve and drop
        tracks): the path computes it again after calling one."""
        mask = 0
        for kind, t in tracks.items():
            bit = _KIND_BITS.get(kind, 0)
            mask |= bit
            if t.is_open:
                mask |= bit << _OPEN
        return mask

    # -- data quality ------------------------------------------------------------------------

    def score_only(self, d: Device, did: str, its: int, mi: int, v_o: float, v: float) -> Scored:
        """Score a duplicate or out-of-order reading (metric number ``mi``, value ``v_o``,
        ``v == float(v_o)``) without touching any state."""
        s = d.v
        m = _METRIC_ORDER[mi]
        if mi == 0:
            ctx = self.context(s, float(its))
            o = self.B_SLEEP if ctx == ASLEEP else self.B_REST if ctx == REST else self.B_ACTIVE
            floor = self.hr_sd_floor
        elif mi == 1:
            o = self.B_SPO2
            floor = self.spo2_sd_floor
        else:
            return Scored(did, its, m, v_o, 0.0, None, False)
        z = (v - s[o]) / self.spread(s[o + 1], floor)
        if mi == 0:
            return Scored(did, its, m, v_o, abs(z), s[o], False)
        score = -z  # max(-z, 0.0), keeping a -0.0 as max does
        if score < 0.0:
            score = 0.0
        return Scored(did, its, m, v_o, score, s[o], False)

    # -- personal baselines (detectors.ewz, inlined) -------------------------------------------

    def spread(self, var: float, floor: float) -> float:
        """The standard deviation of a baseline's variance ``var``, at least ``floor``
        (``ewz.zscore``'s divisor)."""
        if var < 0.0:
            raise ValueError("math domain error")  # what math.sqrt says
        sd = math.sqrt(var)
        return floor if sd < floor else sd

    def learn_timed(
        self, s: array[float], o: int, v: float, mean: float, var: float, learned: float, dt: float
    ) -> float:
        """``ewz.learn_timed(s, o, v, dt, tau_ms, prior_ms)`` of the baseline at ``o``, given
        its mean, variance and learned time as read; returns the mean it learned."""
        n = learned + dt
        s[o + 2] = n if n < 1e15 else 1e15
        a = dt / (n + self.prior_ms)
        if a < dt / self.tau_ms:
            a = dt / self.tau_ms
        if not a < 1.0:
            a = 1.0
        dev = v - mean
        inc = a * dev
        mean += inc
        s[o] = mean
        s[o + 1] = (1.0 - a) * (var + dev * inc)
        return mean

    # -- context -----------------------------------------------------------------------------

    def context_of(self, d: Device, ts: float) -> int:
        """The activity context of ``d`` at event time ``ts`` (for the modules)."""
        return self.context(d.v, ts)

    def context(self, s: array[float], ts: float) -> int:
        # stages may lag the wake-up: walking about is not asleep, whatever the last stage
        if (
            s[self.STAGE] != 0.0
            and ts - s[self.T_STAGE] <= self.stage_valid_ms
            and s[self.T_STAGE] >= 0.0
            and not (
                ts - s[self.T_STEPS] <= self.steps_valid_ms and s[self.CADENCE] > self.rest_max_spm
            )
        ):
            return ASLEEP
        if s[self.T_FIRST_STEPS] < 0.0:
            return REST if self.assume_rest else LIGHT
        if ts - s[self.T_STEPS] > self.steps_valid_ms:
            return LIGHT  # steps stopped arriving: activity unknown
        if s[self.REST_FLAG] != 0.0:
            return REST
        if s[self.STILL_FLAG] != 0.0:
            return STILL
        if s[self.CADENCE] >= self.active_min_spm:
            return ACTIVE
        return LIGHT

    # -- heart rate --------------------------------------------------------------------------

    def heart_rate(
        self,
        r: Reading | None,
        d: Device,
        s: array[float],
        tracks: dict[str, Track],
        kinds: int,
        its: int,
        t: float,
        v: float,
        v_o: float | None,
        did: str,
        out: list[AlertEvent],
    ) -> None:
        # Most readings are quiet: far from every threshold, with no run or alert in progress.
        # Each rule block below first checks, cheaply, whether its outcome can differ from
        # "nothing happens", and skips the rest if not; the output is the same either way.
        ctx = self.context(s, t)
        # slots are read once into locals (an array read costs ~25 ns): nothing below changes
        # the baselines, the circadian offset or the fast level before the learning step
        # rest-HR offset of this 4-hour block of the wearer's day (local_time.local_ms, inlined;
        # the offset is a whole number of ms)
        off = int(s[self.UTC_OFFSET])
        lts = its + off
        circ = self.CIRC + (lts // _BLOCK_MS) % 6
        offset = s[circ]
        rest = s[self.B_REST]
        rest_expected = rest + offset
        if ctx == ASLEEP:
            o = self.B_SLEEP
            mean = expected = s[o]
        elif ctx == REST:
            o = self.B_REST
            mean = rest
            expected = rest_expected
        else:
            o = self.B_ACTIVE
            mean = expected = s[o]
        var = s[o + 1]
        learned = s[o + 2]
        sd = self.spread(var, self.hr_sd_floor)
        z = (v - expected) / sd
        warm = learned >= self.warmup_ms
        flagged = warm and (z >= self.flag_z or z <= -self.flag_z)
        rest_like = ctx <= STILL
        fast_t = s[self.HR_FAST_T]
        fast = s[self.HR_FAST]

        # sustained tachycardia while inactive (asleep or at rest): below the relaxed threshold,
        # or below the threshold while active (the module only follows a streak above it
        # then), no reading hits, so without a run or a track of its kind there is nothing to
        # do (each rule reads and books only its own kind's track)
        if self.tachy_on and (
            v > self.tachy_threshold
            or (rest_like and v > self.tachy_low)
            or s[self.R_TACHY] >= 0.0
            or kinds & _B_TACHY
        ):
            if r is None:
                r = Reading(did, its, _HR, self.value(v_o, v))
            flagged = self.tachycardia(r, d, out, ctx, rest_expected) or flagged
            kinds = self.kinds(tracks)
        # sustained bradycardia, any context
        if self.brady_on and (v < self.brady_high or s[self.R_BRADY] >= 0.0 or kinds & _B_BRADY):
            if r is None:
                r = Reading(did, its, _HR, self.value(v_o, v))
            flagged = self.bradycardia(r, d, out, ctx, expected) or flagged
            kinds = self.kinds(tracks)
        # abrupt change from the personal baseline of the context (asleep / at rest)
        if self.abrupt_on:
            # the level jumped faster than the ~1 min average could follow (a drift, or the
            # slow recovery after exercise, is not abrupt); remembered for onset_ms. A level
            # with no heart rate in grace_ms after it (a device's first readings, or a gap: the
            # watch put back on) says nothing of how the rate got here: no jump from it
            if fast_t >= 0.0 and t - fast_t <= self.abrupt_grace_ms:
                # the level a jump left, kept from its first reading (the level follows)
                if v - fast >= self.abrupt_jump:
                    if t - s[self.JUMP_T] > _MIN:
                        s[self.JUMP_FROM] = fast
                    s[self.JUMP_T] = t
                elif fast - v >= self.abrupt_jump:
                    if t - s[self.JUMP_DOWN_T] > _MIN:
                        s[self.JUMP_DOWN_FROM] = fast
                    s[self.JUMP_DOWN_T] = t
            ref = expected if ctx == ASLEEP else rest_expected
            dv = v - ref
            # the threshold is at least delta_bpm: nearer the baseline nothing can hit
            near = dv < self.abrupt_delta and dv > -self.abrupt_delta
            if (rest_like and not near) or s[self.R_ABRUPT] >= 0.0 or kinds & _B_ABRUPT:
                if r is None:
                    r = Reading(did, its, _HR, self.value(v_o, v))
                flagged = self.abrupt(r, d, out, ctx, ref, sd, warm, not near) or flagged
                kinds = self.kinds(tracks)

        # HR decoupled from activity: high at rest, or no rise during exercise
        # (high at rest needs a rest excess; no rise needs an exercise bout)
        if self.decoupling_on and (
            (ctx == REST and v - rest_expected >= self.rest_excess_bpm)
            or (ctx == ACTIVE and s[self.ACT_START] >= 0.0)
            or s[self.R_HIGHREST] >= 0.0
            or kinds & _B_DECOUPLING
        ):
            if r is None:
                r = Reading(did, its, _HR, self.value(v_o, v))
            flagged = self.decoupling(r, d, out, ctx, rest_expected) or flagged
            kinds = self.kinds(tracks)

        # stuck sensor (data quality): the flatline module's run (value, start, count, last);
        # a gap in heart rate ends it (a tracker repeats its last value as it loses contact,
        # and the first value after the gap may equal it: that is no stuck sensor)
        fl = self.FL
        if s[fl + 2] > 0.0 and v == s[fl] and t - s[fl + 3] <= self.flatline_gap_ms:
            n = s[fl + 2] + 1.0
            s[fl + 2] = n
            s[fl + 3] = t
            stuck = n >= self.flatline_n and t - s[fl + 1] >= self.flatline_ms
        else:
            s[fl] = v
            s[fl + 1] = t
            s[fl + 3] = t
            s[fl + 2] = 1.0
            # a run of one reading spanning 0 ms (never, with a valid config)
            stuck = self.flatline_n <= 1.0 and self.flatline_ms <= 0.0
        if stuck:
            self.book_active(
                did, tracks, _K_FLATLINE, its, int(s[fl + 1]), "info", self.value(v_o, v), True, out
            )
            flagged = True
            kinds = self.kinds(tracks)
        elif kinds & _B_FLATLINE:
            self.book_inactive(did, tracks, _K_FLATLINE, its, out, 0)
            kinds = self.kinds(tracks)
        if kinds & (_B_OFF_WRIST | _B_DROPOUT):
            # the module resolves an open episode once heart rate keeps flowing; with neither
            # open it only forgets that heart rate came back, done here: a device keeps its
            # resolved episodes' tracks, and calling the module on each of its heart rates
            # cost over a third of the engine's time on the replay benchmark
            if kinds & ((_B_OFF_WRIST | _B_DROPOUT) << _OPEN):
                self.hr_back(did, d, t, out)
            else:
                s[self.HR_BACK_SINCE] = -1.0
        s[self.SINCE_HR_STEPS] = 0.0
        s[self.SINCE_HR_STAGES] = 0.0
        s[self.WORN_SINCE] = 0.0

        # aggregates: the night, the hour
        if ctx == ASLEEP:
            if s[self.SS_START] >= 0.0:
                s[self.SS_HR_SUM] += v
                s[self.SS_HR_N] += 1.0
            s[self.H_ASLEEP_N] += 1.0
        s[self.H_HR_N] += 1.0
        s[self.H_HR_SUM] += v
        s[self.H_HR_SQ] += v * v

        # learn (prequential: after scoring), never from a flagged reading
        max_dt = self.max_dt_ms
        dt = t - fast_t if fast_t >= 0.0 else max_dt
        if dt > max_dt:
            dt = max_dt
        # the illness module's hour: time worn and time at rest (10 min of quiet steps, the
        # steps stream alive), each reading weighing the time since the previous one (<= 1 min)
        il = self.IL_WORN
        iw = dt / 60_000.0 if dt < 60_000.0 else 1.0
        s[il] += iw
        if s[self.REST_FLAG] != 0.0 and t - s[self.T_STEPS] <= self.steps_valid_ms:
            iwv = iw * v
            s[il + 1] += iw
            s[il + 2] += iwv
            s[il + 3] += iwv * v
        if not flagged:
            mean = self.learn_timed(s, o, v, mean, var, learned, dt)
            if ctx == REST:  # o is the rest baseline: ``mean`` is what it just learned
                w = dt / self.circadian_tau_ms
                s[circ] = offset + (w if w < 1.0 else 1.0) * ((v - mean) - offset)
        # ~1 min EW of the raw level (learned even when flagged: it tracks "now")
        if fast_t < 0.0:
            s[self.HR_FAST] = v
        else:
            af = dt / 60_000.0
            s[self.HR_FAST] = fast + (1.0 if af > 1.0 else af) * (v - fast)
        s[self.HR_FAST_T] = t
        self.score_out = abs(z)
        self.baseline_out = expected
        self.flagged_out = flagged
        self.has_baseline_out = True

    # -- SpO2 --------------------------------------------------------------------------------

    def spo2_reading(
        self,
        d: Device,
        s: array[float],
        t: float,
        v: float,
        last: float,
        tracks: dict[str, Track],
        kinds: int,
        r: Reading | None,
        did: str,
        its: int,
        v_o: float | None,
        iv_s: float,
        out: list[AlertEvent],
    ) -> None:
        """Score an in-order SpO2 reading (value ``v`` at ``t``) against the personal
        baseline, have the SpO2 rules judge it when one can act (:mod:`detectors.kinds.spo2`;
        given ``r``, or its fields to build it), learn; ``last``: the event time of the
        device's previous SpO2 reading (-1: none)."""
        o = self.B_SPO2
        base = s[o]
        z = (v - base) / self.spread(s[o + 1], self.spo2_sd_floor)
        score = -z if z < 0.0 else 0.0  # only low saturation is anomalous
        flagged = s[o + 2] >= self.warmup_ms and score >= self.flag_z
        ds = self.DS
        # low SpO2 can act below its relaxed threshold, in a run or on its track; desaturation
        # at a drop below the baseline, in an episode or on its track. Otherwise neither changes
        # anything (the rules' modules do exactly nothing then)
        if (
            self.low_spo2_on
            and (v < self.low_spo2_high or s[self.R_LOW_SPO2] >= 0.0 or kinds & _B_LOW_SPO2)
        ) or (
            self.desaturation_on
            and (v <= base - self.desaturation_drop or s[ds] >= 0.0 or kinds & _B_DESATURATION)
        ):
            if r is None:
                r = self.reading(did, its, 1, self.value(v_o, v), iv_s)
            flagged = self.spo2(r, d, out, base) or flagged
        # learn (prequential), never from a flagged reading or within a desaturation episode
        if not flagged and s[ds] < 0.0:
            max_dt = self.max_dt_ms
            dt = t - last if 0.0 <= last < t else max_dt
            if dt > max_dt:
                dt = max_dt
            self.learn_timed(s, o, v, s[o], s[o + 1], s[o + 2], dt)
        self.score_out = score
        self.baseline_out = base
        self.flagged_out = flagged
        self.has_baseline_out = True

    # -- steps and sleep stages --------------------------------------------------------------

    def steps(self, s: array[float], ts: int, t: float, v: float, interval: float) -> None:
        cadence = v * 60_000.0 / interval
        s[self.CADENCE] = cadence
        if s[self.T_FIRST_STEPS] < 0.0:
            s[self.T_FIRST_STEPS] = t - interval
        if cadence <= self.rest_max_spm:
            if s[self.QUIET_SINCE] < 0.0:
                s[self.QUIET_SINCE] = t - interval
        else:
            s[self.QUIET_SINCE] = -1.0
        # quiet windows over the last minutes (pottering about is still "at rest")
        minute = ts // _MIN
        slot = minute % 10
        now = float(minute)  # float arithmetic with the slots is cheaper, and exact
        s[self.STEPS_RING + slot] = cadence
        s[self.RING_MIN + slot] = now
        rest_n = self.rest_minutes
        still_n = self.still_minutes
        sum_rest = 0.0
        sum_still = 0.0
        n_rest = 0
        n_still = 0
        for k in range(10):
            age = now - s[self.RING_MIN + k]
            if 0.0 <= age < rest_n:
                c = s[self.STEPS_RING + k]
                sum_rest += c
                n_rest += 1
                if age < still_n:
                    sum_still += c
                    n_still += 1
        quiet = self.rest_max_spm
        still = n_still >= still_n - 1 and sum_still <= quiet * n_still
        s[self.STILL_FLAG] = 1.0 if still else 0.0
        s[self.REST_FLAG] = (
            1.0 if still and n_rest >= rest_n - 1 and sum_rest <= quiet * n_rest else 0.0
        )
        if cadence >= self.active_min_spm:
            if s[self.ACT_START] < 0.0 or t - s[self.ACT_LAST] > 2.0 * _MIN:
                s[self.ACT_START] = t - interval
                s[self.ACT_HR_SUM] = 0.0
                s[self.ACT_HR_N] = 0.0
                s[self.ACT_CAD_SUM] = 0.0
                s[self.ACT_CAD_N] = 0.0
            s[self.ACT_LAST] = t
            s[self.ACT_CAD_SUM] += cadence
            s[self.ACT_CAD_N] += 1.0
        elif s[self.ACT_START] >= 0.0 and t - s[self.ACT_LAST] > 2.0 * _MIN:
            s[self.ACT_START] = -1.0
        s[self.H_STEPS] += v
        s[self.H_STEPS_N] += 1.0

    def stage(
        self,
        d: Device,
        s: array[float],
        its: int,
        t: float,
        v: float,
        did: str,
        out: list[AlertEvent],
    ) -> None:
        stage = v
        awake = stage == 0.0
        if s[self.SS_START] >= 0.0:
            dt = t - s[self.SS_LAST]  # min(ts - last, stage_valid_ms)
            if self.stage_valid_ms < dt:
                dt = self.stage_valid_ms
            if s[self.STAGE] == 0.0:
                s[self.SS_AWAKE] += dt
            else:
                s[self.SS_ASLEEP] += dt
            if awake:
                if s[self.SS_AWAKE_SINCE] < 0.0:
                    s[self.SS_AWAKE_SINCE] = t
                elif t - s[self.SS_AWAKE_SINCE] >= self.session_wake_ms:
                    s[self.SS_LAST] = s[self.SS_AWAKE_SINCE]
                    self.close_night(did, d, its, out)
            else:
                if (
                    s[self.SS_AWAKE_SINCE] >= 0.0
                    and t - s[self.SS_AWAKE_SINCE] >= self.awakening_min_ms
                ):
                    s[self.SS_AWAKENINGS] += 1.0
                s[self.SS_AWAKE_SINCE] = -1.0
            if s[self.SS_START] >= 0.0:
                s[self.SS_LAST] = t
        if s[self.SS_START] < 0.0 and not awake:
            self.earlier.add(did)  # a night began: tick() closes it when it ends
            s[self.SS_START] = t
            s[self.SS_LAST] = t
            s[self.SS_ASLEEP] = 0.0
            s[self.SS_AWAKE] = 0.0
            s[self.SS_AWAKENINGS] = 0.0
            s[self.SS_HR_SUM] = 0.0
            s[self.SS_HR_N] = 0.0
            s[self.SS_DESATS] = 0.0
            s[self.SS_AWAKE_SINCE] = -1.0
        s[self.STAGE] = stage

    def off_wrist_check(
        self,
        s: array[float],
        t: float,
        v: float,
        is_steps: bool,
        interval: float,
        prev_any: float,
    ) -> bool:
        """Whether the off-wrist module must decide: other data flows but heart rate stopped,
        off the wrist (no motion, no sleep staging) or an optical dropout (the wearer still moves
        or sleeps)."""
        if is_steps:
            # a steps count covers the interval before its timestamp: only count intervals
            # that began after the newest heart rate (the wrist may have moved before it)
            if t - interval >= s[self.T_HR]:
                s[self.SINCE_HR_STEPS] += v
        else:
            s[self.SINCE_HR_STAGES] += 1.0
        last_hr = s[self.T_HR]
        # only while data keeps flowing: after a gap of everything it is a dropout
        return not (
            last_hr < 0.0
            or t - last_hr < self.off_wrist_gap_ms
            or t - prev_any >= self.off_wrist_gap_ms / 2.0
        )
