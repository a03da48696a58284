"""The table of metrics a device may send, with units and plausible ranges.

Both the pydantic models and the hot-path decoder read their limits from :data:`METRICS`, so a
range is changed in exactly one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Metric(enum.StrEnum):
    """The signals a wearable sends. One topic carries all of them (see docs/schema.md)."""

    HEART_RATE = "heart_rate"
    SPO2 = "spo2"
    STEPS = "steps"
    SLEEP_STAGE = "sleep_stage"


class SleepStage(enum.IntEnum):
    """Sleep stages. The integer is the value a decoded reading carries (and InfluxDB stores)."""

    AWAKE = 0
    LIGHT = 1
    DEEP = 2
    REM = 3


SLEEP_STAGES: dict[str, SleepStage] = {s.name.lower(): s for s in SleepStage}


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """Unit and plausible physical range of one metric.

    Values outside ``[minimum, maximum]`` cannot come from a working sensor on a living wearer;
    they are rejected at ingest (dead-letter), not scored. Clinically abnormal but possible values
    (a heart rate of 35 bpm) are inside the range: catching those is the detectors' job.
    """

    unit: str
    minimum: float
    maximum: float
    categorical: bool = False


METRICS: dict[Metric, MetricSpec] = {
    Metric.HEART_RATE: MetricSpec(unit="bpm", minimum=20.0, maximum=250.0),
    Metric.SPO2: MetricSpec(unit="%", minimum=50.0, maximum=100.0),
    # steps counted since the previous steps reading of the device; 0-1000 covers a sprint
    # cadence (~250/min) over an interval of up to 4 minutes
    Metric.STEPS: MetricSpec(unit="count", minimum=0.0, maximum=1000.0),
    Metric.SLEEP_STAGE: MetricSpec(unit="stage", minimum=0.0, maximum=3.0, categorical=True),
}
