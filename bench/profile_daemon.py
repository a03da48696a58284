"""Where the daemon's CPU goes: cProfile of one pass-through (or detection) run on the stack.

Run: ``.venv/bin/python bench/profile_daemon.py [--mode passthrough] [--readings 200000]``

Produces a backlog as ``bench_e2e.py`` does (fresh topics, group and bucket; ``normal_week``
without artefacts, 200 devices), starts the daemon in this process, profiles it (process CPU)
from ready until it has consumed the backlog and stopped cleanly, and prints the functions with
the most own time. Not a benchmark (the profiler inflates every Python call): read the shares.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_e2e

from ingest.settings import load_settings


async def profiled(mode: str, readings: int, devices: int) -> cProfile.Profile:
    base = load_settings()
    prof = cProfile.Profile(time.process_time)
    s, _, n = await bench_e2e._backlog(base, f"prof-{mode}", devices, readings / (devices * 640))
    daemon, task = await bench_e2e._start(s, mode)
    prof.enable()
    while daemon.metrics._total(daemon.metrics.records) < n:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    daemon.request_stop()
    await task
    prof.disable()
    bench_e2e._bucket(s, create=False)
    return prof


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("passthrough", "detection"), default="passthrough")
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    prof = asyncio.run(profiled(args.mode, args.readings, args.devices))
    pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
