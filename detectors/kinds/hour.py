"""The current hour's aggregates (no alert of its own), judged when the hour closes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from detectors.kinds.base import Module
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent

if TYPE_CHECKING:
    from detectors.reading_path import Device


class HourSummary:
    """One finished hour as the hourly rule reads it.

    ``worn``: enough heart rate (the only wear evidence) and a steps count for most minutes;
    ``staged_asleep``: the device's sleep staging said asleep for most of its heart rate;
    ``hr_mean`` / ``hr_sd``: of the hour's heart-rate readings (0 without any).
    """

    __slots__ = ("hr_mean", "hr_n", "hr_sd", "staged_asleep", "steps", "worn")

    def __init__(
        self,
        steps: float,
        worn: bool,
        staged_asleep: bool,
        hr_n: float,
        hr_mean: float,
        hr_sd: float,
    ) -> None:
        self.steps = steps
        self.worn = worn
        self.staged_asleep = staged_asleep
        self.hr_n = hr_n
        self.hr_mean = hr_mean
        self.hr_sd = hr_sd


class Hour(Module):
    name = "hour"
    layout = Layout(
        "hour",
        2,
        (
            Slot("current", init=-1.0),  # hour number (event time // 1 h)
            Slot("steps", jump="reset"),
            Slot("steps_n", jump="reset"),
            Slot("hr_n", jump="reset"),
            Slot("asleep_n", jump="reset"),
            Slot("hr_sum", jump="reset"),  # heart rate: sum and sum of squares of the hour
            Slot("hr_sq", jump="reset"),
        ),
    )

    def setup(self) -> None:
        from detectors.kinds.illness import Illness
        from detectors.kinds.local_time import LocalTime
        from detectors.kinds.unusual_inactivity import UnusualInactivity

        inactivity = self.env.modules["unusual_inactivity"]
        assert isinstance(inactivity, UnusualInactivity)
        self.inactivity = inactivity
        local = self.env.modules["local_time"]
        assert isinstance(local, LocalTime)
        self.local = local
        illness = self.env.modules["illness"]
        assert isinstance(illness, Illness)
        self.illness = illness
        self.CUR = self.slot("current")
        self.STEPS = self.slot("steps")
        self.STEPS_N = self.slot("steps_n")
        self.HR_N = self.slot("hr_n")
        self.ASLEEP_N = self.slot("asleep_n")
        self.HR_SUM = self.slot("hr_sum")
        self.HR_SQ = self.slot("hr_sq")

    def close(self, did: str, d: Device, hour: int, ts: int, out: list[AlertEvent]) -> None:
        """The hour changed to ``hour`` (or the device's first reading arrived): judge the
        finished one with the offset it had, then start the new one on the offset it has."""
        s = d.s
        cur = int(s[self.CUR])
        n = s[self.HR_N]
        mean = s[self.HR_SUM] / n if n > 0 else 0.0
        var = s[self.HR_SQ] / n - mean * mean if n > 0 else 0.0
        summary = HourSummary(
            steps=s[self.STEPS],
            worn=n >= 5 and s[self.STEPS_N] >= 30,
            staged_asleep=n > 0 and s[self.ASLEEP_N] * 2 >= n,
            hr_n=n,
            hr_mean=mean,
            hr_sd=math.sqrt(var) if var > 0.0 else 0.0,
        )
        self.inactivity.on_hour(did, d, cur, summary, ts, out)
        self.illness.on_hour(did, d, cur, hour, ts, out)
        self.local.refresh(did, d, ts)
        s[self.CUR] = hour
        s[self.STEPS] = s[self.STEPS_N] = s[self.HR_N] = s[self.ASLEEP_N] = 0.0
        s[self.HR_SUM] = s[self.HR_SQ] = 0.0
