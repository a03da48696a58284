"""Sustained low SpO2 (below ``low_spo2.threshold`` for ``sustain_ms``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors import sustain
from detectors.alerts import Track
from detectors.kinds.base import CONTEXT_TEXT, Module, Wording, pct, r1
from detectors.kinds.tachycardia import RUN
from detectors.layout import Layout
from detectors.news2 import spo2_score
from detectors.types import AlertEvent, Severity
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.kinds.spo2 import Spo2
    from detectors.reading_path import Device


class LowSpo2(Module):
    name = "low_spo2"
    kind = K.LOW_SPO2
    section = "low_spo2"
    metric = Metric.SPO2
    layout = Layout("low_spo2", 1, (RUN,))

    def setup(self) -> None:
        self.R = self.slot("run")
        self.enabled = self.c.low_spo2.enabled

    def on_spo2(self, r: Reading, d: Device, out: list[AlertEvent], ctx: int, base: float) -> bool:
        """One in-order SpO2 reading; True if it hits the rule (the reading is flagged)."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        tracks = d.tracks
        lc = self.c.low_spo2
        run = self.R
        h = v < lc.threshold + lc.hysteresis and sustain.hit(
            s, run, v, lc.threshold, lc.hysteresis, lc.sustain_ms, False
        )
        if (h or s[run] >= 0) and sustain.update(
            s, run, ts, h, v, lc.sustain_ms, lc.grace_ms, False
        ):
            low = s[run + sustain.PEAK]
            # NEWS2 SpO2 scale 1 scores 3 at <= 91 %; a wrist sensor is noisier than a
            # ward oximeter, so only a deep drop is critical
            sev: Severity = (
                "critical" if low <= 85 else "warning" if spo2_score(low) >= 3 else "info"
            )
            self.book.active(
                r.device_id,
                tracks,
                K.LOW_SPO2,
                ts,
                int(s[run]),
                sev,
                v,
                False,
                out,
                baseline=r1(base),
                context=CONTEXT_TEXT[ctx],
            )
        elif K.LOW_SPO2 in tracks:
            self.book.inactive(r.device_id, tracks, K.LOW_SPO2, ts, out)
        return bool(h)

    def describe(self, t: Track, w: Wording) -> str:
        spo2: Spo2 = self.env.modules["spo2"]  # type: ignore[assignment]
        return (
            f"SpO2 below {pct(self.env.cfg.low_spo2.threshold)} for {w.dur} (lowest "
            f"{pct(t.peak)}){w.where}; personal SpO2 baseline "
            f"{spo2.baseline_text(w.s, t.baseline)}."
        )
