"""Data dropout (data quality): no data at all for a while (``quality.dropout_min_gap_ms``
and ``dropout_factor`` times the device's usual interval), found when the next reading
arrives; or no heart rate while the device is worn (decided by
:mod:`~detectors.kinds.off_wrist`). Resolved by the next heart-rate reading.

A gap of all data is judged against what the device normally sends
(:mod:`~detectors.kinds.presence`): only its part in the device's usual hours counts, and it
must be longer than the holes the device routinely has. Until the device has
``quality.presence_learn_days`` of history its habits are unknown: only a gap longer than any
hole it could learn to have (6 h of usual hours) is reported (its gaps are still learned)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.kinds.base import Module
from detectors.layout import Layout
from detectors.types import AlertEvent, Severity
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.kinds.device_silent import DeviceSilent
    from detectors.kinds.presence import Presence
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
        self.presence: Presence = self.env.modules["presence"]  # type: ignore[assignment]
        self.INTERVAL = self.slot("interval", "device")

    def on_gap(
        self, did: str, d: Device, prev: int, ts: int, gap: float, out: list[AlertEvent]
    ) -> None:
        """No data at all from ``prev`` to ``ts``: a dropout, a silence found after the fact,
        or the device's habit (a gap outside its usual hours, or as long as its usual holes)."""
        presence = self.presence
        interval = d.s[self.INTERVAL]
        usual = presence.usual_ms(d, prev, ts)
        news = presence.news_ms(d, prev)
        roster = self.silent.on_roster(did)
        presence.record_hole(d, usual)
        if roster and gap >= self.silent.limit(did):
            kind = K.DEVICE_SILENT  # the roster's limit is the operator's word: raw time
            sev: Severity = "warning"
        elif usual < max(news, self.c.quality.dropout_min_gap_ms):
            # outside its usual hours, no longer than its ordinary holes, or (habits not
            # learned yet) no longer than a hole it may turn out to have
            return
        elif not roster and usual >= self.silent.limit(did):
            kind, sev = K.DEVICE_SILENT, "warning"  # found after the fact (no tick() between)
        else:
            kind, sev = K.DROPOUT, "info"
        self.book.interval(
            did,
            d.tracks,
            kind,
            prev,
            ts,
            ts,
            sev,
            out,
            detail=f"No data at all for {round(gap / 60_000)} min, {round(usual / 60_000)} min "
            "of it in hours the device usually sends (expected a reading every "
            f"~{max(1, round(interval / 1000))} s); data quality.",
        )
