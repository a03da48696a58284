"""``vitalstream realism --real PATH... --out docs/simulator-realism.md``: simulated fleets
(default and calibrated) next to real recordings, distributions and alert rates (see
:mod:`ingest.replay.realism_report`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the settings import the engine: not for --help
    from ingest.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "realism",
        help="compare simulated fleets with real recordings (distributions, alert rates)",
    )
    parser.add_argument(
        "--real",
        nargs="+",
        type=Path,
        required=True,
        metavar="PATH",
        help="replay CSVs (files or folders; one set per PATH) of real wearers",
    )
    parser.add_argument(
        "--calibrations",
        default="default,fitbit",
        help="simulator calibrations to compare (simulators.calibration; default default,fitbit)",
    )
    parser.add_argument("--scenario", default="normal_week", help="scenario to simulate")
    parser.add_argument("--devices", type=int, default=40, help="simulated devices (default 40)")
    parser.add_argument("--days", type=float, default=14.0, help="simulated days (default 14)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import sys
    import tempfile

    from ingest.replay.evaluation import say
    from ingest.replay.real_evaluation import evaluate_path, replay_files
    from ingest.replay.real_report import keep_notes
    from ingest.replay.realism import features_of_files, simulate_to_csv
    from ingest.replay.realism_report import Side, render, report_json
    from ingest.replay.replay import ReplayError
    from ingest.replay.report import command_line, write_report
    from simulators.calibration import CALIBRATIONS, SOURCES

    cfg = settings.detection
    names = [c.strip() for c in args.calibrations.split(",") if c.strip()]
    unknown = [n for n in names if n not in CALIBRATIONS]
    if unknown:
        print(f"vitalstream realism: unknown calibrations {unknown}", file=sys.stderr)
        return 2
    real = []
    try:
        for path in args.real:
            files, _ = replay_files(path)
            s = evaluate_path(path, config=cfg)
            real.append(Side(s.name, features_of_files(files), s))
            say(f"realism: {s.name}: {len(files)} files measured")
    except ReplayError as exc:
        print(f"vitalstream realism: {exc}", file=sys.stderr)
        return 2
    sims = []
    with tempfile.TemporaryDirectory(prefix="vitalstream-realism-") as tmp:
        for name in names:
            csv_path = Path(tmp) / f"sim-{name}.csv.gz"
            rows = simulate_to_csv(
                csv_path,
                calibration=name,
                scenario=args.scenario,
                devices=args.devices,
                days=args.days,
                seed=args.seed,
            )
            s = evaluate_path(csv_path, config=cfg)
            label = f"sim {name}"
            s.name = label
            sims.append(Side(label, features_of_files([csv_path]), s))
            say(f"realism: {label}: {rows:,} rows, {s.person_days} person-days")
    command = command_line(
        ["vitalstream", "realism", *sys.argv[2:]]
        if sys.argv[1:2] == ["realism"]
        else ["vitalstream", "realism", "--real", *map(str, args.real)]
    )
    notes = [
        f"Simulated: scenario `{args.scenario}` (no injected events), {args.devices} devices,"
        f" {args.days:g} days, seed {args.seed}, start 2026-01-01, one fleet per calibration"
        f" ({', '.join(f'`{n}`' for n in names)}; `simulators/calibration.py`). Each fleet is"
        " written as a replay CSV and measured exactly like the real files.",
        "",
        "Where the `fitbit` calibration's numbers come from:",
        "",
        *[f"- `{k}`: {v}" for k, v in SOURCES.items()],
    ]
    previous = args.out.read_text() if args.out is not None and args.out.exists() else None
    text = "\n".join(render(real, sims, command, notes, keep_notes(previous)))
    data = report_json(real, sims, command) if args.json is not None else None
    write_report("realism", text, args.out, data, args.json)
    return 0
