"""Log-end and committed offsets of a topic (for the demo, load tests and operators)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


async def _partitions(c: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    parts = c.partitions_for_topic(topic)
    if not parts:
        await c._client.force_metadata_update()  # a fresh client may not know the topic yet
        parts = c.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(parts or ())]


async def end_offsets(kafka: dict[str, Any], topic: str) -> dict[int, int]:
    c = AIOKafkaConsumer(**kafka, enable_auto_commit=False)
    await c.start()
    try:
        tps = await _partitions(c, topic)
        ends = await c.end_offsets(tps) if tps else {}
    finally:
        await c.stop()
    return {tp.partition: off for tp, off in ends.items()}


async def committed_offsets(kafka: dict[str, Any], topic: str, group_id: str) -> dict[int, int]:
    c = AIOKafkaConsumer(**kafka, group_id=group_id, enable_auto_commit=False)
    await c.start()
    try:
        return {tp.partition: await c.committed(tp) or 0 for tp in await _partitions(c, topic)}
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
