"""Helpers for end-to-end tests on the real stack: isolated topics, group and bucket per test."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from influxdb_client import InfluxDBClient

from ingest.daemon import IngestDaemon
from ingest.kafka_io import offsets
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings


def isolated_settings(base: Settings, name: str, **ingest: object) -> Settings:
    """Settings with topics, consumer group and bucket of their own."""
    topics = base.topics.model_copy(
        update={
            "readings": f"{name}.readings",
            "dead_letter": f"{name}.dead-letter",
            "alerts": f"{name}.alerts",
            "device_state": f"{name}.device-state",
            "partitions": 3,
        }
    )
    ing = base.ingest.model_copy(
        update={
            "group_id": f"{name}-group",
            "http_port": 0,
            "flush_interval_ms": 300,
            "metrics_interval_s": 1.0,
            **ingest,
        }
    )
    influx = base.influxdb.model_copy(update={"bucket": name})
    return base.model_copy(update={"topics": topics, "ingest": ing, "influxdb": influx})


def create_bucket(s: Settings) -> None:
    with InfluxDBClient(url=s.influx_url, token=s.influx_token(), org=s.influxdb.org) as c:
        c.buckets_api().create_bucket(bucket_name=s.influxdb.bucket, org=s.influxdb.org)


def flux(s: Settings, query: str) -> list[dict[str, object]]:
    with InfluxDBClient(
        url=s.influx_url, token=s.influx_token(), org=s.influxdb.org, timeout=60_000
    ) as c:
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


async def produce(s: Settings, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=s.bootstrap_servers, linger_ms=20, max_batch_size=256 * 1024, acks="all"
    )
    await producer.start()
    n = 0
    try:
        futures = []
        for key, value in messages:
            futures.append(await producer.send(topic, value, key=key))
            n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


async def ensure_topic(s: Settings) -> None:
    from ingest.kafka_io.topics import ensure_topics

    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap_servers)
    await admin.start()
    try:
        await ensure_topics(s, admin)
    finally:
        await admin.close()


async def end_offsets(s: Settings, topic: str) -> dict[int, int]:
    return await offsets.end_offsets(kafka_client_kwargs(s), topic)


async def read_all(s: Settings, topic: str) -> list[object]:
    """Every record of a topic, from the beginning to the current end."""
    ends = await end_offsets(s, topic)
    c = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, enable_auto_commit=False)
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
            for tp, recs in (await c.getmany(*remaining, timeout_ms=500)).items():
                records.extend(recs)
                if recs and recs[-1].offset + 1 >= ends[tp.partition]:
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


@contextlib.asynccontextmanager
async def running_daemon(s: Settings) -> AsyncIterator[RunningDaemon]:
    daemon = IngestDaemon(s)
    task = asyncio.create_task(daemon.run())
    try:
        deadline = time.monotonic() + 60
        while not daemon.ready():
            if task.done():
                task.result()
            assert time.monotonic() < deadline, "daemon did not become ready"
            await asyncio.sleep(0.1)
        yield RunningDaemon(daemon, task)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, timeout=60)
