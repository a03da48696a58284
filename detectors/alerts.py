"""Alert lifecycle: open -> ongoing -> resolved, one open alert per device and kind.

Detectors decide *whether a condition holds* at a reading (their sustain time is the minimum
duration); this module turns that signal into events: it opens an alert (unless cooling down),
escalates severity at once (``ongoing``), emits a heartbeat ``ongoing`` at most every
``ongoing_every_ms``, resolves after ``resolve_after_ms`` without the condition (longer while
flapping) and then keeps the kind closed for ``cooldown_ms``. Alert ids hash
``device_id|kind|start_ms`` so a replay from a snapshot reproduces them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import msgspec

from detectors.config import AlertConfig
from detectors.types import SEVERITY_RANK, AlertEvent, Severity
from messages.kinds import AnomalyKind

NONE = -1


class Track(msgspec.Struct, array_like=True, gc=False):
    """Lifecycle state of one kind on one device (kept only while it matters)."""

    kind: AnomalyKind
    is_open: bool = False
    alert_id: str = ""
    start_ms: int = NONE
    severity: Severity = "info"
    peak: float | None = None
    last_active: int = NONE
    last_emit: int = NONE
    cooldown_until: int = NONE
    end_ms: int = NONE
    opens: list[int] = msgspec.field(default_factory=list)
    baseline: float | None = None
    context: str = ""
    detail: str = ""


def alert_id(device_id: str, kind: str, start_ms: int) -> str:
    """Deterministic id: 16 hex chars of SHA-256 over ``device_id|kind|start_ms``.

    >>> alert_id("watch-1", "bradycardia", 1767225600000)
    '761d8a0cafbcdd15'
    """
    raw = f"{device_id}|{kind}|{start_ms}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


Explainer = Callable[[str, Track, int, int | None], str]


class AlertBook:
    """Applies the lifecycle rules; state lives in each device's ``dict[kind, Track]``."""

    def __init__(
        self, cfg: AlertConfig, explain: Explainer, slow_kinds: frozenset[AnomalyKind] = frozenset()
    ) -> None:
        self.cfg = cfg
        self._explain = explain
        #: devices whose next time-driven deadline may have moved earlier (an alert opened, or
        #: a condition was seen at an earlier event time than before): the engine's tick visits
        #: them whatever its index of deadlines says
        self.earlier: set[str] = set()
        # kinds judged per hour or night: their heartbeat is rarer
        self._every = {k: cfg.slow_ongoing_every_ms for k in slow_kinds}

    def _event(self, device_id: str, t: Track, state: str, ts: int) -> AlertEvent:
        end = t.end_ms if state == "resolved" else None
        return AlertEvent(
            alert_id=t.alert_id,
            device_id=device_id,
            kind=t.kind,
            category=t.kind.category,
            severity=t.severity,
            state=state,  # type: ignore[arg-type]
            start_ms=t.start_ms,
            ts_ms=ts,
            end_ms=end,
            peak_value=t.peak,
            explanation=self._explain(device_id, t, ts, end),
        )

    def flapping(self, t: Track) -> bool:
        return len(t.opens) >= self.cfg.flap_count

    def active(
        self,
        device_id: str,
        tracks: dict[str, Track],
        kind: AnomalyKind,
        ts: int,
        start_ms: int,
        severity: Severity,
        value: float | None,
        higher_is_worse: bool,
        out: list[AlertEvent],
        *,
        baseline: float | None = None,
        context: str = "",
        detail: str = "",
    ) -> None:
        """The condition of ``kind`` holds at ``ts`` (it has been sustained since ``start_ms``)."""
        t = tracks.get(kind)
        if t is None:
            t = tracks[kind] = Track(kind)
        if ts < t.last_active:
            self.earlier.add(device_id)
        t.last_active = ts
        if value is not None and (
            t.peak is None or (value > t.peak if higher_is_worse else value < t.peak)
        ):
            t.peak = value
        t.baseline = baseline
        if context:
            t.context = context
        if detail:
            t.detail = detail
        if t.is_open:
            if SEVERITY_RANK[severity] > SEVERITY_RANK[t.severity]:
                t.severity = severity
                t.last_emit = ts
                out.append(self._event(device_id, t, "ongoing", ts))
            elif ts - t.last_emit >= self._every.get(kind, self.cfg.ongoing_every_ms):
                t.severity = severity  # de-escalate only at a heartbeat, never flap
                t.last_emit = ts
                out.append(self._event(device_id, t, "ongoing", ts))
            return
        if ts < t.cooldown_until:
            return
        if t.end_ms != NONE and start_ms <= t.end_ms:
            start_ms = t.end_ms + 1  # never overlap the previous alert of this kind
        window = self.cfg.flap_window_ms
        t.opens = [o for o in t.opens if ts - o < window][-(self.cfg.flap_count - 1) :]
        t.opens.append(ts)
        t.is_open = True
        t.start_ms = start_ms
        t.alert_id = alert_id(device_id, kind.value, start_ms)
        t.severity = severity
        t.peak = value
        t.last_emit = ts
        t.end_ms = NONE
        self.earlier.add(device_id)
        out.append(self._event(device_id, t, "open", ts))

    def inactive(
        self,
        device_id: str,
        tracks: dict[str, Track],
        kind: AnomalyKind,
        ts: int,
        out: list[AlertEvent],
        resolve_after_ms: int | None = None,
    ) -> None:
        """The condition of ``kind`` does not hold at ``ts``: resolve once absent long enough."""
        t = tracks.get(kind)
        if t is None:
            return
        if t.is_open:
            wait = self.cfg.resolve_after_ms if resolve_after_ms is None else resolve_after_ms
            if self.flapping(t):
                wait = int(wait * self.cfg.flap_resolve_factor)
            if ts - t.last_active >= wait:
                self.resolve(device_id, tracks, kind, ts, out, end_ms=t.last_active)
        elif ts >= t.cooldown_until and (
            not t.opens or ts - t.opens[-1] >= self.cfg.flap_window_ms
        ):
            del tracks[kind]  # nothing left to remember

    def resolve(
        self,
        device_id: str,
        tracks: dict[str, Track],
        kind: AnomalyKind,
        ts: int,
        out: list[AlertEvent],
        *,
        end_ms: int | None = None,
        detail: str = "",
    ) -> None:
        """Resolve the open alert of ``kind`` now (no-op if none is open)."""
        t = tracks.get(kind)
        if t is None or not t.is_open:
            return
        t.is_open = False
        t.end_ms = max(t.start_ms, ts if end_ms is None else end_ms)
        if detail:
            t.detail = detail
        t.cooldown_until = ts + self.cfg.cooldown_ms
        out.append(self._event(device_id, t, "resolved", ts))

    def interval(
        self,
        device_id: str,
        tracks: dict[str, Track],
        kind: AnomalyKind,
        start_ms: int,
        end_ms: int,
        ts: int,
        severity: Severity,
        out: list[AlertEvent],
        *,
        value: float | None = None,
        detail: str = "",
    ) -> None:
        """An episode found after the fact (a gap): open and resolve it in one go."""
        self.active(
            device_id, tracks, kind, ts, start_ms, severity, value, True, out, detail=detail
        )
        t = tracks[kind]
        if t.is_open and t.start_ms <= end_ms:
            self.resolve(device_id, tracks, kind, ts, out, end_ms=end_ms)
