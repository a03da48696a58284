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
