"""Benchmark ``vitalstream replay`` on a multi-million-row gzip CSV against a naive pipeline.

Run: ``.venv/bin/python bench/bench_replay.py [--devices 100] [--hours 36] [--rounds 3]
[--naive-rows 300000]``

The input is a simulator export (``normal_week``, ``--devices`` wearers over ``--hours``, epoch-ms
timestamps), generated once and cached in ``~/.cache/vitalstream/bench/``. Contenders, in the same
run, alternating rounds:

- ``replay``: ``vitalstream replay FILE --out ALERTS --quiet`` as a child process, timed whole
  (interpreter start, imports, file read and decompression included): the columnar path. The
  project's modules are byte-compiled first, as an install does.
- ``naive``: what a user writes first, in this process, file read included:
  ``csv.DictReader`` over the gzip file -> a pydantic model per row -> River ``EWMean`` and
  ``EWVar`` per device and metric -> an ``influxdb_client.Point`` per row, serialised to line
  protocol as a write would (as in ``bench_detection.py``'s naive pipeline). Measured on the first
  ``--naive-rows`` rows (it is slow; its rate does not depend on the length).

Once per run: the row-at-a-time path (today's reference, ``ingest.replay.replay.replay`` over
``read_rows``) over the whole file, to check the alerts are the same bytes and for its rate; and
a breakdown of the columnar path's process CPU per stage (read + parse, reorder, the engine's
columnar entry point), one stage after the other in this process.

Rates are rows per second of wall time (the machine is shared: compare ratios within one run);
process CPU per row (user + sys, both cores) is printed beside them, as it depends less on load.
Prints figures and writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "vitalstream" / "bench"
START = "2026-01-01T00:00:00Z"


def input_file(devices: int, hours: int) -> Path:
    path = CACHE / f"replay-normal_week-{devices}x{hours}h.csv.gz"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} (once)", flush=True)
        tmp = path.with_name("tmp-" + path.name)
        subprocess.run(
            [
                str(ROOT / ".venv/bin/vitalstream"),
                "simulate",
                "--scenario",
                "normal_week",
                "--devices",
                str(devices),
                "--duration",
                f"{hours}h",
                "--start",
                START,
                "--out",
                str(tmp),
                "--quiet",
            ],
            check=True,
        )
        tmp.rename(path)
        tmp.with_name(tmp.name.replace(".csv.gz", ".labels.ndjson")).unlink(missing_ok=True)
    return path


def byte_compile() -> None:
    """Byte-compile the project's packages, as installing them does: with
    ``PYTHONDONTWRITEBYTECODE`` set (as on the shared machine) an editable install never writes
    its bytecode, and every replay process would compile its ~70 modules from source (0.05-0.1 s
    of CPU), which no installed copy does."""
    import compileall

    for package in ("detectors", "ingest", "messages", "simulators"):
        compileall.compile_dir(ROOT / package, quiet=1)


def run_replay(path: Path, out: Path) -> dict[str, Any]:
    """The command, whole process: wall time and the child's CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/vitalstream"), "replay", str(path), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = int(proc.stderr.split(" rows")[0].split()[-1].replace(",", ""))
    return {"rows": rows, "wall_s": wall, "cpu_s": cpu, "rows_per_s": rows / wall}


def run_naive(path: Path, limit: int) -> dict[str, Any]:
    from influxdb_client import Point, WritePrecision
    from pydantic import BaseModel
    from river import stats

    class Row(BaseModel):
        device_id: str
        ts: int
        metric: str
        value: float | str

    means: dict[tuple[str, str], Any] = {}
    variances: dict[tuple[str, str], Any] = {}
    points = 0
    lines: list[str] = []
    t0 = time.perf_counter()
    c0 = time.process_time()
    with gzip.open(path, "rt", newline="") as f:
        for i, raw in enumerate(csv.DictReader(f)):
            if i >= limit:
                break
            row = Row.model_validate(raw)
            value = row.value if isinstance(row.value, float) else 0.0
            key = (row.device_id, row.metric)
            mean = means.get(key)
            if mean is None:
                mean = means[key] = stats.EWMean(fading_factor=0.05)
                variances[key] = stats.EWVar(fading_factor=0.05)
            var = variances[key]
            m, v = mean.get(), var.get()
            z = (value - m) / v**0.5 if v > 0 else 0.0
            mean.update(value)
            var.update(value)
            point = (
                Point("vitals")
                .tag("device_id", row.device_id)
                .tag("metric", row.metric)
                .field("value", value)
                .field("z", z)
                .time(row.ts, WritePrecision.MS)
            )
            lines.append(point.to_line_protocol())  # what a write would send
            if len(lines) >= 5000:
                lines.clear()
            points += 1
    wall = time.perf_counter() - t0
    return {
        "rows": points,
        "wall_s": wall,
        "cpu_s": time.process_time() - c0,
        "rows_per_s": points / wall,
    }


