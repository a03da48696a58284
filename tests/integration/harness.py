"""Helpers for end-to-end tests on the real stack: isolated topics, group and bucket per test."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from influxdb_client import InfluxDBClient

from ingest.daemon import IngestDaemon
from ingest.kafka_io import offsets
from ingest.kafka_io.topics import create_missing_topics
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings


def isolated_settings(base: Settings, name: str, **ingest: object) -> Settings:
    """Settings with topics, consumer group and bucket of their own, and quick checkpoints.
    Seen devices are judged silent from their first reading (no learning period of their
    habits): these runs last hours of event time, not days."""
    quick: dict[str, object] = {
        "flush_interval_ms": 300,
        "commit_interval_ms": 1000,
        "metrics_interval_s": 1.0,
    }
    s = base.with_namespace(name, partitions=3, http_port=0, **{**quick, **ingest})
    det = s.detection
    quality = det.quality.model_copy(update={"presence_learn_days": 0})
    return s.model_copy(update={"detection": det.model_copy(update={"quality": quality})})


def influx_client(s: Settings, **kwargs: object) -> InfluxDBClient:
    verify = s.influx_verify
    return InfluxDBClient(
        url=s.influx_url,
        token=s.influx_token(),
        org=s.influxdb.org,
        ssl_ca_cert=verify if isinstance(verify, str) else None,
        **kwargs,
    )


def create_bucket(s: Settings) -> None:
    with influx_client(s) as c:
        c.buckets_api().create_bucket(bucket_name=s.influxdb.bucket, org=s.influxdb.org)


#: Flux: one row per point, its fields as columns (an alert's id is a field, docs/schema.md)
PIVOT = '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'


def flux(s: Settings, query: str) -> list[dict[str, object]]:
    with influx_client(s, timeout=60_000) as c:
        tables = c.query_api().query(query)
    return [rec.values for t in tables for rec in t.records]


def vitals_identities(s: Settings) -> list[tuple[str, str, int]]:
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "vitals" and r._field == "value") '
        '|> keep(columns: ["_time", "device", "metric"])',
    )
    return [
        (str(r["device"]), str(r["metric"]), int(r["_time"].timestamp() * 1000))  # type: ignore[attr-defined]
        for r in rows
    ]


async def produce(
    s: Settings,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    timestamp_ms: int | None = None,
) -> int:
    """Produce ``messages`` (key, value); ``timestamp_ms`` sets every record's Kafka timestamp
    (default: now, as the producer sends)."""
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(s), linger_ms=20, max_batch_size=256 * 1024, acks="all"
    )
    await producer.start()
    n = 0
    try:
        futures = []
        for key, value in messages:
            futures.append(await producer.send(topic, value, key=key, timestamp_ms=timestamp_ms))
            n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


async def ensure_topic(s: Settings) -> None:
    await create_missing_topics(s)


async def end_offsets(s: Settings, topic: str) -> dict[int, int]:
    return await offsets.end_offsets(kafka_client_kwargs(s), topic)


async def committed(s: Settings) -> dict[int, int]:
    return await offsets.committed_offsets(
        kafka_client_kwargs(s), s.topics.readings, s.ingest.group_id
    )


async def read_all(s: Settings, topic: str) -> list[object]:
    """Every record of a topic, from the beginning to the current end."""
    ends = await end_offsets(s, topic)
    # read_committed: what a downstream consumer sees (the daemon writes in transactions)
    c = AIOKafkaConsumer(
        **kafka_client_kwargs(s), enable_auto_commit=False, isolation_level="read_committed"
    )
    await c.start()
    records: list[object] = []
    try:
        tps = [TopicPartition(topic, p) for p, end in ends.items() if end > 0]
        if not tps:
            return records
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        remaining = set(tps)
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            for recs in (await c.getmany(*remaining, timeout_ms=500)).values():
                records.extend(recs)
            # transaction markers take offsets too: compare positions, not record offsets
            for tp in list(remaining):
                if await c.position(tp) >= ends[tp.partition]:
                    remaining.discard(tp)
    finally:
        await c.stop()
    return records


async def wait_committed(s: Settings, timeout_s: float = 120.0) -> dict[int, int]:
    return await offsets.wait_until_committed(
        kafka_client_kwargs(s), s.topics.readings, s.ingest.group_id, timeout_s=timeout_s
    )


@dataclass
class RunningDaemon:
    daemon: IngestDaemon
    task: asyncio.Task[None]


class Service(Protocol):
    """What the daemon and notify have alike: run until asked to stop, and say when ready."""

    async def run(self) -> None: ...
    def ready(self) -> bool: ...
    def request_stop(self) -> None: ...


@contextlib.asynccontextmanager
async def running(service: Service, what: str) -> AsyncIterator[asyncio.Task[None]]:
    """``service`` running in this event loop, ready; stopped (and its errors raised) after."""
    task = asyncio.create_task(service.run())
    try:
        deadline = time.monotonic() + 60
        while not service.ready():
            if task.done():
                task.result()
            assert time.monotonic() < deadline, f"{what} did not become ready"
            await asyncio.sleep(0.1)
        yield task
    finally:
        service.request_stop()
        await asyncio.wait_for(task, timeout=60)


@contextlib.asynccontextmanager
async def running_daemon(s: Settings) -> AsyncIterator[RunningDaemon]:
    daemon = IngestDaemon(s)
    async with running(daemon, "daemon") as task:
        yield RunningDaemon(daemon, task)


def settings_env(s: Settings) -> dict[str, str]:
    """Environment variables that make a ``vitalstream`` subprocess use these settings."""
    import os

    from ingest.settings import IngestSettings

    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALSTREAM_")}
    env.update(
        {
            "VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS": s.bootstrap_servers,
            "VITALSTREAM_INFLUXDB__URL": s.influx_url,
            "VITALSTREAM_INFLUXDB__TOKEN": s.influx_token(),
            "VITALSTREAM_INFLUXDB__TIMEOUT_MS": str(s.influxdb.timeout_ms),
            **s.namespace_env(),
            "VITALSTREAM_PRIVACY__KEY_FILE": str(s.local_pseudonym_key_file),
        }
    )
    # every ingest setting the test changed (intervals, timeouts, batch sizes, instance id)
    defaults = IngestSettings()
    for name, value in s.ingest:
        if value is not None and value != getattr(defaults, name):
            env[f"VITALSTREAM_INGEST__{name.upper()}"] = str(value)
    return env


def simulated_messages(
    devices: int, hours: float, seed: int, scenario: str = "acute_events"
) -> list[tuple[bytes | None, bytes]]:
    import time

    from simulators import FleetSimulator, load_scenario

    now = int(time.time() * 1000)
    span = int(hours * 3_600_000)
    sim = FleetSimulator(
        load_scenario(scenario),
        devices=devices,
        seed=seed,
        start_ms=now - span - 3_600_000,
        duration_ms=span,
    )
    return [m for chunk in sim for m in chunk.messages()]


def expected_identities(
    messages: list[tuple[bytes | None, bytes]], s: Settings
) -> tuple[set[tuple[str, str, int]], int]:
    """Identities of the valid readings as stored (pseudonymised device), and how many
    messages are invalid."""
    from ingest.privacy import Pseudonymizer
    from messages import InvalidReading, ReadingDecoder

    pseudo = Pseudonymizer(s.pseudonym_key())
    dec = ReadingDecoder()
    valid: set[tuple[str, str, int]] = set()
    invalid = 0
    for key, value in messages:
        try:
            r = dec.decode(value)
        except InvalidReading:
            invalid += 1
            continue
        if key != r.device_id.encode():
            invalid += 1
            continue
        valid.add((pseudo(r.device_id), r.metric.value, r.ts_ms))
    return valid, invalid


async def alert_event_keys(s: Settings) -> list[tuple[str, str, int]]:
    import msgspec

    events = [msgspec.json.decode(r.value) for r in await read_all(s, s.topics.alerts)]  # type: ignore[attr-defined]
    return [(e["alert_id"], e["state"], e["ts_ms"]) for e in events]


def spawn_daemon(env: dict[str, str]) -> subprocess.Popen[str]:
    """``vitalstream ingest`` as its own process, stdout and stderr captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "ingest"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
