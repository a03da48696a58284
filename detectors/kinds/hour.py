"""The current hour's aggregates (no alert of its own), judged when the hour closes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.kinds.base import Module
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent

if TYPE_CHECKING:
    from detectors.reading_path import Device


class Hour(Module):
    name = "hour"
    layout = Layout(
        "hour",
        1,
        (
            Slot("current", init=-1.0),  # hour number (event time // 1 h)
            Slot("steps", jump="reset"),
            Slot("steps_n", jump="reset"),
            Slot("hr_n", jump="reset"),
            Slot("asleep_n", jump="reset"),
        ),
    )

    def setup(self) -> None:
        from detectors.kinds.illness import Illness
        from detectors.kinds.unusual_inactivity import UnusualInactivity

        inactivity = self.env.modules["unusual_inactivity"]
        assert isinstance(inactivity, UnusualInactivity)
        self.inactivity = inactivity
        illness = self.env.modules["illness"]
        assert isinstance(illness, Illness)
        self.illness = illness
        self.CUR = self.slot("current")
        self.STEPS = self.slot("steps")
        self.STEPS_N = self.slot("steps_n")
        self.HR_N = self.slot("hr_n")
        self.ASLEEP_N = self.slot("asleep_n")

    def close(self, did: str, d: Device, hour: int, ts: int, out: list[AlertEvent]) -> None:
        """The hour changed to ``hour``: judge the finished one, start the new one."""
        s = d.s
        cur = int(s[self.CUR])
        worn = s[self.HR_N] >= 5 and s[self.STEPS_N] >= 30 and s[self.ASLEEP_N] * 2 < s[self.HR_N]
        self.inactivity.on_hour(did, d, cur, worn, s[self.STEPS], ts, out)
        self.illness.on_hour(did, d, cur, hour, ts, out)
        s[self.CUR] = hour
        s[self.STEPS] = s[self.STEPS_N] = s[self.HR_N] = s[self.ASLEEP_N] = 0.0
