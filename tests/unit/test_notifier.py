"""The notify consumer's bookkeeping, without Kafka (ingest.alertmanager.notifier)."""

from __future__ import annotations

import json

import httpx

from detectors.types import AlertEvent
from ingest.alertmanager.client import AlertmanagerClient
from ingest.alertmanager.notifier import Notifier, Posts
from ingest.settings import Settings

NOW = 1_767_225_600_000


def _event(state: str, severity: str = "warning") -> AlertEvent:
    return AlertEvent(
        "pa1",
        "pdev",
        "tachycardia_at_rest",  # type: ignore[arg-type]
        "clinical",  # type: ignore[arg-type]
        severity,  # type: ignore[arg-type]
        state,  # type: ignore[arg-type]
        NOW - 600_000,
        NOW,
        NOW if state == "resolved" else None,
        130.0,
        "Heart rate high at rest",
    )


def _notifier(handler: httpx.MockTransport | None = None) -> Notifier:
    s = Settings.model_validate(
        {"alertmanager": {"url": "http://am.test"}, "notify": {"retry_initial_s": 0.01}}
    )
    return Notifier(s, AlertmanagerClient("http://am.test", transport=handler))


def test_an_escalated_severity_ends_the_old_alert_and_fires_the_new_one() -> None:
    n = _notifier()
    out = Posts()
    n._apply(_event("open", "warning"), 0, NOW, out)
    n._apply(_event("ongoing", "critical"), 0, NOW + 1000, out)
    by_severity = {p["labels"]["severity"]: p for p in out.payloads.values()}
    assert set(by_severity) == {"warning", "critical"}
    assert len(out.ended) == 1
    assert by_severity["warning"]["endsAt"] == "2026-01-01T00:00:01+00:00"  # ended now
    assert n._active["pa1"][1]["labels"]["severity"] == "critical"


def test_the_last_event_of_an_alert_in_a_batch_wins_and_resolved_leaves_the_active_set() -> None:
    n = _notifier()
    out = Posts()
    n._apply(_event("open"), 2, NOW, out)
    assert "pa1" in n._active
    n._apply(_event("resolved"), 2, NOW, out)
    (only,) = out.payloads.values()
    assert only["endsAt"] == "2026-01-01T00:00:00+00:00"
    assert out.ended == set(out.payloads)
    assert n._active == {}
    assert out.resolved_ids == ["pa1"]


def test_revoked_partitions_drop_their_alerts() -> None:
    n = _notifier()
    n._apply(_event("open"), 4, NOW, Posts())
    n.revoked({1})
    assert "pa1" in n._active
    n.revoked({4})
    assert n._active == {}


async def test_a_failed_post_is_retried_until_accepted_and_counted() -> None:
    calls: list[list[dict[str, object]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return httpx.Response(503 if len(calls) < 3 else 200)

    n = _notifier(httpx.MockTransport(handle))
    out = Posts()
    n._apply(_event("open"), 0, NOW, out)
    await n._deliver(list(out.payloads.values()))
    assert len(calls) == 3
    assert calls[0] == calls[2]
    assert n.metrics.failed._value.get() == 2
    assert n.metrics.retried._value.get() == 2
    await n.client.aclose()
