"""Scores and baselines per device-minute (``vitals_minute``): folding, closing, snapshots."""

from __future__ import annotations

import math
import random

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors import Scored
from ingest.influx.minutes import (
    LATE_WINDOW_MS,
    LAYOUT,
    MINUTE_MS,
    Minute,
    MinuteAggregator,
    minute_line,
)
from ingest.influx.minutes import _MinuteV1 as PreviousReleaseMinute  # its Minute: layout 1
from ingest.kafka_io.changelog import decode_state, encode_state
from messages import Metric

T0 = 1_767_225_600_000  # a minute's start
HR = Metric.HEART_RATE


def hr(
    ts: int, value: float, score: float, baseline: float | None, flagged: bool = False
) -> Scored:
    return Scored("d1", ts, HR, value, score, baseline, flagged)


def test_a_minute_summarises_its_readings_and_closes_on_the_next() -> None:
    agg = MinuteAggregator()
    assert agg.add([hr(T0, 70, 0.2, 68.0), hr(T0 + 10_000, 90, 4.0, 70.0, True)]) == []
    assert agg.add([hr(T0 + 59_999, 71, 1.0, 69.0)]) == []
    closed = agg.add([hr(T0 + MINUTE_MS, 72, 0.1, 69.5)])
    assert len(closed) == 1
    device, m = closed[0]
    assert device == "d1"
    assert (m.metric, m.minute_ms, m.flagged) == ("heart_rate", T0, 1)
    assert m.score_max == 4.0
    assert m.baseline == 69.0  # the minute's last
    assert m.sd == abs(71 - 69.0) / 1.0  # from the last reading scoring >= SD_MIN_SCORE
    # the next minute is open, with its one reading
    [(_, nxt)] = agg.open_minutes(["d1"])
    assert (nxt.minute_ms, nxt.score_max, nxt.baseline, nxt.sd) == (T0 + MINUTE_MS, 0.1, 69.5, None)


def test_devices_and_metrics_have_their_own_minutes() -> None:
    agg = MinuteAggregator()
    other = Scored("d2", T0 + 5, HR, 60, 2.0, 61.0, False)
    spo2 = Scored("d1", T0 + 5, Metric.SPO2, 97, 0.0, 96.5, False)
    agg.add([hr(T0, 70, 0.2, 68.0), other, spo2])
    opened = {(d, m.metric): m for d, m in agg.open_minutes(["d1", "d2", "d3"])}
    assert set(opened) == {("d1", "heart_rate"), ("d2", "heart_rate"), ("d1", "spo2")}
    assert opened["d2", "heart_rate"].score_max == 2.0
    assert opened["d1", "spo2"].baseline == 96.5


def test_a_late_reading_is_folded_into_its_closed_minute_which_is_written_again() -> None:
    agg = MinuteAggregator()
    agg.add([hr(T0, 70, 0.2, 68.0), hr(T0 + 5_000, 71, 0.3, 68.5)])
    [(_, first)] = agg.add([hr(T0 + MINUTE_MS, 72, 0.1, 69.5)])
    assert (first.score_max, first.flagged) == (0.3, 0)
    # the straggler of the closed minute: scored against the current baseline
    [(device, again)] = agg.add([hr(T0 + 30_000, 200, 9.0, 69.5, True)])
    assert device == "d1"
    assert (again.minute_ms, again.score_max, again.flagged) == (T0, 9.0, 1)
    assert again.baseline == 68.5  # the minute's own baseline, not the later one
    # the open minute is untouched
    [(_, still)] = agg.open_minutes(["d1"])
    assert (still.minute_ms, still.score_max, still.flagged) == (T0 + MINUTE_MS, 0.1, 0)


def test_closing_and_a_late_reading_in_one_batch_write_the_minute_once() -> None:
    agg = MinuteAggregator()
    agg.add([hr(T0, 70, 0.2, 68.0)])
    closed = agg.add([hr(T0 + MINUTE_MS, 72, 0.1, 69.5), hr(T0 + 30_000, 200, 9.0, 68.0)])
    assert [(m.minute_ms, m.score_max) for _, m in closed] == [(T0, 9.0)]


