"""Where the daemon waits: its event loop's idle time in a backlog, by what its loop awaits.

Run: ``.venv/bin/python bench/profile_waits.py [--mode detection] [--readings 300000]``

Produces a backlog as ``bench_e2e.py`` does (fresh topics, group and bucket; ``normal_week``
without artefacts, 200 devices), starts the daemon in this process and times it as
``bench_e2e.sustained`` does, from ready until it has consumed the backlog and stopped cleanly.
Not a benchmark of throughput (the instrumentation costs a little CPU): read the breakdown.

The event loop's thread is idle exactly while it blocks in its selector (``select``): nothing
is runnable, every task awaits I/O or a timer. Each idle interval is charged to what the
daemon's main loop was doing when it began:

- ``start``: from ready to the first records (group join, assignment, restore, first fetch);
- ``fetch``: awaiting ``getmany`` while fetching runs (no records buffered yet), split by
  whether a checkpoint is in flight meanwhile;
- ``paused``: awaiting ``getmany`` while fetching is paused by backpressure (pending points at
  ``max_pending_points``): the loop waits for the in-flight checkpoint;
- ``stop``: from the stop request to the end (the last ``getmany``, the final checkpoint,
  closing the clients).

The busy fraction is process CPU over wall time (the daemon is one thread; the bench's own
polling is a timer every 10 ms). Checkpoints are timed in their two parts: the InfluxDB write
and the Kafka transaction (dead letters, alerts, device state, offsets).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import bench_e2e

from ingest.daemon import IngestDaemon
from ingest.settings import load_settings

RESULTS = Path(__file__).parent / "results"


class WaitClock:
    """Idle time of the running event loop's selector, charged to ``self.state``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.state = "start"
        self.idle: collections.Counter[str] = collections.Counter()
        self.wall: collections.Counter[str] = collections.Counter()
        self.counts: collections.Counter[str] = collections.Counter()
        self._since = time.perf_counter()
        selector = loop._selector  # type: ignore[attr-defined]
        self._select = selector.select
        selector.select = self._timed_select
        self._selector = selector

    def _timed_select(self, timeout: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return self._select(timeout)
        finally:
            self.idle[self.state] += time.perf_counter() - started

    def enter(self, state: str) -> None:
        now = time.perf_counter()
        self.wall[self.state] += now - self._since
        self._since = now
        self.state = state

    def close(self) -> None:
        self.enter("done")
        self._selector.select = self._select


def _timed(fn: Callable[..., Awaitable[Any]], into: list[float]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    return wrapper


def instrument(daemon: IngestDaemon, clock: WaitClock) -> dict[str, list[float]]:
    """Wrap the daemon's awaits so the clock knows what its loop waits for."""
    assert daemon.consumer is not None
    # the loop's wait for records: _next_batch where it exists, getmany before it did
    owner: Any = daemon if hasattr(daemon, "_next_batch") else daemon.consumer
    name = "_next_batch" if owner is daemon else "getmany"
    getmany = getattr(owner, name)
    seen = {"records": False}

    async def timed_getmany(*args: Any, **kwargs: Any) -> Any:
        # the in-flight checkpoint: a task, or (with overlapping checkpoints) one in a record
        inflight = getattr(daemon._inflight, "task", daemon._inflight)
        if daemon._stopping.is_set():
            clock.enter("stop")
        elif not seen["records"]:
            clock.enter("start")
        elif daemon._paused:
            clock.enter("paused")
        elif inflight is not None and not inflight.done():
            clock.enter("fetch, a checkpoint in flight")
        else:
            clock.enter("fetch, no checkpoint in flight")
        batch = await getmany(*args, **kwargs)
        clock.counts["getmany"] += 1
        if not batch:
            clock.counts["getmany empty"] += 1
        else:
            seen["records"] = True
        clock.enter("stop" if daemon._stopping.is_set() else "busy")
        return batch

    setattr(owner, name, timed_getmany)
    times: dict[str, list[float]] = {"write": [], "transaction": [], "checkpoint": []}
    daemon._write_points = _timed(daemon._write_points, times["write"])  # type: ignore[method-assign]
    daemon._produce_and_commit_in_transaction = _timed(  # type: ignore[method-assign]
        daemon._produce_and_commit_in_transaction, times["transaction"]
    )
    daemon._checkpoint = _timed(daemon._checkpoint, times["checkpoint"])  # type: ignore[method-assign]
    return times


async def measure(mode: str, readings: int, devices: int) -> dict[str, Any]:
    base = load_settings()
    s, _, n = await bench_e2e._backlog(base, f"waits-{mode}", devices, readings / (devices * 640))
    daemon, task = await bench_e2e._start(s, mode)
    clock = WaitClock(asyncio.get_running_loop())
    times = instrument(daemon, clock)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    first_at = last_at = stop_at = 0.0
    while daemon.metrics._total(daemon.metrics.records) < n:
        if task.done():
            task.result()
        if not first_at and daemon.metrics._total(daemon.metrics.records) > 0:
            first_at = time.perf_counter() - t0
        await asyncio.sleep(0.01)
    last_at = time.perf_counter() - t0
    daemon.request_stop()
    clock.enter("stop")
    stop_at = time.perf_counter() - t0
    await task
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    clock.close()
    bench_e2e._bucket(s, create=False)
    m = daemon.metrics
    return {
        "mode": mode,
        "records": n,
        "readings": m._total(m.readings),
        "seconds": wall,
        "readings_per_s": m._total(m.readings) / wall,
        "cpu_s": cpu,
        "busy_fraction": cpu / wall,
        "cpu_us_per_reading": 1e6 * cpu / m._total(m.readings),
        "first_records_s": first_at,
        "last_record_s": last_at,
        "stop_s": wall - stop_at,
        "idle_s": dict(clock.idle),
        "wall_s": dict(clock.wall),
        "counts": dict(clock.counts),
        "pauses": m._total(m.pauses),
        "commits": m._total(m.commits),
        "checkpoints": {
            k: {"n": len(v), "sum_s": sum(v), "max_s": max(v, default=0.0)}
            for k, v in times.items()
        },
    }


def report(r: dict[str, Any]) -> None:
    wall = r["seconds"]
    print(
        f"{r['mode']}: {r['readings']:,.0f} readings in {wall:.2f} s = "
        f"{r['readings_per_s']:,.0f}/s; CPU {r['cpu_us_per_reading']:.2f} µs per reading; "
        f"busy {r['busy_fraction']:.0%} of the wall time"
    )
    print(
        f"  first records at {r['first_records_s']:.2f} s, last counted at "
        f"{r['last_record_s']:.2f} s, stop took {r['stop_s']:.2f} s; "
        f"{r['pauses']:.0f} pauses, {r['commits']:.0f} commits"
    )
    print("  idle (selector) seconds / wall seconds by what the main loop awaited:")
    for state in sorted(r["wall_s"], key=lambda k: -r["wall_s"][k]):
        idle = r["idle_s"].get(state, 0.0)
        print(
            f"    {state:<32} idle {idle:6.2f} s ({idle / wall:5.1%})   "
            f"wall {r['wall_s'][state]:6.2f} s"
        )
    total_idle = sum(r["idle_s"].values())
    print(f"    {'all':<32} idle {total_idle:6.2f} s ({total_idle / wall:5.1%})")
    for k, v in r["checkpoints"].items():
        mean = v["sum_s"] / v["n"] if v["n"] else 0.0
        print(
            f"  {k:<12} {v['n']:4d} x mean {1000 * mean:6.1f} ms, max {1000 * v['max_s']:6.1f} ms"
        )
    print(f"  getmany: {r['counts']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("passthrough", "detection"), default="detection")
    ap.add_argument("--readings", type=int, default=300_000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    runs = []
    for _ in range(args.rounds):
        r = asyncio.run(measure(args.mode, args.readings, args.devices))
        report(r)
        runs.append(r)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"waits-{args.mode}.json"
    command = "python bench/profile_waits.py " + " ".join(sys.argv[1:])
    out.write_text(json.dumps({"command": command, "runs": runs}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
