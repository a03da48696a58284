"""Heart rate decoupled from activity: well above the resting baseline while at rest, or no
rise during an exercise bout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors import ewz, sustain
from detectors.kinds.base import ACTIVE, CONTEXT_TEXT, MIN, REST, Module, bpm, r1
from detectors.kinds.tachycardia import RUN
from detectors.layout import Layout
from detectors.types import AlertEvent
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.kinds.heart_rate import HeartRate
    from detectors.reading_path import Device


class HrActivityDecoupling(Module):
    name = "hr_activity_decoupling"
    kind = K.HR_ACTIVITY_DECOUPLING
    section = "decoupling"
    metric = Metric.HEART_RATE
    title = "Heart rate decoupled from activity"
    layout = Layout("hr_activity_decoupling", 1, (RUN,))  # the run of high-at-rest readings

    def setup(self) -> None:
        self.R = self.slot("run")
        self.B_REST = self.slot("rest", "heart_rate")
        self.ACT_START = self.slot("bout_start", "activity")
        self.ACT_HR_SUM = self.slot("bout_hr_sum", "activity")
        self.ACT_HR_N = self.slot("bout_hr_n", "activity")
        self.ACT_CAD_SUM = self.slot("bout_cadence_sum", "activity")
        self.ACT_CAD_N = self.slot("bout_cadence_n", "activity")

    def on_heart_rate(
        self, r: Reading, d: Device, out: list[AlertEvent], ctx: int, rest_expected: float
    ) -> bool:
        """True if the condition holds at this reading (the reading is flagged)."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        did = r.device_id
        tracks = d.tracks
        book = self.book
        c = self.c
        dc = c.decoupling
        b_rest = self.B_REST
        rest_warm = s[b_rest + ewz.N] >= float(c.baseline.warmup_ms)
        h = (
            ctx == REST
            and rest_warm
            and v - rest_expected >= dc.rest_excess_bpm
            and v <= c.tachycardia.threshold
        )
        high = (h or s[self.R] >= 0) and sustain.update(
            s, self.R, ts, h, v, dc.rest_sustain_ms, 2 * MIN, True
        )
        norise = False
        if ctx == ACTIVE and s[self.ACT_START] >= 0:
            if ts - s[self.ACT_START] >= 3 * MIN:
                s[self.ACT_HR_SUM] += v
                s[self.ACT_HR_N] += 1.0
            if (
                ts - s[self.ACT_START] >= dc.exercise_min_ms
                and s[self.ACT_HR_N] >= 3
                and rest_warm
                and s[self.ACT_HR_SUM] / s[self.ACT_HR_N] < s[b_rest] + dc.min_rise_bpm
            ):
                norise = True
        if high or norise:
            t = tracks.get(K.HR_ACTIVITY_DECOUPLING)
            hr: HeartRate = self.env.modules["heart_rate"]  # type: ignore[assignment]
            detail = ""
            if t is None or not t.is_open:  # worded once, when it opens
                detail = (
                    f"Heart rate stayed near the personal resting baseline of "
                    f"{hr.baseline_text(s, 'rest', s[b_rest])} during exercise: mean "
                    f"{bpm(s[self.ACT_HR_SUM] / max(s[self.ACT_HR_N], 1))} at about "
                    f"{round(s[self.ACT_CAD_SUM] / max(s[self.ACT_CAD_N], 1))} steps/min."
                    if norise
                    else f"Heart rate {bpm(v)} at rest, at least {bpm(dc.rest_excess_bpm)} above "
                    f"the personal resting baseline of "
                    f"{hr.baseline_text(s, 'rest', rest_expected)}."
                )
            start = int(s[self.ACT_START]) if norise else int(s[self.R])
            book.active(
                did,
                tracks,
                K.HR_ACTIVITY_DECOUPLING,
                ts,
                start,
                "info",
                v,
                not norise,
                out,
                baseline=r1(rest_expected),
                context=CONTEXT_TEXT[ctx],
                detail=detail,
            )
            return True
        if K.HR_ACTIVITY_DECOUPLING in tracks:
            book.inactive(did, tracks, K.HR_ACTIVITY_DECOUPLING, ts, out)
        return False
