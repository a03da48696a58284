"""Dead-letter records: the original bytes, and why and where from, in Kafka headers.

Headers (all UTF-8): ``dl.reason`` (a stable code such as ``out_of_range``), ``dl.detail``
(words), ``dl.topic``, ``dl.partition``, ``dl.offset``, ``dl.stage`` (``decode`` or ``write``).
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

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("dl.reason", self.reason.encode()),
            ("dl.detail", self.detail.encode()),
            ("dl.topic", self.topic.encode()),
            ("dl.partition", str(self.partition).encode()),
            ("dl.offset", str(self.offset).encode()),
            ("dl.stage", self.stage.encode()),
        ]


def parse_headers(headers: object) -> dict[str, str]:
    """Headers of a consumed dead-letter record as a dict (for tools and tests)."""
    out: dict[str, str] = {}
    for k, v in headers or ():  # type: ignore[attr-defined]
        out[str(k)] = bytes(v).decode(errors="replace")
    return out
