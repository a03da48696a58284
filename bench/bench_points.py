"""What the daemon's InfluxDB points cost to build and send, per reading: the per device-minute
schema against the per-reading one it replaced (issue 16), in the same run.

Run: ``.venv/bin/python bench/bench_points.py [--devices 200] [--hours 6] [--repeat 3]``

Both get the same scored batches (bench_detection's simulated ``normal_week`` fleet through the
engine, batches of 10k, pseudonymised device tags as in the daemon):

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
import gzip
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

from detectors import Engine, EngineConfig, Scored
from ingest.influx.line_protocol import reading_line
from ingest.influx.minutes import MinuteAggregator, minute_lines
from ingest.privacy import Pseudonymizer

sys.path.insert(0, str(Path(__file__).parent))  # the simulated fleet of bench_detection
from bench_detection import decoded_batches, messages

RESULTS = Path(__file__).parent / "results"


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
    """The fleet's valid readings (bench_detection's messages and batches), scored."""
    engine = Engine(EngineConfig())
    return [engine.process(batch).scored for batch in decoded_batches(messages(devices, hours))]


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


def write_results(figures: dict[str, object]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "points.json").write_text(json.dumps(figures, indent=2))
    print(f"wrote {RESULTS / 'points.json'}")


if __name__ == "__main__":
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument("--devices", type=int, default=200)
    cli.add_argument("--hours", type=float, default=6.0)
    cli.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    write_results(main(cli.parse_args()))
