"""Hour-of-day activity profile: a person's usual steps per hour, and hours far below it.

Unusual inactivity is judged only in a person's *usual active hours* (mean above a minimum) and
only for hours in which the device was worn; an unusual hour is not learned.

Slots: 24 hourly means then ``HOURS`` (hours learned so far).
"""

from __future__ import annotations

from array import array

from detectors.base import ArrayDetector, Features, feature

HOURS = 24
SLOTS = 25


def reset(s: array[float], o: int) -> None:
    for h in range(SLOTS):
        s[o + h] = 0.0


def usual(s: array[float], o: int, hour: int) -> float:
    return s[o + hour]


def days(s: array[float], o: int) -> float:
    return s[o + HOURS] / 24.0


def unusual(
    s: array[float],
    o: int,
    hour: int,
    total: float,
    min_usual: float,
    fraction: float,
    min_days: float,
) -> bool:
    u = s[o + hour]
    return days(s, o) >= min_days and u >= min_usual and total < fraction * u


def learn(s: array[float], o: int, hour: int, total: float, span_days: float) -> None:
    n = s[o + HOURS] + 1.0
    s[o + HOURS] = n
    # ~running mean per hour for the first days, then an EW window of span_days
    a = max(24.0 / (n + 23.0), 2.0 / (span_days + 1.0))
    s[o + hour] += a * (total - s[o + hour])


class HourlyProfile(ArrayDetector):
    """Shortfall of an hour's steps (``value``) against the usual for its ``hour`` (0-23).

    Score: ``1 - value/usual`` in usual active hours after warm-up, else 0.

    Examples
    --------
    >>> det = HourlyProfile(min_days=2)
    >>> for day in range(7):
    ...     for hour in range(24):
    ...         det.learn_one({"hour": hour, "value": 800.0 if 8 <= hour < 20 else 0.0})
    >>> det.score_one({"hour": 10, "value": 20.0}) > 0.9
    True
    >>> det.score_one({"hour": 3, "value": 0.0})
    0.0
    """

    SLOTS = SLOTS

    def __init__(
        self,
        *,
        min_usual: float = 300.0,
        fraction: float = 0.1,
        min_days: float = 5,
        span_days: float = 28,
        seed: int | None = None,
    ) -> None:
        self.min_usual = min_usual
        self.fraction = fraction
        self.min_days = min_days
        self.span_days = span_days
        super().__init__(seed=seed)

    def _init_state(self) -> None:
        reset(self._s, 0)

    def _hour_value(self, x: Features) -> tuple[int, float] | None:
        h = feature(x, "hour")
        v = feature(x, "value")
        if h is None or v is None or not 0 <= h < 24:
            return None
        return int(h), v

    def score_one(self, x: Features) -> float:
        hv = self._hour_value(x)
        if hv is None:
            return 0.0
        h, v = hv
        u = usual(self._s, 0, h)
        if days(self._s, 0) < self.min_days or u < self.min_usual:
            return 0.0
        return max(0.0, 1.0 - v / u)

    def learn_one(self, x: Features) -> None:
        hv = self._hour_value(x)
        if hv is None:
            return
        h, v = hv
        if unusual(self._s, 0, h, v, self.min_usual, self.fraction, self.min_days):
            return
        learn(self._s, 0, h, v, self.span_days)
