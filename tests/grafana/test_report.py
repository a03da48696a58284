"""``vitalstream report``: HTML + PNGs, from synthetic data and from the real InfluxDB."""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import html
import math
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from ingest.cli import build_parser
from ingest.commands import report as report_cmd
from ingest.errors import ConfigError
from ingest.report.data import (
    Alert,
    DeviceVitals,
    InfluxReader,
    ReportData,
    Series,
    choose_devices,
    parse_since,
    window_for,
)
from ingest.report.render import file_stem, write_report
from tests.grafana.conftest import Scenario
from tests.integration.harness import PIVOT, flux

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _assert_png(path: Path, min_px: int = 400) -> None:
    """A real, non-blank picture: PNG signature, decodable, big enough, not one colour."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    img = mpimg.imread(path)
    assert img.shape[0] >= min_px
    assert img.shape[1] >= min_px
    assert float(np.std(img[..., :3])) > 0.02, f"{path.name} looks blank"


def _series(n: int, f: float, step_min: int = 2) -> Series:
    return Series(
        [T0 + dt.timedelta(minutes=step_min * i) for i in range(n)],
        [f + 5 * math.sin(i / 20) for i in range(n)],
    )


def _synthetic() -> ReportData:
    alerts = [
        Alert("a1", "watch:1", "bradycardia", "clinical", "critical", "resolved",
              T0 + dt.timedelta(hours=3), T0 + dt.timedelta(hours=3, minutes=20), 1200.0,
              "Heart rate below 40 bpm for 12 min <while asleep>."),
        Alert("a2", "watch:1", "off_wrist", "data_quality", "info", "open",
              T0 + dt.timedelta(hours=10), None, 3600.0, "Device off the wrist."),
    ]  # fmt: skip
    v = DeviceVitals(
        "watch:1",
        heart_rate=_series(360, 70),
        baseline=_series(360, 68),
        spo2=_series(200, 95),
        spo2_min=_series(200, 93),
        steps_per_hour=Series([T0 + dt.timedelta(hours=h) for h in range(12)], [100.0] * 12),
        sleep=Series([T0 + dt.timedelta(minutes=30 * i) for i in range(16)],
                     [float(i % 4) for i in range(16)]),
    )  # fmt: skip
    empty = DeviceVitals("ring-2", Series(), Series(), Series(), Series(), Series(), Series())
    return ReportData(T0, T0 + dt.timedelta(hours=12), "vitals", 2, alerts, 2, [v, empty])


def test_report_from_synthetic_data(tmp_path: Path) -> None:
    files = write_report(_synthetic(), tmp_path / "out")
    names = sorted(p.name for p in files)
    assert names == [
        "alerts-overview.png",
        "device-ring-2.png",
        "device-watch_1.png",
        "index.html",
    ]
    for p in files:
        if p.suffix == ".png":
            _assert_png(p)
    page = (tmp_path / "out" / "index.html").read_text()
    for p in files:
        if p.suffix == ".png":
            assert f'src="{p.name}"' in page
    assert html.escape("Heart rate below 40 bpm for 12 min <while asleep>.") in page
    assert "<while asleep>" not in page, "explanations are escaped"
    assert "no heart rate in this range" not in page  # that text is in the PNG only


def test_since_until_and_windows() -> None:
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert parse_since("24h", now) == now - dt.timedelta(hours=24)
    assert parse_since("90m", now) == now - dt.timedelta(minutes=90)
    assert parse_since("2026-01-01T00:00:00Z", now) == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for bad in ("yesterday", "2026-01-01T00:00:00", "24"):
        with pytest.raises(ValueError, match=r"duration|offset"):
            parse_since(bad, now)
    assert window_for(now - dt.timedelta(hours=24), now) == 2
    assert window_for(now - dt.timedelta(days=30), now) == 60
    assert file_stem("a:b/c") == "device-a_b_c"


def test_device_choice() -> None:
    a = _synthetic().alerts
    assert choose_devices(["ring-2", "watch:1", "x"], a, [], 2) == ["watch:1", "ring-2"]
    assert choose_devices(["ring-2", "watch:1"], a, ["x", "ring-2"], 1) == ["ring-2"]


def test_command_is_registered_and_checks_its_arguments(tmp_path: Path) -> None:
    args = build_parser().parse_args(["report", "--since", "6h", "--out", str(tmp_path)])
    assert args.handler is report_cmd.run
    assert args.since == "6h"
    bad = argparse.Namespace(
        since="2021-01-01T00:00:00Z",
        until="2020-01-01T00:00:00Z",
        out=tmp_path,
        device=[],
        max_devices=3,
    )
    with pytest.raises(ConfigError, match="before"):
        report_cmd.run(bad, None)  # type: ignore[arg-type]


@pytest.mark.integration
def test_report_from_the_real_influxdb(scenario: Scenario, tmp_path: Path) -> None:
    sc = scenario
    out = tmp_path / "report"
    args = build_parser().parse_args(
        ["report", "--since", "24h", "--out", str(out), "--max-devices", "3"]
    )
    assert args.handler(args, sc.s) == 0

    by_device = collections.Counter(e["device"] for e in sc.events if e["state"] == "open")
    top3 = sorted(sc.devices, key=lambda d: (-by_device.get(d, 0), d))[:3]
    pngs = sorted(out.glob("*.png"))
    assert sorted(p.name for p in pngs) == sorted(
        ["alerts-overview.png", *(f"{file_stem(d)}.png" for d in top3)]
    )
    for p in pngs:
        _assert_png(p)
    page = (out / "index.html").read_text()
    latest = flux(
        sc.s,
        f'from(bucket: "{sc.s.influxdb.bucket}") |> range(start: -24h) '
        '|> filter(fn: (r) => r._measurement == "alerts" '
        'and (r._field == "explanation" or r._field == "alert_id")) '
        f'{PIVOT} |> group(columns: ["alert_id"]) |> sort(columns: ["_time", "state"]) '
        '|> last(column: "_time") |> group()',
    )
    assert latest
    for r in latest:  # every alert of the range is listed, in its latest state
        assert html.escape(str(r["explanation"])) in page
    rows = re.findall(r"<tr><td>[A-Za-z0-9._:-]+</td><td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", page)
    assert len(rows) == len(latest)
    assert sc.s.influx_token() not in page


def test_report_reads_the_baseline_from_the_minute_summaries(scenario: Scenario) -> None:
    """The personal baseline the device plots draw comes from ``vitals_minute``."""
    sc = scenario
    reader = InfluxReader(sc.s)
    try:
        start = sc.now - dt.timedelta(hours=24)
        (v,) = reader.vitals(sc.devices[:1], start, sc.now, 5)
    finally:
        reader.close()
    assert len(v.baseline) > 0.5 * len(v.heart_rate) > 0
    assert all(30 <= b <= 200 for b in v.baseline.values)
