"""CPU per reading of the per device-minute fold (``MinuteAggregator.add``), compiled against
interpreted, measured in the same run.

The scored readings are bench_process.py's backlog (``normal_week`` without artefacts, 200
devices) through the real engine, folded in batches of 5,000 as the daemon does; the two
builds are timed alternately (process CPU, best of ``--repeats``) and must write the same
points.

    python bench/bench_minutes.py [--readings 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_process

import ingest.influx.minutes as compiled
from detectors import Engine, Scored
from detectors.engine import _interpreted
from ingest.settings import load_settings
from messages import ReadingDecoder

RESULTS = Path(__file__).parent / "results"


def fold(module: object, chunks: list[list[Scored]]) -> tuple[float, list[str]]:
    agg = module.MinuteAggregator()  # type: ignore[attr-defined]
    lines: list[str] = []
    t0 = time.process_time()
    closed = [agg.add(chunk) for chunk in chunks]
    cpu = time.process_time() - t0
    for minutes in closed:
        lines += [module.minute_line(d, m) for d, m in minutes]  # type: ignore[attr-defined]
    return cpu, lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    s = load_settings()
    decoder = ReadingDecoder()
    work = bench_process.batches(s.topics.readings, args.readings, 200)
    readings = [decoder.decode(r.value) for b in work for recs in b.values() for r in recs]
    scored = Engine(s.detection).process(readings).scored
    chunks = [scored[i : i + 5000] for i in range(0, len(scored), 5000)]
    builds = {"compiled": compiled, "interpreted": _interpreted(compiled)}
    if builds["compiled"] is builds["interpreted"]:
        raise SystemExit("ingest.influx.minutes is not compiled: run `make venv`")
    best = {name: float("inf") for name in builds}
    written: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for name, module in builds.items():
            cpu, written[name] = fold(module, chunks)
            best[name] = min(best[name], cpu)
    if written["compiled"] != written["interpreted"]:
        raise SystemExit("the two builds wrote different points")
    result = {f"{name}_us_per_reading": 1e6 * cpu / len(scored) for name, cpu in best.items()}
    for name in builds:
        print(f"{name:<12} {len(scored):,} readings  {result[f'{name}_us_per_reading']:.3f} µs")
    print(f"the same {len(written['compiled']):,} minute points from both")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "minutes.json").write_text(
        json.dumps(
            {"command": "python bench/bench_minutes.py " + " ".join(sys.argv[1:]), **result},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
