"""Plain-language explanations: what was observed, against which personal baseline, for how
long, and in what context. Built only when an alert event is emitted, never per reading."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.alerts import Track
from detectors.config import EngineConfig
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from collections.abc import Mapping

    from detectors.kinds.base import Module


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


class Explainer:
    """Callable used by :class:`detectors.alerts.AlertBook` to word an event; each kind's
    sentence comes from its module (:meth:`detectors.kinds.base.Module.explain`)."""

    def __init__(self, cfg: EngineConfig, modules: Mapping[K, Module] | None = None) -> None:
        self.cfg = cfg
        self.modules = dict(modules or {})

    def __call__(self, device_id: str, t: Track, ts: int, end_ms: int | None) -> str:
        c = self.cfg
        dur = duration_text((end_ms if end_ms is not None else ts) - t.start_ms)
        ctx = f" while {t.context}" if t.context else ""
        k = t.kind
        mod = self.modules.get(k)
        text = mod.explain(t, dur, ctx) if mod is not None else None
        if text is None:
            title = mod.title if mod is not None and mod.title else ""
            text = f"{title or k.value.replace('_', ' ').capitalize()} for {dur}{ctx}."
        if t.detail:
            text += " " + t.detail
        if len(t.opens) >= c.alerts.flap_count:
            text += f" Flapping: opened {len(t.opens)} times within the flap window."
        if end_ms is not None:
            text += " Resolved: the condition is no longer met."
        return text
