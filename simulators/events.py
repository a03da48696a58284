"""The anomaly library: one injectable event per :class:`messages.kinds.AnomalyKind`.

An :class:`EventSpec` (from a scenario) says which devices, when, how severe and how long; it is
resolved into concrete :class:`Event` objects (one device, one minute-aligned span, concrete
physical parameters) before generation starts, so labels are known up front. The semantics of
each kind are documented in ``docs/simulator.md`` and in :data:`KINDS`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from messages.kinds import AnomalyKind, Category
from messages.labels import Label
from messages.metrics import Metric
from simulators import illness
from simulators._noise import scalar_rng
from simulators.population import DAY_MS, HOUR_MS, MINUTE_MS, Population

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}


def parse_duration(text: str | int | float) -> int:
    """Parse ``"90s"``, ``"30m"``, ``"1d12h"``, ``"2w"`` (or a number of seconds) into ms.

    >>> parse_duration("1d12h"), parse_duration("30m"), parse_duration(90)
    (129600000, 1800000, 90000)
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        return int(text * 1000)
    if not isinstance(text, str):
        raise ValueError(f"not a duration: {text!r}")
    s = text.replace(" ", "").lower()
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_MS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 2h, 1d12h)")
    return int(total)


def _parse_clock(text: str) -> float:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"time must be HH:MM, got {text!r}")
    return int(m.group(1)) + int(m.group(2)) / 60.0


@dataclass(frozen=True, slots=True)
class KindInfo:
    """Defaults of one kind: duration, shortest meaningful duration, local hours to place it."""

    default_duration_ms: int
    min_duration_ms: int
    window_h: tuple[float, float]
    needs_spo2: bool = False
    needs_sleep: bool = False


