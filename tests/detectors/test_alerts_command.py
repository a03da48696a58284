"""``vitalstream alerts ack`` and ``alerts migrate``."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from pathlib import Path

import httpx
import pytest

from ingest.commands import alerts
from ingest.errors import ConfigError
from ingest.settings import Settings


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    alerts.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_ack_to_file(tmp_path: Path) -> None:
    out = tmp_path / "acks.ndjson"
    args = _parse(
        [
            "alerts",
            "ack",
            "761d8a0cafbcdd15",
            "--note",
            "called",
            "--by",
            "dr.a",
            "--to-file",
            str(out),
        ]
    )
    assert args.handler(args, Settings()) == 0
    rec = json.loads(out.read_text())
    assert (rec["alert_id"], rec["note"], rec["by"]) == ("761d8a0cafbcdd15", "called", "dr.a")


def test_ack_rejects_bad_ids() -> None:
    args = _parse(["alerts", "ack", "XYZ", "--note", "n"])
    with pytest.raises(ConfigError):
        args.handler(args, Settings())


def test_ack_writes_influx_line() -> None:
    seen: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(204)

    settings = Settings.model_validate({"influxdb": {"url": "http://influx.test", "token": "t"}})
    ack = alerts.make_ack("761d8a0cafbcdd15", "ok", "dr.a", 5)
    asyncio.run(alerts.write_ack(settings, ack, transport=httpx.MockTransport(handle)))
    # no tags: one series however many alerts are acknowledged; the time in nanoseconds
    assert seen == [b'alert_acks alert_id="761d8a0cafbcdd15",acked_by="dr.a",note="ok" 5000000']


def test_acks_of_one_millisecond_are_apart() -> None:
    """Two acks made in a row (a script) get points of their own: their times differ."""
    first = alerts.make_ack("761d8a0cafbcdd15", "ok", "dr.a")
    second = alerts.make_ack("761d8a0cafbcdd16", "ok", "dr.a")
    assert first.point_ns() != second.point_ns()
    assert first.ts_ms == first.point_ns() // 1_000_000


def test_ack_accepts_a_pseudonymous_alert_id() -> None:
    assert alerts.make_ack("p" + "0a" * 10, "ok", "dr.a").alert_id == "p" + "0a" * 10


def test_ack_silences_its_alert_in_alertmanager() -> None:
    bodies: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/api/v2/silences")
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"silenceID": "s-1"})

    settings = Settings.model_validate({"alertmanager": {"url": "http://am.test"}})
    ack = alerts.make_ack("761d8a0cafbcdd15", "called the wearer", "dr.a", 1_767_225_600_000)
    got = asyncio.run(alerts.silence_ack(settings, ack, transport=httpx.MockTransport(handle)))
    assert got == "s-1"
    (body,) = bodies
    assert body["matchers"] == [
        {"name": "alert_id", "value": "761d8a0cafbcdd15", "isRegex": False, "isEqual": True}
    ]
    assert (body["createdBy"], body["comment"]) == ("dr.a", "acknowledged: called the wearer")
    assert body["startsAt"] == "2026-01-01T00:00:00+00:00"
    assert body["endsAt"] == "2026-01-08T00:00:00+00:00"  # ack_silence_max_h, 7 days


def test_migrate_options() -> None:
    """``alerts migrate``: an RFC3339 ``--start`` with its zone; ``--batch`` at least 1."""
    args = _parse(["alerts", "migrate", "--start", "2026-01-01T00:00:00Z", "--batch", "5"])
    assert args.start == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert (args.batch, args.dry_run) == (5, False)
    assert _parse(["alerts", "migrate", "--dry-run"]).start == dt.datetime(
        1970, 1, 1, tzinfo=dt.UTC
    )
    for start in ("yesterday", "2026-01-01T00:00:00"):  # no zone: whose midnight?
        with pytest.raises(SystemExit):
            _parse(["alerts", "migrate", "--start", start])
    for batch in ("0", "-3", "ten"):
        with pytest.raises(SystemExit):
            _parse(["alerts", "migrate", "--batch", batch])
