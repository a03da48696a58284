"""Abrupt heart-rate change from the personal baseline of the context (asleep or at rest),
starting with a jump of the ~1 min level (a drift, or recovery after exercise, is not abrupt)."""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from detectors import ewz, sustain
from detectors.alerts import Track
from detectors.kinds.base import ASLEEP, CONTEXT_TEXT, STILL, Module, g, r1
from detectors.kinds.tachycardia import RUN
from detectors.layout import Layout, Slot
from detectors.news2 import pulse_score
from detectors.types import AlertEvent, Severity
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.reading_path import Device


class AbruptHrChange(Module):
    name = "abrupt_hr_change"
    kind = K.ABRUPT_HR_CHANGE
    section = "abrupt"
    metric = Metric.HEART_RATE
    layout = Layout(
        "abrupt_hr_change",
        1,
        (
            RUN,
            Slot("began_with_jump"),  # 1.0: the current run began with a fresh jump
            # newest fast upward / downward jump of the level (set in reading_path)
            Slot("jump_up", reset_value=-1.0, jump="reset"),
            Slot("jump_down", reset_value=-1.0, jump="reset"),
        ),
    )

    def setup(self) -> None:
        self.R = self.slot("run")
        self.OK = self.slot("began_with_jump")
        self.JUMP_T = self.slot("jump_up")
        self.JUMP_DOWN_T = self.slot("jump_down")
        self.B_REST = self.slot("rest", "heart_rate")
        self.ACT_LAST = self.slot("bout_last", "activity")

    def on_heart_rate(
        self,
        r: Reading,
        d: Device,
        out: list[AlertEvent],
        ctx: int,
        ref: float,
        sd: float,
        warm: bool,
        far: bool,
    ) -> bool:
        """Abrupt change from ``ref``, the baseline of the context; ``far``: at least
        ``delta_bpm`` from it. True if this reading hits the rule."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        tracks = d.tracks
        ab = self.c.abrupt
        run = self.R
        h = ctx <= STILL and far and self._hit(s, ts, v, ctx, ref, sd, warm)
        if (
            (h or s[run] >= 0)
            and sustain.update(s, run, ts, h, v, ab.sustain_ms, ab.grace_ms, v > ref)
            and s[self.OK] == 1.0
        ):
            sev: Severity = "warning" if pulse_score(v) >= 2 else "info"
            self.book.active(
                r.device_id,
                tracks,
                K.ABRUPT_HR_CHANGE,
                ts,
                int(s[run]),
                sev,
                v,
                v > ref,
                out,
                baseline=r1(ref),
                context=CONTEXT_TEXT[ctx],
            )
        elif K.ABRUPT_HR_CHANGE in tracks:
            self.book.inactive(r.device_id, tracks, K.ABRUPT_HR_CHANGE, ts, out)
        return h

    def _hit(
        self, s: array[float], ts: int, v: float, ctx: int, ref: float, sd: float, warm: bool
    ) -> bool:
        """Whether ``v`` (resting or asleep, at least ``delta_bpm`` from ``ref``) is an abrupt
        change; a hit that starts a new run records whether the run began with a jump."""
        c = self.c
        ab = c.abrupt
        if ctx == ASLEEP:
            ref_sd, ref_warm = sd, warm
        else:
            ref_sd = max(math.sqrt(s[self.B_REST + ewz.VAR]), c.baseline.hr_sd_floor)
            ref_warm = s[self.B_REST + ewz.N] >= float(c.baseline.warmup_ms)
        if not ref_warm:
            return False
        thr = max(ab.delta_bpm, ab.z * ref_sd)
        h = abs(v - ref) >= thr
        m = ab.defer_margin_bpm
        if (
            h
            and m is not None
            and not (c.bradycardia.threshold <= v <= c.tachycardia.threshold + m)
        ):
            h = False  # clearly tachycardic or bradycardic: those rules own it
        run = self.R
        if h and (s[run] < 0 or ts - s[run + sustain.LAST_HIT] > ab.grace_ms):
            # a new run: abrupt only if it began with a jump after the last exercise (recovery
            # and motion artefacts of a workout are not abrupt changes)
            jump = s[self.JUMP_T] if v > ref else s[self.JUMP_DOWN_T]  # same direction only
            fresh = 0 <= ts - jump <= ab.onset_ms and jump > s[self.ACT_LAST]
            s[self.OK] = 1.0 if fresh else 0.0
        return h

    def explain(self, t: Track, dur: str, ctx: str) -> str:
        return (
            f"Heart rate changed abruptly to {g(t.peak)} bpm against a personal baseline of "
            f"{g(t.baseline)} bpm{ctx} and stayed changed for {dur}."
        )
