"""Offline replay of a recorded export through the same engine the daemon runs.

Input: CSV (optionally gzip) with the header ``device_id,ts,metric,value``. ``ts`` is RFC 3339 /
ISO 8601 (no offset means UTC) or epoch milliseconds; ``steps`` counts steps since the previous
steps row of the device; ``sleep_stage`` is ``awake|light|deep|rem``.

Order: exports are sorted by time or by device. Each device's rows pass through a reorder buffer:
a row is released once the file (``order="time"``) or its device (``order="device"``) has moved
``window_ms`` past it, so bounded disorder (up to the window) is put right. A row further behind
than the window is not sorted in: it follows the device's held rows, as the daemon would see it
(a late reading, counted and kept out of baselines; or a clock that jumped back, reported as
``clock_skew``). Memory is bounded by the window and the fleet, not the file. With
``order="time"`` the engine's ``tick()`` runs every minute of event time (deadman, staleness);
with ``order="device"`` a device is finished and dropped from memory when the next one starts.

Output: one NDJSON line per alert in its final state, written when it resolves (open alerts are
written at the end), so memory does not grow with the number of alerts either.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import heapq
import io
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import msgspec
import numpy as np

from detectors import AlertEvent, Engine, EngineConfig, Scored
from detectors.config import time_zone
from messages.codec import Reading
from messages.metrics import SLEEP_STAGES, Metric

MIN = 60_000
_METRICS = {m.value: m for m in Metric}
_HEADER = ["device_id", "ts", "metric", "value"]


class ReplayError(ValueError):
    """The input cannot be replayed (bad header, unreadable file)."""


class AlertLine(msgspec.Struct):
    """One line of ALERTS.ndjson: the final state of an alert."""

    alert_id: str
    device_id: str
    kind: str
    severity: str
    start: str
    end: str | None
    peak_value: float | None
    explanation: str


@dataclass
class ReplayStats:
    rows: int = 0
    readings: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    seconds: float = 0.0

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n


def rfc3339(ms: int) -> str:
    """Epoch ms as RFC 3339 UTC with milliseconds.

    >>> rfc3339(1767225600123)
    '2026-01-01T00:00:00.123Z'
    """
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ts(text: str) -> int:
    """Epoch ms from epoch-ms digits or ISO 8601 (no offset: UTC).

    >>> parse_ts("1767225600000"), parse_ts("2026-01-01T01:00:00+01:00")
    (1767225600000, 1767225600000)
    >>> parse_ts("2026-01-01 00:00")
    1767225600000
    """
    t = text.strip()
    if t.isdigit():
        return int(t)
    dt = datetime.fromisoformat(t.replace("Z", "+00:00") if t.endswith("Z") else t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def in_time_zone(config: EngineConfig | None, zone: str | None) -> EngineConfig | None:
    """``config`` with ``zone`` as the wearers' local time zone (the fleet default, see
    :class:`detectors.config.LocalTimeConfig`); ``None``: unchanged. Replay CSVs carry UTC
    times, so this is how a recorded set's local time is given.

    >>> in_time_zone(None, "Europe/Oslo").local_time.timezone
    'Europe/Oslo'
    >>> in_time_zone(None, "Europe/Olso")
    Traceback (most recent call last):
    ...
    ValueError: unknown time zone 'Europe/Olso' (an IANA name like Europe/Oslo, or +01:00)
    """
    cfg = config or EngineConfig()
    if zone is None:
        return config
    time_zone(zone)  # raises ValueError naming the zone
    return cfg.model_copy(
        update={"local_time": cfg.local_time.model_copy(update={"timezone": zone})}
    )


def open_text(path: Path) -> IO[str]:
    """Open plain or gzip text (by magic bytes, not by name); ``-`` is stdin."""
    if str(path) == "-":
        return sys.stdin
    raw = path.open("rb")
    magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", newline="")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def read_rows(stream: IO[str], stats: ReplayStats) -> Iterator[Reading]:
    """Parse CSV rows into readings (in file order). Bad rows are counted and skipped; values
    outside the physical range are kept (the engine reports them as ``impossible_value``)."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:4]] != _HEADER:
        raise ReplayError(f"the first line must be the header {','.join(_HEADER)}")
    last_steps: dict[str, int] = {}
    metrics = _METRICS
    stages = SLEEP_STAGES
    steps_metric = Metric.STEPS
    stage_metric = Metric.SLEEP_STAGE
    for row in reader:
        stats.rows += 1
        if len(row) < 4:
            stats.skip("short_row")
            continue
        device_id, ts_text, metric_text, value_text = row[0], row[1], row[2], row[3]
        metric = metrics.get(metric_text.strip())
        if metric is None:
            stats.skip("unknown_metric")
            continue
        try:
            ts = parse_ts(ts_text)
        except ValueError:
            stats.skip("bad_ts")
            continue
        interval_s = None
        if metric is stage_metric:
            stage = stages.get(value_text.strip().lower())
            if stage is None:
                stats.skip("bad_sleep_stage")
                continue
            value = float(stage)
        else:
            try:
                value = float(value_text)
            except ValueError:
                value = math.nan  # reported as an impossible value
            if metric is steps_metric:
                prev = last_steps.get(device_id)
                last_steps[device_id] = ts
                if prev is not None and 0 < ts - prev <= 15 * MIN:
                    interval_s = (ts - prev) / 1000.0
                else:
                    interval_s = 60.0
        yield Reading(device_id, ts, metric, value, interval_s)


