"""Which alert events ask for a prompt commit (ingest.alert_urgency)."""

from __future__ import annotations

from detectors import AlertEvent
from detectors.types import AlertState, Severity
from ingest.alert_urgency import UrgentAlerts
from messages.kinds import AnomalyKind, Category


def _event(state: AlertState, severity: Severity, device: str = "d1") -> AlertEvent:
    return AlertEvent(
        alert_id=f"{device}-a",
        device_id=device,
        kind=AnomalyKind.TACHYCARDIA_AT_REST,
        category=Category.CLINICAL,
        severity=severity,
        state=state,
        start_ms=0,
        ts_ms=1,
        end_ms=None,
        peak_value=None,
        explanation="",
    )


def test_open_and_escalation_are_urgent_heartbeats_and_resolutions_are_not() -> None:
    u = UrgentAlerts()
    assert u.urgent(_event("open", "warning"))
    assert not u.urgent(_event("ongoing", "warning")), "a heartbeat"
    assert u.urgent(_event("ongoing", "critical")), "an escalation"
    assert not u.urgent(_event("ongoing", "warning")), "a de-escalation at a heartbeat"
    assert not u.urgent(_event("resolved", "warning"))
    assert len(u) == 0, "a resolved alert is forgotten"


def test_an_alert_opened_before_a_restart_is_not_taken_for_an_escalation() -> None:
    u = UrgentAlerts()
    assert not u.urgent(_event("ongoing", "critical"))
    assert u.urgent(_event("open", "info", device="d2"))
    u.forget(["d1", "d2"])
    assert len(u) == 0
