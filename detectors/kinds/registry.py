"""The registered detector modules, in the order their slots are laid out (one line each)."""

from __future__ import annotations

from detectors.kinds.abrupt_hr_change import AbruptHrChange
from detectors.kinds.activity import Activity
from detectors.kinds.base import Module
from detectors.kinds.bradycardia import Bradycardia
from detectors.kinds.clock_skew import ClockSkew
from detectors.kinds.desaturation import Desaturation
from detectors.kinds.device import DeviceClock
from detectors.kinds.device_silent import DeviceSilent
from detectors.kinds.dropout import Dropout
from detectors.kinds.elevated_resting_hr import ElevatedRestingHr
from detectors.kinds.flatline import Flatline
from detectors.kinds.heart_rate import HeartRate
from detectors.kinds.hour import Hour
from detectors.kinds.hr_activity_decoupling import HrActivityDecoupling
from detectors.kinds.illness import Illness
from detectors.kinds.impossible_value import ImpossibleValue
from detectors.kinds.local_time import LocalTime
from detectors.kinds.low_spo2 import LowSpo2
from detectors.kinds.off_wrist import OffWrist
from detectors.kinds.presence import Presence
from detectors.kinds.sleep_disruption import SleepDisruption
from detectors.kinds.sleep_session import SleepSession
from detectors.kinds.spo2 import Spo2
from detectors.kinds.tachycardia import Tachycardia
from detectors.kinds.unusual_inactivity import UnusualInactivity
from detectors.layout import StateLayout

MODULES: tuple[type[Module], ...] = (
    # shared signals
    DeviceClock,
    LocalTime,
    Activity,
    HeartRate,
    Spo2,
    SleepSession,
    Hour,
    Presence,
    # alert kinds
    ImpossibleValue,
    ClockSkew,
    Dropout,
    DeviceSilent,
    OffWrist,
    Flatline,
    Tachycardia,
    Bradycardia,
    AbruptHrChange,
    HrActivityDecoupling,
    LowSpo2,
    Desaturation,
    ElevatedRestingHr,
    SleepDisruption,
    UnusualInactivity,
    Illness,
)

#: the composed layout of a device's state array
LAYOUT = StateLayout(m.layout for m in MODULES)
