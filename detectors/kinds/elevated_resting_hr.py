"""Resting heart rate (the mean heart rate asleep) elevated over consecutive nights.

Asleep is what the device's sleep staging says: a device without staging has no nights and is
never judged (its heart rate at night is not guessed to be sleep)."""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from detectors import ewz, nightly
from detectors.alerts import Track
from detectors.config import EngineConfig
from detectors.kinds.base import Module, Wording, bpm, r1
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent, Severity
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.reading_path import Device


class ElevatedRestingHr(Module):
    name = "elevated_resting_hr"
    kind = K.ELEVATED_RESTING_HR
    section = "multiday"
    multiday = True
    title = "Resting heart rate elevated over several nights"
    layout = Layout(
        "elevated_resting_hr",
        1,
        (
            Slot("baseline", nightly.SLOTS),  # ~4-week baseline of the nightly resting HR
            Slot("run_start", init=-1.0),
        ),
    )

    def describe(self, t: Track, w: Wording) -> str:
        return (
            f"Resting heart rate (mean asleep, by the device's sleep staging) elevated for "
            f"{w.dur}{w.where}."
        )

    def init_state(self, s: array[float], cfg: EngineConfig) -> None:
        nightly.reset(s, self.slot("baseline"), cfg.baseline.hr_sleep_prior[0], 3.0)

    def setup(self) -> None:
        self.N = self.slot("baseline")
        self.RUN_START = self.slot("run_start")

    def on_night(
        self, did: str, d: Device, ts: int, start: float, rhr: float, out: list[AlertEvent]
    ) -> None:
        """Judge a closed night whose mean heart rate asleep was ``rhr``."""
        s = d.s
        md = self.c.multiday
        span, floor = md.baseline_nights, 0.5
        base = s[self.N]
        sd = math.sqrt(max(s[self.N + ewz.VAR], 0.0))
        consec = nightly.close_night(
            s, self.N, rhr, 1, md.rhr_delta_bpm, None, floor, md.min_nights, span, 0.05
        )
        if consec == 1:
            s[self.RUN_START] = start
        if consec >= md.rhr_consecutive_nights:
            sev: Severity = (
                "warning"
                if consec > md.rhr_consecutive_nights or rhr - base >= 2 * md.rhr_delta_bpm
                else "info"
            )
            self.book.active(
                did,
                d.tracks,
                K.ELEVATED_RESTING_HR,
                ts,
                int(s[self.RUN_START]),
                sev,
                r1(rhr),
                True,
                out,
                baseline=r1(base),
                detail=f"Last night {bpm(rhr)} asleep, {bpm(rhr - base)} above the personal "
                f"baseline of {round(base)} +/- {round(sd)} bpm (~{span} nights); at least "
                f"{bpm(md.rhr_delta_bpm)} above it for {consec} consecutive nights (an early "
                "illness sign).",
            )
        elif consec == 0:
            self.book.resolve(did, d.tracks, K.ELEVATED_RESTING_HR, ts, out, end_ms=int(start))
