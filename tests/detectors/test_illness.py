"""Contract of the multi-day illness detector (issue 14); in the engine: test_illness_engine."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from detectors.base import Detector
from detectors.illness import IllnessCandidate, IllnessDetector
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
    assert "above the personal 28-night baseline" in flagged[0].explanation
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
    assert "steps down 40 % on this person's usual for that kind of day" in text


def _steady(det: IllnessDetector, seed: int = 3) -> None:
    rng = random.Random(seed)
    for night in range(30):
        weekend = float(night % 7 >= 5)
        det.learn_one({"rest_hr": rng.gauss(58, 0.8), "steps": 8000.0, "weekend": weekend})


def test_early_rule_flags_a_supported_first_night_the_cusum_alone_does_not() -> None:
    """A first night 2.5 sd up with steps down a third: the early rule flags it, the CuSum
    (one night of evidence, below ``h``) and an unsupported night (usual steps) do not."""
    plain, early = IllnessDetector(early_z=None), IllnessDetector(early_z=2.5, early_delta_bpm=2.0)
    _steady(plain)
    _steady(early)
    center, sd = early.baseline() or (0.0, 0.0)
    rhr = center + max(2.5 * sd, 2.0) + 0.1
    sick = {"rest_hr": rhr, "steps": 5000.0, "weekend": 0.0}
    usual = {"rest_hr": rhr, "steps": 8000.0, "weekend": 0.0}
    assert not plain.flags(sick)
    assert not early.flags(usual)
    assert early.flags(sick)


def _with_evenings(det: IllnessDetector, seed: int = 5) -> None:
    """30 ordinary nights with the late and evening steps of someone in bed by 22-23 h."""
    rng = random.Random(seed)
    for _night in range(30):
        det.learn_one(
            {
                "rest_hr": rng.gauss(58, 0.8),
                "steps": rng.gauss(8000, 800),
                "weekend": 0.0,
                "late_steps": max(0.0, rng.gauss(150, 80)),
                "evening_steps": max(0.0, rng.gauss(1500, 400)),
            }
        )


def test_a_late_night_out_is_discounted_and_not_learned() -> None:
    """A night 6 bpm up after 5,000 steps past bedtime (a night out): not flagged, no evidence,
    the baselines unmoved; the same night without the late steps is flagged."""
    det = IllnessDetector()
    _with_evenings(det)
    baseline, cusum = det.baseline(), det.score_one({"rest_hr": 58.0})
    base = {"rest_hr": 64.0, "steps": 9000.0, "weekend": 0.0, "evening_steps": 1500.0}
    out = {**base, "late_steps": 5000.0}
    assert det.discount_reason(out) == 1
    assert not det.flags(out)
    assert det.judge(100, out) is None
    assert det.discounted == 1
    assert det.baseline() == baseline  # not learned as a normal night
    assert det.score_one({"rest_hr": 58.0}) == cusum  # no evidence kept from it
    assert det.flags({**base, "late_steps": 150.0})


def test_a_hard_evening_session_is_discounted() -> None:
    det = IllnessDetector()
    _with_evenings(det)
    night = {"rest_hr": 62.0, "steps": 20000.0, "weekend": 0.0, "late_steps": 100.0}
    assert det.discount_reason({**night, "evening_steps": 14000.0}) == 2
    assert det.discount_reason({**night, "evening_steps": 2500.0}) == 0


def test_an_illness_night_is_not_discounted_and_says_what_was() -> None:
    """An illness's first nights (resting HR up, steps down, in bed as usual) are judged as
    before, and the alert after a discounted night says it was not counted; with the discount
    off, a late night is judged like any other."""
    det = IllnessDetector()
    _with_evenings(det)
    out = {"rest_hr": 64.0, "steps": 9000.0, "weekend": 0.0, "late_steps": 5000.0}
    out["evening_steps"] = 1500.0
    assert det.judge(100, out) is None
    sick = {"rest_hr": 64.0, "steps": 4000.0, "weekend": 0.0, "late_steps": 60.0}
    sick["evening_steps"] = 700.0
    assert det.discount_reason(sick) == 0
    cand = det.judge(101, sick)
    assert cand is not None
    assert "The night before was not counted: the wearer was up and moving well past" in (
        cand.explanation
    )
    off = IllnessDetector(discount_z=None)
    _with_evenings(off)
    assert off.discount_reason(out) == 0
    assert off.flags(out)


def test_a_night_owl_late_steps_are_usual() -> None:
    """The usual late steps are the wearer's own: someone up and about past 22 h every night
    is not discounted for it."""
    det = IllnessDetector()
    rng = random.Random(6)
    for _night in range(30):
        x = {"rest_hr": rng.gauss(58, 0.8), "late_steps": rng.gauss(4500, 500)}
        det.learn_one(x)
    assert det.discount_reason({"rest_hr": 64.0, "late_steps": 5000.0}) == 0


def _day_baseline(det: IllnessDetector, seed: int = 8) -> None:
    """30 ordinary days and nights, each day judged at 22:00: night 58 bpm, day 66 bpm."""
    rng = random.Random(seed)
    for day in range(30):
        day_rhr, evening = rng.gauss(66, 1.0), max(0.0, rng.gauss(1500, 400))
        assert det.judge_evening(day, {"day_rest_hr": day_rhr, "evening_steps": evening}) is None
        det.learn_one(
            {
                "rest_hr": rng.gauss(58, 0.8),
                "day_rest_hr": day_rhr,
                "steps": 8000.0,
                "weekend": 0.0,
                "evening_steps": evening,
                "late_steps": max(0.0, rng.gauss(150, 80)),
            }
        )


def test_the_evening_judges_an_illness_shaped_day_and_not_an_ordinary_one() -> None:
    """After a night already up (not yet flagged), a day whose resting HR is up too is flagged
    at 22:00; an ordinary day after the same night, or a raised day after an ordinary night,
    is not; the evening learns nothing."""
    det = IllnessDetector()
    _day_baseline(det)
    center, sd = det.baseline() or (0.0, 0.0)
    up_night = {"rest_hr": center + 1.2 * sd, "day_rest_hr": 67.0, "steps": 8000.0}
    assert det.judge(100, {**up_night, "weekend": 0.0}) is None  # up, but not flagged
    assert det.elevated_run == 1
    ordinary_day = {"day_rest_hr": 66.0, "evening_steps": 1500.0}
    sick_day = {"day_rest_hr": 70.0, "evening_steps": 900.0}
    before = det.snapshot()
    assert not det.evening_flags(100, ordinary_day)
    assert det.evening_flags(100, sick_day)
    assert det.snapshot() == before  # scoring the evening changes nothing
    assert det.judge_evening(100, ordinary_day) is None  # learned into the evening's usual
    assert det.snapshot() != before
    calm = IllnessDetector()
    _day_baseline(calm)
    calm.judge(100, {"rest_hr": center, "day_rest_hr": 66.0, "steps": 8000.0, "weekend": 0.0})
    assert not calm.evening_flags(100, sick_day)  # the night before was ordinary


def test_an_evening_flag_is_one_alert_and_the_night_after_adds_none() -> None:
    det = IllnessDetector()
    _day_baseline(det)
    center, sd = det.baseline() or (0.0, 0.0)
    det.judge(100, {"rest_hr": center + 1.2 * sd, "day_rest_hr": 67.0})
    cand = det.judge_evening(100, {"day_rest_hr": 70.0})
    assert cand is not None
    assert cand.day == 100
    assert cand.explanation.startswith(
        "Resting heart rate today 70 bpm, 4 bpm above this person's usual day (66 bpm); last night"
    )
    assert "last night it was already over the personal 28-night baseline" in cand.explanation
    # the alert has been given: the sick night that follows is part of the quiet period
    assert det.judge(101, {"rest_hr": center + 6.0, "day_rest_hr": 70.0}) is None
    assert det.judge_evening(101, {"day_rest_hr": 71.0}) is None


def test_the_evening_does_not_judge_after_a_hard_session_or_when_off() -> None:
    det, off = IllnessDetector(), IllnessDetector(evening=False)
    for d in (det, off):
        _day_baseline(d)
        center, sd = d.baseline() or (0.0, 0.0)
        d.judge(100, {"rest_hr": center + 1.2 * sd, "day_rest_hr": 67.0})
    assert det.evening_flags(100, {"day_rest_hr": 70.0, "evening_steps": 1500.0})
    assert not det.evening_flags(100, {"day_rest_hr": 70.0, "evening_steps": 14000.0})
    assert not off.evening_flags(100, {"day_rest_hr": 70.0, "evening_steps": 1500.0})


def test_the_day_after_a_night_out_is_not_judged_in_the_evening() -> None:
    """A night out (discounted) leaves the next day's resting HR raised: that evening is neither
    judged nor learned."""
    det = IllnessDetector()
    _day_baseline(det)
    center, sd = det.baseline() or (0.0, 0.0)
    det.judge(100, {"rest_hr": center + 1.2 * sd, "day_rest_hr": 67.0})
    night_out = {"rest_hr": center + 5.0, "day_rest_hr": 67.0, "steps": 9000.0}
    det.judge(101, {**night_out, "weekend": 0.0, "evening_steps": 1500.0, "late_steps": 5000.0})
    assert det.discounted == 1
    before = det.snapshot()
    assert det.judge_evening(101, {"day_rest_hr": 71.0}) is None
    assert det.snapshot() == before


def test_the_evening_needs_the_night_that_ended_this_morning() -> None:
    """A raised night two days ago, then a night without a resting HR (too little at rest):
    a raised day is not enough (on raw-HR real data, one day's resting HR alone is noise)."""
    det = IllnessDetector()
    _day_baseline(det)
    center, sd = det.baseline() or (0.0, 0.0)
    det.judge(100, {"rest_hr": center + 1.2 * sd, "day_rest_hr": 67.0})
    sick_day = {"day_rest_hr": 70.0}
    assert det.evening_flags(100, sick_day)
    det.judge(101, {"day_rest_hr": 67.0})  # no resting HR last night
    assert det.elevated_run == 1
    assert not det.evening_flags(101, sick_day)
