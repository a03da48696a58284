"""``vitalstream evaluate --real``: alerts per person-day on real recordings, through the same
replay path as ``vitalstream replay``.

The fixture is two days of one real Fitabase wearer (tests/data/README.md has the attribution).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.replay.real_evaluation import evaluate_file, evaluate_path, kind_rates, overall
from ingest.replay.real_report import NOTES_BEGIN, NOTES_END, keep_notes
from ingest.replay.replay import ReplayError, in_time_zone, parse_ts, replay_file
from messages.kinds import AnomalyKind

FIXTURE = Path(__file__).parent.parent / "data" / "fitabase-4388161847-2days.csv.gz"
DEVICE = "fitabase-4388161847"


def _hr_hours_by_day(path: Path) -> dict[str, float]:
    """Hours with heart rate per UTC day, counted straight from the CSV (independently of the
    module under test): Fitabase's zero steps rows are no evidence of wear."""
    minutes: dict[str, set[str]] = defaultdict(set)
    with gzip.open(path, "rt") as f:
        for row in csv.DictReader(f):
            if row["metric"] == "heart_rate" or (
                row["metric"] == "steps" and float(row["value"]) > 0
            ):
                minutes[row["ts"][:10]].add(row["ts"][:16])
    return {day: len(m) / 60.0 for day, m in minutes.items()}


def test_person_days_follow_hours_of_data() -> None:
    people, stats = evaluate_file(FIXTURE)
    assert stats.rows == 18_480
    assert [p.device_id for p in people] == [DEVICE]
    (p,) = people
    expected = _hr_hours_by_day(FIXTURE)
    assert sorted(expected) == ["2016-04-13", "2016-04-14"]
    got = {
        datetime.fromtimestamp(d * 86_400, tz=UTC).strftime("%Y-%m-%d"): h
        for d, h in p.hours_by_day.items()
    }
    assert got == pytest.approx(expected)
    assert all(h >= 12 for h in expected.values())
    assert len(p.person_days) == 2
    # with a higher bar, the shorter day drops out and its alerts leave the rates
    bar = (min(expected.values()) + max(expected.values())) / 2
    (p2,), _ = evaluate_file(FIXTURE, min_hours=bar)
    assert len(p2.person_days) == 1
    kept_day = p2.person_days[0]
    assert len(p2.alerts) == len(p.alerts)
    assert [a.on_person_day for a in p2.alerts] == [
        a.start_ms // 86_400_000 == kept_day for a in p2.alerts
    ]


def test_same_alerts_as_replay(tmp_path: Path) -> None:
    """The evaluation runs the engine exactly as ``vitalstream replay`` does."""
    out = tmp_path / "alerts.ndjson"
    replay_file(FIXTURE, out)
    replayed = [json.loads(line) for line in out.read_text().splitlines()]
    (p,), _ = evaluate_file(FIXTURE)
    assert [(a.line.kind, a.line.start, a.line.severity) for a in p.alerts] == [
        (a["kind"], a["start"], a["severity"]) for a in replayed
    ]


def test_rates_on_the_real_fixture() -> None:
    """What the engine raises on these two real days: the morning of 2016-04-13 (about
    100-130 bpm, no steps) gives two abrupt-change alerts, a 3-min jump from 58 bpm on
    waking (info) and a swing from 75 bpm (warning); decoupling ("high at rest") no longer
    alerts, being disabled by default."""
    s = evaluate_path(FIXTURE)
    assert s.name == "fitabase-4388161847-2days"
    assert s.person_days == 2
    rates = kind_rates(s)
    abrupt = rates[AnomalyKind.ABRUPT_HR_CHANGE]
    assert abrupt.alerts == 2
    assert abrupt.by_severity["warning"] == 1
    assert abrupt.days_with == 1
    assert rates[AnomalyKind.HR_ACTIVITY_DECOUPLING].alerts == 0
    o = overall(s.people)
    assert o.clinical == 2
    assert o.per_day(o.clinical) == pytest.approx(1.0)
    assert o.clinical_warn_crit == 1
    assert o.share(o.days_any_clinical) == pytest.approx(0.5)
    # data-quality alerts are counted apart from clinical ones
    assert o.data_quality == sum(
        r.alerts for k, r in rates.items() if k.category.value == "data_quality"
    )
    # context: the abrupt-change warning happened at rest with a high heart rate
    (warn,) = [
        a
        for a in s.people[0].alerts
        if a.kind is AnomalyKind.ABRUPT_HR_CHANGE and a.line.severity == "warning"
    ]
    assert warn.context.steps_per_min is not None
    assert warn.context.steps_per_min < 5
    assert warn.context.hr_median is not None
    assert warn.context.hr_median > 90
    assert parse_ts(warn.line.start) == warn.start_ms


