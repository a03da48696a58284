"""The per-record path never raises, whatever a producer sends: the committed fuzz corpus as a
regression suite, and hypothesis over raw bytes, keys and JSON of any shape. (Coverage-guided
runs: ``make fuzz``, see tests/fuzz/fuzz_records.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.records import DEFAULT_KEY, RecordHarness, corpus_inputs

_harness = RecordHarness()
_FIELDS = ["device_id", "ts", "metric", "value", "unit", "interval_s", "seq"]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999),  # plausible epoch ms
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["heart_rate", "spo2", "steps", "sleep_stage", "rem", "deep", "bpm", "%"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
readingish = st.dictionaries(
    st.sampled_from(_FIELDS) | st.text(max_size=12), json_values, max_size=9
)
keys = st.one_of(st.none(), st.just(DEFAULT_KEY), st.binary(max_size=40))


def _record(key: bytes | None, value: bytes) -> bytes:
    return (key or b"") + b"\x00" + value if key != DEFAULT_KEY else value


@pytest.mark.parametrize(("name", "data"), corpus_inputs(), ids=lambda v: str(v)[:40])
def test_every_corpus_input_goes_through(name: str, data: bytes) -> None:
    outcome = _harness.feed(data)
    assert outcome == "point" or outcome.startswith("dead:")


def test_the_corpus_reaches_points_and_the_poison_reasons() -> None:
    outcomes = {name: _harness.feed(data) for name, data in corpus_inputs()}
    assert outcomes["seed-hr"] == "point"
    assert outcomes["seed-nested"] == "dead:too_deep"
    assert outcomes["seed-huge"] == "dead:not_finite"
    assert outcomes["seed-nokey"] == "dead:key_mismatch"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=keys, value=st.binary(max_size=5000))
def test_raw_bytes_never_crash_the_loop(key: bytes | None, value: bytes) -> None:
    _harness.feed(_record(key, value))


# shallow nesting, and deep nesting under 4 KB (hypothesis raises the recursion limit while it
# runs a test, so the stack-exhausting depths get a test of their own below)
depths = st.integers(min_value=0, max_value=64) | st.integers(min_value=800, max_value=2000)


@pytest.mark.parametrize("depth", [33, 1_000, 1_900, 2_000])
def test_nesting_deep_enough_to_exhaust_the_parser_stack_is_dead_lettered(depth: int) -> None:
    """The probe's poison pill (1,900 nested arrays in an ignored field) and its kin."""
    reading = b'{"device_id":"dev-1","ts":1767225600000,"metric":"heart_rate","value":61'
    raw = reading + b',"extra":' + b"[" * depth + b"]" * depth + b"}"
    assert len(raw) <= 4096
    assert _harness.feed(raw) == "dead:too_deep"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=keys, doc=readingish, depth=depths)
def test_json_of_any_shape_never_crashes_the_loop(
    key: bytes | None, doc: dict[str, Any], depth: int
) -> None:
    shallow = min(depth, 50)
    doc = {**doc, "nested": json.loads("[" * shallow + "]" * shallow) if shallow else None}
    raw = json.dumps(doc, allow_nan=True).encode()
    if depth > 50:  # deeper than the stdlib can build: splice the brackets in as text
        raw = raw[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}"
    _harness.feed(_record(key, raw))