def test_a_late_reading_of_a_minute_without_readings_gets_a_minute_of_its_own() -> None:
    agg = MinuteAggregator()
    agg.add([hr(T0, 70, 0.2, 68.0)])
    agg.add([hr(T0 + 3 * MINUTE_MS, 72, 0.1, 69.5)])
    [(_, m)] = agg.add([hr(T0 + MINUTE_MS + 7, 90, 2.5, 69.5)])
    assert (m.minute_ms, m.score_max, m.baseline) == (T0 + MINUTE_MS, 2.5, 69.5)
    # and a second straggler of it joins it
    [(_, m2)] = agg.add([hr(T0 + MINUTE_MS + 8, 91, 3.0, 69.5)])
    assert m2 is m
    assert m.score_max == 3.0


def test_a_reading_later_than_the_window_keeps_its_raw_point_only() -> None:
    agg = MinuteAggregator()
    agg.add([hr(T0, 70, 0.2, 68.0)])
    late_open = T0 + LATE_WINDOW_MS + MINUTE_MS
    agg.add([hr(late_open, 72, 0.1, 69.5)])
    assert agg.add([hr(T0 + 10, 200, 9.0, 69.5)]) == []  # T0's minute left the window
    # just inside the window: folded
    [(_, m)] = agg.add([hr(late_open - LATE_WINDOW_MS + 10, 150, 5.0, 69.5)])
    assert m.minute_ms == late_open - LATE_WINDOW_MS
    # the closed minutes kept per device and metric are bounded by the window
    for k in range(2, 60):
        agg.add([hr(late_open + k * MINUTE_MS, 72, 0.1, 69.5)])
    assert len(agg._closed["d1"]["heart_rate"]) <= LATE_WINDOW_MS // MINUTE_MS + 1


def test_a_new_device_folds_no_reading_before_its_first_minute() -> None:
    agg = MinuteAggregator()
    agg.add([hr(T0 + MINUTE_MS, 70, 0.2, 68.0)])
    assert agg.add([hr(T0, 200, 9.0, 68.0)]) == []  # its minute may be another owner's


def test_a_snapshot_of_open_minutes_only_folds_no_reading_before_them() -> None:
    """A changelog record written before late readings were folded carries the open minutes
    only: what came before them is unknown, so nothing before them is rewritten."""
    old = msgspec.msgpack.encode([["heart_rate", T0 + MINUTE_MS, 4, 0, 1.5, 68.0, None]])
    agg = MinuteAggregator()
    assert agg.restore("d1", old, layout=1)
    assert agg.add([hr(T0, 200, 9.0, 68.0)]) == []
    [(_, m)] = agg.open_minutes(["d1"])
    assert (m.minute_ms, m.flagged, m.score_max, m.baseline) == (T0 + MINUTE_MS, 0, 1.5, 68.0)


def layout_1(snapshot: bytes, count: int = 7) -> bytes:
    """A snapshot as a release before :data:`LAYOUT` 2 wrote it: each minute with a reading
    count after its start (no point carried it, so any count restores the same minutes)."""
    return msgspec.msgpack.encode(
        [[*m[:2], count, *m[2:]] for m in msgspec.msgpack.decode(snapshot)]
    )


