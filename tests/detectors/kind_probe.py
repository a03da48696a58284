"""One alert kind of the engine seen as a River-style detector, for the contract suite.

:class:`KindDetector` wraps an :class:`~detectors.engine.Engine` holding one device. A feature
dict is one minute of that device's readings (``ts`` and any of the metric names; a missing or
non-finite metric = no reading). ``learn_one`` feeds the minute to the engine (and ticks it);
``score_one`` feeds it to a scratch copy of the device (restored from a snapshot) and returns
1.0 if the kind's alert is open afterwards, so scoring never changes the engine. Labelled
minute streams for every registered kind are in :data:`STREAMS`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from detectors.base import Features
from detectors.config import EngineConfig
from detectors.engine import Engine
from detectors.kinds.base import Module
from detectors.types import AlertEvent
from messages.codec import Reading
from messages.metrics import Metric
from tests.detectors.streams import HOUR, MIN, T0, day_plan

DEVICE = "probe"
# a minute's readings in the order the simulator and tests send them
_ORDER = (
    (Metric.STEPS, 0),
    (Metric.SLEEP_STAGE, 1),
    (Metric.HEART_RATE, 2),
    (Metric.SPO2, 3),
)

Stream = list[tuple[dict[str, float], bool]]


def _readings(x: Features) -> list[Reading]:
    ts = x.get("ts")
    if ts is None or not math.isfinite(ts):
        return []
    out = []
    for metric, dt in _ORDER:
        v = x.get(metric.value)
        if v is None or not math.isfinite(v):
            continue
        interval = 60.0 if metric is Metric.STEPS else None
        out.append(Reading(DEVICE, int(ts) + dt, metric, float(v), interval))
    return out


def _enabled(module: type[Module]) -> EngineConfig:
    """The default configuration, with ``module``'s kind switched on if it ships disabled
    (``hr_activity_decoupling``): the suite checks the rule, not the default."""
    cfg = EngineConfig()
    section = getattr(cfg, module.section) if module.section else None
    if section is None or getattr(section, "enabled", True):
        return cfg
    assert module.section is not None
    return cfg.model_copy(update={module.section: section.model_copy(update={"enabled": True})})


def feed(eng: Engine, x: Features) -> list[AlertEvent]:
    """Feed one minute ``x`` to ``eng`` and tick it just after; the alert events raised."""
    rs = _readings(x)
    events = eng.process(rs).alerts if rs else []
    ts = x.get("ts")
    if ts is not None and math.isfinite(ts) and DEVICE in eng.device_ids():
        events += eng.tick(int(ts) + 4, [DEVICE])
    return events


def alerts_on(
    module: type[Module], stream: Stream, cfg: EngineConfig | None = None
) -> list[AlertEvent]:
    """Every alert event of every kind the engine raises on ``stream``, fed minute by minute
    with a tick after each minute (``cfg``, by default the probe's of ``module``'s kind)."""
    eng = Engine(cfg or _enabled(module))
    events: list[AlertEvent] = []
    for x, _ in stream:
        events += feed(eng, x)
    return events


class KindDetector:
    """The alert kind of ``module`` as a detector (see the module docstring)."""

    def __init__(self, module: type[Module], seed: int | None = None) -> None:
        assert module.kind is not None
        self.module = module
        self.seed = seed  # the engine is deterministic: accepted for a uniform signature
        self._engine = Engine(_enabled(module))
        self._scratch = Engine(self._engine.cfg)

    def _open(self, eng: Engine) -> float:
        if DEVICE not in eng.device_ids():
            return 0.0
        assert self.module.kind is not None
        t = eng._devices[DEVICE].tracks.get(self.module.kind.value)
        return 1.0 if t is not None and t.is_open else 0.0

    def score_one(self, x: Features) -> float:
        scratch = self._scratch
        scratch.drop(DEVICE)
        if DEVICE in self._engine.device_ids():
            scratch.restore(DEVICE, self._engine.snapshot(DEVICE))
        feed(scratch, x)
        return self._open(scratch)

    def learn_one(self, x: Features) -> None:
        feed(self._engine, x)

    def score_many(self, xs: Sequence[Features]) -> list[float]:
        return [self.score_one(x) for x in xs]

    def learn_many(self, xs: Sequence[Features]) -> None:
        for x in xs:
            self.learn_one(x)

    def snapshot(self) -> bytes:
        if DEVICE not in self._engine.device_ids():
            return b""
        return self._engine.snapshot(DEVICE)

    def restore(self, data: bytes) -> None:
        self._engine = Engine(self._engine.cfg)
        if data:
            self._engine.restore(DEVICE, data)

    def state_nbytes(self) -> int:
        return len(self.snapshot())

    # an engine holds compiled code and encoders: pickle the device state instead
    def __getstate__(self) -> dict[str, Any]:
        return {"module": self.module, "seed": self.seed, "state": self.snapshot()}

    def __setstate__(self, st: dict[str, Any]) -> None:
        self.__init__(st["module"], st["seed"])  # type: ignore[misc]
        self.restore(st["state"])


# -- labelled minute streams, one per kind ----------------------------------------------------


def _minutes(
    n: int, plan: Callable[[int, random.Random], tuple[dict[str, float], bool]], seed: int
) -> Stream:
    rng = random.Random(seed)
    out: Stream = []
    for i in range(n):
        x, bad = plan(i, rng)
        out.append(({"ts": float(T0 + i * MIN), **x}, bad))
    return out


def _episodes(
    seed: int,
    normal: Callable[[random.Random], dict[str, float]],
    abnormal: Callable[[random.Random], dict[str, float]],
    *,
    n: int = 900,
    every: int = 180,
    length: int = 30,
    first: int = 120,
) -> Stream:
    """At rest, one reading per metric per minute; an episode of ``length`` minutes every
    ``every`` minutes from minute ``first`` on."""

    def plan(i: int, rng: random.Random) -> tuple[dict[str, float], bool]:
        bad = i >= first and (i - first) % every < length
        return (abnormal(rng) if bad else normal(rng)), bad

    return _minutes(n, plan, seed)


def _rest(rng: random.Random, hr: float = 66.0) -> dict[str, float]:
    return {
        "steps": 0.0,
        "heart_rate": float(round(rng.gauss(hr, 2))),
        "spo2": float(min(100, round(rng.gauss(97, 0.5)))),
    }


def _with(**kw: float) -> Callable[[random.Random], dict[str, float]]:
    def f(rng: random.Random) -> dict[str, float]:
        x = _rest(rng)
        for k, v in kw.items():
            if math.isnan(v):
                x.pop(k, None)
            else:
                x[k] = float(round(rng.gauss(v, 1.5))) if k == "heart_rate" else v
        return x

    return f


_NO = float("nan")  # _with(metric=_NO): no reading of that metric


def _tachycardia(seed: int) -> Stream:
    return _episodes(seed, _rest, _with(heart_rate=135.0))


def _bradycardia(seed: int) -> Stream:
    return _episodes(seed, _rest, _with(heart_rate=36.0))


def _abrupt(seed: int) -> Stream:
    return _episodes(seed, _rest, _with(heart_rate=100.0))


def _decoupling(seed: int) -> Stream:
    return _episodes(seed, _rest, _with(heart_rate=98.0), length=50)


def _flatline(seed: int) -> Stream:
    return _episodes(seed, _rest, lambda r: {**_rest(r), "heart_rate": 64.0})


def _low_spo2(seed: int) -> Stream:
    return _episodes(seed, _rest, lambda r: {**_rest(r), "spo2": float(round(r.gauss(85, 1)))})


def _desaturation(seed: int) -> Stream:
    def dips(rng: random.Random) -> dict[str, float]:
        x = _rest(rng)
        if rng.random() < 0.3:
            x["spo2"] = 91.0
        return x

    return _episodes(seed, _rest, dips, length=60)


def _impossible(seed: int) -> Stream:
    return _episodes(seed, _rest, _with(heart_rate=300.0), length=8)


def _off_wrist(seed: int) -> Stream:
    return _episodes(seed, _rest, _with(heart_rate=_NO, spo2=_NO), length=40)


def _dropout(seed: int) -> Stream:
    return _episodes(seed, _rest, _with(heart_rate=_NO, spo2=_NO, steps=40.0), length=40)


def _device_silent(seed: int) -> Stream:
    """Silences after the two days a seen device's habits take to learn
    (``quality.presence_learn_days``); before that only a silence of over 6 h would count."""
    learn = 2 * 24 * 60
    return _episodes(
        seed, _rest, lambda r: {}, n=learn + 900, length=90, every=240, first=learn + 120
    )


def _clock_skew(seed: int) -> Stream:
    """The device clock runs an hour behind during each episode, then is corrected."""

    def plan(i: int, rng: random.Random) -> tuple[dict[str, float], bool]:
        bad = i >= 180 and (i - 180) % 240 < 60
        x = _rest(rng)
        return {**x, "ts": float(T0 + i * MIN - (HOUR if bad else 0))}, bad

    return [({**x}, bad) for x, bad in _minutes(900, plan, seed)]


def _days(
    seed: int, days: int, plan: Callable[[int, int, random.Random], tuple[dict[str, float], bool]]
) -> Stream:
    rng = random.Random(seed)
    out: Stream = []
    for i in range(days * 1440):
        x, bad = plan(i // 1440, i % 1440, rng)
        out.append(({"ts": float(T0 + i * MIN), **x}, bad))
    return out


def _ordinary(minute: int, rng: random.Random, hr_delta: float = 0.0) -> dict[str, float]:
    steps, hr, stage = day_plan(minute)
    x = {"steps": steps, "heart_rate": float(round(hr + hr_delta + rng.gauss(0, 2)))}
    if minute >= 22 * 60 or minute < 8 * 60:
        x["sleep_stage"] = stage
        x["spo2"] = float(min(100, round(rng.gauss(96.5, 0.5))))
    return x


def _elevated_rhr(seed: int) -> Stream:
    """Ordinary days; nights 2-4 and 8-10 (night n: evening of day n to the next morning)
    10 bpm higher. Labelled from the second elevated night to the night after the run."""

    def plan(day: int, minute: int, rng: random.Random) -> tuple[dict[str, float], bool]:
        night = day if minute >= 12 * 60 else day - 1
        elevated = 2 <= night <= 4 or 8 <= night <= 10
        label = 3 <= night <= 5 or 9 <= night <= 11
        return _ordinary(minute, rng, 10.0 if elevated else 0.0), label

    return _days(seed, 15, plan)


def _illness(seed: int) -> Stream:
    """Ordinary days, heart rate and steps only (no sleep staging); the heart rate runs 8 bpm
    higher from the evening of day 10 to the morning of day 14. Labelled from 07:00 of day 11
    (when the first elevated night's window ends and it is judged) to 07:00 of day 14 (the first
    normal night is judged)."""

    def plan(day: int, minute: int, rng: random.Random) -> tuple[dict[str, float], bool]:
        night = day if minute >= 12 * 60 else day - 1
        x = _ordinary(minute, rng, 8.0 if 10 <= night <= 12 else 0.0)
        x.pop("sleep_stage", None)
        x.pop("spo2", None)
        judged = day if minute >= 7 * 60 else day - 1
        return x, 11 <= judged <= 13

    return _days(seed, 16, plan)


def _sleep_disruption(seed: int) -> Stream:
    """Ordinary days; on nights 2-4 and 8-10 the wearer lies awake until 3 am."""

    def plan(day: int, minute: int, rng: random.Random) -> tuple[dict[str, float], bool]:
        night = day if minute >= 12 * 60 else day - 1
        x = _ordinary(minute, rng)
        short = 2 <= night <= 4 or 8 <= night <= 10
        if short and (minute >= 22 * 60 or minute < 3 * 60):
            x["sleep_stage"] = 0.0
        return x, 3 <= night <= 5 or 9 <= night <= 11

    return _days(seed, 15, plan)


def _inactivity(seed: int) -> Stream:
    """Walks all day (9-17 h) on ordinary days; days 2 and 6 without a step (still worn)."""

    def plan(day: int, minute: int, rng: random.Random) -> tuple[dict[str, float], bool]:
        x = _ordinary(minute, rng)
        active = 9 * 60 <= minute < 17 * 60
        if active:
            x["steps"] = 0.0 if day in (2, 6) else float(round(rng.uniform(40, 80)))
        return x, day in (2, 6) and active

    return _days(seed, 8, plan)


#: a labelled minute stream for every alert kind, by module name
STREAMS: dict[str, Callable[[int], Stream]] = {
    "tachycardia": _tachycardia,
    "bradycardia": _bradycardia,
    "abrupt_hr_change": _abrupt,
    "hr_activity_decoupling": _decoupling,
    "flatline": _flatline,
    "low_spo2": _low_spo2,
    "desaturation": _desaturation,
    "impossible_value": _impossible,
    "off_wrist": _off_wrist,
    "dropout": _dropout,
    "device_silent": _device_silent,
    "clock_skew": _clock_skew,
    "elevated_resting_hr": _elevated_rhr,
    "sleep_disruption": _sleep_disruption,
    "unusual_inactivity": _inactivity,
    "illness": _illness,
}
