"""Device and transport artefacts: what makes real wearable feeds messy.

None of these are labelled except routine charging (an ``off_wrist`` label with
``params.cause = "charging"``) because a detector is expected to report it; the rest are the
background a detector must tolerate. Corrupting bytes lives in :mod:`simulators.chunk`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Artefacts:
    """Rates of device and transport artefacts (all per device unless said otherwise).

    Parameters
    ----------
    noise_scale
        Multiplies the optical sensor noise (1.0 = typical wrist PPG).
    motion_artefact_rate
        Probability that one HR sample taken while walking or running is corrupted (cadence lock
        or a spike of 20-40 bpm).
    gaps_per_day
        Short transmission gaps (1-5 min, all metrics missing), too short for a ``dropout``.
    charging_per_day
        Probability that the wearer charges the device on a given day (30-90 min off-wrist).
    clock_drift_ppm
        Standard deviation of the per-device clock drift (20 ppm = 1.7 s/day).
    duplicate_rate
        Fraction of readings delivered twice (same bytes).
    late_rate
        Fraction of readings delivered 10 s - 15 min late, hence out of order.
    max_latency_ms
        Normal delivery latency is uniform in [50 ms, max_latency_ms].
    malformed_rate
        Fraction of messages replaced by deliberately malformed bytes (flagged per chunk).
    """

    noise_scale: float = 1.0
    motion_artefact_rate: float = 0.02
    gaps_per_day: float = 1.0
    charging_per_day: float = 0.8
    clock_drift_ppm: float = 20.0
    duplicate_rate: float = 0.001
    late_rate: float = 0.002
    max_latency_ms: int = 2_000
    malformed_rate: float = 0.0001

    @classmethod
    def none(cls) -> Artefacts:
        """A perfectly clean device: no noise, gaps, charging, drift or transport faults.

        >>> Artefacts.none().malformed_rate
        0.0
        """
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artefacts:
        """Build from a scenario's ``[artefacts]`` table; unknown keys are an error.

        >>> Artefacts.from_dict({"malformed_rate": 0.01}).malformed_rate
        0.01
        """
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown artefact settings {sorted(unknown)}; known: {sorted(known)}")
        for key, value in data.items():
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"artefacts.{key} must be a non-negative number")
        base = cls()
        kwargs = {f.name: data.get(f.name, getattr(base, f.name)) for f in fields(cls)}
        kwargs["max_latency_ms"] = int(kwargs["max_latency_ms"])
        return cls(**kwargs)
