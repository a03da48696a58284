"""Time-driven detection: ``Engine.tick`` per partition on stream time, and its index of due
devices, which must change nothing but the cost."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator

import pytest

from detectors import AlertEvent, Engine, EngineConfig, GridClock
from detectors.config import QualityConfig
from ingest.replay.evaluation import readings_of
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric
from simulators import EventSpec, FleetSimulator, Scenario

T0 = 1_767_225_600_000
MIN = 60_000
HOUR = 3_600_000
PARTITIONS = 3


@pytest.fixture(scope="module")
def readings() -> list[Reading]:
    events = [
        EventSpec(K.DEVICE_SILENT, devices=[0], at_ms=9 * HOUR, duration_ms=8 * HOUR),
        EventSpec(K.TACHYCARDIA_AT_REST, devices=[0], at_ms=8 * HOUR, duration_ms=HOUR),
        EventSpec(K.CLOCK_SKEW, devices=[1], at_ms=14 * HOUR, duration_ms=2 * HOUR),
        EventSpec(K.DROPOUT, devices=[2], at_ms=20 * HOUR, duration_ms=HOUR),
        EventSpec(K.OFF_WRIST, devices=[3], at_ms=22 * HOUR, duration_ms=HOUR),
        EventSpec(K.FLATLINE, devices=[4], at_ms=18 * HOUR, duration_ms=HOUR // 2),
    ]
    scenario = Scenario(devices=6, duration_ms=30 * HOUR, events=events, models={"watch": 1.0})
    sim = FleetSimulator(scenario, seed=3, start_ms=T0)
    return [r for chunk in sim for batch in readings_of(chunk) for r in batch]


def _partition(device_id: str) -> int:
    return zlib.crc32(device_id.encode()) % PARTITIONS


def _run(readings: list[Reading], engine: Engine, batch: int) -> Iterator[AlertEvent]:
    """Feed readings as a daemon would: per partition in order, ticking that partition's
    devices at its own stream time's grid points before the reading that crosses them."""
    clocks = [GridClock(MIN) for _ in range(PARTITIONS)]
    members: list[set[str]] = [set() for _ in range(PARTITIONS)]
    pending: list[Reading] = []
    for r in readings:
        p = _partition(r.device_id)
        grid = clocks[p].advance(r.ts_ms)
        if grid or len(pending) >= batch:
            yield from engine.process(pending).alerts
            pending = []
            for at in grid:
                yield from engine.tick(at, members[p])
        members[p].add(r.device_id)
        pending.append(r)
    yield from engine.process(pending).alerts


def _key(a: AlertEvent) -> tuple[object, ...]:
    return (a.device_id, a.alert_id, a.kind, a.state, a.ts_ms, a.start_ms, a.end_ms, a.severity)


