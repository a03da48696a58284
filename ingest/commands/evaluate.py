"""``vitalstream evaluate``: run labelled simulator scenarios through the engine and report
recall, precision, time to detect and false alerts per device-day (see docs/evaluation.md)."""

from __future__ import annotations

import argparse
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from detectors import EngineConfig
    from ingest.replay.evaluation import RunResult, say
    from ingest.settings import Settings


DEFAULT_SCENARIOS = "acute_events,illness_week,normal_week"
DEFAULT_SEEDS = "1,2,3,4,5,6,7,8,9,10"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("evaluate", help="score the detectors on labelled simulator scenarios")
    parser.add_argument(
        "--scenarios",
        default=DEFAULT_SCENARIOS,
        help=f"comma-separated names (default {DEFAULT_SCENARIOS})",
    )
    parser.add_argument(
        "--seeds",
        default=DEFAULT_SEEDS,
        help=f"comma-separated seeds per scenario (default {DEFAULT_SEEDS})",
    )
    parser.add_argument("--devices", type=int, default=None, help="override fleet size")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs (processes)")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.set_defaults(handler=run)


def _one(job: tuple[str, int, int | None, EngineConfig]) -> RunResult:
    from ingest.replay.evaluation import run_scenario

    name, seed, devices, cfg = job
    r = run_scenario(name, seed, config=cfg, devices=devices)
    say(
        f"evaluate: {name} seed {seed}: {r.readings:,} readings, {len(r.alerts)} alerts, "
        f"{r.seconds:.0f} s"
    )
    return r


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.replay.evaluation import say
    from ingest.replay.report import render

    cfg = settings.detection
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    jobs = [(name, seed, args.devices, cfg) for name in scenarios for seed in seeds]
    results: list[RunResult]
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(_one, jobs))
    else:
        results = [_one(j) for j in jobs]
    argv = (
        ["vitalstream", "evaluate", *sys.argv[2:]]
        if sys.argv[1:2] == ["evaluate"]
        else ["vitalstream", "evaluate", "--scenarios", args.scenarios, "--seeds", args.seeds]
    )
    verdict = render(results, shlex.join(argv), cfg)
    text = "\n".join(verdict.lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
        say(f"evaluate: report written to {args.out}")
    else:
        print(text)
    return 1 if (args.check and not verdict.ok) else 0
