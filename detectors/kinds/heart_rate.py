"""Personal heart-rate baselines by context (no alert of its own).

Scoring and learning run in :mod:`detectors.reading_path` (``heart_rate``); this module owns
the slots and their cold start from ``baseline``'s population priors.
"""

from __future__ import annotations

import math
from array import array

from detectors import ewz
from detectors.config import EngineConfig
from detectors.explain import duration_text
from detectors.kinds.base import Module, bpm
from detectors.layout import Layout, Slot


class HeartRate(Module):
    name = "heart_rate"
    section = "baseline"
    layout = Layout(
        "heart_rate",
        1,
        (
            Slot("asleep", ewz.SLOTS),  # ewz baselines: mean, var, learned ms
            Slot("rest", ewz.SLOTS),
            Slot("active", ewz.SLOTS),
            Slot("circadian", 6),  # rest-HR offset per 4-hour block of the day
            Slot("fast"),  # fast EW of HR (~1 min), the level an abrupt change starts from
            Slot("fast_time", init=-1.0, jump="time"),
        ),
    )

    def init_state(self, s: array[float], cfg: EngineConfig) -> None:
        b = cfg.baseline
        ewz.reset(s, self.slot("asleep"), *b.hr_sleep_prior)
        ewz.reset(s, self.slot("rest"), *b.hr_rest_prior)
        ewz.reset(s, self.slot("active"), *b.hr_active_prior)

    def baseline_text(self, s: array[float] | None, which: str, value: float | None) -> str:
        """The personal baseline ``which`` (``asleep``, ``rest``, ``active``) whose value an
        alert used, as a clinician reads it: ``"71 +/- 6 bpm"`` (mean and usual spread, one
        sd), or, while it has learned less than the warm-up, that it is still the population
        prior (the rules then judge by their population thresholds alone)."""
        if value is None or s is None:
            return bpm(value)
        o = self.slot(which)
        b = self.c.baseline
        if s[o + ewz.N] < b.warmup_ms:
            return (
                f"{bpm(value)}, not yet personal (under {duration_text(b.warmup_ms)} of data: "
                "the population prior)"
            )
        sd = max(math.sqrt(max(s[o + ewz.VAR], 0.0)), b.hr_sd_floor)
        return f"{round(value)} +/- {round(sd)} bpm"
