"""Matching alerts to labels for ``vitalstream evaluate``."""

from __future__ import annotations

from detectors import EngineConfig
from ingest.replay.evaluation import MIN, Alert, RunResult, lookalike_figures, match
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


def test_lookalikes_are_a_false_alarm_test_and_illness_signs_inside_an_illness_are_not_false() -> (
    None
):
    """In the illness cohort, ``elevated_resting_hr`` labels of a late night out or a hard
    training day are healthy nights the engine should not flag; an ``elevated_resting_hr``
    alert inside an ``illness`` label is seen in the illness, not a false alarm."""
    day = 24 * 60 * MIN
    late = {"profile": "late_night"}
    labels = [
        Label(K.ELEVATED_RESTING_HR, "d1", T, T + 14 * 60 * MIN, params=late),
        Label(K.ELEVATED_RESTING_HR, "d2", T, T + 14 * 60 * MIN, params=late),
        Label(
            K.ELEVATED_RESTING_HR,
            "d1",
            T + 3 * day,
            T + 3 * day + 14 * 60 * MIN,
            params={"profile": "hard_training"},
        ),
        Label(K.ILLNESS, "d1", T + 10 * day, T + 25 * day, params={"onset_ms": T + 13 * day}),
    ]
    alerts = [
        # flags the late night of d1: a false alarm
        _alert("late", K.ELEVATED_RESTING_HR, T + 6 * 60 * MIN, T + 8 * 60 * MIN, T + day),
        # inside d1's illness: seen in the illness
        _alert("ill-erhr", K.ELEVATED_RESTING_HR, T + 12 * day, T + 13 * day, T + 15 * day),
        # the same kind on d2, where nobody is ill: false
        _alert("d2-erhr", K.ELEVATED_RESTING_HR, T + 12 * day, T + 13 * day, None, dev="d2"),
        _alert("ill", K.ILLNESS, T + 12 * day, T + 12 * day, T + 16 * day),
        # an illness alert on d2's late night: also flags a look-alike
        _alert("d2-ill", K.ILLNESS, T + 2 * 60 * MIN, T + 9 * 60 * MIN, T + day, dev="d2"),
    ]
    stats, unmatched = match(labels, alerts, T + 30 * day)
    e = stats[K.ELEVATED_RESTING_HR]
    assert (e.labels, e.detected, e.recall) == (0, 0, None)  # look-alikes are not events
    assert (e.lookalikes, e.lookalikes_flagged) == (3, 1)
    assert (e.alerts, e.true_alerts, e.in_illness) == (3, 0, 1)
    assert e.precision == 1 / 3
    ill = stats[K.ILLNESS]
    assert (ill.labels, ill.detected, ill.true_alerts, ill.in_illness) == (1, 1, 1, 0)
    assert {a.alert_id for a in unmatched} == {"late", "d2-erhr", "d2-ill"}

    result = RunResult("illness_cohort", 1, 2, 30.0, 100, 1.0, labels, alerts, stats, unmatched)
    assert lookalike_figures([result]) == {
        "late_night": {"labels": 2, "elevated_resting_hr": 1, "illness": 1},
        "hard_training": {"labels": 1, "elevated_resting_hr": 0, "illness": 0},
    }
    text = "\n".join(render([result], "vitalstream evaluate", EngineConfig()).lines)
    assert "| late_night | 2 | 1 (50.0 %) | 1 (50.0 %) |" in text
    assert "Also seen in an illness" in text
    assert "`elevated_resting_hr` 1" in text


def test_a_step_elevated_resting_hr_label_is_still_an_event_to_detect() -> None:
    """Only the look-alike profiles are a false-alarm test: the idealised rise (profile
    ``step`` or none, as in ``illness_week``) is detected as before."""
    day = 24 * 60 * MIN
    labels = [Label(K.ELEVATED_RESTING_HR, "d1", T, T + 3 * day, params={"profile": "step"})]
    alerts = [_alert("a", K.ELEVATED_RESTING_HR, T + day, T + 2 * day, None)]
    stats, unmatched = match(labels, alerts, T + 5 * day)
    e = stats[K.ELEVATED_RESTING_HR]
    assert (e.labels, e.detected, e.true_alerts, e.lookalikes, unmatched) == (1, 1, 1, 0, [])
    result = RunResult("illness_week", 1, 1, 5.0, 10, 1.0, labels, alerts, stats, unmatched)
    assert lookalike_figures([result]) == {}
