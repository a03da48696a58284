# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=False
# cython: initializedcheck=False, infer_types=False
"""The engine's per-reading path, compiled: a line-by-line twin of ``Engine._one``,
``_context``, ``_hr``, ``_steps``, ``_stage``, ``_off_wrist_check`` and ``_score_only`` in
:mod:`detectors.engine`.

The pure-Python methods stay the reference and the documentation; this module exists only
because they cost ~3.7 us per reading, most of it interpreter overhead on a path that, for
most readings, does a few dozen float operations on the device's slot array. Here the slots
are read through a ``double*`` and the arithmetic is C doubles, in the same order and with
the same IEEE-754 operations as the Python code (compiled with ``-ffp-contract=off``, so no
fused multiply-adds), hence **bit-identical** output: ``tests/detectors/test_fastpath.py``
runs both over simulated fleets and adversarial streams and compares every score, baseline,
alert event and snapshot.

Everything rare stays in Python: readings of unusual types, impossible values, clock jumps,
gaps, nights and hours closing, SpO2 (one reading in twenty), the off-wrist decision, and every
rule once its cheap guard says it may fire. Those are the engine's own (bound) methods, called
from here exactly where the Python path calls them.
"""

from cpython cimport array
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_FromDouble
from libc.math cimport fabs, sqrt, trunc

from detectors.types import Scored as _Scored
from messages.kinds import AnomalyKind as _K
from messages.metrics import Metric as _Metric

cdef object Scored = _Scored
cdef object Metric = _Metric
cdef object M_HR = _Metric.HEART_RATE
cdef object M_SPO2 = _Metric.SPO2
cdef object M_STEPS = _Metric.STEPS
cdef object M_STAGE = _Metric.SLEEP_STAGE
cdef object K_IMPOSSIBLE = _K.IMPOSSIBLE_VALUE
cdef object K_CLOCK_SKEW = _K.CLOCK_SKEW
cdef object K_DEVICE_SILENT = _K.DEVICE_SILENT
cdef object K_FLATLINE = _K.FLATLINE
cdef object K_OFF_WRIST = _K.OFF_WRIST
cdef object K_DROPOUT = _K.DROPOUT

cdef enum:
    I_HR = 0
    I_SPO2 = 1
    I_STEPS = 2
    I_STAGE = 3
# |ts| below 2**53: float(ts) is exact, as the Python path assumes
cdef long long TS_LIMIT = 9_007_199_254_740_992

# slot offsets, read from detectors.engine when the first FastPath is made
cdef Py_ssize_t N_SLOTS, T_FIRST, T_ANY, T_HR, T_SPO2, T_STEPS, T_STAGE, T_FIRST_STEPS
cdef Py_ssize_t REST_FLAG, STILL_FLAG, CADENCE, STAGE, HR_FAST, HR_FAST_T, INTERVAL
cdef Py_ssize_t B_SLEEP, B_REST, B_ACTIVE, CIRC, R_TACHY, R_BRADY, R_ABRUPT, JUMP_T
cdef Py_ssize_t JUMP_DOWN_T, R_HIGHREST, ACT_START, FL, FL_START, FL_COUNT, FL_LAST
cdef Py_ssize_t SS_START, SS_LAST, SS_HR_SUM, SS_HR_N, H_CUR, H_HR_N, H_ASLEEP_N
cdef Py_ssize_t BEHIND_RUN, SKEW_OFFSET, SINCE_HR_STEPS, SINCE_HR_STAGES, WORN_SINCE
cdef Py_ssize_t N_READINGS, VAR, NN, B_SPO2, STEPS_RING, RING_MIN, QUIET_SINCE, ACT_LAST
cdef Py_ssize_t ACT_HR_SUM, ACT_HR_N, ACT_CAD_SUM, ACT_CAD_N, H_STEPS, H_STEPS_N
cdef Py_ssize_t SS_ASLEEP, SS_AWAKE, SS_AWAKENINGS, SS_AWAKE_SINCE, SS_DESATS
cdef int ASLEEP, REST, STILL, ACTIVE, LIGHT
cdef long long MIN_MS, HOUR_MS, BLOCK_MS
cdef double LO[4]
cdef double HI[4]
cdef Py_ssize_t SLOT[4]
cdef bint _loaded = False


