"""CPU per reading of the detection engine alone: ``Engine.process`` and ``Engine.process_columns``.

Run: ``.venv/bin/python bench/bench_engine.py [--devices 30] [--hours 12] [--repeats 5]``

The readings are a ``normal_week`` and an ``acute_events`` fleet (``--devices`` each, ``--hours``
of simulated time, seeds 11 and 12, delivery order: the acute events, the artefacts' duplicates
and late readings included; decoded by :class:`messages.ReadingDecoder`, dead letters left out),
in batches of 5,000 readings as the daemon hands them over. Each repeat gives a fresh engine all
of them, once through :meth:`Engine.process` (a ``Reading`` in, a ``Scored`` out per reading;
the daemon's entry point) and once through :meth:`Engine.process_columns` (the same readings as
columns; the replay's entry point), interleaved so both see the same load. Process CPU time, best
of ``--repeats``; the interpreted build of the per-reading path once, for scale. Nothing else
runs (no decoding, no formatting): compare one tree with another by running this script with
each tree's environment one after the other (it uses only the engine's public API).

Prints figures and writes JSON to ``bench/results/engine.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from detectors import Engine, EngineConfig
from messages import ReadingDecoder
from messages.codec import Reading
from messages.metrics import Metric
from simulators import FleetSimulator, load_scenario

START_MS = 1_767_225_600_000
RESULTS = Path(__file__).with_name("results")
BATCH = 5_000
_METRIC_CODE = {m: i for i, m in enumerate(Metric)}


def readings(scenario: str, devices: int, hours: float, seed: int) -> list[Reading]:
    """A simulated fleet's readings, decoded as the daemon decodes them, in delivery order."""
    sim = FleetSimulator(
        load_scenario(scenario),
        devices=devices,
        seed=seed,
        start_ms=START_MS,
        duration_ms=int(hours * 3_600_000),
    )
    dec = ReadingDecoder()
    now = START_MS + 20 * 86_400_000  # a fixed ingest clock inside the decoder's window
    out: list[Reading] = []
    for chunk in sim:
        for raw in chunk.values():
            with contextlib.suppress(ValueError):  # a dead letter
                out.append(dec.decode(raw, now_ms=now))
    return out


def as_columns(batch: list[Reading], codes: dict[str, int]) -> tuple[np.ndarray, ...]:
    """``batch`` as :meth:`Engine.process_columns` takes it (device codes from ``codes``)."""
    return (
        np.array([codes.setdefault(r.device_id, len(codes)) for r in batch], dtype=np.int64),
        np.array([r.ts_ms for r in batch], dtype=np.int64),
        np.array([_METRIC_CODE[r.metric] for r in batch], dtype=np.int64),
        np.array([float(r.value) for r in batch], dtype=np.float64),
        np.array([np.nan if r.interval_s is None else r.interval_s for r in batch]),
    )


def cpu_process(batches: list[list[Reading]], *, compiled: bool = True) -> float:
    engine = Engine(EngineConfig(), compiled=compiled)
    c0 = time.process_time()
    for b in batches:
        engine.process(b)
    return time.process_time() - c0


def cpu_columns(ids: list[str], columns: list[tuple[np.ndarray, ...]]) -> float:
    engine = Engine(EngineConfig())
    outputs = [
        (np.empty(len(c[1])), np.empty(len(c[1])), np.empty(len(c[1]), dtype=np.int8))
        for c in columns
    ]
    c0 = time.process_time()
    for c, o in zip(columns, outputs, strict=True):
        engine.process_columns(ids, *c, *o)
    return time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=30, help="devices of each scenario")
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--repeats", type=int, default=5, help="runs of each; the best counts")
    args = ap.parse_args()
    rs = readings("normal_week", args.devices, args.hours, 11)
    rs += readings("acute_events", args.devices, args.hours, 12)
    batches = [rs[i : i + BATCH] for i in range(0, len(rs), BATCH)]
    codes: dict[str, int] = {}
    columns = [as_columns(b, codes) for b in batches]
    n = len(rs)
    best = {"process": float("inf"), "columns": float("inf")}
    for _ in range(args.repeats):
        best["process"] = min(best["process"], cpu_process(batches))
        best["columns"] = min(best["columns"], cpu_columns(list(codes), columns))
    interpreted = cpu_process(batches, compiled=False)
    result: dict[str, Any] = {
        "command": "python bench/bench_engine.py " + " ".join(sys.argv[1:]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "readings": n,
        "compiled": Engine(EngineConfig()).compiled,
        "process_us_per_reading": 1e6 * best["process"] / n,
        "process_columns_us_per_reading": 1e6 * best["columns"] / n,
        "process_interpreted_us_per_reading": 1e6 * interpreted / n,
    }
    print(f"{n:,} readings ({args.devices} normal_week + {args.devices} acute_events devices)")
    for key in ("process", "process_columns", "process_interpreted"):
        print(f"  {key:<20} {result[f'{key}_us_per_reading']:.3f} µs per reading")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
