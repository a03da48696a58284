"""Open mHealth, FHIR and our own JSON interleaved on one readings topic, through the real daemon:
every valid reading in InfluxDB exactly once, every invalid part dead-lettered with its path and
reason, a record's valid readings kept beside its rejected parts (docs/formats.md)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from ingest.kafka_io.deadletter import parse_headers
from ingest.kafka_security import kafka_client_kwargs
from ingest.privacy import Pseudonymizer
from ingest.settings import Settings
from messages import encode_reading
from tests.integration.harness import (
    create_bucket,
    ensure_topic,
    isolated_settings,
    read_all,
    running_daemon,
    vitals_identities,
    wait_committed,
)

MIN = 60_000
VS = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                   "code": "vital-signs"}]}]  # fmt: skip


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Feed:
    """Records to produce, with what each must give: readings stored, parts dead-lettered."""

    records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    readings: set[tuple[str, str, int]] = field(default_factory=set)
    dead: list[tuple[str | None, str]] = field(default_factory=list)

    def add(
        self,
        key: str,
        value: object,
        readings: list[tuple[str, str, int]],
        dead: list[tuple[str | None, str]] = (),  # type: ignore[assignment]
        content_type: str | None = None,
    ) -> None:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        headers = [("content-type", content_type.encode())] if content_type else []
        self.records.append((key.encode(), raw, headers))
        self.readings.update(readings)
        self.dead.extend(dead)


def interval(start: int, end: int) -> dict[str, str]:
    return {"start_date_time": iso(start), "end_date_time": iso(end)}


def omh(name: str, body: dict[str, object]) -> dict[str, object]:
    return {
        "header": {
            "id": f"dp-{name}-{time.monotonic_ns()}",
            "creation_date_time": iso(int(time.time() * 1000)),
            "schema_id": {"namespace": "omh", "name": name, "version": "2.0"},
        },
        "body": body,
    }


def observation(
    device: str, code: str, ts: int, value: float, unit: str, status: str = "final"
) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": status,
        "category": VS,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/p-1"},
        "device": {"reference": f"Device/{device}"},
        "effectiveDateTime": iso(ts),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                          "code": unit},
    }  # fmt: skip


def build_feed(t0: int) -> Feed:
    f = Feed()
    for i in range(30):  # one minute apart, three formats taking turns per device
        t = t0 + i * MIN
        f.add(
            "own-1",
            encode_reading("own-1", t, "heart_rate", 60 + i % 5),
            [("own-1", "heart_rate", t)],
        )
        hr = {"heart_rate": {"value": 70 + i % 7, "unit": "beats/min"},
              "effective_time_frame": {"date_time": iso(t)}}  # fmt: skip
        f.add("omh-1", omh("heart-rate", hr), [("omh-1", "heart_rate", t)],
              content_type="application/vnd.openmhealth+json" if i % 2 else None)  # fmt: skip
        fhir_type = "application/fhir+json" if i % 3 else None
        f.add("fhir-1", observation("fhir-1", "8867-4", t, 1.1 + i / 100, "Hz"),
              [("fhir-1", "heart_rate", t)], content_type=fhir_type)  # fmt: skip
    t = t0 + 40 * MIN
    # an OMH series with one item in an unknown unit and one out of range
    items = [(80, "beats/min"), (81, "mmHg"), (82, "beats/min"), (900, "beats/min")]
    series = {"heart_rate": [
        {"heart_rate": {"value": v, "unit": u},
         "effective_time_frame": {"date_time": iso(t + k * 5000)}}
        for k, (v, u) in enumerate(items)
    ]}  # fmt: skip
    f.add(
        "omh-1",
        omh("heart-rate", series),
        [("omh-1", "heart_rate", t), ("omh-1", "heart_rate", t + 10_000)],
        [("$.body.heart_rate[1]", "wrong_unit"), ("$.body.heart_rate[3]", "out_of_range")],
    )
    # steps over 3 minutes -> three readings; sleep stages -> 30 s epochs, one unknown state
    steps = {
        "step_count": {"value": 300, "unit": "steps"},
        "effective_time_frame": {"time_interval": interval(t, t + 3 * MIN)},
    }
    f.add("omh-1", omh("step-count", steps), [("omh-1", "steps", t + k * MIN) for k in (1, 2, 3)])
    sleep = {"sleep_stages": [
        {"sleep_stage_state": "deep",
         "sleep_stage_time_frame": {"time_interval": interval(t, t + MIN)}},
        {"sleep_stage_state": "n3",
         "sleep_stage_time_frame": {"time_interval": interval(t + MIN, t + 2 * MIN)}},
    ]}  # fmt: skip
    f.add("omh-2", omh("sleep-episode", sleep),
          [("omh-2", "sleep_stage", t), ("omh-2", "sleep_stage", t + 30_000)],
          [("$.body.sleep_stages[1]", "unknown_code")])  # fmt: skip
    # a FHIR Bundle: valid entries kept, each bad one dead-lettered where it is
    other_device = observation("fhir-9", "8867-4", t + 4 * MIN, 70, "/min")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": observation("fhir-1", "59408-5", t, 0.97, "1")},
        {"resource": observation("fhir-1", "8310-5", t, 36.6, "Cel")},
        {"resource": observation("fhir-1", "8867-4", t + MIN, 64, "/min", "entered-in-error")},
        {"resource": {"resourceType": "Patient", "id": "p-1"}},
        {"resource": other_device},
        {"resource": observation("fhir-1", "8867-4", t + 2 * MIN, 66, "/min")},
    ]}  # fmt: skip
    bad = ["unknown_code", "fhir_status", "not_an_observation", "key_mismatch"]
    f.add(
        "fhir-1",
        bundle,
        [("fhir-1", "spo2", t), ("fhir-1", "heart_rate", t + 2 * MIN)],
        [(f"$.entry[{i}].resource", code) for i, code in enumerate(bad, start=1)],
    )
    steps_obs = observation("fhir-1", "55423-8", t, 150, "{steps}")
    del steps_obs["effectiveDateTime"]
    steps_obs["effectivePeriod"] = {"start": iso(t), "end": iso(t + 2 * MIN)}
    f.add("fhir-1", steps_obs, [("fhir-1", "steps", t + MIN), ("fhir-1", "steps", t + 2 * MIN)])
    # whole records that are nothing: the original error, no path
    f.add(
        "own-1", b'{"device_id":"own-1","metric":"heart_rate","value":60}', [], [(None, "schema")]
    )
    f.add("fhir-1", {"resourceType": "Patient", "id": "p-1"}, [], [(None, "unknown_code")])
    f.add("omh-1", b"{}", [], [(None, "schema")], content_type="application/fhir+json")
    f.add("omh-1", b"a,b", [], [(None, "unsupported_content_type")], content_type="text/csv")
    return f


async def produce_with_headers(s: Settings, feed: Feed) -> None:
    producer = AIOKafkaProducer(**kafka_client_kwargs(s), acks="all", linger_ms=20)
    await producer.start()
    try:
        futures = [
            await producer.send(s.topics.readings, v, key=k, headers=h) for k, v, h in feed.records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def test_standard_formats_interleaved_on_one_topic(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    await ensure_topic(s)
    t0 = (int(time.time() * 1000) - 3 * 3_600_000) // MIN * MIN
    feed = build_feed(t0)
    await produce_with_headers(s, feed)
    async with running_daemon(s):
        offsets = await wait_committed(s)
    assert sum(offsets.values()) == len(feed.records), "committed offsets cover all records"

    pseudo = Pseudonymizer(s.pseudonym_key())
    expected = {(pseudo(d), m, t) for d, m, t in feed.readings}
    got = vitals_identities(s)
    assert len(got) == len(set(got)), "no reading stored twice"
    assert set(got) == expected, "every valid reading stored, nothing else"

    dead = await read_all(s, s.topics.dead_letter)
    headers = [parse_headers(r.headers) for r in dead]  # type: ignore[attr-defined]
    assert Counter((h.get("dl.path"), h["dl.reason"]) for h in headers) == Counter(feed.dead)
    assert all(h["dl.detail"] and h["dl.topic"] == s.topics.readings for h in headers)
    by_path = {h.get("dl.path"): r.value for h, r in zip(headers, dead, strict=True)}  # type: ignore[attr-defined]
    # a rejected part's dead letter carries that part's JSON
    assert json.loads(by_path["$.entry[1].resource"])["code"]["coding"][0]["code"] == "8310-5"
    assert json.loads(by_path["$.body.heart_rate[1]"])["heart_rate"]["unit"] == "mmHg"
