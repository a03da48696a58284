"""The device-state changelog's records: device state and the per-partition clock."""

from __future__ import annotations

import msgspec
import pytest

from ingest.kafka_io.changelog import (
    CLOCK_KEY,
    decode_clock,
    decode_state,
    encode_clock,
    encode_state,
)
from messages import InvalidReading
from messages.codec import check_device_id


def test_device_state_round_trips() -> None:
    state = decode_state(encode_state(3, 41, b"\x01snapshot"))
    assert (state.partition, state.offset, state.engine) == (3, 41, b"\x01snapshot")


def test_partition_clock_round_trips() -> None:
    clock = decode_clock(encode_clock(2, 1_767_225_660_000))
    assert (clock.partition, clock.tick_ms) == (2, 1_767_225_660_000)


def test_the_clock_key_can_never_be_a_device_id() -> None:
    with pytest.raises(InvalidReading):
        check_device_id(CLOCK_KEY.decode())


def test_records_with_fields_of_a_later_release_are_read() -> None:
    """A later release appends fields (as ``minutes`` was appended): this one skips them, so a
    rollback reads what the newer daemon wrote."""
    state = decode_state(msgspec.msgpack.encode([1, 3, 41, b"engine", b"", b"minutes", "new", 7]))
    assert (state.partition, state.offset, state.engine, state.minutes) == (
        3,
        41,
        b"engine",
        b"minutes",
    )
    clock = decode_clock(msgspec.msgpack.encode([1, 2, 1_767_225_660_000, [1.5]]))
    assert (clock.partition, clock.tick_ms) == (2, 1_767_225_660_000)
    # and an earlier release's records: before minutes were appended, and with their layout 1
    assert decode_state(msgspec.msgpack.encode([1, 3, 41, b"engine"])).minutes == b""
    earlier = decode_state(msgspec.msgpack.encode([1, 3, 41, b"engine", b"minutes of layout 1"]))
    assert (earlier.minutes_v1, earlier.minutes) == (b"minutes of layout 1", b"")


def test_minutes_are_written_in_their_own_field_and_the_layout_1_field_empty() -> None:
    """An earlier release reads the fifth field as minutes of layout 1: it is written empty
    (no minute open), the minutes of layout 2 going in the sixth, which it skips."""
    fields = msgspec.msgpack.decode(encode_state(3, 41, b"engine", b"minutes"))
    assert fields == [1, 3, 41, b"engine", b"", b"minutes"]


def test_a_record_that_is_no_state_is_a_value_error() -> None:
    # a ValueError is what the daemon catches to start the device or clock afresh
    with pytest.raises(ValueError, match="Expected `array`"):
        decode_state(b"\xa5bogus")
    with pytest.raises(ValueError, match="at least length 3"):
        decode_clock(msgspec.msgpack.encode([1, 2]))
