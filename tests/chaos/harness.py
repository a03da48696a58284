"""Chaos-suite helpers: daemons as real processes, and comparison with a fault-free run."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ingest.settings import Settings
from tests.integration.harness import (
    PIVOT,
    alert_event_keys,
    create_bucket,
    ensure_topic,
    flux,
    isolated_settings,
    produce,
    settings_env,
    wait_committed,
)

LONG = os.environ.get("VITALSTREAM_CHAOS", "short") == "long"


def scale(short: int, long: int) -> int:
    return long if LONG else short


def chaos_settings(base: Settings, name: str, **ingest: object) -> Settings:
    # a dead member is noticed after session.timeout.ms: use the broker's minimum (6 s)
    # flush every 0.5 s, commit every 2 s: kills land between flush-only checkpoints too
    ingest = {"flush_interval_ms": 500, "commit_interval_ms": 2000, **ingest}
    return isolated_settings(base, name, session_timeout_ms=6000, **ingest)


async def prepare(s: Settings, messages: list[tuple[bytes | None, bytes]]) -> None:
    create_bucket(s)
    await ensure_topic(s)
    await produce(s, s.topics.readings, messages)


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[bytes]
    log: Path
    starts: int = 1  # how many start lines the (shared) log has once this one started

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def assigned(self, timeout_s: float = 60) -> None:
        """Wait until this instance owns partitions (after its start line, a non-empty
        ``partitions assigned``): a dead predecessor holds them until its session expires."""
        deadline = time.monotonic() + timeout_s
        while True:
            tail = self.output().split("ingest started")
            mine = tail[self.starts] if len(tail) > self.starts else ""
            if re.search(r'partitions assigned" partitions="?\[\d', mine):
                return
            assert self.proc.poll() is None, self.output()[-3000:]
            assert time.monotonic() < deadline, "no partitions assigned"
            await asyncio.sleep(0.1)

    async def started(self, timeout_s: float = 60) -> None:
        """Wait for this instance's start line (its signal handlers are installed by then)."""
        deadline = time.monotonic() + timeout_s
        while self.output().count("ingest started") < self.starts:
            assert self.proc.poll() is None, self.output()[-3000:]
            assert time.monotonic() < deadline, "daemon did not start"
            await asyncio.sleep(0.1)


def start_daemon(s: Settings, log: Path, instance_id: str | None = None) -> DaemonProcess:
    """``vitalstream ingest`` as a process. Daemons running side by side in one group need an
    ``instance_id`` each (their transactional ids); a restart keeps its predecessor's."""
    before = log.read_text(errors="replace").count("ingest started") if log.exists() else 0
    out = log.open("ab")
    env = settings_env(s)
    if instance_id is not None:
        env["VITALSTREAM_INGEST__INSTANCE_ID"] = instance_id
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "ingest"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    return DaemonProcess(proc, log, before + 1)


async def run_clean(s: Settings, log: Path, timeout_s: float = 300) -> None:
    """A fault-free run to completion (the reference)."""
    d = start_daemon(s, log)
    try:
        await wait_committed(s, timeout_s=timeout_s)
    finally:
        assert d.terminate() == 0, d.output()[-3000:]


def assert_exactly_once(messages: list[tuple[bytes | None, bytes]], s: Settings) -> None:
    """Every valid reading of ``messages`` is in InfluxDB, once."""
    from tests.integration.harness import expected_identities, vitals_identities

    valid, _ = expected_identities(messages, s)
    got = vitals_identities(s)
    assert len(got) == len(set(got)), "0 duplicate points"
    assert set(got) == valid, "0 readings missing"


def scores(s: Settings) -> dict[tuple[str, str, int], tuple[object, ...]]:
    """Every device-minute's summary (``vitals_minute``): max score, flagged (when any),
    baseline, sd. A restart in the middle of a minute must not change any of them."""
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "vitals_minute") '
        '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value") '
        "|> group()",
    )
    fields = ("score_max", "flagged", "baseline", "sd")
    return {
        (str(r["device"]), str(r["metric"]), int(r["_time"].timestamp() * 1000)): tuple(  # type: ignore[attr-defined]
            r.get(f) for f in fields
        )
        for r in rows
    }


def stored_alerts(s: Settings) -> list[tuple[str, str, str, int, bool]]:
    """(kind, alert_id, state, event time, time_driven) of every alert event in InfluxDB.

    ``time_driven``: raised by the clock rather than by a reading (the deadman, and
    resolutions of alerts whose data stopped); their event time is a grid point of the
    partition's stream time.
    """
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "alerts" '
        'and (r._field == "explanation" or r._field == "alert_id")) '
        f"{PIVOT}",
    )
    return [
        (
            str(r["kind"]),
            str(r["alert_id"]),
            str(r["state"]),
            int(r["_time"].timestamp() * 1000),  # type: ignore[attr-defined]
            r["kind"] == "device_silent" or "No longer observable" in str(r["explanation"]),
        )
        for r in rows
    ]


async def distinct_alert_events(s: Settings) -> tuple[set[tuple[str, str, int]], int]:
    keys = await alert_event_keys(s)
    return set(keys), len(keys) - len(set(keys))


async def wait_progress(s: Settings, at_least: int, timeout_s: float = 60) -> None:
    from tests.integration.harness import committed

    deadline = time.monotonic() + timeout_s
    while sum((await committed(s)).values()) < at_least:
        assert time.monotonic() < deadline, "no progress"
        await asyncio.sleep(0.2)
