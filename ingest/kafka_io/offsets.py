"""Log-end and committed offsets of a topic (for the demo, load tests and operators)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def topic_partitions(kafka: dict[str, Any], topic: str) -> list[int]:
    """The partition numbers of a topic (empty if it does not exist), from the broker: a fresh
    consumer may not know the topic's metadata yet."""
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        meta = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(int(p["partition"]) for m in meta if not m["error_code"] for p in m["partitions"])


async def _partitions(
    c: AIOKafkaConsumer, topic: str, kafka: dict[str, Any]
) -> list[TopicPartition]:
    parts = c.partitions_for_topic(topic) or await topic_partitions(kafka, topic)
    return [TopicPartition(topic, p) for p in sorted(parts)]


async def end_offsets(kafka: dict[str, Any], topic: str) -> dict[int, int]:
    c = AIOKafkaConsumer(**kafka, enable_auto_commit=False)
    await c.start()
    try:
        tps = await _partitions(c, topic, kafka)
        ends = await c.end_offsets(tps) if tps else {}
    finally:
        await c.stop()
    return {tp.partition: off for tp, off in ends.items()}


async def committed_offsets(kafka: dict[str, Any], topic: str, group_id: str) -> dict[int, int]:
    c = AIOKafkaConsumer(**kafka, group_id=group_id, enable_auto_commit=False)
    await c.start()
    try:
        tps = await _partitions(c, topic, kafka)
        return {tp.partition: await c.committed(tp) or 0 for tp in tps}
    finally:
        await c.stop()


async def wait_until_committed(
    kafka: dict[str, Any], topic: str, group_id: str, *, timeout_s: float
) -> dict[int, int]:
    """Wait until the group has committed up to the current log end of every partition."""
    ends = await end_offsets(kafka, topic)
    deadline = time.monotonic() + timeout_s
    while True:
        got = await committed_offsets(kafka, topic, group_id)
        if all(got.get(p, 0) >= end for p, end in ends.items()):
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"group {group_id} committed {got}, log end is {ends}")
        await asyncio.sleep(0.5)