@given(cut=st.integers(min_value=0, max_value=200), seed=st.integers(0, 2**16))
def test_a_snapshot_of_layout_1_restores_and_continues_as_if_uninterrupted(
    cut: int, seed: int
) -> None:
    """A changelog record of an earlier release carries its minutes in layout 1 (with the
    reading count this release no longer keeps): restored from it, the minutes go on as from
    this release's own snapshot, so their final points are the same."""
    readings = _random_readings(seed)
    whole = MinuteAggregator()
    expected = _stored(_lines(whole.add(readings) + whole.open_minutes(["d1"])))
    first = MinuteAggregator()
    got = _lines(first.add(readings[:cut]))
    old_record = msgspec.msgpack.encode([1, 0, cut, b"engine", layout_1(first.snapshot("d1"))])
    state = decode_state(old_record)
    assert state.minutes == b"", "an earlier release's record has no minutes of layout 2"
    second = MinuteAggregator()
    assert second.restore("d1", state.minutes_v1, layout=1)
    assert second.snapshot("d1") == first.snapshot("d1")
    got += _lines(second.add(readings[cut:]) + second.open_minutes(["d1"]))
    assert _stored(got) == expected


class _PreviousDeviceState(msgspec.Struct, array_like=True):
    """The changelog record as the release before :data:`LAYOUT` 2 read it."""

    version: int
    partition: int
    offset: int
    engine: bytes
    minutes: bytes = b""


def test_the_previous_release_reads_a_record_of_this_one_with_no_minute_open() -> None:
    """A rollback: the previous release reads this release's record field by field, skipping
    the trailing one it does not know. Its minutes field is empty, which it restores as no
    minute open (as for a record from before minutes were kept): the device's state and
    offset are kept, only the open minute's next point covers the readings from the restart
    on."""
    agg = MinuteAggregator()
    agg.add(_random_readings(3))
    snapshot = agg.snapshot("d1")
    assert len(msgspec.msgpack.decode(snapshot)) > 1
    previous = msgspec.msgpack.decode(
        encode_state(2, 41, b"engine", snapshot), type=_PreviousDeviceState
    )
    assert (previous.partition, previous.offset, previous.engine) == (2, 41, b"engine")
    assert previous.minutes == b""
    # had layout 2 gone into that field instead, the previous release would refuse it (a
    # shorter entry: the score where it reads an integer flag count), never misread it; its
    # restore then starts the minutes afresh
    with pytest.raises(msgspec.DecodeError):
        msgspec.msgpack.decode(snapshot, type=list[PreviousReleaseMinute])


def test_a_snapshot_of_an_unknown_layout_is_not_restored() -> None:
    agg = MinuteAggregator()
    agg.add([hr(T0, 70, 0.2, 68.0)])
    snapshot = agg.snapshot("d1")
    assert not MinuteAggregator().restore("d1", snapshot, layout=LAYOUT + 1)
    # layout-2 minutes read as layout 1: refused, not misread
    assert not MinuteAggregator().restore("d1", snapshot, layout=1)


@given(cut=st.integers(min_value=0, max_value=200), seed=st.integers(0, 2**16))
def test_a_restored_snapshot_continues_as_if_uninterrupted(cut: int, seed: int) -> None:
    """What the changelog carries across a restart: the minute open at the commit goes on
    from the same readings, so its final point is the same."""
    readings = _random_readings(seed)
    whole = MinuteAggregator()
    expected = _stored(_lines(whole.add(readings) + whole.open_minutes(["d1"])))

    first = MinuteAggregator()
    got = _lines(first.add(readings[:cut]))
    state = decode_state(encode_state(0, cut, b"engine", first.snapshot("d1")))
    second = MinuteAggregator()
    assert second.restore("d1", state.minutes)
    got += _lines(second.add(readings[cut:]) + second.open_minutes(["d1"]))
    assert _stored(got) == expected


def _random_readings(seed: int) -> list[Scored]:
    """200 readings of one device over about half an hour, some late (within the window, or
    beyond it), some flagged, some without a baseline."""
    rng = random.Random(seed)
    readings = []
    ts = T0
    for _ in range(200):
        ts += rng.randint(1_000, 20_000)
        score = rng.uniform(0, 5)
        base = rng.choice([None, rng.uniform(50, 90)])
        late = rng.choice([0] * 8 + [rng.randint(10_000, 2 * LATE_WINDOW_MS)])
        readings.append(hr(ts - late, rng.uniform(40, 150), score, base, rng.random() < 0.1))
    return readings


