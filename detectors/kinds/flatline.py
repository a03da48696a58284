"""Stuck heart-rate sensor (data quality): the same value for ``quality.flatline_ms`` and at
least ``flatline_min_readings`` readings. The run is extended per reading in
:mod:`detectors.reading_path` (it is on every heart-rate reading's path)."""

from __future__ import annotations

from detectors import flatline
from detectors.alerts import Track
from detectors.kinds.base import Module, Wording, bpm
from detectors.layout import Layout, Slot
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric


class Flatline(Module):
    name = "flatline"
    kind = K.FLATLINE
    section = "quality"
    metric = Metric.HEART_RATE
    layout = Layout(
        "flatline",
        1,
        # the run of identical values (flatline.py): value, start, count, last
        (Slot("run", flatline.SLOTS, init=(float("nan"), -1.0, 0.0, -1.0), jump="reset"),),
    )

    def describe(self, t: Track, w: Wording) -> str:
        return (
            f"Heart rate stuck at exactly {bpm(t.peak)} for {w.dur}{w.where}: the sensor "
            "reports a constant value (data quality, not a clinical finding)."
        )
