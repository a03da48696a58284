"""Sustained tachycardia while inactive (asleep, at rest or still): the consumer-wearable
rule (heart rate above ``tachycardia.threshold`` for ``sustain_ms``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors import sustain
from detectors.alerts import Track
from detectors.kinds.base import ASLEEP, CONTEXT_TEXT, STILL, Module, g, r1
from detectors.layout import Layout, Slot
from detectors.news2 import pulse_score
from detectors.types import AlertEvent, Severity
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.reading_path import Device

#: a sustained-threshold run (sustain.py): start, last hit, peak; restarts on a clock jump
RUN = Slot("run", sustain.SLOTS, init=(-1.0, -1.0, 0.0), jump="reset")


class Tachycardia(Module):
    name = "tachycardia"
    kind = K.TACHYCARDIA_AT_REST
    section = "tachycardia"
    metric = Metric.HEART_RATE
    layout = Layout(
        "tachycardia",
        1,
        (
            RUN,
            # the current streak of heart rate above the threshold, whatever the context
            Slot("high_since", init=-1.0, jump="reset"),
            Slot("high_last", init=-1.0, jump="reset"),
        ),
    )

    def setup(self) -> None:
        self.R = self.slot("run")
        self.HIGH_SINCE = self.slot("high_since")
        self.HIGH_LAST = self.slot("high_last")
        self.QUIET_SINCE = self.slot("quiet_since", "activity")
        tc = self.c.tachycardia
        self.low = tc.threshold - tc.hysteresis

    def on_heart_rate(
        self, r: Reading, d: Device, out: list[AlertEvent], ctx: int, rest_expected: float
    ) -> bool:
        """One in-order heart-rate reading; True if it hits the rule."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        tracks = d.tracks
        tc = self.c.tachycardia
        run = self.R
        h = (
            ctx <= STILL
            and v > self.low
            and sustain.hit(s, run, v, tc.threshold, tc.hysteresis, tc.sustain_ms, True)
        )
        # a run counts from when the rate was high *and* the wearer still, whichever is
        # later (not from when "still" was confirmed, minutes later)
        if v > tc.threshold:
            if s[self.HIGH_SINCE] < 0 or ts - s[self.HIGH_LAST] > tc.grace_ms:
                s[self.HIGH_SINCE] = ts
            s[self.HIGH_LAST] = ts
        if (h or s[run] >= 0) and sustain.update(
            s,
            run,
            ts,
            h,
            v,
            tc.sustain_ms,
            tc.grace_ms,
            True,
            max(s[self.HIGH_SINCE], s[self.QUIET_SINCE]) if ctx != ASLEEP else s[self.HIGH_SINCE],
        ):
            peak = s[run + sustain.PEAK]
            sev: Severity = "critical" if pulse_score(peak) >= 3 else "warning"
            self.book.active(
                r.device_id,
                tracks,
                K.TACHYCARDIA_AT_REST,
                ts,
                int(s[run]),
                sev,
                v,
                True,
                out,
                baseline=r1(rest_expected),
                context=CONTEXT_TEXT[ctx],
            )
        elif K.TACHYCARDIA_AT_REST in tracks:
            self.book.inactive(r.device_id, tracks, K.TACHYCARDIA_AT_REST, ts, out)
        return h

    def explain(self, t: Track, dur: str, ctx: str) -> str:
        return (
            f"Heart rate above {g(self.env.cfg.tachycardia.threshold)} bpm (peak {g(t.peak)} "
            f"bpm) for {dur}{ctx}; personal resting baseline {g(t.baseline)} bpm."
        )
