"""Off the wrist (data quality): heart rate stopped for ``quality.off_wrist_min_ms`` while
other data keeps flowing and the wearer neither moves nor sleeps (else it is an optical
dropout, :mod:`~detectors.kinds.dropout`). The evidence (steps, stages since the newest heart
rate) is counted per reading in :mod:`detectors.reading_path`; this module decides.

Both alerts resolve once heart rate has flowed again for ``quality.off_wrist_back_ms`` (no gap
longer than that): a tracker lying on a table may log a few stray readings, which do not end
the episode (one alert per removal, not a flapping series)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.kinds.base import Module
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent
from messages.codec import Reading
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.reading_path import Device


class OffWrist(Module):
    name = "off_wrist"
    kind = K.OFF_WRIST
    section = "quality"
    self_resolving = True
    title = "Device off the wrist"
    layout = Layout(
        "off_wrist",
        1,
        (
            Slot("steps_since_hr"),  # steps counted since the newest heart rate
            Slot("stages_since_hr"),  # sleep stages received since the newest heart rate
            Slot("worn_since"),  # first sign of wear (steps, sleep) since the newest HR
            Slot("back_since", init=-1.0),  # heart rate flowing again since (-1: not back)
            Slot("back_last", init=-1.0),  # the newest heart rate while the alert is open
        ),
    )

    def setup(self) -> None:
        self.STEPS = self.slot("steps_since_hr")
        self.STAGES = self.slot("stages_since_hr")
        self.WORN_SINCE = self.slot("worn_since")
        self.BACK_SINCE = self.slot("back_since")
        self.BACK_LAST = self.slot("back_last")
        self.back_ms = float(self.c.quality.off_wrist_back_ms)
        # a shorter pause without motion is as likely a still wearer whose tracker skipped HR
        self.min_ms = max(self.c.quality.off_wrist_gap_ms, self.c.quality.off_wrist_min_ms)

    def on_heart_rate(self, did: str, d: Device, t: float, out: list[AlertEvent]) -> None:
        """A heart rate while off_wrist or an optical dropout is open (the reading path calls
        this only then, and marks heart rate not back otherwise): resolve them once heart rate
        has kept flowing for ``back_ms``, as from its first reading back."""
        s = d.s
        tracks = d.tracks
        if s[self.BACK_SINCE] < 0 or t - s[self.BACK_LAST] > self.back_ms:
            s[self.BACK_SINCE] = t
        s[self.BACK_LAST] = t
        if t - s[self.BACK_SINCE] >= self.back_ms:
            back = int(s[self.BACK_SINCE])
            self.book.resolve(did, tracks, K.OFF_WRIST, int(t), out, end_ms=back)
            self.book.resolve(did, tracks, K.DROPOUT, int(t), out, end_ms=back)
            s[self.BACK_SINCE] = -1.0

    def decide(
        self, r: Reading, d: Device, last_hr: float, gap: int, out: list[AlertEvent]
    ) -> None:
        """Heart rate has been missing for ``gap`` while other data flows: which is it?"""
        s = d.s
        tracks = d.tracks
        book = self.book
        worn = s[self.STEPS] >= 5 or s[self.STAGES] >= 2
        if worn and s[self.WORN_SINCE] <= 0:
            s[self.WORN_SINCE] = r.ts_ms
        off = K.OFF_WRIST in tracks and tracks[K.OFF_WRIST].is_open
        if off and worn and r.ts_ms - s[self.WORN_SINCE] < gap:
            return  # put back on: heart rate should follow within minutes
        if worn:
            book.resolve(r.device_id, tracks, K.OFF_WRIST, r.ts_ms, out)
            book.active(
                r.device_id,
                tracks,
                K.DROPOUT,
                r.ts_ms,
                int(last_hr),
                "info",
                None,
                True,
                out,
                detail="No heart rate or SpO2 while the device is worn (it still counts steps "
                "or stages sleep): the optical sensor dropped out (data quality).",
            )
        elif (
            not (K.DROPOUT in tracks and tracks[K.DROPOUT].is_open)
            and r.ts_ms - last_hr >= self.min_ms
        ):
            book.active(
                r.device_id,
                tracks,
                K.OFF_WRIST,
                r.ts_ms,
                int(last_hr),
                "info",
                None,
                True,
                out,
                detail="No heart rate and no motion while the device keeps sending: off "
                "the wrist or charging (data quality).",
            )
