# cython: language_level=3, annotation_typing=False
"""InfluxDB line protocol, formatted by hand (about 10x faster than ``Point.to_line_protocol``).

A point's identity is measurement + tag set + timestamp, so writing the same reading twice
overwrites it: every timestamp here is the device's event time, never the ingest time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from detectors import AlertEvent, Scored

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": " ", "\r": " "})
_MEAS_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": " ", "\r": " "})
_STR_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": " ", "\r": " "})

FieldValue = float | int | bool | str | None


def escape_tag(text: str) -> str:
    r"""Escape a tag key, tag value or field key.

    >>> escape_tag("a b,c=d")
    'a\\ b\\,c\\=d'
    """
    return text.translate(_TAG_ESCAPES)


def escape_measurement(text: str) -> str:
    return text.translate(_MEAS_ESCAPES)


def _field(value: FieldValue) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return '"' + value.translate(_STR_ESCAPES) + '"'


def line(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], ts: int
) -> str:
    r"""One point. Empty tag values and ``None``/non-finite fields are left out (InfluxDB
    rejects them); a point needs at least one field.

    >>> print(line("vitals", {"device": "d 1", "metric": "spo2"}, {"value": 97.0, "ok": True}, 5))
    vitals,device=d\ 1,metric=spo2 value=97.0,ok=true 5
    >>> print(line("alerts", {"kind": "x"}, {"explanation": 'said "hi"'}, 1))
    alerts,kind=x explanation="said \"hi\"" 1
    """
    tag_part = "".join(
        f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if v != ""
    )
    field_parts = []
    for k, v in fields.items():
        text = _field(v)
        if text is not None:
            field_parts.append(f"{escape_tag(k)}={text}")
    if not field_parts:
        raise ValueError("a point needs at least one field")
    return f"{escape_measurement(measurement)}{tag_part} {','.join(field_parts)} {ts}"


def reading_line(s: Scored, device_tag: str) -> str:
    """The ``vitals`` point of one reading: its value (ms precision).

    What the detector made of the reading (score, baseline, flag) goes out per device-minute
    (:mod:`ingest.influx.minutes`), not here: one field per reading costs InfluxDB and the
    daemon's formatting and gzip about half of the four it had.

    Hot path: built with one f-string; device tags are already safe ([A-Za-z0-9._:-]) and
    metric names are fixed identifiers, so they need no escaping.

    >>> from detectors import Scored
    >>> from messages import Metric
    >>> print(reading_line(
    ...     Scored("d1", 1767225600000, Metric.HEART_RATE, 61.0, 0.251795, 63.4271, False), "p1"
    ... ))
    vitals,device=p1,metric=heart_rate value=61.0 1767225600000
    """
    return (
        f"vitals,device={device_tag},metric={s.metric._value_} "  # _value_: no enum property
        f"value={s.value!r} {s.ts_ms}"
    )


def alert_line(a: AlertEvent, device_tag: str) -> str:
    """The ``alerts`` point of one lifecycle event.

    The tags are bounded (device x kind x severity x state; category follows the kind), so
    the series do not grow with the alerts ever raised: the alert id is a field. The point's
    identity is device + kind + severity + state + event time, which no two events the engine
    emits share (docs/schema.md, "Alerts: point identity"): an alert opened and resolved in
    one tick differ in state, an escalation in severity, and another alert of the same device
    and kind opens only after this one resolved.

    >>> from detectors.types import AlertEvent
    >>> from messages.kinds import AnomalyKind
    >>> low = AnomalyKind.LOW_SPO2
    >>> event = AlertEvent("pa1", "pd1", low, low.category, "critical", "open", 5, 7, None, 85.0,
    ...                    "low")
    >>> print(alert_line(event, "pd1"))  # doctest: +NORMALIZE_WHITESPACE
    alerts,category=clinical,device=pd1,kind=low_spo2,severity=critical,state=open
    alert_id="pa1",start_ms=5i,peak_value=85.0,duration_s=0.002,explanation="low",open=true 7
    """
    return line(
        "alerts", alert_tags(a, device_tag), {"alert_id": a.alert_id, **alert_fields(a)}, a.ts_ms
    )


def alert_tags(a: AlertEvent, device_tag: str) -> dict[str, str]:
    """The tags of an ``alerts`` point: each takes a bounded set of values."""
    return {
        "device": device_tag,
        "kind": a.kind.value,
        "category": a.category.value,
        "severity": a.severity,
        "state": a.state,
    }


def alert_fields(a: AlertEvent) -> dict[str, FieldValue]:
    """The fields of an ``alerts`` point besides the alert id."""
    return {
        "start_ms": a.start_ms,
        "end_ms": a.end_ms,
        "peak_value": a.peak_value,
        "duration_s": ((a.end_ms or a.ts_ms) - a.start_ms) / 1000.0,
        "explanation": a.explanation,
        "open": a.state != "resolved",
    }
