"""What notify cannot deliver goes to the dead-letter topic, on the real Kafka and the stack's
real Alertmanager: records that are no alert event, and alerts Alertmanager refuses (400/422
are not retried); the stream goes on past them. An endpoint that refuses every request (a
proxy's changed route: 404) is the configuration's fault: notify stalls, dead-letters nothing
and resumes by itself once the route is back."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import msgspec

from detectors.types import AlertEvent
from ingest.alertmanager.client import AlertmanagerClient
from ingest.alertmanager.mapping import iso
from ingest.alertmanager.notifier import Notifier
from ingest.kafka_io import offsets
from ingest.kafka_io.deadletter import parse_headers
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings
from tests.integration.harness import (
    end_offsets,
    ensure_topic,
    isolated_settings,
    produce,
    read_all,
)
from tests.integration.notify_harness import (
    notify_caught_up,
    path_proxy,
    running_notify,
    with_notify,
)


def _event(alert_id: str, state: str, start_ms: int) -> AlertEvent:
    now = int(time.time() * 1000)
    return AlertEvent(
        alert_id,
        "pdev-hygiene",
        "tachycardia_at_rest",  # type: ignore[arg-type]
        "clinical",  # type: ignore[arg-type]
        "warning",  # type: ignore[arg-type]
        state,  # type: ignore[arg-type]
        start_ms,
        now,
        now if state == "resolved" else None,
        130.0,
        "Heart rate high at rest",
    )


async def _in_alertmanager(s: Settings, alert_id: str) -> list[dict[str, object]]:
    client = AlertmanagerClient(s.alertmanager_url)
    try:
        return await client.alerts([f'alert_id="{alert_id}"'])
    finally:
        await client.aclose()


async def test_alertmanager_refuses_one_alert_of_a_batch_and_only_that_one_is_returned(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)
    notifier = Notifier(s)
    now_ms = int(time.time() * 1000)
    good = {
        "labels": {"alertname": "hygiene_probe", "alert_id": f"{unique_name}-good"},
        "startsAt": iso(now_ms - 60_000),
        "endsAt": iso(now_ms + 60_000),
    }
    # Alertmanager's own validation: "start time must be before end time" (400)
    bad = {
        "labels": {"alertname": "hygiene_probe", "alert_id": f"{unique_name}-bad"},
        "startsAt": iso(now_ms),
        "endsAt": iso(now_ms - 60_000),
    }
    try:
        refused = await notifier._deliver([good, bad])
        assert [p for p, _ in refused] == [bad]
        (exc,) = [e for _, e in refused]
        assert exc.status == 400
        assert "retrying will not help" in str(exc)
        assert notifier.metrics.retried._value.get() == 0
        assert await _in_alertmanager(s, f"{unique_name}-good")
        # end the probe alert
        await notifier._deliver([{**good, "endsAt": iso(int(time.time() * 1000))}])
    finally:
        await notifier.client.aclose()


async def test_records_that_are_no_alert_event_are_dead_lettered_and_the_stream_goes_on(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)
    await ensure_topic(s)
    alert_id = f"pa-{uuid.uuid4().hex[:12]}"
    now_ms = int(time.time() * 1000)
    opened = msgspec.json.encode(_event(alert_id, "open", now_ms - 600_000))
    far_future = msgspec.json.encode(_event("pa-future", "open", 10**17))
    await produce(
        s,
        s.topics.alerts,
        [
            (b"pdev-hygiene", b"{not an alert"),
            (b"pdev-hygiene", far_future),
            (b"pdev-hygiene", opened),
        ],
    )
    async with running_notify(s) as notifier:
        await notify_caught_up(s, s.notify.group_id)
        assert await _in_alertmanager(s, alert_id), "the valid alert after them was posted"
        resolved = msgspec.json.encode(_event(alert_id, "resolved", now_ms - 600_000))
        await produce(s, s.topics.alerts, [(b"pdev-hygiene", resolved)])
        await notify_caught_up(s, s.notify.group_id)
        dead = notifier.metrics.dead_letters
        assert dead.labels("malformed_alert_event")._value.get() == 1
        assert dead.labels("invalid_alert_event")._value.get() == 1
    letters = await read_all(s, s.topics.dead_letter)
    found = sorted(
        (parse_headers(r.headers)["dl.reason"], r.value)  # type: ignore[attr-defined]
        for r in letters
    )
    assert found == [
        ("invalid_alert_event", far_future),
        ("malformed_alert_event", b"{not an alert"),
    ]
    for r in letters:
        h = parse_headers(r.headers)  # type: ignore[attr-defined]
        assert (h["dl.topic"], h["dl.stage"]) == (s.topics.alerts, "notify")
        assert h["dl.detail"]


async def test_a_proxy_answering_404_stalls_notify_without_dead_letters_until_it_is_fixed(
    live_stack: Settings, unique_name: str
) -> None:
    base = with_notify(isolated_settings(live_stack, unique_name), retry_max_s=1.0)
    await ensure_topic(base)
    first, second = (f"pa-{uuid.uuid4().hex[:12]}" for _ in range(2))
    now_ms = int(time.time() * 1000)
    with path_proxy(live_stack.alertmanager_url, "/am") as proxy:
        am = base.alertmanager.model_copy(update={"url": f"{proxy.url}/am"})
        s = base.model_copy(update={"alertmanager": am})
        opened = msgspec.json.encode(_event(first, "open", now_ms - 600_000))
        await produce(s, s.topics.alerts, [(b"pdev-hygiene", opened)])
        async with running_notify(s) as notifier:
            await notify_caught_up(s, s.notify.group_id)
            assert await _in_alertmanager(live_stack, first)
            done = await offsets.committed_offsets(
                kafka_client_kwargs(s), s.topics.alerts, s.notify.group_id
            )
            proxy.prefix = "/alertmanager"  # the proxy's route moved: notify's path is a 404
            later = msgspec.json.encode(_event(second, "open", now_ms - 300_000))
            await produce(s, s.topics.alerts, [(b"pdev-hygiene", later)])
            readyz = f"http://127.0.0.1:{notifier.http_port}/readyz"
            async with httpx.AsyncClient() as http:
                deadline = time.monotonic() + 60
                while (answer := await http.get(readyz)).status_code == 200:
                    assert time.monotonic() < deadline, "readyz reports the refusing endpoint"
                    await asyncio.sleep(0.2)
                assert answer.status_code == 503
                assert "404" in answer.text
                await asyncio.sleep(3)  # several retries (back-off capped at 1 s)
                assert notifier.metrics.retried._value.get() >= 2
                assert not await _in_alertmanager(live_stack, second)
                assert (
                    await offsets.committed_offsets(
                        kafka_client_kwargs(s), s.topics.alerts, s.notify.group_id
                    )
                    == done
                ), "nothing committed while the endpoint refuses"
                proxy.prefix = "/am"  # fixed
                await notify_caught_up(s, s.notify.group_id)
                assert await _in_alertmanager(live_stack, second)
                assert (await http.get(readyz)).status_code == 200
            assert notifier.metrics.dead_letters.labels("alertmanager_rejected")._value.get() == 0
    dead_letters = await end_offsets(s, s.topics.dead_letter)
    assert sum(dead_letters.values()) == 0, "nothing dead-lettered"