cdef void _load() except *:
    global N_SLOTS, T_FIRST, T_ANY, T_HR, T_SPO2, T_STEPS, T_STAGE, T_FIRST_STEPS
    global REST_FLAG, STILL_FLAG, CADENCE, STAGE, HR_FAST, HR_FAST_T, INTERVAL
    global B_SLEEP, B_REST, B_ACTIVE, CIRC, R_TACHY, R_BRADY, R_ABRUPT, JUMP_T
    global JUMP_DOWN_T, R_HIGHREST, ACT_START, FL, FL_START, FL_COUNT, FL_LAST
    global SS_START, SS_LAST, SS_HR_SUM, SS_HR_N, H_CUR, H_HR_N, H_ASLEEP_N
    global BEHIND_RUN, SKEW_OFFSET, SINCE_HR_STEPS, SINCE_HR_STAGES, WORN_SINCE
    global N_READINGS, VAR, NN, ASLEEP, REST, STILL, ACTIVE, LIGHT, _loaded
    global B_SPO2, STEPS_RING, RING_MIN, QUIET_SINCE, ACT_LAST
    global ACT_HR_SUM, ACT_HR_N, ACT_CAD_SUM, ACT_CAD_N, H_STEPS, H_STEPS_N
    global SS_ASLEEP, SS_AWAKE, SS_AWAKENINGS, SS_AWAKE_SINCE, SS_DESATS
    global MIN_MS, HOUR_MS, BLOCK_MS
    import detectors.engine as E
    from detectors import ewz, flatline

    N_SLOTS = E.N_SLOTS
    T_FIRST, T_ANY, T_HR, T_SPO2 = E.T_FIRST, E.T_ANY, E.T_HR, E.T_SPO2
    T_STEPS, T_STAGE, T_FIRST_STEPS = E.T_STEPS, E.T_STAGE, E.T_FIRST_STEPS
    REST_FLAG, STILL_FLAG, CADENCE, STAGE = E.REST_FLAG, E.STILL_FLAG, E.CADENCE, E.STAGE
    HR_FAST, HR_FAST_T, INTERVAL = E.HR_FAST, E.HR_FAST_T, E.INTERVAL
    B_SLEEP, B_REST, B_ACTIVE, CIRC = E.B_SLEEP, E.B_REST, E.B_ACTIVE, E.CIRC
    R_TACHY, R_BRADY, R_ABRUPT, R_HIGHREST = E.R_TACHY, E.R_BRADY, E.R_ABRUPT, E.R_HIGHREST
    JUMP_T, JUMP_DOWN_T, ACT_START, FL = E.JUMP_T, E.JUMP_DOWN_T, E.ACT_START, E.FL
    FL_START, FL_COUNT, FL_LAST = flatline.START, flatline.COUNT, flatline.LAST
    SS_START, SS_LAST, SS_HR_SUM, SS_HR_N = E.SS_START, E.SS_LAST, E.SS_HR_SUM, E.SS_HR_N
    H_CUR, H_HR_N, H_ASLEEP_N = E.H_CUR, E.H_HR_N, E.H_ASLEEP_N
    BEHIND_RUN, SKEW_OFFSET = E.BEHIND_RUN, E.SKEW_OFFSET
    SINCE_HR_STEPS, SINCE_HR_STAGES, WORN_SINCE = (
        E.SINCE_HR_STEPS, E.SINCE_HR_STAGES, E.WORN_SINCE
    )
    N_READINGS = E.N_READINGS
    B_SPO2, STEPS_RING, RING_MIN, QUIET_SINCE = E.B_SPO2, E.STEPS_RING, E.RING_MIN, E.QUIET_SINCE
    ACT_LAST, ACT_HR_SUM, ACT_HR_N = E.ACT_LAST, E.ACT_HR_SUM, E.ACT_HR_N
    ACT_CAD_SUM, ACT_CAD_N, H_STEPS, H_STEPS_N = E.ACT_CAD_SUM, E.ACT_CAD_N, E.H_STEPS, E.H_STEPS_N
    SS_ASLEEP, SS_AWAKE, SS_AWAKENINGS = E.SS_ASLEEP, E.SS_AWAKE, E.SS_AWAKENINGS
    SS_AWAKE_SINCE, SS_DESATS = E.SS_AWAKE_SINCE, E.SS_DESATS
    VAR, NN = ewz.VAR, ewz.N
    ASLEEP, REST, STILL, ACTIVE, LIGHT = E.ASLEEP, E.REST, E.STILL, E.ACTIVE, E.LIGHT
    MIN_MS, HOUR_MS, BLOCK_MS = E._MIN, E._HOUR, E._BLOCK_MS
    for i, m in enumerate((M_HR, M_SPO2, M_STEPS, M_STAGE)):
        LO[i], HI[i], SLOT[i] = E._METRIC_INFO[m]
    _loaded = True


