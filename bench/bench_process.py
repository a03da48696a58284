"""CPU per record of the daemon's own per-record path, without Kafka or InfluxDB.

``IngestDaemon._process`` (decode, validate, score, format a line, bookkeeping) over batches of
simulated records exactly as ``getmany`` hands them out (same scenario as ``bench_e2e.py``'s
backlog: ``normal_week`` without artefacts, 200 devices, 6 partitions), for the pass-through
engine and the real one. What this leaves out (aiokafka's fetcher, gzip, the HTTP writes, the
event loop) is in ``bench_e2e.py`` and ``profile_daemon.py``. The figure is process CPU time
per record, best of ``--repeats``: use it to compare code before and after a change, run one
after the other on the same machine.

    python bench/bench_process.py [--readings 200000] [--repeats 3] [--profile detection]
                                  [--interpreted] [--steps]

``--profile MODE`` prints where one more run of that mode spends its time (cProfile's
internal time per function; the profiler inflates every call, so read shares, not µs).
``--interpreted`` also runs both modes with the interpreted build of the daemon's fetch pass
(:mod:`ingest.fetch_pass`), alternating with the compiled one in the same process.
``--steps`` times each step of the path alone over the same records (the batch decode and its
parts, the fetch pass, the engines, the lines, the minute fold), CPU per record, best of
``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from aiokafka import TopicPartition

sys.path.insert(0, str(Path(__file__).parent))
import bench_e2e

import ingest.daemon
import ingest.fetch_pass
from detectors import Engine
from detectors.engine import _interpreted
from ingest.daemon import Checkpoint, DetectionEngine, IngestDaemon
from ingest.influx.line_protocol import reading_line
from ingest.influx.minutes import MinuteAggregator
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


def _use(fetch_pass: ModuleType) -> None:
    """Make the daemon run this build of its fetch pass."""
    for name in ("record_values", "scan_partition", "format_points"):
        setattr(ingest.daemon, name, getattr(fetch_pass, name))


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


def steps(work: list[dict[TopicPartition, list[_Record]]], repeats: int) -> dict[str, float]:
    """Each step of the per-record path timed alone over the same records (µs per record)."""
    s = load_settings()
    daemon = IngestDaemon(s, engine=bench_e2e.PassThroughEngine())
    decoder, pseudo = daemon.decoder, daemon.pseudo
    parts = [recs for batch in work for recs in batch.values()]
    n = sum(map(len, parts))
    now = int(time.time() * 1000)
    out: dict[str, float] = {}

    def timed(name: str, step: Callable[[], object]) -> None:
        best = min(_cpu(step) for _ in range(repeats))
        out[name] = 1e6 * best / n
        print(f"  {name:<44} {out[name]:.3f} µs/record")

    compiled, interpreted = ingest.fetch_pass, _interpreted(ingest.fetch_pass)
    values = [compiled.record_values(recs) for recs in parts]
    joined = [b"\n".join(v) for v in values]
    wires = [decoder._decoder.decode_lines(j) for j in joined]
    oldest, newest = now - decoder.max_age_ms, now + decoder.max_future_ms
    fast = [decoder.decode_many(v, now_ms=now) for v in values]
    passthrough, engine = bench_e2e.PassThroughEngine(), Engine(s.detection)
    scored = [passthrough.process(f).scored for f in fast]
    detected = [engine.process(f).scored for f in fast]
    print(f"each step alone over {n:,} records ({len(parts)} partition fetches), best of {repeats}")
    for label, fp in (("compiled", compiled), ("interpreted", interpreted)):
        timed(f"record values ({label})", lambda fp=fp: [fp.record_values(r) for r in parts])
    timed(
        "decode_many (the batch decode)",
        lambda: [decoder.decode_many(v, now_ms=now) for v in values],
    )
    timed("  join", lambda: [b"\n".join(v) for v in values])
    timed("  the longest message (max of len)", lambda: [max(map(len, v)) for v in values])
    timed(
        "  newline, separator and bracket counts",
        lambda: [(j.count(b"\n"), j.count(b"}\n{"), j.count(b"["), j.count(b"{")) for j in joined],
    )
    timed("  decode_lines (msgspec)", lambda: [decoder._decoder.decode_lines(j) for j in joined])
    timed(
        "  validation (_validate per message)",
        lambda: [[decoder._validate(w, oldest, newest) for w in ws] for ws in wires],
    )
    for label, fp in (("compiled", compiled), ("interpreted", interpreted)):

        def scan(fp: Any = fp) -> None:
            for recs, f in zip(parts, fast, strict=True):
                fp.scan_partition(recs, f, {}, 2**61, None, None, [], [], [])

        timed(f"scan_partition ({label})", scan)
    timed("engine: pass-through", lambda: [passthrough.process(f) for f in fast])

    def detect() -> None:
        fresh = Engine(s.detection)
        for f in fast:
            fresh.process(f)

    timed("engine: detection", detect)
    for label, fp in (("compiled", compiled), ("interpreted", interpreted)):
        timed(
            f"format_points ({label})",
            lambda fp=fp: [
                fp.format_points(sc, recs, pseudo, reading_line)
                for sc, recs in zip(scored, parts, strict=True)
            ],
        )

    def fold() -> None:
        minutes = MinuteAggregator()
        for sc in detected:
            minutes.add(sc)

    timed("minute fold (detection's scores)", fold)
    return out


def _cpu(step: Callable[[], object]) -> float:
    t0 = time.process_time()
    step()
    return time.process_time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", choices=("passthrough", "detection"))
    ap.add_argument("--interpreted", action="store_true")
    ap.add_argument("--steps", action="store_true")
    args = ap.parse_args()
    work = batches(load_settings().topics.readings, args.readings, args.devices)
    result: dict[str, float] = {}
    builds = {"": ingest.fetch_pass}
    if args.interpreted:
        builds["_interpreted"] = _interpreted(ingest.fetch_pass)
    for mode in ("passthrough", "detection"):
        best: dict[str, tuple[float, int]] = {}
        for _ in range(args.repeats):
            for suffix, build in builds.items():
                _use(build)
                cpu, n = run(mode, work)
                if suffix not in best or cpu < best[suffix][0]:
                    best[suffix] = (cpu, n)
        _use(ingest.fetch_pass)
        for suffix, (cpu, n) in best.items():
            name = f"{mode}{suffix}"
            result[f"{name}_us_per_record"] = 1e6 * cpu / n
            print(f"{name:<24} {n:,} records  {result[f'{name}_us_per_record']:.2f} µs/record")
    if args.steps:
        result.update({f"step {k}": v for k, v in steps(work, args.repeats).items()})
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
