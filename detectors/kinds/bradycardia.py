"""Sustained bradycardia, in any context (asleep it is critical only when very low)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors import sustain
from detectors.alerts import Track
from detectors.kinds.base import ASLEEP, CONTEXT_TEXT, REST, Module, Wording, bpm, r1
from detectors.kinds.tachycardia import RUN
from detectors.layout import Layout
from detectors.types import AlertEvent, Severity
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.kinds.heart_rate import HeartRate
    from detectors.reading_path import Device


class Bradycardia(Module):
    name = "bradycardia"
    kind = K.BRADYCARDIA
    section = "bradycardia"
    metric = Metric.HEART_RATE
    layout = Layout("bradycardia", 1, (RUN,))

    def setup(self) -> None:
        self.R = self.slot("run")
        bc = self.c.bradycardia
        self.high = bc.threshold + bc.hysteresis

    def on_heart_rate(
        self, r: Reading, d: Device, out: list[AlertEvent], ctx: int, expected: float
    ) -> bool:
        """One in-order heart-rate reading; True if it hits the rule."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        tracks = d.tracks
        bc = self.c.bradycardia
        run = self.R
        h = v < self.high and sustain.hit(
            s, run, v, bc.threshold, bc.hysteresis, bc.sustain_ms, False
        )
        if (h or s[run] >= 0) and sustain.update(
            s, run, ts, h, v, bc.sustain_ms, bc.grace_ms, False
        ):
            low = s[run + sustain.PEAK]
            # NEWS2 pulse <= 40 scores 3; asleep, a low rate is often physiological
            sev: Severity = "critical" if (ctx != ASLEEP or low <= 35) else "warning"
            self.book.active(
                r.device_id,
                tracks,
                K.BRADYCARDIA,
                ts,
                int(s[run]),
                sev,
                v,
                False,
                out,
                baseline=r1(expected),
                context=CONTEXT_TEXT[ctx],
            )
        elif K.BRADYCARDIA in tracks:
            self.book.inactive(r.device_id, tracks, K.BRADYCARDIA, ts, out)
        return h

    def describe(self, t: Track, w: Wording) -> str:
        which = _BASELINE_OF.get(t.context, "active")
        hr: HeartRate = self.env.modules["heart_rate"]  # type: ignore[assignment]
        return (
            f"Heart rate below {bpm(self.env.cfg.bradycardia.threshold)} for {w.dur} (lowest "
            f"{bpm(t.peak)}){w.where}; personal {_WORDS[which]} baseline "
            f"{hr.baseline_text(w.s, which, t.baseline)}."
        )


#: the heart-rate baseline the reading path scores each context against (detectors.reading_path)
_BASELINE_OF = {CONTEXT_TEXT[ASLEEP]: "asleep", CONTEXT_TEXT[REST]: "rest"}
_WORDS = {"asleep": "asleep", "rest": "resting", "active": "awake (not at rest)"}
