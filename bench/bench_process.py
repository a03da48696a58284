"""CPU per record of the daemon's own per-record path, without Kafka or InfluxDB.

``IngestDaemon._process`` (decode, validate, score, format a line, bookkeeping) over batches of
simulated records exactly as ``getmany`` hands them out (same scenario as ``bench_e2e.py``'s
backlog: ``normal_week`` without artefacts, 200 devices, 6 partitions), for the pass-through
engine and the real one. What this leaves out (aiokafka's fetcher, gzip, the HTTP writes, the
event loop) is in ``bench_e2e.py`` and ``profile_daemon.py``. The figure is process CPU time
per record, best of ``--repeats``: use it to compare code before and after a change, run one
after the other on the same machine.

    python bench/bench_process.py [--readings 200000] [--repeats 3] [--profile detection]

``--profile MODE`` prints where one more run of that mode spends its time (cProfile's
internal time per function; the profiler inflates every call, so read shares, not µs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import TopicPartition

sys.path.insert(0, str(Path(__file__).parent))
import bench_e2e

from detectors import Engine
from ingest.daemon import Checkpoint, DetectionEngine, IngestDaemon
from ingest.settings import load_settings
from simulators import FleetSimulator

RESULTS = Path(__file__).parent / "results"
PARTITIONS = 6
BATCH = 5000


@dataclass(frozen=True, slots=True)
class _Record:
    """What ``_process`` reads of an aiokafka ``ConsumerRecord``."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


class _Consumer:
    def __init__(self, tps: set[TopicPartition]) -> None:
        self._tps = tps

    def assignment(self) -> set[TopicPartition]:
        return self._tps


def batches(topic: str, readings: int, devices: int) -> list[dict[TopicPartition, list[_Record]]]:
    """The backlog, partitioned by key as Kafka's default partitioner does, cut into batches."""
    from aiokafka.partitioner import murmur2

    now = int(time.time() * 1000)
    hours = readings / (devices * 640)
    sim = FleetSimulator(
        bench_e2e._backlog_scenario(),
        devices=devices,
        seed=1,
        start_ms=now - int(hours * bench_e2e.HOUR_MS) - bench_e2e.HOUR_MS,
        duration_ms=int(hours * bench_e2e.HOUR_MS),
    )
    per_part: dict[int, list[_Record]] = {p: [] for p in range(PARTITIONS)}
    for chunk in sim:
        for key, value in chunk.messages():
            assert key is not None
            p = (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
            recs = per_part[p]
            recs.append(_Record(topic, p, len(recs), now, key, value))
    out = []
    per_batch = BATCH // PARTITIONS
    longest = max(len(r) for r in per_part.values())
    for lo in range(0, longest, per_batch):
        out.append(
            {
                TopicPartition(topic, p): recs[lo : lo + per_batch]
                for p, recs in per_part.items()
                if recs[lo : lo + per_batch]
            }
        )
    return out


def run(mode: str, work: list[dict[TopicPartition, list[_Record]]]) -> tuple[float, int]:
    s = load_settings()
    engine: DetectionEngine = (
        bench_e2e.PassThroughEngine() if mode == "passthrough" else Engine(s.detection)
    )
    daemon = IngestDaemon(s, engine=engine)
    tps = {tp for b in work for tp in b}
    daemon.consumer = _Consumer(tps)  # type: ignore[assignment]
    for tp in tps:
        daemon._positions[tp] = 0
    n = 0
    t0 = time.process_time()
    for batch in work:
        daemon._process(batch)  # type: ignore[arg-type]
        n += sum(len(r) for r in batch.values())
        daemon._pending = Checkpoint()  # as a checkpoint takes it
    return time.process_time() - t0, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", choices=("passthrough", "detection"))
    args = ap.parse_args()
    work = batches(load_settings().topics.readings, args.readings, args.devices)
    result: dict[str, float] = {}
    for mode in ("passthrough", "detection"):
        best = min(run(mode, work) for _ in range(args.repeats))
        result[f"{mode}_us_per_record"] = 1e6 * best[0] / best[1]
        print(f"{mode:<12} {best[1]:,} records  {result[f'{mode}_us_per_record']:.2f} µs/record")
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run, args.profile, work)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "process.json").write_text(
        json.dumps(
            {"command": "python bench/bench_process.py " + " ".join(sys.argv[1:]), **result},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
