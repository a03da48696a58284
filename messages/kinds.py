"""Names of the anomaly kinds: the labels simulators inject and the alerts detectors raise.

One vocabulary for both, so evaluation can match an alert to a label by ``kind``.
"""

from __future__ import annotations

import enum


class Category(enum.StrEnum):
    CLINICAL = "clinical"
    DATA_QUALITY = "data_quality"


class AnomalyKind(enum.StrEnum):
    # clinical, acute
    TACHYCARDIA_AT_REST = "tachycardia_at_rest"
    BRADYCARDIA = "bradycardia"
    ABRUPT_HR_CHANGE = "abrupt_hr_change"
    LOW_SPO2 = "low_spo2"
    DESATURATION = "desaturation"
    # clinical, multi-day and behavioural
    ELEVATED_RESTING_HR = "elevated_resting_hr"
    SLEEP_DISRUPTION = "sleep_disruption"
    UNUSUAL_INACTIVITY = "unusual_inactivity"
    HR_ACTIVITY_DECOUPLING = "hr_activity_decoupling"
    ILLNESS = "illness"
    # data quality: reported as such, never as a clinical alert
    FLATLINE = "flatline"
    DROPOUT = "dropout"
    IMPOSSIBLE_VALUE = "impossible_value"
    OFF_WRIST = "off_wrist"
    CLOCK_SKEW = "clock_skew"
    DEVICE_SILENT = "device_silent"

    @property
    def category(self) -> Category:
        return Category.DATA_QUALITY if self in _DATA_QUALITY else Category.CLINICAL


_DATA_QUALITY = frozenset(
    {
        AnomalyKind.FLATLINE,
        AnomalyKind.DROPOUT,
        AnomalyKind.IMPOSSIBLE_VALUE,
        AnomalyKind.OFF_WRIST,
        AnomalyKind.CLOCK_SKEW,
        AnomalyKind.DEVICE_SILENT,
    }
)
