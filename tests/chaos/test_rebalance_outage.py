"""A rebalance while InfluxDB hangs, and a zombie fenced by its successor: no daemon dies of
the first, the second stops the older instance, and nothing is lost or stored twice."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from ingest import stack
from ingest.settings import Settings
from tests.chaos.harness import (
    assert_exactly_once,
    chaos_settings,
    prepare,
    scale,
    start_daemon,
    wait_progress,
)
from tests.integration.harness import (
    produce,
    simulated_messages,
    wait_committed,
)


def _influxd_pid(s: Settings) -> int:
    pid = {r.name: r.pid for r in stack.status(s)}["influxdb"]
    assert pid, "the local InfluxDB runs"
    return pid


@pytest.mark.timeout(900)
async def test_rebalance_while_influxdb_hangs_kills_no_daemon(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    """The probe: InfluxDB stops answering (SIGSTOP), a second daemon joins the group, the
    first one's revoke times out on its checkpoint. It used to die of CancelledError."""
    # long: the probe's own figures (a 40 s hang, the default 20 s revoke and 10 s write timeouts)
    hang_s = scale(15, 40)
    revoke_s = float(scale(3, 20))
    s = chaos_settings(live_stack, unique_name, max_batch_records=1000, revoke_timeout_s=revoke_s)
    # writes time out, so the checkpoint the revoke waits for is stuck in retries
    timeout_ms = scale(2000, 10_000)
    s = s.model_copy(update={"influxdb": s.influxdb.model_copy(update={"timeout_ms": timeout_ms})})
    messages = simulated_messages(devices=scale(6, 20), hours=24, seed=91)
    first = len(messages) // 3
    await prepare(s, messages[:first])
    d1 = start_daemon(s, tmp_path / "d1.log", "d1")
    d2 = None
    await d1.assigned()
    await wait_committed(s, timeout_s=120)
    pid = _influxd_pid(live_stack)
    os.kill(pid, signal.SIGSTOP)
    hung_at = time.monotonic()
    try:
        await produce(s, s.topics.readings, messages[first:])
        await asyncio.sleep(2)  # d1 has a checkpoint in flight on the hung InfluxDB
        d2 = start_daemon(s, tmp_path / "d2.log", "d2")
        await d2.started()
        while "revoke: sinks not flushed in time" not in d1.output():
            assert time.monotonic() - hung_at < hang_s + 30, "the revoke timed out"
            assert d1.proc.poll() is None, d1.output()[-3000:]
            await asyncio.sleep(0.5)
        while time.monotonic() - hung_at < hang_s:
            assert d1.proc.poll() is None, d1.output()[-3000:]
            await asyncio.sleep(0.5)
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        await wait_committed(s, timeout_s=300)
        assert d1.proc.poll() is None, "the first daemon survived the rebalance"
    finally:
        codes = [d.terminate() for d in (d1, d2) if d is not None]
    assert codes == [0, 0], d1.output()[-3000:]
    for d in (d1, d2):
        assert d is not None
        assert "Traceback" not in d.output(), d.output()[-3000:]
    assert_exactly_once(messages, s)


@pytest.mark.timeout(600)
async def test_a_daemon_with_the_same_instance_id_fences_the_older_one(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    """Two daemons with one instance id (a zombie and its restarted successor): the newer one's
    transactional id fences the older, which stops with one clear line, and the newer one
    finishes the work exactly once."""
    s = chaos_settings(live_stack, unique_name, max_batch_records=500)
    messages = simulated_messages(devices=6, hours=24, seed=93)
    half = len(messages) // 2
    await prepare(s, messages[:half])
    old = start_daemon(s, tmp_path / "old.log", "same")
    await old.assigned()
    await wait_progress(s, half // 4)
    new = start_daemon(s, tmp_path / "new.log", "same")
    try:
        await new.started()
        # records keep coming: the older instance tries to commit them and learns it is fenced
        await produce(s, s.topics.readings, messages[half:])
        code = await asyncio.to_thread(old.proc.wait, 120)
        assert code == 1, old.output()[-3000:]
        assert "vitalstream: fenced: another instance started with transactional id" in (
            old.output()
        )
        await wait_committed(s, timeout_s=300)
    finally:
        assert new.terminate() == 0, new.output()[-3000:]
    assert "Traceback" not in new.output()
    assert_exactly_once(messages, s)
