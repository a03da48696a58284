"""Unusually inactive in usually active hours: each finished hour (worn and awake) against
the person's usual steps for that hour of the wearer's local day.

*Awake* is decided from what the device sends, never assumed:

- a device that stages sleep (a stage within the last 48 h): an hour the staging calls asleep
  is not judged;
- a device without sleep staging: an hour whose heart rate looks like sleep (its mean within
  ``sleep_hr_margin_bpm``, or 2 sd of the day-to-day spread, of the person's lowest daily
  level, and steady within the hour) is not judged; until that level is learned (``min_days``
  days with 12 h of heart rate) no hour is judged.

The first ``wake_grace_hours`` after sleep are not judged either when quiet (awake in bed, a
weekend lie-in): a morning that starts late is not inactivity. A device that sends no steps or
no heart rate (the only wear evidence) is never judged.
"""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from detectors import ewz, hourly
from detectors.alerts import Track
from detectors.config import EngineConfig
from detectors.kinds.base import DAY, HOUR, Module, Wording, plural, r1
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.kinds.hour import HourSummary
    from detectors.reading_path import Device

#: sleep stages sent within this long mean the device stages sleep (its staging decides)
STAGED_WITHIN_MS = 48 * HOUR
#: an hour's mean heart rate needs this many readings to count towards the daily lowest level
_LEVEL_MIN_READINGS = 20
#: ...and a day this many such hours to teach it (a day worn for a few hours has no sleep)
_LEVEL_MIN_HOURS = 12
_LEVEL_SPAN_DAYS = 14
_LEVEL_Z = 2.0
_NO_LEVEL = 1e9


