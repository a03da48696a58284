"""Fitbit account export / Google Takeout (a folder or its zip) -> readings, file by file.

Files are found by name anywhere in the tree (the account export puts them under
``MyFitbitData/<name>/...``, Takeout under ``Takeout/Fitbit/...``):

==============================  ===============================================================
file                            reading
==============================  ===============================================================
``heart_rate-YYYY-MM-DD.json``  ``heart_rate``: ``{"dateTime", "value": {"bpm", "confidence"}}``;
                                samples below ``min_confidence`` (0-3) are skipped
``steps-YYYY-MM-DD.json``       ``steps``: ``{"dateTime", "value"}`` per minute
``sleep-YYYY-MM-DD.json``       ``sleep_stage`` per 30 s epoch from ``levels.data``, with the short
                                wakes of ``levels.shortData`` laid over them; stages wake, light,
                                deep, rem; classic logs: awake/restless -> awake, asleep -> light
``Minute SpO2 - *.csv``         ``spo2``: ``timestamp,value`` (percent)
``Profile.csv``                 the ``timezone`` column: the zone of the local times above
==============================  ===============================================================

Fitbit writes local wall-clock times without an offset; they are read in the profile's time
zone, or ``tz`` when given (it wins). A local time that occurs twice (the autumn DST change)
is read as its first occurrence.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from ingest.importers.sink import ImportStats, Row
from messages.codec import InvalidReading
from messages.formats.units import sleep_epochs, split_steps
from messages.metrics import Metric

_HR = re.compile(r"^heart_rate-\d{4}-\d{2}-\d{2}\.json$")
_STEPS = re.compile(r"^steps-\d{4}-\d{2}-\d{2}\.json$")
_SLEEP = re.compile(r"^sleep-\d{4}-\d{2}-\d{2}\.json$")
_SPO2 = re.compile(r"^minute[ _]spo2.*\.csv$", re.IGNORECASE)
_PROFILE = re.compile(r"^profile\.csv$", re.IGNORECASE)
#: Fitbit sleep levels -> our stages (stages logs, then classic logs)
SLEEP_LEVELS = {
    "wake": "awake",
    "light": "light",
    "deep": "deep",
    "rem": "rem",
    "awake": "awake",
    "restless": "awake",
    "asleep": "light",
}


class FitbitError(ValueError):
    """The export cannot be read (no time zone, not a Fitbit export)."""


class _HeartValue(msgspec.Struct):
    bpm: float
    confidence: int = 0


class _HeartSample(msgspec.Struct, rename={"date_time": "dateTime"}):
    date_time: str
    value: _HeartValue


class _StepsSample(msgspec.Struct, rename={"date_time": "dateTime"}):
    date_time: str
    value: str | float


class _Level(msgspec.Struct, rename={"date_time": "dateTime"}):
    date_time: str
    level: str
    seconds: int


class _Levels(msgspec.Struct, rename="camel"):
    data: list[_Level] = []
    short_data: list[_Level] = []


class _SleepLog(msgspec.Struct):
    levels: _Levels


_hr = msgspec.json.Decoder(list[_HeartSample])
_steps = msgspec.json.Decoder(list[_StepsSample])
_sleep = msgspec.json.Decoder(list[_SleepLog])


class LocalTime:
    """Fitbit's local times -> epoch ms in one zone (memoised per minute: samples share them)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._minute: dict[tuple[int, int, int, int, int], int] = {}

    def _ms(self, y: int, mo: int, d: int, h: int, mi: int, s: float) -> int:
        key = (y, mo, d, h, mi)
        base = self._minute.get(key)
        if base is None:
            if len(self._minute) > 100_000:
                self._minute.clear()
            base = int(datetime(y, mo, d, h, mi, tzinfo=self.zone).timestamp() * 1000)
            self._minute[key] = base
        return base + round(s * 1000)

    def us_style(self, text: str) -> int:
        """``MM/DD/YY HH:MM:SS`` (heart rate and steps files).

        >>> LocalTime(ZoneInfo("Europe/Oslo")).us_style("01/01/26 01:00:05")
        1767225605000
        """
        return self._ms(
            2000 + int(text[6:8]), int(text[0:2]), int(text[3:5]),
            int(text[9:11]), int(text[12:14]), float(text[15:17]),
        )  # fmt: skip

    def iso(self, text: str) -> int:
        """``YYYY-MM-DDTHH:MM:SS[.fff]`` (sleep, SpO2); an explicit offset or ``Z`` wins."""
        if text.endswith("Z") or "+" in text[10:] or "-" in text[10:]:
            return int(datetime.fromisoformat(text).timestamp() * 1000)
        return self._ms(
            int(text[0:4]), int(text[5:7]), int(text[8:10]),
            int(text[11:13]), int(text[14:16]), float(text[17:] or 0),
        )  # fmt: skip


