"""``Engine.process_columns`` (readings as columns, the bulk replay's entry point) against
``Engine.process`` (one ``Reading`` in, one ``Scored`` out): the same scores, baselines, flags,
alert events (time-driven ones too) and device state, bit for bit, in both builds of the
per-reading path. Checked on simulated fleets in delivery order (duplicates, out-of-order and
late readings, clock jumps, dropouts, injected events) and on hypothesis streams (impossible
values, NaN, zero steps intervals, timestamps that go backwards or beyond 2**53)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detectors.engine as engine_module
from detectors import AlertEvent, Engine, EngineConfig, Scored
from ingest.replay.evaluation import readings_of
from messages.codec import Reading
from messages.metrics import Metric
from simulators import FleetSimulator, load_scenario
from tests.detectors.streams import HOUR, T0
from tests.detectors.test_fastpath import (
    Feed,
    Row,
    _run,
    cuts_strategy,
    stream_batches,
    stream_rows,
)

_METRICS = list(Metric)


def _columns_feed() -> Feed:
    """A feed through ``Engine.process_columns`` (device codes by first appearance)."""
    ids: list[str] = []
    code: dict[str, int] = {}

    def feed(eng: Engine, batch: list[Reading]) -> tuple[list[Scored], list[AlertEvent]]:
        for r in batch:
            if r.device_id not in code:
                code[r.device_id] = len(ids)
                ids.append(r.device_id)
        n = len(batch)
        dev = np.array([code[r.device_id] for r in batch], np.int64)
        ts = np.array([r.ts_ms for r in batch], np.int64)
        metric = np.array([_METRICS.index(r.metric) for r in batch], np.int64)
        value = np.array([r.value for r in batch], np.float64)
        interval = np.array(
            [math.nan if r.interval_s is None else r.interval_s for r in batch], np.float64
        )
        score, baseline, flags = np.empty(n), np.empty(n), np.empty(n, np.int8)
        odd, alerts = eng.process_columns(
            ids, dev, ts, metric, value, interval, score, baseline, flags
        )
        scored = []
        for i, r in enumerate(batch):
            s = odd.get(i)
            if s is None:
                f = int(flags[i])
                b = float(baseline[i]) if f & 2 else None
                s = Scored(r.device_id, r.ts_ms, r.metric, r.value, float(score[i]), b, bool(f & 1))
            scored.append(s)
        return scored, alerts

    return feed


def _assert_same(batches: list[list[Reading]]) -> None:
    builds = [False, True] if engine_module.COMPILED else [False]
    for compiled in builds:
        want = _run(batches, compiled=compiled, tick_every_ms=60_000)
        got = _run(batches, compiled=compiled, tick_every_ms=60_000, feed=_columns_feed())
        assert got[0] == want[0], f"scores differ (compiled={compiled})"
        assert got[1] == want[1], f"alert events differ (compiled={compiled})"
        assert got[2] == want[2], f"device state differs (compiled={compiled})"


@pytest.mark.parametrize(
    ("scenario", "devices", "hours"),
    [("acute_events", 12, 48), ("illness_week", 3, 7 * 24), ("normal_week", 4, 36)],
)
def test_same_as_process_on_simulated_fleets(scenario: str, devices: int, hours: int) -> None:
    sim = FleetSimulator(
        load_scenario(scenario), devices=devices, seed=5, start_ms=T0, duration_ms=hours * HOUR
    )
    batches = [b for chunk in sim for b in readings_of(chunk)]
    for b in batches:  # the columns carry floats: the simulator's readings do already
        assert all(isinstance(r.value, float) for r in b)
    assert sum(len(b) for b in batches) > 10_000
    _assert_same(batches)


_values = (
    st.floats(min_value=-10, max_value=300)
    | st.sampled_from([0.0, 1.0, 2.0, 3.0, 60.0, 61.0, 140.0, 35.0, 85.0, 97.0])
    | st.sampled_from([math.nan, math.inf, -math.inf, 1e308])
)


@settings(max_examples=60, deadline=None)
@given(
    rows=stream_rows(_METRICS, _values, [60.0, 60.0, 30.0, 0.0, -0.0, None, 1e-3]),
    cuts=cuts_strategy,
    huge_ts=st.booleans(),
)
def test_same_as_process_on_adversarial_streams(
    rows: list[Row], cuts: list[int], huge_ts: bool
) -> None:
    _assert_same(stream_batches(rows, cuts, huge_ts))


def test_codes_out_of_range_and_uneven_columns_are_refused() -> None:
    eng = Engine(EngineConfig())
    one = np.zeros(1, np.int64)
    value, interval = np.full(1, 60.0), np.full(1, math.nan)
    outputs = (np.empty(1), np.empty(1), np.empty(1, np.int8))
    with pytest.raises(IndexError):
        eng.process_columns(["d1"], one + 1, one + T0, one, value, interval, *outputs)
    with pytest.raises(IndexError):
        eng.process_columns(["d1"], one, one + T0, one + 4, value, interval, *outputs)
    with pytest.raises(ValueError, match="one entry per reading"):
        eng.process_columns(["d1"], one, one + T0, one, np.full(2, 60.0), interval, *outputs)
    assert list(eng.device_ids()) == []  # nothing was processed


def test_metric_codes_are_the_positions_in_list_metric() -> None:
    """The columns' metric code is the position in ``list(Metric)``, which is the per-reading
    path's own metric numbering."""
    path = engine_module._PATHS[False]
    assert tuple(Metric) == path._METRIC_ORDER