class ReorderBuffer:
    """Put each device's readings in event-time order, tolerating ``window_ms`` of disorder.

    A reading is held until its device (``per_device``) or the whole file (time order) has moved
    ``window_ms`` past it. A reading that arrives further behind than the window (a late reading,
    or a device clock that jumped back) is not sorted in: the device's held readings are released
    first and it follows them, as the daemon would see it, so the engine can tell a late reading
    from a clock jump. Memory: at most a window of readings per device.

    >>> buf = ReorderBuffer(window_ms=1000)
    >>> out = []
    >>> for t in (5000, 4500, 7000, 6500, 9000, 2000):
    ...     out += [r.ts_ms for r in buf.push(Reading("d", t, Metric.HEART_RATE, 60.0))]
    >>> out + [r.ts_ms for r in buf.flush()]
    [4500, 5000, 6500, 7000, 9000, 2000]
    """

    def __init__(self, window_ms: int, *, per_device: bool = True) -> None:
        self.window_ms = window_ms
        self.per_device = per_device
        self._heaps: dict[str, list[tuple[int, int, Reading]]] = {}
        self._newest: dict[str, int] = {}
        self._global = -(2**62)
        self._swept = -(2**62)
        self._seq = 0
        self._held = 0

    def __len__(self) -> int:
        return self._held

    def _release(self, heap: list[tuple[int, int, Reading]], upto: int, out: list[Reading]) -> None:
        while heap and heap[0][0] <= upto:
            out.append(heapq.heappop(heap)[2])
            self._held -= 1

    def push(self, r: Reading) -> list[Reading]:
        dev = r.device_id
        heap = self._heaps.get(dev)
        if heap is None:
            heap = self._heaps[dev] = []
        newest = self._newest.get(dev)
        out: list[Reading] = []
        if newest is not None and r.ts_ms < newest - self.window_ms:
            # far behind: release what the device holds, then pass this one through
            self._release(heap, 2**62, out)
            out.append(r)
            return out
        if newest is None or r.ts_ms > newest:
            self._newest[dev] = newest = r.ts_ms
        if r.ts_ms > self._global:
            self._global = r.ts_ms
        self._seq += 1
        heapq.heappush(heap, (r.ts_ms, self._seq, r))
        self._held += 1
        if self.per_device:
            self._release(heap, newest - self.window_ms, out)
        else:
            upto = self._global - self.window_ms
            self._release(heap, upto, out)
            if self._global - self._swept >= self.window_ms // 4 + 1:
                # the file moved on: release what other (quieter) devices hold
                self._swept = self._global
                for h in self._heaps.values():
                    if h and h[0][0] <= upto:
                        self._release(h, upto, out)
        return out

    def flush(self) -> list[Reading]:
        items = sorted(item for h in self._heaps.values() for item in h)
        self._heaps.clear()
        self._held = 0
        return [item[2] for item in items]

    def flush_device(self, device_id: str) -> list[Reading]:
        out: list[Reading] = []
        heap = self._heaps.pop(device_id, None)
        if heap:
            self._release(heap, 2**62, out)
        self._newest.pop(device_id, None)
        return out


def alert_line(e: AlertEvent) -> AlertLine:
    return AlertLine(
        alert_id=e.alert_id,
        device_id=e.device_id,
        kind=e.kind.value,
        severity=e.severity,
        start=rfc3339(e.start_ms),
        end=rfc3339(e.end_ms) if e.end_ms is not None else None,
        peak_value=e.peak_value,
        explanation=e.explanation,
    )


