"""What the daemon's InfluxDB points cost to build and send, per reading: the per device-minute
schema against the per-reading one it replaced (issue 16), in the same run.

Run: ``.venv/bin/python bench/bench_points.py [--devices 200] [--hours 6] [--repeat 3]``

Both get the same scored batches (the simulator's ``normal_week`` fleet through the engine,
batches of 10k, pseudonymised device tags as in the daemon):

- ``per_reading`` (baseline, the formatter before the change, kept here verbatim): one
  ``vitals`` point per reading with value, score, baseline and flag;
- ``per_minute``: one ``vitals`` point per reading with the value
  (:func:`ingest.influx.line_protocol.reading_line`), plus the closed ``vitals_minute``
  summaries (:class:`ingest.influx.minutes.MinuteAggregator`) and, as at a commit, the open ones.

Figures: process CPU per reading to format (best of ``--repeat``), points, fields and bytes per
reading, and gzip (level 1, as the writer) CPU and compressed bytes per reading. Prints them and
writes ``bench/results/points.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

from detectors import Engine, EngineConfig, Scored
from ingest.influx.line_protocol import reading_line
from ingest.influx.minutes import MinuteAggregator, minute_lines
from ingest.privacy import Pseudonymizer
from messages import InvalidReading, ReadingDecoder
from simulators import FleetSimulator, load_scenario

RESULTS = Path(__file__).parent / "results"
START_MS = 1_767_225_600_000


def per_reading_line(s: Scored, device_tag: str) -> str:
    """The ``vitals`` point of one reading before the change (value, score, baseline, flag)."""
    score = s.score if math.isfinite(s.score) else 0.0
    b = s.baseline
    base = f",baseline={b:.2f}" if b is not None and math.isfinite(b) else ""
    flagged = "true" if s.flagged else "false"
    return (
        f"vitals,device={device_tag},metric={s.metric._value_} "
        f"value={s.value!r},score={score:.4f}{base},flagged={flagged} {s.ts_ms}"
    )


def scored_batches(devices: int, hours: float) -> list[list[Scored]]:
    sim = FleetSimulator(
        load_scenario("normal_week"),
        devices=devices,
        seed=1,
        start_ms=START_MS,
        duration_ms=int(hours * 3_600_000),
    )
    decoder = ReadingDecoder()
    now = START_MS + 86_400_000
    readings = []
    for chunk in sim:
        for _, value in chunk.messages():
            # the simulator's malformed messages are dead letters in the daemon
            with contextlib.suppress(InvalidReading):
                readings.append(decoder.decode(value, now_ms=now))
    engine = Engine(EngineConfig())
    return [
        engine.process(readings[i : i + 10_000]).scored for i in range(0, len(readings), 10_000)
    ]


def main(args: argparse.Namespace) -> dict[str, object]:
    batches = scored_batches(args.devices, args.hours)
    n = sum(map(len, batches))
    pseudo = Pseudonymizer(b"bench-key-" * 4)
    devices = {s.device_id for batch in batches for s in batch}

    def per_reading() -> list[str]:
        out: list[str] = []
        for batch in batches:
            out += [per_reading_line(s, pseudo(s.device_id)) for s in batch]
        return out

    def per_minute() -> list[str]:
        minutes = MinuteAggregator()
        out: list[str] = []
        for batch in batches:
            out += [reading_line(s, pseudo(s.device_id)) for s in batch]
            out += minute_lines(minutes.add(batch), pseudo)
        return out + minute_lines(minutes.open_minutes(devices), pseudo)

    result: dict[str, object] = {"readings": n, "devices": args.devices, "hours": args.hours}
    schemas: dict[str, Callable[[], list[str]]] = {
        "per_reading": per_reading,
        "per_minute": per_minute,
    }
    print(f"{n:,} scored readings, {args.devices} devices, {args.hours} h")
    for name, build in schemas.items():
        best = math.inf
        for _ in range(args.repeat):
            started = time.process_time()
            lines = build()
            best = min(best, time.process_time() - started)
        body = "\n".join(lines).encode()
        started = time.process_time()
        packed = gzip.compress(body, compresslevel=1)
        gzip_s = time.process_time() - started
        fields = sum(line.split(" ")[1].count(",") + 1 for line in lines)
        figures = {
            "format_us_per_reading": 1e6 * best / n,
            "points_per_reading": len(lines) / n,
            "fields_per_reading": fields / n,
            "bytes_per_reading": len(body) / n,
            "gzip_us_per_reading": 1e6 * gzip_s / n,
            "gzip_bytes_per_reading": len(packed) / n,
        }
        result[name] = figures
        print(
            f"{name:12s} format {figures['format_us_per_reading']:.2f} µs, "
            f"{figures['points_per_reading']:.3f} points, "
            f"{figures['fields_per_reading']:.2f} fields, "
            f"{figures['bytes_per_reading']:.1f} bytes, "
            f"gzip {figures['gzip_us_per_reading']:.2f} µs "
            f"-> {figures['gzip_bytes_per_reading']:.1f} bytes (per reading)"
        )
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--hours", type=float, default=6.0)
    p.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    out = main(p.parse_args())
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "points.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
