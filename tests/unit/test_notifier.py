"""The notify consumer's bookkeeping, without Kafka (ingest.alertmanager.notifier)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime
from typing import Any

import httpx
import msgspec
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import ConsumerRecord

from detectors.types import AlertEvent
from ingest.alertmanager.client import AlertmanagerClient
from ingest.alertmanager.notifier import Notifier, Posts
from ingest.errors import (
    AlertmanagerConfigurationError,
    AlertmanagerError,
    AlertmanagerRejectedError,
    ConfigError,
    RetriableAlertmanagerError,
)
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


def _notifier(handler: httpx.MockTransport | None = None, url: str = "http://am.test") -> Notifier:
    s = Settings.model_validate(
        {
            "alertmanager": {"url": url},
            "notify": {"retry_initial_s": 0.01, "retry_max_s": 0.05},
        }
    )
    return Notifier(s, AlertmanagerClient(url, transport=handler))


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
    ("status", "kind"),
    [
        (400, AlertmanagerRejectedError),
        (422, AlertmanagerRejectedError),
        (401, AlertmanagerConfigurationError),
        (403, AlertmanagerConfigurationError),
        (404, AlertmanagerConfigurationError),
        (405, AlertmanagerConfigurationError),
        (407, AlertmanagerConfigurationError),
        (413, AlertmanagerConfigurationError),
        (308, AlertmanagerConfigurationError),
        (408, RetriableAlertmanagerError),
        (429, RetriableAlertmanagerError),
        (503, RetriableAlertmanagerError),
    ],
)
async def test_an_answer_says_whose_fault_it_is_and_whether_retrying_helps(
    status: int, kind: type[AlertmanagerError]
) -> None:
    client = AlertmanagerClient(
        "http://am.test", transport=httpx.MockTransport(lambda _: httpx.Response(status))
    )
    with pytest.raises(AlertmanagerError) as caught:
        await client.post_alerts([{"labels": {"alertname": "x"}}])
    await client.aclose()
    assert type(caught.value) is kind
    refused = kind is AlertmanagerRejectedError
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
    answers = [503, 429, 408, 400, 200]
    seen: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(answers[len(seen)])
        return httpx.Response(seen[-1])

    n = _notifier(httpx.MockTransport(handle))
    out = Posts()
    n._apply(_event("open"), 0, NOW, out)
    refused = await n._deliver(list(out.payloads.values()))
    # retried through 503, 429, 408; stopped at 400, which is the alert's own as the endpoint
    # takes a post of no alert (200)
    assert seen == answers
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


# ---------------------------------------------------------------- the endpoint refuses us


class _Consumer:
    """What :meth:`Notifier._wait_polling` uses of the consumer: nothing assigned."""

    def assignment(self) -> set[TopicPartition]:
        return set()

    def pause(self, *partitions: TopicPartition) -> None:
        pass

    def resume(self, *partitions: TopicPartition) -> None:
        pass

    async def getmany(self, timeout_ms: int = 0) -> dict[TopicPartition, Any]:
        await asyncio.sleep(timeout_ms / 1000)
        return {}


class _Switchable:
    """An Alertmanager that answers ``status`` to every post until :attr:`fixed`, then 200;
    it records the alert ids of each post."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.fixed = False
        self.calls: list[list[str]] = []
        self.posted = asyncio.Event()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append([a["labels"]["alert_id"] for a in json.loads(request.content)])
        if len(self.calls) >= 6:
            self.posted.set()
        if self.fixed:
            return httpx.Response(200)
        return httpx.Response(self.status, text="refused by policy")


async def _stalled_then_fixed(
    n: Notifier, am: _Switchable, out: Posts
) -> tuple[list[DeadLetter], str | None]:
    """Post ``out`` while ``am`` refuses; its dead letters, and the not-ready reason seen
    during the stall."""
    n._consumer = _Consumer()  # type: ignore[assignment]
    posting = asyncio.create_task(n._post(out))
    await asyncio.wait_for(am.posted.wait(), 30)
    during = n.not_ready_reason()
    assert not posting.done(), "a refusal of the endpoint is waited out, not given up"
    am.fixed = True
    return await asyncio.wait_for(posting, 30), during


