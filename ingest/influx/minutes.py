# cython: language_level=3, annotation_typing=False
"""Scores and baselines per device-minute: the ``vitals_minute`` points.

A raw ``vitals`` point carries only what a reading is (its value, device and metric); what
the detector thought of it is summarised per device, metric and minute of event time, which
is all the dashboards draw and costs InfluxDB and the daemon a fraction of four fields per
reading (docs/schema.md, docs/benchmarks.md).

A device's open minutes are part of its state: :meth:`MinuteAggregator.snapshot` goes into the
device-state changelog beside the engine's snapshot, so after a restart or a rebalance the
minute that was open at the last commit continues where it was, and the point the next owner
writes for it covers the same readings as one written without the interruption. So do the
closed minutes a late reading may still change (:data:`LATE_WINDOW_MS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import msgspec

from detectors import Scored

MINUTE_MS = 60_000

#: a score below this says little about the sd behind it (the stored score and baseline are
#: rounded), so the minute's ``sd`` comes from readings scoring at least this much
SD_MIN_SCORE = 0.5


class Minute(msgspec.Struct, array_like=True, gc=False, omit_defaults=True):
    """The running summary of one device, metric and minute (mutable, serialisable)."""

    metric: str
    minute_ms: int  # the minute's start, the point's timestamp
    flagged: int
    score_max: float
    baseline: float | None  # the minute's last baseline
    sd: float | None  # |value - baseline| / score of the minute's last usable reading
    # on the open minute only: from this minute on, every minute of the device and metric that
    # said something is held (closed ones in the late window), so a late reading from here on
    # is folded in; None (a snapshot from before late readings were folded): the open minute
    since_ms: int | None = None


#: how far behind its device and metric's open minute a late reading is still folded into its
#: minute (whose point is then written again); a reading later than that keeps its raw point
#: only (docs/schema.md). It bounds the closed minutes kept per device and metric.
LATE_WINDOW_MS = 10 * MINUTE_MS

#: the layout of :meth:`MinuteAggregator.snapshot`: a list of :class:`Minute` arrays. Layout 1
#: (releases before this one) had a reading count after ``minute_ms``; it goes in its own field
#: of the changelog record (ingest/kafka_io/changelog.py), since decoded as layout 2 some of its
#: minutes would be misread rather than refused (a count as ``flagged``, a flag count as the
#: score, and so on)
LAYOUT = 2


class _MinuteV1(msgspec.Struct, array_like=True, gc=False):
    """A minute of layout 1 (with the reading count no point carries any more), only read."""

    metric: str
    minute_ms: int
    readings: int
    flagged: int
    score_max: float
    baseline: float | None
    sd: float | None
    since_ms: int | None = None


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[Minute]).decode
_decode_v1 = msgspec.msgpack.Decoder(list[_MinuteV1]).decode


def _decode_layout(data: bytes, layout: int) -> list[Minute]:
    """The minutes of a snapshot of ``layout`` (``msgspec.DecodeError`` if it is none)."""
    if layout == LAYOUT:
        return _decode(data)
    if layout == 1:
        return [
            Minute(m.metric, m.minute_ms, m.flagged, m.score_max, m.baseline, m.sd, m.since_ms)
            for m in _decode_v1(data)
        ]
    raise msgspec.DecodeError(f"no minutes layout {layout}")


def _says_something(m: Minute) -> bool:
    """Whether a minute carries anything of the detector's: a score, a baseline or a flag.
    Signals the engine does not score (sleep stages, steps: score 0, no baseline) have none,
    and their raw points say all there is, so no summary is written for them."""
    return m.score_max > 0 or m.baseline is not None or m.flagged > 0


def _sd(value: float, baseline: float, score: float) -> float:
    """The sd behind a reading's score: how far it is from its baseline, in scores."""
    return abs(value - baseline) / score


def _start(s: Scored, metric: str, minute_ms: int) -> Minute:
    base = s.baseline
    score = s.score if math.isfinite(s.score) else 0.0
    sd = _sd(s.value, base, score) if base is not None and score >= SD_MIN_SCORE else None
    return Minute(metric, minute_ms, 1 if s.flagged else 0, score, base, sd)


