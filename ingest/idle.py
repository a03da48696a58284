"""Idle partitions: when a partition's clock follows something other than its own stream.

The daemon's time-driven detection (the deadman above all) runs on each partition's *stream
time*, which stops when the partition's records stop. A device alone in its partition that goes
silent, or a whole fleet behind one gateway, would then never be reported. So a partition that
is caught up and has had no record for ``idle_ms`` of wall time is *idle*, and its clock is
advanced to:

- the lowest stream time of the partitions that are not idle, if any (as Flink excludes idle
  sources from the watermark): event time moves on for the silent devices exactly as far as the
  rest of the fleet shows it has moved;
- otherwise (every partition idle: the whole fleet is silent) the newest stream time seen plus
  the wall time since that partition's last record (wall-clock punctuation); with no stream
  time at all, the wall clock.

While records flow a partition's clock is its own stream time, so replays stay exact; only the
ticks of idle partitions depend on when records arrived. See docs/reliability.md.

>>> t = iter([0.0, 0.0, 5.0, 5.0])
>>> a = PartitionActivity(2_000, clock=lambda: next(t))
>>> a.saw(0, 1_000_000); a.saw(1, 1_060_000)
>>> a.idle_partitions({0, 1})  # 5 s later both are idle: newest stream time + 5 s
([0, 1], 1065000)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection


def _wall_ms() -> int:
    return int(time.time() * 1000)


class PartitionActivity:
    """Per partition: the wall time of its last record and its stream time (newest event
    time); which partitions are idle and the event time to advance their clocks to.

    Parameters
    ----------
    idle_ms
        Wall time without a record after which a caught-up partition is idle.
    clock, wall_ms
        Monotonic seconds and epoch milliseconds (tests pass their own).
    """

    def __init__(
        self,
        idle_ms: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.idle_ms = idle_ms
        self._clock = clock
        self._wall_ms = wall_ms
        self._seen: dict[int, float] = {}  # partition -> monotonic time of its last record
        self._stream: dict[int, int] = {}  # partition -> newest event time

    def assigned(self, partition: int, stream_ms: int | None) -> None:
        """A partition is ours from now; ``stream_ms``: its restored clock, if any."""
        self._seen[partition] = self._clock()
        if stream_ms is not None:
            self._stream[partition] = max(stream_ms, self._stream.get(partition, stream_ms))

    def revoked(self, partition: int) -> None:
        self._seen.pop(partition, None)
        self._stream.pop(partition, None)

    def saw(self, partition: int, newest_ms: int | None) -> None:
        """Records of ``partition`` arrived; ``newest_ms``: their newest event time, if any
        of them was a reading."""
        self._seen[partition] = self._clock()
        if newest_ms is not None and newest_ms > self._stream.get(partition, newest_ms - 1):
            self._stream[partition] = newest_ms

    def idle_partitions(self, caught_up: Collection[int]) -> tuple[list[int], int | None]:
        """The idle partitions among ``caught_up`` (those read to their log end), and the event
        time their clocks are to be advanced to (see the module docstring; ``None``: nothing
        to advance them to yet)."""
        now = self._clock()
        limit_s = self.idle_ms / 1000
        seen, stream = self._seen, self._stream
        idle = sorted(p for p in caught_up if p in seen and now - seen[p] >= limit_s)
        if not idle:
            return [], None
        active = [stream[p] for p in seen if p in stream and p not in idle]
        if active:
            return idle, min(active)
        if len(idle) < len(seen):
            return idle, None  # the others have no stream time yet: nothing to follow
        known = [stream[p] + int((now - seen[p]) * 1000) for p in seen if p in stream]
        return idle, max(known) if known else self._wall_ms()
