"""Deadman (data quality): no data at all from a device for longer than its limit
(``deadman.roster`` per device, else ``deadman.silent_after_ms``). Opened by tick() on event
time, or after the fact when a reading ends a gap that long (see
:mod:`~detectors.kinds.dropout`); resolved by the next reading.

A roster device's limit is the operator's word and counts raw time. A device only seen counts
only the silence in the hours it usually sends data, and only beyond the holes it routinely
has (:mod:`~detectors.kinds.presence`): a tracker that logs sleep only is silent every day.
Until it has ``quality.presence_learn_days`` of history no one knows its habits: only a
silence longer than any hole it could learn to have (6 h of usual hours) is reported.

tick() cannot know how a silence will end. On a device whose steps stopped, that logs sleep
and sends no heart rate, it may end in a sleep log: the wearer went to bed
(:meth:`~detectors.kinds.dropout.Dropout.is_bedtime`). Such a silence is reported by tick()
only once it is longer than that hand-over can be (``quality.bedtime_gap_max_ms``); a shorter
one is judged when data resumes, by what ends it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.alerts import Track
from detectors.kinds.base import Module, Wording
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from detectors.kinds.dropout import Dropout
    from detectors.kinds.presence import Presence
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
        self.presence: Presence = self.env.modules["presence"]  # type: ignore[assignment]
        self.dropout: Dropout = self.env.modules["dropout"]  # type: ignore[assignment]
        self.T_STAGE = self.slot("newest_sleep_stage", "device")
        self.bedtime_ms = float(self.c.quality.bedtime_gap_max_ms)

    def on_roster(self, device_id: str) -> bool:
        return device_id in self.c.deadman.roster

    def limit(self, device_id: str) -> int:
        dm = self.c.deadman
        return dm.roster.get(device_id, dm.silent_after_ms)

    def last_seen(self, d: Device) -> float:
        """The device's newest event time, or when the deadman started watching it."""
        s = d.s
        return s[self.T_ANY] if s[self.T_ANY] >= 0 else s[self.T_WATCH]

    def _need(self, did: str, d: Device, last: float) -> float:
        """The usual-hours silence since ``last`` that makes a seen (not roster) device
        silent: its limit, past its ordinary holes, and past a bedtime hand-over where the
        silence may yet end in its sleep log (a device that has logged sleep before)."""
        need = max(float(self.limit(did)), self.presence.news_ms(d, last))
        if d.s[self.T_STAGE] >= 0.0 and self.dropout.may_be_bedtime(d, last):
            need = max(need, self.bedtime_ms)
        return need

    def is_silent(self, did: str, d: Device, now_ms: float) -> bool:
        last = self.last_seen(d)
        if self.on_roster(did):
            return now_ms - last >= self.limit(did)
        if now_ms - last < self.limit(did):
            return False
        return self.presence.usual_ms(d, last, now_ms) >= self._need(did, d, last)

    def due(self, did: str, d: Device) -> float:
        """The earliest event time at which the device would be silent, if nothing arrives."""
        last = self.last_seen(d)
        if self.on_roster(did) or last < 0:
            return last + self.limit(did)
        due = max(last + self.limit(did), self.presence.reach(d, last, self._need(did, d, last)))
        learned_from = self.presence.learned_from(d)
        if last < learned_from:
            # a reading after the learning period lowers the need: a lower bound still
            return min(due, learned_from + self.limit(did))
        return due

    def on_tick(self, did: str, d: Device, now_ms: int, out: list[AlertEvent]) -> bool:
        """Open (or keep open) the alert if ``did`` has been silent too long; True if the
        device's state changed."""
        s = d.s
        changed = False
        if s[self.T_ANY] < 0 and s[self.T_WATCH] < 0:
            s[self.T_WATCH] = now_ms  # a roster device never seen: watch from now
            changed = True
        if self.is_silent(did, d, now_ms):
            self.book.active(
                did,
                d.tracks,
                K.DEVICE_SILENT,
                now_ms,
                int(self.last_seen(d)),
                "warning",
                None,
                True,
                out,
            )
            changed = True
        return changed

    def describe(self, t: Track, w: Wording) -> str:
        # found when data resumed, the gap's detail says how much of it was in usual hours
        return f"No data from the device for {w.dur}{w.where}" + (
            "." if t.detail else " (data quality)."
        )