async def test_a_403_on_everything_stalls_without_dead_letters_then_delivers_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    am = _Switchable(403)
    n = _notifier(httpx.MockTransport(am.handle), url="http://am-user:am-secret@am.test")
    out = Posts()
    for alert_id in ("a1", "a2", "a3"):
        n._apply(_event("open", alert_id=alert_id), 0, NOW, out)
    with caplog.at_level(logging.INFO, logger="ingest.alertmanager.notifier"):
        dead, during = await _stalled_then_fixed(n, am, out)
    assert dead == []
    assert "403" in (during or "")
    assert n.ready(), "ready again once the endpoint takes the posts"
    assert am.calls[-1] == ["a1", "a2", "a3"], "the whole batch delivered after the fix"
    assert set(n._active) == {"a1", "a2", "a3"}, "nothing forgotten"
    assert n.metrics.dead_letters.labels("alertmanager_rejected")._value.get() == 0
    assert n.metrics.sent.labels("firing")._value.get() == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, "one ERROR a minute, not one a retry"
    assert errors[0].status == 403  # type: ignore[attr-defined]
    assert "am-secret" not in caplog.text
    await n.client.aclose()


async def test_a_400_on_every_alert_posted_alone_is_the_endpoints_fault() -> None:
    am = _Switchable(400)
    n = _notifier(httpx.MockTransport(am.handle))
    out = Posts()
    for alert_id in ("a1", "a2"):
        n._apply(_event("open", alert_id=alert_id), 0, NOW, out)
    dead, during = await _stalled_then_fixed(n, am, out)
    assert dead == []
    assert "400" in (during or "")
    # the batch, then each alone, again and again until the fix
    assert am.calls[:3] == [["a1", "a2"], ["a1"], ["a2"]]
    assert am.calls[-1] == ["a1", "a2"]
    assert n.ready()
    await n.client.aclose()


async def test_a_lone_alert_refused_while_a_post_of_none_is_refused_too_stalls() -> None:
    am = _Switchable(400)
    n = _notifier(httpx.MockTransport(am.handle))
    out = Posts()
    n._apply(_event("open", alert_id="a1"), 0, NOW, out)
    dead, during = await _stalled_then_fixed(n, am, out)
    assert dead == []
    assert "400" in (during or "")
    assert am.calls[:2] == [["a1"], []], "the alert, then a post of no alert"
    await n.client.aclose()


