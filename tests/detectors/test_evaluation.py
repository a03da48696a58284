"""Matching alerts to labels for ``vitalstream evaluate``."""

from __future__ import annotations

from detectors import EngineConfig
from ingest.replay.evaluation import MIN, Alert, RunResult, match
from ingest.replay.report import render
from messages.kinds import AnomalyKind as K
from messages.labels import Label

T = 1_767_225_600_000


def _alert(aid: str, kind: K, start: int, opened: int, end: int | None, dev: str = "d1") -> Alert:
    return Alert(aid, dev, kind, "warning", start, opened, end, None, "x")


def test_match_recall_precision_ttd() -> None:
    labels = [
        Label(K.BRADYCARDIA, "d1", T, T + 20 * MIN),
        Label(K.BRADYCARDIA, "d2", T, T + 20 * MIN),
        Label(K.LOW_SPO2, "d1", T + 60 * MIN, T + 80 * MIN),
    ]
    alerts = [
        _alert("a", K.BRADYCARDIA, T + MIN, T + 11 * MIN, T + 21 * MIN),
        _alert("b", K.BRADYCARDIA, T + 5 * 60 * MIN, T + 5 * 60 * MIN, None),  # nothing there
        _alert("c", K.LOW_SPO2, T + 61 * MIN, T + 66 * MIN, None, dev="d2"),  # wrong device
    ]
    stats, unmatched = match(labels, alerts, T + 10 * 60 * MIN)
    b = stats[K.BRADYCARDIA]
    assert (b.labels, b.detected, b.alerts, b.true_alerts) == (2, 1, 2, 1)
    assert b.recall == 0.5
    assert b.precision == 0.5
    assert b.median_ttd_min == 11.0
    assert stats[K.LOW_SPO2].recall == 0.0
    assert {a.alert_id for a in unmatched} == {"b", "c"}
    result = RunResult("acute_events", 1, 2, 1.0, 100, 1.0, labels, alerts, stats, unmatched)
    verdict = render([result], "vitalstream evaluate", EngineConfig())
    assert not verdict.ok
    assert any("**MISS**" in line for line in verdict.lines)
