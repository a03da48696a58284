"""Ground-truth labels that simulators write beside a stream (never inside the readings)."""

from __future__ import annotations

from typing import Any

import msgspec

from messages.kinds import AnomalyKind


class Label(msgspec.Struct, frozen=True):
    """One injected event: ``kind`` on ``device_id`` during ``[start_ms, end_ms)`` (event time)."""

    kind: AnomalyKind
    device_id: str
    start_ms: int
    end_ms: int
    severity: str = "warning"
    params: dict[str, Any] = msgspec.field(default_factory=dict)


def encode_labels(labels: list[Label]) -> bytes:
    """NDJSON, one label per line."""
    enc = msgspec.json.Encoder()
    return b"".join(enc.encode(lb) + b"\n" for lb in labels)


def decode_labels(data: bytes) -> list[Label]:
    dec = msgspec.json.Decoder(Label)
    return [dec.decode(line) for line in data.splitlines() if line.strip()]
