"""What a standard-format decoder hands back: candidate readings and rejected parts, each with
the JSON path of the part of the record it came from."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from messages.codec import parse_ts, parse_ts_offset
from messages.metrics import Metric


class Part(NamedTuple):
    """One reading found in a record, before the checks every reading passes (ranges, clock)."""

    path: str
    device_id: str
    ts_ms: int
    metric: Metric
    value: float | str  # a number in the metric's unit, or a sleep stage name
    interval_s: float | None = None
    #: the JSON it came from (bytes, or a decoded struct encoded only if it is rejected)
    source: object = None
    #: the UTC offset (minutes) its RFC 3339 time carried: the wearer's local clock
    utc_offset_min: int | None = None


class PartError(msgspec.Struct, frozen=True):
    """A part of a record that cannot become a reading: where, why, and its own JSON."""

    path: str
    code: str
    detail: str
    raw: bytes | None = None


def source_bytes(source: object) -> bytes | None:
    """The JSON of a part, for its dead letter."""
    if source is None or isinstance(source, bytes):
        return source
    return msgspec.json.encode(source)


def msgspec_detail(exc: msgspec.ValidationError, prefix: str) -> tuple[str, str]:
    """(path, words) of a msgspec validation error, its ``$`` path re-rooted under ``prefix``.

    >>> try:
    ...     msgspec.json.decode(b'{"a": [1]}', type=dict[str, list[str]])
    ... except msgspec.ValidationError as e:
    ...     msgspec_detail(e, "$.entry[2].resource")
    ('$.entry[2].resource[...][0]', 'Expected `str`, got `int`')
    """
    text = str(exc)
    words, sep, where = text.partition(" - at `")
    if not sep:
        return prefix, text
    return prefix + where.rstrip("`").removeprefix("$"), words


def when(text: str) -> int:
    """Epoch ms of an RFC 3339 date-time with offset (what OMH and FHIR instants carry)."""
    return parse_ts(text)


def local_offset(text: str | None) -> int | None:
    """The UTC offset (minutes) an RFC 3339 date-time carries (see
    :func:`messages.codec.parse_ts_offset`); ``None`` for none, or no time."""
    return None if text is None else parse_ts_offset(text)[1]