def _fold(m: Minute, s: Scored, late: bool) -> None:
    """A reading into its minute: its score and flag count, and its baseline is the minute's
    last, except for a ``late`` reading (of a closed minute), whose baseline (the one it was
    scored against, from after the minute) fills in only a minute that had none."""
    score = s.score
    if score > m.score_max:
        m.score_max = score
    if s.flagged:
        m.flagged += 1
    base = s.baseline
    if base is not None and (not late or m.baseline is None):
        m.baseline = base
        if score >= SD_MIN_SCORE:
            m.sd = _sd(s.value, base, score)


class MinuteAggregator:
    """Folds scored readings into per device-minute summaries.

    Only the newest minute of each device and metric is open. A reading of a later minute
    closes it (:meth:`add` returns it, to be written) and opens its own. The closed minutes of
    the last :data:`LATE_WINDOW_MS` that say something are kept: a reading of one of them
    (late, out of order: the engine scores it against the current baseline and learns nothing
    from it) is folded into it, or into a minute of its own where no reading had said
    anything, and :meth:`add` returns that minute again, to be rewritten (InfluxDB keeps the
    last write of a series and timestamp). A reading older than the window keeps its raw point
    only. Open minutes without a score, baseline or flag are kept (a flag may come) but never
    returned to be written; what a minute says only grows, so a partial point written is always
    overwritten by its final one.

    Compiled at install time like :mod:`detectors.reading_path` (Cython pure-Python mode,
    types in ``minutes.pxd``); without a C compiler this same source runs interpreted.
    """

    def __init__(self) -> None:
        self._open: dict[str, dict[str, Minute]] = {}
        # device -> metric -> its closed minutes in the late window, oldest first
        self._closed: dict[str, dict[str, list[Minute]]] = {}

    def add(self, scored: Sequence[Scored]) -> list[tuple[str, Minute]]:
        """Fold a batch in; return the (device, minute) summaries it closed or changed after
        they closed."""
        opened = self._open
        closed: list[tuple[str, Minute]] = []
        for s in scored:
            ts = s.ts_ms
            minute_ms = ts - ts % MINUTE_MS
            device = s.device_id
            metric = s.metric._value_  # a str key: an Enum's __hash__ is Python code
            per_device = opened.get(device)
            if per_device is None:
                per_device = opened[device] = {}
            m = per_device.get(metric)
            if m is None or m.minute_ms != minute_ms:
                if m is None:
                    new = per_device[metric] = _start(s, metric, minute_ms)
                    new.since_ms = minute_ms
                elif minute_ms > m.minute_ms:
                    if _says_something(m):
                        closed.append((device, m))
                    per_device[metric] = self._next(device, m, s, metric, minute_ms)
                else:
                    self._late(device, m, s, metric, minute_ms, closed)
                continue
            _fold(m, s, False)
        return closed

    def _next(self, device: str, m: Minute, s: Scored, metric: str, minute_ms: int) -> Minute:
        """Close ``m`` into the late window and open the reading's minute."""
        floor = minute_ms - LATE_WINDOW_MS
        per_device = self._closed.get(device)
        if per_device is None:
            per_device = self._closed[device] = {}
        window = per_device.get(metric)
        if window is None:
            window = per_device[metric] = []
        if _says_something(m):  # one that says nothing is as good as none (see _late)
            window.append(m)
        while window and window[0].minute_ms < floor:
            del window[0]
        since = m.since_ms
        m.since_ms = None  # only the open minute carries it
        new = _start(s, metric, minute_ms)
        new.since_ms = floor if since is None or since < floor else since
        return new

    def _late(
        self,
        device: str,
        m: Minute,
        s: Scored,
        metric: str,
        minute_ms: int,
        closed: list[tuple[str, Minute]],
    ) -> None:
        """A reading of a minute before the open one ``m``: into its closed minute if that is
        in the window (to be written again), else its raw point only."""
        since = m.since_ms
        if since is None or minute_ms < since:
            return  # older than the window (or than what a restored state knows)
        window = self._closed.setdefault(device, {}).setdefault(metric, [])
        i = len(window)
        while i and window[i - 1].minute_ms > minute_ms:
            i -= 1
        if i and window[i - 1].minute_ms == minute_ms:
            target = window[i - 1]
            _fold(target, s, True)
        else:
            # no reading had come in that minute, or none that said anything (its point was
            # never written): the late reading's summary is the minute's
            target = _start(s, metric, minute_ms)
            window.insert(i, target)
        # once per batch (a batch may close the minute, or bring two late readings of it)
        if _says_something(target) and all(c is not target for _, c in closed):
            closed.append((device, target))

    def open_minutes(self, devices: Iterable[str]) -> list[tuple[str, Minute]]:
        """The minutes still open of these devices that say something (written partial at a
        commit)."""
        opened = self._open
        out: list[tuple[str, Minute]] = []
        for device in devices:
            per_device = opened.get(device)
            if per_device:
                out += [(device, m) for m in per_device.values() if _says_something(m)]
        return out

    def snapshot(self, device: str) -> bytes:
        """The device's minutes, for the device-state changelog: the closed ones of the late
        window, then the open ones (which carry the window's start)."""
        window = [m for ms in self._closed.get(device, {}).values() for m in ms]
        return _encode(window + list(self._open.get(device, {}).values()))

    def restore(self, device: str, data: bytes, layout: int = LAYOUT) -> bool:
        """Reopen the device's minutes of a :meth:`snapshot` (``b""``: none were open) of
        :data:`LAYOUT`, or of an earlier ``layout`` (a record of an earlier release).

        Returns False, with none open, for data that is not a snapshot of that layout: the
        device's next minute points then cover only the readings from here on.
        """
        self.drop(device)
        if not data:
            return True
        try:
            minutes = _decode_layout(data, layout)
        except msgspec.DecodeError:
            return False
        if not minutes:
            return True
        opened: dict[str, Minute] = {}
        for m in minutes:  # per metric, the newest is the open one
            held = opened.get(m.metric)
            if held is None or m.minute_ms > held.minute_ms:
                opened[m.metric] = m
        window: dict[str, list[Minute]] = {}
        for m in minutes:
            if opened[m.metric] is not m:
                window.setdefault(m.metric, []).append(m)
        for metric, m in opened.items():
            if m.since_ms is None:  # a snapshot of open minutes only: nothing before them
                m.since_ms = m.minute_ms
            window.get(metric, []).sort(key=lambda c: c.minute_ms)
        self._open[device] = opened
        if window:
            self._closed[device] = window
        return True

    def drop(self, device: str) -> None:
        self._open.pop(device, None)
        self._closed.pop(device, None)


