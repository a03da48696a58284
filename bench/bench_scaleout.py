"""Scale-out and durable state on the local stack.

1. restore: 100k devices' state in the compacted changelog, restored as a daemon would on
   partition assignment (real engine snapshots); seconds and devices/s.
2. scale-out: the same backlog consumed by 1, 2 and 3 daemon processes in one consumer group
   (6 partitions); total and per-process readings/s, and the restore times the daemons logged
   after their rebalances. All on one 2-core machine: more processes share the same cores.

    python bench/bench_scaleout.py [--devices 100000] [--readings 300000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from detectors import Engine
from ingest import stack
from ingest.daemon import IngestDaemon
from ingest.kafka_io.changelog import encode_state
from ingest.kafka_io.offsets import wait_until_committed
from ingest.kafka_io.topics import create_missing_topics
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings, load_settings
from messages import Reading
from messages.metrics import Metric
from simulators import FleetSimulator, load_scenario
from simulators.sinks import KafkaSink, produce

RESULTS = Path(__file__).parent / "results"
HOUR_MS = 3_600_000
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.integration.harness import create_bucket, settings_env  # noqa: E402


def _isolated(base: Settings, name: str) -> Settings:
    return base.with_namespace(name, partitions=6, http_port=0)


async def _topics(s: Settings) -> None:
    await create_missing_topics(s)


def _snapshot() -> bytes:
    """A realistic device state: an engine that has seen a day of one device's readings."""
    engine = Engine()
    t0 = int(time.time() * 1000) - 26 * HOUR_MS
    readings = [
        Reading("d", t0 + i * 60_000, Metric.HEART_RATE, 60.0 + (i % 7)) for i in range(1440)
    ]
    readings += [
        Reading("d", t0 + i * 60_000 + 1, Metric.STEPS, float(i % 50), 60.0) for i in range(1440)
    ]
    engine.process(readings)
    return engine.snapshot("d")


async def restore(base: Settings, devices: int) -> dict[str, float]:
    s = _isolated(base, f"bench-restore-{uuid.uuid4().hex[:6]}")
    await _topics(s)
    snap = _snapshot()
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(s), linger_ms=50, max_batch_size=1 << 20, compression_type="gzip"
    )
    await producer.start()
    try:
        futures = []
        for i in range(devices):
            device = f"watch-{i:07d}"
            part = i % 6
            futures.append(
                await producer.send(
                    s.topics.device_state,
                    encode_state(part, i, snap),
                    key=device.encode(),
                    partition=part,
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    daemon = IngestDaemon(s)
    from aiokafka import AIOKafkaConsumer

    daemon._restorer = AIOKafkaConsumer(
        **kafka_client_kwargs(s), enable_auto_commit=False, isolation_level="read_committed"
    )
    await daemon._restorer.start()
    try:
        t0 = time.perf_counter()
        # the restore step of on_assigned (which also pauses the group consumer's partitions
        # meanwhile; there is no group consumer here)
        await daemon._restore(list(range(6)))
        elapsed = time.perf_counter() - t0
    finally:
        await daemon._restorer.stop()
    restored = len(daemon._device_partition)
    return {
        "devices": restored,
        "seconds": elapsed,
        "devices_per_s": restored / elapsed,
        "snapshot_bytes": len(snap),
    }


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "ingest"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def scaleout(base: Settings, processes: int, readings: int) -> dict[str, object]:
    s = _isolated(base, f"bench-scale{processes}-{uuid.uuid4().hex[:6]}")
    create_bucket(s)
    await _topics(s)
    devices = 300
    hours = readings / (devices * 640)
    now = int(time.time() * 1000)
    sim = FleetSimulator(
        load_scenario("normal_week"),
        devices=devices,
        seed=3,
        start_ms=now - int(hours * HOUR_MS) - HOUR_MS,
        duration_ms=int(hours * HOUR_MS),
    )
    env = settings_env(s)
    logs = [Path(tempfile.mkstemp(suffix=".log")[1]) for _ in range(processes)]
    # one transactional id per process: on one host the default (the host name) is shared
    procs = [
        _spawn({**env, "VITALSTREAM_INGEST__INSTANCE_ID": f"p{i}"}, log)
        for i, log in enumerate(logs)
    ]
    # every process joined and the group settled before the backlog arrives
    deadline = time.monotonic() + 120
    while not all("partitions assigned" in log.read_text(errors="replace") for log in logs):
        assert time.monotonic() < deadline, "daemons did not join"
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)
    t0 = time.perf_counter()
    async with KafkaSink(s.bootstrap_servers, s.topics.readings) as sink:
        n = (await produce(sim, sink)).messages
    try:
        await wait_until_committed(
            kafka_client_kwargs(s), s.topics.readings, s.ingest.group_id, timeout_s=900
        )
        elapsed = time.perf_counter() - t0
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
    per_process, restores = [], []
    for log in logs:
        text = log.read_text(errors="replace")
        m = re.search(r"records=(\d+)", text.split("ingest stopped cleanly")[-1])
        per_process.append(int(m[1]) if m else 0)
        restores += [float(x) for x in re.findall(r"restore_s=([\d.]+)", text)]
    return {
        "processes": processes,
        "records": n,
        "seconds": elapsed,
        "readings_per_s": n / elapsed,
        "per_process_records": per_process,
        "restore_s_max": max(restores, default=0.0),
        "rebalances": len(restores),
    }


async def main(args: argparse.Namespace) -> dict[str, object]:
    base = load_settings()
    await asyncio.to_thread(stack.up, base)
    r = await restore(base, args.devices)
    print(
        f"restore: {r['devices']:,.0f} devices in {r['seconds']:.2f} s "
        f"({r['devices_per_s']:,.0f}/s), snapshot {r['snapshot_bytes']:.0f} B/device",
        flush=True,
    )
    runs = []
    for k in (1, 2, 3):
        res = await scaleout(base, k, args.readings)
        runs.append(res)
        print(
            f"scale-out {k} process(es): {res['readings_per_s']:>9,.0f} readings/s total, "
            f"per process {res['per_process_records']}, max restore after rebalance "
            f"{res['restore_s_max']:.3f} s over {res['rebalances']} assignments",
            flush=True,
        )
    return {
        "benchmark": "scaleout",
        "command": "python bench/bench_scaleout.py " + " ".join(sys.argv[1:]),
        "restore": r,
        "scaleout": runs,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", type=int, default=100_000)
    p.add_argument("--readings", type=int, default=300_000)
    result = asyncio.run(main(p.parse_args()))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "scaleout.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
