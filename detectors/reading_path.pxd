# C types for the compiled build of reading_path.py (Cython pure-Python mode: this file only
# declares; the code is reading_path.py). ``math`` is C's libc.math there (only sqrt is used).
cimport cython
cimport libc.math as math

# module constants as C globals (their values still come from the Python modules that define
# them): a Python global costs a dict lookup per use
cdef int ASLEEP, REST, STILL, ACTIVE, LIGHT
cdef long long MIN, HOUR, _MIN, _HOUR, _BLOCK_MS
cdef int _B_IMPOSSIBLE, _B_SILENT, _B_FLATLINE, _B_OFF_WRIST, _B_DROPOUT, _B_TACHY
cdef int _B_BRADY, _B_ABRUPT, _B_DECOUPLING, _B_LOW_SPO2, _B_DESATURATION, _OPEN
cdef dict _KIND_BITS
cdef object _HR, _SPO2, _STEPS, _STAGE, _METRIC_ORDER, Metric, Scored, msgspec
cdef object Reading, _as_tuple
cdef tuple _FIELDS
cdef object _K_IMPOSSIBLE_VALUE, _K_CLOCK_SKEW, _K_DEVICE_SILENT, _K_FLATLINE, _K_OFF_WRIST
cdef object _K_DROPOUT, _K_TACHY, _K_BRADY, _K_ABRUPT, _K_DECOUPLING
cdef object _K_LOW_SPO2, _K_DESATURATION


@cython.final
cdef class Device:
    cdef public object s
    cdef public dict tracks
    cdef public dict models
    cdef double[::1] v


