"""Physically impossible values (data quality): outside the metric's possible range, or a
sleep stage that is not a whole number. Such a reading reaches no baseline and no rule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.kinds.base import Module
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent, Scored
from messages.codec import Reading
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.reading_path import Device


class ImpossibleValue(Module):
    name = "impossible_value"
    kind = K.IMPOSSIBLE_VALUE
    section = "quality"
    title = "Physically impossible values"
    layout = Layout("impossible_value", 1, (Slot("count"), Slot("last", init=-1.0)))

    def setup(self) -> None:
        self.COUNT = self.slot("count")
        self.LAST = self.slot("last")

    def on_reading(self, r: Reading, d: Device, out: list[AlertEvent]) -> Scored:
        s = d.s
        s[self.COUNT] += 1.0
        s[self.LAST] = r.ts_ms
        self.book.active(
            r.device_id,
            d.tracks,
            K.IMPOSSIBLE_VALUE,
            r.ts_ms,
            r.ts_ms,
            "info",
            None,
            True,
            out,
            detail=f"{r.metric.value} readings outside the physically possible range "
            f"(data quality, not a clinical finding).",
        )
        return Scored(r.device_id, r.ts_ms, r.metric, r.value, 0.0, None, True)
