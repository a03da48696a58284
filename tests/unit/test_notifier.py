"""The notify consumer's bookkeeping, without Kafka (ingest.alertmanager.notifier)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import msgspec
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from detectors.types import AlertEvent
from ingest.alertmanager.client import AlertmanagerClient
from ingest.alertmanager.notifier import Notifier, Posts
from ingest.errors import AlertmanagerRejectedError, ConfigError, RetriableAlertmanagerError
from ingest.kafka_io.deadletter import DeadLetter
from ingest.settings import Settings

NOW = 1_767_225_600_000


def _event(state: str, severity: str = "warning", alert_id: str = "pa1") -> AlertEvent:
    return AlertEvent(
        alert_id,
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


# ---------------------------------------------------------------- refusals and dead letters

TP = TopicPartition("t.alerts", 0)


def _record(value: bytes | None, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        TP.topic, TP.partition, offset, NOW, 0, b"pdev", value, None, 4, len(value or b""), ()
    )


def _refusing(bad_ids: set[str], calls: list[list[str]]) -> httpx.MockTransport:
    """An Alertmanager that refuses (400) every batch holding one of ``bad_ids``."""

    def handle(request: httpx.Request) -> httpx.Response:
        ids = [a["labels"]["alert_id"] for a in json.loads(request.content)]
        calls.append(ids)
        if bad_ids & set(ids):
            return httpx.Response(400, json="start time must be before end time")
        return httpx.Response(200)

    return httpx.MockTransport(handle)


class _Producer:
    """Records what would be produced (the notifier awaits each send's future)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = []

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None, headers: Any
    ) -> asyncio.Future[None]:
        self.sent.append((topic, value, headers))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.mark.parametrize(
    ("status", "refused"), [(400, True), (404, True), (422, True), (408, False), (429, False)]
)
async def test_a_4xx_other_than_408_and_429_says_retrying_will_not_help(
    status: int, refused: bool
) -> None:
    client = AlertmanagerClient(
        "http://am.test", transport=httpx.MockTransport(lambda _: httpx.Response(status))
    )
    with pytest.raises((AlertmanagerRejectedError, RetriableAlertmanagerError)) as caught:
        await client.post_alerts([{"labels": {"alertname": "x"}}])
    await client.aclose()
    assert isinstance(caught.value, AlertmanagerRejectedError) is refused
    assert caught.value.retriable is not refused
    assert caught.value.status == status
    assert ("retrying will not help" in str(caught.value)) is refused


async def test_a_connection_error_is_retriable() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = AlertmanagerClient("http://am.test", transport=httpx.MockTransport(handle))
    with pytest.raises(RetriableAlertmanagerError):
        await client.post_alerts([{"labels": {"alertname": "x"}}])
    await client.aclose()


async def test_a_refused_batch_is_posted_one_by_one_and_only_the_refused_alert_returned() -> None:
    calls: list[list[str]] = []
    n = _notifier(_refusing({"bad"}, calls))
    out = Posts()
    for alert_id in ("good", "bad", "fine"):
        n._apply(_event("open", alert_id=alert_id), 0, NOW, out)
    refused = await n._deliver(list(out.payloads.values()))
    assert [p["labels"]["alert_id"] for p, _ in refused] == ["bad"]
    assert "retrying will not help" in str(refused[0][1])
    # the batch once, then each alone; the refusal is not retried
    assert calls == [["good", "bad", "fine"], ["good"], ["bad"], ["fine"]]
    assert n.metrics.retried._value.get() == 0
    await n.client.aclose()


async def test_a_transient_failure_is_retried_then_a_refusal_is_final() -> None:
    answers = [503, 429, 408, 400]
    seen: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(answers[len(seen)])
        return httpx.Response(seen[-1])

    n = _notifier(httpx.MockTransport(handle))
    out = Posts()
    n._apply(_event("open"), 0, NOW, out)
    refused = await n._deliver(list(out.payloads.values()))
    assert seen == answers  # retried through 503, 429, 408; stopped at 400
    assert len(refused) == 1
    assert n.metrics.retried._value.get() == 3
    await n.client.aclose()


