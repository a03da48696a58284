"""Explicit unit conversions from the units standard formats use to the units of
:data:`messages.METRICS`, and the splitting of interval data into readings.

Every accepted unit is listed here; any other unit is rejected with ``wrong_unit`` (a reading
in an unknown unit is worse than no reading). UCUM codes (FHIR) and Open mHealth unit names are
both listed, each with the factor that brings the value to the metric's unit.
"""

from __future__ import annotations

from messages.codec import InvalidReading
from messages.metrics import Metric

#: unit -> factor to our unit, per metric (value_ours = value * factor)
UNIT_FACTORS: dict[Metric, dict[str, float]] = {
    Metric.HEART_RATE: {
        "beats/min": 1.0,  # Open mHealth
        "/min": 1.0,  # UCUM (FHIR vital-signs profile)
        "{beats}/min": 1.0,  # UCUM with an annotation
        "{Beats}/min": 1.0,
        "bpm": 1.0,
        "count/min": 1.0,  # HealthKit
        "count/s": 60.0,
        "Hz": 60.0,  # beats per second
        "/s": 60.0,
    },
    Metric.SPO2: {
        "%": 1.0,  # Open mHealth and UCUM
        "1": 100.0,  # UCUM unity: a fraction (0.97), as Apple Health stores it
    },
    Metric.STEPS: {
        "steps": 1.0,  # Open mHealth step-count 2.0+
        "{steps}": 1.0,  # UCUM annotations LOINC examples use for 55423-8
        "{step}": 1.0,
        "{tot}": 1.0,
        "/{tot}": 1.0,
        "1": 1.0,
        "count": 1.0,
    },
}

#: a sleep-stage segment is expanded to one reading per epoch, as devices report stages
SLEEP_EPOCH_MS = 30_000
#: a steps interval is split into readings of at most this length (the replay CSV's minute)
STEPS_SLICE_MS = 60_000
#: longest interval one step count or sleep segment may cover
MAX_INTERVAL_MS = 86_400_000


def convert(metric: Metric, value: float, unit: str | None) -> float:
    """``value`` in ``unit`` converted to the unit of ``metric``.

    >>> convert(Metric.SPO2, 0.513, "1")
    51.3
    >>> convert(Metric.HEART_RATE, 1.25, "Hz")
    75.0
    >>> convert(Metric.HEART_RATE, 60, "mmHg")
    Traceback (most recent call last):
    ...
    messages.codec.InvalidReading: wrong_unit: heart_rate in 'mmHg' (accepted: /min, /s, Hz, \
beats/min, bpm, count/min, count/s, {Beats}/min, {beats}/min)
    """
    factors = UNIT_FACTORS[metric]
    if unit is None:
        raise InvalidReading("wrong_unit", f"{metric.value} has no unit")
    factor = factors.get(unit)
    if factor is None:
        raise InvalidReading(
            "wrong_unit",
            f"{metric.value} in {unit[:32]!r} (accepted: {', '.join(sorted(factors))})",
        )
    # 0.513 x 100 is 51.300000000000004 in binary floating point: round away the artefact
    return value if factor == 1.0 else round(value * factor, 9)


def _check_interval(start_ms: int, end_ms: int) -> None:
    if not 0 < end_ms - start_ms <= MAX_INTERVAL_MS:
        raise InvalidReading("bad_interval", "interval must end after it starts, within 24 h")


def split_steps(start_ms: int, end_ms: int, count: float) -> list[tuple[int, float, float]]:
    """Spread a step count over ``[start_ms, end_ms)`` in slices of at most a minute.

    Returns ``(ts_ms, steps, interval_s)`` per slice, ``ts_ms`` its end; integer counts stay
    integers and the slices sum to ``count`` exactly (the remainder goes to the first slices).

    >>> split_steps(0, 150_000, 100)
    [(60000, 34.0, 60.0), (120000, 33.0, 60.0), (150000, 33.0, 30.0)]
    """
    _check_interval(start_ms, end_ms)
    n = -(-(end_ms - start_ms) // STEPS_SLICE_MS)
    whole = float(count).is_integer()
    base, extra = divmod(int(count), n) if whole else (count / n, 0)
    out = []
    for i in range(n):
        t0 = start_ms + i * STEPS_SLICE_MS
        t1 = min(end_ms, t0 + STEPS_SLICE_MS)
        out.append((t1, float(base + (1 if i < extra else 0)), (t1 - t0) / 1000.0))
    return out


def sleep_epochs(start_ms: int, end_ms: int) -> range:
    """Start times of the 30 s epochs of a sleep-stage segment ``[start_ms, end_ms)``.

    >>> list(sleep_epochs(0, 75_000))
    [0, 30000, 60000]
    """
    _check_interval(start_ms, end_ms)
    return range(start_ms, end_ms, SLEEP_EPOCH_MS)
