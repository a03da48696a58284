"""``vitalstream notify`` on the real stack: the daemon raises an alert, notify posts it to a real
Alertmanager (the stack's binary and routing example, short timings, a data dir of its own), and
Alertmanager notifies a local webhook receiver."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from ingest.alertmanager.client import AlertmanagerClient
from ingest.commands import alerts as alerts_command
from ingest.kafka_io import offsets
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings
from tests.integration.harness import (
    create_bucket,
    end_offsets,
    ensure_topic,
    flux,
    isolated_settings,
    produce,
    read_all,
    running_daemon,
    settings_env,
    wait_committed,
)
from tests.integration.notify_harness import (
    QUICK,
    SilentScript,
    Webhook,
    notify_caught_up,
    private_alertmanager,
    running_notify,
    webhook_receiver,
    with_notify,
)

# Alertmanager groups for group_wait/group_interval (1 s here): a duplicate would have been sent
# within a few of those
SETTLE_S = 5.0


async def _silent_alert_id(s: Settings, device_pseudonym: str, state: str = "open") -> str:
    """The id of the device_silent alert the daemon raised for a device (from the topic)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for r in await read_all(s, s.topics.alerts):
            e = msgspec.json.decode(r.value)  # type: ignore[attr-defined]
            if (e["kind"], e["device_id"], e["state"]) == (
                "device_silent",
                device_pseudonym,
                state,
            ):
                return str(e["alert_id"])
        await asyncio.sleep(0.5)
    raise AssertionError(f"the daemon raised no device_silent {state} event")


async def _wait(hook: Webhook, alert_id: str, status: str) -> None:
    await asyncio.to_thread(hook.wait_for, alert_id, status, 90.0)


async def _reposted_since(s: Settings, alert_id: str, since: datetime) -> None:
    """Wait until Alertmanager got ``alert_id`` posted again after ``since``."""
    client = AlertmanagerClient(s.alertmanager_url)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = await client.alerts([f'alert_id="{alert_id}"'])
            if found and datetime.fromisoformat(found[0]["updatedAt"]) > since:
                return
            await asyncio.sleep(0.3)
    finally:
        await client.aclose()
    raise AssertionError(f"{alert_id} was not posted again after the restart")


def _spawn_notify(s: Settings, group_id: str, log: Path) -> subprocess.Popen[str]:
    env = {
        **settings_env(s),
        "VITALSTREAM_ALERTMANAGER__URL": s.alertmanager_url,
        "VITALSTREAM_NOTIFY__GROUP_ID": group_id,
        "VITALSTREAM_NOTIFY__RESEND_INTERVAL_S": str(s.notify.resend_interval_s),
        "VITALSTREAM_NOTIFY__TTL_FACTOR": str(s.notify.ttl_factor),
        "VITALSTREAM_NOTIFY__HTTP_PORT": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "notify"],
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _setup(live_stack: Settings, name: str) -> tuple[Settings, SilentScript]:
    s = isolated_settings(live_stack, name)
    create_bucket(s)
    await ensure_topic(s)
    # re-sent every second; valid for a minute, so a killed notify has time to come back
    quick = with_notify(s, resend_interval_s=1.0, ttl_factor=60.0)
    return quick, SilentScript.make(name, s.topics.partitions)


async def test_alert_and_resolution_reach_the_webhook_once_across_kill_restart_and_2nd_instance(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    """An alert raised by the daemon is notified once; notify killed (-9) and restarted, with a
    second instance joining its group (the partitions are shared out again, their owner takes
    back the open alert from Alertmanager and re-posts it every second): nothing is notified
    again. Its resolution is notified once."""
    s0, script = await _setup(live_stack, unique_name)
    with (
        webhook_receiver() as hook,
        private_alertmanager(s0, tmp_path / "am", hook, QUICK) as (s, _am),
    ):
        group = s.notify.group_id
        first = _spawn_notify(s, group, tmp_path / "notify.log")
        second: subprocess.Popen[str] | None = None
        try:
            await produce(s, s.topics.readings, script.silence())
            async with running_daemon(s) as running:
                await wait_committed(s)
                alert_id = await _silent_alert_id(s, running.daemon.pseudo(script.quiet))
                await _wait(hook, alert_id, "firing")
                (note,) = hook.about(alert_id, "firing")
                assert note.receiver == "technician"  # data quality goes to the technician
                (alert,) = note.alerts(alert_id, "firing")
                assert alert["labels"]["alertname"] == "device_silent"
                assert alert["labels"]["device"] == running.daemon.pseudo(script.quiet)
                assert alert["labels"]["category"] == "data_quality"
                assert "/d/vitalstream-device?var-device=" in alert["annotations"]["dashboard"]

                first.send_signal(signal.SIGKILL)
                first.wait(timeout=30)
                restarted = datetime.now(UTC)
                first = _spawn_notify(s, group, tmp_path / "notify.log")
                second = _spawn_notify(s, group, tmp_path / "second.log")
                await _reposted_since(s, alert_id, restarted)
                await asyncio.sleep(SETTLE_S)
                assert len(hook.about(alert_id, "firing")) == 1

                await produce(s, s.topics.readings, script.comeback())
                await wait_committed(s)
            await _wait(hook, alert_id, "resolved")
            await notify_caught_up(s, group)
            await asyncio.sleep(SETTLE_S)
            assert len(hook.about(alert_id, "firing")) == 1
            assert len(hook.about(alert_id, "resolved")) == 1
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)


