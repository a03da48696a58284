"""Exponentially weighted z-score against a personal baseline with a population prior.

The baseline starts at a population prior worth ``prior_weight`` readings, so the very first
score is already finite and sensible, then follows the wearer with weight ``max(alpha, 1/(n +
prior_weight))`` (a running mean early on, an exponential window once warm). Mean and variance
are updated in West's incremental form, like ``river.stats.EWMean`` / ``EWVar``.

Slots: ``MEAN, VAR, N``.
"""

from __future__ import annotations

import math
from array import array

from detectors.base import ArrayDetector, Features, feature

MEAN, VAR, N = 0, 1, 2
SLOTS = 3


def reset(s: array[float], o: int, mean: float, sd: float) -> None:
    s[o] = mean
    s[o + VAR] = sd * sd
    s[o + N] = 0.0


def zscore(s: array[float], o: int, x: float, sd_floor: float) -> float:
    """Signed z of ``x`` against the baseline at offset ``o``."""
    sd = math.sqrt(s[o + VAR])
    if sd < sd_floor:
        sd = sd_floor
    return (x - s[o]) / sd


def learn(s: array[float], o: int, x: float, alpha: float, prior_weight: float) -> None:
    """Fold ``x`` into the baseline (callers skip readings they flagged)."""
    n = s[o + N] + 1.0
    s[o + N] = n if n < 1e12 else 1e12
    a = 1.0 / (n + prior_weight)
    if a < alpha:
        a = alpha
    update(s, o, x, a)


def learn_timed(s: array[float], o: int, x: float, dt: float, tau: float, prior: float) -> None:
    """Time-weighted learning: ``N`` accumulates learned time, ``dt`` is this reading's share."""
    n = s[o + N] + dt
    s[o + N] = n if n < 1e15 else 1e15
    a = dt / (n + prior)
    if a < dt / tau:
        a = dt / tau
    update(s, o, x, a if a < 1.0 else 1.0)


def update(s: array[float], o: int, x: float, a: float) -> None:
    """West's EW mean/variance step with weight ``a``."""
    d = x - s[o]
    inc = a * d
    s[o] += inc
    s[o + VAR] = (1.0 - a) * (s[o + VAR] + d * inc)


class EWZScore(ArrayDetector):
    """Univariate personal-baseline detector: ``|z|`` of a feature against its EW baseline.

    Parameters
    ----------
    feature
        Name of the feature to watch.
    prior_mean, prior_sd
        Population prior used before the wearer's own readings dominate.
    alpha
        Weight of a new reading once warm (``2/(span+1)`` for an EW span).
    prior_weight
        How many readings the prior is worth.
    warmup
        Readings learned unconditionally before the detector may flag (and skip) anything.
    flag_z
        ``|z|`` from which a reading is flagged and therefore not learned.
    sd_floor
        Lower bound on the baseline's standard deviation.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> det = EWZScore(prior_mean=65, prior_sd=8)
    >>> round(det.score_one({"value": 65}), 3)
    0.0
    >>> for _ in range(500):
    ...     det.learn_one({"value": rng.gauss(60, 3)})
    >>> det.score_one({"value": 61}) < 1 < 4 < det.score_one({"value": 95})
    True
    >>> det.learn_one({"value": 95})  # flagged: the baseline does not move
    >>> det.score_one({"value": 95}) > 4
    True
    """

    SLOTS = SLOTS

    def __init__(
        self,
        feature: str = "value",
        *,
        prior_mean: float = 0.0,
        prior_sd: float = 1.0,
        alpha: float = 0.01,
        prior_weight: float = 5.0,
        warmup: int = 30,
        flag_z: float = 4.0,
        sd_floor: float = 1e-3,
        seed: int | None = None,
    ) -> None:
        self.feature = feature
        self.prior_mean = prior_mean
        self.prior_sd = prior_sd
        self.alpha = alpha
        self.prior_weight = prior_weight
        self.warmup = warmup
        self.flag_z = flag_z
        self.sd_floor = sd_floor
        super().__init__(seed=seed)

    def _init_state(self) -> None:
        reset(self._s, 0, self.prior_mean, self.prior_sd)

    @property
    def mean(self) -> float:
        return self._s[MEAN]

    def score_one(self, x: Features) -> float:
        v = feature(x, self.feature)
        if v is None:
            return 0.0
        return abs(zscore(self._s, 0, v, self.sd_floor))

    def learn_one(self, x: Features) -> None:
        v = feature(x, self.feature)
        if v is None:
            return
        if self._s[N] >= self.warmup and abs(zscore(self._s, 0, v, self.sd_floor)) >= self.flag_z:
            return
        learn(self._s, 0, v, self.alpha, self.prior_weight)