@cython.final
cdef class ReadingPath:
    cdef public dict devices
    cdef public object new_device, rules
    cdef double LO[4]
    cdef double HI[4]
    cdef Py_ssize_t NEWEST[4]
    cdef object impossible, behind, gap, close_night, close_hour, spo2, off_wrist
    cdef object tachycardia, bradycardia, abrupt, decoupling
    cdef object earlier, book_active, book_inactive, book_resolve
    cdef object impossible_clear_ms, off_wrist_gap, presence, hr_back
    cdef Py_ssize_t T_FIRST, T_ANY, T_HR, T_STEPS, T_STAGE, INTERVAL, N_READINGS
    cdef Py_ssize_t N_DUP, N_OOO, N_LATE
    cdef Py_ssize_t UTC_OFFSET, OFFSET_FROM_READING
    cdef Py_ssize_t BEHIND_RUN, SKEW_OFFSET, T_FIRST_STEPS, STEPS_RING, RING_MIN
    cdef Py_ssize_t REST_FLAG, STILL_FLAG, CADENCE, STAGE, QUIET_SINCE, ACT_START, ACT_LAST
    cdef Py_ssize_t ACT_HR_SUM, ACT_HR_N, ACT_CAD_SUM, ACT_CAD_N, B_SLEEP, B_REST, B_ACTIVE
    cdef Py_ssize_t CIRC, HR_FAST, HR_FAST_T, B_SPO2, R_TACHY, R_BRADY, R_ABRUPT, JUMP_T
    cdef Py_ssize_t JUMP_FROM, JUMP_DOWN_FROM
    cdef Py_ssize_t JUMP_DOWN_T, R_HIGHREST, FL, SS_START, SS_LAST, SS_ASLEEP, SS_AWAKE
    cdef Py_ssize_t SS_AWAKENINGS, SS_AWAKE_SINCE, SS_HR_SUM, SS_HR_N, SS_DESATS
    cdef Py_ssize_t H_CUR, H_STEPS, H_STEPS_N, H_HR_N, H_ASLEEP_N, H_HR_SUM, H_HR_SQ
    cdef Py_ssize_t SINCE_HR_STEPS, SINCE_HR_STAGES, WORN_SINCE, HR_BACK_SINCE, IL_WORN
    cdef Py_ssize_t R_LOW_SPO2, DS
    cdef double skew_ms, late_ms, dropout_min_gap_ms, dropout_factor, flatline_ms, flatline_n
    cdef double flatline_gap_ms
    cdef double off_wrist_gap_ms, session_gap_ms, session_wake_ms, awakening_min_ms
    cdef double stage_valid_ms, steps_valid_ms, rest_max_spm, active_min_spm
    cdef double rest_minutes, still_minutes, hr_sd_floor, spo2_sd_floor, warmup_ms, flag_z
    cdef double max_dt_ms, tau_ms, prior_ms, circadian_tau_ms, tachy_low, brady_high
    cdef double tachy_threshold
    cdef double abrupt_delta, abrupt_jump, abrupt_grace_ms, rest_excess_bpm, low_spo2_high
    cdef double desaturation_drop
    cdef bint assume_rest, tachy_on, brady_on, abrupt_on, decoupling_on, low_spo2_on
    cdef bint desaturation_on
    # the score of the reading step() just ran, unless a rule module made its Scored
    cdef double score_out, baseline_out
    cdef bint flagged_out, has_baseline_out

    @cython.locals(devices=dict, d=Device, f=tuple)
    cpdef process(self, object readings, list scored, list out)

    @cython.locals(
        devices=dict, d=Device, i=Py_ssize_t, k="long long", n_ids=Py_ssize_t, its="long long",
        cache=cython.bint, by_code=list,
        mi="long long", v=cython.double, iv_s=cython.double, interval=cython.double,
    )
    cpdef process_columns(
        self, list ids, const long long[::1] dev, const long long[::1] ts,
        const long long[::1] metric, const double[::1] value, const double[::1] interval_s,
        double[::1] score, double[::1] baseline, signed char[::1] flags, dict odd, list out,
    )

    cdef object reading(self, object did, object ts, int mi, object v_o, double iv_s)

    cdef object value(self, object v_o, double v)

    @cython.locals(mi=cython.int, interval=cython.double)
    cpdef object one(self, object r, tuple f, Device d, list out)

    @cython.locals(
        s="double[::1]", t=cython.double, last=cython.double, prev=cython.double,
        gap=cython.double, skew=cython.double, bound=cython.double, iv=cython.double,
        cap=cython.double, hour="long long", old_hour=cython.double, slot=Py_ssize_t,
        kinds=cython.int, behind=cython.double, jumped=cython.bint,
    )
    cdef object step(
        self, object r, Device d, object did, long long its, int mi, object v_o,
        double v, double interval, double iv_s, object uo, list out,
    )

    @cython.locals(mask=cython.int, bit=cython.int)
    cdef int kinds(self, dict tracks) except? -1

    @cython.locals(
        s="double[::1]", ctx=cython.int, o=Py_ssize_t, floor=cython.double,
        var=cython.double, sd=cython.double, z=cython.double, score=cython.double,
    )
    cdef object score_only(self, Device d, object did, long long its, int mi, object v_o, double v)

    @cython.locals(sd=cython.double)
    cdef double spread(self, double var, double floor) except? -1.0

    @cython.locals(n=cython.double, a=cython.double, dev=cython.double, inc=cython.double)
    cdef double learn_timed(
        self, double[::1] s, Py_ssize_t o, double v, double mean, double var, double learned,
        double dt,
    ) except? -1.0

    cpdef int context_of(self, Device d, double ts) except? -1

    cdef int context(self, double[::1] s, double ts) noexcept

    @cython.locals(
        ctx=cython.int, off="long long", lts="long long", circ=Py_ssize_t, offset=cython.double, rest=cython.double,
        rest_expected=cython.double, o=Py_ssize_t, mean=cython.double, expected=cython.double,
        var=cython.double, learned=cython.double, sd=cython.double, z=cython.double,
        warm=cython.bint, flagged=cython.bint, rest_like=cython.bint, fast_t=cython.double,
        fast=cython.double, ref=cython.double, dv=cython.double, near=cython.bint,
        fl=Py_ssize_t, n=cython.double, stuck=cython.bint, max_dt=cython.double,
        dt=cython.double, a=cython.double, dev=cython.double, inc=cython.double,
        w=cython.double, af=cython.double, il=Py_ssize_t, iw=cython.double, iwv=cython.double,
    )
    cdef void heart_rate(
        self, object r, Device d, double[::1] s, dict tracks, int kinds, long long its,
        double t, double v, object v_o, object did, list out,
    ) except *

    @cython.locals(
        o=Py_ssize_t, ds=Py_ssize_t, base=cython.double, z=cython.double, score=cython.double,
        flagged=cython.bint, max_dt=cython.double, dt=cython.double,
    )
    cdef void spo2_reading(
        self, Device d, double[::1] s, double t, double v, double last, dict tracks, int kinds,
        object r, object did, long long its, object v_o, double iv_s, list out,
    ) except *

    @cython.locals(
        cadence=cython.double, minute="long long", slot=Py_ssize_t, now=cython.double,
        rest_n=cython.double, still_n=cython.double, sum_rest=cython.double,
        sum_still=cython.double, n_rest=cython.long, n_still=cython.long, k=Py_ssize_t,
        age=cython.double, c=cython.double, quiet=cython.double, still=cython.bint,
    )
    cdef void steps(self, double[::1] s, long long ts, double t, double v, double interval) noexcept

    @cython.locals(stage=cython.double, awake=cython.bint, dt=cython.double)
    cdef void stage(
        self, Device d, double[::1] s, long long its, double t, double v, object did, list out
    ) except *

    @cython.locals(last_hr=cython.double)
    cdef bint off_wrist_check(
        self, double[::1] s, double t, double v, bint is_steps, double interval,
        double prev_any,
    ) noexcept