async def test_alertmanager_down_for_30_s_loses_nothing(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    """While Alertmanager is stopped, notify retries and commits nothing it could not post; once
    Alertmanager is back, the resolution and the new alert raised meanwhile are notified, and
    the alert notified before the outage is not notified again."""
    s0, _ = await _setup(live_stack, unique_name)
    # the second script starts after the first ended: stream time only moves forward
    before = SilentScript.make(unique_name, s0.topics.partitions, hours_ago=12)
    during = SilentScript.make(f"{unique_name}-b", s0.topics.partitions, hours_ago=8)
    with (
        webhook_receiver() as hook,
        private_alertmanager(s0, tmp_path / "am", hook, QUICK) as (s, am),
    ):
        await produce(s, s.topics.readings, before.silence())
        async with running_daemon(s) as running, running_notify(s) as notifier:
            await wait_committed(s)
            first_id = await _silent_alert_id(s, running.daemon.pseudo(before.quiet))
            await _wait(hook, first_id, "firing")
            await notify_caught_up(s, s.notify.group_id)

            am.stop()
            await produce(s, s.topics.readings, before.comeback() + during.silence())
            await wait_committed(s)
            second_id = await _silent_alert_id(s, running.daemon.pseudo(during.quiet))
            await _silent_alert_id(s, running.daemon.pseudo(before.quiet), "resolved")
            await asyncio.sleep(30)
            ends = await end_offsets(s, s.topics.alerts)
            done = await offsets.committed_offsets(
                kafka_client_kwargs(s), s.topics.alerts, s.notify.group_id
            )
            assert any(done.get(p, 0) < end for p, end in ends.items())  # held back, not skipped
            assert notifier.metrics.failed._value.get() > 0
            assert notifier.metrics.retried._value.get() > 0

            am.start()
            am.wait_ready(time.monotonic() + 60)
            await _wait(hook, first_id, "resolved")
            await _wait(hook, second_id, "firing")
            await notify_caught_up(s, s.notify.group_id)
            await asyncio.sleep(SETTLE_S)
        # Alertmanager kept its notification log over the restart: nothing notified twice
        assert len(hook.about(first_id, "firing")) == 1
        assert len(hook.about(second_id, "firing")) == 1


async def test_ack_creates_a_silence_that_stops_repeats_until_the_alert_resolves(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    s0, script = await _setup(live_stack, unique_name)
    repeating = QUICK.__class__(
        **{**QUICK.__dict__, "technician_repeat_interval": "2s", "repeat_interval": "2s"}
    )
    with (
        webhook_receiver() as hook,
        private_alertmanager(s0, tmp_path / "am", hook, repeating) as (s, _am),
    ):
        await produce(s, s.topics.readings, script.silence())
        async with running_daemon(s) as running, running_notify(s):
            await wait_committed(s)
            alert_id = await _silent_alert_id(s, running.daemon.pseudo(script.quiet))
            deadline = time.monotonic() + 90
            while len(hook.about(alert_id, "firing")) < 2:  # it repeats while nobody acks
                assert time.monotonic() < deadline, "the alert was not repeated"
                await asyncio.sleep(0.2)

            ack = alerts_command.make_ack(alert_id, "technician on the way", "nurse.b")
            silence_id = await alerts_command.acknowledge(s, ack)
            client = AlertmanagerClient(s.alertmanager_url)
            try:
                (silence,) = await client.silences([f'alert_id="{alert_id}"'])
                assert silence["id"] == silence_id
                assert silence["status"]["state"] == "active"
                assert silence["createdBy"] == "nurse.b"
                assert silence["comment"] == "acknowledged: technician on the way"

                await asyncio.sleep(SETTLE_S)  # a notification in flight at the ack may land
                after_ack = len(hook.about(alert_id, "firing"))
                await asyncio.sleep(3 * 2.0 + SETTLE_S)  # three repeat intervals
                assert len(hook.about(alert_id, "firing")) == after_ack

                await produce(s, s.topics.readings, script.comeback())
                await wait_committed(s)
                await notify_caught_up(s, s.notify.group_id)
                (silence,) = await client.silences([f'alert_id="{alert_id}"'])
                assert silence["status"]["state"] == "expired"  # it resolved: ack done
            finally:
                await client.aclose()
        # the dashboards read who acknowledged what from InfluxDB
        rows = flux(
            s,
            f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
            '|> filter(fn: (r) => r._measurement == "alert_acks") '
            '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        )
        assert [(r["alert_id"], r["acked_by"]) for r in rows] == [(alert_id, "nurse.b")]
