"""What the engine returns: one :class:`Scored` per reading and :class:`AlertEvent` lifecycle."""

from __future__ import annotations

from typing import Literal

import msgspec

from messages.kinds import AnomalyKind, Category
from messages.metrics import Metric

Severity = Literal["info", "warning", "critical"]
AlertState = Literal["open", "ongoing", "resolved"]

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class Scored(msgspec.Struct, frozen=True, gc=False):
    """The score of one reading, computed before any model learned from it.

    ``score`` is finite and comparable across devices (an |z| against the personal baseline of
    the reading's context); ``baseline`` is that baseline (``None`` for metrics without one);
    ``flagged`` means the reading is anomalous on its own or violates a clinical rule.
    """

    device_id: str
    ts_ms: int
    metric: Metric
    value: float
    score: float
    baseline: float | None
    flagged: bool


class AlertEvent(msgspec.Struct, frozen=True):
    """One lifecycle event of an alert. ``ts_ms`` is the event time of this event."""

    alert_id: str
    device_id: str
    kind: AnomalyKind
    category: Category
    severity: Severity
    state: AlertState
    start_ms: int
    ts_ms: int
    end_ms: int | None
    peak_value: float | None
    explanation: str


class ProcessResult(msgspec.Struct, frozen=True):
    """What :meth:`detectors.Engine.process` returns for one batch."""

    scored: list[Scored]
    alerts: list[AlertEvent]
