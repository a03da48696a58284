"""Faults found by probing the daemon (issue 15), each reproduced on the real stack: a poison
record, a bug on one record, a silent partition and a silent fleet, a missing bucket at start and
at run time, a slow restore."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

import pytest
from aiokafka.partitioner import murmur2

from detectors import AlertEvent, Engine, ProcessResult
from ingest.kafka_io.deadletter import parse_headers
from ingest.settings import Settings
from messages import Metric, Reading, encode_reading
from tests.integration.harness import (
    create_bucket,
    ensure_topic,
    influx_client,
    isolated_settings,
    produce,
    read_all,
    running_daemon,
    settings_env,
    vitals_identities,
    wait_committed,
)

SEC = 1000


def _partition_of(device: str, partitions: int = 3) -> int:
    return (murmur2(device.encode()) & 0x7FFFFFFF) % partitions


def _readings(
    devices: Sequence[str], start_ms: int, n: int, step_ms: int = 1000
) -> list[tuple[bytes | None, bytes]]:
    return [
        (d.encode(), encode_reading(d, start_ms + i * step_ms, Metric.HEART_RATE, 60.0 + i % 5))
        for i in range(n)
        for d in devices
    ]


async def _prepared(live_stack: Settings, name: str) -> Settings:
    """Settings of this test's own, with their bucket and topics."""
    s = isolated_settings(live_stack, name)
    create_bucket(s)
    await ensure_topic(s)
    return s


def nested_poison(device: str, ts_ms: int, depth: int = 1_900) -> bytes:
    """The probe's poison pill: a valid reading whose ignored extra field nests ``depth``
    arrays (3.8 KB: under the size limit)."""
    reading = encode_reading(device, ts_ms, Metric.HEART_RATE, 61.0)
    return reading[:-1] + b',"extra":' + b"[" * depth + b"]" * depth + b"}"


async def test_poison_pill_of_nested_arrays_is_dead_lettered_and_the_loop_goes_on(
    live_stack: Settings, unique_name: str
) -> None:
    s = await _prepared(live_stack, unique_name)
    now = int(time.time() * 1000) - 600 * SEC
    poison = nested_poison("dev-a", now - 1)
    assert 3_000 < len(poison) <= s.ingest.max_message_bytes
    before = _readings(["dev-a", "dev-b"], now, 50)
    after = _readings(["dev-a", "dev-b"], now + 100 * SEC, 50)
    await produce(s, s.topics.readings, [*before, (b"dev-a", poison), *after])
    async with running_daemon(s) as run:
        await wait_committed(s, timeout_s=60)
        assert not run.task.done(), "the daemon survived the poison pill"
    dead = await read_all(s, s.topics.dead_letter)
    assert [r.value for r in dead] == [poison]  # type: ignore[attr-defined]
    assert parse_headers(dead[0].headers)["dl.reason"] == "too_deep"  # type: ignore[attr-defined]
    assert len(vitals_identities(s)) == len(before) + len(after), "every valid reading written"


