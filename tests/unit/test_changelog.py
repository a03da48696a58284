"""The device-state changelog's records: device state and the per-partition clock."""

from __future__ import annotations

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
