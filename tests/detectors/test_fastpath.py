"""The compiled build of the per-reading path (``detectors/reading_path.py`` compiled with its
``.pxd``) against the same source interpreted.

The compiled path must be an optimisation only: for any input, the same scores, baselines,
flags, alert events (time-driven ones too) and snapshots, bit for bit. Checked on every
scenario's simulated fleet in delivery order (duplicates, out-of-order and late readings,
clock jumps, dropouts, every injected event kind) and on adversarial streams from hypothesis
(impossible values, NaN, ints where floats belong, metric names as strings, timestamps that
go backwards or beyond 2**53).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import msgspec
import pydantic
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

import detectors.engine as engine_module
from detectors import AlertEvent, Engine, EngineConfig, Scored
from ingest.replay.evaluation import readings_of
from messages.codec import Reading
from messages.metrics import Metric
from simulators import FleetSimulator, load_scenario
from tests.detectors.streams import HOUR, T0

_enc = msgspec.msgpack.Encoder()


def test_the_compiled_path_is_built_and_current() -> None:
    """The install builds it (a C compiler is part of the set-up); a stale build after an
    edit of the .pyx would test old code, so the module must be newer than its source."""
    if os.environ.get("VITALSTREAM_ALLOW_PURE_PYTHON") == "1":
        pytest.skip("VITALSTREAM_ALLOW_PURE_PYTHON=1: the pure-Python engine is accepted")
    assert engine_module.COMPILED, "detectors.reading_path is not compiled: run `make venv`"
    import detectors.reading_path as rp

    built = Path(rp.__file__)
    for name in ("reading_path.py", "reading_path.pxd"):
        source = built.with_name(name)
        assert built.stat().st_mtime >= source.stat().st_mtime, (
            f"detectors/{name} changed after it was compiled: run `make venv`"
        )
    assert Engine().compiled
    assert not Engine(compiled=False).compiled
    assert type(Engine(compiled=False)._path).__module__ != type(Engine()._path).__module__


#: how a batch reaches the engine: its scores and alert events
Feed = Callable[[Engine, list[Reading]], tuple[list[Scored], list[AlertEvent]]]


def _process(eng: Engine, batch: list[Reading]) -> tuple[list[Scored], list[AlertEvent]]:
    out = eng.process(batch)
    return out.scored, out.alerts


def _run(
    batches: list[list[Reading]], *, compiled: bool, tick_every_ms: int = 0, feed: Feed = _process
) -> tuple[bytes, bytes, dict[str, bytes]]:
    eng = Engine(EngineConfig(), compiled=compiled)
    scored: list[Scored] = []
    alerts: list[AlertEvent] = []
    next_tick = None
    for batch in batches:
        batch_scored, batch_alerts = feed(eng, batch)
        scored += batch_scored
        alerts += batch_alerts
        if tick_every_ms and batch:
            newest = max(r.ts_ms for r in batch)
            if next_tick is None or newest - next_tick > 100 * tick_every_ms:
                next_tick = newest  # a clock jump: tick at the new time, not at every minute
            while next_tick <= newest:
                alerts += eng.tick(next_tick)
                next_tick += tick_every_ms
    snaps = {d: eng.snapshot(d) for d in sorted(eng.device_ids())}
    return _enc.encode(scored), _enc.encode(alerts), snaps


def _assert_same(batches: list[list[Reading]], tick_every_ms: int = 0) -> None:
    py = _run(batches, compiled=False, tick_every_ms=tick_every_ms)
    c = _run(batches, compiled=True, tick_every_ms=tick_every_ms)
    assert c[0] == py[0], "scores differ"
    assert c[1] == py[1], "alert events differ"
    assert c[2] == py[2], "device state differs"


@pytest.mark.skipif(not engine_module.COMPILED, reason="the compiled path is not built")
@pytest.mark.parametrize(
    ("scenario", "devices", "hours"),
    [
        ("acute_events", 30, 72),
        ("illness_week", 6, 7 * 24),
        ("normal_week", 8, 48),
        ("loadtest", 40, 12),
    ],
)
def test_identical_on_every_scenario(scenario: str, devices: int, hours: int) -> None:
    sim = FleetSimulator(
        load_scenario(scenario), devices=devices, seed=3, start_ms=T0, duration_ms=hours * HOUR
    )
    batches = [b for chunk in sim for b in readings_of(chunk)]
    n = sum(len(b) for b in batches)
    assert n > 10_000  # a real stream, not a trivial one
    _assert_same(batches, tick_every_ms=60_000)


_METRICS = [*Metric, "heart_rate", "spo2"]  # str metrics take the Python path inside
_values = (
    st.floats(min_value=-10, max_value=300)
    | st.sampled_from([0.0, 1.0, 2.0, 3.0, 60.0, 60.0, 61.0, 140.0, 35.0, 85.0, 97.0])
    | st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308])
    | st.integers(min_value=-5, max_value=300)
)
_steps_ms = st.integers(min_value=-120_000, max_value=600_000) | st.sampled_from(
    [0, 1, 60_000, 3 * HOUR, 2 * 24 * HOUR, -2 * HOUR]
)


Row = tuple[int, Metric | str, float | int, int, float | int | None, int | None]


def stream_rows(
    metrics: list[Metric | str] | list[Metric],
    values: st.SearchStrategy[float] | st.SearchStrategy[float | int],
    intervals: list[float | int | None] | list[float | None],
    offsets: list[int | None] | None = None,
) -> st.SearchStrategy[list[Row]]:
    """Rows of an adversarial stream: (device, metric, value, ms since the previous row, steps
    interval, UTC offset in minutes or None)."""
    offsets = offsets or [None]
    return st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2),  # device
            st.sampled_from(metrics),
            values,
            _steps_ms,
            st.sampled_from(intervals),
            st.sampled_from(offsets),
        ),
        min_size=1,
        max_size=400,
    )


cuts_strategy = st.lists(st.integers(min_value=1, max_value=400), max_size=4)

#: UTC offsets (minutes) an RFC 3339 reading may carry; None: none given
UTC_OFFSETS: list[int | None] = [None, None, None, 0, -420, 540, 330, -720, 840]


def stream_batches(rows: list[Row], cuts: list[int], huge_ts: bool) -> list[list[Reading]]:
    """The readings of ``rows``, cut into batches at ``cuts``."""
    t = T0
    rs: list[Reading] = []
    for i, (dev, metric, value, step, steps_interval, offset) in enumerate(rows):
        t += step
        ts = t + 2**53 if huge_ts and i % 97 == 50 else t
        interval = steps_interval if metric is Metric.STEPS else None
        r = Reading(f"d{dev}", ts, metric, value, interval, None, offset)  # type: ignore[arg-type]
        rs.append(r)
    bounds = sorted({0, len(rs), *[c for c in cuts if c < len(rs)]})
    return [rs[lo:hi] for lo, hi in itertools.pairwise(bounds)]


@pytest.mark.skipif(not engine_module.COMPILED, reason="the compiled path is not built")
@settings(max_examples=100, deadline=None)
@given(
    rows=stream_rows(
        _METRICS, _values, [60.0, 60.0, 30.0, 0.0, -0.0, None, 60, float("nan")], UTC_OFFSETS
    ),
    cuts=cuts_strategy,
    huge_ts=st.booleans(),
)
def test_identical_on_adversarial_streams(rows: list[Row], cuts: list[int], huge_ts: bool) -> None:
    _assert_same(stream_batches(rows, cuts, huge_ts), tick_every_ms=60_000)


@pytest.mark.skipif(not engine_module.COMPILED, reason="the compiled path is not built")
def test_identical_after_restore_into_the_other_implementation() -> None:
    """Snapshots are one format: state saved by one path continues identically in the other."""
    sim = FleetSimulator(
        load_scenario("acute_events"), devices=10, seed=4, start_ms=T0, duration_ms=24 * HOUR
    )
    batches = [b for chunk in sim for b in readings_of(chunk)]
    half = len(batches) // 2
    outputs = []
    for first, second in ((True, False), (False, True)):
        a = Engine(compiled=first)
        for b in batches[:half]:
            a.process(b)
        c = Engine(compiled=second)
        for d in a.device_ids():
            c.restore(d, a.snapshot(d))
        rest = [c.process(b) for b in batches[half:]]
        outputs.append(
            (
                _enc.encode([s for o in rest for s in o.scored]),
                _enc.encode([e for o in rest for e in o.alerts]),
            )
        )
    assert outputs[0] == outputs[1]


@st.composite
def _configs(draw: st.DrawFn) -> EngineConfig:
    """An EngineConfig with rules switched off and thresholds, windows and times moved."""
    on = st.booleans()
    raw = {
        "tachycardia": {
            "enabled": draw(on),
            "threshold": draw(st.floats(90, 150)),
            "sustain_ms": draw(st.integers(60_000, 900_000)),
            "hysteresis": draw(st.floats(0, 10)),
        },
        "bradycardia": {"enabled": draw(on), "threshold": draw(st.floats(30, 55))},
        "low_spo2": {
            "enabled": draw(on),
            "threshold": draw(st.floats(80, 94)),
            "hysteresis": draw(st.floats(0, 4)),
        },
        "abrupt": {"enabled": draw(on), "delta_bpm": draw(st.floats(5, 40))},
        "decoupling": {"enabled": draw(on), "rest_excess_bpm": draw(st.floats(5, 40))},
        "desaturation": {"enabled": draw(on), "drop": draw(st.floats(1, 6))},
        "inactivity": {"enabled": draw(on)},
        "baseline": {
            "warmup_ms": draw(st.integers(0, 3_600_000)),
            "flag_z": draw(st.floats(1, 6)),
            "tau_ms": draw(st.integers(600_000, 86_400_000)),
            "hr_sd_floor": draw(st.floats(0.5, 5)),
            "spo2_sd_floor": draw(st.floats(0.1, 3)),
            "max_dt_ms": draw(st.integers(10_000, 900_000)),
        },
        "activity": {
            "rest_min_ms": draw(st.integers(1, 10)) * 60_000,
            "still_min_ms": draw(st.integers(1, 10)) * 60_000,
            "rest_max_steps_per_min": draw(st.floats(0, 30)),
            "assume_rest_without_steps": draw(on),
        },
        "quality": {
            "flatline_ms": draw(st.integers(0, 1_800_000)),
            "flatline_min_readings": draw(st.integers(1, 20)),
            "flatline_max_gap_ms": draw(st.integers(1, 900_000)),
            "off_wrist_min_ms": draw(st.integers(1, 3_600_000)),
            "off_wrist_back_ms": draw(st.integers(1, 900_000)),
            "presence_days": draw(st.integers(2, 30)),
            "usual_hour_share": draw(st.floats(0, 0.95)),
            "ordinary_holes_per_week": draw(st.floats(0.1, 20)),
            "bedtime_gap_max_ms": draw(st.integers(0, 4 * 3_600_000)),
        },
        "local_time": {
            "timezone": draw(st.sampled_from(["UTC", "-07:00", "+05:45", "Europe/Oslo"])),
        },
    }
    try:
        return EngineConfig.model_validate(raw)
    except pydantic.ValidationError:
        reject()  # a combination the configuration refuses at start


@pytest.mark.skipif(not engine_module.COMPILED, reason="the compiled path is not built")
@settings(max_examples=15, deadline=None)
@given(cfg=_configs(), seed=st.integers(0, 10_000), devices=st.integers(1, 2))
def test_identical_with_randomised_configs(cfg: EngineConfig, seed: int, devices: int) -> None:
    """Both builds agree for any configuration, not only the defaults (rules switched off,
    thresholds and windows moved), on a simulated stream with every event kind."""
    sim = FleetSimulator(
        load_scenario("acute_events"),
        devices=devices,
        seed=seed,
        start_ms=T0,
        duration_ms=24 * HOUR,
    )
    batches = [b for chunk in sim for b in readings_of(chunk)]
    outs = []
    for compiled in (False, True):
        eng = Engine(cfg, compiled=compiled)
        scored, alerts = [], []
        for b in batches:
            o = eng.process(b)
            scored += o.scored
            alerts += o.alerts
            if b:
                alerts += eng.tick(max(r.ts_ms for r in b))
        snaps = [eng.snapshot(d) for d in sorted(eng.device_ids())]
        outs.append((_enc.encode(scored), _enc.encode(alerts), snaps))
    assert outs[0] == outs[1]
