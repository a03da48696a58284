"""Stream-time punctuation: when to run :meth:`Engine.tick` over a stream of readings.

Time-driven detection (a device gone silent, an alert whose data stopped, a night that ended)
needs a clock. Wall-clock time would make the outcome depend on how fast the records were read,
so a replay after a crash would raise different alerts. The clock here is *stream time*: the
newest event time seen on one ordered stream (a Kafka partition), and ticks fall on a fixed
grid of it. The ticks then happen at the same places in the stream however the records were
batched, fetched or restarted, as Kafka Streams' stream-time punctuation does.

>>> clock = GridClock(60_000)
>>> list(clock.advance(1_000))  # the first reading starts the clock: nothing to tick yet
[]
>>> list(clock.advance(59_000)), list(clock.advance(30_000))  # same minute; out of order
([], [])
>>> list(clock.advance(121_000))  # crossed two grid points
[60000, 120000]
>>> clock.tick_ms
120000
"""

from __future__ import annotations


class GridClock:
    """Stream time of one ordered stream, ticking at multiples of ``step_ms``.

    ``tick_ms`` is the last grid point ticked (``None`` before the first reading); persist it
    with the stream's offsets and pass it back to resume exactly where the stream was. A jump
    over more than ``max_ticks`` grid points ticks only the last ``max_ticks`` of them: the
    conditions a tick checks only grow with time, so the skipped points would find nothing
    the later ones do not.
    """

    __slots__ = ("max_ticks", "step_ms", "tick_ms")

    def __init__(self, step_ms: int, *, tick_ms: int | None = None, max_ticks: int = 60) -> None:
        if step_ms <= 0 or max_ticks <= 0:
            raise ValueError("step_ms and max_ticks must be positive")
        self.step_ms = step_ms
        self.max_ticks = max_ticks
        self.tick_ms = tick_ms

    @property
    def next_ms(self) -> int | None:
        """The event time from which a reading crosses the next grid point."""
        return None if self.tick_ms is None else self.tick_ms + self.step_ms

    def advance(self, ts_ms: int) -> range:
        """Account for a reading at ``ts_ms``; the grid points to tick at *before* scoring it."""
        step = self.step_ms
        grid = ts_ms // step * step
        last = self.tick_ms
        if last is None:
            self.tick_ms = grid
            return range(0)
        if grid <= last:
            return range(0)
        self.tick_ms = grid
        return range(max(last + step, grid - (self.max_ticks - 1) * step), grid + 1, step)
