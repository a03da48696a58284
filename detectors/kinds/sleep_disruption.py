"""Sleep disrupted over consecutive nights, from the device's sleep staging (a device without
staging is never judged: nights exist only where stages arrive).

A night is *short* when hours asleep fall below the personal baseline by max(delta, z sd) and
below the clinical short-sleep reference (``sleep_short_h``); *fragmented* when efficiency falls
below its personal baseline and below the clinical reference (``sleep_low_efficiency``, 85 %)
*and* awakenings rise above theirs (efficiency and awakenings measure the same thing, wake
inside the night, so one of them alone is not evidence). A night is disrupted when it is
clearly short or clearly fragmented, or short and more awake than usual (efficiency or
awakenings), both at ``sleep_loose_factor`` of those limits. Long nights with the awakenings a
long night brings are not disruption.

The alert needs ``sleep_consecutive_nights`` (2) disrupted nights in a row, or that many within
the last ``sleep_window_nights`` (3) when one of them had more wake inside the night than usual
(disruption rarely keeps to consecutive nights; short nights alone, often late nights out,
must be consecutive). It opens on a disrupted night and resolves on the next normal one."""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from detectors import ewz, nightly
from detectors.alerts import Track
from detectors.config import EngineConfig
from detectors.explain import duration_text
from detectors.kinds.base import HOUR, Module, Wording, plural, r1
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
        3,
        (
            Slot("duration", nightly.SLOTS),  # hours asleep
            Slot("efficiency", nightly.SLOTS),
            Slot("awakenings", nightly.SLOTS),  # awake bouts of 5+ min
            Slot("consecutive"),
            Slot("run_start", init=-1.0),
            # the last nights' verdicts, one bit a night (bit 0 = the latest): disrupted, and
            # disrupted with more wake inside the night than usual
            Slot("recent"),
            Slot("recent_wake"),
        ),
    )

    def describe(self, t: Track, w: Wording) -> str:
        return f"Sleep disrupted (by the device's sleep staging) for {w.dur}{w.where}."

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
        self.RECENT = self.slot("recent")
        self.RECENT_WAKE = self.slot("recent_wake")

    def on_night(self, did: str, d: Device, ts: int, night: Night, out: list[AlertEvent]) -> None:
        s = d.s
        md = self.c.multiday
        span = md.baseline_nights
        start, hours, eff, awk = night.start, night.hours, night.efficiency, night.awakenings
        b_dur, b_eff, b_awk = s[self.DUR], s[self.EFF], s[self.AWK]
        sd_dur = math.sqrt(max(s[self.DUR + ewz.VAR], 0.0))
        short, short_loose = self._off(s, self.DUR, hours, -1, md.sleep_duration_delta_h, 0.5)
        low_eff, low_eff_loose = self._off(s, self.EFF, eff, -1, md.sleep_efficiency_delta, 0.03)
        woken, woken_loose = self._off(s, self.AWK, awk, 1, md.sleep_awakenings_delta, 1.0)
        # short sleep counts only below the clinical reference; on its own, so does low
        # efficiency, and awakenings must agree with it (one measure of wake inside the night)
        some_wake = low_eff_loose or woken_loose
        if hours >= md.sleep_short_h:
            short = short_loose = False
        if eff >= md.sleep_low_efficiency:
            low_eff = low_eff_loose = False
        fragmented = (low_eff or woken) and low_eff_loose and woken_loose
        # two dimensions together (short and more wake than usual) are evidence at the loose
        # share of the limits
        fragmented_loose = some_wake if short_loose else low_eff_loose and woken_loose
        disrupted = short or fragmented or (short_loose and fragmented_loose)
        # wake inside the night, not only a short night (which is often a late night out)
        with_wake = fragmented or (short_loose and fragmented_loose)
        window = 1 << md.sleep_window_nights
        before = int(s[self.RECENT])
        recent = (before * 2 + disrupted) % window
        recent_wake = (int(s[self.RECENT_WAKE]) * 2 + with_wake) % window
        s[self.RECENT] = recent
        s[self.RECENT_WAKE] = recent_wake
        if disrupted:
            s[self.CONSEC] += 1.0
            if before % (window // 2) == 0:  # the first disrupted night in the window
                s[self.RUN_START] = start
        else:
            s[self.CONSEC] = 0.0
            for o, x in ((self.DUR, hours), (self.EFF, eff), (self.AWK, awk)):
                ewz.learn(s, o, x, 2.0 / (span + 1.0), 0.5)
        nights = recent.bit_count()
        k = md.sleep_consecutive_nights
        if disrupted and (s[self.CONSEC] >= k or (nights >= k and recent_wake)):
            what = (
                ("short, with more wake than usual" if fragmented_loose else "short")
                if short_loose
                else "fragmented"
            )
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
                detail=f"Disrupted on {nights} of the last {md.sleep_window_nights} nights; "
                f"the latest disrupted night was {what}: {hours_text(hours)} asleep against a "
                f"personal {hours_text(b_dur)} +/- {hours_text(sd_dur)}, efficiency {eff:.0%} "
                f"(usual {b_eff:.0%}), {plural(int(awk), 'awakening')} of "
                f"{md.awakening_min_ms // 60_000}+ min (usual {round(b_awk)}).",
            )
        elif not disrupted:
            self.book.resolve(did, d.tracks, K.SLEEP_DISRUPTION, ts, out, end_ms=int(start))

    def _off(
        self, s: array[float], o: int, x: float, sign: int, delta: float, floor_: float
    ) -> tuple[bool, bool]:
        """Whether ``x`` is off its personal baseline clearly, and at the loose share."""
        md = self.c.multiday
        lf = md.sleep_loose_factor
        z = md.sleep_z
        return (
            nightly.abnormal(s, o, x, sign, delta, z, floor_, md.min_nights),
            nightly.abnormal(s, o, x, sign, delta * lf, z * lf, floor_, md.min_nights),
        )


def hours_text(hours: float) -> str:
    """Hours as a clinician reads a night: ``7 h 54 min``.

    >>> hours_text(7.9), hours_text(0.6)
    ('7 h 54 min', '36 min')
    """
    return duration_text(round(hours * HOUR))
