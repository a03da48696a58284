"""Daily and nightly features of one device from heart rate and steps (sleep stages optional).

The multi-day illness signal (resting heart rate rising over a person's own baseline for a few
nights, steps falling) needs a handful of aggregates per device per day, not per reading. This
module accumulates them incrementally: :meth:`DailyFeatures.update` takes one reading
``(ts_ms, metric, value)`` at a time, does a fixed amount of arithmetic on a flat float array,
and returns the records of the periods the reading closed (almost always ``None``).

Definitions (all times in the wearer's *local* clock: ``ts_ms + utc_offset_min`` minutes):

- **at rest**: a heart-rate reading at least ``rest_after_ms`` (10 min) after the last minute
  with steps, while the steps stream is alive (a steps reading in the last ``rest_after_ms``).
  A device that sends no steps never has a resting heart rate: rest cannot be told from a walk.
- **resting HR**: the time-weighted mean of at-rest readings. Each reading weighs the time since
  the previous heart-rate reading, capped at one minute, so a 1 s watch and a 60 s ring count
  wear time alike.
- **the night** of local day ``D``: noon of ``D-1`` to noon of ``D``; its resting HR uses the
  at-rest readings between 00:00 and ``night_end_h`` (07:00) of ``D`` (Alavi et al. 2022 read
  resting HR between midnight and 7 am); sleep duration and efficiency use every sleep-stage
  epoch of the night when the device stages sleep.
- **the day** ``D``: local midnight to midnight: steps, hours worn (minutes with a heart-rate
  reading), resting HR and its spread (the at-rest sd).

Each feature is ``None`` when too little data backs it (``min_night_rest_min`` minutes at rest in
the night window, ``min_day_worn_h`` hours worn for the day's steps and resting HR); the record
still carries the amount of data (minutes) so a model can weigh it.

A night record is emitted by the first reading at or after noon, a day record by the first
reading of the next day (or by :meth:`DailyFeatures.advance`, which a clock tick calls so a
device that stopped sending still closes its periods). Readings that belong to an already
closed period are counted as late and otherwise ignored.

State: ``SLOTS`` doubles (``array('d')``, 216 bytes); :meth:`DailyFeatures.snapshot` prefixes
them with :data:`LAYOUT_VERSION`.
"""

from __future__ import annotations

import math
from array import array

import msgspec

from messages.metrics import Metric

LAYOUT_VERSION = 1

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

_HR = Metric.HEART_RATE.value
_STEPS = Metric.STEPS.value
_SLEEP = Metric.SLEEP_STAGE.value
_EPOCH_MIN = 0.5  # a sleep-stage reading covers one 30 s epoch

# slot layout
(
    OFFSET_MS,  # the wearer's UTC offset
    DAY,  # local day being accumulated (NaN before the first reading)
    NIGHT,  # local day whose night is being accumulated (NaN before the first reading)
    LAST_STEP_TS,  # newest steps reading with steps > 0
    LAST_STEPS_READING_TS,  # newest steps reading of any value
    FIRST_STEPS_TS,  # first steps reading since the stream was last dead
    LAST_HR_TS,
    LAST_HR_MIN,  # minute number of the newest heart-rate reading (wear time)
    LATE,  # readings of closed periods (ignored)
    D_STEPS,
    D_STEP_READINGS,
    D_WORN_MIN,
    D_REST_W,
    D_REST_SUM,
    D_REST_SQ,
    N_WORN_MIN,  # worn minutes inside the night window (00:00 - night_end_h)
    N_REST_W,
    N_REST_SUM,
    N_REST_SQ,
    N_BED_EPOCHS,
    N_ASLEEP_EPOCHS,
    N_FIRST_STAGE_TS,
    N_LAST_STAGE_TS,
    N_READINGS,
    D_READINGS,
    N_STEPS,  # steps inside the night window (restlessness; informational)
    N_SPARE,
) = range(27)
SLOTS = 27
_DAY_FIRST, _DAY_LAST = D_STEPS, D_REST_SQ
_NIGHT_FIRST, _NIGHT_LAST = N_WORN_MIN, N_SPARE

