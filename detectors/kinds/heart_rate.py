"""Personal heart-rate baselines by context (no alert of its own).

Scoring and learning run in :mod:`detectors.reading_path` (``heart_rate``); this module owns
the slots and their cold start from ``baseline``'s population priors.
"""

from __future__ import annotations

from array import array

from detectors import ewz
from detectors.config import EngineConfig
from detectors.kinds.base import Module, baseline_text
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
        alert used, in words (:func:`~detectors.kinds.base.baseline_text`)."""
        b = self.c.baseline
        return baseline_text(s, self.slot(which), value, "bpm", b.hr_sd_floor, b.warmup_ms)
