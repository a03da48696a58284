"""The daemon end to end on the real Kafka and InfluxDB: nothing lost, nothing doubled."""

from __future__ import annotations

import time

import msgspec
from aiokafka.partitioner import murmur2

from ingest.kafka_io.deadletter import parse_headers
from ingest.settings import Settings
from messages import Metric, encode_reading
from simulators import FleetSimulator, load_scenario
from tests.integration.harness import (
    PIVOT,
    create_bucket,
    ensure_topic,
    expected_identities,
    flux,
    isolated_settings,
    produce,
    read_all,
    running_daemon,
    vitals_identities,
    wait_committed,
)

HOUR = 3_600_000
MIN = 60_000
POISON: list[tuple[bytes | None, bytes]] = [
    (b"dev-x", b"{not json"),
    (b"dev-x", b'{"device_id":"dev-x","ts":1,"metric":"heart_rate","value":70}'),
    (b"dev-x", b'{"device_id":"dev-x","ts":"now","metric":"heart_rate","value":70}'),
    (b"dev-x", b"x" * 10_000),
    (b"dev-y", b'{"device_id":"dev-x","ts":%d,"metric":"heart_rate","value":70}'),
    (None, b'{"device_id":"dev-z","ts":%d,"metric":"spo2","value":180}'),
    (b"dev-z", b'{"device_id":"dev-z","ts":%d,"metric":"heart_rate","value":1e400}'),
    (b"dev-z", b'{"device_id":"dev-z","ts":%d,"metric":"steps","value":"ten"}'),
]


async def test_readings_go_through_exactly_once_with_dead_letters_and_alerts(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    await ensure_topic(s)
    now = int(time.time() * 1000)
    sim = FleetSimulator(
        load_scenario("acute_events"),
        devices=8,
        seed=11,
        start_ms=now - 26 * HOUR,
        duration_ms=24 * HOUR,
    )
    messages = [m for chunk in sim for m in chunk.messages()]
    ts = b"%d" % (now - HOUR)
    poison = [(k, v.replace(b"%d", ts)) for k, v in POISON]
    messages[len(messages) // 2 : len(messages) // 2] = poison
    valid, n_invalid = expected_identities(messages, s)
    assert n_invalid >= len(poison)

    await produce(s, s.topics.readings, messages)
    async with running_daemon(s):
        offsets = await wait_committed(s)

    assert sum(offsets.values()) == len(messages), "committed offsets cover all records"
    got = vitals_identities(s)
    assert len(got) == len(set(got)), "no reading stored twice"
    assert set(got) == valid, "every valid reading stored, nothing else"

    dead = await read_all(s, s.topics.dead_letter)
    assert len(dead) == n_invalid
    reasons = [parse_headers(r.headers) for r in dead]  # type: ignore[attr-defined]
    assert all(h["dl.reason"] and h["dl.topic"] == s.topics.readings for h in reasons)
    dead_values = {r.value for r in dead}  # type: ignore[attr-defined]
    assert all(v in dead_values for _, v in poison), "original bytes kept"
    codes = {h["dl.reason"] for h in reasons}
    assert {
        "malformed_json",
        "bad_timestamp",
        "oversize",
        "key_mismatch",
        "out_of_range",
        "not_finite",
        "wrong_type",
    } <= codes

    alerts = await read_all(s, s.topics.alerts)
    events = [msgspec.json.decode(r.value) for r in alerts]  # type: ignore[attr-defined]
    opened = {e["alert_id"] for e in events if e["state"] == "open"}
    assert opened, "the injected acute events raised alerts"
    keys = [(e["alert_id"], e["state"], e["ts_ms"]) for e in events]
    assert len(keys) == len(set(keys)), "no duplicate alert events on the topic"
    stored = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "alerts" '
        'and (r._field == "open" or r._field == "alert_id")) '
        f"{PIVOT}",
    )
    assert {r["alert_id"] for r in stored} >= opened
    raw_ids = {k.decode() for k, _ in messages if k}
    assert not raw_ids & {e["device_id"] for e in events}, "alerts carry pseudonyms only"
    assert not any(d in e["explanation"] for e in events for d in raw_ids)
    assert not raw_ids & {r["device"] for r in stored}
    pipeline = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: -1h) '
        '|> filter(fn: (r) => r._measurement == "pipeline")',
    )
    assert pipeline, "the daemon wrote its own metrics"


def _partition_of(device: str, partitions: int = 3) -> int:
    return (murmur2(device.encode()) & 0x7FFFFFFF) % partitions


async def test_time_driven_alerts_follow_each_partitions_stream_time(
    live_stack: Settings, unique_name: str
) -> None:
    """A device that stops sending, and a roster device that never sent, are reported silent
    at the grid point of their own partition's stream time where their limit ran out."""
    ids = [f"tick-{i}" for i in range(40)]
    quiet = ids[0]
    part = _partition_of(quiet)
    companion = next(d for d in ids[1:] if _partition_of(d) == part)
    roster = next(f"roster-{i}" for i in range(40) if _partition_of(f"roster-{i}") == part)
    other = next(d for d in ids[1:] if _partition_of(d) != part)
    limit = 30 * MIN
    base = isolated_settings(live_stack, unique_name)
    s = base.model_copy(
        update={
            "detection": base.detection.model_copy(
                update={
                    "deadman": base.detection.deadman.model_copy(
                        update={"roster": {roster: limit}, "silent_after_ms": limit}
                    )
                }
            )
        }
    )
    create_bucket(s)
    await ensure_topic(s)
    t0 = (int(time.time() * 1000) - 6 * HOUR) // MIN * MIN
    last_quiet = t0 + HOUR + 7_000
    messages: list[tuple[bytes | None, bytes]] = []
    # the other partition's stream stops early: with its clock stopped (it is not idle for
    # ingest.idle_partition_ms in this short run), it does not report its own device silent,
    # and it must not hold this partition's clock back either
    last = {quiet: last_quiet, companion: t0 + 3 * HOUR, other: t0 + 90 * MIN}
    for t in range(t0 + 7_000, t0 + 3 * HOUR, 30_000):
        for device in (quiet, companion, other):
            if t <= last[device]:
                value = encode_reading(device, t, Metric.HEART_RATE, 60.0 + t // 30_000 % 7)
                messages.append((device.encode(), value))
    await produce(s, s.topics.readings, messages)
    async with running_daemon(s) as running:
        await wait_committed(s)
        pseudo = running.daemon.pseudo

    events = [msgspec.json.decode(r.value) for r in await read_all(s, s.topics.alerts)]  # type: ignore[attr-defined]
    silent = {
        e["device_id"]: e for e in events if e["kind"] == "device_silent" and e["state"] == "open"
    }

    grid = -(-(last_quiet + limit) // MIN) * MIN  # the first grid point past the limit
    assert silent[pseudo(quiet)]["ts_ms"] == grid
    assert silent[pseudo(quiet)]["start_ms"] == last_quiet
    # a roster device is watched from its partition's first tick
    assert silent[pseudo(roster)]["ts_ms"] == t0 + MIN + limit
    assert pseudo(companion) not in silent
    assert pseudo(other) not in silent
