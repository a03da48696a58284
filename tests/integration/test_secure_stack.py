"""SASL_SSL (SCRAM-SHA-512) Kafka and HTTPS InfluxDB: the local stack in secure mode, the
daemon through both, and plaintext or wrong credentials refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from ingest import stack
from ingest.settings import Settings
from tests.integration.harness import (
    create_bucket,
    ensure_topic,
    expected_identities,
    isolated_settings,
    produce,
    running_daemon,
    simulated_messages,
    vitals_identities,
    wait_committed,
)


@pytest.fixture
def secure(live_stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    st = live_stack.stack.model_copy(
        update={
            "home": tmp_path / "stack",
            "secure": True,
            "kafka_port": live_stack.stack.kafka_port + 300,
            "kafka_controller_port": live_stack.stack.kafka_controller_port + 300,
            "influxdb_port": live_stack.stack.influxdb_port + 300,
            # not +300: the secure Kafka listens there too (kafka_port + 2)
            "alertmanager_port": live_stack.stack.alertmanager_port + 310,
        }
    )
    kafka = live_stack.kafka.model_copy(
        update={
            "sasl_username": "vitalstream",
            "sasl_password": SecretStr("scram-test-password"),
        }
    )
    s = live_stack.model_copy(update={"stack": st, "kafka": kafka})
    try:
        stack.up(s)  # proves a SASL_SSL round trip and an HTTPS write + query itself
        yield s
    finally:
        stack.down(s)


async def test_daemon_over_sasl_ssl_and_https(secure: Settings, unique_name: str) -> None:
    assert secure.influx_url.startswith("https://")
    s = isolated_settings(secure, unique_name)
    create_bucket(s)
    await ensure_topic(s)
    messages = simulated_messages(devices=3, hours=6, seed=71, scenario="normal_week")
    await produce(s, s.topics.readings, messages)
    async with running_daemon(s):
        await wait_committed(s, timeout_s=120)
    valid, _ = expected_identities(messages, s)
    assert set(vitals_identities(s)) == valid


async def test_plaintext_and_wrong_password_are_refused(secure: Settings) -> None:
    plain = AIOKafkaProducer(bootstrap_servers=secure.bootstrap_servers, request_timeout_ms=3000)
    with pytest.raises((KafkaError, OSError, asyncio.TimeoutError)):
        await asyncio.wait_for(plain.start(), timeout=10)
    await plain.stop()

    from ingest.kafka_security import kafka_client_kwargs

    wrong = secure.model_copy(
        update={
            "kafka": secure.kafka.model_copy(
                update={"sasl_password": SecretStr("not-the-password")}
            )
        }
    )
    bad = AIOKafkaProducer(**kafka_client_kwargs(wrong))
    with pytest.raises((KafkaError, OSError, asyncio.TimeoutError)):
        await asyncio.wait_for(bad.start(), timeout=15)
    await bad.stop()

    http_url = secure.influx_url.replace("https://", "http://")
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{http_url}/health")
    assert resp.status_code == 400, "plain HTTP is not served"
