"""The fast decoder and the documented pydantic model accept and reject the same messages."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from messages import METRICS, InvalidReading, Metric, ReadingDecoder, ReadingMessage, encode_reading

NOW = 1_767_225_600_000
DEC = ReadingDecoder(max_age_ms=10**13, max_future_ms=10**13)  # clock window tested separately

values = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6),
    st.just(float("nan")),
    st.integers(min_value=-1000, max_value=1000),
    st.sampled_from(["awake", "light", "deep", "rem", "REM", "", "72"]),
)
messages = st.fixed_dictionaries(
    {
        "device_id": st.one_of(
            st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,20}", fullmatch=True),
            st.text(max_size=5),
        ),
        "ts": st.one_of(
            st.integers(min_value=0, max_value=5_000_000_000_000),
            st.sampled_from(
                [
                    "2026-01-01T00:00:00Z",
                    "2026-01-01T01:00:00+01:00",
                    "2026-01-01T00:00:00",
                    "yesterday",
                ]
            ),
        ),
        "metric": st.sampled_from([*[m.value for m in Metric], "temperature"]),
        "value": values,
    },
    optional={"unit": st.sampled_from(["bpm", "%", "count", "stage", "bps"])},
)


def _pydantic_ok(doc: dict[str, object]) -> bool:
    try:
        ReadingMessage.model_validate_json(json.dumps(doc))
    except ValidationError:
        return False
    return True


def _fast_ok(doc: dict[str, object]) -> bool:
    try:
        DEC.decode(json.dumps(doc).encode(), now_ms=NOW)
    except InvalidReading:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(messages)
def test_fast_decoder_agrees_with_pydantic_model(doc: dict[str, object]) -> None:
    # json.dumps writes NaN as a bare token, which is not JSON: both must reject it
    assert _fast_ok(doc) == _pydantic_ok(doc)


def _outcome(dec: ReadingDecoder, doc: dict[str, object]) -> object:
    try:
        return dec.decode(json.dumps(doc).encode(), now_ms=NOW)
    except InvalidReading as exc:
        return exc.code


@settings(max_examples=300, deadline=None)
@given(messages)
def test_decoder_that_knows_the_device_decides_as_a_fresh_one(doc: dict[str, object]) -> None:
    # the decoder skips the device-id pattern for ids it accepted before: same outcome
    warm = ReadingDecoder()
    if isinstance(doc["device_id"], str):
        with contextlib.suppress(InvalidReading):  # an invalid id is never remembered
            warm.decode(encode_reading(doc["device_id"], NOW, "heart_rate", 60), now_ms=NOW)
    assert _outcome(warm, doc) == _outcome(ReadingDecoder(), doc)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "malformed_json"),
        (
            b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":NaN}',
            "malformed_json",
        ),
        (b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":1e999}', "not_finite"),
        (b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":"72"}', "wrong_type"),
        (
            b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":72,"unit":"bps"}',
            "wrong_unit",
        ),
        (b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":400}', "out_of_range"),
        (b'{"device_id":"d","ts":1767225600,"metric":"heart_rate","value":72}', "bad_timestamp"),
        (b'{"device_id":"d","ts":1767232800000,"metric":"heart_rate","value":72}', "ts_in_future"),
        (b'{"device_id":"d","ts":1700000000000,"metric":"heart_rate","value":72}', "ts_too_old"),
        (
            b'{"device_id":"d d","ts":1767225600000,"metric":"heart_rate","value":72}',
            "bad_device_id",
        ),
        (b'{"device_id":"d","ts":1767225600000,"metric":"temp","value":37}', "unknown_metric"),
        (b'{"device_id":"d","ts":1767225600000,"metric":"sleep_stage","value":"nap"}', "bad_value"),
        (b'{"device_id":"d","ts":true,"metric":"heart_rate","value":72}', "schema"),
        (b"[]", "schema"),
        (b"x" * 5000, "oversize"),
        (None, "empty"),
    ],
)
def test_invalid_messages_get_a_reason_code(raw: bytes | None, code: str) -> None:
    with pytest.raises(InvalidReading) as info:
        ReadingDecoder().decode(raw, now_ms=NOW)
    assert info.value.code == code


def test_reason_never_echoes_the_reading_value() -> None:
    raw = b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":249.5}'
    ReadingDecoder().decode(raw, now_ms=NOW)  # valid
    with pytest.raises(InvalidReading) as info:
        ReadingDecoder().decode(raw.replace(b"249.5", b"251.75"), now_ms=NOW)
    assert "251.75" not in str(info.value)


@given(
    metric=st.sampled_from([m for m in Metric if not METRICS[m].categorical]),
    frac=st.floats(min_value=0, max_value=1),
    ts=st.integers(min_value=NOW - 86_400_000, max_value=NOW),
)
def test_encode_decode_round_trip(metric: Metric, frac: float, ts: int) -> None:
    spec = METRICS[metric]
    value = spec.minimum + frac * (spec.maximum - spec.minimum)
    r = ReadingDecoder().decode(encode_reading("dev-1", ts, metric, value), now_ms=NOW)
    assert (r.device_id, r.ts_ms, r.metric, r.value) == ("dev-1", ts, metric, value)


def test_rfc3339_with_offset_equals_epoch_ms() -> None:
    a = DEC.decode(encode_reading("d", "2026-01-01T01:00:00+01:00", "spo2", 97), now_ms=NOW)
    assert a.ts_ms == NOW


# --- the batch decoder: one parse over many messages, the same outcome as each alone

_VALID = [
    encode_reading("watch-1", NOW, "heart_rate", 61),
    encode_reading("watch-2", NOW - 60_000, "spo2", 97.5, interval_s=60.0, seq=3),
    encode_reading("ring.3", "2026-01-01T01:00:00+01:00", "sleep_stage", "rem"),
    encode_reading("patch:4", NOW, "steps", 12),
]
# messages that are not JSON objects alone but are, or splice into, valid JSON next to others
_TRICKY = [
    b"{}",
    b"{} {}",
    b'{"a":"}',
    b'{"}',
    b"{},{}",
    b'{"a":[{}',
    b"{}]}",
    b"{\n}",
    b" " + _VALID[0],
    _VALID[0] + b" ",
    _VALID[0] + b"\n",
    _VALID[0] + b"\n" + _VALID[1],
    _VALID[0] + _VALID[1],
    b"[" * 40 + b"]" * 40,
    b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":61,"x":'
    + b"[" * 40
    + b"]" * 40
    + b"}",
    b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":1e999}',
    b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":NaN}',
    b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":"72"}',
    b'{"device_id":"d","ts":1767225600000,"metric":"heart_rate","value":61,"unit":"bps"}',
    b'{"device_id":"d","ts":1767225600,"metric":"heart_rate","value":61}',
    b"{" + b" " * 5000 + b"}",
    b"",
    b"\xff{}",
]


def _piece(draw: st.DrawFn) -> bytes | None:
    # mostly valid, so that runs of valid messages take the one-parse path beside the others
    kind = draw(st.integers(0, 29))
    if kind >= 10:
        return draw(st.sampled_from(_VALID))
    if kind <= 4:
        return json.dumps(draw(messages)).encode()
    if kind == 5:  # a valid message cut in two: its halves may splice with their neighbours
        raw = draw(st.sampled_from(_VALID))
        cut = draw(st.integers(1, len(raw) - 1))
        return raw[:cut] if draw(st.booleans()) else raw[cut:]
    if kind == 6:
        return draw(st.binary(max_size=12)).join([b"{", b"}"])
    if kind == 7:
        return None
    return draw(st.sampled_from(_TRICKY))


@st.composite
def _batches(draw: st.DrawFn) -> list[bytes | None]:
    return [_piece(draw) for _ in range(draw(st.integers(0, 40)))]


def _one_by_one(dec: ReadingDecoder, raw: bytes | None) -> object:
    try:
        return dec.decode(raw, now_ms=NOW)
    except InvalidReading:
        return None


@settings(max_examples=500, deadline=None)
@given(_batches())
def test_batch_decoder_decides_each_message_as_alone(batch: list[bytes | None]) -> None:
    got = ReadingDecoder(max_age_ms=10**13, max_future_ms=10**13).decode_many(batch, now_ms=NOW)
    assert got == [_one_by_one(DEC, raw) for raw in batch]


def test_batch_decoder_takes_valid_messages_in_one_parse_and_isolates_bad_ones() -> None:
    batch: list[bytes | None] = [_VALID[i % 4] for i in range(64)]
    batch[37] = b'{"a":"}'
    batch[38] = b'{"}'  # alone invalid; joined to its neighbour a valid object
    dec = ReadingDecoder(max_age_ms=10**13, max_future_ms=10**13)
    got = dec.decode_many(batch, now_ms=NOW)
    assert [i for i, r in enumerate(got) if r is None] == [37, 38]
    assert got == [_one_by_one(DEC, raw) for raw in batch]
    assert dec._wires(batch[:32]) is not None  # the valid half is parsed in one call
    assert dec._wires(batch[32:48]) is None


_V0, _V1, _V2, _V3 = _VALID
_HEAD, _TAIL = _V0[: _V0.index(b'"ts"')], _V0[_V0.index(b'"ts"') :]  # one object cut in two


@pytest.mark.parametrize(
    "bad",
    [
        # two objects on one line, a message each side of a separator spliced into one object
        [_V0 + b" " + _V1, _HEAD, _TAIL],
        # the same with the two objects on two lines of one message
        [_V0 + b"\n" + _V1, _HEAD, _TAIL],
        # two objects in one message: one object more than messages
        [_V0 + _V1],
        # a message nested too deep in a field the decoder ignores
        [_V0[:-1] + b',"x":' + b"[" * 40 + b"]" * 40 + b"}"],
        # a message over the size limit
        [_V0[:-1] + b" " * 5000 + b"}"],
        # an object with a newline inside it: valid alone, and in the batch
        [_V1.replace(b",", b",\n", 1)],
    ],
)
def test_batch_decoder_is_not_fooled_by_messages_that_splice(bad: list[bytes]) -> None:
    batch: list[bytes | None] = [*bad, _V0, _V1, _V2, _V3, _V0, _V1, _V2, _V3]
    got = ReadingDecoder(max_age_ms=10**13, max_future_ms=10**13).decode_many(batch, now_ms=NOW)
    assert got == [_one_by_one(DEC, raw) for raw in batch]
    assert got[len(bad) :] == [DEC.decode(raw, now_ms=NOW) for raw in batch[len(bad) :]]
