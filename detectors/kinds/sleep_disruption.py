"""Sleep disrupted over consecutive nights: one measure (hours asleep, efficiency, awakenings)
far off its personal baseline, or two of them clearly off."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from detectors import ewz, nightly
from detectors.config import EngineConfig
from detectors.kinds.base import Module, r1
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.kinds.sleep_session import Night
    from detectors.reading_path import Device


class SleepDisruption(Module):
    name = "sleep_disruption"
    kind = K.SLEEP_DISRUPTION
    section = "multiday"
    multiday = True
    title = "Sleep disrupted"
    layout = Layout(
        "sleep_disruption",
        1,
        (
            Slot("duration", nightly.SLOTS),  # hours asleep
            Slot("efficiency", nightly.SLOTS),
            Slot("awakenings", nightly.SLOTS),  # awake bouts of 5+ min
            Slot("consecutive"),
            Slot("run_start", init=-1.0),
        ),
    )

    def init_state(self, s: array[float], cfg: EngineConfig) -> None:
        nightly.reset(s, self.slot("duration"), 7.0, 0.6)
        nightly.reset(s, self.slot("efficiency"), 0.92, 0.03)
        nightly.reset(s, self.slot("awakenings"), 0.5, 1.0)

    def setup(self) -> None:
        self.DUR = self.slot("duration")
        self.EFF = self.slot("efficiency")
        self.AWK = self.slot("awakenings")
        self.CONSEC = self.slot("consecutive")
        self.RUN_START = self.slot("run_start")

    def on_night(self, did: str, d: Device, ts: int, night: Night, out: list[AlertEvent]) -> None:
        s = d.s
        md = self.c.multiday
        span = md.baseline_nights
        start, hours, eff, awk = night.start, night.hours, night.efficiency, night.awakenings
        z = md.sleep_z
        b_dur, b_eff, b_awk = s[self.DUR], s[self.EFF], s[self.AWK]
        checks = (
            (self.DUR, hours, -1, md.sleep_duration_delta_h, 0.5),
            (self.EFF, eff, -1, md.sleep_efficiency_delta, 0.03),
            (self.AWK, awk, 1, md.sleep_awakenings_delta, 1.0),
        )
        lf = md.sleep_loose_factor
        strict = loose = 0
        for o, x, sign, delta, floor_ in checks:
            strict += nightly.abnormal(s, o, x, sign, delta, z, floor_, md.min_nights)
            loose += nightly.abnormal(s, o, x, sign, delta * lf, z * lf, floor_, md.min_nights)
        if strict or loose >= 2:
            s[self.CONSEC] += 1.0
            if s[self.CONSEC] == 1.0:
                s[self.RUN_START] = start
        else:
            s[self.CONSEC] = 0.0
            for o, x, _, _, _ in checks:
                ewz.learn(s, o, x, 2.0 / (span + 1.0), 0.5)
        if s[self.CONSEC] >= md.sleep_consecutive_nights:
            self.book.active(
                did,
                d.tracks,
                K.SLEEP_DISRUPTION,
                ts,
                int(s[self.RUN_START]),
                "info",
                r1(hours),
                False,
                out,
                baseline=r1(b_dur),
                context="asleep",
                detail=f"Sleep disrupted for {int(s[self.CONSEC])} consecutive nights: last "
                f"night {hours:.1f} h asleep (personal baseline {b_dur:.1f} h), efficiency "
                f"{eff:.0%} (baseline {b_eff:.0%}), {int(awk)} awakenings (baseline "
                f"{b_awk:.1f}).",
            )
        elif s[self.CONSEC] == 0:
            self.book.resolve(did, d.tracks, K.SLEEP_DISRUPTION, ts, out, end_ms=int(start))
