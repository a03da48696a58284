"""Where the daemon's CPU goes: a profile of one pass-through (or detection) run on the stack.

Run: ``.venv/bin/python bench/profile_daemon.py [--mode passthrough] [--readings 200000]
[--py-spy out.txt]``

Produces a backlog as ``bench_e2e.py`` does (fresh topics, group and bucket; ``normal_week``
without artefacts, 200 devices), starts the daemon in this process and profiles it from ready
until it has consumed the backlog and stopped cleanly. Not a benchmark: read the shares.

- default: cProfile (process CPU, the functions with the most own time; the profiler inflates
  every Python call, so Python code looks dearer than C code);
- ``--gc``: no profiler; the cyclic garbage collector's own time per generation
  (``gc.callbacks``), in µs of process CPU per record;
- ``--py-spy FILE``: py-spy (``pip install '.[bench]'``) samples the running process from
  outside at 250 Hz with its native frames (C extensions, the interpreter, zlib), idle samples
  left out, so the shares are of CPU time as it is spent; FILE gets py-spy's raw collapsed
  stacks, and the shares per leaf function and per daemon step are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import os
import pstats
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_e2e

from ingest.settings import load_settings

# the daemon's steps, by the frame a sample passes through (first match, outermost first)
STEPS = (
    ("_write_points", "writer: formatting the body, gzip, HTTP"),
    ("gzip_encode", "producer: gzip of Kafka batches (state, alerts)"),
    ("_produce_and_commit_in_transaction", "transactions, dead letters, alerts, state"),
    ("_consumer_record", "aiokafka: a ConsumerRecord per record"),
    ("_take_pending", "checkpoint: device-state snapshots, open minutes"),
    ("decode_many", "decode and validation (batch)"),
    ("_decode_general", "decode (general path)"),
    ("Engine.process", "the engine"),
    ("MinuteAggregator.add", "the per device-minute fold"),
    ("_add_minutes", "minute lines"),
    ("_score", "_score: formatting and bookkeeping"),
    ("_process", "_process: the per-record loop"),
    ("getmany", "aiokafka: getmany, fetch results, ConsumerRecords"),
    ("aiokafka", "aiokafka: the fetcher and the protocol"),
    ("httpx", "httpx / httpcore"),
    ("httpcore", "httpx / httpcore"),
    ("asyncio", "the event loop"),
    ("uvloop", "the event loop"),
)


# py-spy's native frames count a thread blocked in these as running: they are waits
IDLE = ("_queue_SimpleQueue_get", "epoll_wait", "wait4")


def _step(stack: str) -> str:
    for needle, name in STEPS:
        if needle in stack:
            return name
    return "other"


def summarise(collapsed: Path, top: int) -> None:
    """Shares of the samples per leaf function and per daemon step."""
    leaves: collections.Counter[str] = collections.Counter()
    steps: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        if any(wait in stack for wait in IDLE):
            continue
        total += n
        leaves[stack.rsplit(";", 1)[-1]] += n
        steps[_step(stack)] += n
    print(f"{total} samples")
    print("\nby step (first matching frame of the stack)")
    for name, n in steps.most_common():
        print(f"  {100 * n / total:5.1f} %  {name}")
    print(f"\nby leaf function (top {top})")
    for name, n in leaves.most_common(top):
        print(f"  {100 * n / total:5.1f} %  {name}")
    gc = sum(n for name, n in leaves.items() if name.startswith("gc_collect"))
    print(f"\ncyclic garbage collector (gc_collect*, from wherever): {100 * gc / total:.1f} %")


class CollectorClock:
    """Process CPU the cyclic garbage collector spends, per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.count[info["generation"]] += 1
            self.seconds[info["generation"]] += time.process_time() - self._started


async def profiled(
    mode: str, readings: int, devices: int, py_spy: Path | None, collector: bool = False
) -> cProfile.Profile | None:
    base = load_settings()
    s, _, n = await bench_e2e._backlog(base, f"prof-{mode}", devices, readings / (devices * 640))
    daemon, task = await bench_e2e._start(s, mode)
    prof = None
    spy = None
    clock = CollectorClock()
    if collector:
        gc.callbacks.append(clock)
    elif py_spy is None:
        prof = cProfile.Profile(time.process_time)
        prof.enable()
    else:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        argv = ["record", "--pid", str(os.getpid()), "--rate", "250", "--native"]
        spy = await asyncio.create_subprocess_exec(
            exe, *argv, "--format", "raw", "--output", str(py_spy), stdout=subprocess.DEVNULL
        )
        await asyncio.sleep(1.0)  # py-spy attaches
    cpu0 = time.process_time()
    while daemon.metrics._total(daemon.metrics.records) < n:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    daemon.request_stop()
    await task
    cpu = time.process_time() - cpu0
    if collector:
        gc.callbacks.remove(clock)
        for gen in range(3):
            print(
                f"gc generation {gen}: {clock.count[gen]} collections, "
                f"{1e6 * clock.seconds[gen] / n:.3f} µs per record"
            )
        print(f"collector in all: {1e6 * sum(clock.seconds) / n:.3f} µs per record")
    if prof is not None:
        prof.disable()
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output and exits
        await asyncio.wait_for(spy.wait(), timeout=60)
    print(f"{n:,} records, {1e6 * cpu / n:.2f} µs process CPU per record (profiler included)")
    bench_e2e._bucket(s, create=False)
    return prof


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("passthrough", "detection"), default="passthrough")
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--py-spy", type=Path, help="sample with py-spy; its raw stacks to this file")
    ap.add_argument("--gc", action="store_true", help="time the garbage collector only")
    args = ap.parse_args()
    prof = asyncio.run(profiled(args.mode, args.readings, args.devices, args.py_spy, args.gc))
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
    elif args.py_spy is not None:
        summarise(args.py_spy, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
