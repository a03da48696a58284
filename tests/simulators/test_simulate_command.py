"""``vitalstream simulate``: argument handling and file outputs (Kafka output in test_kafka)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest

from ingest.commands import simulate
from messages.labels import decode_labels


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.register(parser.add_subparsers())
    return parser.parse_args(["simulate", *argv])


def _settings() -> Any:
    from ingest.settings import Settings

    bootstrap = os.environ.get("VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    return Settings(kafka={"bootstrap_servers": bootstrap})


def test_csv_output_with_labels_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.csv"
    args = _parse(
        [
            "--scenario",
            "acute_events",
            "--devices",
            "6",
            "--duration",
            "1d",
            "--start",
            "2026-01-01T00:00:00Z",
            "--out",
            str(out),
        ]
    )
    assert args.handler(args, _settings()) == 0
    assert out.read_text().startswith("device_id,ts,metric,value\n")
    labels = decode_labels((tmp_path / "run.labels.ndjson").read_bytes())
    assert labels
    assert all(lb.start_ms >= 1_767_225_600_000 for lb in labels)
    err = capsys.readouterr().err
    assert "100.0%" in err
    assert "labels ->" in err


def test_ndjson_output_is_deterministic(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.ndjson"
        args = _parse(
            [
                "--devices",
                "3",
                "--duration",
                "2h",
                "--seed",
                "5",
                "--quiet",
                "--start",
                "2026-01-01T00:00:00Z",
                "--out",
                str(out),
            ]
        )
        assert args.handler(args, _settings()) == 0
        runs.append(out.read_bytes())
    assert runs[0] == runs[1]
    assert runs[0].count(b"\n") > 1000


def test_default_start_ends_near_now() -> None:
    args = _parse(["--duration", "1d", "--speed", "max", "--out", "x.csv"])
    sim = simulate.build_simulator(args)
    import time

    now = time.time() * 1000
    assert now - 120_000 <= sim.end_ms <= now + 60_000
    args = _parse(["--duration", "1d", "--speed", "1", "--out", "x.csv"])
    sim = simulate.build_simulator(args)
    assert abs(sim.start_ms - now) <= 60_000


@pytest.mark.parametrize("bad", ["0", "-2", "fast-ish", "nan"])
def test_bad_speed(bad: str) -> None:
    with pytest.raises(SystemExit):
        _parse(["--speed", bad])


def test_bad_scenario_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["--scenario", "nope", "--out", "x.csv"])
    assert args.handler(args, _settings()) == 2
    assert "no scenario" in capsys.readouterr().err


@pytest.mark.integration
def test_kafka_output(tmp_path: Path) -> None:
    import uuid

    topic = f"sim-test-{uuid.uuid4().hex[:12]}"
    args = _parse(
        [
            "--devices",
            "4",
            "--duration",
            "1h",
            "--out",
            "kafka",
            "--topic",
            topic,
            "--labels",
            str(tmp_path / "l.ndjson"),
            "--quiet",
        ]
    )
    assert args.handler(args, _settings()) == 0
    assert (tmp_path / "l.ndjson").exists()


def test_gzipped_csv(tmp_path: Path) -> None:
    import gzip

    out = tmp_path / "run.csv.gz"
    args = _parse(
        [
            "--devices",
            "2",
            "--duration",
            "1h",
            "--quiet",
            "--start",
            "2026-01-01T00:00:00Z",
            "--out",
            str(out),
        ]
    )
    assert args.handler(args, _settings()) == 0
    text = gzip.decompress(out.read_bytes()).decode()
    assert text.startswith("device_id,ts,metric,value\n")
    assert text.count("\n") > 100
    assert (tmp_path / "run.labels.ndjson").exists()
