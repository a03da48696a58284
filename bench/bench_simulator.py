"""Benchmark the simulator: generation readings/s per core, and Kafka produce readings/s.

Run: ``.venv/bin/python bench/bench_simulator.py [--devices N] [--hours H] [--kafka HOST:PORT]``

Prints the figures and writes them as JSON to ``bench/results/``. Figures, never assertions:
timing depends on the machine. What is measured:

- ``generate``: columns only (physiology, events, artefacts, delivery order), one process.
- ``generate+encode``: plus the wire bytes and keys of every message.
- ``kafka_produce``: pre-generated chunks encoded and produced (acks=1) from one process.
- ``kafka_end_to_end``: generate + encode + produce in one process, as ``vitalstream
  simulate --out kafka --speed max`` does.

Per-core rates divide by the process CPU time (numpy's element-wise work is single-threaded,
so wall and CPU time are close; the difference is shown).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ingest.kafka_io.topics import create_scratch_topic
from simulators import Chunk, FleetSimulator, load_scenario
from simulators.sinks import KafkaSink, produce

START_MS = 1_767_225_600_000
RESULTS = Path(__file__).with_name("results")


def _sim(devices: int, hours: float) -> FleetSimulator:
    return FleetSimulator(
        load_scenario("normal_week"),
        devices=devices,
        seed=1,
        start_ms=START_MS,
        duration_ms=int(hours * 3_600_000),
    )


def _timed(fn: Any) -> tuple[Any, float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def bench_generation(devices: int, hours: float) -> dict[str, Any]:
    def gen() -> int:
        return sum(len(c) for c in _sim(devices, hours))

    n, wall, cpu = _timed(gen)

    def gen_encode() -> int:
        total = 0
        for c in _sim(devices, hours):
            total += len(c.values())
            c.keys()
        return total

    n2, wall2, cpu2 = _timed(gen_encode)
    assert n == n2
    return {
        "readings": n,
        "generate": {
            "wall_s": wall,
            "cpu_s": cpu,
            "readings_per_s": n / wall,
            "readings_per_cpu_s": n / cpu,
        },
        "generate_encode": {
            "wall_s": wall2,
            "cpu_s": cpu2,
            "readings_per_s": n / wall2,
            "readings_per_cpu_s": n / cpu2,
        },
    }


async def _drop(bootstrap: str, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def bench_kafka(
    bootstrap: str, devices: int, hours: float, partitions: int, compression: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"partitions": partitions, "compression": compression}
    chunks: list[Chunk] = list(_sim(devices, hours))
    n = sum(len(c) for c in chunks)
    for name, source in (("kafka_produce", chunks), ("kafka_end_to_end", None)):
        topic = await create_scratch_topic(bootstrap, "sim-bench", partitions)
        try:
            w0, c0 = time.perf_counter(), time.process_time()
            async with KafkaSink(bootstrap, topic, compression_type=compression) as sink:
                stats = await produce(source if source is not None else _sim(devices, hours), sink)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        finally:
            await _drop(bootstrap, topic)
        assert stats.acked == stats.messages == n
        out[name] = {
            "messages": n,
            "bytes": stats.bytes,
            "batches": stats.batches,
            "wall_s": wall,
            "cpu_s": cpu,
            "readings_per_s": n / wall,
            "mb_per_s": stats.bytes / wall / 1e6,
        }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--hours", type=float, default=6.0)
    p.add_argument(
        "--kafka", default=os.environ.get("VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    p.add_argument("--no-kafka", action="store_true")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--compression", default=None, help="e.g. gzip (lz4/zstd need extra libs)")
    args = p.parse_args()

    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "devices": args.devices,
        "hours": args.hours,
    }
    gen = bench_generation(args.devices, args.hours)
    result.update(gen)
    print(
        f"simulator benchmark: {args.devices} devices x {args.hours:g} h = "
        f"{gen['readings']:,} readings"
    )
    for key in ("generate", "generate_encode"):
        g = gen[key]
        print(
            f"  {key:<18} {g['readings_per_s']:>12,.0f} readings/s wall "
            f"{g['readings_per_cpu_s']:>12,.0f} /cpu-s"
        )
    if not args.no_kafka:
        k = asyncio.run(
            bench_kafka(args.kafka, args.devices, args.hours, args.partitions, args.compression)
        )
        result["kafka"] = k
        for key in ("kafka_produce", "kafka_end_to_end"):
            r = k[key]
            print(
                f"  {key:<18} {r['readings_per_s']:>12,.0f} readings/s "
                f"({r['mb_per_s']:.1f} MB/s, {r['batches']} batches, cpu {r['cpu_s']:.1f} s "
                f"/ wall {r['wall_s']:.1f} s)"
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench_simulator-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  -> {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
