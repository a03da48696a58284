"""Plain-language explanations: what was observed, against which personal baseline, for how
long, and in what context. Built only when an alert event is emitted, never per reading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from detectors.alerts import Track
from detectors.config import EngineConfig
from detectors.kinds.base import CONTEXT_TEXT, LIGHT, REST, Wording
from messages.kinds import AnomalyKind as K

if TYPE_CHECKING:
    from collections.abc import Mapping

    from detectors.kinds.base import Module
    from detectors.kinds.local_time import LocalTime


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
    sentence comes from its module (:meth:`detectors.kinds.base.Module.describe`).

    Given the engine's devices and its local-time module, it also tells the module when the
    alert began on the wearer's clock, and says when the context was not seen: a device that
    has never sent steps is taken to be at rest (``baseline.assume_rest_without_steps``) or
    lightly active, which nothing on it can confirm."""

    def __init__(
        self,
        cfg: EngineConfig,
        modules: Mapping[K, Module],
        devices: Mapping[str, Any],
        local: LocalTime,
    ) -> None:
        self.cfg = cfg
        self.modules = dict(modules)
        self.devices = devices
        self.local = local
        self._first_steps = local.slot("first_steps", "activity")

    def wording(self, device_id: str, t: Track, ts: int, end_ms: int | None) -> Wording:
        """Duration, context and local clock time of alert ``t`` of ``device_id`` at ``ts``.

        Every alert has a real start (the contract suite, tests/detectors/test_contract.py,
        holds every kind to it), so its duration and clock time are always known."""
        end = end_ms if end_ms is not None else ts
        dur = duration_text(end - t.start_ms)
        # the alert's track is in its device's state, which the engine keeps while it has any
        d = self.devices[device_id]
        s = d.s
        ctx = f" while {t.context}" if t.context else ""
        if s[self._first_steps] < 0:
            # a device that never sent steps: rest is assumed (or activity unknown)
            if t.context == CONTEXT_TEXT[REST]:
                ctx += " (assumed: the device sends no steps)"
            elif t.context == CONTEXT_TEXT[LIGHT]:
                ctx = " with activity unknown (the device sends no steps)"
        since = self.local.clock_text(device_id, d, t.start_ms, ts)
        return Wording(dur, ctx, since, s)

    def __call__(self, device_id: str, t: Track, ts: int, end_ms: int | None) -> str:
        c = self.cfg
        w = self.wording(device_id, t, ts, end_ms)
        mod = self.modules[t.kind]  # every kind has its module (detectors/kinds/registry.py)
        text = mod.describe(t, w)
        if text is None:
            # an alert that has only just opened has no duration yet: say when, not "for 0 s"
            span = "" if w.dur == duration_text(0) else f" for {w.dur}"
            # a kind without a title words every alert itself (the contract suite checks it)
            text = f"{mod.title}{span}{w.where}."
        if t.detail:
            text += " " + t.detail
        if len(t.opens) >= c.alerts.flap_count:
            text += f" Flapping: opened {len(t.opens)} times within the flap window."
        if end_ms is not None:
            text += " Resolved: the condition is no longer met."
        return text
