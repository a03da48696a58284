"""River anomaly models behind the :class:`detectors.base.Detector` protocol.

River's models (``HalfSpaceTrees``, ``GaussianScorer``, ...) cost 50-90 us per reading and up to
~1 MB each, so vitalstream never runs one per device on the raw stream. They fit low-rate,
normalised inputs shared across devices (e.g. per-night sleep features as z-scores against each
person's baseline). This adapter gives them the same contract as the built-in detectors: score
before learning, no learning from flagged inputs, missing features replaced by a neutral value,
snapshots (pickle, so large: keep them out of per-device state).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detectors.base import Features, feature


class RiverAnomaly:
    """Adapter of a River anomaly model.

    Parameters
    ----------
    limits
        Feature name -> (low, high). Inputs are clipped and scaled to [0, 1] with these (so the
        model never sees a raw unit); a missing or non-finite feature becomes 0.5.
    factory
        ``factory(seed, limits)`` builds the River model (default: :func:`half_space_trees`).
    flag_score
        Scores at or above this are flagged and not learned.
    seed
        Passed to the factory; same seed, same scores.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> det = RiverAnomaly({"hr_z": (-6.0, 6.0)}, seed=42)
    >>> for _ in range(300):
    ...     det.learn_one({"hr_z": rng.gauss(0, 1)})
    >>> det.score_one({"hr_z": 0.0}) < det.score_one({"hr_z": 5.5})
    True
    """

    def __init__(
        self,
        limits: Mapping[str, tuple[float, float]],
        *,
        factory: Callable[[int | None, Mapping[str, tuple[float, float]]], Any] | None = None,
        flag_score: float | None = 0.95,
        seed: int | None = None,
    ) -> None:
        self.limits = dict(limits)
        self.seed = seed
        self.flag_score = flag_score
        make = factory if factory is not None else _default_factory
        self.model = make(seed, self.limits)

    def _x(self, x: Features) -> dict[str, float]:
        out = {}
        for name, (lo, hi) in self.limits.items():
            v = feature(x, name)
            out[name] = 0.5 if v is None else min(1.0, max(0.0, (v - lo) / (hi - lo)))
        return out

    def score_one(self, x: Features) -> float:
        return float(self.model.score_one(self._x(x)))

    def learn_one(self, x: Features) -> None:
        xs = self._x(x)
        if self.flag_score is not None and float(self.model.score_one(xs)) >= self.flag_score:
            return
        self.model.learn_one(xs)

    def score_many(self, xs: Sequence[Features]) -> list[float]:
        return [self.score_one(x) for x in xs]

    def learn_many(self, xs: Sequence[Features]) -> None:
        for x in xs:
            self.learn_one(x)

    def snapshot(self) -> bytes:
        return pickle.dumps(self.model, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        self.model = pickle.loads(data)  # noqa: S301 - our own snapshots, never network input

    def state_nbytes(self) -> int:
        return len(self.snapshot())


def _default_factory(seed: int | None, limits: Mapping[str, tuple[float, float]]) -> Any:
    from river import anomaly

    del limits
    return anomaly.HalfSpaceTrees(n_trees=10, height=6, window_size=100, seed=seed)


class _FirstFeature:
    """Feeds the first feature of a dict to a univariate River scorer (picklable)."""

    def __init__(self, model: Any, name: str) -> None:
        self.model = model
        self.name = name

    def score_one(self, x: dict[str, float]) -> float:
        return float(self.model.score_one(None, x[self.name]))

    def learn_one(self, x: dict[str, float]) -> None:
        self.model.learn_one(None, x[self.name])


def gaussian_scorer(seed: int | None, limits: Mapping[str, tuple[float, float]]) -> Any:
    """River ``GaussianScorer`` on the first feature (univariate), for low-rate aggregates."""
    from river import anomaly

    del seed  # deterministic
    scorer = anomaly.GaussianScorer(grace_period=10)  # type: ignore[no-untyped-call]
    return _FirstFeature(scorer, next(iter(limits)))
