"""Realism features: measured the same way on real and simulated replay CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.cli import main
from ingest.replay.realism import compare, features_of_files
from ingest.replay.realism_report import poisson_interval, within
from ingest.replay.report import command_line

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FIXTURE = Path(__file__).parent.parent / "data" / "fitabase-4388161847-2days.csv.gz"


def _synthetic(path: Path) -> Path:
    """3 h of HR every 5 s (a 10 min stretch stuck at 70, a 30 min gap), steps per minute
    (a 10 min walk at 100 steps/min)."""
    rows = ["device_id,ts,metric,value"]
    for i in range(3 * 720):
        t = T0 + i * 5000
        minute = i // 12
        if 90 <= minute < 120:
            continue  # gap
        hr = 70 if 20 <= minute < 30 else 60 + i % 3
        rows.append(f"d,{t},heart_rate,{hr}")
    for minute in range(120):
        steps = 100 if 60 <= minute < 70 else 0
        rows.append(f"d,{T0 + minute * 60_000},steps,{steps}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_features_of_a_known_stream(tmp_path: Path) -> None:
    f = features_of_files([_synthetic(tmp_path / "s.csv")])
    assert f.devices == 1
    assert set(f.array("hr_interval_s").tolist()) == {5.0}
    assert f.array("hr_gap_min").tolist() == pytest.approx([30 + 5 / 60])
    flats = f.array("flat_run_min")
    assert len(flats) == 1
    assert flats[0] == pytest.approx(10 - 5 / 60)
    assert f.array("walk_bout_min").tolist() == [10.0]
    assert f.array("cadence_spm").tolist() == [100.0] * 10
    assert f.non_integer_hr == 0
    # no day has 6 h of heart rate: no resting-HR estimate
    assert len(f.array("resting_hr")) == 0


def _day_of_steps_and_hr(path: Path) -> Path:
    """Friday 2026-01-02 from 04:00: up at 06:30 (first minute >= 10 steps), a 15 min ride at
    110 bpm with 2 steps/min from 18:00, last steps at 00:30 (Saturday night, 24.5 h); heart
    rate every 10 s at 60 bpm otherwise, steps rows every minute."""
    day0 = T0 + 86_400_000 + 4 * 3_600_000  # Friday 04:00
    rows = ["device_id,ts,metric,value"]
    for minute in range(24 * 60):
        h = 4 + minute / 60
        ride = 18 <= h < 18.25
        steps = 2 if ride else (30 if h in (6.5, 12.0, 24.5) else 0)
        rows.append(f"d,{day0 + minute * 60_000},steps,{steps}")
        for k in range(6):
            rows.append(f"d,{day0 + minute * 60_000 + k * 10_000},heart_rate,{110 if ride else 60}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_routine_and_stepless_features(tmp_path: Path) -> None:
    f = features_of_files([_day_of_steps_and_hr(tmp_path / "day.csv")])
    assert f.array("first_up_h_weekday").tolist() == [6.5]
    assert len(f.array("first_up_h_weekend")) == 0
    assert f.array("last_up_h").tolist() == [24.5]
    assert f.array("stepless_elevated_min").tolist() == [15.0]
    # the day (UTC, from midnight) holds the ride; the next one starts at 00:00 and has < 6 h
    assert f.array("stepless_elevated_per_day").tolist() == [1.0]


def test_poisson_interval_and_command_line() -> None:
    lo, hi = poisson_interval(0, 100.0)
    assert lo == 0.0
    assert hi == pytest.approx(0.0369, abs=1e-4)  # 3.69 events: the "rule of 3.7"
    lo, hi = poisson_interval(5, 100.0)
    assert lo < 0.05 < hi
    shown = command_line(
        ["vitalstream", "evaluate", "--real", "/work/shared/data/fitabase", "--out", "x.md"],
        cwd=Path("/work/main"),
    )
    assert shown == "vitalstream evaluate --real ../shared/data/fitabase --out x.md"


def test_compare_and_within(tmp_path: Path) -> None:
    f = features_of_files([FIXTURE])
    same = {c.feature: c.ks for c in compare(f, f) if c.ks is not None}
    assert same["hr_interval_s"] == 0.0
    assert all(v == 0.0 for v in same.values())
    other = features_of_files([_synthetic(tmp_path / "s.csv")])
    diff = {c.feature: c.ks for c in compare(f, other)}
    assert diff["hr_interval_s"] is not None
    assert diff["hr_interval_s"] > 0.3  # 1-15 s real sampling against a fixed 5 s
    assert len(f.array("resting_hr")) == 2  # two real days with >= 6 h of heart rate
    assert 45 < float(np.median(f.array("resting_hr"))) < 75
    assert within(0.1, 0.06) is True
    assert within(0.1, 0.04) is False
    assert within(0.0, 0.0) is True
    assert within(0.01, 0.0) is False
    assert within(None, 0.1) is None


def test_realism_command_on_a_small_run(tmp_path: Path) -> None:
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    argv = ["realism", "--real", str(FIXTURE), "--devices", "2", "--days", "1.5"]
    assert main([*argv, "--out", str(md), "--json", str(js)]) == 0
    text = md.read_text()
    assert "| `hr_interval_s` |" in text
    assert "sim fitbit" in text
    assert "## Alerts per person-day of today's engine" in text
    import json

    data = json.loads(js.read_text())
    assert [s["label"] for s in data["simulated"]] == ["sim default", "sim fitbit"]
    assert data["real"][0]["person_days"] == 2
    assert "hr_interval_s" in data["ks"]["sim fitbit vs fitabase-4388161847-2days"]
    assert main([*argv, "--calibrations", "nope"]) == 2
    # the hand-written reading survives a re-run
    md.write_text(text.replace("(no notes yet)", "Flat runs match."))
    assert main([*argv, "--calibrations", "fitbit", "--out", str(md)]) == 0
    again = md.read_text()
    assert "Flat runs match." in again
    assert "sim default" not in again
