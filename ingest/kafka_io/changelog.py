"""The device-state changelog record: engine snapshot + the readings offset it covers.

Written in the checkpoint after the sinks are flushed and before offsets are committed. If the
daemon dies between the two, the next owner restores state that is ahead of the committed
offset; ``offset`` lets it skip exactly the records that state already includes, so scores and
alerts come out as if nothing had happened.
"""

from __future__ import annotations

import msgspec


class DeviceState(msgspec.Struct, array_like=True):
    version: int
    partition: int
    offset: int
    engine: bytes


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(DeviceState)
VERSION = 1


def encode_state(partition: int, offset: int, engine: bytes) -> bytes:
    return _enc.encode(DeviceState(VERSION, partition, offset, engine))


def decode_state(data: bytes) -> DeviceState:
    return _dec.decode(data)
