"""Apple Health export (``export.zip`` or its ``export.xml``) -> readings, streaming.

``export.xml`` is one ``<HealthData>`` element holding a flat list of ``<Record type=...
sourceName=... unit=... startDate=... endDate=... value=...>`` (plus workouts and activity
summaries, which are not read). Records are parsed with ``iterparse`` and cleared as soon as
they are read, so memory stays constant on multi-GB exports. What is read:

========================================  ============================================
HealthKit identifier                      reading
========================================  ============================================
``HKQuantityTypeIdentifierHeartRate``     ``heart_rate`` (``count/min``; ``count/s`` x 60)
``HKQuantityTypeIdentifierOxygenSaturation``  ``spo2``: HealthKit's ``%`` is a fraction, x 100
``HKQuantityTypeIdentifierStepCount``     ``steps`` over [startDate, endDate), per minute
``HKCategoryTypeIdentifierSleepAnalysis``  ``sleep_stage`` per 30 s epoch (table below)
========================================  ============================================

Sleep values: ``AsleepCore`` -> light, ``AsleepDeep`` -> deep, ``AsleepREM`` -> rem,
``Awake`` -> awake; ``AsleepUnspecified`` and the older exports' ``Asleep`` -> light (the only
stage such watches told apart from awake); ``InBed`` is a period, not a stage, and is skipped
(counted as ``in_bed``). Times are each record's own ``startDate`` (``endDate`` bounds
intervals), with the UTC offset the export wrote.
"""

from __future__ import annotations

import io
import math
import pyexpat
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import ParseError, iterparse

from ingest.importers.sink import CountingReader, ImportStats, Row
from messages.codec import InvalidReading
from messages.formats.units import convert, sleep_epochs, split_steps
from messages.metrics import Metric

HEART_RATE = "HKQuantityTypeIdentifierHeartRate"
SPO2 = "HKQuantityTypeIdentifierOxygenSaturation"
STEPS = "HKQuantityTypeIdentifierStepCount"
SLEEP = "HKCategoryTypeIdentifierSleepAnalysis"
_SLEEP_PREFIX = "HKCategoryValueSleepAnalysis"
SLEEP_VALUES: dict[str, str | None] = {
    "AsleepCore": "light",
    "AsleepDeep": "deep",
    "AsleepREM": "rem",
    "Awake": "awake",
    "AsleepUnspecified": "light",
    "Asleep": "light",
    "InBed": None,
}


class AppleHealthError(ValueError):
    """The file is not an Apple Health export."""


#: expat from 2.4.1 on refuses entity-expansion bombs itself (and ElementTree never fetches
#: external entities), so the C-accelerated stdlib parser is safe here and 1.7x faster than
#: defusedxml's pure-Python one
_SAFE_EXPAT = (2, 4, 1)


def apple_time(text: str) -> int:
    """Epoch ms of an export.xml date (``2024-01-01 08:00:58 -0800``).

    >>> apple_time("2026-01-01 01:00:00 +0100")
    1767225600000
    """
    return int(datetime.fromisoformat(text[:19] + text[20:]).timestamp() * 1000)


def _open(path: Path, stack: ExitStack) -> tuple[IO[bytes], int]:
    """The export.xml byte stream (inside the zip or not) and its size."""
    if zipfile.is_zipfile(path):
        archive = stack.enter_context(zipfile.ZipFile(path))
        members = [
            m for m in archive.infolist() if m.filename.rsplit("/", 1)[-1].lower() == "export.xml"
        ]
        if not members:
            raise AppleHealthError(f"{path} has no export.xml (is it Apple Health's export.zip?)")
        member = min(members, key=lambda m: m.filename.count("/"))
        return stack.enter_context(archive.open(member)), member.file_size
    return stack.enter_context(path.open("rb")), path.stat().st_size


def read_apple_health(
    path: Path,
    stats: ImportStats,
    *,
    sources: set[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[Row]:
    """Readings of an Apple Health export in file order. ``sources``: only these
    ``sourceName`` values (default: every source). ``on_progress(bytes_read, total)``."""
    if pyexpat.version_info < _SAFE_EXPAT:
        raise AppleHealthError(
            f"this Python's expat {pyexpat.EXPAT_VERSION} is older than 2.4.1 and would expand "
            "entity bombs: use a newer Python build"
        )
    with ExitStack() as stack:
        raw, total = _open(path, stack)
        counting = CountingReader(raw)
        stream = io.BufferedReader(counting, 1 << 20)
        root = None
        depth = 0  # 1: a child of <HealthData> (Record, Workout, ActivitySummary, ...)
        try:
            events = iterparse(stream, events=("start", "end"))  # noqa: S314 - see _SAFE_EXPAT
            for event, elem in events:
                if event == "start":
                    depth += 1
                    if root is None:
                        root = elem
                        if elem.tag != "HealthData":
                            raise AppleHealthError(f"{path}: the root element is not <HealthData>")
                    continue
                depth -= 1
                if depth != 1 or root is None:
                    continue  # inside a top-level element (metadata, a Correlation's records)
                if elem.tag == "Record":
                    yield from _record(elem.attrib, stats, sources)
                    if on_progress is not None:
                        on_progress(counting.count, total)
                root.clear()  # drop every finished top-level element: memory stays constant
        except ParseError as exc:
            raise AppleHealthError(f"{path}: not well-formed XML ({exc})") from None
        if root is None:
            raise AppleHealthError(f"{path} is empty")
        if on_progress is not None:
            on_progress(counting.count, total)


def _record(a: dict[str, str], stats: ImportStats, sources: set[str] | None) -> Iterator[Row]:
    kind = a.get("type")
    if kind not in (HEART_RATE, SPO2, STEPS, SLEEP):
        return
    source = a.get("sourceName", "")
    if sources is not None and source not in sources:
        stats.skip("other_source")
        return
    stats.sources[source] = stats.sources.get(source, 0) + 1
    try:
        start = apple_time(a["startDate"])
        if kind == SLEEP:
            value = a.get("value", "").removeprefix(_SLEEP_PREFIX)
            if value not in SLEEP_VALUES:
                stats.skip("unknown_sleep_value")
                return
            stage = SLEEP_VALUES[value]
            if stage is None:
                stats.skip("in_bed")
                return
            epochs = sleep_epochs(start, apple_time(a["endDate"]))
            stats.keep(Metric.SLEEP_STAGE, len(epochs))
            for ts in epochs:
                yield Row(ts, Metric.SLEEP_STAGE, stage)
            return
        number = float(a["value"])
        if not math.isfinite(number):
            stats.skip("not_finite")
            return
        if kind == STEPS:
            slices = split_steps(start, apple_time(a["endDate"]), number)
            stats.keep(Metric.STEPS, len(slices))
            for ts, steps, secs in slices:
                yield Row(ts, Metric.STEPS, steps, secs)
        elif kind == HEART_RATE:
            stats.keep(Metric.HEART_RATE)
            yield Row(start, Metric.HEART_RATE, convert(Metric.HEART_RATE, number, a.get("unit")))
        else:
            if a.get("unit") != "%" or number > 1.0:
                stats.skip("spo2_not_a_fraction")
                return
            stats.keep(Metric.SPO2)
            yield Row(start, Metric.SPO2, convert(Metric.SPO2, number, "1"))
    except InvalidReading as exc:
        stats.skip(exc.code)
    except (KeyError, ValueError, ArithmeticError):
        stats.skip("malformed_record")
