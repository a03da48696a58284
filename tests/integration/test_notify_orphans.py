"""An open alert orphaned by a device state restart is resolved by ``notify`` (real Kafka, daemon
and Alertmanager).

The rollback of docs/reliability.md, reproduced: the daemon raises ``device_silent`` for a
device and notify fires it; the daemon stops, and the device's changelog record becomes one
this release cannot read (as a snapshot of another state layout is); the restarted daemon
starts the device afresh, so its alert never gets a ``resolved`` event. notify resolves it
``notify.orphan_after_h`` after its last event, and Alertmanager notifies the resolution.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec

from ingest.alertmanager.client import AlertmanagerClient
from ingest.settings import Settings
from tests.integration.harness import (
    create_bucket,
    ensure_topic,
    isolated_settings,
    produce,
    read_all,
    running_daemon,
    wait_committed,
)
from tests.integration.notify_harness import (
    QUICK,
    SilentScript,
    private_alertmanager,
    running_notify,
    webhook_receiver,
    with_notify,
)

ORPHAN_AFTER_S = 20.0


async def _events_of(s: Settings, device: str) -> list[dict[str, object]]:
    events = [msgspec.json.decode(r.value) for r in await read_all(s, s.topics.alerts)]  # type: ignore[attr-defined]
    return [e for e in events if e["device_id"] == device]


async def test_an_alert_orphaned_by_a_state_restart_is_resolved_by_notify(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    base = isolated_settings(live_stack, unique_name)
    create_bucket(base)
    await ensure_topic(base)
    s0 = with_notify(base, resend_interval_s=1.0, orphan_after_h=ORPHAN_AFTER_S / 3600)
    script = SilentScript.make(unique_name, base.topics.partitions)
    with (
        webhook_receiver() as hook,
        private_alertmanager(s0, tmp_path / "am", hook, QUICK) as (s, _am),
    ):
        async with running_notify(s) as notifier:
            await produce(s, s.topics.readings, script.silence())
            async with running_daemon(s) as run:
                await wait_committed(s)
                device = run.daemon.pseudo(script.quiet)
            (opened,) = [e for e in await _events_of(s, device) if e["state"] == "open"]
            alert_id = str(opened["alert_id"])
            await asyncio.to_thread(hook.wait_for, alert_id, "firing", 90.0)
            fired_at = time.monotonic()

            # the device's state record becomes unreadable to this release: it starts afresh
            await produce(s, s.topics.device_state, [(script.quiet.encode(), b"\xc1 no state")])
            await produce(s, s.topics.readings, script.comeback())
            async with running_daemon(s) as run:
                await wait_committed(s)
                refused = run.daemon.metrics.state_refused._value.get()
            assert refused >= 1, "the daemon refused the device's state"
            states = [e["state"] for e in await _events_of(s, device)]
            assert "resolved" not in states, "the restarted daemon never resolves the alert"

            await asyncio.to_thread(hook.wait_for, alert_id, "resolved", 90.0)
            assert time.monotonic() - fired_at >= ORPHAN_AFTER_S - 5, "not before its time"
            assert notifier.metrics.orphans._value.get() == 1
            assert alert_id not in notifier._active, "no longer re-sent"
            client = AlertmanagerClient(s.alertmanager_url)
            try:
                found = await client.alerts([f'alert_id="{alert_id}"'])
            finally:
                await client.aclose()
            assert all(a["status"]["state"] != "active" for a in found)
            assert len(hook.about(alert_id, "firing")) == 1, "fired once, never again"
