"""NEWS2 sub-scores (Royal College of Physicians, 2017) used as one input to alert severity.

>>> pulse_score(38), pulse_score(72), pulse_score(125), pulse_score(140)
(3, 0, 2, 3)
>>> spo2_score(97), spo2_score(93), spo2_score(88)
(0, 2, 3)
"""

from __future__ import annotations


def pulse_score(bpm: float) -> int:
    """NEWS2 pulse sub-score: <=40: 3, 41-50: 1, 51-90: 0, 91-110: 1, 111-130: 2, >=131: 3."""
    if bpm <= 40:
        return 3
    if bpm <= 50:
        return 1
    if bpm <= 90:
        return 0
    if bpm <= 110:
        return 1
    if bpm <= 130:
        return 2
    return 3


def spo2_score(pct: float) -> int:
    """NEWS2 SpO2 scale 1 sub-score: <=91: 3, 92-93: 2, 94-95: 1, >=96: 0."""
    if pct <= 91:
        return 3
    if pct <= 93:
        return 2
    if pct <= 95:
        return 1
    return 0
