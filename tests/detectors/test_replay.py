"""The replay command: CSV in, alerts NDJSON (+ scores CSV) out, through the same engine."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import pytest

from ingest.commands import replay as replay_cmd
from ingest.replay.replay import ReplayError, ReplayStats, parse_ts, read_rows, replay_file
from messages.metrics import Metric
from tests.detectors.streams import MIN, T0


def _csv(path: Path, rows: list[tuple[str, str, str, str]], *, gz: bool = False) -> Path:
    text = "device_id,ts,metric,value\n" + "".join(",".join(r) + "\n" for r in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _tachy_rows(device: str = "d1") -> list[tuple[str, str, str, str]]:
    rows = []
    for i in range(120):
        t = T0 + i * MIN
        hr = str(138 + i % 4) if 40 <= i < 70 else str(64 + i % 3)
        rows.append((device, str(t), "steps", "0"))
        # mix timestamp styles: epoch ms and ISO 8601 without offset (= UTC)
        iso = f"2026-01-01T{i // 60:02d}:{i % 60:02d}:01"
        rows.append((device, iso if i % 2 else str(t + 1000), "heart_rate", hr))
    return rows


def test_parse_ts_forms() -> None:
    assert parse_ts("2026-01-01T00:00:00Z") == T0
    assert parse_ts("2026-01-01T00:00:00") == T0
    assert parse_ts(str(T0)) == T0


@pytest.mark.parametrize("gz", [False, True])
def test_replay_file_writes_final_alert_states(tmp_path: Path, gz: bool) -> None:
    src = _csv(tmp_path / ("in.csv.gz" if gz else "in.csv"), _tachy_rows(), gz=gz)
    out, scores = tmp_path / "alerts.ndjson", tmp_path / "scores.csv"
    stats = replay_file(src, out, scores_path=scores)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["tachycardia_at_rest"]
    a = lines[0]
    assert set(a) == {
        "alert_id",
        "device_id",
        "kind",
        "severity",
        "start",
        "end",
        "peak_value",
        "explanation",
    }
    assert a["start"].startswith("2026-01-01T00:4")
    assert a["end"] is not None
    assert stats.readings == 240
    assert len(scores.read_text().splitlines()) == 241


def test_replay_puts_bounded_disorder_right(tmp_path: Path) -> None:
    rows = _tachy_rows()
    shuffled = rows[:]
    for i in range(0, len(shuffled) - 6, 6):  # swap neighbours a few minutes apart
        shuffled[i], shuffled[i + 5] = shuffled[i + 5], shuffled[i]
    a = tmp_path / "a.ndjson"
    b = tmp_path / "b.ndjson"
    replay_file(_csv(tmp_path / "in.csv", rows), a)
    replay_file(_csv(tmp_path / "in2.csv", shuffled), b)
    assert a.read_text() == b.read_text()


def test_replay_device_order(tmp_path: Path) -> None:
    rows = _tachy_rows("d1") + _tachy_rows("d2")
    out = tmp_path / "alerts.ndjson"
    replay_file(_csv(tmp_path / "in.csv", rows), out, order="device")
    assert sorted(json.loads(x)["device_id"] for x in out.read_text().splitlines()) == ["d1", "d2"]


def test_bad_rows_are_counted_not_fatal(tmp_path: Path) -> None:
    src = _csv(
        tmp_path / "in.csv",
        [
            ("d1", str(T0), "heart_rate", "61"),
            ("d1", "yesterday", "heart_rate", "61"),
            ("d1", str(T0 + 1), "blood_pressure", "120"),
            ("d1", str(T0 + 2), "sleep_stage", "dozing"),
            ("d1", str(T0 + 3), "sleep_stage", "rem"),
            ("d1", str(T0 + 4), "heart_rate", "999"),
        ],
    )
    stats = ReplayStats()
    with src.open() as f:
        readings = list(read_rows(f, stats))
    assert [r.metric for r in readings] == [
        Metric.HEART_RATE,
        Metric.SLEEP_STAGE,
        Metric.HEART_RATE,
    ]
    assert stats.skipped == {"bad_ts": 1, "unknown_metric": 1, "bad_sleep_stage": 1}
    out = tmp_path / "alerts.ndjson"
    replay_file(src, out)
    assert json.loads(out.read_text())["kind"] == "impossible_value"


def test_bad_header(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("a,b,c,d\n")
    with pytest.raises(ReplayError):
        replay_file(src, tmp_path / "out.ndjson")


def test_command_handler(tmp_path: Path) -> None:
    from detectors import EngineConfig

    class _Settings:
        detection = EngineConfig()

    src = _csv(tmp_path / "in.csv", _tachy_rows())
    out = tmp_path / "alerts.ndjson"
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    replay_cmd.register(sub)
    args = parser.parse_args(["replay", str(src), "--out", str(out), "--quiet"])
    assert args.handler(args, _Settings()) == 0
    assert out.read_text().count("\n") == 1


def test_replay_clock_jump_is_skew_not_dropout(tmp_path: Path) -> None:
    rows = []
    for i in range(300):
        t = T0 + i * MIN
        # the device clock runs 35 min behind between minutes 100 and 200
        shown = t - 35 * MIN if 100 <= i < 200 else t
        rows.append(("d1", str(shown), "steps", "0"))
        rows.append(("d1", str(shown + 1000), "heart_rate", str(64 + i % 3)))
    out = tmp_path / "alerts.ndjson"
    replay_file(_csv(tmp_path / "in.csv", rows), out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["clock_skew"]
    assert lines[0]["end"] is not None
