"""Unusually inactive in usually active hours: each finished hour (worn and awake) against
the person's usual steps for that hour of the wearer's local day."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors import hourly
from detectors.kinds.base import HOUR, Module, r1
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.reading_path import Device


class UnusualInactivity(Module):
    name = "unusual_inactivity"
    kind = K.UNUSUAL_INACTIVITY
    section = "inactivity"
    multiday = True
    title = "Unusually inactive in usually active hours"
    layout = Layout(
        "unusual_inactivity",
        1,
        (
            Slot("profile", hourly.SLOTS),  # usual steps per hour of day
            Slot("run"),  # unusual hours in the current run
            Slot("run_start", init=-1.0),
            Slot("run_last"),
            Slot("run_steps"),
            Slot("run_usual"),
        ),
    )

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

    def on_hour(
        self,
        did: str,
        d: Device,
        cur: int,
        worn: bool,
        total: float,
        ts: int,
        out: list[AlertEvent],
    ) -> None:
        """Judge hour number ``cur`` (``total`` steps; ``worn``: worn and awake).

        Only hours worn and awake are judged; usually quiet hours neither extend nor break a
        run of unusual hours, a usually active hour back to a third of its usual ends it.
        """
        s = d.s
        ic = self.c.inactivity
        hp, run = self.HP, self.RUN
        if s[run] > 0 and cur - s[self.RUN_LAST] > 12:
            s[run] = 0.0  # too long without evidence either way
        if cur >= 0 and worn:
            hod = self.local.hour_of_day(s, cur * HOUR)  # the wearer's hour, not UTC's
            usual = hourly.usual(s, hp, hod)
            if ic.enabled and hourly.unusual(
                s, hp, hod, total, ic.usual_active_steps_per_hour, ic.fraction, ic.min_days
            ):
                if s[run] == 0:
                    s[self.RUN_START] = cur * HOUR
                    s[self.RUN_STEPS] = s[self.RUN_USUAL] = 0.0
                s[run] += 1.0
                s[self.RUN_LAST] = cur
                s[self.RUN_STEPS] += total
                s[self.RUN_USUAL] += usual
                if s[run] >= ic.consecutive_hours:
                    n = s[run]
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
                        context="awake and wearing the device",
                        detail=f"About {round(s[self.RUN_STEPS] / n)} steps/hour over {int(n)} "
                        f"hours that usually see about {round(s[self.RUN_USUAL] / n)} steps/hour.",
                    )
            else:
                hourly.learn(s, hp, hod, total, 28)
                if (
                    s[run] > 0
                    and usual >= ic.usual_active_steps_per_hour
                    and (total >= 3 * ic.fraction * usual)
                ):
                    s[run] = 0.0
                    self.book.resolve(
                        did, d.tracks, K.UNUSUAL_INACTIVITY, ts, out, end_ms=cur * HOUR
                    )
