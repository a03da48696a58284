"""Small synthetic streams for detector tests (the simulator covers realism)."""

from __future__ import annotations

import random
from collections.abc import Callable

from messages.codec import Reading
from messages.metrics import Metric

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR

MinuteFn = Callable[[int], float | None]


def minutes(
    device: str,
    n: int,
    *,
    hr: MinuteFn | None = None,
    steps: MinuteFn | None = None,
    spo2: MinuteFn | None = None,
    stage: MinuteFn | None = None,
    start_ms: int = T0,
    seed: int = 0,
    hr_noise: float = 2.0,
) -> list[Reading]:
    """One reading per metric per minute, in time order; ``None`` from a function = no reading.

    Steps come first in each minute (they describe the minute before), then stage, HR, SpO2.
    """
    rng = random.Random(seed)
    out: list[Reading] = []
    for i in range(n):
        t = start_ms + i * MIN
        if steps is not None and (v := steps(i)) is not None:
            out.append(Reading(device, t, Metric.STEPS, float(v), 60.0))
        if stage is not None and (v := stage(i)) is not None:
            out.append(Reading(device, t + 1, Metric.SLEEP_STAGE, float(v)))
        if hr is not None and (v := hr(i)) is not None:
            out.append(
                Reading(device, t + 2, Metric.HEART_RATE, float(round(v + rng.gauss(0, hr_noise))))
            )
        if spo2 is not None and (v := spo2(i)) is not None:
            out.append(Reading(device, t + 3, Metric.SPO2, float(min(100, round(v)))))
    return out


def day_plan(day_minute: int) -> tuple[float, float, float]:
    """(steps/min, hr, stage) of an ordinary day: asleep 23-07, walks at 8, 12:30, 18."""
    h = day_minute / 60
    if h < 7 or h >= 23:
        return 0.0, 56.0, 1.0 + (day_minute // 90) % 3
    if 8 <= h < 8.5 or 12.5 <= h < 13 or 18 <= h < 18.75:
        return 110.0, 100.0, 0.0
    return (3.0 if day_minute % 7 == 0 else 0.0), 68.0, 0.0


def normal_days(
    device: str,
    days: int,
    *,
    seed: int = 0,
    rhr_delta: Callable[[int], float] = lambda d: 0.0,
    start_ms: int = T0,
) -> list[Reading]:
    """``days`` ordinary days (sleep, rest, walks) with 1/min readings of every metric."""

    def plan(i: int) -> tuple[float, float, float]:
        return day_plan(i % 1440)

    return minutes(
        device,
        days * 1440,
        steps=lambda i: plan(i)[0],
        hr=lambda i: plan(i)[1] + rhr_delta(i // 1440),
        stage=lambda i: plan(i)[2] if (i % 1440) >= 22 * 60 or (i % 1440) < 8 * 60 else None,
        spo2=lambda i: 96.0 + (i % 3 == 0) if plan(i)[2] else None,
        start_ms=start_ms,
        seed=seed,
    )
