"""Which alert events should not wait for the routine commit: an alert that opens or escalates.

With exactly-once delivery an alert event becomes visible to ``read_committed`` consumers (the
notifier, Alertmanager) only when the checkpoint transaction that carries it commits, every
``ingest.commit_interval_ms`` (5 s) by default. Someone waits for an opened alert, so the daemon
commits sooner for one (``ingest.alert_commit_interval_ms``). A heartbeat ``ongoing`` event or a
resolution changes nothing anyone acts on at once, so it waits for the routine commit.

The engine marks an escalation only as an ``ongoing`` event whose severity is above the alert's
previous one; this module remembers the severity of each open alert it has seen, per device and
kind (bounded: one entry per open alert, dropped when it resolves or its device leaves). After a
restart or a rebalance the first ``ongoing`` event of an alert opened before is not taken for an
escalation: it waits for the routine commit.
"""

from __future__ import annotations

from collections.abc import Iterable

from detectors import AlertEvent
from detectors.types import SEVERITY_RANK


class UrgentAlerts:
    """Tell opened and escalated alert events apart from heartbeats and resolutions."""

    def __init__(self) -> None:
        self._severity: dict[str, dict[str, int]] = {}  # device -> kind -> rank of open alert

    def urgent(self, event: AlertEvent) -> bool:
        """Record ``event``; ``True`` if it opens its alert or raises its severity."""
        kinds = self._severity.get(event.device_id)
        if event.state == "resolved":
            if kinds is not None:
                kinds.pop(event.kind, None)
                if not kinds:
                    del self._severity[event.device_id]
            return False
        if kinds is None:
            kinds = self._severity[event.device_id] = {}
        rank = SEVERITY_RANK[event.severity]
        before = kinds.get(event.kind)
        kinds[event.kind] = rank
        return event.state == "open" or (before is not None and rank > before)

    def forget(self, devices: Iterable[str]) -> None:
        """Devices whose partitions went elsewhere: their alerts are another daemon's now."""
        for device in devices:
            self._severity.pop(device, None)

    def __len__(self) -> int:
        return sum(len(kinds) for kinds in self._severity.values())
