"""Offered-load schedules: constant rate, or a staircase of rising rates (step mode).

Pacing is by message count: the ``n``-th reading is due at the wall-clock offset where the
schedule's cumulative count reaches ``n``. A producer that falls behind sends at once, so the
offered rate it achieves is measured, never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Step:
    rate: float  # readings/s
    seconds: float
    start_s: float  # offset from the start of the run
    start_count: float  # readings due before this step

    @property
    def end_s(self) -> float:
        return self.start_s + self.seconds

    @property
    def count(self) -> float:
        return self.rate * self.seconds


class Schedule:
    """A sequence of constant-rate steps.

    >>> s = Schedule.constant(1000, 10)
    >>> s.due_s(500), s.due_s(10_000), s.total_count()
    (0.5, None, 10000.0)
    >>> st = Schedule.staircase(1000, factor=2, max_rate=5000, seconds=10)
    >>> [x.rate for x in st.steps], st.due_s(10_000 + 1000), st.rate_at_count(10_500)
    ([1000.0, 2000.0, 4000.0], 10.5, 2000.0)
    """

    def __init__(self, rates_seconds: list[tuple[float, float]]) -> None:
        if not rates_seconds:
            raise ValueError("a schedule needs at least one step")
        self.steps: list[Step] = []
        for rate, seconds in rates_seconds:
            if rate <= 0:
                raise ValueError("rates and durations must be positive")
            self.append(rate, seconds)

    def append(self, rate: float, seconds: float) -> Step:
        """Add a step at the end; rate 0 is a pause (nothing is due during it).

        >>> s = Schedule.constant(100, 1)
        >>> _ = s.append(0, 5), s.append(200, 1)
        >>> s.due_s(99), s.due_s(100), s.rate_at(3), s.index_for_count(100)
        (0.99, 6.0, 0.0, 2)
        """
        if rate < 0 or seconds <= 0:
            raise ValueError("rates and durations must be positive")
        last = self.steps[-1] if self.steps else None
        t = last.end_s if last else 0.0
        n = last.start_count + last.count if last else 0.0
        st = Step(float(rate), float(seconds), t, n)
        self.steps.append(st)
        return st

    def truncate(self, keep: int) -> None:
        """Drop every step after the first ``keep``."""
        del self.steps[keep:]

    @classmethod
    def constant(cls, rate: float, seconds: float) -> Schedule:
        return cls([(rate, seconds)])

    @classmethod
    def staircase(
        cls, start_rate: float, *, factor: float, max_rate: float, seconds: float
    ) -> Schedule:
        """Rates ``start, start*factor, ...`` up to ``max_rate``, ``seconds`` each."""
        if factor <= 1:
            raise ValueError("the step factor must be > 1")
        rates = [float(start_rate)]
        while rates[-1] * factor <= max_rate * (1 + 1e-9):
            rates.append(rates[-1] * factor)
        return cls([(r, seconds) for r in rates])

    @property
    def seconds(self) -> float:
        return self.steps[-1].end_s

    def total_count(self) -> float:
        last = self.steps[-1]
        return last.start_count + last.count

    def index_for_count(self, n: float) -> int | None:
        """Index of the step reading number ``n`` is due in (pauses hold none)."""
        for i, st in enumerate(self.steps):
            if n < st.start_count + st.count:
                return i
        return None

    def _step_for_count(self, n: float) -> Step | None:
        i = self.index_for_count(n)
        return None if i is None else self.steps[i]

    def due_s(self, n: float) -> float | None:
        """Wall-clock offset at which reading number ``n`` (0-based) is due; ``None`` past the
        end of the schedule."""
        st = self._step_for_count(n)
        if st is None:
            return None
        return st.start_s + (n - st.start_count) / st.rate

    def rate_at_count(self, n: float) -> float:
        st = self._step_for_count(n)
        return self.steps[-1].rate if st is None else st.rate

    def rate_at(self, t: float) -> float:
        """Target rate at wall-clock offset ``t`` (0 after the end)."""
        for st in self.steps:
            if st.start_s <= t < st.end_s:
                return st.rate
        return 0.0
