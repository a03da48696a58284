"""An opened alert is committed promptly, not at the routine commit (issue 16, item 2).

The routine commit is set an hour away, so only the prompt commit an opened alert asks for can
make anything visible to a ``read_committed`` consumer while these daemons run. No wall-clock
assertion: the tests check what is visible, and in which order, against the commit count.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from ingest.daemon import IngestDaemon
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings
from tests.integration.harness import (
    committed,
    create_bucket,
    end_offsets,
    ensure_topic,
    flux,
    isolated_settings,
    produce,
    read_all,
    running_daemon,
    simulated_messages,
)

ROUTINE_COMMIT_MS = 3_600_000  # never reached while a test runs


async def _first_committed_open_event(s: Settings, timeout_s: float = 90.0) -> dict[str, object]:
    """The first ``open`` event a ``read_committed`` consumer of the alert topic sees."""
    parts = await end_offsets(s, s.topics.alerts)
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(s), enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(s.topics.alerts, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for rec in records:
                    event: dict[str, object] = msgspec.json.decode(rec.value)
                    if event["state"] == "open":
                        return event
        raise AssertionError("no open alert event became visible to a read_committed consumer")
    finally:
        await consumer.stop()


async def _until_read(daemon: IngestDaemon, n: int) -> None:
    """Wait until the daemon has read ``n`` records (two minutes at most)."""
    deadline = time.monotonic() + 120
    while daemon.metrics._total(daemon.metrics.records) < n:
        assert time.monotonic() < deadline, "the daemon did not read every record"
        await asyncio.sleep(0.1)


async def test_an_opened_alert_is_committed_before_the_routine_commit(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(
        live_stack, unique_name, commit_interval_ms=ROUTINE_COMMIT_MS, alert_commit_interval_ms=200
    )
    create_bucket(s)
    await ensure_topic(s)
    messages = simulated_messages(devices=8, hours=24, seed=11)
    await produce(s, s.topics.readings, messages)
    async with running_daemon(s) as run:
        event = await _first_committed_open_event(s)
        commits = run.daemon.metrics._total(run.daemon.metrics.commits)
        offsets = await committed(s)
        # flush sinks, then commit: the alert's point was in InfluxDB before its event was
        stored = flux(
            s,
            f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
            '|> filter(fn: (r) => r._measurement == "alerts" and r._field == "alert_id")',
        )
        assert not run.task.done(), "seen while the daemon runs, not from its final commit"
    assert commits >= 1, "the prompt commit is counted as a commit"
    assert sum(offsets.values()) > 0, "the alert's transaction carried the consumer offsets"
    assert event["alert_id"] in {r["_value"] for r in stored}


async def test_without_prompt_commits_an_opened_alert_waits_for_the_routine_commit(
    live_stack: Settings, unique_name: str
) -> None:
    """The same input with ``alert_commit_interval_ms = 0``: every record read and alerts
    opened, yet nothing committed and no alert event visible until the daemon stops."""
    s = isolated_settings(
        live_stack, unique_name, commit_interval_ms=ROUTINE_COMMIT_MS, alert_commit_interval_ms=0
    )
    create_bucket(s)
    await ensure_topic(s)
    messages = simulated_messages(devices=8, hours=24, seed=11)
    n = await produce(s, s.topics.readings, messages)
    async with running_daemon(s) as run:
        daemon = run.daemon
        await _until_read(daemon, n)
        assert daemon.opened_alerts, "the input opens alerts"
        assert daemon.metrics._total(daemon.metrics.commits) == 0
        assert sum((await committed(s)).values()) == 0, "no offsets committed yet"
        # alert events go to Kafka only in a commit's transaction: none produced yet
        assert sum((await end_offsets(s, s.topics.alerts)).values()) == 0
    # the final commit of a clean stop makes them visible
    events = [msgspec.json.decode(r.value) for r in await read_all(s, s.topics.alerts)]  # type: ignore[attr-defined]
    assert any(e["state"] == "open" for e in events)


async def test_while_catching_up_alerts_wait_for_the_routine_commit_then_commit_promptly(
    live_stack: Settings, unique_name: str
) -> None:
    """A backlog whose records waited in Kafka longer than the routine commit interval (their
    timestamps an hour old): the daemon is catching up, so opened alerts take no prompt
    commit. A fresh record then shows it caught up, and the alert waiting is committed at once."""
    s = isolated_settings(
        live_stack, unique_name, commit_interval_ms=600_000, alert_commit_interval_ms=200
    )
    create_bucket(s)
    await ensure_topic(s)
    messages = list(simulated_messages(devices=8, hours=24, seed=11))
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    n = await produce(s, s.topics.readings, messages[:-1], timestamp_ms=an_hour_ago)
    async with running_daemon(s) as run:
        daemon = run.daemon
        await _until_read(daemon, n)
        await asyncio.sleep(1.0)  # several checkpoint rounds: none may commit
        assert daemon.opened_alerts, "the backlog opens alerts"
        assert daemon.metrics._total(daemon.metrics.commits) == 0
        assert sum((await end_offsets(s, s.topics.alerts)).values()) == 0
        await produce(s, s.topics.readings, messages[-1:])  # timestamped now
        event = await _first_committed_open_event(s)
        assert not run.task.done(), "seen while the daemon runs, not from its final commit"
        assert daemon.metrics._total(daemon.metrics.commits) >= 1
    assert event["state"] == "open"
