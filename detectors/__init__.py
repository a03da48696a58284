"""vitalstream's detection engine: pure computation, no Kafka or InfluxDB.

>>> from detectors import Engine, EngineConfig
>>> Engine(EngineConfig()).process([]).scored
[]
"""

from detectors.base import ArrayDetector, Detector
from detectors.clock import GridClock
from detectors.config import EngineConfig
from detectors.desaturation import Desaturation
from detectors.engine import STATE_BYTES, Engine
from detectors.ewz import EWZScore
from detectors.flatline import Flatline
from detectors.hourly import HourlyProfile
from detectors.nightly import NightlyBaseline
from detectors.sustain import SustainedThreshold
from detectors.types import AlertEvent, ProcessResult, Scored

__all__ = [
    "STATE_BYTES",
    "AlertEvent",
    "ArrayDetector",
    "Desaturation",
    "Detector",
    "EWZScore",
    "Engine",
    "EngineConfig",
    "Flatline",
    "GridClock",
    "HourlyProfile",
    "NightlyBaseline",
    "ProcessResult",
    "Scored",
    "SustainedThreshold",
]