def minute_line(device_tag: str, m: Minute) -> str:
    """The ``vitals_minute`` point of one device-minute (ms precision, the minute's start).

    Written partial while the minute is open at a commit, then again when it closes: the same
    measurement, tags and timestamp, so InfluxDB keeps the last write (an upsert).

    InfluxDB's cost grows with the fields it stores, so a point carries only what is not
    found elsewhere: the minute's reading count is the count of its raw ``vitals`` points,
    and ``flagged`` goes out only once a reading of the minute is flagged (it only grows, so
    a later write never leaves an earlier one's count behind).

    >>> m = Minute("heart_rate", 1767225600000, 1, 3.14159, 63.4271, 5.55555)
    >>> for part in minute_line("p1", m).split(" "):
    ...     print(part)
    vitals_minute,device=p1,metric=heart_rate
    score_max=3.1416,baseline=63.43,sd=5.556,flagged=1i
    1767225600000
    """
    extra = ""
    if m.baseline is not None and math.isfinite(m.baseline):
        extra = f",baseline={m.baseline:.2f}"
        if m.sd is not None and math.isfinite(m.sd):
            extra += f",sd={m.sd:.3f}"
    if m.flagged:
        extra += f",flagged={m.flagged}i"
    score = m.score_max if math.isfinite(m.score_max) else 0.0
    return (
        f"vitals_minute,device={device_tag},metric={m.metric} score_max={score:.4f}"
        f"{extra} {m.minute_ms}"
    )


def minute_lines(minutes: Iterable[tuple[str, Minute]], tag: Callable[[str], str]) -> list[str]:
    """Format (device, minute) summaries, the device tag from ``tag`` (the pseudonym)."""
    return [minute_line(tag(device), m) for device, m in minutes]
