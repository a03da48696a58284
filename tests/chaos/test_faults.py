"""Broker restart, poison messages, scale-in/out churn and SIGTERM under load."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import stack
from ingest.kafka_io.deadletter import parse_headers
from ingest.settings import Settings
from ingest.stack.kafka import KafkaService
from tests.chaos.harness import assert_exactly_once, chaos_settings, prepare, scale, start_daemon
from tests.integration.harness import (
    committed,
    produce,
    read_all,
    simulated_messages,
    wait_committed,
)


@pytest.mark.timeout(900)
async def test_kafka_broker_restart_mid_stream_loses_nothing(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    if live_stack.kafka.bootstrap_servers is not None:
        raise AssertionError("this scenario restarts the local broker; run it on the local stack")
    s = chaos_settings(live_stack, unique_name, max_batch_records=500)
    messages = simulated_messages(devices=10, hours=24, seed=31)
    half = len(messages) // 2
    await prepare(s, messages[:half])
    d = start_daemon(s, tmp_path / "d.log")
    try:
        await wait_committed(s, timeout_s=120)
        kafka = KafkaService(live_stack)
        await asyncio.to_thread(kafka.stop)
        await asyncio.sleep(scale(5, 20))
        await asyncio.to_thread(stack.up, live_stack)
        await produce(s, s.topics.readings, messages[half:])
        await wait_committed(s, timeout_s=240)
        assert d.proc.poll() is None, "the daemon survived the broker restart"
    finally:
        code = d.terminate()
    assert code == 0, d.output()[-3000:]
    assert_exactly_once(messages, s)


_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
poison_values = st.one_of(
    st.binary(min_size=0, max_size=64),  # bytes that are rarely JSON
    st.fixed_dictionaries(
        {
            "device_id": st.one_of(st.text(max_size=300), st.integers(), st.none()),
            "ts": st.one_of(
                st.integers(min_value=-(2**63), max_value=2**63 - 1),
                st.text(max_size=40),
                st.floats(allow_nan=False),
            ),
            "metric": st.one_of(
                st.sampled_from(["heart_rate", "spo2", "steps", "sleep_stage", ""]),
                st.text(max_size=20),
            ),
            "value": _json_scalars,
        }
    ).map(lambda d: json.dumps(d).encode()),
    st.integers(min_value=5_000, max_value=60_000).map(
        lambda n: b'{"device_id":"' + b"x" * n + b'"}'
    ),
    st.sampled_from([b"NaN", b'{"value": NaN}', b'{"value": 1e999}', b"[]", b"{}", b'"str"']),
)


async def test_one_percent_poison_is_all_dead_lettered_before_commit(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    s = chaos_settings(live_stack, unique_name)
    messages = simulated_messages(devices=8, hours=12, seed=41)
    poison: list[bytes] = []

    @settings(
        max_examples=max(50, len(messages) // 100),
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(poison_values)
    def collect(value: bytes) -> None:
        poison.append(value)

    collect()
    rng = random.Random(3)
    mixed = list(messages)
    for value in poison:
        mixed.insert(rng.randrange(len(mixed)), (b"poison-device", value))
    await prepare(s, mixed)
    d = start_daemon(s, tmp_path / "d.log")
    try:
        await wait_committed(s, timeout_s=240)
    finally:
        code = d.terminate()
    assert code == 0, "0 crashes"
    dead = await read_all(s, s.topics.dead_letter)
    dead_values = [r.value or b"" for r in dead]  # type: ignore[attr-defined]
    assert all(v in dead_values for v in poison), "100 % of the poison is dead-lettered"
    assert all(parse_headers(r.headers)["dl.reason"] for r in dead)  # type: ignore[attr-defined]
    assert_exactly_once(mixed, s)


@pytest.mark.timeout(900)
async def test_three_daemons_with_instances_joining_and_leaving(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    s = chaos_settings(live_stack, unique_name, max_batch_records=300)
    s = s.model_copy(update={"topics": s.topics.model_copy(update={"partitions": 6})})
    messages = simulated_messages(devices=scale(12, 30), hours=24, seed=51)
    await prepare(s, messages)
    rng = random.Random(5)
    logs = [tmp_path / f"d{i}.log" for i in range(3)]
    daemons = [start_daemon(s, logs[i], f"d{i}") for i in range(3)]
    deadline = time.monotonic() + scale(30, 120)
    while time.monotonic() < deadline:
        await asyncio.sleep(rng.uniform(2, 4))
        i = rng.randrange(3)
        await daemons[i].started()
        assert daemons[i].terminate() == 0, daemons[i].output()[-3000:]  # leave cleanly
        daemons[i] = start_daemon(s, logs[i], f"d{i}")  # and join again
    try:
        for d in daemons:
            await d.started()
        await wait_committed(s, timeout_s=300)
    finally:
        codes = [d.terminate() for d in daemons]
    assert codes == [0, 0, 0], "no deadlock, every instance stopped within 30 s"
    output = "".join(log.read_text(errors="replace") for log in logs)
    assert "Traceback" not in output, "no unhandled error (CommitFailedError included)"
    assert_exactly_once(messages, s)
    assert sum((await committed(s)).values()) == len(messages)


async def test_sigterm_under_load_exits_in_time_with_everything_committed(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    s = chaos_settings(live_stack, unique_name, max_batch_records=1000)
    messages = simulated_messages(devices=10, hours=48, seed=61)
    await prepare(s, [])
    d = start_daemon(s, tmp_path / "d.log")
    await d.assigned()
    producer = asyncio.create_task(produce(s, s.topics.readings, messages))
    await asyncio.sleep(2)  # a backlog of several seconds' work: the daemon is under load
    t0 = time.monotonic()
    code = await asyncio.to_thread(d.terminate, 30.0)
    assert time.monotonic() - t0 < 30
    assert code == 0
    out = d.output()
    consumed = int(re.search(r"records=(\d+)", out.split("ingest stopped cleanly")[1])[1])  # type: ignore[index]
    assert 0 < consumed < len(messages), "stopped in mid-stream"
    assert sum((await committed(s)).values()) == consumed, "everything consumed was committed"
    await producer
    d2 = start_daemon(s, tmp_path / "d2.log")
    try:
        await d2.started()  # SIGTERM before its handlers are installed would just kill it
        await wait_committed(s, timeout_s=240)
    finally:
        assert d2.terminate() == 0
    skipped = re.search(r"skipped=(\d+)", d2.output().split("ingest stopped cleanly")[1])
    assert skipped is not None
    assert int(skipped[1]) == 0, "0 records reprocessed on restart"
    assert_exactly_once(messages, s)