class _EngineWithABug:
    """The real engine, except that scoring a heart rate of exactly 66 raises (a stand-in for
    a bug that one record trips)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.tick_touched: set[str] = set()

    def process(self, readings: Sequence[Reading]) -> ProcessResult:
        if any(r.value == 66.0 for r in readings):
            raise ZeroDivisionError("value 66.0")
        return self._engine.process(readings)

    def tick(self, now_ms: int, devices: object = None) -> list[AlertEvent]:
        out = self._engine.tick(now_ms, devices)  # type: ignore[arg-type]
        self.tick_touched = self._engine.tick_touched
        return out

    def snapshot(self, device_id: str) -> bytes:
        return self._engine.snapshot(device_id)

    def restore(self, device_id: str, data: bytes) -> None:
        self._engine.restore(device_id, data)

    def drop(self, device_id: str) -> None:
        self._engine.drop(device_id)


async def test_a_record_that_raises_while_scoring_is_dead_lettered_as_internal_error(
    live_stack: Settings, unique_name: str
) -> None:
    from ingest.daemon import IngestDaemon

    s = await _prepared(live_stack, unique_name)
    now = int(time.time() * 1000) - 600 * SEC
    good = _readings(["dev-a", "dev-b"], now, 40)
    bad = encode_reading("dev-a", now + 45 * SEC, Metric.HEART_RATE, 66.0)
    await produce(s, s.topics.readings, [*good[:40], (b"dev-a", bad), *good[40:]])
    daemon = IngestDaemon(s, engine=_EngineWithABug(Engine(s.detection)))
    task = asyncio.create_task(daemon.run())
    try:
        await wait_committed(s, timeout_s=60)
        assert not task.done(), "the daemon survived the bug"
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 60)
    dead = await read_all(s, s.topics.dead_letter)
    assert [r.value for r in dead] == [bad]  # type: ignore[attr-defined]
    headers = parse_headers(dead[0].headers)  # type: ignore[attr-defined]
    assert headers["dl.reason"] == "internal_error"
    assert headers["dl.detail"] == "ZeroDivisionError", "the exception type, never its message"
    assert headers["dl.stage"] == "score"
    assert daemon.metrics.dead_letters.labels("internal_error")._value.get() == 1
    assert len(vitals_identities(s)) == len(good), "the batch around it was written"


def _with_deadman(s: Settings, silent_after_ms: int) -> Settings:
    det = s.detection
    deadman = det.deadman.model_copy(update={"silent_after_ms": silent_after_ms})
    return s.model_copy(update={"detection": det.model_copy(update={"deadman": deadman})})


async def _send_live(s: Settings, devices: Sequence[str], seconds: float) -> dict[str, int]:
    """Each device sends a reading stamped with the wall clock every 200 ms; their last ts."""
    last: dict[str, int] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = int(time.time() * 1000)
        batch = [(d.encode(), encode_reading(d, now, Metric.HEART_RATE, 62.0)) for d in devices]
        await produce(s, s.topics.readings, batch)
        last.update(dict.fromkeys(devices, now))
        await asyncio.sleep(0.2)
    return last


def _silent_opened(alerts: Sequence[AlertEvent]) -> dict[str, AlertEvent]:
    return {a.device_id: a for a in alerts if a.kind == "device_silent" and a.state == "open"}


@pytest.mark.timeout(180)
async def test_deadman_fires_for_a_lone_silent_device_and_for_a_silent_fleet(
    live_stack: Settings, unique_name: str
) -> None:
    """Three devices, each alone in its partition, stamped with the wall clock. One stops: it
    is reported silent while the others go on. Then all stop: they are reported too. Each
    within its limit plus one tick (plus the idle bound's detection, well inside a tick)."""
    devices: list[str] = []
    for i in range(100):
        d = f"live-{i}"
        if _partition_of(d) not in {_partition_of(x) for x in devices}:
            devices.append(d)
        if len(devices) == 3:
            break
    limit, tick = 4 * SEC, 1 * SEC
    s = _with_deadman(
        isolated_settings(live_stack, unique_name, tick_interval_ms=tick, idle_partition_ms=800),
        limit,
    )
    create_bucket(s)
    await ensure_topic(s)
    quiet, *others = devices
    async with running_daemon(s) as run:
        last = await _send_live(s, devices, 3.0)
        last.update(await _send_live(s, others, limit / 1000 + 4.0))
        lone = _silent_opened(run.daemon.opened_alerts)
        await asyncio.sleep(limit / 1000 + 4.0)  # the whole fleet is silent now
        fleet = _silent_opened(run.daemon.opened_alerts)
    assert set(lone) == {quiet}, "the lone silent device, and only it, while the others send"
    assert set(fleet) == set(devices), "every device of a silent fleet"
    for device, alert in fleet.items():
        assert alert.start_ms == last[device]
        assert last[device] + limit <= alert.ts_ms <= last[device] + limit + tick, device


async def test_missing_bucket_fails_at_start_with_one_line(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)  # its bucket is never created
    await ensure_topic(s)
    env = settings_env(s)
    for argv in (["ingest", "--check"], ["ingest"]):
        started = time.monotonic()
        proc = await asyncio.to_thread(_cli, env, *argv)
        assert proc.returncode == 1, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("vitalstream: ")
        assert repr(s.influxdb.bucket) in lines[0]
        assert "does not exist" in lines[0]
        assert time.monotonic() - started < 30, "fails fast"
    create_bucket(s)
    ok = await asyncio.to_thread(_cli, env, "ingest", "--check")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("ok: ") == 2


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_bucket_deleted_at_run_time_is_loud_and_loses_nothing(
    live_stack: Settings, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = await _prepared(live_stack, unique_name)
    now = int(time.time() * 1000) - 600 * SEC
    first, second = _readings(["dev-a"], now, 30), _readings(["dev-a"], now + 60 * SEC, 30)
    await produce(s, s.topics.readings, first)
    caplog.set_level(logging.ERROR, logger="ingest.daemon")
    async with running_daemon(s) as run:
        await wait_committed(s, timeout_s=60)
        with influx_client(s) as c:
            api = c.buckets_api()
            api.delete_bucket(api.find_bucket_by_name(s.influxdb.bucket))
        await produce(s, s.topics.readings, second)
        port = run.daemon.http_port
        assert port is not None
        deadline = time.monotonic() + 30
        while run.daemon.ready():
            assert time.monotonic() < deadline, "readyz reports the refused writes"
            await asyncio.sleep(0.2)
        status, body = await asyncio.to_thread(_get, port, "/readyz")
        assert status == 503
        assert "InfluxDB refuses writes" in body
        assert "404" in body
        _, metrics = await asyncio.to_thread(_get, port, "/metrics")
        assert "vitalstream_influx_write_failing 2.0" in metrics
        errors = [r for r in caplog.records if "refuses every write" in r.getMessage()]
        assert len(errors) == 1, "at ERROR, once per interval"
        create_bucket(s)  # the operator fixes it: the backlog goes through
        await wait_committed(s, timeout_s=60)
        assert run.daemon.ready()
    # the first readings went with the deleted bucket; every one read since is written
    assert len(vitals_identities(s)) == len(second), "nothing lost"


async def test_restore_past_its_deadline_is_retried_until_it_completes(
    live_stack: Settings, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = await _prepared(live_stack, unique_name)
    now = int(time.time() * 1000) - 600 * SEC
    devices = [f"dev-{i}" for i in range(6)]
    await produce(s, s.topics.readings, _readings(devices, now, 20))
    async with running_daemon(s):
        await wait_committed(s, timeout_s=60)  # device state is in the changelog now
    slow = s.model_copy(update={"ingest": s.ingest.model_copy(update={"restore_timeout_s": 0.001})})
    more = _readings(devices, now + 30 * SEC, 20)
    await produce(s, s.topics.readings, more)
    caplog.set_level(logging.INFO, logger="ingest.daemon")
    caplog.clear()
    async with running_daemon(slow) as run:
        await wait_committed(s, timeout_s=60)
        assert not run.task.done()
    retried = [r for r in caplog.records if "restoring device state did not finish" in r.message]
    assert retried
    assert all(r.levelno == logging.ERROR for r in retried)
    restored = [r for r in caplog.records if r.message == "partitions assigned"]
    assert sum(int(getattr(r, "devices_restored", 0)) for r in restored) == len(devices)
    assert len(vitals_identities(s)) == 40 * len(devices), "nothing lost, nothing doubled"


async def test_check_names_missing_topics_and_an_unreachable_broker(
    live_stack: Settings, unique_name: str
) -> None:
    s = await _prepared(live_stack, unique_name)
    env = settings_env(s)
    missing = await asyncio.to_thread(
        _cli, {**env, "VITALSTREAM_TOPICS__ALERTS": f"{unique_name}.nowhere"}, "ingest", "--check"
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"vitalstream: Kafka topic(s) missing: {unique_name}.nowhere (`vitalstream ingest` "
        "creates them at start where the broker allows; otherwise create them)"
    )
    unreachable = await asyncio.to_thread(
        _cli,
        {
            **env,
            "VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "VITALSTREAM_KAFKA__REQUEST_TIMEOUT_MS": "3000",
        },
        "ingest",
        "--check",
    )
    assert unreachable.returncode == 1
    lines = unreachable.stderr.strip().splitlines()
    assert len(lines) == 1, unreachable.stderr
    assert lines[0].startswith("vitalstream: cannot reach Kafka at 127.0.0.1:9")
