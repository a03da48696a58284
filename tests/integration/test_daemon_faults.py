"""The daemon under faults on the real stack: SIGTERM and restart, InfluxDB outage."""

from __future__ import annotations

import asyncio
import re
import signal
import time

from ingest import stack
from ingest.settings import Settings
from ingest.stack.influxdb import InfluxService
from tests.integration.harness import (
    alert_event_keys,
    committed,
    create_bucket,
    ensure_topic,
    expected_identities,
    isolated_settings,
    produce,
    running_daemon,
    settings_env,
    simulated_messages,
    spawn_daemon,
    vitals_identities,
    wait_committed,
)


async def test_sigterm_mid_stream_then_restart_loses_and_repeats_nothing(
    live_stack: Settings, unique_name: str
) -> None:
    # small fetches and a slow-ish flush so SIGTERM lands mid-stream
    s = isolated_settings(live_stack, unique_name, max_batch_records=500, flush_interval_ms=500)
    create_bucket(s)
    await ensure_topic(s)
    # ~300k records: at today's rate (50-70k/s) several seconds of work, so a SIGTERM sent at
    # the first commit lands mid-stream even on an idle machine
    messages = simulated_messages(devices=10, hours=48, seed=3)
    valid, _ = expected_identities(messages, s)
    await produce(s, s.topics.readings, messages)
    env = settings_env(s)

    first = spawn_daemon(env)
    deadline = time.monotonic() + 60
    while sum((await committed(s)).values()) == 0:
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "daemon made no progress"
        await asyncio.sleep(0.2)
    t0 = time.monotonic()
    first.send_signal(signal.SIGTERM)
    out, _ = first.communicate(timeout=30)
    assert time.monotonic() - t0 < 30, "SIGTERM must stop the daemon within 30 s"
    assert first.returncode == 0, out
    assert "ingest stopped cleanly" in out
    consumed_first = int(re.search(r"records=(\d+)", out.split("ingest stopped cleanly")[1])[1])  # type: ignore[index]
    # a transaction's offsets become visible to readers once its commit markers are written,
    # which Kafka does after the producer's commit returned: give that a moment
    marker_deadline = time.monotonic() + 15
    committed_first = sum((await committed(s)).values())
    while committed_first < consumed_first and time.monotonic() < marker_deadline:
        await asyncio.sleep(0.2)
        committed_first = sum((await committed(s)).values())
    assert committed_first == consumed_first, "everything consumed before SIGTERM was committed"
    assert 0 < committed_first < len(messages), "the stop landed mid-stream"

    second = spawn_daemon(env)
    try:
        await wait_committed(s, timeout_s=180)
    finally:
        second.send_signal(signal.SIGTERM)
        out2, _ = second.communicate(timeout=30)
    skipped = re.search(r"skipped=(\d+)", out2.split("ingest stopped cleanly")[1])
    assert skipped is not None
    assert int(skipped[1]) == 0, "no record reprocessed on restart"

    got = vitals_identities(s)
    assert len(got) == len(set(got)), "0 duplicate points"
    assert set(got) == valid, "0 readings missing"
    device_ids = {k.decode() for k, _ in messages if k}
    logs = out + out2
    assert not [d for d in device_ids if d in logs], "no raw device id in INFO logs"
    keys = await alert_event_keys(s)
    assert keys, "alerts were raised"
    assert len(keys) == len(set(keys)), "0 duplicate alert events"


async def test_influxdb_outage_of_30s_loses_nothing_and_bounds_memory(
    live_stack: Settings, unique_name: str
) -> None:
    max_pending = 20_000
    s = isolated_settings(
        live_stack, unique_name, max_pending_points=max_pending, max_batch_records=1000
    )
    create_bucket(s)
    await ensure_topic(s)
    messages = simulated_messages(devices=10, hours=24, seed=5)
    valid, _ = expected_identities(messages, s)
    influx = InfluxService(live_stack)
    half = len(messages) // 2
    await produce(s, s.topics.readings, messages[:half])
    async with running_daemon(s) as run:
        await wait_committed(s, timeout_s=120)
        # blocking calls go to a thread: the daemon shares this event loop
        assert await asyncio.to_thread(influx.stop), "the local InfluxDB was running"
        try:
            await produce(s, s.topics.readings, messages[half:])
            await asyncio.sleep(3)  # let the daemon fill its buffer and fail a few writes
            at_outage = await committed(s)
            peak = 0.0
            for _ in range(27):
                await asyncio.sleep(1)
                peak = max(peak, run.daemon.metrics.pending._value.get())
            assert await committed(s) == at_outage, "nothing is committed while InfluxDB is down"
            assert sum(at_outage.values()) < len(messages)
            assert not run.daemon.ready(), "readyz reports the outage"
        finally:
            await asyncio.to_thread(stack.up, live_stack)  # InfluxDB back, same data
        await wait_committed(s, timeout_s=180)
    # the pending buffer may exceed the bound by at most one fetch batch before pausing
    assert peak <= max_pending + s.ingest.max_batch_records * 3
    assert run.daemon.metrics.pauses._value.get() >= 1, "backpressure paused fetching"
    got = vitals_identities(s)
    assert len(got) == len(set(got)), "0 duplicate points"
    assert set(got) == valid, "0 readings missing after the outage"
