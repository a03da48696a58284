"""Time courses of a resting-HR rise: a viral illness and the healthy nights that look like one.

An ``elevated_resting_hr`` event carries ``params.profile`` (an ``illness`` event is always
the ``"illness"`` profile, labelled as the ``illness`` kind the engine alerts on):

- ``"step"`` (default): every heart-rate target + ``delta_bpm`` for the whole span (the
  original, idealised event).
- ``"illness"``: a viral infection as wearable studies saw it (Mishra et al. 2020, Nat. Biomed.
  Eng.; Alavi et al. 2022, Nat. Med.; Radin et al. 2020, Lancet Digit. Health). Resting HR
  starts rising ``lead_days`` (1-5) before symptom onset, reaches ``peak_bpm`` (3-8) over the
  personal baseline from onset to ``onset + 2 d``, and returns to it linearly over
  ``recovery_days`` (7-21). Activity falls from onset (steps x ``steps_factor``, 0.35-0.7, for
  three days) and recovers with the heart rate; in the prodrome it is already down by a third of
  that. The event span is ``[onset - lead, onset + recovery)``; ``params.onset_ms`` is the
  symptom onset, what early detection is measured against.
- ``"late_night"``: a late night out (healthy): up and about from the event start for
  ``out_h`` hours (2-4, no sleep), then a night whose heart rate runs ``delta_bpm`` (3-8, as
  after alcohol) above usual, fading by morning.
- ``"hard_training"``: a hard session of ``session_min`` (60-100) minutes at 85 % of heart-rate
  reserve from the event start, then a night ``delta_bpm`` (2-4) above usual.

Nightly variation, weekends and the wearer's routine come from the rest of the simulator.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulators.population import DAY_MS, HOUR_MS, MINUTE_MS

PROFILES = ("step", "illness", "late_night", "hard_training")
#: profiles of healthy nights that look like an illness's first night: their labels are the
#: false-alarm test of the kinds that judge resting HR, not events to detect
HEALTHY_LOOKALIKES = ("late_night", "hard_training")


def draw_params(r: random.Random, severity: float, given: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's physical parameters (scenario ``params`` win over the drawn ones).

    Severity (0-1) moves the illness's peak rise and activity drop; the person-to-person
    spread of lead time and recovery is drawn from ``r``.

    >>> p = draw_params(random.Random(1), 0.5, {"profile": "illness"})
    >>> 1 <= p["lead_days"] <= 5 and 3 <= p["peak_bpm"] <= 8 and 7 <= p["recovery_days"] <= 21
    True
    """
    profile = str(given.get("profile", "step"))
    if profile not in PROFILES:
        raise ValueError(f"elevated_resting_hr profile must be one of {PROFILES}, got {profile!r}")
    p: dict[str, Any]
    if profile == "illness":
        peak = 3.0 + 5.0 * min(1.0, max(0.0, severity + r.uniform(-0.25, 0.25)))
        p = {
            "lead_days": round(r.uniform(1.0, 5.0), 2),
            "peak_bpm": round(peak, 1),
            "recovery_days": round(r.uniform(7.0, 21.0), 1),
            "steps_factor": round(0.7 - 0.35 * severity + r.uniform(-0.05, 0.05), 2),
        }
    elif profile == "late_night":
        p = {"out_h": round(r.uniform(2.0, 4.0), 1), "delta_bpm": round(r.uniform(3.0, 8.0), 1)}
    elif profile == "hard_training":
        p = {"session_min": r.randint(60, 100), "delta_bpm": round(r.uniform(2.0, 4.0), 1)}
    else:
        return dict(given)
    p["profile"] = profile
    p.update(given)
    return p


def span_ms(params: Mapping[str, Any]) -> int | None:
    """The event's duration a profile implies (``None``: the scenario's duration stands)."""
    profile = params.get("profile", "step")
    if profile == "illness":
        days = float(params["lead_days"]) + float(params["recovery_days"])
        return -(-int(days * DAY_MS) // MINUTE_MS) * MINUTE_MS
    if profile in ("late_night", "hard_training"):
        return 14 * HOUR_MS  # the evening and the night after it
    return None


def onset_ms(start_ms: int, params: Mapping[str, Any]) -> int:
    """Symptom onset of an illness event starting at ``start_ms`` (minute-aligned)."""
    return (start_ms + int(float(params["lead_days"]) * DAY_MS)) // MINUTE_MS * MINUTE_MS


Effects = tuple[
    NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64], float
]


def effects(params: Mapping[str, Any], start_ms: int, t_ms: NDArray[np.int64]) -> Effects:
    """Per-minute effects at times ``t_ms`` of an event that started at ``start_ms``.

    Returns ``(hr_add, activity_factor, up_and_about, forced_steps, forced_intensity)``: bpm
    added to the heart-rate target, the factor on steps and exercise intensity, minutes the
    wearer is out of bed whatever the sleep plan says, the steps per minute there (NaN = leave
    alone) and the exercise intensity there (0-1 of heart-rate reserve).

    >>> t = np.array([0, 2, 4, 7, 20], np.int64) * DAY_MS
    >>> p = {"profile": "illness", "lead_days": 4, "peak_bpm": 6, "recovery_days": 14,
    ...      "steps_factor": 0.5}
    >>> hr, act, _, _, _ = effects(p, 0, t)
    >>> hr.round(1).tolist(), act.round(2).tolist()
    ([0.0, 3.0, 6.0, 5.5, 0.0], [1.0, 0.92, 0.5, 0.5, 1.0])
    """
    n = len(t_ms)
    hr_add = np.zeros(n)
    act = np.ones(n)
    up = np.zeros(n, np.bool_)
    forced = np.full(n, np.nan)
    intensity = 0.0
    profile = params.get("profile", "step")
    if profile == "step":
        hr_add += float(params["delta_bpm"])
    elif profile == "illness":
        lead = float(params["lead_days"])
        rec = float(params["recovery_days"])
        days = (t_ms - start_ms) / DAY_MS - lead  # days since symptom onset
        rise = np.clip((days + lead) / lead, 0.0, 1.0)
        fall = np.clip(1.0 - (days - 2.0) / max(rec - 2.0, 1.0), 0.0, 1.0)
        hr_add += float(params["peak_bpm"]) * np.where(days < 0, rise, fall)
        drop = 1.0 - float(params["steps_factor"])
        sick = np.where(days < 0, rise / 3.0, np.clip(1.0 - (days - 3.0) / (rec - 3.0), 0, 1))
        act -= drop * sick
    else:
        since = t_ms - start_ms
        if profile == "late_night":
            out_ms = float(params["out_h"]) * HOUR_MS
            up = since < out_ms
            forced = np.where(up, 30.0, np.nan)  # on their feet, on and off
            intensity = 0.15
        else:
            out_ms = int(params["session_min"]) * MINUTE_MS
            up = since < out_ms
            forced = np.where(up, 165.0, np.nan)  # a hard run
            intensity = 0.85
        after = np.clip(1.0 - (since - out_ms) / (14 * HOUR_MS - out_ms), 0.0, 1.0)
        hr_add += np.where(up, 0.0, float(params["delta_bpm"]) * after)
    return hr_add, act, up, forced, intensity
