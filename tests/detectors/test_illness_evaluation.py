"""The illness figures of ``vitalstream evaluate``: early detection on the simulator and the
model on a real daily resting-HR series."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.replay.evaluation import DAY, HOUR, Alert, RunResult, illness_figures
from ingest.replay.real_evaluation import daily_resting_hr, read_resting_hr
from ingest.replay.report import illness_section
from messages.kinds import AnomalyKind as K
from messages.labels import Label

T0 = 1_767_225_600_000


def _label(device: str, start_day: float, onset_day: float, end_day: float) -> Label:
    return Label(
        kind=K.ILLNESS,
        device_id=device,
        start_ms=int(T0 + start_day * DAY),
        end_ms=int(T0 + end_day * DAY),
        severity="warning",
        params={"onset_ms": int(T0 + onset_day * DAY)},
    )


def _alert(device: str, opened_day: float) -> Alert:
    ms = int(T0 + opened_day * DAY)
    return Alert(f"a{device}{opened_day}", device, K.ILLNESS, "info", ms, ms, None, 64.0, "")


def _run(
    labels: list[Label], alerts: list[Alert], devices: int = 4, days: float = 60.0
) -> RunResult:
    return RunResult("illness_cohort", 1, devices, days, 0, 0.0, labels, alerts, {}, [])


def test_illness_figures_count_early_alerts_and_false_ones() -> None:
    labels = [_label("a", 20, 23, 35), _label("b", 20, 21, 30), _label("c", 20, 22, 30)]
    alerts = [
        _alert("a", 21.5),  # 36 h before onset: alerted
        _alert("b", 25.0),  # 4 days after onset: too late, but inside the span
        _alert("c", 10.0),  # 12 days before onset, outside the span: false
        _alert("c", 22.5),  # 12 h after onset: alerted
        _alert("d", 40.0),  # a healthy device: false
    ]
    fig = illness_figures([_run(labels, alerts)])
    assert fig is not None
    assert (fig.ill, fig.alerted) == (3, 2)
    assert fig.leads_h == pytest.approx([-36.0, 12.0])
    assert fig.lead_days_histogram() == {-2: 1, 0: 1}
    assert fig.false_alerts == 2
    assert fig.healthy_device_days == pytest.approx(4 * 60 - (15 + 10 + 10))
    lines, ok = illness_section([_run(labels, alerts)])
    assert not ok  # 67 % alerted, median lead -12 h: both targets missed
    assert "**MISS**" in "\n".join(lines)


def test_no_illness_labels_no_figures() -> None:
    assert illness_figures([_run([], [_alert("a", 3.0)])]) is None
    assert illness_section([_run([], [])]) == ([], True)


def test_daily_resting_hr_series_is_judged_by_the_model(tmp_path: Path) -> None:
    rows = ["device_id,date,resting_hr_bpm,error_bpm"]
    for d in range(40):
        bpm = 55.0 + (d % 3) * 0.5 + (7.0 if 30 <= d < 33 else 0.0)
        rows.append(
            f"p1,2020-01-{d + 1:02d},{bpm},1.0" if d < 31 else f"p1,2020-02-{d - 30:02d},{bpm},1.0"
        )
    (tmp_path / "p1.resting_hr.csv").write_text("\n".join(rows) + "\n")
    series = read_resting_hr(tmp_path / "p1.resting_hr.csv")
    assert len(series) == 40
    assert series[1][0] - series[0][0] == 1
    result = daily_resting_hr(tmp_path)
    assert result is not None
    assert result.person_days == 40
    assert result.alert_days["p1"] == [series[30][0]]  # the first night 7 bpm up
    assert result.per_30_person_days == pytest.approx(30 / 40)
    assert daily_resting_hr(tmp_path / "nothing") is None
    assert HOUR * 24 == DAY
