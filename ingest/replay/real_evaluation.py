"""Evaluate the engine on real (unlabelled) wearable recordings: alerts per person-day.

Each input file goes through :func:`ingest.replay.replay.replay`, the same path as
``vitalstream replay`` (event-time reorder buffer, batches, ``tick()`` every minute of event
time), with the default or configured :class:`detectors.EngineConfig`. Nothing here runs the
engine another way: the rows are only *observed* on their way in, to measure how much data each
person has on each day and what the signals looked like around an alert.

Definitions (also written into the report):

- A **minute of data** is a minute in which the device reported a body signal: a heart-rate,
  SpO2 or sleep-stage reading, or a steps reading with a count above zero. A steps reading of 0
  is not evidence that the device was worn (the Fitbit exports write 0 for every minute of the
  month, worn or not). On a device that never sends heart rate or SpO2 (PMData), every steps row
  counts too, zeros included: that export has only the minutes the tracker logged, and nothing
  else tells wear from no wear there.
- A **person-day** is a calendar day of the wearer's local time with at least ``min_hours``
  (default 12) hours of data of that person; an alert falls on the local day its start does.
  Local time is the zone the engine is given for the device (``detection.local_time``: the
  device's entry, else the fleet default, which ``--timezone`` sets per set), UTC when none is
  given; its offset is looked up once per UTC hour, as the engine does. Rates are alerts
  *starting* on person-days divided by person-days; alerts on the other days are counted and
  shown apart, never in a rate.
"""

from __future__ import annotations

import gzip
import io
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path

import msgspec

from detectors import EngineConfig
from detectors.config import LocalTimeConfig, time_zone
from detectors.illness import flagged_days
from detectors.kinds.local_time import utc_offset_ms
from ingest.replay.replay import (
    AlertLine,
    ReplayError,
    ReplayStats,
    open_text,
    parse_ts,
    read_rows,
    replay,
)
from messages.codec import Reading
from messages.kinds import AnomalyKind, Category
from messages.metrics import Metric, SleepStage

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
MIN_PER_DAY = 1440
DEFAULT_MIN_HOURS = 12.0
_HEADER = "device_id,ts,metric,value"
#: a daily resting-HR series beside the replay files (Fitbit's own estimate, one row per day:
#: ``device_id,date,resting_hr_bpm,...``), judged by the illness model where no heart-rate
#: samples exist (PMData)
RESTING_HR_SUFFIX = ".resting_hr.csv"
# per-minute coverage flags
_BODY = 1  # a body signal: HR, SpO2, a sleep epoch, or steps > 0
_STEPS_ROW = 2  # any steps row, zero included

# the signals each kind reads (the engine can only judge a kind where they exist);
# a kind listed with a context signal uses it to decide whether the wearer rests or sleeps
NEEDS: dict[AnomalyKind, tuple[Metric, ...]] = {
    AnomalyKind.TACHYCARDIA_AT_REST: (Metric.HEART_RATE,),
    AnomalyKind.BRADYCARDIA: (Metric.HEART_RATE,),
    AnomalyKind.ABRUPT_HR_CHANGE: (Metric.HEART_RATE,),
    AnomalyKind.LOW_SPO2: (Metric.SPO2,),
    AnomalyKind.DESATURATION: (Metric.SPO2,),
    AnomalyKind.ELEVATED_RESTING_HR: (Metric.HEART_RATE, Metric.SLEEP_STAGE),
    AnomalyKind.SLEEP_DISRUPTION: (Metric.SLEEP_STAGE,),
    # heart rate is the only evidence of wear: steps alone may be a day off the wrist
    AnomalyKind.UNUSUAL_INACTIVITY: (Metric.HEART_RATE, Metric.STEPS),
    AnomalyKind.HR_ACTIVITY_DECOUPLING: (Metric.HEART_RATE, Metric.STEPS),
    AnomalyKind.ILLNESS: (Metric.HEART_RATE, Metric.STEPS),
    AnomalyKind.FLATLINE: (Metric.HEART_RATE,),
    AnomalyKind.DROPOUT: (),
    AnomalyKind.IMPOSSIBLE_VALUE: (),
    AnomalyKind.OFF_WRIST: (Metric.HEART_RATE,),
    AnomalyKind.CLOCK_SKEW: (),
    AnomalyKind.DEVICE_SILENT: (),
}
# context the HR rules use to tell rest and sleep from activity; without it they assume it
CONTEXT: dict[AnomalyKind, tuple[Metric, ...]] = {
    AnomalyKind.TACHYCARDIA_AT_REST: (Metric.STEPS, Metric.SLEEP_STAGE),
    AnomalyKind.ABRUPT_HR_CHANGE: (Metric.STEPS, Metric.SLEEP_STAGE),
    AnomalyKind.BRADYCARDIA: (Metric.SLEEP_STAGE,),
}
# context a rule infers from another signal when the device does not send it (not a guess:
# the rule says so in its explanation)
INFERRED: dict[AnomalyKind, tuple[Metric, ...]] = {
    # sleep told from heart rate near the sleeping level (detectors/kinds/unusual_inactivity)
    AnomalyKind.UNUSUAL_INACTIVITY: (Metric.SLEEP_STAGE,),
}