def _names(path: Path, stack: ExitStack) -> list[tuple[str, Callable[[], bytes]]]:
    """(basename, reader) of every file of the export, in path order."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return [(p.name, p.read_bytes) for p in files]
    if zipfile.is_zipfile(path):
        archive = stack.enter_context(zipfile.ZipFile(path))
        members = sorted(
            (m for m in archive.infolist() if not m.is_dir()), key=lambda m: m.filename
        )
        return [
            (m.filename.rsplit("/", 1)[-1], lambda m=m: archive.read(m))  # type: ignore[misc]
            for m in members
        ]
    raise FitbitError(f"{path} is neither a folder nor a zip (a Fitbit or Takeout export)")


def profile_zone(data: bytes) -> str | None:
    """The ``timezone`` column of Profile.csv."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    for row in rows:
        zone = (row.get("timezone") or row.get("time_zone") or "").strip()
        if zone:
            return zone
    return None


def read_fitbit(
    path: Path,
    stats: ImportStats,
    *,
    tz: str | None = None,
    min_confidence: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[Row]:
    """Readings of a Fitbit / Takeout export, file by file (each file is one day)."""
    with ExitStack() as stack:
        files = _names(path, stack)
        zone_name = tz
        if zone_name is None:
            profiles = [read for name, read in files if _PROFILE.match(name)]
            zone_name = profile_zone(profiles[0]()) if profiles else None
        if zone_name is None:
            raise FitbitError(
                f"{path}: no Profile.csv with a timezone; give --tz (e.g. Europe/Oslo)"
            )
        try:
            local = LocalTime(ZoneInfo(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise FitbitError(f"unknown time zone {zone_name!r}") from None
        done = 0
        for name, read in files:
            kind = next(
                (k for k, rx in (("hr", _HR), ("steps", _STEPS), ("sleep", _SLEEP), ("spo2", _SPO2))
                 if rx.match(name)),
                None,
            )  # fmt: skip
            if kind is None:
                continue
            data = read()
            done += len(data)
            try:
                if kind == "hr":
                    yield from _heart_rate(data, local, stats, min_confidence)
                elif kind == "steps":
                    yield from _steps_rows(data, local, stats)
                elif kind == "sleep":
                    yield from _sleep_rows(data, local, stats)
                else:
                    yield from _spo2_rows(data, local, stats)
            except (msgspec.DecodeError, ValueError, KeyError, IndexError, ArithmeticError):
                stats.skip(f"unreadable_{kind}_file")
            if on_progress is not None:
                on_progress(done, 0)


def _heart_rate(data: bytes, local: LocalTime, stats: ImportStats, min_conf: int) -> Iterator[Row]:
    for s in _hr.decode(data):
        if s.value.confidence < min_conf:
            stats.skip("low_confidence")
            continue
        stats.keep(Metric.HEART_RATE)
        yield Row(local.us_style(s.date_time), Metric.HEART_RATE, float(s.value.bpm))


def _steps_rows(data: bytes, local: LocalTime, stats: ImportStats) -> Iterator[Row]:
    for s in _steps.decode(data):
        count = float(s.value)
        if not math.isfinite(count):
            stats.skip("not_finite")
            continue
        start = local.us_style(s.date_time)
        for ts, steps, secs in split_steps(start, start + 60_000, count):
            stats.keep(Metric.STEPS)
            yield Row(ts, Metric.STEPS, steps, secs)


def _sleep_rows(data: bytes, local: LocalTime, stats: ImportStats) -> Iterator[Row]:
    for log in _sleep.decode(data):
        epochs: dict[int, str] = {}
        for layer in (log.levels.data, log.levels.short_data):  # short wakes laid over
            for seg in layer:
                stage = SLEEP_LEVELS.get(seg.level)
                if stage is None:
                    stats.skip("unknown_sleep_level")
                    continue
                start = local.iso(seg.date_time)
                try:
                    for ts in sleep_epochs(start, start + seg.seconds * 1000):
                        epochs[ts] = stage
                except InvalidReading:
                    stats.skip("bad_interval")
        stats.keep(Metric.SLEEP_STAGE, len(epochs))
        for ts in sorted(epochs):
            yield Row(ts, Metric.SLEEP_STAGE, epochs[ts])


def _spo2_rows(data: bytes, local: LocalTime, stats: ImportStats) -> Iterator[Row]:
    for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig"))):
        text, value = row.get("timestamp"), row.get("value")
        if not text or not value:
            stats.skip("malformed_spo2_row")
            continue
        spo2 = float(value)
        if not math.isfinite(spo2):
            stats.skip("not_finite")
            continue
        stats.keep(Metric.SPO2)
        yield Row(local.iso(text.strip()), Metric.SPO2, spo2)
