"""Open mHealth and FHIR records -> readings (fixtures in tests/fixtures/formats/, built from
the published schemas and the FHIR R4 vital-signs examples)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages import InvalidReading, Metric, Reading, ReadingDecoder, encode_reading
from messages.codec import parse_ts
from messages.formats import Decoded, RecordDecoder, format_of, sniff
from messages.formats.units import convert, split_steps

FIXTURES = Path(__file__).parent.parent / "fixtures" / "formats"
NOW = parse_ts("2026-01-02T00:00:00Z")
DEC = RecordDecoder(ReadingDecoder())


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode(raw: bytes, key: bytes | None = b"watch-0001", **kw: object) -> Decoded:
    out = DEC.decode(raw, key=key, now_ms=NOW, **kw)  # type: ignore[arg-type]
    assert isinstance(out, Decoded)
    return out


def errors(out: Decoded) -> list[tuple[str, str]]:
    return [(e.path, e.code) for e in out.errors]


def test_own_json_stays_on_the_fast_path() -> None:
    raw = encode_reading("d1", NOW, "heart_rate", 61)
    out = DEC.decode(raw, now_ms=NOW)
    assert isinstance(out, Reading)
    assert out.value == 61.0


def test_own_json_errors_are_unchanged() -> None:
    raw = b'{"device_id":"d1","ts":1767225600000,"metric":"heart_rate"}'
    with pytest.raises(InvalidReading) as exc:
        DEC.decode(raw, now_ms=NOW)
    assert exc.value.code == "schema"
    with pytest.raises(InvalidReading) as exc:
        DEC.decode(b"{not json", now_ms=NOW)
    assert exc.value.code == "malformed_json"


def test_omh_heart_rate() -> None:
    out = decode(fixture("omh-heart-rate.json"))
    assert out.errors == []
    [r] = out.readings
    assert (r.device_id, r.ts_ms, r.metric, r.value) == (
        "watch-0001",
        parse_ts("2026-01-01T07:25:00Z"),
        Metric.HEART_RATE,
        50.0,
    )


def test_omh_series_keeps_valid_items_in_time_order_and_rejects_the_rest() -> None:
    out = decode(fixture("omh-heart-rate-series.json"))
    assert [r.value for r in out.readings] == [72.0, 71.0, 72.0][::-1]  # 07:57 Hz, 07:58, 07:59
    assert [r.ts_ms for r in out.readings] == sorted(r.ts_ms for r in out.readings)
    assert out.paths == ["$.body.heart_rate[2]", "$.body.heart_rate[1]", "$.body.heart_rate[0]"]
    assert errors(out) == [
        ("$.body.heart_rate[3]", "wrong_unit"),
        ("$.body.heart_rate[4]", "out_of_range"),
    ]
    # the dead letter carries the part's own JSON
    bad = json.loads(out.errors[0].raw or b"")
    assert bad["heart_rate"]["unit"] == "mmHg"


def test_omh_spo2_with_offset() -> None:
    [r] = decode(fixture("omh-oxygen-saturation.json")).readings
    assert r.metric is Metric.SPO2
    assert r.value == 96.5
    assert r.ts_ms == parse_ts("2026-01-01T02:10:00Z")


@pytest.mark.parametrize(
    ("name", "total", "n"), [("omh-step-count-2.json", 250, 3), ("omh-step-count-1.json", 45, 1)]
)
def test_omh_steps_split_per_minute(name: str, total: int, n: int) -> None:
    out = decode(fixture(name))
    assert out.errors == []
    assert len(out.readings) == n
    assert sum(r.value for r in out.readings) == total
    assert all(r.interval_s == 60.0 for r in out.readings)


def test_omh_sleep_stages_expand_to_epochs_and_unknown_state_is_rejected() -> None:
    out = decode(fixture("omh-sleep-stages.json"))
    assert [r.value for r in out.readings] == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]  # light deep rem
    assert errors(out) == [("$.body.sleep_stages[3]", "unknown_code")]
    assert "n2" in out.errors[0].detail


def test_omh_sleep_episode_without_stages_is_dead_lettered_not_dropped() -> None:
    out = decode(fixture("omh-sleep-episode.json"))
    assert out.readings == []
    assert errors(out) == [("$.body", "no_sleep_stages")]
    assert json.loads(out.errors[0].raw or b"")["is_main_sleep"] is True  # the body, kept


def test_omh_needs_a_key_and_a_known_schema() -> None:
    with pytest.raises(InvalidReading) as exc:
        DEC.decode(fixture("omh-heart-rate.json"), key=None, now_ms=NOW)
    assert exc.value.code == "no_device"
    point = json.loads(fixture("omh-heart-rate.json"))
    point["header"]["schema_id"]["name"] = "blood-glucose"
    with pytest.raises(InvalidReading) as exc:
        decode(json.dumps(point).encode())
    assert exc.value.code == "unknown_code"
    assert "blood-glucose" in exc.value.detail


def test_omh_malformed_body_names_its_path() -> None:
    point = json.loads(fixture("omh-heart-rate.json"))
    point["body"]["heart_rate"]["value"] = "fast"
    out = decode(json.dumps(point).encode())
    assert out.readings == []
    [(path, code)] = errors(out)
    assert (path, code) == ("$.body.heart_rate.value", "schema")


def test_fhir_heart_rate_device_from_reference() -> None:
    [r] = decode(fixture("fhir-heart-rate.json")).readings
    assert (r.device_id, r.metric, r.value) == ("watch-0001", Metric.HEART_RATE, 44.0)
    assert r.ts_ms == parse_ts("2026-01-01T08:30:00Z")


def test_fhir_spo2_fraction_is_converted_and_device_from_identifier() -> None:
    [r] = decode(fixture("fhir-spo2-fraction.json"), key=b"ring-0002").readings
    assert (r.device_id, r.metric, r.value) == ("ring-0002", Metric.SPO2, 95.0)


def test_fhir_device_falls_back_to_subject() -> None:
    obs = json.loads(fixture("fhir-heart-rate.json"))
    del obs["device"]
    [r] = decode(json.dumps(obs).encode()).readings
    assert r.device_id == "example"


def test_fhir_steps_over_a_period() -> None:
    out = decode(fixture("fhir-steps.json"))
    assert len(out.readings) == 5
    assert sum(r.value for r in out.readings) == 503
    obs = json.loads(fixture("fhir-steps.json"))
    obs["effectiveDateTime"] = obs.pop("effectivePeriod")["start"]
    assert errors(decode(json.dumps(obs).encode())) == [("$", "bad_interval")]


def test_fhir_bundle_keeps_valid_entries_and_dead_letters_each_bad_one() -> None:
    out = decode(fixture("fhir-bundle-mixed.json"))
    assert [(r.metric, r.value) for r in out.readings] == [
        (Metric.HEART_RATE, 64.0),  # 10:00, entry 1
        (Metric.HEART_RATE, 90.0),  # 10:01, entry 0: 1.5 Hz
        (Metric.SPO2, 97.0),  # 10:04, entry 7: fraction
    ]
    assert out.paths == ["$.entry[1].resource", "$.entry[0].resource", "$.entry[7].resource"]
    assert errors(out) == [
        ("$.entry[2].resource", "unknown_code"),
        ("$.entry[3].resource", "bad_timestamp"),
        ("$.entry[4].resource", "fhir_status"),
        ("$.entry[5].resource", "out_of_range"),  # 0.98 "%" is not a saturation
        ("$.entry[6].resource", "not_an_observation"),
    ]
    assert "8310-5" in out.errors[0].detail
    assert json.loads(out.errors[0].raw or b"")["code"]["coding"][0]["code"] == "8310-5"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda o: o.pop("category"), "fhir_profile"),
        (lambda o: o.pop("subject"), "fhir_profile"),
        (lambda o: o.pop("effectiveDateTime"), "fhir_profile"),
        (
            lambda o: o.pop("valueQuantity") and o.update(dataAbsentReason={"text": "x"}),
            "data_absent",
        ),
        (lambda o: o["valueQuantity"].update(system="http://example.org/units"), "wrong_unit"),
        (lambda o: o["valueQuantity"].update(code="mm[Hg]"), "wrong_unit"),
        (lambda o: o.update(effectiveDateTime="2026-01-01T09:30:00"), "bad_timestamp"),
    ],
)
def test_fhir_vital_signs_profile_rules(change: object, code: str) -> None:
    obs = json.loads(fixture("fhir-heart-rate.json"))
    change(obs)  # type: ignore[operator]
    out = decode(json.dumps(obs).encode())
    assert out.readings == []
    assert errors(out) == [("$", code)]


def test_fhir_unknown_resource_and_bad_shape_fail_the_record() -> None:
    with pytest.raises(InvalidReading) as exc:
        decode(b'{"resourceType":"Patient","id":"p1"}')
    assert exc.value.code == "unknown_code"
    assert "Patient" in exc.value.detail
    with pytest.raises(InvalidReading) as exc:
        decode(b'{"resourceType":"Observation","status":"final","code":7}')
    assert exc.value.code == "schema"
    assert "$.code" in exc.value.detail


def test_duplicate_readings_in_one_record_are_rejected() -> None:
    bundle = json.loads(fixture("fhir-bundle-mixed.json"))
    bundle["entry"].append(bundle["entry"][1])
    out = decode(json.dumps(bundle).encode())
    assert ("$.entry[8].resource", "duplicate_in_record") in errors(out)


def test_readings_pass_the_same_clock_checks_as_our_json() -> None:
    out = DEC.decode(
        fixture("fhir-heart-rate.json"), key=b"watch-0001", now_ms=NOW + 40 * 86_400_000
    )
    assert isinstance(out, Decoded)
    assert errors(out) == [("$", "ts_too_old")]


def test_content_type_header_decides() -> None:
    raw = fixture("fhir-heart-rate.json")
    assert format_of([("Content-Type", b"application/fhir+json;fhirVersion=4.0")]) == "fhir"
    assert isinstance(
        DEC.decode(raw, [("content-type", b"application/fhir+json")], now_ms=NOW), Decoded
    )
    with pytest.raises(InvalidReading) as exc:  # said to be ours: no sniffing
        DEC.decode(raw, [("content-type", b"application/json")], now_ms=NOW)
    assert exc.value.code == "schema"
    for value in (b"text/csv", None):
        with pytest.raises(InvalidReading) as exc:
            DEC.decode(raw, [("content-type", value)], now_ms=NOW)
        assert exc.value.code == "unsupported_content_type"
    # other headers (tracing) leave the format to the content
    assert isinstance(DEC.decode(raw, [("traceparent", b"00-ab")], now_ms=NOW), Decoded)


def test_sniffing() -> None:
    assert sniff(fixture("fhir-bundle-mixed.json")) == "fhir"
    assert sniff(fixture("omh-heart-rate.json")) == "omh"
    assert sniff(b'{"device_id":"x"}') is None


def test_large_bundles_use_the_document_limit() -> None:
    dec = RecordDecoder(ReadingDecoder(max_bytes=200), max_document_bytes=10_000)
    assert isinstance(dec.decode(fixture("fhir-heart-rate.json"), now_ms=NOW), Decoded)
    with pytest.raises(InvalidReading) as exc:
        RecordDecoder(ReadingDecoder(max_bytes=200), max_document_bytes=300).decode(
            fixture("fhir-heart-rate.json"), now_ms=NOW
        )
    assert exc.value.code == "oversize"


@pytest.mark.parametrize(
    ("metric", "value", "unit", "expected"),
    [
        (Metric.HEART_RATE, 72, "beats/min", 72.0),
        (Metric.HEART_RATE, 72, "/min", 72.0),
        (Metric.HEART_RATE, 1.2, "Hz", 72.0),
        (Metric.SPO2, 0.955, "1", 95.5),
        (Metric.SPO2, 95.5, "%", 95.5),
        (Metric.STEPS, 12, "{steps}", 12.0),
    ],
)
def test_unit_conversions(metric: Metric, value: float, unit: str, expected: float) -> None:
    assert convert(metric, value, unit) == pytest.approx(expected)


@pytest.mark.parametrize(("metric", "unit"), [(Metric.SPO2, "fraction"), (Metric.HEART_RATE, None)])
def test_unknown_units_are_rejected(metric: Metric, unit: str | None) -> None:
    with pytest.raises(InvalidReading) as exc:
        convert(metric, 1.0, unit)
    assert exc.value.code == "wrong_unit"


def test_split_steps_keeps_the_total() -> None:
    slices = split_steps(0, 61 * 60_000 + 1, 10_001)
    assert sum(s[1] for s in slices) == 10_001
    assert max(s[1] for s in slices) <= 1000
    with pytest.raises(InvalidReading):
        split_steps(10, 10, 1)


def test_decoded_is_a_msgspec_struct() -> None:
    # the daemon tells the fast path from a standard record by type
    assert issubclass(Decoded, msgspec.Struct)


@given(
    metric=st.sampled_from(["heart_rate", "spo2"]),
    whole=st.integers(50, 100),
    tenths=st.integers(0, 9),
    ts=st.integers(NOW - 29 * 86_400_000, NOW),
    fraction=st.booleans(),
)
def test_omh_and_fhir_give_the_reading_our_json_gives(
    metric: str, whole: int, tenths: int, ts: int, fraction: bool
) -> None:
    value = whole + tenths / 10 if whole < 100 else 100.0
    when = datetime.fromtimestamp(ts / 1000, tz=UTC).isoformat(timespec="milliseconds")
    own = DEC.decode(encode_reading("watch-0001", when, metric, value), now_ms=NOW)
    hr = metric == "heart_rate"
    unit = ("Hz" if fraction else "/min") if hr else ("1" if fraction else "%")
    sent = value / 60 if hr and fraction else value / 100 if fraction else value
    obs = json.loads(fixture("fhir-heart-rate.json"))
    obs["code"]["coding"][0]["code"] = "8867-4" if hr else "59408-5"
    obs["effectiveDateTime"] = when
    obs["valueQuantity"] = {"value": sent, "system": "http://unitsofmeasure.org", "code": unit}
    key = "heart_rate" if hr else "oxygen_saturation"
    point = json.loads(fixture("omh-heart-rate.json" if hr else "omh-oxygen-saturation.json"))
    point["body"][key] = {"value": value, "unit": "beats/min" if hr else "%"}
    point["body"]["effective_time_frame"] = {"date_time": when}
    for raw in (json.dumps(obs).encode(), json.dumps(point).encode()):
        [reading] = decode(raw).readings
        assert (reading.device_id, reading.ts_ms, reading.metric) == (
            own.device_id,
            own.ts_ms,
            own.metric,
        )
        assert reading.value == pytest.approx(own.value, abs=1e-9)


def test_absurd_durations_are_bad_intervals_not_crashes() -> None:
    point = json.loads(fixture("omh-step-count-2.json"))
    point["body"]["effective_time_frame"]["time_interval"]["duration"]["value"] = 1e308
    assert errors(decode(json.dumps(point).encode())) == [("$.body", "bad_interval")]
    point["body"]["effective_time_frame"]["time_interval"]["duration"] = {"value": 1, "unit": "yr"}
    assert errors(decode(json.dumps(point).encode())) == [("$.body", "wrong_unit")]
