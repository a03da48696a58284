"""What the illness kind adds to the engine's per-reading cost, before/after in the same run.

Run: ``.venv/bin/python bench/bench_illness_features.py [--base 426fcf9] [--devices 40]
[--hours 48] [--rounds 5]``

The illness kind's work per reading is four float additions in the compiled per-reading path
(:mod:`detectors.reading_path`), per hour a fold into the local day and night, and per night and
device one River model update (:mod:`detectors.kinds.illness`). Its cost is measured as
``bench/bench_detection.py`` measures the engine (``run_engine_only``: :meth:`Engine.process` on
decoded batches of 10k, process CPU time per reading, compiled path only) on two source trees
in the same run:

- **before**: the commit ``--base`` (the tree without the illness kind), exported with
  ``git archive`` to a scratch directory and its compiled path built there (``pip wheel``,
  the same compiler flags as ``make venv``);
- **after**: this tree.

The same wire messages (``normal_week``, as ``bench_detection.py`` makes them; 48 h, so every
device closes days and nights and its River model runs) are written once and each tree measures
them in a subprocess of its own, alternating before/after for ``--rounds`` rounds; the best
(least disturbed) round of each counts. Also the per-device state: the snapshot bytes with and
without the illness kind and the model's bytes. Prints the figures and writes
``bench/results/illness_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")

# runs inside each tree: the engine-only measurement of bench_detection.py, one round, plus the
# per-device state after the stream
_MEASURE = r"""
import json, sys
sys.path.insert(0, sys.argv[2])  # this tree's bench helpers; detectors from the measured tree
from bench_detection import decoded_batches, engine_cpu_s
from detectors import Engine, EngineConfig
batches = decoded_batches(open(sys.argv[1], "rb").read().split(b"\n"))
n = sum(len(b) for b in batches)
engine = Engine(EngineConfig())
cpu = engine_cpu_s(engine, batches)
sizes = [len(engine.snapshot(d)) for d in engine.device_ids()]
models = [
    len(engine.modules[name].dump_model(m))
    for d in engine.device_ids()
    for name, m in getattr(engine._devices[d], "models", {}).items()
]
print(json.dumps({"us": 1e6 * cpu / n, "readings": n, "compiled": engine.compiled,
                  "snapshot_max": max(sizes), "model_max": max(models, default=0)}))
"""


def build_base(commit: str, where: Path) -> Path:
    """Export ``commit`` to ``where`` and build its compiled per-reading path there."""
    tree = where / f"base-{commit}"
    if (tree / "detectors").exists() and list((tree / "detectors").glob("reading_path*.so")):
        return tree
    tree.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    wheels = where / f"wheel-{commit}"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(tree)],
        check=True,
    )
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith("detectors/reading_path") and name.endswith(".so"):
                (tree / name).write_bytes(z.read(name))
    return tree


def measure(tree: Path, msgs_path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(msgs_path), str(Path(__file__).parent)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise RuntimeError(f"measuring {tree} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="426fcf9", help="the commit without the illness kind")
    ap.add_argument("--devices", type=int, default=30)
    ap.add_argument("--hours", type=float, default=48.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scratch", default=str(Path(tempfile.gettempdir()) / "vitalstream-bench"))
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_detection import messages

    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    base = build_base(args.base, scratch)
    msgs = messages(args.devices, args.hours)
    msgs_path = scratch / "illness-cost-messages.jsonl"
    assert not any(b"\n" in m for m in msgs)  # one wire message per line
    msgs_path.write_bytes(b"\n".join(msgs))
    print(f"{len(msgs):,} wire messages, {args.devices} devices, {args.hours} h; base {args.base}")
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for i in range(args.rounds):
        for name, tree in (("before", base), ("after", ROOT)):
            r = measure(tree, msgs_path)
            runs[name].append(r)
            print(f"  round {i + 1} {name:>6}: {r['us']:.3f} us per reading")
    best = {k: min(v, key=lambda r: r["us"]) for k, v in runs.items()}
    added = 100.0 * (best["after"]["us"] / best["before"]["us"] - 1.0)
    print(
        f"engine alone, compiled, best of {args.rounds}: before {best['before']['us']:.3f} us, "
        f"after {best['after']['us']:.3f} us per reading: {added:+.1f} % (target <= 5 %)"
    )
    print(
        f"per-device snapshot (max): before {best['before']['snapshot_max']} B, after "
        f"{best['after']['snapshot_max']} B; illness model {best['after']['model_max']} B"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "illness_cost.json"
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "args": vars(args),
                "messages": len(msgs),
                "runs": runs,
                "best": best,
                "added_pct": added,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
