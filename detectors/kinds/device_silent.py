"""Deadman (data quality): no data at all from a device for longer than its limit
(``deadman.roster`` per device, else ``deadman.silent_after_ms``). Opened by tick() on event
time, or after the fact when a reading ends a gap that long (see
:mod:`~detectors.kinds.dropout`); resolved by the next reading."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.alerts import Track
from detectors.kinds.base import Module
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.reading_path import Device


class DeviceSilent(Module):
    name = "device_silent"
    kind = K.DEVICE_SILENT
    section = "deadman"
    self_resolving = True
    # when the deadman started watching a roster device never seen (-1: not watching)
    layout = Layout("device_silent", 1, (Slot("watch_since", init=-1.0),))

    def setup(self) -> None:
        self.T_WATCH = self.slot("watch_since")
        self.T_ANY = self.slot("newest", "device")

    def limit(self, device_id: str) -> int:
        dm = self.c.deadman
        return dm.roster.get(device_id, dm.silent_after_ms)

    def last_seen(self, d: Device) -> float:
        """The device's newest event time, or when the deadman started watching it."""
        s = d.s
        return s[self.T_ANY] if s[self.T_ANY] >= 0 else s[self.T_WATCH]

    def on_tick(self, did: str, d: Device, now_ms: int, out: list[AlertEvent]) -> bool:
        """Open (or keep open) the alert if ``did`` has been silent too long; True if the
        device's state changed."""
        s = d.s
        changed = False
        if s[self.T_ANY] < 0 and s[self.T_WATCH] < 0:
            s[self.T_WATCH] = now_ms  # a roster device never seen: watch from now
            changed = True
        last = self.last_seen(d)
        if now_ms - last >= self.limit(did):
            self.book.active(
                did, d.tracks, K.DEVICE_SILENT, now_ms, int(last), "warning", None, True, out
            )
            changed = True
        return changed

    def explain(self, t: Track, dur: str, ctx: str) -> str:
        return f"No data from an expected device for {dur} (data quality)."
