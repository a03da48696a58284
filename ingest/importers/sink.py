"""Where imported readings go: time-sorted, to the replay CSV or to Kafka.

Exports are grouped by type or by day file, not by time, while ``vitalstream replay`` and the
daemon want each device's readings in event-time order. :class:`SortedReadings` is an external
merge sort: rows are buffered up to ``chunk_rows``, sorted and spilled to a temporary file;
:meth:`SortedReadings.sorted` merges the runs. Memory is bounded by the chunk, not the export.
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import io
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple, cast

from ingest.replay.replay import rfc3339
from messages.metrics import Metric, SleepStage

_METRIC_BY_NAME = {m.value: m for m in Metric}


class Row(NamedTuple):
    """One imported reading. ``value`` is in our unit; a sleep stage is its name."""

    ts_ms: int
    metric: Metric
    value: float | str
    interval_s: float | None = None


def stage_name(stage: SleepStage) -> str:
    return stage.name.lower()


class SortedReadings:
    """Collect rows in any order; read them back sorted by event time (stable)."""

    def __init__(self, *, chunk_rows: int = 500_000, tmp_dir: Path | None = None) -> None:
        self.chunk_rows = chunk_rows
        self._tmp = tempfile.TemporaryDirectory(prefix="vitalstream-import-", dir=tmp_dir)
        self._buffer: list[tuple[int, int, Row]] = []
        self._runs: list[Path] = []
        self._seq = 0
        self.rows = 0

    def add(self, row: Row) -> None:
        self._buffer.append((row.ts_ms, self._seq, row))
        self._seq += 1
        self.rows += 1
        if len(self._buffer) >= self.chunk_rows:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort(key=lambda t: (t[0], t[1]))
        path = Path(self._tmp.name) / f"run-{len(self._runs):05d}.csv"
        with path.open("w", encoding="utf-8") as f:
            for ts, seq, r in self._buffer:
                interval = "" if r.interval_s is None else repr(r.interval_s)
                f.write(f"{ts},{seq},{r.metric.value},{r.value},{interval}\n")
        self._runs.append(path)
        self._buffer = []

    @staticmethod
    def _read_run(path: Path) -> Iterator[tuple[int, int, Row]]:
        with path.open(encoding="utf-8") as f:
            for line in f:
                ts, seq, metric, value, interval = line.rstrip("\n").split(",")
                m = _METRIC_BY_NAME[metric]
                v: float | str = value if m is Metric.SLEEP_STAGE else float(value)
                yield int(ts), int(seq), Row(int(ts), m, v, float(interval) if interval else None)

    def sorted(self) -> Iterator[Row]:
        """All rows by event time (ties in the order they were added); then cleans up."""
        self._buffer.sort(key=lambda t: (t[0], t[1]))
        try:
            if not self._runs:
                yield from (t[2] for t in self._buffer)
                return
            runs = [self._read_run(p) for p in self._runs]
            memory = iter(self._buffer)
            for _, _, row in heapq.merge(*runs, memory, key=lambda t: (t[0], t[1])):
                yield row
        finally:
            self._buffer = []
            self._tmp.cleanup()


@dataclass
class ImportStats:
    """What an importer read, kept and skipped (by reason), per metric and per source."""

    kept: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)

    def keep(self, metric: Metric, n: int = 1) -> None:
        self.kept[metric.value] = self.kept.get(metric.value, 0) + n

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def summary(self) -> str:
        kept = ", ".join(f"{k} {v:,}" for k, v in sorted(self.kept.items())) or "nothing"
        skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(self.skipped.items())) or "none"
        return f"kept {kept}; skipped {skipped}"


class Progress:
    """One updating line on stderr (plain lines when it is not a terminal), at most 2 a second."""

    def __init__(self, label: str, total: int | None, *, quiet: bool = False) -> None:
        self.label = label
        self.total = total
        self.quiet = quiet
        self._tty = sys.stderr.isatty()
        self.started = self._last = time.monotonic()  # the first line after one interval

    def update(self, done: int, rows: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not final and now - self._last < (0.5 if self._tty else 10.0)):
            return
        self._last = now
        share = f" ({100 * done / self.total:.0f} %)" if self.total else ""
        print(
            f"{chr(13) if self._tty else ''}{self.label}: {done / 1e6:,.1f} MB read{share}, "
            f"{rows:,} readings",
            end="\n" if final or not self._tty else "",
            file=sys.stderr,
            flush=True,
        )


class CountingReader(io.RawIOBase):
    """A binary stream that counts what was read from it (for the progress line)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.inner.close()
        super().close()


def write_csv(rows: Iterator[Row], device_id: str, out: Path) -> int:
    """The replay CSV (``device_id,ts,metric,value``; gzip when ``out`` ends in ``.gz``)."""
    tmp = out.with_name(out.name + ".part")
    raw: IO[bytes] = tmp.open("wb")
    stream = cast(
        "IO[bytes]", gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if out.suffix == ".gz" else raw
    )
    n = 0
    try:
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        text.write("device_id,ts,metric,value\n")
        for r in rows:
            value = r.value if isinstance(r.value, str) else f"{r.value:g}"
            text.write(f"{device_id},{rfc3339(r.ts_ms)},{r.metric.value},{value}\n")
            n += 1
        text.flush()
        text.detach()
    finally:
        if stream is not raw:
            stream.close()
        raw.close()
    os.replace(tmp, out)
    return n