_NAN = float("nan")


class NightRecord(msgspec.Struct, frozen=True, gc=False):
    """One closed night: the night before local day ``day`` (epoch days).

    ``rest_hr`` and ``rest_hr_sd`` need ``min_night_rest_min`` minutes at rest between midnight
    and the end of the night window; ``sleep_min`` and ``sleep_efficiency`` need staged sleep.
    """

    day: int
    rest_hr: float | None
    rest_hr_sd: float | None
    rest_min: float
    worn_min: float
    sleep_min: float | None
    sleep_efficiency: float | None
    steps: float


class DayRecord(msgspec.Struct, frozen=True, gc=False):
    """One closed local calendar day ``day`` (epoch days; ``weekday`` 0 = Monday).

    ``steps``, ``rest_hr`` and ``rest_hr_sd`` are ``None`` when fewer than ``min_day_worn_h``
    hours were worn (steps also count as worn time when the device sends no heart rate).
    """

    day: int
    weekday: int
    worn_h: float
    steps: float | None
    rest_hr: float | None
    rest_hr_sd: float | None
    rest_min: float


Record = NightRecord | DayRecord


def _mean_sd(w: float, s: float, sq: float) -> tuple[float, float]:
    mean = s / w
    var = max(0.0, sq / w - mean * mean)
    return mean, math.sqrt(var)


