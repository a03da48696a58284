"""What a device normally sends (no alert of its own): the hours of the day it usually reports
in, and how long its ordinary holes are. :mod:`~detectors.kinds.dropout` and
:mod:`~detectors.kinds.device_silent` judge a gap against this, not against a stream that never
stops: a tracker that only logs sleep at night is not "dropping out" every morning, and a
steps export that routinely skips half an hour is not broken when it does so again.

- **Usual hours.** Per hour of the wearer's local day (:mod:`~detectors.kinds.local_time`),
  the share of recent days on which the device sent anything in that hour (a running mean from
  a prior of 1, then exponentially weighted over ``quality.presence_days``). An hour is *usual*
  while its share is above ``quality.usual_hour_share``. Only the part of a gap that falls in
  usual hours counts (its *usual length*). Local hours keep a routine where the wearer lives
  it: across a daylight-saving change or travel the profile moves with them, and two wearers
  with the same day in different zones learn the same profile.
- **Ordinary holes.** Per length in :data:`HOLE_EDGES_MS`, an exponentially weighted count
  (decayed per day over ``presence_days``) of gaps whose usual length reached it. A length
  seen at least ``quality.ordinary_holes_per_week`` times a week is *ordinary* for this device:
  only a gap longer than every ordinary length is reported. Every gap is recorded once it has
  been judged (a single outage decays away; only a habit becomes ordinary).
- **Signal set.** A device that has only ever sent sleep stages logs while its wearer sleeps:
  its silences say when they slept, not whether it works. Only a gap covering every usual hour
  of a day (a night it did not log) is news from such a device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from detectors.kinds.base import DAY, HOUR, MIN, Module
from detectors.kinds.local_time import LocalTime
from detectors.layout import Layout, Slot

if TYPE_CHECKING:
    from array import array

    from detectors.reading_path import Device

#: the hole lengths whose frequency is learned (usual length, ms)
HOLE_EDGES_MS = (10 * MIN, 20 * MIN, 45 * MIN, 90 * MIN, 3 * HOUR, 6 * HOUR)
#: reported whatever the device's habits: half a day of usual hours without data
LONGEST_ORDINARY_MS = 12 * HOUR
#: missing hours marked at most per gap (a week: every hour of the day decays 7 times)
_MAX_MISSING_HOURS = 7 * 24


class Presence(Module):
    name = "presence"
    # version 2: the hours are the wearer's local hours of the day (UTC hours before)
    layout = Layout(
        "presence",
        2,
        (
            Slot("hours", 24, init=1.0),  # share of days with data, per local hour of the day
            Slot("hours_n", 24),  # days judged per hour of the day (the running mean's count)
            Slot("holes", len(HOLE_EDGES_MS)),  # EW count of holes at least each edge long
            Slot("day", init=-1.0),  # day number of the holes' last decay
        ),
    )

    def setup(self) -> None:
        self.HOURS = self.slot("hours")
        self.HOURS_N = self.slot("hours_n")
        self.HOLES = self.slot("holes")
        self.DAY = self.slot("day")
        local = self.env.modules["local_time"]
        assert isinstance(local, LocalTime)
        self.local = local
        self.NEWEST = [self.slot(f"newest_{m}", "device") for m in ("heart_rate", "spo2", "steps")]
        self.T_FIRST = self.slot("first", "device")
        q = self.c.quality
        self.memory = float(q.presence_days)
        self.learn_ms = float(q.presence_learn_days) * DAY
        self.share = float(q.usual_hour_share)
        # steady state of a count decayed by 1/memory per day: rate per day x memory
        self.ordinary_count = q.ordinary_holes_per_week / 7.0 * self.memory

    # -- learning ----------------------------------------------------------------------------

    def on_hour(self, d: Device, old: float, new: int, t: float) -> None:
        """The device sent a reading in absolute hour ``new`` (``ts // 1 h``); its previous one
        was in ``old`` (-1: none): the hours in between had no data. Each is learned at its
        local hour of the day (the offset the hour closed with)."""
        s = d.s
        hour_of_day = self.local.hour_of_day
        if old >= 0 and new > old:
            h = int(old) + 1
            for _ in range(min(new - h, _MAX_MISSING_HOURS)):
                self._learn(s, hour_of_day(s, h * HOUR), 0.0)
                h += 1
        self._learn(s, hour_of_day(s, new * HOUR), 1.0)
        day = new // 24
        last_day = s[self.DAY]
        if last_day >= 0 and day > last_day:
            keep = (1.0 - 1.0 / self.memory) ** min(day - last_day, 1000)
            for i in range(len(HOLE_EDGES_MS)):
                s[self.HOLES + i] *= keep
        if day > last_day:
            s[self.DAY] = day

    def _learn(self, s: array[float], hour_of_day: int, x: float) -> None:
        """A running mean from the prior (worth one day), then EW over ``presence_days``."""
        n = s[self.HOURS_N + hour_of_day] + 1.0
        s[self.HOURS_N + hour_of_day] = n if n < self.memory else self.memory
        a = 1.0 / (n + 1.0)
        if a < 1.0 / self.memory:
            a = 1.0 / self.memory
        s[self.HOURS + hour_of_day] += a * (x - s[self.HOURS + hour_of_day])

    def record_hole(self, d: Device, usual_ms: float) -> None:
        """Count a gap of usual length ``usual_ms`` (after it has been judged)."""
        s = d.s
        for i, edge in enumerate(HOLE_EDGES_MS):
            if usual_ms < edge:
                break
            s[self.HOLES + i] += 1.0

    # -- judging -----------------------------------------------------------------------------

    def learned_from(self, d: Device) -> float:
        """When the device will have had ``quality.presence_learn_days`` of history. Before
        that its usual hours and holes are the prior, not its habits: no one can call a gap
        abnormal that may be its habit."""
        first = d.s[self.T_FIRST]
        return first + self.learn_ms if first >= 0 else math.inf

    def news_ms(self, d: Device, start: float) -> float:
        """The usual length from which a gap starting at ``start`` is news: past the device's
        ordinary holes; before it has ``quality.presence_learn_days`` of history (see
        :meth:`learned_from`), also past the longest hole the profile could learn
        (:data:`HOLE_EDGES_MS`), as any shorter one may turn out to be its habit."""
        ordinary = self.ordinary_ms(d)
        if start < self.learned_from(d) and ordinary < HOLE_EDGES_MS[-1]:
            return float(HOLE_EDGES_MS[-1])
        return ordinary

    def usual(self, d: Device, hour_of_day: int) -> bool:
        """Whether the device usually sends data in local hour ``hour_of_day``."""
        return d.s[self.HOURS + hour_of_day] > self.share

    def usual_at(self, d: Device, t: float) -> bool:
        """Whether the (UTC whole) hour event time ``t`` falls in is one of the device's usual
        hours, read at the local hour its start falls in (as :meth:`on_hour` learns it)."""
        return self.usual(d, self.local.hour_of_day(d.s, (t // HOUR) * HOUR))

    def usual_ms(self, d: Device, start: float, end: float) -> float:
        """How much of ``[start, end)`` falls in the device's usual hours."""
        if end <= start:
            return 0.0
        days = (end - start) // DAY
        total = 0.0
        if days > 0:
            total = days * HOUR * sum(1 for h in range(24) if self.usual(d, h))
            start += days * DAY
        t = start
        while t < end:
            nxt = min((t // HOUR + 1) * HOUR, end)
            if self.usual_at(d, t):
                total += nxt - t
            t = nxt
        return total

    def reach(self, d: Device, start: float, need_ms: float) -> float:
        """The earliest time at which ``[start, t)`` holds ``need_ms`` of usual hours (at most
        two days on: the caller looks again then)."""
        t = start
        left = need_ms
        horizon = start + 2 * DAY
        while t < horizon:
            nxt = (t // HOUR + 1) * HOUR
            if self.usual_at(d, t):
                if nxt - t >= left:
                    return t + left
                left -= nxt - t
            t = nxt
        return horizon

    def ordinary_ms(self, d: Device) -> float:
        """The shortest usual length this device does not routinely go without data (a gap
        at least this long is news); 0 if it has no habitual holes at all."""
        s = d.s
        if all(s[o] < 0 for o in self.NEWEST):
            # sleep stages only (or nothing yet): a whole day's usual hours
            return float(HOUR * sum(1 for h in range(24) if self.usual(d, h)))
        for i, edge in enumerate(HOLE_EDGES_MS):
            if s[self.HOLES + i] < self.ordinary_count:
                return float(edge) if i else 0.0
        return float(LONGEST_ORDINARY_MS)
