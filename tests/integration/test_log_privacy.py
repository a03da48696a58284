"""Canary secrets and canary reading values never appear in the daemon's logs."""

from __future__ import annotations

import signal
import time

from ingest.settings import Settings
from messages import encode_reading
from tests.integration.harness import (
    create_bucket,
    ensure_topic,
    isolated_settings,
    produce,
    settings_env,
    spawn_daemon,
    wait_committed,
)

CANARY_DEVICE = "canary-device-7f3a"
CANARY_PAYLOAD = "canary-payload-91b2"
CANARY_SASL = "canary-sasl-secret-5d1e"
CANARY_KEY = "canary-pseudonym-key-0c9b7e4a"


async def test_no_secret_and_no_reading_value_in_logs(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    await ensure_topic(s)
    now = int(time.time() * 1000)
    key = CANARY_DEVICE.encode()
    values = [187.25, 41.125, 133.75]  # distinctive, valid heart rates (incl. alert-worthy ones)
    messages: list[tuple[bytes | None, bytes]] = [
        (
            key,
            encode_reading(CANARY_DEVICE, now - 3_600_000 + i * 5000, "heart_rate", values[i % 3]),
        )
        for i in range(600)
    ]
    messages += [
        (key, f'{{"device_id":"{CANARY_DEVICE}","value":"{CANARY_PAYLOAD}'.encode()),
        (key, encode_reading(CANARY_DEVICE, now, "spo2", 163.5)),  # impossible: dead-lettered
    ]
    await produce(s, s.topics.readings, messages)
    env = settings_env(s)
    env.pop("VITALSTREAM_PRIVACY__KEY_FILE")
    env["VITALSTREAM_PRIVACY__KEY"] = CANARY_KEY
    env["VITALSTREAM_KAFKA__SASL_PASSWORD"] = CANARY_SASL
    token = s.influx_token()
    proc = spawn_daemon(env)
    try:
        await wait_committed(s, timeout_s=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "ingest started" in out, "the daemon logged at its default level"
    assert "ingest stopped cleanly" in out
    for canary in (
        token,
        CANARY_SASL,
        CANARY_KEY,
        CANARY_DEVICE,
        CANARY_PAYLOAD,
        "187.25",
        "41.125",
        "133.75",
        "163.5",
    ):
        assert canary not in out, f"canary {canary[:12]}... leaked into the logs"
