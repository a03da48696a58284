"""Apple Health and Fitbit importers (fixtures in tests/fixtures/, laid out like the real
exports: Apple's export.xml with its DTD, a Fitbit account export tree)."""

from __future__ import annotations

import csv
import gzip
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.importers.apple_health import AppleHealthError, apple_time, read_apple_health
from ingest.importers.fitbit import FitbitError, read_fitbit
from ingest.importers.sink import ImportStats, Row, SortedReadings
from messages.metrics import Metric

FIXTURES = Path(__file__).parent.parent / "fixtures"
APPLE_XML = FIXTURES / "apple_health" / "export.xml"
FITBIT = FIXTURES / "fitbit"


def apple_zip(tmp_path: Path) -> Path:
    """export.zip as the Health app writes it: apple_health_export/export.xml (+ CDA)."""
    out = tmp_path / "export.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(APPLE_XML, "apple_health_export/export.xml")
        z.writestr("apple_health_export/export_cda.xml", "<ClinicalDocument/>")
    return out


def by_metric(rows: list[Row]) -> dict[Metric, list[Row]]:
    out: dict[Metric, list[Row]] = {}
    for r in rows:
        out.setdefault(r.metric, []).append(r)
    return out


def test_apple_health_reads_every_supported_type_from_every_source() -> None:
    stats = ImportStats()
    rows = by_metric(list(read_apple_health(APPLE_XML, stats)))
    assert [r.value for r in rows[Metric.HEART_RATE]] == [62.0, 64.5, 66.0]
    assert rows[Metric.HEART_RATE][0].ts_ms == apple_time("2026-01-01 07:00:58 +0100")
    # HealthKit stores SpO2 as a fraction; a value above 1 is not one and is skipped
    assert [r.value for r in rows[Metric.SPO2]] == [96.0, 93.5]
    assert stats.skipped["spo2_not_a_fraction"] == 1
    # iPhone 301 steps over 2.5 min, watch 98 over 1 min: split per minute, totals kept
    assert sum(r.value for r in rows[Metric.STEPS]) == 301 + 98
    assert max(float(r.value) for r in rows[Metric.STEPS]) <= 101
    stages = [r.value for r in rows[Metric.SLEEP_STAGE]]
    assert stages[:11] == ["awake"] * 2 + ["light"] * 4 + ["deep"] * 2 + ["rem"] * 3
    assert stages[11:] == ["light", "light"]  # an old export's "Asleep"
    assert stats.skipped["in_bed"] == 1
    assert stats.skipped["unknown_sleep_value"] == 1
    assert stats.skipped["malformed_record"] == 1  # a heart rate without a value
    assert set(stats.sources) == {
        "Ana\u2019s Apple Watch",  # Apple writes a typographic apostrophe
        "Ana\u2019s iPhone",
        "Polar H10 0A1B2C",
        "Some App",
        "Sleep++",
    }


def test_apple_health_source_filter_and_zip(tmp_path: Path) -> None:
    stats = ImportStats()
    rows = list(read_apple_health(apple_zip(tmp_path), stats, sources={"Polar H10 0A1B2C"}))
    assert [(r.metric, r.value) for r in rows] == [(Metric.HEART_RATE, 66.0)]
    assert stats.skipped["other_source"] > 0


def test_apple_health_rejects_other_files(tmp_path: Path) -> None:
    other = tmp_path / "other.xml"
    other.write_text("<ClinicalDocument/>")
    with pytest.raises(AppleHealthError, match="HealthData"):
        list(read_apple_health(other, ImportStats()))
    broken = tmp_path / "broken.xml"
    broken.write_text("<HealthData><Record type='x'")
    with pytest.raises(AppleHealthError, match="well-formed"):
        list(read_apple_health(broken, ImportStats()))
    empty_zip = tmp_path / "e.zip"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("readme.txt", "no export here")
    with pytest.raises(AppleHealthError, match=r"no export\.xml"):
        list(read_apple_health(empty_zip, ImportStats()))


def test_apple_health_refuses_an_entity_bomb(tmp_path: Path) -> None:
    levels = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "ha"}">' for i in range(10))
    bomb = tmp_path / "export.xml"
    bomb.write_text(
        f"<?xml version='1.0'?><!DOCTYPE HealthData [{levels}]>"
        '<HealthData><Record type="HKQuantityTypeIdentifierHeartRate" sourceName="&l9;" '
        'unit="count/min" startDate="2026-01-01 07:00:00 +0100" '
        'endDate="2026-01-01 07:00:00 +0100" value="61"/></HealthData>'
    )
    with pytest.raises(AppleHealthError, match="well-formed"):
        list(read_apple_health(bomb, ImportStats()))


