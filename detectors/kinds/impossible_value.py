"""Physically impossible values (data quality): outside the metric's possible range, or a
sleep stage that is not a whole number. Such a reading reaches no baseline and no rule."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from detectors.kinds.base import Module
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent, Scored
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import METRICS, Metric

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
            detail=f"Latest: {impossible_text(r.metric, r.value)} (data quality, not a clinical "
            "finding).",
        )
        return Scored(r.device_id, r.ts_ms, r.metric, r.value, 0.0, None, True)


def impossible_text(metric: Metric, value: float) -> str:
    """An impossible reading and the range it left, in words.

    >>> impossible_text(Metric.HEART_RATE, 300.0)
    'heart rate 300 bpm, outside the possible 20-250 bpm'
    >>> impossible_text(Metric.SLEEP_STAGE, 1.5)
    'sleep stage 1.5, not one of the stages 0-3'
    >>> impossible_text(Metric.SPO2, float("nan"))
    'SpO2 not a number'
    """
    spec = METRICS[metric]
    name = "SpO2" if metric is Metric.SPO2 else metric.value.replace("_", " ")
    if not math.isfinite(value):
        return f"{name} {'not a number' if math.isnan(value) else 'infinite'}"
    lo, hi = round(spec.minimum), round(spec.maximum)
    if spec.categorical and spec.minimum <= value <= spec.maximum:
        return f"{name} {value:g}, not one of the stages {lo}-{hi}"
    unit = "" if spec.unit in ("count", "stage") else f" {spec.unit}"
    return f"{name} {value:g}{unit}, outside the possible {lo}-{hi}{unit}"
