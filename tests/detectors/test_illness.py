"""Contract of the multi-day illness detector and its daily-feature accumulator (issue 14)."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from detectors.base import Detector
from detectors.daily_features import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    SLOTS,
    DailyFeatures,
    DayRecord,
    NightRecord,
)
from detectors.illness import IllnessCandidate, IllnessDetector, IllnessMonitor
from tests.detectors.test_contract import _prequential, auc

Stream = list[tuple[dict[str, float], bool]]
START = 1_767_225_600_000  # 2026-01-01T00:00Z, a Thursday


def nights_stream(seed: int, n: int = 160) -> Stream:
    """Nights of one person: resting HR ~ N(58, 1.2), steps ~ 8k; an illness every 40 nights
    (resting HR +6 bpm, steps halved, for 4 nights)."""
    rng = random.Random(seed)
    out: Stream = []
    for night in range(n):
        ill = night >= 30 and night % 40 in (0, 1, 2, 3)
        rhr = rng.gauss(58, 1.2) + (6.0 if ill else 0.0)
        steps = rng.gauss(8000, 1200) * (0.5 if ill else 1.0)
        out.append(({"rest_hr": rhr, "steps": steps, "weekend": float(night % 7 >= 5)}, ill))
    return out


MODELS = {
    "ew": lambda seed: IllnessDetector(seed=seed),
    "median": lambda seed: IllnessDetector(baseline="median", seed=seed),
}
params = pytest.mark.parametrize("name", sorted(MODELS))


@params
def test_is_a_detector(name: str) -> None:
    assert isinstance(MODELS[name](0), Detector)


@params
def test_finite_score_before_learning(name: str) -> None:
    det = MODELS[name](0)
    for x, _ in nights_stream(0)[:5]:
        assert math.isfinite(det.score_one(x))
    assert det.score_one({"rest_hr": 90.0}) == 0.0  # no baseline yet: nothing to judge


@params
def test_scoring_does_not_learn(name: str) -> None:
    det = MODELS[name](0)
    data = nights_stream(0)
    det.learn_many([x for x, _ in data[:60]])
    before = det.snapshot()
    det.score_many([x for x, _ in data[60:]])
    for x, _ in data[60:70]:
        det.flags(x)
    assert det.snapshot() == before


@params
def test_same_input_same_scores(name: str) -> None:
    data = nights_stream(1)
    assert _prequential(MODELS[name](7), data) == _prequential(MODELS[name](7), data)


@params
def test_snapshot_round_trip_with_river_state(name: str) -> None:
    data = nights_stream(2)
    half = len(data) // 2
    a = MODELS[name](3)
    _prequential(a, data[:half])
    b = MODELS[name](3)
    b.restore(a.snapshot())
    c = pickle.loads(pickle.dumps(a))  # noqa: S301 - our own object
    expected = _prequential(a, data[half:])
    assert expected == _prequential(b, data[half:]) == _prequential(c, data[half:])
    assert max(expected) > 0  # the second half holds illnesses: the comparison is not trivial


def test_restore_refuses_other_versions_and_kinds() -> None:
    ew, median = IllnessDetector(), IllnessDetector(baseline="median")
    with pytest.raises(ValueError, match="baseline"):
        ew.restore(median.snapshot())
    with pytest.raises(ValueError, match="version"):
        ew.restore(b"\x09" + ew.snapshot()[1:])


@params
def test_memory_bounded_and_small(name: str) -> None:
    det = MODELS[name](0)
    data = nights_stream(4, n=600)
    _prequential(det, data[:60])
    early = det.state_nbytes()
    _prequential(det, data[60:])
    assert det.state_nbytes() <= early + 64
    assert det.state_nbytes() <= 3 * 1024  # leaves room for the features in 4 KB per device


@params
def test_missing_and_new_features(name: str) -> None:
    det = MODELS[name](0)
    data = nights_stream(5)
    _prequential(det, data[:40])
    assert det.score_one({}) == 0.0
    before = det.nights
    det.learn_one({})
    det.learn_one({"rest_hr": float("nan")})
    assert det.nights == before  # nothing learned from a night without resting HR
    x = data[40][0]
    assert det.score_one({**x, "unrelated": 1.0}) == det.score_one(x)
    # steps alone never flag
    assert not det.flags({"steps": 0.0, "weekend": 0.0})


@params
def test_separates_a_labelled_stream(name: str) -> None:
    data = nights_stream(6)
    scores = _prequential(MODELS[name](0), data)
    assert auc(scores, [y for _, y in data]) > 0.85


def test_flagged_nights_do_not_teach_the_baseline() -> None:
    det = IllnessDetector()
    rng = random.Random(8)
    for _ in range(30):
        det.learn_one({"rest_hr": rng.gauss(60, 1.0)})
    baseline = det.baseline()
    candidates = [det.judge(100 + i, {"rest_hr": 68.0}) for i in range(2)]
    flagged = [c for c in candidates if c is not None]
    assert flagged, "a 2-night rise of 8 bpm must be flagged"
    assert isinstance(flagged[0], IllnessCandidate)
    assert "above your 28-night baseline" in flagged[0].explanation
    # the flagged night did not move the baseline; the next (refractory) one may
    det2 = IllnessDetector()
    det2.restore(det.snapshot())
    fresh = IllnessDetector()
    rng = random.Random(8)
    for _ in range(30):
        fresh.learn_one({"rest_hr": rng.gauss(60, 1.0)})
    assert fresh.baseline() == baseline
    first = fresh.judge(100, {"rest_hr": 68.0})
    second = fresh.judge(101, {"rest_hr": 68.0}) if first is None else None
    assert (first or second) is not None
    if first is not None:
        assert fresh.baseline() == baseline


def test_steps_drop_is_in_the_explanation() -> None:
    det = IllnessDetector()
    rng = random.Random(9)
    for _night in range(35):
        det.learn_one({"rest_hr": rng.gauss(62, 1.0), "steps": 9000.0, "weekend": 0.0})
    assert det.usual_steps(weekend=False) == pytest.approx(9000.0)
    cands = [
        det.judge(200 + i, {"rest_hr": 69.0, "steps": 5400.0, "weekend": 0.0}) for i in range(3)
    ]
    text = next(c for c in cands if c is not None).explanation
    assert "steps down 40 % on your usual day" in text


# -- the daily-feature accumulator ----------------------------------------------------------


def _feed_person(
    f: DailyFeatures,
    days: int,
    offset_min: int,
    night_hr: float = 52.0,
    day_hr: float = 72.0,
    staged: bool = False,
) -> list[DayRecord | NightRecord]:
    """One reading of each metric a minute: asleep 23:00-07:00 local, steps every other
    minute 08:00-21:00; heart rate 5 bpm higher in the 10 minutes after any steps."""
    out: list[DayRecord | NightRecord] = []
    local0 = START - offset_min * MINUTE_MS
    last_steps = -(10**9)
    for m in range(days * 1440):
        ts = local0 + m * MINUTE_MS
        hour = (m % 1440) / 60
        asleep = hour >= 23 or hour < 7
        steps = 40.0 if 8 <= hour < 21 and m % 2 == 0 else 0.0
        if steps:
            last_steps = m
        hr = night_hr if asleep else day_hr + (5.0 if m - last_steps < 10 else 0.0)
        for metric, value in (("steps", steps), ("heart_rate", hr)):
            out += f.update(ts, metric, value) or ()
        if staged and asleep:
            out += f.update(ts + 1000, "sleep_stage", 1.0 if hour < 6 else 0.0) or ()
    return out


@pytest.mark.parametrize("offset_min", [-300, 0, 480])
def test_local_night_resting_hr_and_daily_steps(offset_min: int) -> None:
    recs = _feed_person(DailyFeatures(offset_min), 3, offset_min)
    nights = [r for r in recs if isinstance(r, NightRecord)]
    days = [r for r in recs if isinstance(r, DayRecord)]
    assert len(days) == 2
    assert len(nights) == 3
    for n in nights:
        assert n.rest_hr == 52.0  # the local night, whatever the offset
        assert n.rest_min >= 400
        assert n.sleep_min is None
    for d in days:
        assert d.steps == 40.0 * 13 * 30
        assert d.worn_h == 24.0
        # at rest: 72 bpm by day, 52 at night, never the 77 right after steps
        assert d.rest_hr is not None
        assert 52.0 < d.rest_hr < 72.0
        assert d.rest_hr_sd is not None
        assert d.rest_hr_sd > 5
    assert days[0].weekday == 3  # 2026-01-01 is a Thursday


def test_sleep_features_when_staged() -> None:
    recs = _feed_person(DailyFeatures(0), 2, 0, staged=True)
    nights = [r for r in recs if isinstance(r, NightRecord)]
    assert len(nights) == 2
    # the first night began at midnight; the second: in bed 23:00-07:00, asleep 00:00-06:00
    night = nights[1]
    assert night.sleep_min == pytest.approx(6 * 60 / 2)  # 30 s epochs: one a minute here
    assert night.sleep_efficiency == pytest.approx(6 / 8)


def test_too_little_wear_skips_features() -> None:
    f = DailyFeatures(0)
    out: list[DayRecord | NightRecord] = []
    for m in range(2 * 1440):
        ts = START + m * MINUTE_MS
        out += f.update(ts, "steps", 0.0) or ()
        if m % 1440 < 60:  # an hour of heart rate a day
            out += f.update(ts, "heart_rate", 60.0) or ()
    day = next(r for r in out if isinstance(r, DayRecord))
    night = next(r for r in out if isinstance(r, NightRecord))
    assert day.steps is None
    assert day.rest_hr is None
    assert day.worn_h == 1.0
    assert night.rest_hr is None
    assert night.rest_min == 50.0


def test_no_steps_stream_means_no_resting_hr() -> None:
    f = DailyFeatures(0)
    out: list[DayRecord | NightRecord] = []
    for m in range(2 * 1440):
        out += f.update(START + m * MINUTE_MS, "heart_rate", 55.0) or ()
    night = next(r for r in out if isinstance(r, NightRecord))
    assert night.rest_hr is None
    assert night.worn_min == 7 * 60


def test_late_readings_are_ignored_and_counted() -> None:
    f = DailyFeatures(0)
    _feed_person(f, 2, 0)
    before = f.snapshot()
    assert f.update(START + 5 * MINUTE_MS, "steps", 500.0) is None  # two days ago
    assert f.late == 1
    assert f.snapshot()[1 + 8 * 9 :] == before[1 + 8 * 9 :]  # accumulators untouched


def test_advance_closes_periods_without_readings() -> None:
    f = DailyFeatures(0)
    for m in range(20 * 60):
        f.update(START + m * MINUTE_MS, "steps", 0.0)
        f.update(START + m * MINUTE_MS, "heart_rate", 50.0)
    recs = f.advance(START + 3 * DAY_MS) or ()
    assert {type(r).__name__ for r in recs} == {"DayRecord", "NightRecord"}
    assert f.advance(START + 3 * DAY_MS) is None  # nothing open any more


def test_accumulator_snapshot_round_trip_mid_stream() -> None:
    a = DailyFeatures(60)
    _feed_person(a, 1, 60)
    b = DailyFeatures(60)
    b.restore(a.snapshot())
    assert b.state_nbytes() == 8 * SLOTS
    rest_a = _continue(a)
    assert rest_a == _continue(b)
    assert rest_a
    with pytest.raises(ValueError, match="layout"):
        b.restore(b"\x07" + a.snapshot()[1:])


def _continue(f: DailyFeatures) -> list[DayRecord | NightRecord]:
    out: list[DayRecord | NightRecord] = []
    for m in range(1440, 3 * 1440):
        ts = START - HOUR_MS + m * MINUTE_MS
        out += f.update(ts, "steps", 20.0 if m % 5 == 0 and m % 1440 > 9 * 60 else 0.0) or ()
        out += f.update(ts, "heart_rate", 60.0 + (m % 7)) or ()
    return out


def test_monitor_replay_is_deterministic_across_a_restore() -> None:
    """Readings -> features -> River model, restored mid-stream, give identical candidates."""
    stream = _illness_readings()
    cut = len(stream) // 2
    whole = IllnessMonitor(0)
    expected = [c for r in stream for c in (whole.update(*r) or ())]
    first = IllnessMonitor(0)
    for r in stream[:cut]:
        first.update(*r)
    second = IllnessMonitor(0)
    second.restore(first.snapshot())
    assert second.state_nbytes() == first.state_nbytes() <= 4096
    resumed = [c for r in stream[cut:] for c in (second.update(*r) or ())]
    tail = [c for c in expected if c.day >= resumed[0].day] if resumed else []
    assert expected, "the illness must raise a candidate"
    assert resumed == tail


def _illness_readings() -> list[tuple[int, str, float]]:
    rng = random.Random(11)
    out: list[tuple[int, str, float]] = []
    for day in range(30):
        ill = day >= 24
        night_hr = rng.gauss(54, 1.0) + (7.0 if ill else 0.0)
        for m in range(0, 1440, 2):  # a reading of each metric every 2 minutes
            ts = START + day * DAY_MS + m * MINUTE_MS
            hour = m / 60
            active = 8 <= hour < 20 and m % 6 == 0 and not (ill and m % 12)
            out.append((ts, "steps", 80.0 if active else 0.0))
            out.append((ts, "heart_rate", night_hr if hour < 7 else 70.0))
    return out
