"""Plain-language explanations: what was observed, against which personal baseline, for how
long, and in what context. Built only when an alert event is emitted, never per reading."""

from __future__ import annotations

from detectors.alerts import Track
from detectors.config import EngineConfig
from messages.kinds import AnomalyKind as K


def duration_text(ms: int) -> str:
    """Human duration.

    >>> duration_text(14 * 60_000), duration_text(125 * 60_000), duration_text(3 * 86_400_000)
    ('14 min', '2 h 5 min', '3 days')
    """
    minutes = max(0, ms) // 60_000
    if minutes < 1:
        return f"{max(0, ms) // 1000} s"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        h, m = divmod(minutes, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{round(minutes / 1440)} days"


_TITLES = {
    K.HR_ACTIVITY_DECOUPLING: "Heart rate decoupled from activity",
    K.ELEVATED_RESTING_HR: "Resting heart rate elevated over several nights",
    K.SLEEP_DISRUPTION: "Sleep disrupted",
    K.UNUSUAL_INACTIVITY: "Unusually inactive in usually active hours",
    K.DROPOUT: "Data dropout",
    K.OFF_WRIST: "Device off the wrist",
    K.CLOCK_SKEW: "Device clock skew",
    K.IMPOSSIBLE_VALUE: "Physically impossible values",
}


def _g(x: float | None, unit: str = "") -> str:
    if x is None:
        return "n/a"
    return f"{x:.1f}".removesuffix(".0") + unit


class Explainer:
    """Callable used by :class:`detectors.alerts.AlertBook` to word an event."""

    def __init__(self, cfg: EngineConfig) -> None:
        self.cfg = cfg

    def __call__(self, device_id: str, t: Track, ts: int, end_ms: int | None) -> str:
        c = self.cfg
        dur = duration_text((end_ms if end_ms is not None else ts) - t.start_ms)
        ctx = f" while {t.context}" if t.context else ""
        base = t.baseline
        k = t.kind
        if k is K.TACHYCARDIA_AT_REST:
            text = (
                f"Heart rate above {_g(c.tachycardia.threshold)} bpm (peak {_g(t.peak)} bpm) for "
                f"{dur}{ctx}; personal resting baseline {_g(base)} bpm."
            )
        elif k is K.BRADYCARDIA:
            text = (
                f"Heart rate below {_g(c.bradycardia.threshold)} bpm (lowest {_g(t.peak)} bpm) "
                f"for {dur}{ctx}; personal baseline in this context {_g(base)} bpm."
            )
        elif k is K.ABRUPT_HR_CHANGE:
            text = (
                f"Heart rate changed abruptly to {_g(t.peak)} bpm against a personal baseline of "
                f"{_g(base)} bpm{ctx} and stayed changed for {dur}."
            )
        elif k is K.LOW_SPO2:
            text = (
                f"SpO2 below {_g(c.low_spo2.threshold)} % (lowest {_g(t.peak)} %) for {dur}{ctx}; "
                f"personal SpO2 baseline {_g(base)} %."
            )
        elif k is K.DESATURATION:
            text = (
                f"Oxygen desaturation of >= {_g(c.desaturation.drop)} points below the personal "
                f"SpO2 baseline of {_g(base)} % (lowest {_g(t.peak)} %) over {dur}{ctx}."
            )
        elif k is K.FLATLINE:
            text = (
                f"Heart rate stuck at exactly {_g(t.peak)} bpm for {dur}: the sensor reports a "
                "constant value (data quality, not a clinical finding)."
            )
        elif k is K.DEVICE_SILENT:
            text = f"No data from an expected device for {dur} (data quality)."
        else:
            text = f"{_TITLES.get(k, k.value.replace('_', ' ').capitalize())} for {dur}{ctx}."
        if t.detail:
            text += " " + t.detail
        if len(t.opens) >= c.alerts.flap_count:
            text += f" Flapping: opened {len(t.opens)} times within the flap window."
        if end_ms is not None:
            text += " Resolved: the condition is no longer met."
        return text