async def test_a_refused_alert_is_dead_lettered_with_its_records_and_not_resent() -> None:
    calls: list[list[str]] = []
    n = _notifier(_refusing({"bad"}, calls))
    good = msgspec.json.encode(_event("open", alert_id="good"))
    bad = msgspec.json.encode(_event("open", alert_id="bad"))
    out, dead = n._collect({TP: [_record(good, 10), _record(bad, 11)]}, NOW)
    assert dead == []
    dead = await n._post(out)
    (letter,) = dead
    assert (letter.value, letter.offset, letter.reason, letter.stage) == (
        bad,
        11,
        "alertmanager_rejected",
        "notify",
    )
    assert "400" in letter.detail
    assert set(n._active) == {"good"}, "a refused alert is not re-sent"
    assert n.metrics.dead_letters.labels("alertmanager_rejected")._value.get() == 1
    assert n.metrics.sent.labels("firing")._value.get() == 1
    await n.client.aclose()


def test_records_that_are_no_valid_alert_event_become_dead_letters() -> None:
    n = _notifier()
    valid = msgspec.json.encode(_event("open"))
    far_future = msgspec.json.encode(msgspec.structs.replace(_event("open"), start_ms=10**17))
    batch = {
        TP: [
            _record(b"not json", 1),
            _record(None, 2),
            _record(b'{"alert_id": 5}', 3),
            _record(far_future, 4),
            _record(valid, 5),
        ]
    }
    out, dead = n._collect(batch, NOW)
    assert [(d.offset, d.reason) for d in dead] == [
        (1, "malformed_alert_event"),
        (2, "malformed_alert_event"),
        (3, "malformed_alert_event"),
        (4, "invalid_alert_event"),
    ]
    assert dead[0].value == b"not json", "the original bytes are kept"
    assert all(d.topic == TP.topic and d.detail for d in dead)
    assert len(out.payloads) == 1
    assert n.metrics.dead_letters.labels("malformed_alert_event")._value.get() == 3
    assert n.metrics.dead_letters.labels("invalid_alert_event")._value.get() == 1


async def test_dead_letters_are_produced_with_their_headers() -> None:
    n = _notifier()
    producer = _Producer()
    n._producer = producer  # type: ignore[assignment]
    letter = DeadLetter(b"k", b"v", "malformed_alert_event", "d", "t.alerts", 0, 7, stage="notify")
    await n._send_dead_letters([letter])
    assert producer.sent == [(n.settings.topics.dead_letter, b"v", letter.headers())]
    await n.client.aclose()


async def test_a_refused_resend_is_dead_lettered_with_its_payload() -> None:
    calls: list[list[str]] = []
    n = _notifier(_refusing({"bad"}, calls))
    producer = _Producer()
    n._producer = producer  # type: ignore[assignment]
    for alert_id in ("good", "bad"):
        n._apply(_event("open", alert_id=alert_id), 3, NOW, Posts())
    await n._resend()
    ((topic, value, headers),) = producer.sent
    assert topic == n.settings.topics.dead_letter
    assert value is not None
    assert json.loads(value)["labels"]["alert_id"] == "bad"
    assert dict(headers)["dl.offset"] == b"-1"
    assert dict(headers)["dl.partition"] == b"3"
    assert set(n._active) == {"good"}
    assert n.metrics.sent.labels("resent")._value.get() == 1
    await n.client.aclose()


async def test_an_alertmanager_url_that_refuses_the_api_fails_at_start() -> None:
    n = _notifier(httpx.MockTransport(lambda _: httpx.Response(404, text="404 page not found")))
    with pytest.raises(ConfigError, match=r"answered 404 .*VITALSTREAM_ALERTMANAGER__URL"):
        await n.run()


async def test_an_unreachable_alertmanager_does_not_fail_the_start_check() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    n = _notifier(httpx.MockTransport(handle))
    await n.check_alertmanager()  # notify waits for it (posts are retried)
    await n.client.aclose()


async def test_basic_auth_in_the_url_is_sent_but_never_shown() -> None:
    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(503)

    client = AlertmanagerClient(
        "http://am-user:am-secret@am.test/", transport=httpx.MockTransport(handle)
    )
    with pytest.raises(RetriableAlertmanagerError) as caught:
        await client.post_alerts([{"labels": {"alertname": "x"}}])
    await client.aclose()
    assert seen == ["Basic YW0tdXNlcjphbS1zZWNyZXQ="]  # am-user:am-secret
    assert client.url == "http://am.test"
    assert "am-secret" not in str(caught.value)