def test_due_index_changes_nothing_but_which_devices_are_visited(
    readings: list[Reading], monkeypatch: pytest.MonkeyPatch
) -> None:
    visits = {"index": 0, "every": 0}

    def counting(mode: str, engine: Engine) -> None:
        visit = engine._tick_device

        def wrapped(*args: object) -> None:
            visits[mode] += 1
            visit(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(engine, "_tick_device", wrapped)

    indexed, every = Engine(EngineConfig()), Engine(EngineConfig())
    every._tick_every_device = True
    counting("index", indexed)
    counting("every", every)
    got = list(_run(readings, indexed, batch=700))
    want = list(_run(readings, every, batch=700))

    assert [_key(a) for a in got] == [_key(a) for a in want]
    assert [a.explanation for a in got] == [a.explanation for a in want]
    for did in every.device_ids():
        assert indexed.snapshot(did) == every.snapshot(did), did
    kinds = {(a.kind, a.state) for a in got}
    # the run exercised the time-driven paths the index decides about
    assert (K.DEVICE_SILENT, "open") in kinds
    assert (K.DEVICE_SILENT, "resolved") in kinds
    assert (K.CLOCK_SKEW, "open") in kinds
    assert any("No longer observable" in a.explanation for a in got)
    assert visits["index"] * 20 < visits["every"], visits


def _random_life(seed: int, devices: int = 6, hours: int = 40) -> list[Reading]:
    """Readings of wearers whose life switches at random between normal, alarming, partly
    or wholly silent, asleep, and a clock that jumps back: every deadline tick() keeps."""
    rng = random.Random(seed)
    lives: list[list[Reading]] = []
    for n in range(devices):
        did = f"rnd-{seed}-{n}"
        life: list[Reading] = []
        t, end, jumped = T0, T0 + hours * HOUR, False
        while t < end:
            regime = rng.choice(
                ["normal", "normal", "tachy", "brady", "low_spo2", "no_spo2", "no_hr", "gap",
                 "asleep", "asleep", "jump"]
            )  # fmt: skip
            if regime == "gap":
                t += rng.randint(5, 300) * MIN
                continue
            if regime == "jump" and not jumped:
                jumped = True
                t -= rng.randint(1, 4) * HOUR
            hr = {"tachy": 140.0, "brady": 35.0}.get(regime, 62.0)
            spo2 = 85.0 if regime == "low_spo2" else 97.0
            stop = t + rng.randint(10, 90) * MIN
            while t < stop:
                if regime != "no_hr":
                    life.append(Reading(did, t, Metric.HEART_RATE, hr + rng.uniform(-3, 3)))
                if t % MIN < 30_000:
                    if regime not in ("no_spo2", "asleep"):
                        life.append(Reading(did, t + 1, Metric.STEPS, 0.0, 60.0))
                    if regime != "no_spo2":
                        life.append(Reading(did, t + 2, Metric.SPO2, spo2 + rng.uniform(-1, 1)))
                if regime == "asleep":
                    life.append(Reading(did, t + 3, Metric.SLEEP_STAGE, float(rng.randint(1, 3))))
                t += 30_000
        lives.append(life)
    # delivery interleaves the wearers in runs, each wearer's readings in its own order
    out: list[Reading] = []
    heads = [0] * devices
    while live := [n for n in range(devices) if heads[n] < len(lives[n])]:
        n = rng.choice(live)
        take = rng.randint(1, 40)
        out += lives[n][heads[n] : heads[n] + take]
        heads[n] += take
    return out


# the default limits, and short nights with a long deadman (so a night's end comes first)
CONFIGS = {
    "default": EngineConfig(),
    "short_nights": EngineConfig.model_validate(
        {
            "multiday": {"session_gap_ms": 10 * MIN},
            "deadman": {"silent_after_ms": 6 * HOUR},
            "alerts": {"stale_ms": 7 * MIN},
        }
    ),
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_due_index_on_random_lives(seed: int, config: str) -> None:
    readings = _random_life(seed)
    cfg = CONFIGS[config]
    indexed, every = Engine(cfg), Engine(cfg)
    every._tick_every_device = True
    got = list(_run(readings, indexed, batch=500))
    want = list(_run(readings, every, batch=500))
    assert [_key(a) for a in got] == [_key(a) for a in want]
    for did in every.device_ids():
        assert indexed.snapshot(did) == every.snapshot(did), did
    assert any("No longer observable" in a.explanation for a in got)


def test_ticks_on_stream_time_do_not_depend_on_batching(readings: list[Reading]) -> None:
    small = list(_run(readings, Engine(EngineConfig()), batch=97))
    large = list(_run(readings, Engine(EngineConfig()), batch=5000))
    assert [_key(a) for a in small] == [_key(a) for a in large]


#: seen devices judged from their first reading (no learning period): these tests are about
#: when tick() visits a device, not about its habits
AT_ONCE = EngineConfig(quality=QualityConfig(presence_learn_days=0))


def test_tick_of_some_devices_leaves_the_others_alone() -> None:
    eng = Engine(AT_ONCE)
    eng.process(
        [
            Reading("a", T0, Metric.HEART_RATE, 60.0),
            Reading("b", T0, Metric.HEART_RATE, 60.0),
        ]
    )
    later = T0 + 3 * HOUR
    assert {a.device_id for a in eng.tick(later, {"a"})} == {"a"}
    assert eng.tick_touched == {"a"}
    assert {a.device_id for a in eng.tick(later, {"b"})} == {"b"}
    assert eng.tick(later + MIN) == []  # both silent already: nothing new


def test_a_restored_device_is_due_again() -> None:
    eng = Engine(AT_ONCE)
    eng.process([Reading("a", T0, Metric.HEART_RATE, 60.0)])
    assert eng.tick(T0 + MIN) == []
    silent = Engine(AT_ONCE)
    silent.process([Reading("a", T0 - 5 * HOUR, Metric.HEART_RATE, 60.0)])
    eng.restore("a", silent.snapshot("a"))  # an older state: its deadline is long past
    assert [a.kind for a in eng.tick(T0 + 2 * MIN)] == [K.DEVICE_SILENT]


def test_grid_clock_caps_a_jump_and_resumes_from_a_persisted_tick() -> None:
    clock = GridClock(MIN, max_ticks=3)
    clock.advance(T0)
    assert list(clock.advance(T0 + 10 * MIN)) == [T0 + 8 * MIN, T0 + 9 * MIN, T0 + 10 * MIN]
    resumed = GridClock(MIN, tick_ms=clock.tick_ms)
    assert list(resumed.advance(T0 + 11 * MIN + 5)) == [T0 + 11 * MIN]
    with pytest.raises(ValueError, match="positive"):
        GridClock(0)
