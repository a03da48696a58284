"""``vitalstream evaluate``: run labelled simulator scenarios through the engine and report
recall, precision, time to detect and false alerts per device-day (see docs/evaluation.md);
with ``--real PATH...``, replay real recordings instead and report alerts per person-day (see
docs/evaluation-real.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import ConfigError

if TYPE_CHECKING:
    from detectors import EngineConfig
    from ingest.replay.evaluation import RunResult
    from ingest.settings import Settings

DEFAULT_SCENARIOS = "acute_events,illness_week,illness_cohort,normal_week"
DEFAULT_SEEDS = "1,2,3,4,5,6,7,8,9,10"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="score the detectors on labelled simulator scenarios, or on real recordings (--real)",
    )
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
    parser.add_argument(
        "--real",
        nargs="+",
        type=Path,
        default=None,
        metavar="PATH",
        help="replay CSVs (files, or folders of them; one set per PATH) of real wearers: "
        "report alerts per person-day instead of simulator scores",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="with --real: also write JSON"
    )
    parser.add_argument(
        "--timezone",
        action="append",
        default=[],
        metavar="[SET=]ZONE",
        help="with --real: the wearers' local time zone, an IANA name (Europe/Oslo) or a fixed "
        "offset (+01:00), for every set or for the set named SET (its folder or file name); "
        "repeatable; default: the configured detection.local_time.timezone; write a negative "
        "offset as --timezone=-07:00",
    )
    parser.add_argument(
        "--min-hours",
        type=float,
        default=12.0,
        help="with --real: hours of data that make a day a person-day (default 12)",
    )
    parser.set_defaults(handler=run)


def _one(job: tuple[str, int, int | None, EngineConfig]) -> RunResult:
    from ingest.replay.evaluation import run_scenario, say

    name, seed, devices, cfg = job
    r = run_scenario(name, seed, config=cfg, devices=devices)
    say(
        f"evaluate: {name} seed {seed}: {r.readings:,} readings, {len(r.alerts)} alerts, "
        f"{r.seconds:.0f} s"
    )
    return r


def _command(args: argparse.Namespace) -> str:
    from ingest.replay.report import command_line

    if sys.argv[1:2] == ["evaluate"]:
        return command_line(["vitalstream", "evaluate", *sys.argv[2:]])
    if args.real:
        return command_line(["vitalstream", "evaluate", "--real", *map(str, args.real)])
    return command_line(
        ["vitalstream", "evaluate", "--scenarios", args.scenarios, "--seeds", args.seeds]
    )


def run_real(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.replay.evaluation import say
    from ingest.replay.real_evaluation import evaluate_path, set_name
    from ingest.replay.real_report import keep_notes, render_markdown, report_json
    from ingest.replay.replay import ReplayError, in_time_zone
    from ingest.replay.report import write_report

    # every set's configuration first: a misspelt zone or set fails before hours of replay
    zones: dict[str | None, str] = {}
    for spec in args.timezone:
        name, sep, zone = spec.rpartition("=")
        zones[name if sep else None] = zone
    names = [set_name(p) for p in args.real]
    unknown = sorted(n for n in zones if n is not None and n not in names)
    if unknown:
        raise ConfigError(f"--timezone: no set named {unknown[0]!r} among --real ({names})")
    configs = []
    for name in names:
        try:
            configs.append(in_time_zone(settings.detection, zones.get(name, zones.get(None))))
        except ValueError as exc:
            raise ConfigError(f"--timezone: {exc}") from None
    sets = []
    for path, config in zip(args.real, configs, strict=True):
        try:
            s = evaluate_path(path, config=config, min_hours=args.min_hours)
        except ReplayError as exc:
            print(f"vitalstream evaluate: {exc}", file=sys.stderr)
            return 2
        say(
            f"evaluate: {s.name}: {len(s.people)} people, {s.person_days} person-days, "
            f"{s.readings:,} readings in {s.seconds:.1f} s"
        )
        sets.append(s)
    command = _command(args)
    previous = args.out.read_text() if args.out is not None and args.out.exists() else None
    text = render_markdown(sets, command, args.min_hours, keep_notes(previous))
    data = report_json(sets, command, args.min_hours) if args.json is not None else None
    write_report("evaluate", text, args.out, data, args.json)
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.real:
        return run_real(args, settings)
    from concurrent.futures import ProcessPoolExecutor

    from ingest.replay.report import render, write_report

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
    verdict = render(results, _command(args), cfg)
    write_report("evaluate", "\n".join(verdict.lines) + "\n", args.out)
    return 1 if (args.check and not verdict.ok) else 0