class _AlertWriter:
    """Keeps the latest event of each open alert; writes an alert when it resolves."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._open: dict[str, AlertEvent] = {}
        self._enc = msgspec.json.Encoder()
        self.written = 0

    def add(self, events: list[AlertEvent]) -> None:
        for e in events:
            if e.state == "resolved":
                self._open.pop(e.alert_id, None)
                self._write(e)
            else:
                self._open[e.alert_id] = e

    def _write(self, e: AlertEvent) -> None:
        self._out.write(self._enc.encode(alert_line(e)) + b"\n")
        self.written += 1

    def finish_device(self, device_id: str) -> None:
        for aid in [a for a, e in self._open.items() if e.device_id == device_id]:
            self._write(self._open.pop(aid))

    def finish(self) -> None:
        for e in sorted(self._open.values(), key=lambda e: (e.start_ms, e.alert_id)):
            self._write(e)
        self._open.clear()


def _score_row(s: Scored) -> list[object]:
    return [
        s.device_id,
        s.ts_ms,
        s.metric.value,
        s.value,
        round(s.score, 4),
        "" if s.baseline is None else round(s.baseline, 3),
        int(s.flagged),
    ]


class _Runner:
    """Runs batches of released readings through the engine; ticks it every minute of event
    time (``order="time"``); hands alerts to the writer and scores to the CSV."""

    def __init__(
        self,
        alerts_out: IO[bytes],
        config: EngineConfig | None,
        scores_out: IO[str] | None,
        order: Literal["time", "device"],
        stats: ReplayStats,
    ) -> None:
        self.engine = Engine(config or EngineConfig())
        self.writer = _AlertWriter(alerts_out)
        self.scores = csv.writer(scores_out) if scores_out is not None else None
        if self.scores is not None:
            self.scores.writerow(
                ["device_id", "ts", "metric", "value", "score", "baseline", "flagged"]
            )
        self.order = order
        self.stats = stats
        self.watermark = 0
        self.next_tick = 0

    def run(self, readings: list[Reading]) -> None:
        if not readings:
            return
        engine = self.engine
        out = engine.process(readings)
        self.stats.readings += len(readings)
        self.writer.add(out.alerts)
        if self.scores is not None:
            self.scores.writerows(_score_row(s) for s in out.scored)
        if self.order == "time":
            self.watermark = max(self.watermark, max(r.ts_ms for r in readings))
            if self.watermark >= self.next_tick:
                self.writer.add(engine.tick(self.watermark))
                self.next_tick = self.watermark + MIN

    def run_columns(self, device_ids: list[str], chunks: list[Columns]) -> None:
        """:meth:`run` of readings given as columns (``chunks`` concatenated): the engine's
        columnar entry point, the same output."""
        dev, ts, metric, value, interval = (
            chunks[0][k] if len(chunks) == 1 else np.concatenate([c[k] for c in chunks])
            for k in range(5)
        )
        n = len(ts)
        if not n:
            return
        score, baseline = np.empty(n), np.empty(n)
        flags = np.empty(n, np.int8)
        engine = self.engine
        odd, alerts = engine.process_columns(
            device_ids, dev, ts, metric, value, interval, score, baseline, flags
        )
        self.stats.readings += n
        self.writer.add(alerts)
        if self.scores is not None:
            self.scores.writerows(
                _score_rows(device_ids, dev, ts, metric, value, score, baseline, flags, odd)
            )
        self.watermark = max(self.watermark, int(ts.max()))
        if self.watermark >= self.next_tick:
            self.writer.add(engine.tick(self.watermark))
            self.next_tick = self.watermark + MIN

    def finish(self) -> None:
        self.writer.finish()
        self.stats.alerts = self.writer.written


#: readings as columns: device code, ts, metric code (position in ``list(Metric)``), value,
#: steps interval in seconds (NaN: none)
Columns = tuple[Any, Any, Any, Any, Any]
_METRIC_NAMES = [m.value for m in Metric]


def _score_rows(
    device_ids: list[str],
    dev: Any,
    ts: Any,
    metric: Any,
    value: Any,
    score: Any,
    baseline: Any,
    flags: Any,
    odd: dict[int, Scored],
) -> Iterator[list[object]]:
    """The rows :func:`_score_row` gives for the output of ``Engine.process_columns``."""
    names = _METRIC_NAMES
    columns = (x.tolist() for x in (dev, ts, metric, value, score, baseline, flags))
    for i, (d, t, m, v, sc, b, f) in enumerate(zip(*columns, strict=True)):
        s = odd.get(i)
        if s is not None:
            yield _score_row(s)
        else:
            yield [device_ids[d], t, names[m], v, round(sc, 4), round(b, 3) if f & 2 else "", f & 1]


def replay(
    rows: Iterator[Reading],
    alerts_out: IO[bytes],
    *,
    config: EngineConfig | None = None,
    scores_out: IO[str] | None = None,
    window_ms: int = 10 * MIN,
    order: Literal["time", "device"] = "time",
    batch: int = 10_000,
    stats: ReplayStats | None = None,
    progress: Callable[[ReplayStats, int], None] | None = None,
    progress_every_s: float = 2.0,
) -> ReplayStats:
    """Run ``rows`` through a fresh engine; write alerts (and optionally scores)."""
    st = stats or ReplayStats()
    runner = _Runner(alerts_out, config, scores_out, order, st)
    writer, run = runner.writer, runner.run
    buf = ReorderBuffer(window_ms, per_device=order == "device")
    pending: list[Reading] = []
    current_device: str | None = None
    t0 = time.perf_counter()
    last_report = t0
    for r in rows:
        if order == "device" and r.device_id != current_device:
            if current_device is not None:
                # the previous device is complete: run it out and forget it
                run(pending + buf.flush_device(current_device))
                pending = []
                writer.finish_device(current_device)
                runner.engine.drop(current_device)
            current_device = r.device_id
        pending.extend(buf.push(r))
        if len(pending) >= batch:
            run(pending)
            pending = []
        if progress is not None and st.rows % 10_000 == 0:
            now = time.perf_counter()
            if now - last_report >= progress_every_s:
                last_report = now
                progress(st, writer.written)
    run(pending + buf.flush())
    runner.finish()
    st.seconds = time.perf_counter() - t0
    return st


def replay_columns(
    input_path: Path,
    alerts_out: IO[bytes],
    *,
    config: EngineConfig | None = None,
    scores_out: IO[str] | None = None,
    window_ms: int = 10 * MIN,
    batch: int = 10_000,
    stats: ReplayStats | None = None,
    progress: Callable[[ReplayStats, int], None] | None = None,
    block_bytes: int | None = None,
) -> ReplayStats:
    """:func:`replay` of a CSV file in time order, read and reordered in columns
    (:mod:`ingest.replay.columnar`): the same engine input, batches and ticks, so the same
    output. Raises :class:`~ingest.replay.columnar.NeedsRowPath` before writing anything when
    the header needs the row path's judgement, and possibly after (a row with more fields than
    the header): the caller then starts over on the row path."""
    from ingest.replay import columnar

    st = stats or ReplayStats()
    t0 = time.perf_counter()
    reader = columnar.ColumnReader(
        input_path,
        st.skip,
        parse_ts=parse_ts,
        **({} if block_bytes is None else {"block_bytes": block_bytes}),
    )
    runner = _Runner(alerts_out, config, scores_out, "time", st)
    state = columnar.ReleaseState(window_ms)
    ids = reader.device_ids
    pending: list[Columns] = []
    held = 0  # readings in pending
    for block, rel in columnar.released_blocks(reader, state):
        st.rows += block.rows
        ends = rel.per_row_end
        lo, need = 0, batch - held
        # the row path runs the engine after the row that brings the pending readings to
        # ``batch``: cut after the last reading that row released
        while need <= len(ends) - lo:
            hi = int(np.searchsorted(ends, ends[lo + need - 1], "right"))
            runner.run_columns(ids, [*pending, columnar.columns(rel, lo, hi)])
            pending, held, lo, need = [], 0, hi, batch
        if lo < len(ends):
            pending.append(columnar.columns(rel, lo, len(ends)))
            held += len(ends) - lo
        if progress is not None:
            progress(st, runner.writer.written)
    st.rows += reader.trailing_rows
    rest = columnar.flush(state)
    runner.run_columns(ids, [*pending, columnar.columns(rest, 0, len(rest.ts))])
    runner.finish()
    st.seconds = time.perf_counter() - t0
    return st


def replay_file(
    input_path: Path,
    alerts_path: Path,
    *,
    scores_path: Path | None = None,
    config: EngineConfig | None = None,
    window_ms: int = 10 * MIN,
    order: Literal["time", "device"] = "time",
    progress: Callable[[ReplayStats, int], None] | None = None,
) -> ReplayStats:
    """:func:`replay` from and to files."""
    # pyarrow through malloc (see keep_memory): set before pyarrow is first imported, as its
    # I/O context takes the default pool then
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    from ingest.replay.columnar import NeedsRowPath, keep_memory

    if order == "time" and str(input_path) != "-":
        keep_memory()
        with alerts_path.open("wb") as alerts, _maybe_open(scores_path) as scores_file:
            try:
                return replay_columns(
                    input_path,
                    alerts,
                    config=config,
                    scores_out=scores_file,
                    window_ms=window_ms,
                    progress=progress,
                )
            except NeedsRowPath:
                pass  # start over on the row path (it overwrites both outputs)
    stats = ReplayStats()
    with (
        open_text(input_path) as src,
        alerts_path.open("wb") as alerts,
        _maybe_open(scores_path) as scores_file,
    ):
        replay(
            read_rows(src, stats),
            alerts,
            config=config,
            scores_out=scores_file,
            window_ms=window_ms,
            order=order,
            stats=stats,
            progress=progress,
        )
    return stats


@contextlib.contextmanager
def _maybe_open(path: Path | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    with path.open("w", newline="") as f:
        yield f
