"""The personal SpO2 baseline (no alert of its own) and the routing of a SpO2 reading to the
rules that judge it (:mod:`~detectors.kinds.low_spo2`, then
:mod:`~detectors.kinds.desaturation`)."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from detectors import desaturation, ewz
from detectors.config import EngineConfig
from detectors.kinds.base import Module
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent, Scored
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
        self.B = self.slot("baseline")
        self.DS = self.slot("run", "desaturation")
        self.context = self.env.context_of

    def on_reading(self, r: Reading, d: Device, out: list[AlertEvent], last: float) -> Scored:
        """Score, judge and learn one in-order SpO2 reading; ``last``: the event time of the
        device's previous SpO2 reading (-1: none)."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        b = self.c.baseline
        bo = self.B
        ctx = self.context(d, ts)
        base = s[bo]
        z = ewz.zscore(s, bo, v, b.spo2_sd_floor)
        score = -z if z < 0 else 0.0  # only low saturation is anomalous
        warm = s[bo + ewz.N] >= b.warmup_ms
        flagged = warm and score >= b.flag_z
        if self.low.enabled:
            flagged = self.low.on_spo2(r, d, out, ctx, base) or flagged
        if self.desat.enabled:
            flagged = self.desat.on_spo2(r, d, out, ctx, base) or flagged
        if not flagged and not desaturation.in_episode(s, self.DS):
            dt = ts - last if 0 <= last < ts else b.max_dt_ms
            ewz.learn_timed(s, bo, v, min(dt, b.max_dt_ms), b.tau_ms, b.prior_ms)
        return Scored(r.device_id, ts, r.metric, v, score, base, flagged)
