"""The Kafka sink against the real local broker (integration)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from ingest.kafka_io.topics import create_scratch_topic
from simulators import FleetSimulator, Scenario
from simulators.sinks import KafkaSink, produce

pytestmark = pytest.mark.integration

BOOTSTRAP = os.environ.get("VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092")


async def _create_topic(partitions: int) -> str:
    return await create_scratch_topic(BOOTSTRAP, "sim-test", partitions)


async def _delete_topic(topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def test_produce_keyed_by_device_in_order() -> None:
    from aiokafka import AIOKafkaConsumer

    topic = await _create_topic(4)
    try:
        sim = FleetSimulator(Scenario(devices=12, duration_ms=3_600_000), seed=2)
        chunks = list(sim)
        sent = [(k, v) for c in chunks for k, v in c.messages()]
        async with KafkaSink(BOOTSTRAP, topic, compression_type="gzip") as sink:
            stats = await produce(chunks, sink)
        assert stats.messages == stats.acked == len(sent)

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=BOOTSTRAP,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        got: list[tuple[bytes, bytes, int]] = []
        try:
            while len(got) < len(sent):
                batch = await consumer.getmany(timeout_ms=5000)
                if not batch:
                    break
                for tp, msgs in batch.items():
                    got += [(m.key, m.value, tp.partition) for m in msgs]
        finally:
            await consumer.stop()
        assert Counter((k, v) for k, v, _ in got) == Counter(sent)
        # one device -> one partition, and per device the delivery order is kept
        parts: dict[bytes, set[int]] = {}
        for k, _, p in got:
            parts.setdefault(k, set()).add(p)
        assert all(len(p) == 1 for p in parts.values())
        for key in parts:
            assert [v for k, v, _ in got if k == key] == [v for k, v in sent if k == key]
    finally:
        await _delete_topic(topic)


async def test_paced_produce_counts_offered_messages() -> None:
    import time

    topic = await _create_topic(2)
    try:
        sim = FleetSimulator(Scenario(devices=5, duration_ms=10 * 60_000), seed=3)
        offered: list[int] = []
        t0 = time.monotonic()
        async with KafkaSink(BOOTSTRAP, topic) as sink:
            stats = await produce(sim, sink, speed=600.0, on_chunk=lambda c: offered.append(len(c)))
        assert time.monotonic() - t0 >= 0.9  # ten simulated minutes at 600x
        assert sum(offered) == stats.messages == stats.acked == sum(len(c) for c in sim)
    finally:
        await _delete_topic(topic)
