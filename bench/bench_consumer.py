"""CPU per record of aiokafka's consumer alone, per consumer setting, in one run.

The daemon's fetch path without the daemon: a backlog as ``bench_e2e.py`` produces it (fresh
topics, ``normal_week`` without artefacts, 200 devices, 6 partitions) read to its end by an
``AIOKafkaConsumer`` configured as the daemon's (a group, ``max_partition_fetch_bytes`` 1 MiB,
``getmany(max_records=5000)``) with one setting changed per variant; variants alternate over
``--rounds`` (A B C ... then ... C B A), each with a fresh group. Process CPU from the first
records to the last, per record, and the wall-time rate over the same span (records/s: how
fast the consumer alone can hand out a backlog, waits for fetches included); the daemon's
configuration is the baseline of the same run.

    python bench/bench_consumer.py [--readings 300000] [--rounds 3] [--loop asyncio|uvloop]

``--loop uvloop`` runs it all on uvloop (if installed): run it once with each loop to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import bench_e2e
from aiokafka import AIOKafkaConsumer

from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings, load_settings

RESULTS = Path(__file__).parent / "results"
#: name -> (consumer settings beyond the daemon's, max_records per getmany)
VARIANTS: dict[str, tuple[dict[str, Any], int]] = {
    "daemon (baseline)": ({}, 5000),
    "check_crcs off": ({"check_crcs": False}, 5000),
    "fetch_min_bytes 64k, max wait 100 ms": (
        {"fetch_min_bytes": 65536, "fetch_max_wait_ms": 100},
        5000,
    ),
    "max_partition_fetch_bytes 4 MiB": ({"max_partition_fetch_bytes": 4 << 20}, 5000),
    "max_records 20000": ({}, 20_000),
}


async def consume(
    s: Settings, n: int, extra: dict[str, Any], max_records: int
) -> tuple[float, float]:
    """Read the readings topic to its end; process CPU µs per record and records/s (wall)."""
    kwargs: dict[str, Any] = {
        **kafka_client_kwargs(s),
        "group_id": f"bench-consumer-{uuid.uuid4().hex[:6]}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 1 << 20,
        **extra,
    }
    consumer = AIOKafkaConsumer(**kwargs)
    await consumer.start()
    try:
        consumer.subscribe([s.topics.readings])
        got, first, t0, wall0 = 0, 0, None, 0.0
        while got < n:
            batch = await consumer.getmany(timeout_ms=200, max_records=max_records)
            got += sum(len(records) for records in batch.values())
            if batch and t0 is None:
                # the clocks start after the first batch, so its records are not in the rate
                t0, wall0, first = time.process_time(), time.perf_counter(), got
        assert t0 is not None
        wall = time.perf_counter() - wall0
        return 1e6 * (time.process_time() - t0) / n, (got - first) / wall
    finally:
        await consumer.stop()


async def main(args: argparse.Namespace) -> dict[str, object]:
    base = load_settings()
    hours = args.readings / (200 * 640)
    s, _, n = await bench_e2e._backlog(base, "consumer", 200, hours)
    runs: dict[str, list[float]] = {name: [] for name in VARIANTS}
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    try:
        for rnd in range(args.rounds):
            for name in names if rnd % 2 == 0 else names[::-1]:
                extra, max_records = VARIANTS[name]
                us, rate = await consume(s, n, extra, max_records)
                runs[name].append(us)
                rates[name].append(rate)
                print(f"{name:<38} {us:.2f} µs per record  {rate:>9,.0f} records/s", flush=True)
    finally:
        bench_e2e._bucket(s, create=False)
    medians = {name: statistics.median(v) for name, v in runs.items()}
    rate_medians = {name: statistics.median(v) for name, v in rates.items()}
    print(f"\n{n:,} records, {args.loop}; median of {args.rounds} rounds")
    for name, us in medians.items():
        print(f"  {name:<38} {us:.2f} µs per record  {rate_medians[name]:>9,.0f} records/s")
    return {
        "command": "python bench/bench_consumer.py " + " ".join(sys.argv[1:]),
        "records": n,
        "loop": args.loop,
        "us_per_record_median": medians,
        "records_per_s_median": rate_medians,
        "runs": runs,
        "rates": rates,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = ap.parse_args()
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    result = asyncio.run(main(args))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"consumer-{args.loop}.json").write_text(json.dumps(result, indent=2))