cdef class FastPath:
    """Runs :meth:`Engine.process` for one engine (see the module docstring)."""

    cdef object eng, devices, new_device, one_py, impossible, behind, gap
    cdef object close_night, close_hour, spo2, off_wrist, earlier
    cdef object tachycardia, bradycardia, abrupt, decoupling
    cdef object book_active, book_inactive, book_resolve, impossible_clear_ms
    cdef double skew_ms, dropout_min_gap_ms, dropout_factor, session_gap_ms
    cdef double stage_valid_ms, steps_valid_ms, rest_max_spm, active_min_spm
    cdef double hr_sd_floor, warmup_ms, flag_z, max_dt_ms, tau_ms, prior_ms
    cdef double circadian_tau_ms, tachy_low, brady_high, abrupt_delta, abrupt_jump
    cdef double rest_excess_bpm, flatline_ms, flatline_n, spo2_sd_floor
    cdef double rest_minutes, still_minutes, off_wrist_gap_ms, session_wake_ms
    cdef double awakening_min_ms
    cdef object off_wrist_gap
    cdef bint assume_rest, tachy_on, brady_on, abrupt_on, decoupling_on

    def __init__(self, engine):
        if not _loaded:
            _load()
        e = self.eng = engine
        self.devices = e._devices
        self.new_device = e._device
        self.one_py = e._one
        self.impossible = e._impossible
        self.behind = e._behind
        self.gap = e._gap
        self.close_night = e._close_night
        self.close_hour = e._close_hour
        self.spo2 = e._spo2
        self.off_wrist = e._off_wrist
        self.earlier = e._book.earlier
        self.tachycardia = e._tachycardia
        self.bradycardia = e._bradycardia
        self.abrupt = e._abrupt
        self.decoupling = e._decoupling
        self.book_active = e._book.active
        self.book_inactive = e._book.inactive
        self.book_resolve = e._book.resolve
        self.impossible_clear_ms = e._impossible_clear_ms
        self.skew_ms = e._skew_ms
        self.dropout_min_gap_ms = e._dropout_min_gap_ms
        self.dropout_factor = e._dropout_factor
        self.session_gap_ms = e._session_gap_ms
        self.stage_valid_ms = e._stage_valid_ms
        self.steps_valid_ms = e._steps_valid_ms
        self.rest_max_spm = e._rest_max_spm
        self.active_min_spm = e._active_min_spm
        self.assume_rest = e._assume_rest
        self.hr_sd_floor = e._hr_sd_floor
        self.warmup_ms = e._warmup_ms
        self.flag_z = e._flag_z
        self.max_dt_ms = e._max_dt_ms
        self.tau_ms = e._tau_ms
        self.prior_ms = e._prior_ms
        self.circadian_tau_ms = e._circadian_tau_ms
        self.tachy_on = e._tachy_on
        self.tachy_low = e._tachy_low
        self.brady_on = e._brady_on
        self.brady_high = e._brady_high
        self.abrupt_on = e._abrupt_on
        self.abrupt_delta = e._abrupt_delta
        self.abrupt_jump = e._abrupt_jump
        self.decoupling_on = e._decoupling_on
        self.rest_excess_bpm = e._rest_excess_bpm
        self.flatline_ms = e._flatline_ms
        self.flatline_n = e._flatline_n
        c = e._c
        self.spo2_sd_floor = c.baseline.spo2_sd_floor
        self.rest_minutes = e._rest_minutes
        self.still_minutes = e._still_minutes
        self.off_wrist_gap = c.quality.off_wrist_gap_ms  # an int, passed on as it is
        self.off_wrist_gap_ms = self.off_wrist_gap
        self.session_wake_ms = c.multiday.session_wake_ms
        self.awakening_min_ms = c.multiday.awakening_min_ms

    def process(self, readings, list scored, list out):
        """Append one ``Scored`` per reading to ``scored`` and the alert events to ``out``."""
        cdef dict devices = self.devices
        for r in readings:
            d = devices.get(r.device_id)
            if d is None:
                d = self.new_device(r.device_id)
            scored.append(self._one(r, d, out))

    cdef object _one(self, object r, object d, list out):
        cdef object ts_o = r.ts_ms
        cdef object v_o = r.value
        cdef object m = r.metric
        cdef int overflow = 0
        cdef long long ts
        cdef int mi
        cdef double interval = 0.0  # of a steps reading, in ms: (r.interval_s or 60.0) * 1000.0
        # anything unusual (a str metric, an int value, a huge timestamp) takes the Python path
        if type(v_o) is not float or type(ts_o) is not int:
            return self.one_py(r, d, out)
        if m is M_HR:
            mi = I_HR
        elif m is M_STEPS:
            mi = I_STEPS
        elif m is M_STAGE:
            mi = I_STAGE
        elif m is M_SPO2:
            mi = I_SPO2
        else:
            return self.one_py(r, d, out)
        if mi == I_STEPS:
            iv_o = r.interval_s
            if iv_o is not None and type(iv_o) is not float:
                return self.one_py(r, d, out)
            interval = 60.0 if iv_o is None else <double>iv_o
            if interval == 0.0:
                interval = 60.0
            interval = interval * 1000.0
        ts = PyLong_AsLongLongAndOverflow(ts_o, &overflow)
        if overflow or ts >= TS_LIMIT or ts <= -TS_LIMIT:
            return self.one_py(r, d, out)
        cdef array.array arr = d.s
        if len(arr) != N_SLOTS:
            return self.one_py(r, d, out)
        cdef double* s = arr.data.as_doubles
        cdef double t = <double>ts
        cdef double v = <double>v_o
        cdef double last, prev, gap, skew, bound, iv, cap
        cdef long long hour
        did = r.device_id

        s[N_READINGS] += 1.0
        if s[T_FIRST] < 0.0:
            s[T_FIRST] = t
        cdef Py_ssize_t slot = SLOT[mi]
        if not (LO[mi] <= v <= HI[mi]) or (mi == I_STAGE and v != trunc(v)):
            return self.impossible(r, d, out)
        tracks = d.tracks
        if tracks and K_IMPOSSIBLE in tracks:
            self.book_inactive(did, tracks, K_IMPOSSIBLE, ts_o, out, self.impossible_clear_ms)
        last = s[slot]
        prev = s[T_ANY]
        if t <= last or t < prev - self.skew_ms:
            if not self.behind(r, d, out):
                return self._score_only(r, s, ts_o, t, v, v_o, m, mi, did)
            prev = s[T_ANY]  # re-based on the device's new clock
        else:
            s[BEHIND_RUN] = 0.0

        # device-level bookkeeping of an in-order reading: gaps, clock, session, hour
        if prev >= 0.0 and t > prev:
            gap = t - prev
            skew = s[SKEW_OFFSET]
            bound = 0.25 * skew
            if bound < 2.0 * MIN_MS:
                bound = 2.0 * MIN_MS
            if skew > 0.0 and fabs(gap - skew) <= bound:
                s[SKEW_OFFSET] = 0.0
                self.book_resolve(did, tracks, K_CLOCK_SKEW, ts_o, out)
            elif tracks and K_DEVICE_SILENT in tracks and tracks[K_DEVICE_SILENT].is_open:
                self.book_resolve(did, tracks, K_DEVICE_SILENT, ts_o, out, end_ms=ts_o)
            elif gap >= self.dropout_min_gap_ms and gap >= self.dropout_factor * s[INTERVAL]:
                self.gap(did, d, PyLong_FromDouble(prev), ts_o, gap, out)
            else:
                iv = s[INTERVAL]
                cap = 10.0 * iv + 1000.0
                s[INTERVAL] = iv + 0.05 * ((cap if cap < gap else gap) - iv)
            if s[SS_START] >= 0.0 and t - s[SS_LAST] > self.session_gap_ms:
                self.close_night(did, d, ts_o, out)
            hour = ts // HOUR_MS
            if <double>hour != s[H_CUR]:
                self.close_hour(did, d, hour, ts_o, out)
        elif prev < 0.0:
            s[H_CUR] = <double>(ts // HOUR_MS)
        if t > prev:
            s[T_ANY] = t
        s[slot] = t

        if mi == I_HR:
            return self._hr(r, d, s, tracks, ts_o, ts, t, v, v_o, m, did, out)
        if mi == I_SPO2:
            self.eng._prev_metric_ts = last  # the scratch value the Python method reads
            return self.spo2(r, d, out)
        if mi == I_STEPS:
            self._steps(s, ts, t, v, interval)
        else:
            self._stage(d, s, ts_o, t, v, did, out)
        self._off_wrist_check(r, d, s, t, v, mi, interval, prev, out)
        return Scored(did, ts_o, m, v_o, 0.0, None, False)

    cdef object _score_only(
        self, object r, double* s, object ts_o, double t, double v, object v_o, object m,
        int mi, object did,
    ):
        """Score a duplicate or out-of-order reading without touching any state."""
        cdef Py_ssize_t o
        cdef double var, sd, z, score, floor
        cdef int ctx
        if mi == I_HR:
            ctx = self._context(s, t)
            o = B_SLEEP if ctx == ASLEEP else B_REST if ctx == REST else B_ACTIVE
            floor = self.hr_sd_floor
        elif mi == I_SPO2:
            o = B_SPO2
            floor = self.spo2_sd_floor
        else:
            return Scored(did, ts_o, m, v_o, 0.0, None, False)
        # ewz.zscore
        var = s[o + VAR]
        if var < 0.0:
            raise ValueError("math domain error")
        sd = sqrt(var)
        if sd < floor:
            sd = floor
        z = (v - s[o]) / sd
        if mi == I_HR:
            return Scored(did, ts_o, m, v_o, fabs(z), s[o], False)
        score = -z  # max(-z, 0.0), keeping a -0.0 as Python's max does
        if 0.0 > score:
            score = 0.0
        return Scored(did, ts_o, m, v_o, score, s[o], False)

    cdef void _steps(self, double* s, long long ts, double t, double v, double interval):
        cdef double cadence = v * 60000.0 / interval
        cdef long long minute
        cdef Py_ssize_t slot, k
        cdef double now, age, c, sum_rest, sum_still, quiet
        cdef long n_rest, n_still
        cdef bint still
        s[CADENCE] = cadence
        if s[T_FIRST_STEPS] < 0:
            s[T_FIRST_STEPS] = t - interval
        if cadence <= self.rest_max_spm:
            if s[QUIET_SINCE] < 0:
                s[QUIET_SINCE] = t - interval
        else:
            s[QUIET_SINCE] = -1.0
        minute = ts // MIN_MS
        slot = minute % 10
        now = <double>minute
        s[STEPS_RING + slot] = cadence
        s[RING_MIN + slot] = now
        sum_rest = 0.0
        sum_still = 0.0
        n_rest = 0
        n_still = 0
        for k in range(10):
            age = now - s[RING_MIN + k]
            if 0.0 <= age < self.rest_minutes:
                c = s[STEPS_RING + k]
                sum_rest += c
                n_rest += 1
                if age < self.still_minutes:
                    sum_still += c
                    n_still += 1
        quiet = self.rest_max_spm
        still = n_still >= self.still_minutes - 1 and sum_still <= quiet * n_still
        s[STILL_FLAG] = 1.0 if still else 0.0
        s[REST_FLAG] = (
            1.0
            if still and n_rest >= self.rest_minutes - 1 and sum_rest <= quiet * n_rest
            else 0.0
        )
        if cadence >= self.active_min_spm:
            if s[ACT_START] < 0 or t - s[ACT_LAST] > 2.0 * MIN_MS:
                s[ACT_START] = t - interval
                s[ACT_HR_SUM] = 0.0
                s[ACT_HR_N] = 0.0
                s[ACT_CAD_SUM] = 0.0
                s[ACT_CAD_N] = 0.0
            s[ACT_LAST] = t
            s[ACT_CAD_SUM] += cadence
            s[ACT_CAD_N] += 1.0
        elif s[ACT_START] >= 0 and t - s[ACT_LAST] > 2.0 * MIN_MS:
            s[ACT_START] = -1.0
        s[H_STEPS] += v
        s[H_STEPS_N] += 1.0

    cdef void _stage(
        self, object d, double* s, object ts_o, double t, double v, object did, list out
    ) except *:
        cdef double stage = v
        cdef bint awake = stage == 0.0
        cdef double dt
        if s[SS_START] >= 0:
            dt = t - s[SS_LAST]  # min(ts - s[SS_LAST], stage_valid_ms)
            if self.stage_valid_ms < dt:
                dt = self.stage_valid_ms
            if s[STAGE] == 0.0:
                s[SS_AWAKE] += dt
            else:
                s[SS_ASLEEP] += dt
            if awake:
                if s[SS_AWAKE_SINCE] < 0:
                    s[SS_AWAKE_SINCE] = t
                elif t - s[SS_AWAKE_SINCE] >= self.session_wake_ms:
                    s[SS_LAST] = s[SS_AWAKE_SINCE]
                    self.close_night(did, d, ts_o, out)
            else:
                if s[SS_AWAKE_SINCE] >= 0 and t - s[SS_AWAKE_SINCE] >= self.awakening_min_ms:
                    s[SS_AWAKENINGS] += 1.0
                s[SS_AWAKE_SINCE] = -1.0
            if s[SS_START] >= 0:
                s[SS_LAST] = t
        if s[SS_START] < 0 and not awake:
            self.earlier.add(did)  # a night began: tick() closes it when it ends
            s[SS_START] = t
            s[SS_LAST] = t
            s[SS_ASLEEP] = 0.0
            s[SS_AWAKE] = 0.0
            s[SS_AWAKENINGS] = 0.0
            s[SS_HR_SUM] = 0.0
            s[SS_HR_N] = 0.0
            s[SS_DESATS] = 0.0
            s[SS_AWAKE_SINCE] = -1.0
        s[STAGE] = stage

    cdef void _off_wrist_check(
        self, object r, object d, double* s, double t, double v, int mi, double interval,
        double prev_any, list out,
    ) except *:
        cdef double last_hr
        if mi == I_STEPS:
            if t - interval >= s[T_HR]:
                s[SINCE_HR_STEPS] += v
        else:
            s[SINCE_HR_STAGES] += 1.0
        last_hr = s[T_HR]
        # only while data keeps flowing: after a gap of everything it is a dropout
        if (
            last_hr < 0
            or t - last_hr < self.off_wrist_gap_ms
            or t - prev_any >= self.off_wrist_gap_ms / 2.0
        ):
            return
        self.off_wrist(r, d, last_hr, self.off_wrist_gap, out)

    cdef int _context(self, double* s, double ts):
        # stages may lag the wake-up: walking about is not asleep, whatever the last stage
        if (
            s[STAGE] != 0.0
            and ts - s[T_STAGE] <= self.stage_valid_ms
            and s[T_STAGE] >= 0.0
            and not (ts - s[T_STEPS] <= self.steps_valid_ms and s[CADENCE] > self.rest_max_spm)
        ):
            return ASLEEP
        if s[T_FIRST_STEPS] < 0.0:
            return REST if self.assume_rest else LIGHT
        if ts - s[T_STEPS] > self.steps_valid_ms:
            return LIGHT
        if s[REST_FLAG] != 0.0:
            return REST
        if s[STILL_FLAG] != 0.0:
            return STILL
        if s[CADENCE] >= self.active_min_spm:
            return ACTIVE
        return LIGHT

    cdef object _hr(
        self,
        object r,
        object d,
        double* s,
        object tracks,
        object ts_o,
        long long ts,
        double t,
        double v,
        object v_o,
        object m,
        object did,
        list out,
    ):
        cdef int ctx = self._context(s, t)
        cdef Py_ssize_t circ = CIRC + (ts // BLOCK_MS) % 6
        cdef double offset = s[circ]
        cdef double rest = s[B_REST]
        cdef double rest_expected = rest + offset
        cdef Py_ssize_t o
        cdef double mean, expected, var, learned, sd, z, fast_t, fast, ref, dv, n, dt, a
        cdef double dev, inc, w, af, max_dt
        cdef bint warm, flagged, rest_like, near, stuck
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
        var = s[o + VAR]
        learned = s[o + NN]
        if var < 0.0:
            raise ValueError("math domain error")  # what math.sqrt says
        sd = sqrt(var)
        if sd < self.hr_sd_floor:
            sd = self.hr_sd_floor
        z = (v - expected) / sd
        warm = learned >= self.warmup_ms
        flagged = warm and (z >= self.flag_z or z <= -self.flag_z)
        rest_like = ctx <= STILL
        fast_t = s[HR_FAST_T]
        fast = s[HR_FAST]

        if self.tachy_on and (v > self.tachy_low or s[R_TACHY] >= 0.0 or tracks):
            flagged = self.tachycardia(r, d, out, ctx, rest_expected) or flagged
        if self.brady_on and (v < self.brady_high or s[R_BRADY] >= 0.0 or tracks):
            flagged = self.bradycardia(r, d, out, ctx, expected) or flagged
        if self.abrupt_on:
            if fast_t >= 0.0:
                if v - fast >= self.abrupt_jump:
                    s[JUMP_T] = t
                elif fast - v >= self.abrupt_jump:
                    s[JUMP_DOWN_T] = t
            ref = expected if ctx == ASLEEP else rest_expected
            dv = v - ref
            near = dv < self.abrupt_delta and dv > -self.abrupt_delta
            if (rest_like and not near) or s[R_ABRUPT] >= 0.0 or tracks:
                flagged = self.abrupt(r, d, out, ctx, ref, sd, warm, not near) or flagged

        if self.decoupling_on and (
            (ctx == REST and v - rest_expected >= self.rest_excess_bpm)
            or (ctx == ACTIVE and s[ACT_START] >= 0.0)
            or s[R_HIGHREST] >= 0.0
            or tracks
        ):
            flagged = self.decoupling(r, d, out, ctx, rest_expected) or flagged

        # stuck sensor (data quality)
        if s[FL + FL_COUNT] > 0.0 and v == s[FL]:
            n = s[FL + FL_COUNT] + 1.0
            s[FL + FL_COUNT] = n
            s[FL + FL_LAST] = t
            stuck = n >= self.flatline_n and t - s[FL + FL_START] >= self.flatline_ms
        else:
            s[FL] = v
            s[FL + FL_START] = t
            s[FL + FL_LAST] = t
            s[FL + FL_COUNT] = 1.0
            stuck = self.flatline_n <= 1.0 and self.flatline_ms <= 0.0
        if stuck:
            self.book_active(
                did,
                tracks,
                K_FLATLINE,
                ts_o,
                PyLong_FromDouble(s[FL + FL_START]),
                "info",
                v_o,
                True,
                out,
            )
            flagged = True
        elif tracks and K_FLATLINE in tracks:
            self.book_inactive(did, tracks, K_FLATLINE, ts_o, out, 0)
        if tracks:
            if K_OFF_WRIST in tracks:
                self.book_resolve(did, tracks, K_OFF_WRIST, ts_o, out, end_ms=ts_o)
            if K_DROPOUT in tracks:
                self.book_resolve(did, tracks, K_DROPOUT, ts_o, out, end_ms=ts_o)
        s[SINCE_HR_STEPS] = 0.0
        s[SINCE_HR_STAGES] = 0.0
        s[WORN_SINCE] = 0.0

        if ctx == ASLEEP:
            if s[SS_START] >= 0.0:
                s[SS_HR_SUM] += v
                s[SS_HR_N] += 1.0
            s[H_ASLEEP_N] += 1.0
        s[H_HR_N] += 1.0

        # learn (prequential: after scoring), never from a flagged reading
        max_dt = self.max_dt_ms
        dt = t - fast_t if fast_t >= 0.0 else max_dt
        if dt > max_dt:
            dt = max_dt
        if not flagged:
            n = learned + dt
            s[o + NN] = n if n < 1e15 else 1e15
            a = dt / (n + self.prior_ms)
            if a < dt / self.tau_ms:
                a = dt / self.tau_ms
            if not (a < 1.0):
                a = 1.0
            dev = v - mean
            inc = a * dev
            mean += inc
            s[o] = mean
            s[o + VAR] = (1.0 - a) * (var + dev * inc)
            if ctx == REST:
                w = dt / self.circadian_tau_ms
                s[circ] = offset + (w if w < 1.0 else 1.0) * ((v - mean) - offset)
        if fast_t < 0.0:
            s[HR_FAST] = v
        else:
            af = dt / 60000.0
            s[HR_FAST] = fast + (1.0 if af > 1.0 else af) * (v - fast)
        s[HR_FAST_T] = t
        return Scored(did, ts_o, m, v_o, fabs(z), expected, flagged)