def _lines(minutes: list[tuple[str, Minute]]) -> list[str]:
    """The points as written when they were returned (a minute may change after)."""
    return [minute_line(device, m) for device, m in minutes]


def _stored(lines: list[str]) -> dict[str, str]:
    """What InfluxDB keeps of these writes: the last point per series and timestamp."""
    return {line.rsplit(" ", 1)[1]: line for line in lines}


def test_restore_without_minutes_or_with_garbage_starts_afresh() -> None:
    agg = MinuteAggregator()
    agg.add([hr(T0, 70, 0.2, 68.0)])
    assert agg.restore("d1", b"")  # a snapshot from before minutes were kept
    assert agg.open_minutes(["d1"]) == []
    agg.add([hr(T0, 70, 0.2, 68.0)])
    assert not agg.restore("d1", b"\xc1not msgpack")
    assert agg.open_minutes(["d1"]) == []
    # an old changelog record (four fields) still decodes, with no minutes
    assert decode_state(encode_state(1, 2, b"e")).minutes == b""


def test_drop_forgets_a_device() -> None:
    agg = MinuteAggregator()
    agg.add([hr(T0, 70, 0.2, 68.0)])
    agg.drop("d1")
    assert agg.open_minutes(["d1"]) == []
    assert agg.snapshot("d1") == MinuteAggregator().snapshot("d1")


def test_minute_line_rounds_and_leaves_out_what_is_unknown() -> None:
    m = Minute("spo2", T0, 0, 1.23456, None, None)
    assert minute_line("p9", m) == (f"vitals_minute,device=p9,metric=spo2 score_max=1.2346 {T0}")
    m = Minute("heart_rate", T0, 1, math.nan, 65.256, math.inf)
    assert minute_line("p9", m) == (
        f"vitals_minute,device=p9,metric=heart_rate score_max=0.0000,baseline=65.26,flagged=1i {T0}"
    )


def test_a_non_finite_first_score_does_not_stick() -> None:
    agg = MinuteAggregator()
    agg.add([hr(T0, 70, math.nan, 68.0), hr(T0 + 1, 80, 3.0, 68.0)])
    [(_, m)] = agg.open_minutes(["d1"])
    assert m.score_max == 3.0
    assert m.sd == abs(80 - 68.0) / 3.0


def test_minutes_without_score_baseline_or_flag_are_not_written() -> None:
    agg = MinuteAggregator()
    steps = [Scored("d1", T0 + i, Metric.STEPS, 80, 0.0, None, False) for i in range(3)]
    agg.add(steps)
    assert agg.open_minutes(["d1"]) == []  # nothing of the detector's to say
    assert agg.add([Scored("d1", T0 + MINUTE_MS, Metric.STEPS, 80, 0.0, None, False)]) == []
    flagged = Scored("d1", T0 + MINUTE_MS + 1, Metric.STEPS, 80, 0.0, None, True)
    agg.add([flagged])  # a flag makes the open minute worth a point
    [(_, m)] = agg.open_minutes(["d1"])
    assert m.flagged == 1


def test_a_late_flag_of_a_minute_that_said_nothing_gets_a_point_of_its_own() -> None:
    """Minutes of steps or sleep stages say nothing (no point) and are not kept: a late
    flagged reading of one is summarised alone."""
    agg = MinuteAggregator()
    agg.add([Scored("d1", T0 + i, Metric.STEPS, 80, 0.0, None, False) for i in range(3)])
    agg.add([Scored("d1", T0 + MINUTE_MS, Metric.STEPS, 80, 0.0, None, False)])
    assert "steps" not in agg._closed.get("d1", {}) or agg._closed["d1"]["steps"] == []
    [(_, m)] = agg.add([Scored("d1", T0 + 5, Metric.STEPS, 900, 0.0, None, True)])
    assert (m.minute_ms, m.flagged) == (T0, 1)
