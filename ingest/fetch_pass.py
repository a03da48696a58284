# cython: language_level=3, annotation_typing=False
"""The daemon's per-record work over one fetch, in typed loops (compiled with Cython).

:meth:`ingest.daemon.IngestDaemon._process` hands each partition's fetch here once, with the
batch decode's result (:meth:`messages.ReadingDecoder.decode_many`), and ``_score`` hands each
run of scored readings here once; what used to be several interpreted steps per record (the
key check, the applied-offset skip, the clock boundary check, two appends; then a dict of
latest sources, a list comprehension of lines, the lanes) is one loop each, in C when the
build compiled this module (``minutes.py``'s way: Cython's pure-Python mode, the types in
``fetch_pass.pxd``; without a compiler the same source runs interpreted, with the same
results).

Only the common case is decided here. Everything rare calls back into the daemon, which keeps
its own logic for it: a record the batch decode left out, with headers or keyed otherwise
than its reading (``general``: its dead letters, its standard format), and a reading that
reaches its partition's next grid point (``boundary``: the clock, the readings before it
scored first, then the ticks). So the order of ticks and readings, the dead letters and their
reasons are the daemon's, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

#: ``next_tick`` of a partition whose clock has not started (``GridClock.next_ms`` is None):
#: below any event time, so the first reading calls ``boundary``, which starts the clock
NO_TICK = -(2**62)

#: the next grid point of a partition's clock and whether the readings passed were scored
Boundary = Callable[[int, list[Any], list[Any]], tuple[int, bool]]


def record_values(records: list[Any]) -> list[bytes | None]:
    """The records' values, for the batch decode (one C loop instead of a comprehension)."""
    values: list[bytes | None] = []
    for rec in records:
        values.append(rec.value)
    return values


def scan_partition(
    records: list[Any],
    fast: list[Any],
    applied: dict[str, int],
    next_tick: int,
    general: Callable[[Any], Sequence[Any] | None],
    boundary: Boundary,
    readings: list[Any],
    sources: list[Any],
    timestamps: list[int],
) -> tuple[list[Any], list[Any], int, int]:
    """One partition's fetch: its readings to score, in record order, cut at grid points.

    Parameters
    ----------
    records
        The partition's Kafka records (aiokafka ``ConsumerRecord``), in offset order.
    fast
        Per record, the batch decode's :class:`messages.Reading`, or ``None`` where it left
        the record out.
    applied
        Device -> the last readings offset its state holds; a record at or below it was
        scored before the restart or rebalance that replays it, and is skipped.
    next_tick
        The partition clock's next grid point (:data:`NO_TICK` if it has not started).
    general
        The daemon's decode of a record the fast path does not take: its readings, or
        ``None`` when it was dead-lettered as a whole.
    boundary
        Called with a reading's event time, the readings so far and their records when the
        reading reaches ``next_tick``: advances the clock, and if it crossed grid points scores
        the readings first and ticks (then returns ``True`` beside the clock's next grid
        point, and the pass starts new lists).
    readings, sources
        What earlier partitions of the fetch left to score: appended to (or replaced).
    timestamps
        Every record's Kafka timestamp is appended to it (the daemon's latency sample).

    Returns
    -------
    readings, sources, skipped, newest
        The readings left to score and their records, how many readings were skipped as
        applied already, and the newest event time seen (-1 if none).
    """
    skipped = 0
    newest = -1
    n = len(records)
    for i in range(n):
        rec = records[i]
        timestamps.append(rec.timestamp)
        one = fast[i]
        key = rec.key
        if one is not None and not rec.headers and key == one.device_id.encode():
            many = None  # the common case: the record is one reading of the keyed device
            count = 1
            device = one.device_id
        else:  # anything else (and its reason) takes the general path
            many = general(rec)
            if many is None:
                continue
            count = len(many)
            if count == 0:
                continue
            device = many[0].device_id
        # a record's readings were all applied, or none
        if rec.offset <= applied.get(device, -1):
            skipped += count
            continue
        for j in range(count):
            reading = one if many is None else many[j]
            ts = reading.ts_ms
            if ts > newest:
                newest = ts
            if ts >= next_tick:
                next_tick, scored = boundary(ts, readings, sources)
                if scored:
                    readings = []
                    sources = []
            readings.append(reading)
            sources.append(rec)
    return readings, sources, skipped, newest


def format_points(
    scored: list[Any],
    sources: list[Any],
    pseudo: Callable[[str], str],
    reading_line: Callable[[Any, str], str],
) -> tuple[list[str], list[int], dict[str, Any]]:
    """The lines of a run of scored readings (``reading_line`` of each with its device's
    pseudonym: :func:`ingest.influx.line_protocol.reading_line`), their lanes (partitions), and
    per device the record of its last reading (for the daemon's bookkeeping).

    The pseudonym is worked out once per device of the run. Raises whatever a point raises
    (the daemon then formats the run point by point, dead-lettering the record that raised).
    """
    lines: list[str] = []
    lanes: list[int] = []
    latest: dict[str, Any] = {}
    tags: dict[str, str] = {}
    n = len(scored)
    if len(sources) != n:
        raise ValueError("one source per scored reading")
    for i in range(n):
        s = scored[i]
        src = sources[i]
        device = s.device_id
        tag = tags.get(device)
        if tag is None:
            tag = tags[device] = pseudo(device)
        lines.append(reading_line(s, tag))
        lanes.append(src.partition)
        latest[device] = src
    return lines, lanes, latest
