"""The personal SpO2 baseline (no alert of its own) and the routing of a SpO2 reading to the
rules that judge it (:mod:`~detectors.kinds.low_spo2`, then
:mod:`~detectors.kinds.desaturation`).

Scoring against the baseline and learning it are the per-reading path's
(:meth:`detectors.reading_path.ReadingPath.spo2_reading`, compiled like heart rate's): it calls
:meth:`Spo2.on_reading` only when a rule can act on the reading.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from detectors import ewz
from detectors.config import EngineConfig
from detectors.kinds.base import Module, baseline_text
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent
from messages.codec import Reading

if TYPE_CHECKING:
    from detectors.kinds.desaturation import Desaturation
    from detectors.kinds.low_spo2 import LowSpo2
    from detectors.reading_path import Device


class Spo2(Module):
    name = "spo2"
    section = "baseline"
    layout = Layout("spo2", 1, (Slot("baseline", ewz.SLOTS),))

    def init_state(self, s: array[float], cfg: EngineConfig) -> None:
        ewz.reset(s, self.slot("baseline"), *cfg.baseline.spo2_prior)

    def setup(self) -> None:
        m = self.env.modules
        self.low: LowSpo2 = m["low_spo2"]  # type: ignore[assignment]
        self.desat: Desaturation = m["desaturation"]  # type: ignore[assignment]
        self.context = self.env.context_of

    def on_reading(self, r: Reading, d: Device, out: list[AlertEvent], base: float) -> bool:
        """Have the SpO2 rules judge one in-order SpO2 reading, scored against the personal
        baseline ``base`` (before learning it); True if a rule flags it (it is then not
        learned)."""
        ctx = self.context(d, r.ts_ms)
        flagged = False
        if self.low.enabled:
            flagged = self.low.on_spo2(r, d, out, ctx, base) or flagged
        if self.desat.enabled:
            flagged = self.desat.on_spo2(r, d, out, ctx, base) or flagged
        return flagged

    def baseline_text(self, s: array[float] | None, value: float | None) -> str:
        """The personal SpO2 baseline an alert used, in words
        (:func:`~detectors.kinds.base.baseline_text`)."""
        b = self.c.baseline
        return baseline_text(s, self.slot("baseline"), value, "%", b.spo2_sd_floor, b.warmup_ms)
