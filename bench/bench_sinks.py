"""What the daemon's output costs the sinks, lever by lever, on what a real detection run sends.

One detection run over ``bench_e2e``'s backlog (``sink_census``) captures every InfluxDB line
and every Kafka record of its commits. Then, alternating the two sides of each lever in every
round (A B then B A) against the local stack:

- **kafka codec**: the CPU each producer codec spends compressing the captured device-state
  records in producer-sized batches (aiokafka's gzip is level 9), and its ratio;
- **kafka transaction**: a checkpoint's transaction (the largest captured commit's device
  states, then the offsets) repeated, broker (JVM) and client CPU per transaction: before
  (gzip, 16 KiB batches) against after (zstd, 512 KiB) and no compression;
- **influx fields**: influxd's CPU for the captured ``vitals_minute`` lines against the same
  lines with the two fields they carried before (``readings``, ``flagged=0``);
- **influx gzip**: influxd's and this process's CPU for all captured lines, gzip level 1
  against none (requests as the daemon makes them: 5,000 lines, 4 at once).

CPU per reading divides by the captured run's readings. Figures printed, JSON written to
``bench/results/sinks.json``.

    python bench/bench_sinks.py [--readings 300000] [--rounds 3] [--transactions 20]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psutil
import sink_census
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka import codec as kafka_codec
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from bench_e2e import RESULTS, _service_pids
from influxdb_client import InfluxDBClient

from ingest.daemon import Checkpoint, IngestDaemon
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings, load_settings

BATCH = 16 * 1024  # aiokafka's default max_batch_size, the size gzip compressed before


async def capture(readings: int) -> tuple[list[list[str]], list[tuple[bytes, bytes, int]], int]:
    """Every InfluxDB write and the device states of the largest commit of one detection run."""
    writes: list[list[str]] = []
    commits: list[list[tuple[bytes, bytes, int]]] = []
    lines, checkpoint = sink_census.Census.lines, sink_census.Census.checkpoint

    def keep_lines(self: sink_census.Census, batch: list[str]) -> None:
        writes.append(list(batch))
        lines(self, batch)

    def keep_states(self: sink_census.Census, daemon: IngestDaemon, cp: Checkpoint) -> None:
        if cp.commit:
            commits.append(list(cp.states))
        checkpoint(self, daemon, cp)

    sink_census.Census.lines = keep_lines  # type: ignore[method-assign,assignment]
    sink_census.Census.checkpoint = keep_states  # type: ignore[method-assign]
    try:
        args = argparse.Namespace(readings=readings, devices=200)
        r = await sink_census.run("detection", args)
    finally:
        sink_census.Census.lines = lines  # type: ignore[method-assign]
        sink_census.Census.checkpoint = checkpoint  # type: ignore[method-assign]
    return writes, max(commits, key=len), int(r["readings"])


def codec_costs(states: list[tuple[bytes, bytes, int]], rounds: int) -> dict[str, dict[str, float]]:
    """CPU ns per uncompressed byte and ratio of each codec over producer-sized batches."""
    batches, current = [], b""
    for _, value, _ in states:
        if current and len(current) + len(value) > BATCH:
            batches.append(current)
            current = b""
        current += value
    batches.append(current)
    total = sum(map(len, batches))
    codecs: dict[str, Callable[[bytes], bytes]] = {
        "gzip-9 (aiokafka's gzip)": kafka_codec.gzip_encode,
        "zstd": kafka_codec.zstd_encode,
        "lz4": kafka_codec.lz4_encode,
        "snappy": kafka_codec.snappy_encode,
    }
    out = {}
    for name, encode in codecs.items():
        cpu = []
        for _ in range(rounds):
            t = time.process_time()
            size = sum(len(encode(b)) for b in batches)
            cpu.append(time.process_time() - t)
        out[name] = {"ns_per_byte": 1e9 * min(cpu) / total, "ratio": total / size}
    return out


def _cpu(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


async def transaction_cost(
    s: Settings, states: list[tuple[bytes, bytes, int]], codec: str | None, batch: int, n: int
) -> dict[str, float]:
    """Broker and client CPU ms per checkpoint-like transaction: ``states`` to a compacted
    6-partition topic, then offsets, ``n`` times."""
    kwargs = kafka_client_kwargs(s)
    topic = f"bench-sinks-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(**kwargs)
    await admin.start()
    try:
        config = {"cleanup.policy": "compact"}
        await admin.create_topics([NewTopic(topic, 6, 1, topic_configs=config)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        **kwargs,
        transactional_id=topic,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        compression_type=codec,
        max_batch_size=batch,
    )
    await producer.start()
    kafka = _service_pids(s)["kafka"]
    try:
        broker0, client0 = _cpu(kafka), time.process_time()
        for i in range(n):
            await producer.begin_transaction()
            futures = [await producer.send(topic, v, key=k, partition=p) for k, v, p in states]
            await asyncio.gather(*futures)
            await producer.send_offsets_to_transaction({TopicPartition(topic, 0): i + 1}, topic)
            await producer.commit_transaction()
        broker1, client1 = _cpu(kafka), time.process_time()
    finally:
        await producer.stop()
    return {"broker_ms": 1e3 * (broker1 - broker0) / n, "client_ms": 1e3 * (client1 - client0) / n}


async def influx_cost(s: Settings, bodies: list[bytes], compress: bool) -> dict[str, float]:
    """influxd's and this process's CPU seconds to write ``bodies`` into a fresh bucket."""
    bucket = f"bench-sinks-{uuid.uuid4().hex[:6]}"
    with InfluxDBClient(url=s.influx_url, token=s.influx_token(), org=s.influxdb.org) as c:
        created = c.buckets_api().create_bucket(bucket_name=bucket, org=s.influxdb.org)
    influxd = _service_pids(s)["influxdb"]
    params = {"org": s.influxdb.org, "bucket": bucket, "precision": "ms"}
    gate = asyncio.Semaphore(4)
    async with httpx.AsyncClient(
        base_url=s.influx_url, headers={"Authorization": f"Token {s.influx_token()}"}, timeout=60
    ) as client:

        async def post(body: bytes) -> None:
            async with gate:
                headers = {}
                if compress:
                    body = gzip.compress(body, compresslevel=1)
                    headers["Content-Encoding"] = "gzip"
                resp = await client.post(
                    "/api/v2/write", params=params, content=body, headers=headers
                )
                if resp.status_code != 204:
                    raise RuntimeError(f"InfluxDB answered {resp.status_code}: {resp.text}")

        server0, client0 = _cpu(influxd), time.process_time()
        await asyncio.gather(*(post(b) for b in bodies))
        await asyncio.sleep(0.5)  # the write's tail inside influxd
        server1, client1 = _cpu(influxd), time.process_time()
    with InfluxDBClient(url=s.influx_url, token=s.influx_token(), org=s.influxdb.org) as c:
        c.buckets_api().delete_bucket(created)
    return {"influxd": server1 - server0, "writer": client1 - client0}


def _bodies(writes: list[list[str]], keep: Callable[[str], str | None]) -> list[bytes]:
    """Request bodies as the daemon makes them (5,000 lines each) of the lines ``keep`` keeps
    (and possibly rewrites)."""
    out = []
    for batch in writes:
        kept = [k for k in map(keep, batch) if k is not None]
        out += ["\n".join(kept[i : i + 5000]).encode() for i in range(0, len(kept), 5000)]
    return out


def _minute(line: str) -> str | None:
    return line if line.startswith("vitals_minute,") else None


def _minute_before(line: str) -> str | None:
    """The same summary with the fields it had before (readings, flagged=0 when unflagged)."""
    if not line.startswith("vitals_minute,"):
        return None
    series, fields, ts = line.split(" ")
    extra = ",readings=7i" + ("" if ",flagged=" in fields else ",flagged=0i")
    return f"{series} {fields}{extra} {ts}"


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    s = load_settings()
    writes, states, readings = await capture(args.readings)
    print(
        f"captured: {readings:,} readings, {sum(map(len, writes)):,} lines, "
        f"largest commit {len(states)} device states",
        flush=True,
    )
    result: dict[str, Any] = {
        "benchmark": "sinks",
        "command": "python bench/bench_sinks.py " + " ".join(sys.argv[1:]),
        "readings": readings,
        "kafka_codec": codec_costs(states, args.rounds),
    }
    for name, c in result["kafka_codec"].items():
        print(f"codec {name:26s} {c['ns_per_byte']:6.2f} ns/byte  ratio {c['ratio']:5.2f}")

    sides: dict[str, tuple[str | None, int]] = {
        "before: gzip, 16 KiB batches": ("gzip", BATCH),
        "after: zstd, 512 KiB batches": ("zstd", 512 * 1024),
        "none, 512 KiB batches": (None, 512 * 1024),
    }
    txn: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
    for rnd in range(args.rounds):
        for name in list(sides) if rnd % 2 == 0 else list(sides)[::-1]:
            codec, batch = sides[name]
            txn[name].append(await transaction_cost(s, states, codec, batch, args.transactions))
    result["kafka_transaction_ms"] = {k: _median(v) for k, v in txn.items()}
    for name, c in result["kafka_transaction_ms"].items():
        print(
            f"transaction {name:30s} broker {c['broker_ms']:6.1f} ms  "
            f"client {c['client_ms']:5.1f} ms"
        )

    influx_sides: dict[str, tuple[list[bytes], bool]] = {
        "vitals_minute, fields now": (_bodies(writes, _minute), True),
        "vitals_minute, fields before": (_bodies(writes, _minute_before), True),
        "all lines, gzip": (_bodies(writes, lambda line: line), True),
        "all lines, no gzip": (_bodies(writes, lambda line: line), False),
    }
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in influx_sides}
    for rnd in range(args.rounds):
        for name in list(influx_sides) if rnd % 2 == 0 else list(influx_sides)[::-1]:
            bodies, compress = influx_sides[name]
            r = await influx_cost(s, bodies, compress)
            runs[name].append({k: 1e6 * v / readings for k, v in r.items()})
    result["influx_us_per_reading"] = {k: _median(v) for k, v in runs.items()}
    result["influx_runs"] = runs
    for name, c in result["influx_us_per_reading"].items():
        print(
            f"influx {name:30s} influxd {c['influxd']:5.2f} µs/reading  "
            f"writer side {c['writer']:5.2f}"
        )
    return result


def _options() -> argparse.Namespace:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument("--readings", type=int, default=300_000, help="of the captured run")
    cli.add_argument("--rounds", type=int, default=3, help="of each side of each lever")
    cli.add_argument("--transactions", type=int, default=20, help="per transaction round")
    return cli.parse_args()


if __name__ == "__main__":
    out = asyncio.run(main(_options()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sinks.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS / 'sinks.json'}")