def run_row_path(path: Path) -> tuple[dict[str, Any], bytes]:
    from ingest.replay.replay import ReplayStats, open_text, read_rows, replay

    alerts = io.BytesIO()
    st = ReplayStats()
    t0 = time.perf_counter()
    with open_text(path) as text:
        replay(read_rows(text, st), alerts, stats=st)
    wall = time.perf_counter() - t0
    return {"rows": st.rows, "wall_s": wall, "rows_per_s": st.rows / wall}, alerts.getvalue()


def breakdown(path: Path) -> dict[str, float]:
    """Process CPU per stage of the columnar path, in this process, one stage after the other:
    read + parse, reorder, the engine's columnar entry point."""
    import numpy as np

    from detectors import Engine, EngineConfig
    from ingest.replay import columnar
    from ingest.replay.replay import ReplayStats, parse_ts

    columnar.keep_memory()  # as the command does
    clock = time.process_time
    spent = {"read_parse": 0.0, "reorder": 0.0, "engine": 0.0}
    st = ReplayStats()
    t = clock()
    reader = columnar.ColumnReader(path, st.skip, parse_ts=parse_ts)
    state = columnar.ReleaseState(10 * 60_000)
    spent["read_parse"] += clock() - t
    engine = Engine(EngineConfig())
    blocks = iter(reader)
    rows = 0
    while True:
        t = clock()
        block = next(blocks, None)
        spent["read_parse"] += clock() - t
        t = clock()
        rel = columnar.release(block, state) if block is not None else columnar.flush(state)
        spent["reorder"] += clock() - t
        t = clock()
        for lo in range(0, len(rel.ts), 10_000):
            hi = min(lo + 10_000, len(rel.ts))
            n = hi - lo
            outputs = (np.empty(n), np.empty(n), np.empty(n, np.int8))
            engine.process_columns(reader.device_ids, *columnar.columns(rel, lo, hi), *outputs)
            rows += n
        spent["engine"] += clock() - t
        if block is None:
            break
    spent["rows"] = float(rows)
    return spent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--hours", type=int, default=36)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--naive-rows", type=int, default=300_000)
    args = ap.parse_args()
    path = input_file(args.devices, args.hours)
    byte_compile()
    out = CACHE / "bench-replay-alerts.ndjson"
    replays, naives = [], []
    for r in range(args.rounds):
        replays.append(run_replay(path, out))
        naives.append(run_naive(path, args.naive_rows))
        print(
            f"round {r + 1}: replay {replays[-1]['rows_per_s']:,.0f} rows/s "
            f"({replays[-1]['rows']:,} rows, {replays[-1]['wall_s']:.2f} s wall, "
            f"{replays[-1]['cpu_s']:.2f} s CPU); naive {naives[-1]['rows_per_s']:,.0f} rows/s",
            flush=True,
        )
    row_path, row_alerts = run_row_path(path)
    same = row_alerts == out.read_bytes()
    parts = breakdown(path)
    rate = statistics.median(x["rows_per_s"] for x in replays)
    naive = statistics.median(x["rows_per_s"] for x in naives)
    rows = replays[0]["rows"]
    cpu = statistics.median(x["cpu_s"] for x in replays)
    print(f"\ninput: {path.name}, {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB gzip")
    print(f"replay (columnar, whole process): {rate:>10,.0f} rows/s (median of {args.rounds})")
    print(f"  process CPU per row            : {cpu / rows * 1e6:>10.2f} us (both cores)")
    print(f"row path (today's reference)    : {row_path['rows_per_s']:>10,.0f} rows/s")
    naive_cpu = statistics.median(x["cpu_s"] / x["rows"] for x in naives)
    print(f"naive pipeline                  : {naive:>10,.0f} rows/s")
    print(f"  process CPU per row            : {naive_cpu * 1e6:>10.2f} us")
    print(f"replay / naive                  : {rate / naive:>10.1f}x")
    print(f"replay / naive, CPU per row     : {naive_cpu / (cpu / rows):>10.1f}x")
    print(f"replay / row path               : {rate / row_path['rows_per_s']:>10.1f}x")
    print(f"alerts identical to row path    : {same}")
    n = parts["rows"]
    print("columnar CPU per row by stage (us):")
    for k in ("read_parse", "reorder", "engine"):
        print(f"  {k:<16} {parts[k] / n * 1e6:6.2f}")
    result = {
        "bench": "replay",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "input": {"file": path.name, "rows": rows, "gzip_bytes": path.stat().st_size},
        "replay_runs": replays,
        "naive_runs": naives,
        "row_path": row_path,
        "replay_rows_per_s": rate,
        "naive_rows_per_s": naive,
        "ratio_vs_naive": rate / naive,
        "cpu_us_per_row": {"replay": cpu / rows * 1e6, "naive": naive_cpu * 1e6},
        "cpu_ratio_vs_naive": naive_cpu / (cpu / rows),
        "ratio_vs_row_path": rate / row_path["rows_per_s"],
        "alerts_identical": same,
        "cpu_us_per_row_by_stage": {k: v / n * 1e6 for k, v in parts.items() if k != "rows"},
    }
    res = ROOT / "bench" / "results" / "replay.json"
    res.parent.mkdir(exist_ok=True)
    res.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {res.relative_to(ROOT)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
