"""Health-standard messages on the readings topic: Open mHealth data points and FHIR R4
Observations / Bundles, decoded into the same :class:`messages.Reading` as our own JSON.

:class:`RecordDecoder` recognises the format of each record:

1. a ``content-type`` Kafka header, if present, names it (:func:`format_of`);
2. otherwise our own JSON is tried first with the hot-path decoder, unchanged; only when that
   fails for want of our fields (``schema``) or size (``oversize``) are the bytes sniffed for
   FHIR's ``"resourceType"`` or Open mHealth's ``"schema_id"``. Our JSON's cost is therefore
   what it was, and a record that is none of the three keeps its original error.

A standard record may carry many readings (a Bundle, a list-valued data point, a step count
over an hour, a sleep stage over 20 minutes). It decodes to :class:`Decoded`: the valid
readings in event-time order, and one :class:`PartError` (JSON path, code, words, the part's
JSON) per part that cannot become a reading. Every reading passes the same checks as our own
JSON (:meth:`messages.ReadingDecoder.validate`: ranges, device id, clock window).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from messages.codec import InvalidReading, Reading, ReadingDecoder, _Wire
from messages.formats import fhir, omh
from messages.formats.parts import Part, PartError, source_bytes

OWN, OMH, FHIR = "vitalstream", "omh", "fhir"

#: ``content-type`` values (before any ``;`` parameter) -> format
CONTENT_TYPES = {
    "application/json": OWN,
    "application/vnd.vitalstream.reading+json": OWN,
    "application/fhir+json": FHIR,
    "application/json+fhir": FHIR,
    "application/vnd.openmhealth+json": OMH,
    "application/vnd.omh+json": OMH,
    "application/ieee1752+json": OMH,
}

__all__ = ["CONTENT_TYPES", "FHIR", "OMH", "OWN", "Decoded", "PartError", "RecordDecoder"]


class Decoded(msgspec.Struct):
    """The outcome of a standard record: readings (ordered by event time) and rejected parts.
    ``paths[i]`` is where ``readings[i]`` came from in the record."""

    readings: list[Reading]
    paths: list[str]
    errors: list[PartError]


def format_of(headers: Iterable[tuple[str, bytes | None]] | None) -> str | None:
    """The format a ``content-type`` header names, ``None`` without one.

    >>> format_of([("content-type", b"application/fhir+json; fhirVersion=4.0")])
    'fhir'
    """
    for name, value in headers or ():
        if name.lower() == "content-type":
            # a Kafka header may have no value at all
            media = bytes(value or b"").decode(errors="replace").split(";", 1)[0].strip().lower()
            fmt = CONTENT_TYPES.get(media)
            if fmt is None:
                raise InvalidReading(
                    "unsupported_content_type",
                    f"content-type {media[:64]!r} (accepted: {', '.join(sorted(CONTENT_TYPES))})",
                )
            return fmt
    return None


def sniff(raw: bytes) -> str | None:
    """FHIR or Open mHealth by a field only that format has, ``None`` for neither."""
    if b'"resourceType"' in raw:
        return FHIR
    if b'"schema_id"' in raw and b'"body"' in raw:
        return OMH
    return None


class RecordDecoder:
    """Decode one Kafka record of any supported format (see the module docstring).

    Parameters
    ----------
    readings
        Our own JSON's decoder; it also checks every reading found in a standard record.
    max_document_bytes
        Size limit for standard records (a Bundle is larger than one reading).
    """

    def __init__(self, readings: ReadingDecoder, *, max_document_bytes: int = 1 << 20) -> None:
        self.readings = readings
        self.max_document_bytes = max_document_bytes

    def decode(
        self,
        raw: bytes | None,
        headers: Iterable[tuple[str, bytes | None]] | None = None,
        key: bytes | None = None,
        *,
        now_ms: int | None = None,
    ) -> Reading | Decoded:
        """A :class:`Reading` for our own JSON (the fast path), :class:`Decoded` for a standard
        record. Raises :class:`InvalidReading` when the record as a whole is unusable."""
        fmt = format_of(headers) if headers else None
        if fmt == OWN:
            return self.readings.decode(raw, now_ms=now_ms)
        if fmt is None:
            try:
                return self.readings.decode(raw, now_ms=now_ms)
            except InvalidReading as exc:
                return self.decode_other(raw, key, exc, now_ms=now_ms)
        if raw is None:
            raise InvalidReading("empty", "message has no value")
        return self.decode_standard(raw, fmt, key, now_ms=now_ms)

    def decode_other(
        self, raw: bytes | None, key: bytes | None, error: InvalidReading, *, now_ms: int | None
    ) -> Decoded:
        """A record our decoder rejected with ``error``: a standard record after all, or
        ``error`` raised again. (The daemon calls our decoder directly and this only on failure,
        so our JSON pays nothing for the other formats.)"""
        fmt = sniff(raw) if raw is not None and error.code in ("schema", "oversize") else None
        if fmt is None or raw is None:
            raise error
        return self.decode_standard(raw, fmt, key, now_ms=now_ms)

    def decode_standard(
        self, raw: bytes, fmt: str, key: bytes | None, *, now_ms: int | None = None
    ) -> Decoded:
        if len(raw) > self.max_document_bytes:
            raise InvalidReading("oversize", f"message larger than {self.max_document_bytes} bytes")
        device = key.decode(errors="replace") if key else None
        parts: Iterator[Part | PartError] = (
            fhir.decode(raw) if fmt == FHIR else omh.decode(raw, device)
        )
        found: list[tuple[int, Reading, str]] = []
        errors: list[PartError] = []
        seen: set[tuple[str, int, str]] = set()
        validate = self.readings.validate
        try:
            parts = iter(list(parts))
        except InvalidReading:
            raise
        except (ValueError, ArithmeticError, TypeError) as exc:
            # a shape no rule above foresaw: the record's dead letter, never a daemon crash
            raise InvalidReading(
                "schema", f"cannot read the record ({type(exc).__name__})"
            ) from None
        for part in parts:
            if isinstance(part, PartError):
                errors.append(part)
                continue
            try:
                reading = validate(
                    _Wire(
                        part.device_id,
                        part.ts_ms,
                        part.metric.value,
                        part.value,
                        None,
                        part.interval_s,
                    ),
                    now_ms=now_ms,
                )
                if part.utc_offset_min is not None:  # the wearer's local clock, as written
                    reading = msgspec.structs.replace(reading, utc_offset_min=part.utc_offset_min)
                identity = (reading.device_id, reading.ts_ms, reading.metric.value)
                if identity in seen:
                    # one point in InfluxDB per device, metric and time: a second one would
                    # overwrite the first there but be scored twice
                    raise InvalidReading(
                        "duplicate_in_record", "another part has the same device, metric and time"
                    )
                seen.add(identity)
            except InvalidReading as exc:
                errors.append(PartError(part.path, exc.code, exc.detail, source_bytes(part.source)))
                continue
            found.append((reading.ts_ms, reading, part.path))
        found.sort(key=lambda f: f[0])  # stable: equal times keep record order
        return Decoded([f[1] for f in found], [f[2] for f in found], errors)
