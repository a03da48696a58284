"""The wire format that devices, simulators and the daemon share.

``messages`` is the single source of truth for what a reading is: the metric table
(:mod:`messages.metrics`), the pydantic models (:mod:`messages.models`) and the fast decoder
used on the daemon's hot path (:mod:`messages.codec`) are all derived from it. It depends on
nothing of ours, so simulators and detectors can import it without pulling in Kafka or InfluxDB.
"""

from messages.codec import InvalidReading, Reading, ReadingDecoder, encode_reading
from messages.metrics import METRICS, SLEEP_STAGES, Metric, MetricSpec, SleepStage
from messages.models import ReadingMessage

__all__ = [
    "METRICS",
    "SLEEP_STAGES",
    "InvalidReading",
    "Metric",
    "MetricSpec",
    "Reading",
    "ReadingDecoder",
    "ReadingMessage",
    "SleepStage",
    "encode_reading",
]
