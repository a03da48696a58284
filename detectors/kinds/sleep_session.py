"""The current night's sleep session (no alert of its own): opened by the first non-awake
stage, closed after ``multiday.session_wake_ms`` awake or ``session_gap_ms`` without sleep data.
A closed night goes to the nightly rules (:mod:`~detectors.kinds.elevated_resting_hr`, then
:mod:`~detectors.kinds.sleep_disruption`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.kinds.base import HOUR, MIN, Module
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent

if TYPE_CHECKING:
    from detectors.kinds.elevated_resting_hr import ElevatedRestingHr
    from detectors.kinds.illness import Illness
    from detectors.kinds.sleep_disruption import SleepDisruption
    from detectors.reading_path import Device


class Night:
    """The measures of one closed night, as the nightly rules read them."""

    __slots__ = ("awakenings", "efficiency", "hours", "start")

    def __init__(self, start: float, hours: float, efficiency: float, awakenings: float) -> None:
        self.start = start
        self.hours = hours
        self.efficiency = efficiency
        self.awakenings = awakenings


class SleepSession(Module):
    name = "sleep_session"
    section = "multiday"
    layout = Layout(
        "sleep_session",
        1,
        (
            Slot("start", init=-1.0),
            Slot("last", init=-1.0, jump="time"),
            Slot("asleep_ms"),
            Slot("awake_ms"),
            Slot("awakenings"),
            Slot("awake_since", init=-1.0),
            Slot("hr_sum"),
            Slot("hr_n"),
            Slot("desaturations"),
            Slot("last_odi", init=-1.0),  # last night's desaturations per hour asleep
        ),
    )

    def setup(self) -> None:
        m = self.env.modules
        self.rhr: ElevatedRestingHr = m["elevated_resting_hr"]  # type: ignore[assignment]
        self.sleep: SleepDisruption = m["sleep_disruption"]  # type: ignore[assignment]
        self.illness: Illness = m["illness"]  # type: ignore[assignment]
        self.T_FIRST = self.slot("first", "device")
        self.START = self.slot("start")
        self.LAST = self.slot("last")
        self.ASLEEP = self.slot("asleep_ms")
        self.AWAKENINGS = self.slot("awakenings")
        self.HR_SUM = self.slot("hr_sum")
        self.HR_N = self.slot("hr_n")
        self.DESATS = self.slot("desaturations")
        self.LAST_ODI = self.slot("last_odi")

    def close(self, did: str, d: Device, ts: int, out: list[AlertEvent]) -> None:
        """Close the night (if it is one) and judge it."""
        s = d.s
        md = self.c.multiday
        start, end = s[self.START], s[self.LAST]
        asleep = s[self.ASLEEP]
        s[self.START] = -1.0
        if asleep < md.min_sleep_ms or start - s[self.T_FIRST] < 10 * MIN:
            return  # a nap, a fragment, or a night we joined half-way: not a night
        hours = asleep / HOUR
        eff = asleep / max(end - start, 1.0)
        awk = s[self.AWAKENINGS]
        s[self.LAST_ODI] = s[self.DESATS] / hours
        self.illness.on_sleep(did, d, end, asleep / MIN)
        if s[self.HR_N] >= 10:
            self.rhr.on_night(did, d, ts, start, s[self.HR_SUM] / s[self.HR_N], out)
        self.sleep.on_night(did, d, ts, Night(start, hours, eff, awk), out)
