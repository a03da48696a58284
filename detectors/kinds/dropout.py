"""Data dropout (data quality): no data at all for a while (``quality.dropout_min_gap_ms``
and ``dropout_factor`` times the device's usual interval), found when the next reading
arrives; or no heart rate while the device is worn (decided by
:mod:`~detectors.kinds.off_wrist`). Resolved by the next heart-rate reading."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.kinds.base import Module
from detectors.layout import Layout
from detectors.types import AlertEvent, Severity
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.kinds.device_silent import DeviceSilent
    from detectors.reading_path import Device


class Dropout(Module):
    name = "dropout"
    kind = K.DROPOUT
    section = "quality"
    self_resolving = True
    title = "Data dropout"
    layout = Layout("dropout", 1, ())

    def setup(self) -> None:
        self.silent: DeviceSilent = self.env.modules["device_silent"]  # type: ignore[assignment]
        self.INTERVAL = self.slot("interval", "device")

    def on_gap(
        self, did: str, d: Device, prev: int, ts: int, gap: float, out: list[AlertEvent]
    ) -> None:
        """No data at all from ``prev`` to ``ts``: a dropout, or a silence found after the fact."""
        if gap >= self.silent.limit(did):
            kind = K.DEVICE_SILENT  # found after the fact (no tick() in between)
            sev: Severity = "warning"
        else:
            kind, sev = K.DROPOUT, "info"
        interval = d.s[self.INTERVAL]
        self.book.interval(
            did,
            d.tracks,
            kind,
            prev,
            ts,
            ts,
            sev,
            out,
            detail=f"No data at all for {round(gap / 60_000)} min (expected a reading "
            f"every ~{max(1, round(interval / 1000))} s); data quality.",
        )
