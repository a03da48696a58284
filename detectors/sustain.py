"""Sustained threshold rule: a value beyond a threshold for at least ``sustain_ms``.

This is the shape of the consumer-wearable rules (Apple Watch: heart rate above 120 bpm for 10
minutes while inactive). A run starts at the first reading beyond the threshold and survives
noise and gaps of up to ``grace_ms``; once sustained, the threshold relaxes by ``hysteresis`` so
a value hovering at the threshold does not flap.

Slots: ``RUN_START`` (-1: no run), ``LAST_HIT``, ``PEAK``.
"""

from __future__ import annotations

from array import array

from detectors.base import ArrayDetector, Features, feature

RUN_START, LAST_HIT, PEAK = 0, 1, 2
SLOTS = 3


def reset(s: array[float], o: int) -> None:
    s[o + RUN_START] = -1.0
    s[o + LAST_HIT] = -1.0
    s[o + PEAK] = 0.0


def is_sustained(s: array[float], o: int, sustain_ms: float) -> bool:
    return s[o] >= 0.0 and s[o + LAST_HIT] - s[o] >= sustain_ms


def update(
    s: array[float],
    o: int,
    ts: float,
    hit: bool,
    x: float,
    sustain_ms: float,
    grace_ms: float,
    above: bool,
    since: float = -1.0,
) -> bool:
    """Advance the run with one in-order reading; True if it is a hit of a sustained run.

    ``since`` (if in ``[0, ts)``) backdates a new run: the caller knows the condition already
    held from then on (e.g. the heart rate was high before the wearer was known to be still).
    """
    if hit:
        if s[o] < 0.0 or ts - s[o + LAST_HIT] > grace_ms:
            s[o] = since if 0.0 <= since < ts else ts
            s[o + PEAK] = x
        elif (x > s[o + PEAK]) if above else (x < s[o + PEAK]):
            s[o + PEAK] = x
        s[o + LAST_HIT] = ts
        return ts - s[o] >= sustain_ms
    if s[o] >= 0.0 and ts - s[o + LAST_HIT] > grace_ms:
        s[o] = -1.0
    # within the grace time the run survives, but this reading is not evidence of it
    return False


def hit(
    s: array[float],
    o: int,
    x: float,
    threshold: float,
    hysteresis: float,
    sustain_ms: float,
    above: bool,
) -> bool:
    """Whether ``x`` is beyond the threshold (relaxed by ``hysteresis`` once sustained)."""
    if is_sustained(s, o, sustain_ms):
        threshold = threshold - hysteresis if above else threshold + hysteresis
    return x > threshold if above else x < threshold


class SustainedThreshold(ArrayDetector):
    """Score how far a reading is beyond a threshold; ``active`` once sustained.

    Features: ``value`` and ``ts`` (epoch ms; if missing, readings are ``default_step_ms`` apart).
    The score is the exceedance in units of ``scale`` plus 1 while the rule is sustained, so it
    is 0 for normal readings and grows with severity and persistence.

    Examples
    --------
    >>> det = SustainedThreshold(threshold=120, sustain_ms=600_000)
    >>> for i in range(12):
    ...     det.learn_one({"value": 130, "ts": i * 60_000})
    >>> det.active
    True
    >>> det.score_one({"value": 130, "ts": 12 * 60_000})
    2.0
    >>> det.score_one({"value": 80, "ts": 12 * 60_000})
    0.0
    """

    SLOTS = SLOTS + 1  # + the newest timestamp seen

    def __init__(
        self,
        threshold: float = 120.0,
        *,
        above: bool = True,
        sustain_ms: int = 600_000,
        grace_ms: int = 120_000,
        hysteresis: float = 0.0,
        scale: float = 10.0,
        default_step_ms: int = 60_000,
        seed: int | None = None,
    ) -> None:
        self.threshold = threshold
        self.above = above
        self.sustain_ms = sustain_ms
        self.grace_ms = grace_ms
        self.hysteresis = hysteresis
        self.scale = scale
        self.default_step_ms = default_step_ms
        super().__init__(seed=seed)

    def _init_state(self) -> None:
        reset(self._s, 0)
        self._s[SLOTS] = -1.0

    @property
    def active(self) -> bool:
        s = self._s
        return is_sustained(s, 0, self.sustain_ms) and s[SLOTS] - s[LAST_HIT] <= self.grace_ms

    def _ts(self, x: Features) -> float:
        ts = feature(x, "ts")
        return self._s[SLOTS] + self.default_step_ms if ts is None else ts

    def score_one(self, x: Features) -> float:
        v = feature(x, "value")
        if v is None:
            return 0.0
        excess = (v - self.threshold) if self.above else (self.threshold - v)
        if excess <= 0:
            return 0.0
        return excess / self.scale + (1.0 if is_sustained(self._s, 0, self.sustain_ms) else 0.0)

    def learn_one(self, x: Features) -> None:
        v = feature(x, "value")
        if v is None:
            return
        ts = self._ts(x)
        if ts < self._s[SLOTS]:  # out of order: a run is only defined in event-time order
            return
        self._s[SLOTS] = ts
        h = hit(self._s, 0, v, self.threshold, self.hysteresis, self.sustain_ms, self.above)
        update(self._s, 0, ts, h, v, self.sustain_ms, self.grace_ms, self.above)