async def test_a_422_on_one_alert_of_three_dead_letters_only_that_one() -> None:
    calls: list[list[str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        ids = [a["labels"]["alert_id"] for a in json.loads(request.content)]
        calls.append(ids)
        if "bad" in ids:
            return httpx.Response(422, json={"code": 422, "message": "labels.bad in body"})
        return httpx.Response(200)

    n = _notifier(httpx.MockTransport(handle))
    records = [
        _record(msgspec.json.encode(_event("open", alert_id=alert_id)), offset)
        for offset, alert_id in enumerate(("good", "bad", "fine"), start=20)
    ]
    out, dead = n._collect({TP: records}, NOW)
    dead = await n._post(out)
    assert [(d.offset, d.reason) for d in dead] == [(21, "alertmanager_rejected")]
    assert "422" in dead[0].detail
    assert calls == [["good", "bad", "fine"], ["good"], ["bad"], ["fine"]]
    assert set(n._active) == {"good", "fine"}
    assert n.not_ready_reason() == "not consuming yet", "an alert's refusal is no stall"
    await n.client.aclose()


async def test_a_configuration_refusal_of_the_open_alerts_query_is_retried() -> None:
    answers = [403, 403, 200]
    seen: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(answers[len(seen)])
        return httpx.Response(seen[-1], json=[])

    n = _notifier(httpx.MockTransport(handle))
    n._consumer = _Consumer()  # type: ignore[assignment]
    n._consumer.partitions_for_topic = lambda topic: {0}  # type: ignore[attr-defined]
    n.assigned({0})
    await n._restore_active()
    assert seen == answers
    assert n._refusing is None
    await n.client.aclose()


# ---------------------------------------------------------------- the one retry loop


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_an_unreachable_open_alerts_query_is_retried_unready_and_told_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The restore query retries like a post: not ready while Alertmanager cannot be reached,
    each failure counted, one WARNING when the outage starts (not one a retry)."""
    n = _notifier()
    n._reachable = True  # it answered before
    readiness: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        readiness.append(n.not_ready_reason())
        return httpx.Response(503 if len(readiness) <= 3 else 200, json=[])

    n.client = AlertmanagerClient("http://am.test", transport=httpx.MockTransport(handle))
    n._consumer = _Consumer()  # type: ignore[assignment]
    n._consumer.partitions_for_topic = lambda topic: {0}  # type: ignore[attr-defined]
    n.assigned({0})
    with caplog.at_level(logging.INFO, logger="ingest.alertmanager.notifier"):
        await n._restore_active()
    assert readiness[1:] == ["Alertmanager unreachable"] * 3, "not ready while it fails"
    assert n.ready()
    assert _warnings(caplog) == ["cannot read Alertmanager's alerts yet"]
    assert n.metrics.failed._value.get() == 3
    assert n.metrics.retried._value.get() == 3
    await n.client.aclose()


class _FailingProducer(_Producer):
    """Fails ``failures`` sends with a Kafka error, then records them."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None, headers: Any
    ) -> asyncio.Future[None]:
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError("broker down")
        return await super().send(topic, value, key=key, headers=headers)


async def test_dead_letters_are_retried_while_kafka_fails_and_told_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    n = _notifier()
    n._consumer = _Consumer()  # type: ignore[assignment]
    producer = _FailingProducer(failures=3)
    n._producer = producer  # type: ignore[assignment]
    letter = DeadLetter(b"k", b"v", "malformed_alert_event", "d", "t.alerts", 0, 7, stage="notify")
    with caplog.at_level(logging.INFO, logger="ingest.alertmanager.notifier"):
        await n._send_dead_letters([letter])
    assert producer.sent == [(n.settings.topics.dead_letter, b"v", letter.headers())]
    assert _warnings(caplog) == ["producing dead letters failed; retrying"]
    # a Kafka failure is no failed notification
    assert n.metrics.failed._value.get() == 0
    assert n.metrics.retried._value.get() == 0
    await n.client.aclose()


# ---------------------------------------------------------------- orphans


async def test_an_alert_without_an_event_for_orphan_after_is_resolved_and_no_longer_resent() -> (
    None
):
    """An alert whose last event was read longer ago than ``notify.orphan_after_h`` is posted
    ended (now) and dropped; one with a recent event stays; an event of the orphan brings it
    back."""
    posts: list[list[dict[str, Any]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/alerts":
            posts.append(json.loads(request.content))
            return httpx.Response(200)
        return httpx.Response(200, json=[])  # the ack silences: none

    n = _notifier(httpx.MockTransport(handle))
    hour = 3_600_000
    now = int(time.time() * 1000)
    limit = int(n.settings.notify.orphan_after_h * hour)
    n._apply(_event("open", alert_id="orphan"), 0, now - limit - 60_000, Posts())
    n._apply(_event("open", alert_id="kept"), 0, now - limit + 600_000, Posts())
    await n._resolve_orphans()
    ((ended,),) = posts
    assert ended["labels"]["alert_id"] == "orphan"
    assert abs(datetime.fromisoformat(ended["endsAt"]).timestamp() * 1000 - now) < 60_000
    assert set(n._active) == {"kept"}
    assert n.metrics.orphans._value.get() == 1
    assert n.metrics.sent.labels("resolved")._value.get() == 1
    await n._resend()
    assert [p["labels"]["alert_id"] for p in posts[-1]] == ["kept"], "the orphan is not re-sent"
    n._apply(_event("ongoing", alert_id="orphan"), 0, now, Posts())
    assert set(n._active) == {"kept", "orphan"}, "a late event of it fires it again"
    await n.client.aclose()


async def test_an_alert_taken_back_without_last_event_at_is_orphaned_counting_from_then() -> None:
    """An alert posted by a notify before ``last_event_at`` (no annotation) and taken back from
    Alertmanager gets the restore's time, so it is resolved ``orphan_after_h`` later."""
    found = [
        {
            "labels": {"alertname": "x", "alert_id": "old", "device": "pdev"},
            "annotations": {"summary": "x"},
            "startsAt": "2026-01-01T00:00:00+00:00",
        }
    ]
    n = _notifier(httpx.MockTransport(lambda _: httpx.Response(200, json=found)))
    n._consumer = _Consumer()  # type: ignore[assignment]
    n._consumer.partitions_for_topic = lambda topic: {0}  # type: ignore[attr-defined]
    n.assigned({0})
    before = time.time()
    await n._restore_active()
    (_, payload) = n._active["old"]
    stamped = datetime.fromisoformat(payload["annotations"]["last_event_at"]).timestamp()
    assert before - 1 <= stamped <= time.time() + 1
    await n._resolve_orphans()
    assert set(n._active) == {"old"}, "not an orphan yet"
    await n.client.aclose()
