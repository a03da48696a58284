"""Detectors and the engine on a small labelled simulator stream (AUC, recall, no false alarms).

One seeded day of a four-device fleet with a tachycardia, a desaturation cluster and a flatline
injected (the simulator's public API); everything else is normal life with its artefacts.
"""

from __future__ import annotations

import pytest

from detectors import Desaturation, Detector, Engine, EWZScore, Flatline, SustainedThreshold
from ingest.replay.evaluation import Alert, fold_events, match, readings_of
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.kinds import Category
from messages.labels import Label
from messages.metrics import Metric
from simulators import EventSpec, FleetSimulator, Scenario
from tests.detectors.test_contract import auc

T0 = 1_767_225_600_000
HOUR = 3_600_000


@pytest.fixture(scope="module")
def sim_run() -> tuple[list[Reading], list[Label]]:
    events = [
        EventSpec(K.TACHYCARDIA_AT_REST, devices=[0], at_ms=30 * HOUR, duration_ms=HOUR // 2),
        EventSpec(K.DESATURATION, devices=[1], at_ms=27 * HOUR, duration_ms=HOUR // 20, count=3),
        EventSpec(K.FLATLINE, devices=[2], at_ms=34 * HOUR, duration_ms=HOUR // 2),
    ]
    scenario = Scenario(devices=4, duration_ms=40 * HOUR, events=events, models={"watch": 1.0})
    sim = FleetSimulator(scenario, seed=5, start_ms=T0)
    readings = [r for chunk in sim for batch in readings_of(chunk) for r in batch]
    return readings, sim.labels


def _stream(
    readings: list[Reading], labels: list[Label], kind: K, metric: Metric
) -> tuple[str, list[tuple[dict[str, float], bool]]]:
    lb = next(x for x in labels if x.kind is kind)
    out = []
    for r in readings:
        if r.device_id == lb.device_id and r.metric is metric:
            out.append(
                ({"value": r.value, "ts": float(r.ts_ms)}, lb.start_ms <= r.ts_ms < lb.end_ms)
            )
    return lb.device_id, out


@pytest.mark.parametrize(
    ("kind", "metric", "make"),
    [
        (
            K.TACHYCARDIA_AT_REST,
            Metric.HEART_RATE,
            lambda: EWZScore(prior_mean=65, prior_sd=8, flag_z=5),
        ),
        (K.TACHYCARDIA_AT_REST, Metric.HEART_RATE, lambda: SustainedThreshold(120)),
        (K.DESATURATION, Metric.SPO2, lambda: Desaturation()),
        (K.FLATLINE, Metric.HEART_RATE, lambda: Flatline()),
    ],
)
def test_detector_auc_on_simulator_stream(
    sim_run: tuple[list[Reading], list[Label]], kind: K, metric: Metric, make: object
) -> None:
    readings, labels = sim_run
    _, stream = _stream(readings, labels, kind, metric)
    det: Detector = make()  # type: ignore[operator]
    scores = []
    for x, _ in stream:
        scores.append(det.score_one(x))
        det.learn_one(x)
    assert auc(scores, [y for _, y in stream]) > 0.5


def test_engine_on_simulator_stream(sim_run: tuple[list[Reading], list[Label]]) -> None:
    readings, labels = sim_run
    engine = Engine()
    alerts: dict[str, Alert] = {}
    for lo in range(0, len(readings), 5000):
        batch = readings[lo : lo + 5000]
        fold_events(engine.process(batch).alerts, alerts)
        fold_events(engine.tick(max(r.ts_ms for r in batch)), alerts)
    stats, unmatched = match(labels, list(alerts.values()), T0 + 40 * HOUR)
    for kind in (K.TACHYCARDIA_AT_REST, K.DESATURATION, K.FLATLINE):
        assert stats[kind].recall == 1.0, kind
    assert [a for a in unmatched if a.kind.category is Category.CLINICAL] == []