K = AnomalyKind
KINDS: dict[AnomalyKind, KindInfo] = {
    K.TACHYCARDIA_AT_REST: KindInfo(30 * MINUTE_MS, 10 * MINUTE_MS, (9.0, 19.0)),
    K.BRADYCARDIA: KindInfo(20 * MINUTE_MS, 10 * MINUTE_MS, (13.0, 17.0)),
    K.ABRUPT_HR_CHANGE: KindInfo(10 * MINUTE_MS, 2 * MINUTE_MS, (9.0, 19.0)),
    K.LOW_SPO2: KindInfo(20 * MINUTE_MS, 5 * MINUTE_MS, (1.5, 5.0), needs_spo2=True),
    K.DESATURATION: KindInfo(3 * MINUTE_MS, 1 * MINUTE_MS, (1.5, 5.0), needs_spo2=True),
    K.ELEVATED_RESTING_HR: KindInfo(3 * DAY_MS, DAY_MS, (18.0, 18.0)),
    # its span comes from the illness time course (simulators/illness.py)
    K.ILLNESS: KindInfo(14 * DAY_MS, DAY_MS, (12.0, 12.0)),
    K.SLEEP_DISRUPTION: KindInfo(3 * DAY_MS, 12 * HOUR_MS, (18.0, 18.0), needs_sleep=True),
    K.UNUSUAL_INACTIVITY: KindInfo(DAY_MS, 6 * HOUR_MS, (0.0, 0.0)),
    K.HR_ACTIVITY_DECOUPLING: KindInfo(40 * MINUTE_MS, 10 * MINUTE_MS, (8.0, 19.0)),
    K.FLATLINE: KindInfo(30 * MINUTE_MS, 5 * MINUTE_MS, (0.0, 23.0)),
    K.DROPOUT: KindInfo(30 * MINUTE_MS, 10 * MINUTE_MS, (0.0, 23.0)),
    K.IMPOSSIBLE_VALUE: KindInfo(10 * MINUTE_MS, 1 * MINUTE_MS, (0.0, 23.0)),
    K.OFF_WRIST: KindInfo(2 * HOUR_MS, 15 * MINUTE_MS, (8.0, 21.0)),
    K.CLOCK_SKEW: KindInfo(6 * HOUR_MS, 10 * MINUTE_MS, (0.0, 18.0)),
    K.DEVICE_SILENT: KindInfo(12 * HOUR_MS, HOUR_MS, (0.0, 12.0)),
}


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event as a scenario describes it.

    Parameters
    ----------
    kind
        Which anomaly to inject.
    devices
        A count of devices picked at random among eligible ones, a list of device indices, or
        ``"all"``. ``fraction`` (0-1 of the fleet, at least one device) overrides a count.
    at_ms
        Start as an offset from the run's start. Alternatively ``day`` + ``time_h`` (device local
        clock on the ``day``-th local day of the run, 0-based). If neither is given the start is
        random, inside the kind's usual local hours (see :data:`KINDS`) when the run reaches
        them, else anywhere in the run (short load-test runs).
    duration_ms
        Default from :data:`KINDS`; must not be shorter than the kind's minimum.
    severity
        0-1; scales the physical magnitude (documented per kind in ``docs/simulator.md``).
    count
        Occurrences per selected device (random starts do not overlap other events).
    params
        Overrides of the physical parameters (e.g. ``hr_bpm``, ``drop``, ``offset_s``).
    """

    kind: AnomalyKind
    devices: int | Sequence[int] | str = 1
    fraction: float | None = None
    at_ms: int | None = None
    day: int | None = None
    time_h: float | None = None
    duration_ms: int | None = None
    severity: float = 0.5
    count: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # built in code as often as from TOML: accept a kind's name, check the ranges
        object.__setattr__(self, "kind", AnomalyKind(self.kind))
        if not 0.0 <= self.severity <= 1.0:
            raise ValueError("event severity must be in [0, 1]")
        if self.count < 1:
            raise ValueError("event count must be >= 1")
        if self.fraction is not None and not 0.0 < self.fraction <= 1.0:
            raise ValueError("event fraction must be in (0, 1]")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventSpec:
        """Build from a scenario's ``[[events]]`` table.

        >>> EventSpec.from_dict({"kind": "bradycardia", "at": "1d14h", "duration": "15m"}).at_ms
        136800000
        """
        known = {
            "kind",
            "devices",
            "fraction",
            "at",
            "day",
            "time",
            "duration",
            "severity",
            "count",
            "params",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown event keys {sorted(unknown)}; known: {sorted(known)}")
        try:
            kind = AnomalyKind(data["kind"])
        except (KeyError, ValueError):
            kinds = [k.value for k in AnomalyKind]
            got = data.get("kind")
            raise ValueError(f"event kind must be one of {kinds}, got {got!r}") from None
        devices = data.get("devices", 1)
        if not (isinstance(devices, int | list) or devices == "all"):
            raise ValueError("event devices must be a count, a list of indices or 'all'")
        severity = float(data.get("severity", 0.5))
        if not 0.0 <= severity <= 1.0:
            raise ValueError("event severity must be in [0, 1]")
        return cls(
            kind=kind,
            devices=tuple(devices) if isinstance(devices, list) else devices,
            fraction=float(data["fraction"]) if "fraction" in data else None,
            at_ms=parse_duration(data["at"]) if "at" in data else None,
            day=int(data["day"]) if "day" in data else None,
            time_h=_parse_clock(data["time"]) if "time" in data else None,
            duration_ms=parse_duration(data["duration"]) if "duration" in data else None,
            severity=severity,
            count=int(data.get("count", 1)),
            params=dict(data.get("params", {})),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """A resolved event: one device, a minute-aligned span ``[start_ms, end_ms)``, parameters."""

    kind: AnomalyKind
    device: int
    start_ms: int
    end_ms: int
    severity: float
    params: Mapping[str, Any]

    def label(self, device_id: str) -> Label:
        """The ground-truth label of this event."""
        if self.kind.category is Category.DATA_QUALITY:
            level = "info"
        else:
            level = "critical" if self.severity >= 0.7 else "warning"
        return Label(
            kind=self.kind,
            device_id=device_id,
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            severity=level,
            params={"severity": round(self.severity, 3), **self.params},
        )


def _physical_params(
    kind: AnomalyKind, sev: float, dev: int, pop: Population, given: Mapping[str, Any]
) -> dict[str, Any]:
    """Concrete magnitudes of an event; scenario ``params`` win over severity-derived ones."""
    rhr = float(pop.resting_hr[dev])
    base = float(pop.spo2_baseline[dev])
    p: dict[str, Any]
    if kind is K.TACHYCARDIA_AT_REST:
        p = {"hr_bpm": round(125 + 35 * sev)}
    elif kind is K.BRADYCARDIA:
        p = {"hr_bpm": round(38 - 8 * sev)}
    elif kind is K.ABRUPT_HR_CHANGE:
        p = {"delta_bpm": round(30 + 30 * sev), "direction": "up"}
    elif kind is K.LOW_SPO2:
        p = {"spo2_pct": round(88 - 6 * sev)}
    elif kind is K.DESATURATION:
        # a drop of >= 4 points that stays >= 90 %, so it is not also a low_spo2 event
        p = {
            "drop": round(max(4.0, min(4.0 + 4.0 * sev, base - 90.5)), 1),
            "baseline": round(base, 1),
        }
    elif kind is K.ELEVATED_RESTING_HR or kind is K.ILLNESS:
        p = {"delta_bpm": round(5 + 7 * sev), "baseline_bpm": round(rhr, 1)}
    elif kind is K.SLEEP_DISRUPTION:
        p = {"level": round(0.4 + 0.6 * sev, 2)}
    elif kind is K.UNUSUAL_INACTIVITY:
        p = {"activity_factor": round(0.1 * (1 - sev), 3)}
    elif kind is K.HR_ACTIVITY_DECOUPLING:
        p = {"cadence": round(110 + 40 * sev), "hr_gain": round(0.1 * (1 - sev), 3)}
    elif kind is K.FLATLINE:
        p = {"hr_bpm": round(rhr)}
    elif kind is K.IMPOSSIBLE_VALUE:
        p = {"metric": Metric.HEART_RATE.value, "fraction": round(0.3 + 0.7 * sev, 2)}
    elif kind is K.CLOCK_SKEW:
        p = {"offset_s": -round(600 + 3000 * sev)}
    else:  # dropout, off_wrist, device_silent: the span says it all
        p = {}
    p.update(given)
    if kind is K.ABRUPT_HR_CHANGE and p.get("direction") == "down":
        # never below 40 bpm: that would be bradycardia, a different label
        p["delta_bpm"] = -min(abs(int(p["delta_bpm"])), max(10, round(rhr - 42)))
    if kind is K.IMPOSSIBLE_VALUE and p["metric"] not in {m.value for m in Metric}:
        raise ValueError(f"impossible_value metric must be a metric name, got {p['metric']!r}")
    return p


def _eligible(kind: AnomalyKind, pop: Population) -> list[int]:
    info = KINDS[kind]
    return [
        i
        for i in range(len(pop))
        if (not info.needs_spo2 or pop.has_spo2[i]) and (not info.needs_sleep or pop.has_sleep[i])
    ]


def _select_devices(spec: EventSpec, idx: int, pop: Population, seed: int) -> list[int]:
    eligible = _eligible(spec.kind, pop)
    if isinstance(spec.devices, str):
        return eligible
    if isinstance(spec.devices, Sequence):
        chosen = [int(d) for d in spec.devices]
        bad = [d for d in chosen if d not in set(eligible)]
        if bad:
            raise ValueError(f"{spec.kind.value}: devices {bad} are out of range or lack a sensor")
        return chosen
    n = spec.devices
    if spec.fraction is not None:
        n = max(1, round(spec.fraction * len(pop)))
    n = min(n, len(eligible))
    return sorted(scalar_rng(seed, "select", idx).sample(eligible, n))


def resolve_events(
    specs: Sequence[EventSpec], pop: Population, seed: int, start_ms: int, end_ms: int
) -> list[Event]:
    """Turn scenario events into concrete, minute-aligned events inside ``[start_ms, end_ms)``.

    Raises ``ValueError`` if an event does not fit in the run.
    """
    events: list[Event] = []
    busy: dict[int, list[tuple[int, int]]] = {}
    for idx, spec in enumerate(specs):
        info = KINDS[spec.kind]
        duration = spec.duration_ms if spec.duration_ms is not None else info.default_duration_ms
        duration = -(-duration // MINUTE_MS) * MINUTE_MS
        if duration < info.min_duration_ms:
            raise ValueError(
                f"{spec.kind.value}: duration must be >= {info.min_duration_ms // MINUTE_MS} min"
            )
        for dev in _select_devices(spec, idx, pop, seed):
            r = scalar_rng(seed, "event", idx, dev)
            offset = int(pop.utc_offset_ms[dev])
            params = _physical_params(spec.kind, spec.severity, dev, pop, spec.params)
            profile = spec.params.get("profile", "step")
            if spec.kind is K.ILLNESS:  # the viral-illness time course, always
                if spec.params.get("profile", "illness") != "illness":
                    raise ValueError("an illness event has no profile other than 'illness'")
                profile = "illness"
            if profile != "step" and spec.kind in (K.ILLNESS, K.ELEVATED_RESTING_HR):
                params = {
                    "baseline_bpm": params["baseline_bpm"],
                    **illness.draw_params(r, spec.severity, {**spec.params, "profile": profile}),
                }
            span = illness.span_ms(params) or duration
            for occurrence in range(spec.count):
                if spec.at_ms is not None:
                    start = start_ms + spec.at_ms + occurrence * (span + HOUR_MS)
                elif spec.day is not None or spec.time_h is not None:
                    local_day0 = (start_ms + offset) // DAY_MS
                    day = (spec.day or 0) + occurrence
                    hours = spec.time_h if spec.time_h is not None else info.window_h[0]
                    start = int((local_day0 + day) * DAY_MS - offset + hours * HOUR_MS)
                else:
                    start = _random_start(
                        r, info, offset, span, start_ms, end_ms, busy.get(dev, [])
                    )
                start = start // MINUTE_MS * MINUTE_MS
                if start < start_ms or start + span > end_ms:
                    raise ValueError(
                        f"{spec.kind.value} on device {dev} does not fit in the run "
                        f"(make the run longer or move the event)"
                    )
                busy.setdefault(dev, []).append((start, start + span))
                if params.get("profile") == "illness":
                    params = {**params, "onset_ms": illness.onset_ms(start, params)}
                events.append(Event(spec.kind, dev, start, start + span, spec.severity, params))
    events.sort(key=lambda e: (e.start_ms, e.device, e.kind.value))
    return events


def _random_start(
    r: random.Random,
    info: KindInfo,
    offset: int,
    duration: int,
    start_ms: int,
    end_ms: int,
    busy: list[tuple[int, int]],
) -> int:
    first_day = (start_ms + offset) // DAY_MS
    last_day = (end_ms + offset) // DAY_MS
    candidates: list[int] = []
    for _ in range(200):
        day = r.randint(first_day, last_day)
        hours = r.uniform(info.window_h[0], info.window_h[1])
        s = int(day * DAY_MS - offset + hours * HOUR_MS)
        s = s // MINUTE_MS * MINUTE_MS
        if s < start_ms or s + duration > end_ms:
            continue
        candidates.append(s)
        # leave an hour between events of a device so they do not mask each other
        if all(s + duration + HOUR_MS <= b0 or s >= b1 + HOUR_MS for b0, b1 in busy):
            return s
    if candidates:
        return candidates[0]
    # a short run (a load test) may not reach the kind's usual hours: anywhere in the run then
    latest = end_ms - duration
    if latest < start_ms:
        raise ValueError("an event with a random start does not fit in the run; make it longer")
    for _ in range(100):
        s = r.randint(start_ms // MINUTE_MS, latest // MINUTE_MS) * MINUTE_MS
        if all(s + duration + HOUR_MS <= b0 or s >= b1 + HOUR_MS for b0, b1 in busy):
            return s
    return int(r.randint(start_ms // MINUTE_MS, latest // MINUTE_MS) * MINUTE_MS)
