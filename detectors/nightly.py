"""Multi-day baseline of one nightly aggregate (resting HR, sleep duration, efficiency, ...).

Each night contributes one value. The baseline is an exponentially weighted mean/variance with a
span of ``span`` nights (~4 weeks by default), learned only from nights that were not abnormal.
A night is abnormal when it deviates in ``direction`` by at least ``delta`` (absolute units)
and ``z`` baseline sds (the absolute floor keeps a young baseline with a tiny sd from
over-reacting). ``consecutive`` counts abnormal nights in a row, which is what multi-day rules
(two nights >= 4 bpm above baseline: an early illness signal) act on.

Slots: the :mod:`detectors.ewz` slots then ``CONSEC``.
"""

from __future__ import annotations

import math
from array import array

from detectors import ewz
from detectors.base import ArrayDetector, Features, feature

CONSEC = ewz.SLOTS
SLOTS = ewz.SLOTS + 1


def reset(s: array[float], o: int, mean: float, sd: float) -> None:
    ewz.reset(s, o, mean, sd)
    s[o + CONSEC] = 0.0


def deviation(s: array[float], o: int, x: float, direction: int) -> float:
    d = x - s[o + ewz.MEAN]
    return d if direction >= 0 else -d


def abnormal(
    s: array[float],
    o: int,
    x: float,
    direction: int,
    delta: float | None,
    z: float | None,
    sd_floor: float,
    min_nights: int,
) -> bool:
    """Deviation in ``direction`` of at least ``delta`` *and* ``z`` baseline sds (either may be
    ``None``), once ``min_nights`` nights are learned."""
    if s[o + ewz.N] < min_nights:
        return False
    dev = deviation(s, o, x, direction)
    sd = math.sqrt(s[o + ewz.VAR])
    threshold = max(delta or 0.0, (z or 0.0) * max(sd, sd_floor))
    return dev >= threshold and dev > 0


def close_night(
    s: array[float],
    o: int,
    x: float,
    direction: int,
    delta: float | None,
    z: float | None,
    sd_floor: float,
    min_nights: int,
    span: int,
    prior_weight: float = 0.5,
) -> int:
    """Judge tonight's value, learn it if normal; return the count of abnormal nights in a row."""
    if abnormal(s, o, x, direction, delta, z, sd_floor, min_nights):
        s[o + CONSEC] += 1.0
    else:
        s[o + CONSEC] = 0.0
        ewz.learn(s, o, x, 2.0 / (span + 1.0), prior_weight)
    return int(s[o + CONSEC])


class NightlyBaseline(ArrayDetector):
    """One value per night against a ~4-week personal baseline.

    Score: the deviation in ``direction`` in baseline sds (0 when in the other direction).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(3)
    >>> det = NightlyBaseline(delta=4.0, prior_mean=60, prior_sd=5)
    >>> for _ in range(28):
    ...     det.learn_one({"value": rng.gauss(55, 1.5)})
    >>> det.score_one({"value": 55.0}) < 1.5 < 3 < det.score_one({"value": 61.0})
    True
    >>> det.learn_one({"value": 61.0}); det.learn_one({"value": 60.5}); det.consecutive
    2
    """

    SLOTS = SLOTS

    def __init__(
        self,
        *,
        direction: int = 1,
        delta: float | None = None,
        z: float | None = 2.5,
        span: int = 28,
        min_nights: int = 7,
        prior_mean: float = 0.0,
        prior_sd: float = 1.0,
        sd_floor: float = 0.5,
        seed: int | None = None,
    ) -> None:
        self.direction = direction
        self.delta = delta
        self.z = z
        self.span = span
        self.min_nights = min_nights
        self.prior_mean = prior_mean
        self.prior_sd = prior_sd
        self.sd_floor = sd_floor
        super().__init__(seed=seed)

    def _init_state(self) -> None:
        reset(self._s, 0, self.prior_mean, self.prior_sd)

    @property
    def consecutive(self) -> int:
        return int(self._s[CONSEC])

    def score_one(self, x: Features) -> float:
        v = feature(x, "value")
        if v is None:
            return 0.0
        z = ewz.zscore(self._s, 0, v, self.sd_floor)
        z = z if self.direction >= 0 else -z
        return max(z, 0.0)

    def learn_one(self, x: Features) -> None:
        v = feature(x, "value")
        if v is None:
            return
        close_night(
            self._s,
            0,
            v,
            self.direction,
            self.delta,
            self.z,
            self.sd_floor,
            self.min_nights,
            self.span,
        )
