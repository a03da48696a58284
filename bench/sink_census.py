"""What the daemon sends to its sinks per reading: InfluxDB points and fields by measurement,
Kafka records and bytes by topic, transactions and commits (prompt or routine).

Runs the daemon (``bench_e2e``'s sustained phase: a fresh namespace, the same backlog of
``normal_week`` devices) on the local stack, once per mode, and counts at the two doors: every
line handed to :meth:`ingest.influx.writer.InfluxWriter.write` and every record handed to the
producer in a checkpoint. The counts do not depend on the machine's load (the CPU per reading
of each process, from the same sustained phase, does). A commit counts as prompted by an alert
when it came before the routine commit was due with an alert waiting.

    python bench/sink_census.py [--readings 300000] [--devices 200] [--modes passthrough,detection]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gzip
import json
import time
from collections.abc import Sequence
from typing import Any

from bench_e2e import RESULTS, _services_up, sustained

from ingest.daemon import Checkpoint, IngestDaemon, _alert_encoder
from ingest.influx.writer import InfluxWriter, Rejected
from ingest.settings import load_settings


def _fields(line: str) -> int:
    """Fields of one line-protocol line (no spaces or commas are escaped in ours)."""
    return line.split(" ")[1].count(",") + 1


class Census:
    """Counters filled by the wrapped writer and checkpoint."""

    def __init__(self) -> None:
        self.points: collections.Counter[str] = collections.Counter()
        self.fields: collections.Counter[str] = collections.Counter()
        self.line_bytes = 0
        self.gzip_bytes = 0
        self.writes = 0
        self.records: collections.Counter[str] = collections.Counter()
        self.record_bytes: collections.Counter[str] = collections.Counter()
        self.commits = 0
        self.prompted = 0
        self.flushes = 0

    def lines(self, lines: Sequence[str]) -> None:
        self.writes += 1
        for line in lines:
            measurement = line.split(",", 1)[0].split(" ", 1)[0]
            self.points[measurement] += 1
            self.fields[measurement] += _fields(line)
        body = "\n".join(lines).encode()
        self.line_bytes += len(body)
        self.gzip_bytes += len(gzip.compress(body, compresslevel=1))

    def checkpoint(self, daemon: IngestDaemon, cp: Checkpoint) -> None:
        if not cp.commit:
            self.flushes += 1
            return
        self.commits += 1
        t = daemon.settings.topics
        for name, items in (
            (t.dead_letter, [(dl.key, dl.value) for dl in cp.dead_letters]),
            (t.alerts, [(a.device_id.encode(), _alert_encoder.encode(a)) for a in cp.alerts]),
            (t.device_state, [(k, v) for k, v, _ in cp.states]),
        ):
            self.records[name] += len(items)
            self.record_bytes[name] += sum(len(k or b"") + len(v or b"") for k, v in items)


async def run(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """``bench_e2e``'s sustained phase of one mode, counted at the sinks' doors."""
    base = load_settings()
    _services_up(base)
    census = Census()
    write = InfluxWriter.write
    take = IngestDaemon._take_pending

    async def counting_write(
        self: InfluxWriter, lines: Sequence[str], lanes: Sequence[int] | None = None
    ) -> list[Rejected]:
        census.lines(lines)
        return await write(self, lines, lanes)

    def counting_take(self: IngestDaemon, *, commit: bool) -> Checkpoint:
        # a commit before the routine one is due, with an alert waiting: the alert prompted it
        since_ms = (time.monotonic() - self._last_commit) * 1000
        census.prompted += (
            commit and self._alert_waiting and (since_ms < self.settings.ingest.commit_interval_ms)
        )
        cp = take(self, commit=commit)
        census.checkpoint(self, cp)
        return cp

    InfluxWriter.write = counting_write  # type: ignore[method-assign]
    IngestDaemon._take_pending = counting_take  # type: ignore[method-assign]
    try:
        # as bench_e2e: normal_week offers ~640 readings per device-hour
        r = await sustained(base, mode, args.devices, args.readings / (args.devices * 640))
    finally:
        InfluxWriter.write = write  # type: ignore[method-assign]
        IngestDaemon._take_pending = take  # type: ignore[method-assign]
    per = 1 / r["readings"]
    return {
        "mode": mode,
        **r,
        "influx_points_per_reading": {m: c * per for m, c in census.points.items()},
        "influx_fields_per_reading": {m: c * per for m, c in census.fields.items()},
        "influx_bytes_per_reading": census.line_bytes * per,
        "influx_gzip_bytes_per_reading": census.gzip_bytes * per,
        "influx_write_calls": census.writes,
        "kafka_records_per_reading": {t: c * per for t, c in census.records.items()},
        "kafka_bytes_per_reading": {t: c * per for t, c in census.record_bytes.items()},
        "commits": census.commits,
        "commits_prompted_by_alerts": census.prompted,
        "flush_only_checkpoints": census.flushes,
    }


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    for mode in args.modes.split(","):
        r = await run(mode, args)
        out.append(r)
        print(json.dumps(r, indent=2), flush=True)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--readings", type=int, default=300_000)
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--modes", default="passthrough,detection")
    result = asyncio.run(main(p.parse_args()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sink_census.json").write_text(json.dumps(result, indent=2))
