"""Sustained tachycardia while inactive (asleep, at rest or still): the consumer-wearable
rule (heart rate above ``tachycardia.threshold`` for ``sustain_ms``), with the onset as context.

How the rate got above the threshold decides how long it must stay there. A paroxysmal rhythm
(SVT, atrial fibrillation with a fast ventricular rate) starts abruptly: the rate jumps past the
threshold from well below it within about a minute, and ``sustain_ms`` (10 min) is enough. A
gradual climb, the ~1 min level already within ``onset_rise_bpm`` of the threshold when the rate
crossed it, is the shape of exertion the wrist counted no steps for (cycling, rowing, gym,
carrying): on real Fitbit data every such episode of 10-20 min was a workout. It alerts only if
it lasts ``gradual_sustain_ms`` (30 min), which a sinus tachycardia of fever, dehydration or
blood loss (hours) still does.

With no heart rate in the ``grace_ms`` before the streak's first reading (a device's first
readings, or the first after a gap: the watch put back on) there is no level to start from: the
onset is *unknown*, neither abrupt nor gradual, and the standard ``sustain_ms`` applies (only a
climb seen to be gradual earns the longer wait); the explanation says the onset is unknown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors import sustain
from detectors.alerts import Track
from detectors.kinds.base import ASLEEP, CONTEXT_TEXT, STILL, Module, Wording, bpm, g, r1
from detectors.layout import Layout, Slot
from detectors.news2 import pulse_score
from detectors.types import AlertEvent, Severity
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.kinds.heart_rate import HeartRate
    from detectors.reading_path import Device

#: a sustained-threshold run (sustain.py): start, last hit, peak; restarts on a clock jump
RUN = Slot("run", sustain.SLOTS, init=(-1.0, -1.0, 0.0), jump="reset")
#: ``onset_from`` when no heart rate came just before the streak (no heart rate is negative)
UNKNOWN_ONSET = -1.0


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
            # the ~1 min level just before the streak began (how abrupt the onset was), or
            # UNKNOWN_ONSET
            Slot("onset_from", init=UNKNOWN_ONSET, jump="reset"),
        ),
    )

    def setup(self) -> None:
        self.R = self.slot("run")
        self.HIGH_SINCE = self.slot("high_since")
        self.HIGH_LAST = self.slot("high_last")
        self.ONSET_FROM = self.slot("onset_from")
        self.QUIET_SINCE = self.slot("quiet_since", "activity")
        self.FAST = self.slot("fast", "heart_rate")
        self.FAST_T = self.slot("fast_time", "heart_rate")
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
        # the current streak of high readings, whatever the context; its onset is the ~1 min
        # level before its first reading, unknown without a reading within grace_ms before it
        if v > tc.threshold:
            if s[self.HIGH_SINCE] < 0 or ts - s[self.HIGH_LAST] > tc.grace_ms:
                s[self.HIGH_SINCE] = ts
                before = s[self.FAST_T]
                known = before >= 0 and ts - before <= tc.grace_ms
                s[self.ONSET_FROM] = s[self.FAST] if known else UNKNOWN_ONSET
            s[self.HIGH_LAST] = ts
        sustain_ms = self.sustain_for(s[self.ONSET_FROM])
        h = (
            ctx <= STILL
            and v > self.low
            and sustain.hit(s, run, v, tc.threshold, tc.hysteresis, sustain_ms, True)
        )
        # a run counts from when the rate was high *and* the wearer still, whichever is
        # later (not from when "still" was confirmed, minutes later)
        if (h or s[run] >= 0) and sustain.update(
            s,
            run,
            ts,
            h,
            v,
            sustain_ms,
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
                detail=""
                if K.TACHYCARDIA_AT_REST in tracks and tracks[K.TACHYCARDIA_AT_REST].is_open
                else self.onset_text(s[self.ONSET_FROM], sustain_ms),
            )
        elif K.TACHYCARDIA_AT_REST in tracks:
            self.book.inactive(r.device_id, tracks, K.TACHYCARDIA_AT_REST, ts, out)
        return h

    def sustain_for(self, onset_from: float) -> int:
        """How long a run whose streak began from the ~1 min level ``onset_from`` must last
        (an unknown onset, :data:`UNKNOWN_ONSET`, is below every threshold: the standard)."""
        tc = self.c.tachycardia
        if onset_from > tc.threshold - tc.onset_rise_bpm:
            return tc.gradual_sustain_ms
        return tc.sustain_ms

    def onset_text(self, onset_from: float, sustain_ms: int) -> str:
        """The onset, in words, for the explanation."""
        tc = self.c.tachycardia
        if onset_from == UNKNOWN_ONSET:
            return (
                f"Onset unknown: no heart rate in the {g(tc.grace_ms / 60_000)} min before it "
                f"rose above {g(tc.threshold)} bpm."
            )
        if sustain_ms == tc.sustain_ms:
            return f"Abrupt onset: from a level of about {round(onset_from)} bpm within a minute."
        return (
            f"Gradual onset (the level was already about {round(onset_from)} bpm as it crossed "
            f"{g(tc.threshold)} bpm, as in exercise without steps), so it had to last "
            f"{round(sustain_ms / 60_000)} min before this alert."
        )

    def describe(self, t: Track, w: Wording) -> str:
        hr: HeartRate = self.env.modules["heart_rate"]  # type: ignore[assignment]
        return (
            f"Heart rate above {bpm(self.env.cfg.tachycardia.threshold)} for {w.dur} (peak "
            f"{bpm(t.peak)}){w.where}; personal resting baseline "
            f"{hr.baseline_text(w.s, 'rest', t.baseline)}."
        )
