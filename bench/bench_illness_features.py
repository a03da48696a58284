"""Per-reading cost of the daily-feature accumulator against the engine, in the same run.

Run: ``.venv/bin/python bench/bench_illness_features.py [--devices 50] [--hours 24] [--repeat 3]``

One simulated fleet (``normal_week``, as ``bench_detection.py`` makes it), decoded once into
:class:`messages.codec.Reading` objects; then, best of ``--repeat`` runs, CPU time per reading of:

- ``engine``: :meth:`detectors.Engine.process` on batches of 10k (compiled path when built):
  the baseline the illness path must add <= 5 % to;
- ``loop``: a Python loop over the readings calling a function that does nothing with the
  three arguments the accumulator takes (the unavoidable cost of a per-reading Python call);
- ``features``: the same loop calling :meth:`DailyFeatures.update` of the reading's device;
- ``monitor``: :meth:`IllnessMonitor.update` (features + the River model on closed nights).

Also the per-device state bytes (features slots, model snapshot). Prints figures and writes
``bench/results/illness_features.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_detection import START_MS, messages

from detectors import Engine, EngineConfig
from detectors.daily_features import DailyFeatures
from detectors.illness import IllnessMonitor
from messages import ReadingDecoder
from messages.codec import InvalidReading, Reading

RESULTS = Path(__file__).with_name("results")
BATCH = 10_000


def readings(devices: int, hours: float) -> list[Reading]:
    """The fleet of ``bench_detection`` (same scenario and seed), decoded."""
    decoder = ReadingDecoder()
    now = START_MS + 20 * 86_400_000  # a fixed ingest clock inside the decoder's window
    out: list[Reading] = []
    for raw in messages(devices, hours):
        with contextlib.suppress(InvalidReading):  # out-of-range artefacts
            out.append(decoder.decode(raw, now_ms=now))
    return out


def time_engine(rs: list[Reading]) -> float:
    engine = Engine(EngineConfig())
    c0 = time.process_time()
    for lo in range(0, len(rs), BATCH):
        engine.process(rs[lo : lo + BATCH])
    return time.process_time() - c0


def time_loop(rs: list[Reading], make: Callable[[], Any] | None) -> float:
    per_device: dict[str, Any] = {}

    def nothing(ts: int, metric: str, value: float) -> None:
        return None

    c0 = time.process_time()
    for r in rs:
        dev = per_device.get(r.device_id)
        if dev is None:
            dev = per_device[r.device_id] = make() if make is not None else None
        update = nothing if dev is None else dev.update
        update(r.ts_ms, r.metric, r.value)
    return time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rs = readings(args.devices, args.hours)
    n = len(rs)
    runs: dict[str, list[float]] = {"engine": [], "loop": [], "features": [], "monitor": []}
    for _ in range(args.repeat):  # interleaved, so a busy spell hits every variant
        runs["engine"].append(time_engine(rs))
        runs["loop"].append(time_loop(rs, None))
        runs["features"].append(time_loop(rs, DailyFeatures))
        runs["monitor"].append(time_loop(rs, IllnessMonitor))
    us = {k: 1e6 * min(v) / n for k, v in runs.items()}
    added = us["features"] - us["loop"]
    mon = IllnessMonitor()
    for r in rs:
        if r.device_id == rs[0].device_id:
            mon.update(r.ts_ms, r.metric, r.value)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "readings": n,
        "us_per_reading": us,
        "features_minus_loop_us": added,
        "features_vs_engine_pct": 100.0 * us["features"] / us["engine"],
        "features_arithmetic_vs_engine_pct": 100.0 * added / us["engine"],
        "monitor_vs_engine_pct": 100.0 * us["monitor"] / us["engine"],
        "state_bytes": {
            "features_slots": DailyFeatures().state_nbytes(),
            "model_snapshot": mon.detector.state_nbytes(),
            "monitor_snapshot": mon.state_nbytes(),
        },
    }
    print(f"{n:,} readings, {args.devices} devices, {args.hours:g} h; best of {args.repeat}")
    for k, v in us.items():
        print(f"  {k:<9} {v:7.3f} us/reading")
    print(
        f"  features add {result['features_vs_engine_pct']:.0f} % to the engine as a Python call "
        f"({result['features_arithmetic_vs_engine_pct']:.0f} % without the call overhead)"
    )
    print(f"  state bytes per device: {result['state_bytes']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "illness_features.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
