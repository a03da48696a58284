"""An alert lifecycle event as an Alertmanager alert (API v2 ``postableAlert``).

Alertmanager identifies an alert by its label set, so the labels are exactly what stays the same
for one episode of one kind on one wearer: ``alertname`` (the kind), ``severity``, ``category``,
``device`` and ``alert_id`` (pseudonyms, as on the alerts topic). Re-posting them is idempotent;
that is what makes restarts and several ``notify`` instances safe. Everything that changes over
an episode (explanation, peak) is an annotation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from detectors.types import AlertEvent

DRILLDOWN_UID = "vitalstream-device"  # grafana/dashboards/device-drilldown.json
_HOUR_MS = 3_600_000
LAST_EVENT_AT = "last_event_at"  # annotation: when notify read the alert's latest event

Labels = dict[str, str]


def labels(e: AlertEvent) -> Labels:
    """The identity of ``e``'s alert in Alertmanager."""
    return {
        "alertname": str(e.kind),
        "severity": e.severity,
        "category": str(e.category),
        "device": e.device_id,
        "alert_id": e.alert_id,
    }


def drilldown_url(grafana_url: str, e: AlertEvent) -> str:
    """The Grafana device drill-down around the alert (an hour before it to an hour after).

    >>> from detectors.types import AlertEvent
    >>> e = AlertEvent("pa", "pd", "low_spo2", "clinical", "critical", "open", 7_200_000,
    ...                7_200_000, None, 85.0, "SpO2 low")
    >>> drilldown_url("http://g:3000/", e)
    'http://g:3000/d/vitalstream-device?var-device=pd&from=3600000&to=10800000'
    """
    end = e.end_ms if e.end_ms is not None else e.ts_ms
    query = urlencode(
        {"var-device": e.device_id, "from": e.start_ms - _HOUR_MS, "to": end + _HOUR_MS}
    )
    return f"{grafana_url.rstrip('/')}/d/{DRILLDOWN_UID}?{query}"


def iso(ms: int) -> str:
    """RFC 3339 time of a millisecond timestamp.

    >>> iso(1767225600123)
    '2026-01-01T00:00:00.123000+00:00'
    """
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def postable(e: AlertEvent, *, grafana_url: str, now_ms: int, ttl_ms: int) -> dict[str, Any]:
    """The alert to post for ``e`` at wall time ``now_ms``.

    An open (or ongoing) alert is valid until ``now_ms + ttl_ms``: re-sent before then, it stays
    firing; if nothing re-sends it, Alertmanager resolves it by itself. Its annotation
    ``last_event_at`` is ``now_ms``, when notify read this event (wall clock): an alert with
    no event for ``notify.orphan_after_h`` is resolved as an orphan, after a notify restart too
    (the open alerts are then taken back from Alertmanager, annotations and all).

    A resolved alert ends at its end in event time, but never later than now (event time may
    run ahead of the wall clock, and the resolution must take effect when it is known) and
    never before it started.
    """
    link = drilldown_url(grafana_url, e)
    if e.state == "resolved":
        end_ms = e.end_ms if e.end_ms is not None else e.ts_ms
        ends = max(min(end_ms, now_ms), e.start_ms)
    else:
        ends = max(now_ms, e.start_ms) + ttl_ms
    annotations = {"summary": f"{e.kind} ({e.severity})", "description": e.explanation}
    annotations["dashboard"] = link
    if e.peak_value is not None:
        annotations["peak_value"] = f"{e.peak_value:g}"
    if e.state != "resolved":
        annotations[LAST_EVENT_AT] = iso(now_ms)
    return {
        "labels": labels(e),
        "annotations": annotations,
        "startsAt": iso(e.start_ms),
        "endsAt": iso(ends),
        "generatorURL": link,
    }
