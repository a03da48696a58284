"""The device-state changelog: per device, the engine snapshot + the readings offset it covers;
per partition, one record under :data:`CLOCK_KEY` with the stream-time clock's last tick.

Written in the checkpoint after the sinks are flushed and before offsets are committed. If the
daemon dies between the two, the next owner restores state that is ahead of the committed
offset; ``offset`` lets it skip exactly the records that state already includes, so scores and
alerts come out as if nothing had happened.

Compatibility across releases: a record is a msgpack array, and fields are only ever appended,
each with a default (``minutes_v1`` was the first, ``minutes`` the second: a field changes its
layout only by a new field, never in place). The reader ignores trailing fields it does not
know, so this release reads the records of a later one (a rollback) as well as those of an
earlier one; what a rollback keeps and rebuilds is in docs/reliability.md. A record it cannot
read at all fails :func:`decode_state` / :func:`decode_clock` with a ``ValueError``
(``msgspec.DecodeError``): the daemon then starts that device or clock afresh.
"""

from __future__ import annotations

import msgspec


# forbid_unknown_fields=False (msgspec's default, spelt out: it is the contract above): a
# later release's appended fields are skipped, not an error
class DeviceState(msgspec.Struct, array_like=True, forbid_unknown_fields=False):
    version: int
    partition: int
    offset: int
    engine: bytes
    # the device's open vitals_minute summaries and its late window's closed ones
    # (ingest.influx.minutes) in their layout 1, with a reading count per minute: what earlier
    # releases wrote and read (absent before them). This release reads it from their records
    # and writes it empty, which an earlier release reads as "no minute open".
    minutes_v1: bytes = b""
    # the same in ingest.influx.minutes.LAYOUT (2, without the count): a field of its own, so no
    # release reads one layout as the other
    minutes: bytes = b""


class PartitionClock(msgspec.Struct, array_like=True, forbid_unknown_fields=False):
    version: int
    partition: int
    tick_ms: int


#: the key of a partition's clock record (no device id starts with a NUL byte)
CLOCK_KEY = b"\x00clock"

_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(DeviceState)
_clock_dec = msgspec.msgpack.Decoder(PartitionClock)
VERSION = 1


def encode_state(partition: int, offset: int, engine: bytes, minutes: bytes = b"") -> bytes:
    """A device's record; ``minutes`` in :data:`ingest.influx.minutes.LAYOUT`."""
    return _enc.encode(DeviceState(VERSION, partition, offset, engine, b"", minutes))


def decode_state(data: bytes) -> DeviceState:
    return _dec.decode(data)


def encode_clock(partition: int, tick_ms: int) -> bytes:
    return _enc.encode(PartitionClock(VERSION, partition, tick_ms))


def decode_clock(data: bytes) -> PartitionClock:
    return _clock_dec.decode(data)
