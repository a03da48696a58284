"""Full-scale load test of the daemon on the local stack: ``vitalstream loadtest`` at a
constant rate, then in step mode to find the highest sustainable rate.

The daemon runs as its own process (as in production); the load generator paces a simulated
fleet into Kafka and samples the daemon's /metrics, CPU and RSS, the group's committed offsets
and the alerts topic. Definitions of every figure: docs/loadtest.md.

    python bench/bench_loadtest.py [--devices 1000] [--rate 10000] [--duration 120]
                                   [--step-start 5000] [--step-factor 1.5] [--step-duration 40]
                                   [--max-rate 150000] [--refine 2] [--only constant|step]

Prints the two reports' tables; writes bench/results/loadtest-<UTC time>.json (both reports)
and the PNG plots and daemon logs to var/loadtest/bench/ (kept out of git).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from ingest import stack
from ingest.loadtest import report
from ingest.loadtest.runner import LoadTest, LoadTestConfig
from ingest.settings import load_settings

RESULTS = Path(__file__).parent / "results"


def run(cfg: LoadTestConfig) -> dict[str, Any]:
    settings = load_settings()
    stack.up(settings)
    r = asyncio.run(LoadTest(settings, cfg).run())
    report.write(r, cfg.out_dir)
    print(report.table(r), flush=True)
    print(flush=True)
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--rate", type=float, default=10_000.0, help="constant run: readings/s")
    p.add_argument("--duration", type=float, default=120.0, help="constant run: seconds")
    p.add_argument("--step-start", type=float, default=5000.0)
    p.add_argument("--step-factor", type=float, default=1.5)
    p.add_argument("--step-duration", type=float, default=40.0)
    p.add_argument("--max-rate", type=float, default=150_000.0)
    p.add_argument("--refine", type=int, default=2, help="bisection steps after the limit")
    p.add_argument("--only", choices=["constant", "step"], default=None)
    args = p.parse_args()
    plots = RESULTS.parent.parent / "var" / "loadtest" / "bench"
    command = "python bench/bench_loadtest.py " + " ".join(sys.argv[1:])
    out: dict[str, Any] = {
        "benchmark": "loadtest",
        "command": command,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.only in (None, "constant"):
        out["constant"] = run(
            LoadTestConfig(
                devices=args.devices,
                rate=args.rate,
                duration_s=args.duration,
                out_dir=plots,
                drain_timeout_s=300.0,
                command=command,
            )
        )
    if args.only in (None, "step"):
        out["step"] = run(
            LoadTestConfig(
                devices=args.devices,
                rate=args.step_start,
                duration_s=args.step_duration,
                step=True,
                step_factor=args.step_factor,
                max_rate=args.max_rate,
                refine=args.refine,
                out_dir=plots,
                drain_timeout_s=300.0,
                command=command,
            )
        )
        st = out["step"]
        print(
            f"highest sustainable rate: {st['highest_sustainable_rate']} readings/s; lowest "
            f"unsustainable: {st['lowest_unsustainable_rate']} ({st['limit_reason']})"
        )
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"loadtest-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
