"""InfluxDB down while readings keep arriving: nothing lost, nothing committed while down,
the daemon's memory bounded, throughput back soon after."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil
import pytest

from ingest import stack
from ingest.settings import Settings
from ingest.stack.influxdb import InfluxService
from tests.chaos.harness import chaos_settings, prepare, scale, start_daemon
from tests.integration.harness import (
    committed,
    expected_identities,
    produce,
    simulated_messages,
    vitals_identities,
    wait_committed,
)

#: documented bound (docs/reliability.md): the daemon's RSS with max_pending_points=20000
RSS_BOUND_MB = 400


@pytest.mark.timeout(900)
async def test_influxdb_down_then_back(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    outage_s = scale(15, 120)
    s = chaos_settings(live_stack, unique_name, max_pending_points=20_000, max_batch_records=1000)
    messages = simulated_messages(devices=scale(10, 30), hours=24, seed=81)
    first = len(messages) // 3
    await prepare(s, messages[:first])
    d = start_daemon(s, tmp_path / "d.log")
    proc = psutil.Process(d.proc.pid)
    influx = InfluxService(live_stack)
    peak_rss = 0
    try:
        await d.started()
        await wait_committed(s, timeout_s=120)
        assert await asyncio.to_thread(influx.stop)
        down_at = time.monotonic()
        producer = asyncio.create_task(produce(s, s.topics.readings, messages[first:]))
        at_outage = await committed(s)
        while time.monotonic() - down_at < outage_s:
            peak_rss = max(peak_rss, proc.memory_info().rss)
            assert await committed(s) == at_outage, "nothing committed while InfluxDB is down"
            await asyncio.sleep(1)
        await producer
        await asyncio.to_thread(stack.up, live_stack)
        back_at = time.monotonic()
        # throughput recovers: the group commits again soon after InfluxDB is back
        while sum((await committed(s)).values()) <= sum(at_outage.values()):
            assert time.monotonic() - back_at < 60, "throughput back within 60 s"
            peak_rss = max(peak_rss, proc.memory_info().rss)
            await asyncio.sleep(0.5)
        recovered_s = time.monotonic() - back_at
        await wait_committed(s, timeout_s=300)
    finally:
        code = d.terminate()
    assert code == 0, d.output()[-3000:]
    assert peak_rss < RSS_BOUND_MB * 2**20, f"RSS {peak_rss / 2**20:.0f} MB"
    valid, _ = expected_identities(messages, s)
    got = vitals_identities(s)
    assert len(got) == len(set(got)), "0 duplicate points"
    assert set(got) == valid, "0 readings missing"
    print(
        f"InfluxDB outage {outage_s} s: {len(messages)} records, peak RSS "
        f"{peak_rss / 2**20:.0f} MB, first commit {recovered_s:.1f} s after InfluxDB was back"
    )