def test_hr_less_device_counts_steps_rows(tmp_path: Path) -> None:
    """A device without heart rate (PMData): every steps row is a minute of data, zeros too;
    sleep epochs count; a device with heart rate ignores its zero-steps rows."""
    rows = ["device_id,ts,metric,value"]
    for i in range(13 * 60):  # 13 h of zero-step minutes, no heart rate
        rows.append(f"pm,{1_767_225_600_000 + i * 60_000},steps,0")
    for i in range(13 * 60):  # 13 h of zero-step minutes on a device with a little HR
        rows.append(f"fb,{1_767_225_600_000 + i * 60_000},steps,0")
    rows.append("fb,1767225600000,heart_rate,60")
    for i in range(2 * 60 * 2):  # 2 h of sleep epochs the next day
        rows.append(f"pm,{1_767_312_000_000 + i * 30_000},sleep_stage,light")
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(rows) + "\n")
    people = {p.device_id: p for p in evaluate_file(path)[0]}
    assert people["pm"].steps_rows_count
    assert people["pm"].hours_by_day == pytest.approx({20454: 13.0, 20455: 2.0})
    assert len(people["pm"].person_days) == 1
    assert not people["fb"].steps_rows_count
    assert people["fb"].hours_by_day == pytest.approx({20454: 1 / 60})
    assert people["fb"].person_days == []
    judged = people["pm"].judged()
    assert judged[AnomalyKind.TACHYCARDIA_AT_REST] == "no"
    assert judged[AnomalyKind.SLEEP_DISRUPTION] == "yes"
    assert people["fb"].judged()[AnomalyKind.TACHYCARDIA_AT_REST] == "no context"
    # steps without heart rate: no evidence of wear, so no inactivity judged
    assert judged[AnomalyKind.UNUSUAL_INACTIVITY] == "no"
    # heart rate and steps without staging: judged, sleep told from heart rate
    assert people["fb"].judged()[AnomalyKind.UNUSUAL_INACTIVITY] == "inferred"


def test_days_are_the_wearers_local_days_when_a_zone_is_given(tmp_path: Path) -> None:
    """A night in Oslo (UTC+1 in November): 2019-11-01 23:00Z to 11-02 11:30Z is 00:00-12:30
    local, one local day of 12.5 h but two UTC days of 1 h and 11.5 h. An impossible value at
    23:20Z starts an alert on the local day 11-02, a person-day in Oslo only."""
    start = parse_ts("2019-11-01T23:00:00Z")
    rows = ["device_id,ts,metric,value"]
    rows += [f"pm,{start + i * 60_000},heart_rate,60" for i in range(int(12.5 * 60))]
    rows.append(f"pm,{parse_ts('2019-11-01T23:20:30Z')},heart_rate,300")
    path = tmp_path / "night.csv"
    path.write_text("\n".join(rows) + "\n")
    nov2 = parse_ts("2019-11-02T00:00:00Z") // 86_400_000

    (utc,), _ = evaluate_file(path)
    assert utc.hours_by_day == pytest.approx({nov2 - 1: 1.0, nov2: 11.5})
    assert utc.person_days == []
    (dq,) = [a for a in utc.alerts if a.kind is AnomalyKind.IMPOSSIBLE_VALUE]
    assert (dq.start_day, dq.on_person_day) == (nov2 - 1, False)

    oslo_cfg = in_time_zone(None, "Europe/Oslo")
    (oslo,), _ = evaluate_file(path, config=oslo_cfg)
    assert oslo.hours_by_day == pytest.approx({nov2: 12.5})
    assert oslo.person_days == [nov2]
    (dq,) = [a for a in oslo.alerts if a.kind is AnomalyKind.IMPOSSIBLE_VALUE]
    assert (dq.start_day, dq.on_person_day) == (nov2, True)
    assert (
        kind_rates(evaluate_path(path, config=oslo_cfg))[AnomalyKind.IMPOSSIBLE_VALUE].alerts == 1
    )
    assert overall([oslo]).data_quality >= 1
    assert evaluate_path(path, config=oslo_cfg).timezone == "Europe/Oslo"
    # a device's own zone wins over the set's
    own = oslo_cfg.model_copy(
        update={"local_time": oslo_cfg.local_time.model_copy(update={"devices": {"pm": "UTC"}})}
    )
    assert evaluate_file(path, config=own)[0][0].person_days == []