class DailyFeatures:
    """Incremental daily and nightly features of one device.

    Parameters
    ----------
    utc_offset_min
        The wearer's UTC offset in minutes (local = UTC + offset). Change it with
        :meth:`set_utc_offset` when the wearer travels; the open periods keep their day numbers.
    rest_after_ms
        Time without steps before heart rate counts as resting (10 min).
    night_end_h
        The night window for resting HR is local 00:00 to this hour (7).
    min_night_rest_min, min_day_worn_h
        Data needed behind a night's resting HR (minutes at rest in the window) and a day's
        features (hours worn).

    Examples
    --------
    A quiet night at 52 bpm then a day with 6,000 steps, fed minute by minute (UTC+1):

    >>> f = DailyFeatures(utc_offset_min=60)
    >>> t0 = 1_767_225_600_000 - 3_600_000  # local midnight, 2026-01-01
    >>> out = []
    >>> for m in range(36 * 60):  # 36 hours
    ...     ts = t0 + m * 60_000
    ...     day = 8 * 60 <= m % 1440 < 22 * 60
    ...     for rec in (f.update(ts, "steps", 10.0 if day and m % 3 == 0 else 0.0) or ()):
    ...         out.append(rec)
    ...     for rec in (f.update(ts, "heart_rate", 70.0 if day else 52.0) or ()):
    ...         out.append(rec)
    >>> [type(r).__name__ for r in out]
    ['NightRecord', 'DayRecord']
    >>> out[0].rest_hr, out[0].rest_min
    (52.0, 410.0)
    >>> out[1].steps, out[1].worn_h
    (2800.0, 24.0)
    """

    __slots__ = (
        "_s",
        "min_day_worn_h",
        "min_night_rest_min",
        "night_end_ms",
        "rest_after_ms",
    )

    def __init__(
        self,
        utc_offset_min: int = 0,
        *,
        rest_after_ms: int = 10 * MINUTE_MS,
        night_end_h: float = 7.0,
        min_night_rest_min: float = 120.0,
        min_day_worn_h: float = 10.0,
    ) -> None:
        self.rest_after_ms = rest_after_ms
        self.night_end_ms = night_end_h * HOUR_MS
        self.min_night_rest_min = min_night_rest_min
        self.min_day_worn_h = min_day_worn_h
        self._s = array("d", bytes(8 * SLOTS))
        s = self._s
        s[OFFSET_MS] = utc_offset_min * MINUTE_MS
        for i in (DAY, NIGHT, LAST_STEP_TS, LAST_STEPS_READING_TS, FIRST_STEPS_TS, LAST_HR_TS):
            s[i] = _NAN
        s[LAST_HR_MIN] = -1.0

    # -- the per-reading path ----------------------------------------------------------------

    def update(self, ts_ms: int, metric: str, value: float) -> tuple[Record, ...] | None:
        """Accumulate one reading; return the records it closed, or ``None`` (the usual case).

        ``metric`` is a :class:`messages.metrics.Metric` value (other metrics are ignored).
        Readings must be physically plausible (the decoder dead-letters the rest).
        """
        s = self._s
        local = ts_ms + s[OFFSET_MS]
        day = local // DAY_MS
        out: tuple[Record, ...] | None = None
        # periods close on the first reading after them (the first reading only opens them)
        if day != s[DAY]:
            if day < s[DAY]:
                s[LATE] += 1.0
                return None
            out = self._close_day(int(day))
        night = (local + 12 * HOUR_MS) // DAY_MS  # noon..noon belongs to the next morning
        current_night = True
        if night != s[NIGHT]:
            if night < s[NIGHT]:  # the day is open but its night closed already
                s[LATE] += 1.0
                current_night = False
            else:
                closed = self._close_night(int(night))
                if closed is not None:
                    out = closed if out is None else out + closed
        in_window = current_night and 0.0 <= local - day * DAY_MS < self.night_end_ms
        s[D_READINGS] += 1.0
        if current_night:
            s[N_READINGS] += 1.0
        if metric == _HR:
            last = s[LAST_HR_TS]
            minute = ts_ms // MINUTE_MS
            if minute > s[LAST_HR_MIN]:
                s[LAST_HR_MIN] = minute
                s[D_WORN_MIN] += 1.0
                if in_window:
                    s[N_WORN_MIN] += 1.0
            if not ts_ms > last:  # out of order (or the first reading: NaN)
                if last == last:
                    return out
                last = ts_ms - MINUTE_MS
            s[LAST_HR_TS] = ts_ms
            # at rest: the steps stream is alive and quiet for rest_after_ms
            quiet_since = s[LAST_STEP_TS]
            if quiet_since != quiet_since:
                quiet_since = s[FIRST_STEPS_TS]
            if (
                ts_ms - quiet_since >= self.rest_after_ms
                and ts_ms - s[LAST_STEPS_READING_TS] <= self.rest_after_ms
            ):
                w = min(ts_ms - last, MINUTE_MS) / MINUTE_MS
                wv = w * value
                s[D_REST_W] += w
                s[D_REST_SUM] += wv
                s[D_REST_SQ] += wv * value
                if in_window:
                    s[N_REST_W] += w
                    s[N_REST_SUM] += wv
                    s[N_REST_SQ] += wv * value
        elif metric == _STEPS:
            if not ts_ms - s[LAST_STEPS_READING_TS] <= self.rest_after_ms:
                s[FIRST_STEPS_TS] = ts_ms  # the stream starts (again): quiet from here on
            if not ts_ms <= s[LAST_STEPS_READING_TS]:  # newer, or the first (NaN)
                s[LAST_STEPS_READING_TS] = ts_ms
            s[D_STEPS] += value
            s[D_STEP_READINGS] += 1.0
            if in_window:
                s[N_STEPS] += value
            if value > 0.0 and not ts_ms <= s[LAST_STEP_TS]:
                s[LAST_STEP_TS] = ts_ms
        elif metric == _SLEEP and current_night:
            s[N_BED_EPOCHS] += 1.0
            if value > 0.0:
                s[N_ASLEEP_EPOCHS] += 1.0
        return out

    def advance(self, now_ms: int) -> tuple[Record, ...] | None:
        """Close the periods that ended before ``now_ms`` (a clock tick; no reading needed)."""
        s = self._s
        local = now_ms + s[OFFSET_MS]
        day = local // DAY_MS
        out: tuple[Record, ...] | None = None
        if day > s[DAY] and s[DAY] == s[DAY]:
            out = self._close_day(int(day))
        night = (local + 12 * HOUR_MS) // DAY_MS
        if night > s[NIGHT] and s[NIGHT] == s[NIGHT]:
            closed = self._close_night(int(night))
            if closed is not None:
                out = closed if out is None else out + closed
        return out

    # -- closing periods ---------------------------------------------------------------------

    def _close_day(self, new_day: int) -> tuple[Record, ...] | None:
        s = self._s
        rec: DayRecord | None = None
        if s[DAY] == s[DAY] and s[D_READINGS] > 0:
            day = int(s[DAY])
            worn_h = s[D_WORN_MIN] / 60.0
            # a steps-only device: minutes with a steps reading stand in for wear time
            enough = max(worn_h, 0.0 if s[D_WORN_MIN] else s[D_STEP_READINGS] / 60.0)
            enough_worn = enough >= self.min_day_worn_h
            rest_hr = rest_sd = None
            if enough_worn and s[D_REST_W] >= self.min_night_rest_min:
                rest_hr, rest_sd = _mean_sd(s[D_REST_W], s[D_REST_SUM], s[D_REST_SQ])
            rec = DayRecord(
                day=day,
                weekday=(day + 3) % 7,  # 1970-01-01 was a Thursday
                worn_h=worn_h,
                steps=s[D_STEPS] if enough_worn and s[D_STEP_READINGS] else None,
                rest_hr=rest_hr,
                rest_hr_sd=rest_sd,
                rest_min=s[D_REST_W],
            )
        for i in range(_DAY_FIRST, _DAY_LAST + 1):
            s[i] = 0.0
        s[D_READINGS] = 0.0
        s[DAY] = new_day
        return None if rec is None else (rec,)

    def _close_night(self, new_night: int) -> tuple[Record, ...] | None:
        s = self._s
        rec: NightRecord | None = None
        if s[NIGHT] == s[NIGHT] and s[N_READINGS] > 0:
            rest_hr = rest_sd = None
            if s[N_REST_W] >= self.min_night_rest_min:
                rest_hr, rest_sd = _mean_sd(s[N_REST_W], s[N_REST_SUM], s[N_REST_SQ])
            bed = s[N_BED_EPOCHS]
            staged = bed >= 120  # at least an hour of staged epochs
            rec = NightRecord(
                day=int(s[NIGHT]),
                rest_hr=rest_hr,
                rest_hr_sd=rest_sd,
                rest_min=s[N_REST_W],
                worn_min=s[N_WORN_MIN],
                sleep_min=s[N_ASLEEP_EPOCHS] * _EPOCH_MIN if staged else None,
                sleep_efficiency=s[N_ASLEEP_EPOCHS] / bed if staged else None,
                steps=s[N_STEPS],
            )
        for i in range(_NIGHT_FIRST, _NIGHT_LAST + 1):
            s[i] = 0.0
        s[NIGHT] = new_night
        return None if rec is None else (rec,)

    # -- state -------------------------------------------------------------------------------

    def set_utc_offset(self, utc_offset_min: int) -> None:
        """The wearer changed time zone; periods already open keep their day numbers."""
        self._s[OFFSET_MS] = utc_offset_min * MINUTE_MS

    @property
    def late(self) -> int:
        """Readings ignored because their period had closed."""
        return int(self._s[LATE])

    def snapshot(self) -> bytes:
        """Versioned bytes of the whole state (``1 + 8 * SLOTS`` bytes)."""
        return bytes([LAYOUT_VERSION]) + self._s.tobytes()

    def restore(self, data: bytes) -> None:
        """Replace the state; ``ValueError`` if the layout version or size differs."""
        if len(data) != 1 + 8 * SLOTS or data[0] != LAYOUT_VERSION:
            raise ValueError(f"not a layout-{LAYOUT_VERSION} DailyFeatures snapshot")
        self._s = array("d", data[1:])

    def state_nbytes(self) -> int:
        """Bytes of per-device state (the slots)."""
        return self._s.itemsize * len(self._s)
