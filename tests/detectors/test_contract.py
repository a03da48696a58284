"""The contract every detector honours (like river's ``check_estimator``).

Each entry of :data:`DETECTORS` is a factory ``seed -> detector`` and a labelled stream
``seed -> [(features, is_anomaly)]`` that suits it; every check runs against every detector:
the building blocks, the River adapters, and every alert kind of the engine through its module
(``kind:<module>``, see ``tests/detectors/kind_probe.py``).
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable

import pytest

from detectors import (
    Desaturation,
    Detector,
    EWZScore,
    Flatline,
    HourlyProfile,
    NightlyBaseline,
    SustainedThreshold,
)
from detectors.kinds.base import Module
from detectors.kinds.registry import MODULES
from detectors.river_adapter import RiverAnomaly, gaussian_scorer
from messages.kinds import AnomalyKind
from tests.detectors.kind_probe import STREAMS, KindDetector, alerts_on

Stream = list[tuple[dict[str, float], bool]]
MIN = 60_000


def _hr_points(seed: int) -> Stream:
    rng = random.Random(seed)
    return [
        ({"value": rng.uniform(95, 120)}, True)
        if rng.random() < 0.03
        else ({"value": rng.gauss(62, 3)}, False)
        for _ in range(2000)
    ]


def _episodes(
    seed: int,
    normal: Callable[[random.Random], float],
    abnormal: Callable[[random.Random], float],
    every: int = 180,
    length: int = 25,
) -> Stream:
    """1/min stream with an anomalous episode of ``length`` minutes every ``every`` minutes."""
    rng = random.Random(seed)
    out: Stream = []
    for i in range(3000):
        bad = i > every and i % every < length
        v = abnormal(rng) if bad else normal(rng)
        out.append(({"value": v, "ts": float(i * MIN)}, bad))
    return out


def _tachy(seed: int) -> Stream:
    return _episodes(seed, lambda r: round(r.gauss(70, 4)), lambda r: round(r.gauss(135, 5)))


def _flat(seed: int) -> Stream:
    return _episodes(seed, lambda r: round(r.gauss(64, 3)), lambda r: 64.0, length=40)


def _desat(seed: int) -> Stream:
    return _episodes(
        seed,
        lambda r: round(r.gauss(96.5, 0.7)),
        lambda r: round(r.gauss(91, 1)),
        every=60,
        length=3,
    )


def _nights(seed: int) -> Stream:
    rng = random.Random(seed)
    out: Stream = []
    for night in range(200):
        bad = night > 14 and night % 10 in (0, 1)
        out.append(({"value": rng.gauss(55, 1.2) + (7 if bad else 0)}, bad))
    return out


def _hours(seed: int) -> Stream:
    rng = random.Random(seed)
    out: Stream = []
    for day in range(40):
        for hour in range(24):
            active = 8 <= hour < 20
            bad = active and day > 10 and day % 7 == 3 and 10 <= hour < 16
            usual = 900 if active else 5
            v = rng.uniform(0, 40) if bad else max(0.0, rng.gauss(usual, usual * 0.3))
            out.append(({"hour": float(hour), "value": v}, bad))
    return out


DETECTORS: dict[str, tuple[Callable[[int | None], Detector], Callable[[int], Stream]]] = {
    "ewz": (lambda seed: EWZScore(prior_mean=65, prior_sd=8, seed=seed), _hr_points),
    "sustained_threshold": (lambda seed: SustainedThreshold(120, seed=seed), _tachy),
    "flatline": (lambda seed: Flatline(seed=seed), _flat),
    "desaturation": (lambda seed: Desaturation(seed=seed), _desat),
    "nightly_baseline": (
        lambda seed: NightlyBaseline(delta=4.0, prior_mean=58, prior_sd=4, seed=seed),
        _nights,
    ),
    "hourly_profile": (lambda seed: HourlyProfile(seed=seed), _hours),
    "river_hst": (lambda seed: RiverAnomaly({"value": (30.0, 200.0)}, seed=seed), _hr_points),
    "river_gaussian": (
        lambda seed: RiverAnomaly(
            {"value": (30.0, 200.0)}, factory=gaussian_scorer, flag_score=None, seed=seed
        ),
        _hr_points,
    ),
}

# every alert kind of the engine, through its module (tests/detectors/kind_probe.py)
for _module in MODULES:
    if _module.kind is not None:
        DETECTORS[f"kind:{_module.name}"] = (
            lambda seed, m=_module: KindDetector(m, seed),  # type: ignore[misc]
            STREAMS[_module.name],
        )

params = pytest.mark.parametrize("name", sorted(DETECTORS))


def test_every_registered_kind_is_in_the_contract_suite() -> None:
    kinds = {m.kind for m in MODULES if m.kind is not None}
    assert kinds == set(AnomalyKind)  # every alert kind has its module
    assert {m.name for m in MODULES if m.kind is not None} == set(STREAMS)


def _prequential(det: Detector, stream: Stream) -> list[float]:
    out = []
    for x, _ in stream:
        out.append(det.score_one(x))
        det.learn_one(x)
    return out


def auc(scores: list[float], labels: list[bool]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg = (i + j + 1) / 2  # 1-based average rank of the tie group
        rank_sum += avg * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


@params
def test_is_a_detector(name: str) -> None:
    make, _ = DETECTORS[name]
    assert isinstance(make(0), Detector)


@params
def test_finite_score_before_learning(name: str) -> None:
    make, stream = DETECTORS[name]
    det = make(0)
    for x, _ in stream(0)[:5]:
        assert math.isfinite(det.score_one(x))


@params
def test_scoring_does_not_learn(name: str) -> None:
    make, stream = DETECTORS[name]
    det = make(0)
    data = stream(0)
    for x, _ in data[:300]:
        det.learn_one(x)
    before = det.snapshot()
    for x, _ in data[300:400]:
        det.score_one(x)
    assert det.snapshot() == before


@params
def test_same_seed_same_scores(name: str) -> None:
    make, stream = DETECTORS[name]
    data = stream(1)
    assert _prequential(make(7), data) == _prequential(make(7), data)


@params
def test_snapshot_round_trip(name: str) -> None:
    make, stream = DETECTORS[name]
    data = stream(2)
    half = len(data) // 2
    a = make(3)
    _prequential(a, data[:half])
    b = make(3)
    b.restore(a.snapshot())
    c = pickle.loads(pickle.dumps(a))  # noqa: S301 - our own object
    rest = data[half:]
    expected = _prequential(a, rest)
    assert _prequential(b, rest) == expected
    assert _prequential(c, rest) == expected


@params
def test_memory_bounded(name: str) -> None:
    make, stream = DETECTORS[name]
    data = stream(4)
    det = make(0)
    _prequential(det, data[: len(data) // 3])
    early = det.state_nbytes()
    _prequential(det, data[len(data) // 3 :])
    assert det.state_nbytes() <= early * 1.1 + 64


@params
def test_missing_and_new_features(name: str) -> None:
    make, stream = DETECTORS[name]
    det = make(0)
    data = stream(5)
    k = min(200, len(data) // 2)
    _prequential(det, data[:k])
    assert math.isfinite(det.score_one({}))
    det.learn_one({})
    det.learn_one({"value": float("nan")})
    x = data[k][0]
    assert det.score_one({**x, "unrelated": 123.0}) == det.score_one(x)


@params
def test_auc_on_labelled_stream(name: str) -> None:
    make, stream = DETECTORS[name]
    data = stream(6)
    scores = _prequential(make(0), data)
    assert all(math.isfinite(s) for s in scores)
    assert auc(scores, [y for _, y in data]) > 0.5


@pytest.mark.parametrize("module", [m for m in MODULES if m.kind is not None], ids=lambda m: m.name)
def test_every_alert_has_a_real_start(module: type[Module]) -> None:
    """Every alert event (of any kind) on the kind's streams begins at a real event time: on
    or after the stream's first minute and not after the event itself (a start of -1 would
    say "since 1970" and give the alert an id hashed from it)."""
    for seed in (0, 1, 2):
        stream = STREAMS[module.name](seed)
        first = min(x["ts"] for x, _ in stream)
        events = alerts_on(module, stream)
        assert events, "the stream raises alerts"
        for a in events:
            assert first <= a.start_ms <= a.ts_ms, (a.kind, a.state, a.start_ms, seed)
            assert a.end_ms is None or a.start_ms <= a.end_ms


@pytest.mark.parametrize("module", [m for m in MODULES if m.kind is not None], ids=lambda m: m.name)
def test_every_alert_has_a_headline(module: type[Module]) -> None:
    """A kind's explanation begins with its own words or, where it leaves the sentence to the
    generic one (:meth:`Module.describe` not overridden), with its title, which it has."""
    assert module.title or module.describe is not Module.describe
    events = [a for a in alerts_on(module, STREAMS[module.name](0)) if a.kind == module.kind]
    assert events, "the stream raises alerts of the kind"
    for a in events:
        assert a.explanation[:1].isupper(), (a.kind, a.explanation)
        if module.describe is Module.describe and module.explain is Module.explain:
            assert a.explanation.startswith(module.title), (a.kind, a.explanation)


def test_auc_helper() -> None:
    assert auc([0.1, 0.2, 0.9, 0.8], [False, False, True, True]) == 1.0
    assert auc([1.0, 1.0], [False, True]) == 0.5


def test_flagged_readings_do_not_teach_the_baseline() -> None:
    det = EWZScore(prior_mean=60, prior_sd=5, warmup=10)
    rng = random.Random(0)
    for _ in range(200):
        det.learn_one({"value": rng.gauss(60, 2)})
    mean = det.mean
    for _ in range(500):
        det.learn_one({"value": 140.0})
    assert det.mean == mean


def test_ew_statistics_match_river() -> None:
    """The per-device baselines are River's EWMean/EWVar, kept as plain floats."""
    from array import array

    from river import stats

    from detectors import ewz

    rng = random.Random(1)
    xs = [rng.gauss(60, 5) for _ in range(500)]
    mean, var = stats.EWMean(fading_factor=0.05), stats.EWVar(fading_factor=0.05)
    s = array("d", [xs[0], 0.0, 0.0])
    mean.update(xs[0])
    var.update(xs[0])
    for x in xs[1:]:
        mean.update(x)
        var.update(x)
        ewz.update(s, 0, x, 0.05)
    assert s[ewz.MEAN] == pytest.approx(mean.get(), rel=1e-12)
    assert s[ewz.VAR] == pytest.approx(var.get(), rel=1e-9)
