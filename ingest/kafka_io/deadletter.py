"""Dead-letter records: the original bytes, and why and where from, in Kafka headers.

Headers (all UTF-8): ``dl.reason`` (a stable code such as ``out_of_range``), ``dl.detail``
(words), ``dl.topic``, ``dl.partition``, ``dl.offset``, ``dl.stage`` (``decode`` or ``write``),
and ``dl.path`` for a part of a multi-reading record (Open mHealth, FHIR): the JSON path of the
rejected part, whose own JSON is then the value (see docs/formats.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    stage: str = "decode"
    path: str | None = None  # JSON path of a rejected part of a multi-reading record

    def headers(self) -> list[tuple[str, bytes]]:
        headers = [
            ("dl.reason", self.reason.encode()),
            ("dl.detail", self.detail.encode()),
            ("dl.topic", self.topic.encode()),
            ("dl.partition", str(self.partition).encode()),
            ("dl.offset", str(self.offset).encode()),
            ("dl.stage", self.stage.encode()),
        ]
        if self.path is not None:
            headers.append(("dl.path", self.path.encode()))
        return headers


def parse_headers(headers: object) -> dict[str, str]:
    """Headers of a consumed dead-letter record as a dict (for tools and tests)."""
    out: dict[str, str] = {}
    for k, v in headers or ():  # type: ignore[attr-defined]
        out[str(k)] = bytes(v).decode(errors="replace")
    return out
