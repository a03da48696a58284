"""The replay's input side in columns: CSV parsing, timestamps and reordering without per-row
Python work, feeding the engine the very batches :func:`ingest.replay.replay.replay` would.

The row-at-a-time path (:func:`~ingest.replay.replay.read_rows` ->
:class:`~ingest.replay.replay.ReorderBuffer` -> :func:`~ingest.replay.replay.replay`) is the
reference: this module computes, per block of the file, in which order and after which input row
the reorder buffer would release every reading, and hands the engine the same readings in the same
batches with the same ticks, as columns (:meth:`detectors.engine.Engine.process_columns`: no
Python object per row), so the alerts (and scores) are the same bytes. A test compares the two on
files with disorder, duplicates and bad rows.

How the release order is computed (``order="time"``; see ``ReorderBuffer.push``): a reading of
device ``d`` at ``t`` pushed at row ``p`` leaves the buffer at the first of

- an accepted row ``i >= p`` of ``d`` whose global newest time ``G_i`` reached ``t + window``
  (its own device's release, first in that row's output, in ``(ts, row)`` order);
- a sweep row ``i >= p`` (the file's newest time moved ``window // 4 + 1`` past the previous
  sweep) with ``G_i >= t + window`` (after the row's own release, device by device in order of
  first appearance, each in ``(ts, row)`` order);
- a later row of ``d`` that is more than a window behind ``d``'s newest time (the device's held
  readings go first, then that row);
- the end of the file (everything left, in ``(ts, row)`` order).

``G`` only grows, so each of these is a binary search over sorted keys. What is still held at the
end of a block is carried into the next block, so memory is bounded by the block and the window,
not the file. ``order="device"`` and rows the columnar reader cannot take as they are (a data row
with more fields than the header) go through the row-at-a-time path.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import math
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingest.replay.replay import open_text
from messages.metrics import SLEEP_STAGES, Metric

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
MIN = 60_000
_HEADER = ["device_id", "ts", "metric", "value"]
_METRICS = list(Metric)
_METRIC_CODE = {m.value: i for i, m in enumerate(_METRICS)}
_STEPS = _METRIC_CODE[Metric.STEPS.value]
_STAGE = _METRIC_CODE[Metric.SLEEP_STAGE.value]
_NEVER = np.iinfo(np.int64).max
_LOW = np.iinfo(np.int64).min
# at most this many epoch-ms digits for the vectorised cast (longer: Python's int)
_EPOCH_DIGITS = 18
_PLAIN_FLOAT = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_DICT = pa.dictionary(pa.int32(), pa.string())
# ISO 8601 UTC to the second, as real exports write timestamps: parsed in columns
_ISO_SECOND = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
# small blocks keep each block's columns in cache (64 MB blocks were about twice as slow)
BLOCK_BYTES = 4 << 20


def keep_memory() -> None:
    """Have this process keep and reuse the memory a block frees for the next block.

    Each block allocates a few dozen column buffers of about a megabyte. pyarrow's default pool
    and glibc (above its mmap threshold, or when it trims the heap) give them back to the kernel
    at once, and the next block faults them in afresh: on the 3 M-row bench file that was about
    1 s of kernel time, more than parsing the CSV. pyarrow then allocates through malloc, and
    malloc keeps freed memory (bounded by one block's working set, as the replay's memory is).
    """
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: the default behaviour
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_trim_threshold, 1 << 30)
    mallopt(m_top_pad, 64 << 20)
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum


class NeedsRowPath(Exception):  # noqa: N818 - a signal, not an error
    """The file has rows the columnar reader would read differently: use the row path."""


@dataclass
class Block:
    """The valid rows of one block of the file, in file order."""

    row: I64  # index of the row in the file (0 = first data row): the reorder buffer's seq
    dev: I64  # device code (codes follow first appearance, as the buffer's device order)
    ts: I64
    metric: I64  # index into list(Metric)
    value: F64
    interval: F64  # steps: seconds since the device's previous steps row; others NaN
    rows: int  # rows in the block, bad ones included


@dataclass
class Held:
    """Readings still in the reorder buffer, and what the buffer remembers per device."""

    dev: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    ts: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    row: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    metric: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    value: F64 = field(default_factory=lambda: np.empty(0, np.float64))
    interval: F64 = field(default_factory=lambda: np.empty(0, np.float64))


class ColumnReader:
    """Read the replay CSV block by block into :class:`Block` columns.

    Skip reasons and their precedence are those of :func:`ingest.replay.replay.read_rows`
    (``short_row``, ``unknown_metric``, ``bad_ts``, ``bad_sleep_stage``); values that are not
    numbers become NaN (the engine reports them as impossible values).
    """

    def __init__(
        self,
        path: Path,
        skip: Callable[[str, int], None],
        *,
        parse_ts: Callable[[str], int],
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        self._skip = skip
        self._parse_ts = parse_ts
        self._short = 0
        self._too_long = False
        self.device_ids: list[str] = []  # by device code
        self._dev_code: dict[str, int] = {}
        self._last_steps: dict[int, int] = {}  # device code -> ts of its last steps row
        self._next_row = 0
        self.trailing_rows = 0
        with open_text(path) as text:
            header = next(csv.reader(text), None)
        if (
            header is None
            or [h.strip().lower() for h in header[:4]] != _HEADER
            or len(set(header)) != len(header)
        ):
            raise NeedsRowPath("header")  # the row path says what is wrong with it
        self._names = header[:4]
        with path.open("rb") as raw:
            gzip = raw.read(2) == b"\x1f\x8b"
        self._reader = pacsv.open_csv(
            pa.input_stream(str(path), compression="gzip" if gzip else None),
            # one thread: the reader already runs beside the engine, and the parser's own
            # threads cost more CPU than they save wall time on two cores
            read_options=pacsv.ReadOptions(block_size=block_bytes, use_threads=False),
            parse_options=pacsv.ParseOptions(
                ignore_empty_lines=False, invalid_row_handler=self._invalid
            ),
            convert_options=pacsv.ConvertOptions(
                # device, metric and value repeat: the parser dictionary-encodes them, so each
                # distinct spelling is looked up or parsed once per block
                column_types={
                    name: _DICT if i in (0, 2, 3) else pa.string() for i, name in enumerate(header)
                },
                include_columns=self._names,
                strings_can_be_null=False,
            ),
        )

    def _invalid(self, row: Any) -> str:
        if row.text.count(",") >= 3:
            self._too_long = True  # a row the row path would take (its first four fields)
        self._short += 1
        return "skip"

    def __iter__(self) -> Iterator[Block]:
        for batch in self._reader:
            if self._too_long:
                raise NeedsRowPath("a row has more fields than the header")
            yield self._block(batch)
        if self._too_long:
            raise NeedsRowPath("a row has more fields than the header")
        #: short rows after the last block (none, as the reader reports them with their block)
        self.trailing_rows = self._short
        self._skip("short_row", self._short)
        self._short = 0

    def _block(self, batch: pa.RecordBatch) -> Block:
        n = batch.num_rows
        first = self._next_row
        # the reader dropped short rows from the batch: they keep no index of their own, which
        # does not matter (indices only order rows; a dropped row releases nothing)
        self._next_row += n
        short, self._short = self._short, 0
        self._skip("short_row", short)
        dev_col, ts_col, metric_col, value_col = (batch.column(c) for c in self._names)
        dev_idx, metric_idx, value_idx = (
            col.indices.to_numpy(zero_copy_only=False) for col in (dev_col, metric_col, value_col)
        )
        # metric: the row path strips it and looks it up; do that once per distinct spelling
        spellings = metric_col.dictionary.to_pylist()
        code_of = np.array([_METRIC_CODE.get(s.strip(), -1) for s in spellings], np.int64)
        metric = code_of[metric_idx]
        ok = metric >= 0
        # the reader gives an empty line four empty fields; the row path calls it a short row
        # (so does this, and also a line of three bare commas, which it calls unknown_metric)
        empty = ~ok & (_lengths(dev_col)[dev_idx] == 0)
        if empty.any():
            empty &= (pc.binary_length(ts_col).to_numpy(zero_copy_only=False) == 0) & (
                _lengths(value_col)[value_idx] == 0
            )
            empty &= _lengths(metric_col)[metric_idx] == 0
            self._skip("short_row", int(empty.sum()))
        self._skip("unknown_metric", int(n - ok.sum() - empty.sum()))
        # timestamps: epoch-ms digits in one cast, ISO 8601 UTC seconds in columns, anything
        # else through the row path's parser
        if _epoch_digits_only(ts_col):  # the usual file: the whole column in one cast
            ts = pc.cast(ts_col, pa.int64()).to_numpy()
        else:
            ts = self._timestamps(ts_col, ok)
        value = self._values(value_col.dictionary, value_idx, metric, ok)
        bad_stage = ok & (metric == _STAGE) & np.isnan(value)
        self._skip("bad_sleep_stage", int(bad_stage.sum()))
        ok &= ~bad_stage
        keep = np.flatnonzero(ok)
        dev = self._devices(dev_col.dictionary, dev_idx[keep])
        ts, metric, value = ts[keep], metric[keep], value[keep]
        return Block(
            row=keep.astype(np.int64) + first,
            dev=dev,
            ts=ts,
            metric=metric,
            value=value,
            interval=self._intervals(dev, ts, metric),
            rows=n + short,
        )

    def _timestamps(self, ts_col: pa.Array, ok: npt.NDArray[np.bool_]) -> I64:
        """Epoch ms of the ``ok`` rows of ``ts_col`` (a column not all epoch-ms digits); a row
        no parser takes is counted as ``bad_ts`` and cleared in ``ok``."""
        ts = np.zeros(len(ok), np.int64)
        # (ASCII digits, at most 18 of them: a character-class test, cheaper than a regex)
        digits = pc.and_(
            pc.ascii_is_decimal(ts_col), pc.less_equal(pc.binary_length(ts_col), _EPOCH_DIGITS)
        ).to_numpy(zero_copy_only=False)
        fast = ok & digits
        if fast.any():
            ts[fast] = pc.cast(pc.filter(ts_col, pa.array(fast)), pa.int64()).to_numpy()
        fast |= self._iso_seconds(ts_col, ok & ~digits, ts)
        slow = np.flatnonzero(ok & ~fast)
        if slow.size:
            texts = pc.take(ts_col, pa.array(slow)).to_pylist()
            for i, text in zip(slow.tolist(), texts, strict=True):
                try:
                    ts[i] = self._parse_ts(text)
                except ValueError:
                    ok[i] = False
                    self._skip("bad_ts", 1)
        return ts

    @staticmethod
    def _iso_seconds(
        ts_col: pa.Array, rows: npt.NDArray[np.bool_], ts: I64
    ) -> npt.NDArray[np.bool_]:
        """Parse ``rows`` of ``ts_col`` written as ISO 8601 UTC to the second
        (``2016-04-13T00:00:00Z``, as real exports are) into ``ts``, in columns; return which
        rows it parsed. A parsed row gets what :func:`~ingest.replay.replay.parse_ts` gives (a
        whole second: exact); only real dates and times are parsed (no 30 February, no leap
        second, no year 0), the rest is left to that parser."""
        done = np.zeros(len(rows), bool)
        if not rows.any():
            return done
        rows = rows & pc.match_substring_regex(ts_col, _ISO_SECOND).to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(rows)
        if not idx.size:
            return done
        texts = pc.take(ts_col, pa.array(idx))  # 20 ASCII characters each, back to back
        start = int(np.frombuffer(texts.buffers()[1], np.int32)[texts.offset])
        chars = np.frombuffer(texts.buffers()[2], np.uint8)[start : start + 20 * len(idx)]
        digit = chars.reshape(len(idx), 20).astype(np.int64) - ord("0")

        def number(first: int, width: int) -> I64:
            out = digit[:, first]
            for k in range(first + 1, first + width):
                out = out * 10 + digit[:, k]
            return out

        year, month, day = number(0, 4), number(5, 2), number(8, 2)
        hour, minute, second = number(11, 2), number(14, 2), number(17, 2)
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_ok = (month >= 1) & (month <= 12)
        days_in = _DAYS_IN_MONTH[np.where(month_ok, month, 1)] + (leap & (month == 2))
        valid = (
            (year >= 1)
            & month_ok
            & (day >= 1)
            & (day <= days_in)
            & (hour <= 23)
            & (minute <= 59)
            & (second <= 59)
        )
        # days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
        y = year - (month <= 2)
        era = y // 400
        yoe = y - era * 400
        doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
        days = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
        seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
        ts[idx[valid]] = seconds[valid] * 1000
        done[idx[valid]] = True
        return done

    def _values(
        self, spellings: pa.Array, idx: npt.NDArray[Any], metric: I64, ok: npt.NDArray[np.bool_]
    ) -> F64:
        """Each row's value from its spelling's index ``idx``: as ``float()`` reads it (NaN if
        it cannot), or for sleep stages the stage's code (NaN if unknown), one parse per
        distinct spelling."""
        number = np.full(len(spellings), math.nan)
        plain = pc.match_substring_regex(spellings, _PLAIN_FLOAT).to_numpy(zero_copy_only=False)
        if plain.any():
            number[plain] = pc.cast(pc.filter(spellings, pa.array(plain)), pa.float64()).to_numpy()
        for i in np.flatnonzero(~plain).tolist():  # " 60", "1_000", "n/a": as float()
            with contextlib.suppress(ValueError):
                number[i] = float(spellings[i].as_py())
        value = number[idx]
        stages = np.flatnonzero(ok & (metric == _STAGE))
        if stages.size:
            used = np.flatnonzero(np.bincount(idx[stages], minlength=len(spellings)))
            names = pc.take(spellings, pa.array(used)).to_pylist()
            stage = np.full(len(spellings), math.nan)
            for i, name in zip(used.tolist(), names, strict=True):
                code = SLEEP_STAGES.get(name.strip().lower())
                if code is not None:
                    stage[i] = float(code)
            value[stages] = stage[idx[stages]]
        return np.asarray(value, np.float64)

    def _devices(self, names: pa.Array, local: npt.NDArray[Any]) -> I64:
        """Device codes of the valid rows, whose device ids are ``names[local]``; new devices
        get codes in order of first appearance in these rows (the reorder buffer's order)."""
        if not len(local):
            return np.empty(0, np.int64)
        to_code = np.full(len(names), -1, np.int64)
        # which spellings occur (a count, not a sort: sorting the block's rows to find them
        # cost a sixth of the reader's time)
        used = np.flatnonzero(np.bincount(local, minlength=len(names)))
        spelled = pc.take(names, pa.array(used)).to_pylist()
        known = [self._dev_code.get(name, -1) for name in spelled]
        if -1 in known:  # new devices: sort once, to give codes in order of first appearance
            used, first = np.unique(local, return_index=True)
            used = used[np.argsort(first)]
            spelled = pc.take(names, pa.array(used)).to_pylist()
            for name in spelled:
                if name not in self._dev_code:
                    self._dev_code[name] = len(self.device_ids)
                    self.device_ids.append(name)
            known = [self._dev_code[name] for name in spelled]
        to_code[used] = known
        return np.asarray(to_code[local], np.int64)

    def _intervals(self, dev: I64, ts: I64, metric: I64) -> F64:
        interval = np.full(len(ts), math.nan)
        steps = np.flatnonzero(metric == _STEPS)
        if not steps.size:
            return interval
        sdev, sts = dev[steps], ts[steps]
        by_dev = np.argsort(sdev, kind="stable")
        d, t = sdev[by_dev], sts[by_dev]
        first = np.ones(len(d), bool)
        first[1:] = d[1:] != d[:-1]
        prev = np.empty(len(t), np.int64)
        prev[1:] = t[:-1]
        has_prev = ~first
        last = self._last_steps
        for k in np.flatnonzero(first).tolist():
            p = last.get(int(d[k]))
            if p is not None:
                prev[k] = p
                has_prev[k] = True
        ends = np.append(np.flatnonzero(first)[1:] - 1, len(d) - 1)
        for k in ends.tolist():
            last[int(d[k])] = int(t[k])
        gap = t - prev
        out = np.where(has_prev & (gap > 0) & (gap <= 15 * MIN), gap / 1000.0, 60.0)
        interval[steps[by_dev]] = out
        return interval


@dataclass
class ReleaseState:
    """What the reorder buffer knows across blocks (``order="time"``)."""

    window_ms: int
    held: Held = field(default_factory=Held)
    newest: dict[int, int] = field(default_factory=dict)  # device code -> newest accepted ts
    global_newest: int = -(2**62)
    swept: int = -(2**62)


@dataclass
class Released:
    """Readings the buffer released during a block, in release order, and per input row of the
    block how many it released (the row path runs the engine when that reaches its batch)."""

    dev: I64
    ts: I64
    metric: I64
    value: F64
    interval: F64
    per_row_end: I64  # file row index of the row that released each reading


def release(block: Block, st: ReleaseState) -> Released:
    """Release order of ``block``'s rows (and held readings) as ``ReorderBuffer.push`` would."""
    w = st.window_ms
    held = st.held
    n = len(block.ts)
    dev, ts, row = block.dev, block.ts, block.row
    # -- far behind: more than a window behind the device's newest accepted time -------------
    by_dev = _stable_order(dev)  # rows grouped by device, in file order within a device
    d_sorted, t_sorted = dev[by_dev], ts[by_dev]
    starts = np.flatnonzero(np.r_[True, d_sorted[1:] != d_sorted[:-1]]) if n else by_dev
    newest_before = _group_prev_max(d_sorted, t_sorted, starts, st.newest)
    far_sorted = (newest_before > _LOW) & (t_sorted < newest_before - w)
    acc_sorted = ~far_sorted
    far = np.zeros(n, bool)
    far[by_dev] = far_sorted
    acc = ~far
    # -- the file's newest time after each accepted row ---------------------------------------
    g = np.where(acc, ts, _LOW)
    if n:
        g = np.maximum.accumulate(np.maximum(g, st.global_newest))
    # -- sweep rows ---------------------------------------------------------------------------
    acc_idx = np.flatnonzero(acc)
    g_acc = g[acc_idx]
    step = w // 4 + 1
    sweeps: list[int] = []
    swept = st.swept
    k = 0
    while True:
        k = max(k, int(np.searchsorted(g_acc, swept + step, "left")))
        if k >= len(g_acc):
            break
        sweeps.append(k)
        swept = int(g_acc[k])
        k += 1
    sweep_pos = acc_idx[np.array(sweeps, np.int64)] if sweeps else np.empty(0, np.int64)
    sweep_g = g[sweep_pos]
    # -- items: held readings (pushed before the block, position -1), then accepted rows by
    # device (the order the searches below want; the final sort makes the release order) --------
    acc_by_dev = by_dev[acc_sorted]
    item_pos = np.concatenate([np.full(len(held.ts), -1, np.int64), acc_by_dev])
    acc_dev_sorted = d_sorted[acc_sorted]
    item_dev = np.concatenate([held.dev, acc_dev_sorted])
    item_ts = np.concatenate([held.ts, t_sorted[acc_sorted]])
    due = item_ts + w  # released once the newest time reaches this
    # own device: first accepted row of the device, at or after the item, with G >= due. Along
    # a device's accepted rows G only grows, so (device, G) keys are sorted: one binary search
    own = np.full(len(item_ts), _NEVER, np.int64)
    if len(acc_by_dev):
        g_coord, due_coord, width = _coordinates(g[acc_by_dev], due, int(dev.max()))
        key = acc_dev_sorted * width + g_coord
        j = np.searchsorted(key, item_dev * width + due_coord, "left")
        j[len(held.ts) :] = np.maximum(j[len(held.ts) :], np.arange(len(acc_by_dev)))
        jj = np.minimum(j, len(acc_by_dev) - 1)
        hit = (j < len(acc_by_dev)) & (acc_dev_sorted[jj] == item_dev)
        own[hit] = acc_by_dev[jj[hit]]
    # sweep: the first sweep at or after the item with G >= due
    s = np.maximum(
        np.searchsorted(sweep_pos, item_pos, "left"), np.searchsorted(sweep_g, due, "left")
    )
    sweep = np.full(len(item_ts), _NEVER, np.int64)
    in_s = s < len(sweep_pos)
    sweep[in_s] = sweep_pos[s[in_s]]
    # a later far-behind row of the device releases everything the device holds
    far_idx = np.flatnonzero(far)
    flushed = np.full(len(item_ts), _NEVER, np.int64)
    if len(far_idx):
        far_by_dev = by_dev[far_sorted]
        far_key = dev[far_by_dev] * (n + 2) + far_by_dev + 1
        f = np.searchsorted(far_key, item_dev * (n + 2) + item_pos + 1, "right")
        ff = np.minimum(f, len(far_by_dev) - 1)
        hit = (f < len(far_by_dev)) & (dev[far_by_dev[ff]] == item_dev)
        flushed[hit] = far_by_dev[ff[hit]]
    at = np.minimum(np.minimum(own, sweep), flushed)
    # place within the releasing row: 0 its own device (or flushed by a far-behind row), 1 the
    # far-behind row itself, 2 + device code for a sweep (devices in order of first appearance)
    group = np.where((at == sweep) & (at < own) & (at < flushed), 2 + item_dev, 0)
    out = at < _NEVER
    # every reading as an index into held + block rows, so each column is gathered once
    nh = len(held.ts)
    item_src = np.concatenate([np.arange(nh), acc_by_dev + nh])
    rel_src = np.concatenate([item_src[out], far_idx + nh])
    rel_at = np.concatenate([at[out], far_idx])
    rel_group = np.concatenate([group[out], np.ones(len(far_idx), np.int64)])
    rel_ts = np.concatenate([item_ts[out], ts[far_idx]])
    rel_row = np.concatenate([held.row, row])[rel_src]
    order = _release_order(rel_at, rel_group, rel_ts, rel_row)
    src = rel_src[order]
    keep = item_src[~out]

    def column(held_part: npt.NDArray[Any], block_part: npt.NDArray[Any]) -> Any:
        both = np.concatenate([held_part, block_part])
        return both[src], both[keep]

    dev_out, dev_held = column(held.dev, dev)
    ts_out, ts_held = column(held.ts, ts)
    metric_out, metric_held = column(held.metric, block.metric)
    value_out, value_held = column(held.value, block.value)
    interval_out, interval_held = column(held.interval, block.interval)
    row_held = np.concatenate([held.row, row])[keep]
    released = Released(
        dev=dev_out,
        ts=ts_out,
        metric=metric_out,
        value=value_out,
        interval=interval_out,
        per_row_end=row[rel_at[order]] if n else np.empty(0, np.int64),
    )
    st.held = Held(
        dev=dev_held,
        ts=ts_held,
        row=row_held,
        metric=metric_held,
        value=value_held,
        interval=interval_held,
    )
    if len(acc_idx):
        st.global_newest = int(g_acc[-1])
        st.swept = swept
        acc_dev = acc_dev_sorted
        acc_starts = np.flatnonzero(np.r_[True, acc_dev[1:] != acc_dev[:-1]])
        newest = np.maximum.reduceat(t_sorted[acc_sorted], acc_starts)
        for code, t in zip(acc_dev[acc_starts].tolist(), newest.tolist(), strict=True):
            st.newest[code] = max(st.newest.get(code, t), t)
    return released


def _release_order(at: I64, group: I64, ts: I64, row: I64) -> npt.NDArray[np.intp]:
    """``np.lexsort((row, ts, group, at))`` of released readings given in item order, where
    the readings of one ``(at, group)`` are one device's, in file (``row``) order.

    One stable sort by ``(at, group)`` then leaves each group in file order, which is already
    its ``(ts, row)`` order wherever the device's times did not go backwards; only groups where
    they did are sorted again. On a file in (nearly) time order that is one single-key sort
    instead of four (the lexsort was a third of the reordering's time)."""
    if not len(at):
        return np.empty(0, np.intp)
    low = int(at.min())
    width = int(group.max()) + 1
    if (int(at.max()) - low + 1) * width >= 2**62:  # no single key: the general sort
        return np.asarray(np.lexsort((row, ts, group, at)), np.intp)
    key = (at - low) * width + group
    order = np.argsort(key, kind="stable")
    key, ts_in_order = key[order], ts[order]
    same = key[1:] == key[:-1]
    back = same & (ts_in_order[1:] < ts_in_order[:-1])
    if back.any():
        # the groups with a time going backwards, sorted again by (group, ts, row) in place
        run = np.concatenate(([0], np.cumsum(~same)))
        redo_run = np.zeros(int(run[-1]) + 1, bool)
        redo_run[run[1:][back]] = True
        redo = redo_run[run]
        at_pos = np.flatnonzero(redo)
        sub = order[at_pos]
        sub_run, sub_ts = run[at_pos], ts[sub]
        ts_low = int(sub_ts.min())
        ts_width = int(sub_ts.max()) - ts_low + 1
        if (int(sub_run[-1]) + 1) * ts_width < 2**62:  # (group, ts) as one key; rows in order
            order[at_pos] = sub[np.argsort(sub_run * ts_width + (sub_ts - ts_low), kind="stable")]
        else:
            order[at_pos] = sub[np.lexsort((row[sub], sub_ts, sub_run))]
    return order


def flush(st: ReleaseState) -> Released:
    """Everything still held, in ``(ts, row)`` order (the end of the file)."""
    h = st.held
    order = np.lexsort((h.row, h.ts))
    st.held = Held()
    return Released(
        dev=h.dev[order],
        ts=h.ts[order],
        metric=h.metric[order],
        value=h.value[order],
        interval=h.interval[order],
        per_row_end=np.full(len(order), _NEVER, np.int64),
    )


def _epoch_digits_only(column: pa.Array) -> bool:
    """Whether every value of a string column is 1 to ``_EPOCH_DIGITS`` ASCII digits, judged
    on its raw buffers (three vectorised passes, no per-row mask)."""
    if not len(column) or column.null_count:
        return False
    offsets = np.frombuffer(column.buffers()[1], np.int32)[
        column.offset : column.offset + len(column) + 1
    ]
    lengths = np.diff(offsets)
    if int(lengths.min()) < 1 or int(lengths.max()) > _EPOCH_DIGITS:
        return False
    chars = np.frombuffer(column.buffers()[2], np.uint8)[int(offsets[0]) : int(offsets[-1])]
    return bool(int(chars.min()) >= ord("0") and int(chars.max()) <= ord("9"))


def _lengths(column: pa.DictionaryArray) -> npt.NDArray[np.int32]:
    """Length of each of a dictionary column's spellings (index them by the column's indices)."""
    return np.asarray(pc.binary_length(column.dictionary).to_numpy(zero_copy_only=False))


def _stable_order(dev: I64) -> npt.NDArray[np.intp]:
    """Indices grouping ``dev`` by value, keeping the order within a group (a radix sort when
    the codes fit 16 bits)."""
    if len(dev) and int(dev.max()) < 2**15:
        return np.argsort(dev.astype(np.int16), kind="stable")
    return np.argsort(dev, kind="stable")


def _coordinates(g: I64, due: I64, devices: int) -> tuple[I64, I64, int]:
    """``g`` and ``due`` mapped to small non-negative integers with the same order between
    them, and a width above them all, so ``device * width + coordinate`` cannot overflow."""
    low, high = int(g.min()), int(g.max())
    width = high - low + 2
    if width * (devices + 1) < 2**62:  # offsets fit: cheapest
        return g - low, np.clip(due - low, 0, width - 1), width
    values = np.unique(g)
    return (
        np.searchsorted(values, g).astype(np.int64),
        np.searchsorted(values, due).astype(np.int64),
        len(values) + 1,
    )


def _group_prev_max(d: I64, t: I64, starts: npt.NDArray[np.intp], carry: dict[int, int]) -> I64:
    """For each position of ``t`` (grouped by ``d``, groups beginning at ``starts``), the max of
    the earlier values of its group and of ``carry[group]``; ``_LOW`` where there is none."""
    n = len(t)
    out = np.full(n, _LOW, np.int64)
    if not n:
        return out
    run = _group_max(d, t, starts)
    out[1:] = run[:-1]
    out[starts] = _LOW
    if carry:
        base = np.array([carry.get(c, _LOW) for c in d[starts].tolist()], np.int64)
        out = np.maximum(out, np.repeat(base, np.diff(np.append(starts, n))))
    return out


def _group_max(d: I64, t: I64, starts: npt.NDArray[np.intp]) -> I64:
    """Running max of ``t`` within each group of equal ``d`` (groups beginning at ``starts``)."""
    group = np.repeat(np.arange(len(starts), dtype=np.int64), np.diff(np.append(starts, len(t))))
    low = int(t.min())
    width = int(t.max()) - low + 1
    if width * (len(starts) + 1) < 2**62:
        key = np.maximum.accumulate(group * width + (t - low))
        return np.asarray(key - group * width + low, np.int64)
    values, rank = np.unique(t, return_inverse=True)  # offsets would overflow: rank them
    width = len(values) + 1
    key = np.maximum.accumulate(group * width + rank)
    return np.asarray(values[key - group * width], np.int64)


def columns(rel: Released, lo: int, hi: int) -> tuple[I64, I64, I64, F64, F64]:
    """Readings ``lo:hi`` of ``rel`` as the engine's columns (``Engine.process_columns``)."""
    return (
        rel.dev[lo:hi],
        rel.ts[lo:hi],
        rel.metric[lo:hi],
        rel.value[lo:hi],
        rel.interval[lo:hi],
    )


def released_blocks(reader: ColumnReader, state: ReleaseState) -> Iterator[tuple[Block, Released]]:
    """Read in one worker thread and reorder in another, each up to two blocks ahead of its
    consumer: the parsing and most of the array work release the GIL, so on two cores they
    overlap each other and the engine (reading and reordering one after the other in one
    thread was the longest stage)."""
    blocks = _ahead(iter(reader), "replay-reader")
    try:
        yield from _ahead(((block, release(block, state)) for block in blocks), "replay-reorder")
    finally:
        blocks.close()  # (after the reorder thread has stopped taking blocks)


def _ahead(items: Iterator[Any], name: str) -> Generator[Any, None, None]:
    """``items``, produced in a worker thread up to two ahead of the caller; an exception is
    raised in the caller's thread, and a caller that stops early stops the worker."""
    done = object()
    queue: Queue[Any] = Queue(maxsize=2)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(done)
        except BaseException as exc:  # handed to the caller's thread
            hand_over(exc)

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
