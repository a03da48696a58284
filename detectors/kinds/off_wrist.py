"""Off the wrist (data quality): heart rate stopped for ``quality.off_wrist_gap_ms`` while
other data keeps flowing and the wearer neither moves nor sleeps (else it is an optical
dropout, :mod:`~detectors.kinds.dropout`). The evidence (steps, stages since the newest heart
rate) is counted per reading in :mod:`detectors.reading_path`; this module decides."""

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
        ),
    )

    def setup(self) -> None:
        self.STEPS = self.slot("steps_since_hr")
        self.STAGES = self.slot("stages_since_hr")
        self.WORN_SINCE = self.slot("worn_since")

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
        elif not (K.DROPOUT in tracks and tracks[K.DROPOUT].is_open):
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