class UnusualInactivity(Module):
    name = "unusual_inactivity"
    kind = K.UNUSUAL_INACTIVITY
    section = "inactivity"
    multiday = True
    title = "Unusually inactive in usually active hours"
    layout = Layout(
        "unusual_inactivity",
        2,
        (
            Slot("profile", hourly.SLOTS),  # usual steps per hour of day
            Slot("run"),  # unusual hours in the current run
            Slot("run_start", init=-1.0),
            Slot("run_last"),
            Slot("run_steps"),
            Slot("run_usual"),
            Slot("run_hr"),  # sum of the run's hourly mean heart rates
            Slot("last_sleep", init=-1.0),  # hour number of the last hour asleep
            # the person's lowest daily level of hourly mean heart rate (EW over days): the
            # sleeping level of a device without sleep staging
            Slot("level", ewz.SLOTS),
            Slot("day", init=-1.0),  # local day number of day_min
            Slot("day_min", init=_NO_LEVEL),
            Slot("day_hours"),  # hours of today with a meaningful mean heart rate
        ),
    )

    def describe(self, t: Track, w: Wording) -> str:
        steps = "n/a" if t.peak is None else round(t.peak)
        usual = "n/a" if t.baseline is None else round(t.baseline)
        return (
            f"Unusually inactive for {w.dur}{w.from_clock()}: about {steps} steps/hour in hours "
            f"when this person usually takes about {usual}; {t.context}."
        )

    def init_state(self, s: array[float], cfg: EngineConfig) -> None:
        ewz.reset(s, self.slot("level"), *cfg.baseline.hr_sleep_prior)

    def setup(self) -> None:
        from detectors.kinds.local_time import LocalTime

        local = self.env.modules["local_time"]
        assert isinstance(local, LocalTime)
        self.local = local
        self.HP = self.slot("profile")
        self.RUN = self.slot("run")
        self.RUN_START = self.slot("run_start")
        self.RUN_LAST = self.slot("run_last")
        self.RUN_STEPS = self.slot("run_steps")
        self.RUN_USUAL = self.slot("run_usual")
        self.RUN_HR = self.slot("run_hr")
        self.LAST_SLEEP = self.slot("last_sleep")
        self.LEVEL = self.slot("level")
        self.DAY = self.slot("day")
        self.DAY_MIN = self.slot("day_min")
        self.DAY_HOURS = self.slot("day_hours")
        self.T_STAGE = self.slot("newest_sleep_stage", "device")

    def _learn_level(self, s: array[float], cur: int, h: HourSummary) -> None:
        """Track today's lowest hourly mean heart rate; fold a finished day into the level."""
        day = self.local.local_ms(s, cur * HOUR) // DAY  # the wearer's day: one night each
        if day != s[self.DAY]:
            if s[self.DAY_HOURS] >= _LEVEL_MIN_HOURS:
                ewz.learn(s, self.LEVEL, s[self.DAY_MIN], 2.0 / (_LEVEL_SPAN_DAYS + 1.0), 0.0)
            s[self.DAY] = day
            s[self.DAY_MIN] = _NO_LEVEL
            s[self.DAY_HOURS] = 0.0
        if h.hr_n >= _LEVEL_MIN_READINGS:
            s[self.DAY_HOURS] += 1.0
            if h.hr_mean < s[self.DAY_MIN]:
                s[self.DAY_MIN] = h.hr_mean

    def sleep_hr_limit(self, s: array[float]) -> float:
        """Highest hourly mean heart rate that still looks like this person's sleep."""
        ic = self.c.inactivity
        sd = math.sqrt(max(s[self.LEVEL + ewz.VAR], 0.0))
        return s[self.LEVEL] + max(ic.sleep_hr_margin_bpm, _LEVEL_Z * sd)

    def on_hour(
        self, did: str, d: Device, cur: int, h: HourSummary, ts: int, out: list[AlertEvent]
    ) -> None:
        """Judge hour number ``cur`` (its aggregates ``h``).

        Only hours worn and awake are judged; usually quiet hours neither extend nor break a
        run of unusual hours, a usually active hour back to a third of its usual ends it.
        """
        s = d.s
        ic = self.c.inactivity
        hp, run = self.HP, self.RUN
        if s[run] > 0 and cur - s[self.RUN_LAST] > 12:
            s[run] = 0.0  # too long without evidence either way
        if cur < 0:
            return
        # decided before this hour teaches the level (prequential)
        staged = s[self.T_STAGE] >= 0.0 and cur * HOUR - s[self.T_STAGE] <= STAGED_WITHIN_MS
        level_ready = s[self.LEVEL + ewz.N] >= ic.min_days
        limit = self.sleep_hr_limit(s)
        self._learn_level(s, cur, h)
        if not h.worn:
            return
        hod = self.local.hour_of_day(s, cur * HOUR)  # the wearer's hour, not UTC's
        usual = hourly.usual(s, hp, hod)
        unusual = ic.enabled and hourly.unusual(
            s, hp, hod, h.steps, ic.usual_active_steps_per_hour, ic.fraction, ic.min_days
        )
        if staged:
            asleep = h.staged_asleep
        else:  # sleep-like heart rate, once this person's sleeping level is known
            asleep = level_ready and h.hr_mean <= limit and h.hr_sd <= ic.sleep_hr_max_sd_bpm
        if asleep:
            s[self.LAST_SLEEP] = cur
        if (
            asleep
            or not (staged or level_ready)  # no staging, no sleeping level: can't tell yet
            or (unusual and 0 <= cur - s[self.LAST_SLEEP] <= ic.wake_grace_hours)
        ):
            # not judged (asleep, or just up: a quiet hour there is a late morning); the
            # profile still learns the hour unless its steps were unusual
            if not unusual:
                hourly.learn(s, hp, hod, h.steps, 28)
            return
        if unusual:
            if s[run] == 0:
                s[self.RUN_START] = cur * HOUR
                s[self.RUN_STEPS] = s[self.RUN_USUAL] = s[self.RUN_HR] = 0.0
            s[run] += 1.0
            s[self.RUN_LAST] = cur
            s[self.RUN_STEPS] += h.steps
            s[self.RUN_USUAL] += usual
            s[self.RUN_HR] += h.hr_mean
            if s[run] >= ic.consecutive_hours:
                n = s[run]
                hr = round(s[self.RUN_HR] / n)
                if staged:
                    context = "awake (by the device's sleep staging) and wearing the device"
                else:
                    context = (
                        f"awake and wearing the device (no sleep staging: heart rate about {hr}"
                        f" bpm, above this person's sleeping level of about"
                        f" {round(s[self.LEVEL])} bpm)"
                    )
                self.book.active(
                    did,
                    d.tracks,
                    K.UNUSUAL_INACTIVITY,
                    ts,
                    int(s[self.RUN_START]),
                    "warning",
                    r1(s[self.RUN_STEPS] / n),
                    False,
                    out,
                    baseline=r1(s[self.RUN_USUAL] / n),
                    context=context,
                    # quiet hours asleep or usually quiet neither break nor join the run
                    detail=f"Averaged over {plural(int(n), 'unusual awake hour')}.",
                )
        else:
            hourly.learn(s, hp, hod, h.steps, 28)
            if (
                s[run] > 0
                and usual >= ic.usual_active_steps_per_hour
                and (h.steps >= 3 * ic.fraction * usual)
            ):
                s[run] = 0.0
                self.book.resolve(did, d.tracks, K.UNUSUAL_INACTIVITY, ts, out, end_ms=cur * HOUR)
