"""Create the daemon's topics if they are missing (idempotent), and scratch topics."""

from __future__ import annotations

import contextlib
import uuid

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from ingest.settings import Settings


async def ensure_topics(settings: Settings, admin: AIOKafkaAdminClient) -> None:
    """Readings, dead-letter, alerts, and the compacted device-state changelog.

    The changelog has as many partitions as the readings topic: a device's state lives in the
    partition with the number of its readings partition, so restoring a readings partition
    means reading one changelog partition.
    """
    t = settings.topics
    existing = set(await admin.list_topics())
    wanted = [
        NewTopic(t.readings, t.partitions, 1),
        NewTopic(t.dead_letter, 1, 1),
        NewTopic(t.alerts, t.partitions, 1),
    ]
    readings_partitions = t.partitions
    if t.readings in existing:
        meta = await admin.describe_topics([t.readings])
        readings_partitions = len(meta[0]["partitions"]) or t.partitions
    wanted.append(
        NewTopic(
            t.device_state,
            readings_partitions,
            1,
            topic_configs={
                "cleanup.policy": "compact",
                "min.cleanable.dirty.ratio": "0.1",
                "segment.ms": "600000",
            },
        )
    )
    missing = [nt for nt in wanted if nt.name not in existing]
    if missing:
        with contextlib.suppress(TopicAlreadyExistsError):  # another instance was first
            await admin.create_topics(missing)


async def create_missing_topics(settings: Settings) -> None:
    """:func:`ensure_topics` with an admin client of its own."""
    from ingest.kafka_security import kafka_client_kwargs

    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings))
    await admin.start()
    try:
        await ensure_topics(settings, admin)
    finally:
        await admin.close()


async def create_scratch_topic(bootstrap_servers: str, prefix: str, partitions: int) -> str:
    """Create a topic of a name no one else uses (``PREFIX-<random>``), for a test or a
    benchmark that produces into a fresh topic; returns its name."""
    topic = f"{prefix}-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    return topic