def test_apple_health_memory_does_not_grow_with_the_export(tmp_path: Path) -> None:
    record = (
        ' <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="W" unit="count/min" '
        'startDate="2026-01-01 07:{m:02d}:{s:02d} +0100" endDate="2026-01-01 07:{m:02d}:{s:02d} '
        '+0100" value="61"><MetadataEntry key="k" value="v"/></Record>\n'
    )
    big = tmp_path / "export.xml"
    n = 50_000
    with big.open("w") as f:
        f.write('<?xml version="1.0"?>\n<HealthData locale="en">\n')
        for i in range(n):
            f.write(record.format(m=(i // 60) % 60, s=i % 60))
        for _ in range(10_000):  # exports end with workouts and activity summaries
            f.write(
                ' <Workout workoutActivityType="HKWorkoutActivityTypeWalking" sourceName="W">'
                '<WorkoutEvent type="HKWorkoutEventTypeSegment"/><MetadataEntry key="k" '
                'value="v"/></Workout>\n <ActivitySummary dateComponents="2026-01-01"/>\n'
            )
        f.write("</HealthData>\n")
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_apple_health(big, ImportStats()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    # the file is ~13 MB and its tree would take far more; parsing keeps a few buffers only
    assert big.stat().st_size > 10_000_000
    assert peak < 4_000_000


def test_sorted_readings_merge_spilled_runs_stably() -> None:
    rows = SortedReadings(chunk_rows=3)
    data = [Row(t, Metric.HEART_RATE, float(i)) for i, t in enumerate([5, 1, 3, 1, 9, 0, 3, 2])]
    data.append(Row(4, Metric.SLEEP_STAGE, "rem", None))
    data.append(Row(4, Metric.STEPS, 12.0, 30.0))
    for r in data:
        rows.add(r)
    out = list(rows.sorted())
    assert [r.ts_ms for r in out] == sorted(r.ts_ms for r in data)
    assert [r.value for r in out if r.ts_ms in (1, 3)] == [1.0, 3.0, 2.0, 6.0]  # ties: added order
    assert Row(4, Metric.SLEEP_STAGE, "rem", None) in out
    assert Row(4, Metric.STEPS, 12.0, 30.0) in out


def test_fitbit_export_in_the_profile_time_zone() -> None:
    stats = ImportStats()
    rows = by_metric(list(read_fitbit(FITBIT, stats)))
    # 07:00:05 in Oslo (UTC+1 in January)
    assert rows[Metric.HEART_RATE][0].ts_ms == apple_time("2026-01-01 06:00:05 +0000")
    assert [r.value for r in rows[Metric.HEART_RATE]] == [62.0, 63.0, 64.0]
    assert stats.skipped["low_confidence"] == 1
    assert stats.skipped["unreadable_hr_file"] == 1
    assert [r.value for r in rows[Metric.STEPS]] == [0.0, 87.0, 112.0]
    assert [r.value for r in rows[Metric.SPO2]] == [96.3, 95.1]
    stages = [r.value for r in rows[Metric.SLEEP_STAGE]]
    # a 30 s short wake from shortData lies over the light minute; classic: asleep, restless
    night = ["awake", "awake", "light", "awake", "deep", "deep", "rem", "rem"]
    assert stages == [*night, "light", "awake"]


def test_fitbit_tz_option_wins_and_zip_input(tmp_path: Path) -> None:
    archive = shutil.make_archive(str(tmp_path / "takeout"), "zip", FITBIT)
    rows = list(read_fitbit(Path(archive), ImportStats(), tz="UTC", min_confidence=0))
    hr = [r for r in rows if r.metric is Metric.HEART_RATE]
    assert hr[0].ts_ms == apple_time("2026-01-01 07:00:05 +0000")
    assert len(hr) == 4  # confidence 0 kept


def test_fitbit_without_time_zone_fails_clearly(tmp_path: Path) -> None:
    shutil.copytree(FITBIT, tmp_path / "x")
    for p in (tmp_path / "x").rglob("Profile.csv"):
        p.unlink()
    with pytest.raises(FitbitError, match="--tz"):
        list(read_fitbit(tmp_path / "x", ImportStats()))
    with pytest.raises(FitbitError, match="time zone"):
        list(read_fitbit(FITBIT, ImportStats(), tz="Mars/Olympus"))


def test_readme_backtest_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vitalstream import apple-health export.zip --out mine.csv.gz && vitalstream replay
    mine.csv.gz --out alerts.ndjson` works end to end."""
    monkeypatch.chdir(tmp_path)
    export = apple_zip(tmp_path)
    assert main(["import", "apple-health", str(export), "--out", "mine.csv.gz", "--quiet"]) == 0
    with gzip.open(tmp_path / "mine.csv.gz", "rt") as f:
        table = list(csv.reader(f))
    assert table[0] == ["device_id", "ts", "metric", "value"]
    assert len(table) == 1 + 22
    assert [row[1] for row in table[1:]] == sorted(row[1] for row in table[1:])
    assert {row[0] for row in table[1:]} == {"me"}
    assert main(["replay", "mine.csv.gz", "--out", "alerts.ndjson", "--quiet"]) == 0
    assert (tmp_path / "alerts.ndjson").exists()


def test_import_fitbit_command_writes_plain_csv(tmp_path: Path) -> None:
    out = tmp_path / "fit.csv"
    code = main(
        ["import", "fitbit", str(FITBIT), "--out", str(out), "--device", "ana-1", "--quiet"]
    )
    assert code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "device_id,ts,metric,value"
    assert all(line.startswith("ana-1,") for line in lines[1:])
    assert len(lines) == 1 + 18


def test_import_refuses_bad_arguments(tmp_path: Path) -> None:
    assert main(["import", "fitbit", str(FITBIT), "--out", str(tmp_path / "x.json")]) == 1
    assert main(["import", "fitbit", str(FITBIT), "--out", "a.csv", "--device", "a b"]) == 1
    not_export = tmp_path / "x.xml"
    not_export.write_text("<nope/>")
    assert main(["import", "apple-health", str(not_export), "--out", str(tmp_path / "a.csv")]) == 2
