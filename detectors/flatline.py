"""Flatline (stuck sensor): the same value repeated for longer than physiology allows.

A living heart never reports exactly the same rate for ten minutes on end; a stuck optical
sensor or a firmware fallback does. This is a data-quality signal, never a clinical one.

Slots: ``VALUE, START, COUNT, LAST``.
"""

from __future__ import annotations

from array import array

from detectors.base import ArrayDetector, Features, feature

VALUE, START, COUNT, LAST = 0, 1, 2, 3
SLOTS = 4


def reset(s: array[float], o: int) -> None:
    s[o + VALUE] = float("nan")
    s[o + START] = -1.0
    s[o + COUNT] = 0.0
    s[o + LAST] = -1.0


def update(s: array[float], o: int, ts: float, x: float, max_gap_ms: float) -> None:
    """Extend the run of identical values with one in-order reading, or start a new one
    (also after a gap longer than ``max_gap_ms``: a run spans contiguous readings only)."""
    if s[o + COUNT] > 0 and x == s[o] and ts - s[o + LAST] <= max_gap_ms:
        s[o + COUNT] += 1.0
        s[o + LAST] = ts
    else:
        s[o] = x
        s[o + START] = ts
        s[o + LAST] = ts
        s[o + COUNT] = 1.0


def active(s: array[float], o: int, min_ms: float, min_readings: float) -> bool:
    return s[o + COUNT] >= min_readings and s[o + LAST] - s[o + START] >= min_ms


class Flatline(ArrayDetector):
    """Score how long the current value has been repeated, in units of ``min_ms``.

    Examples
    --------
    >>> det = Flatline(min_ms=600_000, min_readings=8)
    >>> for i in range(12):
    ...     det.learn_one({"value": 72.0, "ts": i * 60_000})
    >>> det.active
    True
    >>> round(det.score_one({"value": 72.0, "ts": 12 * 60_000}), 2)
    1.2
    >>> det.score_one({"value": 73.0, "ts": 12 * 60_000})
    0.0
    """

    SLOTS = SLOTS

    def __init__(
        self,
        *,
        min_ms: int = 600_000,
        min_readings: int = 8,
        max_gap_ms: int = 300_000,
        default_step_ms: int = 60_000,
        seed: int | None = None,
    ) -> None:
        self.min_ms = min_ms
        self.min_readings = min_readings
        self.max_gap_ms = max_gap_ms
        self.default_step_ms = default_step_ms
        super().__init__(seed=seed)

    def _init_state(self) -> None:
        reset(self._s, 0)

    @property
    def active(self) -> bool:
        return active(self._s, 0, self.min_ms, self.min_readings)

    def _ts(self, x: Features) -> float:
        ts = feature(x, "ts")
        return max(self._s[LAST], 0.0) + self.default_step_ms if ts is None else ts

    def score_one(self, x: Features) -> float:
        v = feature(x, "value")
        s = self._s
        if v is None or s[COUNT] == 0 or v != s[VALUE]:
            return 0.0
        if self._ts(x) - s[LAST] > self.max_gap_ms:
            return 0.0  # a new run after the gap
        dur = max(self._ts(x) - s[START], 0.0)
        fill = min(1.0, (s[COUNT] + 1) / self.min_readings)
        return min(dur / self.min_ms, 100.0) * fill

    def learn_one(self, x: Features) -> None:
        v = feature(x, "value")
        if v is None:
            return
        ts = self._ts(x)
        if ts < self._s[LAST]:
            return
        update(self._s, 0, ts, v, self.max_gap_ms)