@dataclass
class AlertContext:
    """What the signals looked like while an alert was open (per-minute means)."""

    hr_median: float | None
    steps_per_min: float | None
    asleep_share: float | None


@dataclass
class RealAlert:
    """One alert in its final state, as ``vitalstream replay`` writes it, plus context."""

    line: AlertLine
    start_ms: int
    end_ms: int | None
    start_day: int  # the wearer's local day the alert starts on (epoch days)
    on_person_day: bool
    context: AlertContext

    @property
    def kind(self) -> AnomalyKind:
        return AnomalyKind(self.line.kind)


@dataclass
class _Minute:
    hr_sum: float = 0.0
    hr_n: int = 0
    steps: float = 0.0
    asleep: bool = False


@dataclass
class Coverage:
    """Per device: readings per metric and which minutes of each local day have data.

    Days are the wearer's local calendar days in ``zone`` (epoch days of local time);
    :attr:`minutes` (the signals around an alert) are UTC minutes.
    """

    zone: tzinfo = UTC
    readings: Counter[str] = field(default_factory=Counter)
    days: dict[int, bytearray] = field(default_factory=dict)
    minutes: dict[int, _Minute] = field(default_factory=dict)
    # the zone's offset, looked up once per UTC hour (as the engine does): (hour, offset ms)
    _offset: tuple[int, int] = field(default=(-1, 0), init=False, repr=False)

    def local_minute(self, ts_ms: int) -> int:
        """The local minute (minutes since the epoch of local time) of event time ``ts_ms``."""
        hour = ts_ms // HOUR
        if self._offset[0] != hour:
            self._offset = (hour, int(utc_offset_ms(self.zone, ts_ms)))
        return (ts_ms + self._offset[1]) // MIN

    def day_of(self, ts_ms: int) -> int:
        """The local calendar day (epoch days) of event time ``ts_ms``."""
        return self.local_minute(ts_ms) // MIN_PER_DAY

    def add(self, r: Reading) -> None:
        metric = r.metric
        self.readings[metric.value] += 1
        minute = r.ts_ms // MIN
        day, slot = divmod(self.local_minute(r.ts_ms), MIN_PER_DAY)
        flags = self.days.get(day)
        if flags is None:
            flags = self.days[day] = bytearray(MIN_PER_DAY)
        m = self.minutes.get(minute)
        if m is None:
            m = self.minutes[minute] = _Minute()
        if metric is Metric.STEPS:
            flags[slot] |= _STEPS_ROW | (_BODY if r.value > 0 else 0)
            if r.value == r.value:  # not NaN
                m.steps += r.value
        else:
            flags[slot] |= _BODY
            if metric is Metric.HEART_RATE and r.value == r.value:
                m.hr_sum += r.value
                m.hr_n += 1
            elif metric is Metric.SLEEP_STAGE and r.value != float(SleepStage.AWAKE):
                m.asleep = True

    @property
    def steps_rows_count(self) -> bool:
        """Whether every steps row is evidence of wear (no HR/SpO2 on this device)."""
        return not (self.readings[Metric.HEART_RATE.value] or self.readings[Metric.SPO2.value])

    def hours_by_day(self) -> dict[int, float]:
        mask = _BODY | _STEPS_ROW if self.steps_rows_count else _BODY
        return {d: sum(1 for f in flags if f & mask) / 60.0 for d, flags in self.days.items()}

    def context(self, start_ms: int, end_ms: int) -> AlertContext:
        mins = [self.minutes.get(m) for m in range(start_ms // MIN, end_ms // MIN + 1)]
        seen = [m for m in mins if m is not None]
        hr = [m.hr_sum / m.hr_n for m in seen if m.hr_n]
        with_steps = Metric.STEPS.value in self.readings
        return AlertContext(
            hr_median=statistics.median(hr) if hr else None,
            steps_per_min=(sum(m.steps for m in seen) / len(mins)) if with_steps and mins else None,
            asleep_share=(sum(m.asleep for m in seen) / len(mins))
            if Metric.SLEEP_STAGE.value in self.readings and mins
            else None,
        )


@dataclass
class Person:
    """One device (one person) of a real set."""

    device_id: str
    readings: dict[str, int]
    hours_by_day: dict[int, float]
    person_days: list[int]
    alerts: list[RealAlert]
    steps_rows_count: bool

    def judged(self) -> dict[AnomalyKind, str]:
        """Per kind: ``yes``, ``no context`` (judged, but rest/sleep is assumed), ``inferred``
        (judged, sleep told from heart rate for want of sleep staging) or ``no``."""
        has = {m for m, n in self.readings.items() if n}
        out = {}
        for kind, needs in NEEDS.items():
            if not all(m.value in has for m in needs):
                out[kind] = "no"
            elif any(m.value not in has for m in CONTEXT.get(kind, ())):
                out[kind] = "no context"
            elif any(m.value not in has for m in INFERRED.get(kind, ())):
                out[kind] = "inferred"
            else:
                out[kind] = "yes"
        return out


@dataclass
class RealSet:
    """The result of one input path (a folder or a file)."""

    name: str
    path: str
    files: list[str]
    skipped_files: list[str]
    people: list[Person]
    rows: int
    readings: int
    skipped_rows: dict[str, int]
    seconds: float
    daily_resting_hr: DailyRestingHr | None = None
    timezone: str = "UTC"  # the zone of its days (devices with an entry of their own aside)

    @property
    def person_days(self) -> int:
        return sum(len(p.person_days) for p in self.people)

    @property
    def days_with_data(self) -> int:
        """Days with at least one minute of data (the looser denominator)."""
        return sum(1 for p in self.people for h in p.hours_by_day.values() if h > 0)


@dataclass
class DailyRestingHr:
    """The illness model (:func:`detectors.illness.flagged_days`, default parameters) on each
    person's daily resting-HR series: a person-day is a day with a value; an alert-day a day
    whose night the model flags."""

    files: list[str]
    person_days: int
    alert_days: dict[str, list[int]]

    @property
    def alerts(self) -> int:
        return sum(len(v) for v in self.alert_days.values())

    @property
    def per_30_person_days(self) -> float | None:
        return 30.0 * self.alerts / self.person_days if self.person_days else None


def read_resting_hr(path: Path) -> list[tuple[int, float]]:
    """``(epoch day, resting HR)`` rows of a ``*.resting_hr.csv`` file, in date order."""
    out = []
    with path.open() as f:
        header = f.readline().strip().split(",")
        try:
            i_date, i_bpm = header.index("date"), header.index("resting_hr_bpm")
        except ValueError:
            raise ReplayError(f"{path}: no date and resting_hr_bpm columns") from None
        for line in f:
            cols = line.strip().split(",")
            if len(cols) <= max(i_date, i_bpm) or not cols[i_bpm]:
                continue
            day = parse_ts(cols[i_date] + "T00:00:00Z") // DAY
            out.append((day, float(cols[i_bpm])))
    return sorted(out)


def daily_resting_hr(path: Path) -> DailyRestingHr | None:
    """The illness model on the ``*.resting_hr.csv`` series of a folder (``None``: none)."""
    files = sorted(path.glob("*" + RESTING_HR_SUFFIX)) if path.is_dir() else []
    if not files:
        return None
    alert_days = {}
    person_days = 0
    for f in files:
        series = read_resting_hr(f)
        person_days += len(series)
        flagged = flagged_days((day, {"rest_hr": bpm}) for day, bpm in series)
        alert_days[f.name.removesuffix(RESTING_HR_SUFFIX)] = flagged
    return DailyRestingHr([f.name for f in files], person_days, alert_days)


def is_replay_csv(path: Path) -> bool:
    """Whether ``path`` starts with the replay header (plain or gzip)."""
    try:
        with open_text(path) as f:
            return f.readline().strip().lower().startswith(_HEADER)
    except (OSError, UnicodeDecodeError, gzip.BadGzipFile):
        return False


def replay_files(path: Path) -> tuple[list[Path], list[Path]]:
    """The replay CSVs under ``path`` (itself if a file) and the other CSVs skipped there."""
    if path.is_file():
        if not is_replay_csv(path):
            raise ReplayError(f"{path}: the first line must be the header {_HEADER}")
        return [path], []
    if not path.is_dir():
        raise ReplayError(f"{path}: no such file or folder")
    found = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    keep = [p for p in found if is_replay_csv(p)]
    skipped = [p for p in found if p not in keep]
    if not keep:
        raise ReplayError(f"{path}: no replay CSV (header {_HEADER}) in this folder")
    return keep, skipped


def device_zone(config: EngineConfig | None, device_id: str) -> tzinfo:
    """The local time zone the engine gives ``device_id`` in a replay: its entry in
    ``detection.local_time.devices``, else the fleet default (replay CSVs carry UTC times, so
    no reading brings an offset of its own).

    >>> cfg = EngineConfig(local_time={"timezone": "Europe/Oslo", "devices": {"p2": "+09:00"}})
    >>> str(device_zone(cfg, "p1")), str(device_zone(cfg, "p2")), str(device_zone(None, "p1"))
    ('Europe/Oslo', 'UTC+09:00', 'UTC')
    """
    lt = config.local_time if config is not None else LocalTimeConfig()
    return time_zone(lt.devices.get(device_id, lt.timezone))


def _observe(
    rows: Iterable[Reading], coverage: dict[str, Coverage], config: EngineConfig | None
) -> Iterator[Reading]:
    """Pass rows through unchanged, recording what each device sent."""
    for r in rows:
        cov = coverage.get(r.device_id)
        if cov is None:
            cov = coverage[r.device_id] = Coverage(device_zone(config, r.device_id))
        cov.add(r)
        yield r


def evaluate_file(
    path: Path, *, config: EngineConfig | None = None, min_hours: float = DEFAULT_MIN_HOURS
) -> tuple[list[Person], ReplayStats]:
    """Replay one file through a fresh engine (as ``vitalstream replay`` does); per device:
    coverage, person-days and the alerts raised."""
    coverage: dict[str, Coverage] = {}
    stats = ReplayStats()
    out = io.BytesIO()
    with open_text(path) as src:
        replay(_observe(read_rows(src, stats), coverage, config), out, config=config, stats=stats)
    decoder = msgspec.json.Decoder(AlertLine)
    lines = [decoder.decode(b) for b in out.getvalue().splitlines() if b]
    people = []
    for device_id, cov in sorted(coverage.items()):
        hours = cov.hours_by_day()
        days = sorted(d for d, h in hours.items() if h >= min_hours)
        day_set = set(days)
        alerts = []
        for line in (a for a in lines if a.device_id == device_id):
            start = parse_ts(line.start)
            end = parse_ts(line.end) if line.end is not None else None
            ctx = cov.context(start, end if end is not None else start + 10 * MIN)
            day = cov.day_of(start)
            alerts.append(RealAlert(line, start, end, day, day in day_set, ctx))
        people.append(
            Person(
                device_id,
                dict(cov.readings),
                hours,
                days,
                alerts,
                cov.steps_rows_count,
            )
        )
    return people, stats


def set_name(path: Path) -> str:
    """The name a folder or file of replay CSVs goes by in the report."""
    return path.name.removesuffix(".gz").removesuffix(".csv") if path.is_file() else path.name


def evaluate_path(
    path: Path, *, config: EngineConfig | None = None, min_hours: float = DEFAULT_MIN_HOURS
) -> RealSet:
    """Evaluate every replay CSV of a folder (or one file) as one real set."""
    files, skipped = replay_files(path)
    t0 = time.perf_counter()
    people: list[Person] = []
    rows = readings = 0
    skipped_rows: Counter[str] = Counter()
    for f in files:
        found, stats = evaluate_file(f, config=config, min_hours=min_hours)
        people += found
        rows += stats.rows
        readings += stats.readings
        skipped_rows.update(stats.skipped)
    return RealSet(
        name=set_name(path),
        path=str(path),
        files=[f.name for f in files],
        skipped_files=[f.name for f in skipped],
        people=sorted(people, key=lambda p: p.device_id),
        rows=rows,
        readings=readings,
        skipped_rows=dict(skipped_rows),
        seconds=time.perf_counter() - t0,
        daily_resting_hr=daily_resting_hr(path),
        timezone=(config or EngineConfig()).local_time.timezone,
    )


# -- summaries ------------------------------------------------------------------------------


SEVERITIES = ("info", "warning", "critical")


@dataclass
class KindRate:
    """One kind on one set: alerts starting on person-days, by severity."""

    alerts: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    days_with: int = 0
    off_day_alerts: int = 0


def kind_rates(s: RealSet) -> dict[AnomalyKind, KindRate]:
    out = {k: KindRate() for k in AnomalyKind}
    for p in s.people:
        days_with: dict[AnomalyKind, set[int]] = {}
        for a in p.alerts:
            r = out[a.kind]
            if not a.on_person_day:
                r.off_day_alerts += 1
                continue
            r.alerts += 1
            r.by_severity[a.line.severity] += 1
            days_with.setdefault(a.kind, set()).add(a.start_day)
        for k, days in days_with.items():
            out[k].days_with += len(days)
    return out


@dataclass
class Overall:
    """Clinical and data-quality totals on person-days of a set (or of one person)."""

    person_days: int
    clinical: int
    clinical_warn_crit: int
    clinical_critical: int
    data_quality: int
    days_any_clinical: int
    days_warn_crit: int
    days_critical: int
    off_day_alerts: int

    def per_day(self, n: int) -> float | None:
        return n / self.person_days if self.person_days else None

    def share(self, n: int) -> float | None:
        return n / self.person_days if self.person_days else None


def overall(people: Iterable[Person]) -> Overall:
    pd = clin = wc = crit = dq = off = 0
    d_any: set[tuple[str, int]] = set()
    d_wc: set[tuple[str, int]] = set()
    d_crit: set[tuple[str, int]] = set()
    for p in people:
        pd += len(p.person_days)
        for a in p.alerts:
            if not a.on_person_day:
                off += 1
                continue
            key = (p.device_id, a.start_day)
            if a.kind.category is Category.DATA_QUALITY:
                dq += 1
                continue
            clin += 1
            d_any.add(key)
            if a.line.severity in ("warning", "critical"):
                wc += 1
                d_wc.add(key)
            if a.line.severity == "critical":
                crit += 1
                d_crit.add(key)
    return Overall(pd, clin, wc, crit, dq, len(d_any), len(d_wc), len(d_crit), off)
