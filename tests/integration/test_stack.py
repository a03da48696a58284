"""The local stack serves real requests: Kafka via aiokafka, InfluxDB via influxdb-client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from ingest.settings import Settings


async def test_kafka_round_trip_with_consumer_group(live_stack: Settings, unique_name: str) -> None:
    bootstrap = live_stack.bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(unique_name, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent = {f"dev-{i}".encode(): f"payload-{i}".encode() for i in range(30)}
    try:
        for key, value in sent.items():
            await producer.send(unique_name, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        unique_name,
        bootstrap_servers=bootstrap,
        group_id=unique_name,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: dict[bytes, bytes] = {}
    partitions: set[int] = set()
    try:
        deadline = time.monotonic() + 30
        while len(got) < len(sent) and time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                partitions.add(tp.partition)
                got.update({r.key: r.value for r in records if r.key and r.value})
        await consumer.commit()
        committed = {tp.partition: await consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        await consumer.stop()
    assert got == sent
    assert len(partitions) > 1, "keys should spread over the topic's partitions"
    assert sum(v or 0 for v in committed.values()) == len(sent)


def test_influxdb_write_and_flux_query_on_fresh_bucket(live_stack: Settings) -> None:
    s = live_stack
    with InfluxDBClient(url=s.influx_url, token=s.influx_token(), org=s.influxdb.org) as client:
        buckets = client.buckets_api()
        bucket = buckets.create_bucket(
            bucket_name=f"test-{uuid.uuid4().hex[:8]}", org=s.influxdb.org
        )
        try:
            now = time.time_ns()
            lines = [f"hr,device=d{i} value={60 + i} {now + i}" for i in range(5)]
            client.write_api(write_options=SYNCHRONOUS).write(bucket=bucket.name, record=lines)
            tables = client.query_api().query(
                f'from(bucket: "{bucket.name}") |> range(start: -5m) '
                '|> filter(fn: (r) => r._measurement == "hr") |> group()'
                ' |> sort(columns: ["device"])'
            )
            values = [rec.get_value() for table in tables for rec in table.records]
        finally:
            buckets.delete_bucket(bucket)
    assert values == [60.0, 61.0, 62.0, 63.0, 64.0]


def test_stack_status_json_reports_every_service_running(live_stack: Settings) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "stack", "status", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    status = json.loads(out.stdout)
    for name in ("kafka", "influxdb", "alertmanager"):
        assert status[name]["state"] in {"running", "external"}, status[name]
    if status["kafka"]["state"] == "running":
        assert status["kafka"]["version"] == live_stack.stack.kafka_version
        assert status["kafka"]["pid"] > 0
    if status["influxdb"]["state"] == "running":
        assert status["influxdb"]["version"] == live_stack.stack.influxdb_version
    if status["alertmanager"]["state"] == "running":
        assert status["alertmanager"]["version"] == live_stack.stack.alertmanager_version


def test_stack_up_is_idempotent(live_stack: Settings) -> None:
    from ingest import stack

    before = {s.name: s.pid for s in stack.status(live_stack)}
    after = {s.name: s.pid for s in stack.up(live_stack)}
    assert before == after, "a second `up` must not restart running services"


def test_alertmanager_serves_api_v2_the_provisioned_routing_and_its_ui(
    live_stack: Settings,
) -> None:
    """The stack's Alertmanager runs the routing example, answers API v2, and serves the React
    UI at /ui/ and a page pointing there at /."""
    import httpx
    import yaml

    with httpx.Client(base_url=live_stack.alertmanager_url, timeout=10) as http:
        status = http.get("/api/v2/status").json()
        assert status["versionInfo"]["version"] == live_stack.stack.alertmanager_version[1:]
        if live_stack.alertmanager.url is None:
            route = yaml.safe_load(status["config"]["original"])["route"]
            assert {r["receiver"] for r in route["routes"]} == {
                "technician",
                "urgent",
                "wearer-team",
            }
            root = http.get("/", headers={"Accept-Encoding": "identity"})
            assert root.status_code == 200
            assert 'href="ui/"' in root.text
        ui = http.get("/ui/", headers={"Accept-Encoding": "gzip"})
        assert ui.status_code == 200
        assert "<title>Alertmanager</title>" in ui.text


def test_up_status_down_manage_alertmanager_and_leave_external_services_alone(
    live_stack: Settings, tmp_path: Path
) -> None:
    """A stack whose Kafka and InfluxDB are the running ones (as external services) and whose
    Alertmanager is its own: `up` starts only Alertmanager, `status` shows it, `down` stops it."""
    from ingest import stack
    from tests.integration.notify_harness import free_port

    token = tmp_path / "token"
    token.write_text(live_stack.influx_token())
    s = live_stack.model_copy(
        update={
            "kafka": live_stack.kafka.model_copy(
                update={"bootstrap_servers": live_stack.bootstrap_servers}
            ),
            "influxdb": live_stack.influxdb.model_copy(
                update={"url": live_stack.influx_url, "token_file": token}
            ),
            "alertmanager": live_stack.alertmanager.model_copy(update={"url": None}),
            "stack": live_stack.stack.model_copy(
                update={"home": tmp_path / "stack", "alertmanager_port": free_port()}
            ),
        }
    )
    try:
        rows = {r.name: r for r in stack.up(s)}
        assert rows["kafka"].state == rows["influxdb"].state == "external"
        assert rows["alertmanager"].state == "running"
        assert rows["alertmanager"].address == f"http://127.0.0.1:{s.stack.alertmanager_port}"
    finally:
        stopped = stack.down(s)
    assert stopped == ["alertmanager"]
    assert {r.name: r.state for r in stack.status(s)}["alertmanager"] == "stopped"


def test_secure_storage_format_keeps_the_scram_password_off_the_command_line(
    live_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real StorageTool formats a secure broker's storage with the SCRAM user, while no
    command line (what `ps` shows every user) carries the password."""
    from pydantic import SecretStr

    from ingest.stack.kafka import KafkaService

    password = 'pw-canary-4f1e "quoted" \\slash'
    st = live_stack.stack.model_copy(update={"home": tmp_path / "stack", "secure": True})
    kafka = live_stack.kafka.model_copy(
        update={"sasl_username": "scram-canary-user", "sasl_password": SecretStr(password)}
    )
    service = KafkaService(live_stack.model_copy(update={"stack": st, "kafka": kafka}))
    seen: list[tuple[list[str], str, int]] = []
    real_run = subprocess.run

    def spy(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if argv[0] == "java":  # not the openssl calls that make the certificates
            argfile = Path(argv[-1].removeprefix("@"))
            seen.append((argv, argfile.read_text(), argfile.stat().st_mode & 0o777))
        return real_run(argv, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(subprocess, "run", spy)
    service._write_config()
    service._format_storage()
    ((argv, argfile_text, mode),) = seen
    assert not any(password in a or "scram-canary-user" in a for a in argv)
    assert "kafka.tools.StorageTool" not in argv, "the tool and its arguments are in the file"
    assert "scram-canary-user" in argfile_text
    assert mode == 0o600
    assert not Path(argv[-1].removeprefix("@")).exists(), "the argument file is removed"
    # the tool got the arguments: the storage is formatted with the SCRAM user in it
    assert (service.data_dir / "meta.properties").is_file()
    assert b"scram-canary-user" in (service.data_dir / "bootstrap.checkpoint").read_bytes()
