"""One simulator run through the real daemon, shared by every test in tests/grafana.

10 wearers, 20 h of event time (~100k readings, injected clinical and data-quality events,
malformed messages) go through Kafka and the real daemon into a bucket of their own. Two things
the daemon does not write (yet) are added afterwards, clearly apart:

- acknowledgements (measurement ``alert_acks``, the lines ``vitalstream alerts ack`` writes:
  no tags; fields ``alert_id``, ``acked_by``, ``note``; time = ack time in ns);

The daemon's per-reason dead-letter counters (measurement ``pipeline_dead_letters``) are checked
against the dead-letter topic's real ``dl.reason`` headers.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
import yaml
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from ingest.commands.alerts import ack_line, make_ack
from ingest.kafka_io.deadletter import parse_headers
from ingest.settings import Settings
from tests.grafana import grafana_sim as g
from tests.grafana.checks import GRAFANA
from tests.integration.harness import (
    PIVOT,
    create_bucket,
    ensure_topic,
    flux,
    isolated_settings,
    produce,
    read_all,
    running_daemon,
    simulated_messages,
    wait_committed,
)

DEVICES, HOURS, SEED = 10, 20.0, 5


@dataclass
class Scenario:
    s: Settings
    client: InfluxDBClient
    ds: g.Datasource
    now: dt.datetime
    events: list[dict[str, Any]]  # every alert lifecycle event, fields "open" and "alert_id"
    acks: dict[str, dt.datetime]  # alert_id -> ack time we wrote
    reasons: dict[str, int]  # dl.reason -> records, from the dead-letter topic
    devices: list[str]
    messages: list[tuple[bytes | None, bytes]]  # every record produced, in order

    def run(self, query: str) -> list[dict[str, Any]]:
        tables = self.client.query_api().query(query, org=self.ds.organization)
        return [
            {k: v for k, v in rec.values.items() if k not in ("result", "table")}
            for t in tables
            for rec in t.records
        ]


def _datasource(s: Settings) -> tuple[InfluxDBClient, g.Datasource]:
    """The provisioned datasource, with ${VAR} expanded as Grafana does from its environment."""
    env = {
        "VITALSTREAM_INFLUXDB__URL": s.influx_url,
        "VITALSTREAM_INFLUXDB__ORG": s.influxdb.org,
        "VITALSTREAM_INFLUXDB__BUCKET": s.influxdb.bucket,
        "VITALSTREAM_INFLUXDB__TOKEN": s.influx_token(),
    }
    text = (GRAFANA / "provisioning" / "datasources" / "influxdb.yaml").read_text()
    text = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], text)
    (ds,) = yaml.safe_load(text)["datasources"]
    client = InfluxDBClient(
        url=ds["url"], token=ds["secureJsonData"]["token"], org=ds["jsonData"]["organization"],
        timeout=60_000,
    )  # fmt: skip
    return client, g.Datasource(ds["jsonData"]["organization"], ds["jsonData"]["defaultBucket"])


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def scenario(live_stack: Settings) -> AsyncIterator[Scenario]:
    s = isolated_settings(live_stack, f"t-grafana-{uuid.uuid4().hex[:8]}")
    create_bucket(s)
    await ensure_topic(s)
    messages = simulated_messages(DEVICES, HOURS, SEED)
    assert 50_000 <= len(messages) <= 120_000
    await produce(s, s.topics.readings, messages)
    async with running_daemon(s):
        await wait_committed(s)
        await _wait_for_pipeline_points(s, 3)
    client, ds = _datasource(s)
    now = dt.datetime.now(dt.UTC)
    events = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "alerts" '
        f'and (r._field == "open" or r._field == "alert_id")) {PIVOT} |> group()',
    )
    devices = sorted(
        str(r["_value"])
        for r in flux(
            s,
            'import "influxdata/influxdb/schema"\n'
            f'schema.tagValues(bucket: "{s.influxdb.bucket}", tag: "device", start: -3d)',
        )
    )
    acks = _write_acks(s, client, events, now)
    reasons = collections.Counter(
        parse_headers(r.headers)["dl.reason"]  # type: ignore[attr-defined]
        for r in await read_all(s, s.topics.dead_letter)
    )
    _check_dead_letter_reasons(s, reasons)
    try:
        yield Scenario(s, client, ds, now, events, acks, dict(reasons), devices, messages)
    finally:
        client.close()


async def _wait_for_pipeline_points(s: Settings, n: int) -> None:
    for _ in range(100):
        rows = flux(
            s,
            f'from(bucket: "{s.influxdb.bucket}") |> range(start: -1h) '
            '|> filter(fn: (r) => r._measurement == "pipeline" and r._field == "up")',
        )
        if len(rows) >= n:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the daemon wrote too few pipeline points")


def _write_acks(
    s: Settings, client: InfluxDBClient, events: list[dict[str, Any]], now: dt.datetime
) -> dict[str, dt.datetime]:
    """Acknowledge every other alert with the lines ``vitalstream alerts ack`` writes."""
    opened = sorted(
        (e for e in events if e["state"] == "open"), key=lambda e: (e["_time"], e["alert_id"])
    )
    assert len(opened) >= 6, "the scenario raises alerts"
    acks: dict[str, dt.datetime] = {}
    lines = []
    for i, e in enumerate(opened[::2]):
        at = now - dt.timedelta(minutes=30 - i)
        acks[str(e["alert_id"])] = at
        ack = make_ack(str(e["alert_id"]), "seen", f"nurse-{i % 2}", int(at.timestamp() * 1000))
        lines.append(ack_line(ack))
    with client.write_api(write_options=SYNCHRONOUS) as w:
        w.write(bucket=s.influxdb.bucket, record=lines, write_precision="ns")
    return acks


def _check_dead_letter_reasons(s: Settings, reasons: Mapping[str, int]) -> None:
    """The daemon's final per-reason counters equal what the dead-letter topic holds."""
    assert reasons, "the simulator sends malformed messages"
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: -1h) '
        '|> filter(fn: (r) => r._measurement == "pipeline_dead_letters") |> last()',
    )
    assert {str(r["reason"]): int(r["_value"]) for r in rows} == dict(reasons)  # type: ignore[call-overload]