def test_folder_skips_other_csvs(tmp_path: Path) -> None:
    (tmp_path / "p.csv.gz").write_bytes(FIXTURE.read_bytes())
    (tmp_path / "p.wellness.csv").write_text("device_id,date,fatigue\nx,2020-01-01,3\n")
    s = evaluate_path(tmp_path)
    assert s.files == ["p.csv.gz"]
    assert s.skipped_files == ["p.wellness.csv"]
    assert s.person_days == 2
    with pytest.raises(ReplayError, match="header"):
        evaluate_path(tmp_path / "p.wellness.csv")
    with pytest.raises(ReplayError, match="no such"):
        evaluate_path(tmp_path / "missing")


def test_command_writes_markdown_and_json_and_keeps_notes(tmp_path: Path) -> None:
    md, js = tmp_path / "real.md", tmp_path / "real.json"
    argv = ["evaluate", "--real", str(FIXTURE), "--out", str(md), "--json", str(js)]
    assert main(argv) == 0
    data = json.loads(js.read_text())
    (s,) = data["sets"]
    assert s["overall"]["person_days"] == 2
    assert s["overall"]["clinical_alerts"] == 2
    assert s["per_kind"]["abrupt_hr_change"]["per_person_day"] == pytest.approx(1.0)
    assert s["people"][0]["judged"]["tachycardia_at_rest"] == "no context"
    # heart rate and steps, no sleep staging: inactivity tells sleep from heart rate
    assert s["people"][0]["judged"]["unusual_inactivity"] == "inferred"
    text = md.read_text()
    assert "| heart_rate, steps | 1 | " in text
    assert "| `unusual_inactivity` |" in text.split("judged, sleep told from heart rate")[1]
    assert "| `abrupt_hr_change` | clinical | 1.000 (2) |" in text
    assert "vitalstream evaluate --real" in text
    # the echoed command names the data relative to where it ran, not this machine's layout
    assert FIXTURE.is_absolute()
    assert str(FIXTURE) not in text
    assert f"--real {os.path.relpath(FIXTURE)}" in text
    # a person's reading of the alerts survives a re-run
    md.write_text(text.replace("(no notes yet)", "The morning rise is a false alarm."))
    assert main(argv) == 0
    again = md.read_text()
    assert "The morning rise is a false alarm." in again
    assert keep_notes(again) == "The morning rise is a false alarm."
    assert again.count(NOTES_BEGIN) == again.count(NOTES_END) == 1
    assert main(["evaluate", "--real", str(tmp_path / "nope")]) == 2


def test_timezone_option_gives_the_wearers_local_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--timezone``: replay CSVs carry UTC, the option says where the wearers live (their
    circadian rest baselines then differ); a misspelt zone or set fails with one line."""

    def scores(*zone: str) -> str:
        out, sc = tmp_path / "a.ndjson", tmp_path / "s.csv"
        argv = ["replay", str(FIXTURE), "--out", str(out), "--scores", str(sc), "--quiet"]
        assert main([*argv, *zone]) == 0
        return sc.read_text()

    utc = scores()
    assert scores("--timezone", "+00:00") == utc
    assert scores("--timezone", "America/Los_Angeles") != utc
    name = "fitabase-4388161847-2days"
    base = ["evaluate", "--real", str(FIXTURE), "--out", str(tmp_path / "r.md")]
    assert main([*base, "--timezone", f"{name}=-07:00"]) == 0
    capsys.readouterr()
    for bad in ("Europe/Olso", "elsewhere=+01:00"):
        assert main([*base, "--timezone", bad]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("vitalstream: --timezone:")
        assert "\n" not in err
    replay = ["replay", str(FIXTURE), "--out", str(tmp_path / "b.ndjson"), "--quiet"]
    assert main([*replay, "--timezone", "+25:00"]) == 1


@pytest.mark.parametrize(
    ("clinical", "warn_crit", "verdict"),
    [(5, 2, "PASS"), (6, 2, "FAIL"), (5, 3, "FAIL"), (0, 0, "PASS")],
)
def test_the_alarm_budget_verdict_holds_both_limits(
    clinical: int, warn_crit: int, verdict: str
) -> None:
    """102 person-days: <= 2 warning+critical (0.02) and <= 5 clinical (0.05) pass."""
    from ingest.replay.real_evaluation import Overall
    from ingest.replay.real_report import _budget

    o = Overall(102, clinical, warn_crit, 0, 0, 0, 0, 0, 0)
    assert _budget(o).startswith(verdict)
