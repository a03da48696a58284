"""How fast ``vitalstream --help`` and each subcommand's ``--help`` start (target: <= 0.3 s).

Run: ``.venv/bin/python bench/bench_cli.py [--runs 7]``

Each command line is started ``--runs`` times as a child process, wall time from spawn to exit
(interpreter start, imports, argument parsing). Baselines in the same run: the bare interpreter
(``python -c pass``) and the interpreter importing what a command needs to run (settings,
engine, numpy, pydantic), the cost ``--help`` used to pay before commands imported on use.
Prints figures and writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv/bin/python")
VS = str(ROOT / ".venv/bin/vitalstream")
TARGET_S = 0.3


def commands() -> list[str]:
    # a module named after a Python keyword ends in "_" (import_.py registers "import")
    names = sorted(
        p.stem.rstrip("_")
        for p in (ROOT / "ingest" / "commands").glob("*.py")
        if p.stem != "__init__"
    )
    return ["", *names]


def timed(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    rows: dict[str, list[float]] = {
        "python -c pass": timed([PY, "-c", "pass"], args.runs),
        "python -c 'import ingest.settings, detectors'": timed(
            [PY, "-c", "import ingest.settings, detectors, ingest.replay.replay"], args.runs
        ),
    }
    for cmd in commands():
        argv = [VS, *([cmd] if cmd else []), "--help"]
        rows[" ".join(["vitalstream", *argv[1:]])] = timed(argv, args.runs)
    width = max(len(k) for k in rows)
    print(f"{'command':<{width}}  median   max  (s, {args.runs} runs)")
    worst = 0.0
    for k, v in rows.items():
        print(f"{k:<{width}}  {statistics.median(v):6.3f} {max(v):6.3f}")
        if k.startswith("vitalstream"):
            worst = max(worst, statistics.median(v))
    print(f"slowest --help median: {worst:.3f} s (target {TARGET_S} s)")
    res = ROOT / "bench" / "results" / "cli.json"
    res.parent.mkdir(exist_ok=True)
    res.write_text(
        json.dumps(
            {
                "bench": "cli",
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "host": platform.node(),
                "load_avg": os.getloadavg(),
                "runs": args.runs,
                "seconds": rows,
                "slowest_help_median_s": worst,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"-> {res.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
