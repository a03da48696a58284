"""SpO2 desaturation episodes: a drop of ``drop`` points or more below the personal baseline.

An episode starts at the first reading at or below ``baseline - drop``, ends when saturation
recovers to within ``drop - 1`` points, and counts once it has lasted ``min_episode_ms``
(measured to the recovering reading, so a single low sample of a 1/min stream counts). The
engine counts episodes per hour asleep into a nightly oxygen desaturation index (ODI).

Slots: ``START`` (-1: none), ``MIN``, ``COUNTED``, ``LAST``.
"""

from __future__ import annotations

from array import array

from detectors import ewz
from detectors.base import ArrayDetector, Features, feature

START, MIN, COUNTED, LAST = 0, 1, 2, 3
SLOTS = 4


def reset(s: array[float], o: int) -> None:
    s[o + START] = -1.0
    s[o + MIN] = 0.0
    s[o + COUNTED] = 0.0
    s[o + LAST] = -1.0


def in_episode(s: array[float], o: int) -> bool:
    return s[o] >= 0.0


def update(
    s: array[float], o: int, ts: float, x: float, baseline: float, drop: float, min_ms: float
) -> bool:
    """Advance with one in-order reading; return True when an episode has just counted."""
    if x <= baseline - drop:
        if s[o] < 0.0:
            s[o] = ts
            s[o + MIN] = x
            s[o + COUNTED] = 0.0
        elif x < s[o + MIN]:
            s[o + MIN] = x
        s[o + LAST] = ts
        if s[o + COUNTED] == 0.0 and ts - s[o] >= min_ms and ts > s[o]:
            s[o + COUNTED] = 1.0
            return True
        return False
    if s[o] >= 0.0 and x > baseline - drop + 1.0:
        counted = s[o + COUNTED] == 0.0 and ts - s[o] >= min_ms
        s[o] = -1.0
        return counted
    return False


class Desaturation(ArrayDetector):
    """Desaturation below a learned SpO2 baseline.

    Score: points below ``baseline - drop`` plus one (0 above it); ``episodes`` counts episodes.
    The baseline learns only from readings that are not part of an episode.

    Examples
    --------
    >>> det = Desaturation()
    >>> for i in range(60):
    ...     det.learn_one({"value": 97.0, "ts": i * 60_000})
    >>> det.score_one({"value": 96.0, "ts": 3_600_000})
    0.0
    >>> det.score_one({"value": 91.0, "ts": 3_600_000}) > 1
    True
    >>> for i, v in enumerate([91.0, 90.0, 97.0]):
    ...     det.learn_one({"value": v, "ts": 3_600_000 + i * 60_000})
    >>> det.episodes
    1
    """

    SLOTS = ewz.SLOTS + SLOTS + 1  # baseline, episode, episode count

    def __init__(
        self,
        *,
        drop: float = 4.0,
        min_episode_ms: int = 10_000,
        prior_mean: float = 96.5,
        prior_sd: float = 1.5,
        alpha: float = 0.01,
        sd_floor: float = 0.7,
        default_step_ms: int = 60_000,
        seed: int | None = None,
    ) -> None:
        self.drop = drop
        self.min_episode_ms = min_episode_ms
        self.prior_mean = prior_mean
        self.prior_sd = prior_sd
        self.alpha = alpha
        self.sd_floor = sd_floor
        self.default_step_ms = default_step_ms
        super().__init__(seed=seed)

    def _init_state(self) -> None:
        ewz.reset(self._s, 0, self.prior_mean, self.prior_sd)
        reset(self._s, ewz.SLOTS)

    @property
    def episodes(self) -> int:
        return int(self._s[-1])

    @property
    def baseline(self) -> float:
        return self._s[ewz.MEAN]

    def score_one(self, x: Features) -> float:
        v = feature(x, "value")
        if v is None:
            return 0.0
        below = self._s[ewz.MEAN] - self.drop - v
        return 0.0 if below < 0 else below + 1.0

    def learn_one(self, x: Features) -> None:
        v = feature(x, "value")
        if v is None:
            return
        o = ewz.SLOTS
        last = self._s[o + LAST]
        ts = feature(x, "ts")
        if ts is None:
            ts = max(last, 0.0) + self.default_step_ms
        if ts < last:
            return
        base = self._s[ewz.MEAN]
        if update(self._s, o, ts, v, base, self.drop, self.min_episode_ms):
            self._s[-1] += 1.0
        self._s[o + LAST] = ts
        if not in_episode(self._s, o) and v > base - self.drop:
            ewz.learn(self._s, 0, v, self.alpha, 5.0)
