"""``vitalstream loadtest``: drive the real stack with a paced simulated fleet and the daemon
running as its own process; report throughput, lag, latency, dead letters, daemon CPU/RSS and
detection recall (JSON + PNG plots + a printed table). ``--step`` raises the rate until the
consumer lag grows without bound. See ``docs/loadtest.md``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "loadtest",
        help="load-test the daemon on the local stack (throughput, lag, latency, recall)",
        description=__doc__,
    )
    p.add_argument("--devices", type=int, default=1000, help="simulated wearables")
    p.add_argument(
        "--rate",
        type=float,
        default=5000.0,
        help="offered readings/s (step mode: the first step's rate)",
    )
    p.add_argument(
        "--duration", type=float, default=30.0, help="seconds of load (step mode: per step)"
    )
    p.add_argument("--scenario", default="loadtest", help="named scenario or TOML file")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument(
        "--step",
        action="store_true",
        help="raise the rate step by step until lag grows without bound",
    )
    p.add_argument("--step-factor", type=float, default=1.5, help="rate multiplier per step")
    p.add_argument("--max-rate", type=float, default=200_000.0, help="step mode: last rate")
    p.add_argument(
        "--refine",
        type=int,
        default=2,
        help="step mode: bisection steps between the last sustainable and the first "
        "unsustainable rate",
    )
    p.add_argument(
        "--lag-tolerance",
        type=float,
        default=0.05,
        help="a step is sustainable while lag grows < this x rate per s",
    )
    p.add_argument("--sample-interval", type=float, default=1.0, help="seconds between samples")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the backlog after the load",
    )
    p.add_argument(
        "--warmup-min",
        type=float,
        default=60.0,
        help="events starting in the first minutes of event time are not scored "
        "for recall (detectors need baselines)",
    )
    p.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="partitions of the load-test topic (default: topics.partitions)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("var/loadtest"),
        help="directory for the JSON report, PNG plots and the daemon log",
    )
    p.add_argument("--no-plots", action="store_true")
    p.add_argument(
        "--keep", action="store_true", help="keep the load test's topics and InfluxDB bucket"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # on use: every command module loads with the parser (~20 ms)

    from ingest import stack
    from ingest.loadtest import report
    from ingest.loadtest.runner import LoadTest, LoadTestConfig

    if args.devices < 1 or args.rate <= 0 or args.duration <= 0:
        raise SystemExit("vitalstream loadtest: --devices, --rate and --duration must be > 0")
    stack.up(settings)
    cfg = LoadTestConfig(
        devices=args.devices,
        rate=args.rate,
        duration_s=args.duration,
        scenario=args.scenario,
        seed=args.seed,
        step=args.step,
        step_factor=args.step_factor,
        max_rate=args.max_rate,
        lag_tolerance=args.lag_tolerance,
        refine=args.refine,
        sample_interval_s=args.sample_interval,
        drain_timeout_s=args.drain_timeout,
        warmup_min=args.warmup_min,
        partitions=args.partitions,
        out_dir=args.out,
        keep=args.keep,
        plots=not args.no_plots,
        config_file=getattr(args, "config", None),
        command="vitalstream " + " ".join(sys.argv[1:]),
    )
    result = asyncio.run(LoadTest(settings, cfg).run())
    files = report.write(result, cfg.out_dir, plots=cfg.plots)
    print(report.table(result))
    print("  files                  " + "  ".join(files.values()))
    return 0 if result["daemon"]["exit_code"] == 0 else 1
