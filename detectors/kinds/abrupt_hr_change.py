"""Abrupt heart-rate change from the personal baseline of the context (asleep or at rest),
starting with a jump of the ~1 min level (a drift, or recovery after exercise, is not abrupt).

A change of rhythm (a paroxysmal tachycardia starting, a sudden block) takes the rate from the
wearer's usual level to a new one in one step. What real wrist data also shows at rest is a
rate that is already up (pottering about, getting ready in the morning, with few steps counted)
and swings higher again: each swing is a "jump" of the ~1 min level, but not a change from the
baseline. So the run must begin within ``onset_ms`` of a same-direction jump, and that jump
must have made most of the change: the level it left was at most ``jump_share`` (half) of the
change away from the baseline.

A jump is a change of the ~1 min level from heart rate just before it: with no heart rate in
``grace_ms`` before a reading (a device's first readings, or the first after a gap: the watch
put back on) the level it would jump from is stale, so no jump is recorded (tachycardia's
unknown onset, :mod:`detectors.kinds.tachycardia`, follows the same rule).
"""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from detectors import ewz, sustain
from detectors.alerts import Track
from detectors.kinds.base import ASLEEP, CONTEXT_TEXT, STILL, Module, Wording, bpm, r1
from detectors.kinds.tachycardia import RUN
from detectors.layout import Layout, Slot
from detectors.news2 import pulse_score
from detectors.types import AlertEvent, Severity
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.kinds.heart_rate import HeartRate
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
            # the ~1 min level each newest jump left (set in reading_path)
            Slot("jump_up_from"),
            Slot("jump_down_from"),
        ),
    )

    def setup(self) -> None:
        self.R = self.slot("run")
        self.OK = self.slot("began_with_jump")
        self.JUMP_T = self.slot("jump_up")
        self.JUMP_DOWN_T = self.slot("jump_down")
        self.JUMP_FROM = self.slot("jump_up_from")
        self.JUMP_DOWN_FROM = self.slot("jump_down_from")
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
                detail=self.onset_text(s, v > ref) if not _is_open(tracks) else "",
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
            # from the baseline: the jump made most of the change (the level it left was
            # nearer the baseline than the new rate)
            left = s[self.JUMP_FROM] if v > ref else s[self.JUMP_DOWN_FROM]
            near = abs(left - ref) <= ab.jump_share * abs(v - ref)
            s[self.OK] = 1.0 if fresh and near else 0.0
        return h

    def onset_text(self, s: array[float], up: bool) -> str:
        """How the change began, in words, for the explanation."""
        left = s[self.JUMP_FROM] if up else s[self.JUMP_DOWN_FROM]
        return f"It began with a jump from a level of about {round(left)} bpm within a minute."

    def describe(self, t: Track, w: Wording) -> str:
        hr: HeartRate = self.env.modules["heart_rate"]  # type: ignore[assignment]
        asleep = t.context == CONTEXT_TEXT[ASLEEP]
        up = t.peak is None or t.baseline is None or t.peak >= t.baseline
        return (
            f"Heart rate {'rose' if up else 'fell'} abruptly to {bpm(t.peak)} and stayed at "
            f"least {bpm(self.env.cfg.abrupt.delta_bpm)} {'above' if up else 'below'} the "
            f"personal {'asleep' if asleep else 'resting'} baseline of "
            f"{hr.baseline_text(w.s, 'asleep' if asleep else 'rest', t.baseline)} for "
            f"{w.dur}{w.where}."
        )


def _is_open(tracks: dict[str, Track]) -> bool:
    t = tracks.get(K.ABRUPT_HR_CHANGE)
    return t is not None and t.is_open
