"""The daemon's per-record step with multi-reading records, without Kafka: all of a record's
readings are scored, even when a tick of stream time falls inside the record, and a record the
restored device state already covers is skipped as a whole (docs/formats.md)."""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple

import httpx
import msgspec
from aiokafka import TopicPartition

from ingest.daemon import IngestDaemon
from ingest.influx.writer import InfluxWriter
from ingest.kafka_io.changelog import decode_state
from ingest.settings import Settings
from messages import encode_reading
from tests.unit.test_minutes import layout_1

MIN = 60_000


class _Record(NamedTuple):
    key: bytes | None
    value: bytes
    offset: int
    timestamp: int
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int = 0  # the daemon keeps the record as the source of its points


class _Consumer:
    def __init__(self, tps: set[TopicPartition]) -> None:
        self.tps = tps

    def assignment(self) -> set[TopicPartition]:
        return self.tps


def _daemon(tp: TopicPartition) -> IngestDaemon:
    settings = Settings(privacy={"pseudonymize": False})  # type: ignore[arg-type]
    daemon = IngestDaemon(settings)
    daemon.consumer = _Consumer({tp})  # type: ignore[assignment]
    return daemon


def _sleep_stages(start: int, minutes: int) -> bytes:
    def iso(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))

    point: dict[str, Any] = {
        "header": {"schema_id": {"namespace": "omh", "name": "sleep-episode", "version": "1.1"}},
        "body": {
            "sleep_stages": [
                {
                    "sleep_stage_state": "light",
                    "sleep_stage_time_frame": {
                        "time_interval": {
                            "start_date_time": iso(start),
                            "end_date_time": iso(start + minutes * MIN),
                        }
                    },
                }
            ]
        },
    }
    return json.dumps(point).encode()


def _observation(device: str, ts: int) -> bytes:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/p"},
        "device": {"reference": f"Device/{device}"},
        "effectiveDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts / 1000)),
        "valueQuantity": {"value": 61, "code": "/min"},
    }
    return json.dumps(obs).encode()


def test_a_multi_reading_record_is_scored_whole_and_skipped_whole() -> None:
    tp = TopicPartition("vitals.readings", 0)
    start = (int(time.time() * 1000) - 3_600_000) // MIN * MIN
    own = encode_reading("dev-1", start - MIN, "heart_rate", 60)
    # 5 minutes of stages: 10 epochs, crossing 5 one-minute ticks of stream time
    batch = [
        _Record(b"dev-1", own, 0, start),
        _Record(b"dev-1", _sleep_stages(start, 5), 1, start),
        _Record(b"dev-2", _observation("dev-9", start), 2, start),  # key is not the device
    ]
    first = _daemon(tp)
    first._positions[tp] = 0
    first._process({tp: batch})  # type: ignore[dict-item]
    assert first.metrics.readings._value.get() == 1 + 10
    assert first._applied["dev-1"] == 1
    assert [(d.reason, d.path) for d in first._pending.dead_letters] == [("key_mismatch", "$")]

    # a restarted daemon whose restored state covers offsets 0-1 reads the batch again
    second = _daemon(tp)
    second._positions[tp] = 0
    second._applied["dev-1"] = 1
    second._process({tp: batch})  # type: ignore[dict-item]
    assert second.metrics.readings._value.get() == 0
    assert second.metrics.skipped._value.get() == 1 + 10


def test_a_fetch_decoded_in_one_parse_keeps_each_record_s_outcome() -> None:
    # a fetch large enough for the batch decoder, with bad and standard records among ours
    tp = TopicPartition("vitals.readings", 0)
    start = (int(time.time() * 1000) - 3_600_000) // MIN * MIN
    values: list[tuple[bytes, bytes]] = [
        (f"dev-{i % 3}".encode(), encode_reading(f"dev-{i % 3}", start + i * 1000, "spo2", 97))
        for i in range(24)
    ]
    values[5] = (b"dev-2", b'{"device_id":"dev-2","ts":')  # cut: spliced with the next one
    values[6] = (b"dev-0", b'1,"metric":"spo2","value":97}')
    values[9] = (b"dev-1", encode_reading("dev-0", start, "spo2", 97))  # mis-keyed
    values[12] = (b"dev-9", _observation("dev-9", start))  # FHIR without a header
    values[15] = (b"dev-0", encode_reading("dev-0", start, "spo2", 140))
    batch = [_Record(key, value, i, start) for i, (key, value) in enumerate(values)]
    daemon = _daemon(tp)
    daemon._positions[tp] = 0
    daemon._process({tp: batch})  # type: ignore[dict-item]
    assert [(d.reason, d.offset) for d in daemon._pending.dead_letters] == [
        ("malformed_json", 5),
        ("schema", 6),
        ("key_mismatch", 9),
        ("out_of_range", 15),
    ]
    assert daemon.metrics.readings._value.get() == 24 - 5 + 1  # the Observation's reading
    assert [s.offset for s in daemon._pending.sources] == [
        i for i in range(24) if i not in (5, 6, 9, 15)
    ]


def test_a_point_that_fails_to_format_dead_letters_its_record_only(monkeypatch: Any) -> None:
    import ingest.daemon

    tp = TopicPartition("vitals.readings", 0)
    start = (int(time.time() * 1000) - 3_600_000) // MIN * MIN
    batch = [
        _Record(
            f"dev-{i % 2}".encode(), encode_reading(f"dev-{i % 2}", start + i, "spo2", 97), i, 0
        )
        for i in range(10)
    ]
    real = ingest.daemon.reading_line

    def fails_for_dev_1(s: Any, tag: str) -> str:
        if s.device_id == "dev-1":
            raise RuntimeError("a formatting bug")
        return real(s, tag)

    monkeypatch.setattr(ingest.daemon, "reading_line", fails_for_dev_1)
    daemon = _daemon(tp)
    daemon._positions[tp] = 0
    daemon._process({tp: batch})  # type: ignore[dict-item]
    assert len(daemon._pending.lines) == 5
    assert [(d.reason, d.offset) for d in daemon._pending.dead_letters] == [
        ("internal_error", i) for i in range(1, 10, 2)
    ]
    assert daemon._applied == {"dev-0": 8}  # the failed device's state is not marked applied


def _heart_rate(start: int, offsets: range) -> list[_Record]:
    """One heart rate reading every 10 s, one record each."""
    return [
        _Record(
            b"dev-1", encode_reading("dev-1", start + i * 10_000, "heart_rate", 60 + i % 7), i, 0
        )
        for i in offsets
    ]


def _minute_points(lines: list[str]) -> dict[str, str]:
    """vitals_minute lines by point identity (series and timestamp): the last write wins."""
    out = {}
    for line in lines:
        if line.startswith("vitals_minute,"):
            series, fields, ts = line.split(" ")
            out[f"{series} {ts}"] = fields
    return out


def test_minute_summaries_are_written_before_the_commit_and_continue_after_a_restart() -> None:
    tp = TopicPartition("vitals.readings", 0)
    start = (int(time.time() * 1000) - 2 * 3_600_000) // MIN * MIN
    batch = _heart_rate(start, range(30))  # 5 minutes, 6 readings each

    whole = _daemon(tp)
    whole._positions[tp] = 0
    whole._process({tp: batch})  # type: ignore[dict-item]
    expected = _minute_points(whole._take_pending(commit=True).lines)
    assert len(expected) == 5

    # killed after committing 2.5 minutes: the open minute is written partial with the commit,
    # and its state goes into the changelog record beside the engine's
    first = _daemon(tp)
    first._positions[tp] = 0
    first._process({tp: batch[:15]})  # type: ignore[dict-item]
    cp = first._take_pending(commit=True)
    written = _minute_points(cp.lines)
    assert len(written) == 3
    assert f"vitals_minute,device=dev-1,metric=heart_rate {start + 2 * MIN}" in written
    [state] = [decode_state(value) for key, value, _ in cp.states if key == b"dev-1"]

    second = _daemon(tp)
    second.engine.restore("dev-1", state.engine)
    assert second.minutes.restore("dev-1", state.minutes)
    [(_, partial)] = second.minutes.open_minutes(["dev-1"])
    assert partial.minute_ms == start + 2 * MIN, "the minute half-way through is open"
    second._applied["dev-1"] = state.offset
    second._positions[tp] = 0
    second._process({tp: batch})  # type: ignore[dict-item]  # read again from the start
    written.update(_minute_points(second._take_pending(commit=True).lines))
    assert written == expected, "the partial minute is overwritten by the same summary"


def test_a_state_record_of_a_later_release_is_restored_and_an_unreadable_one_starts_afresh() -> (
    None
):
    """Rollback safety: a changelog record with a field this release does not know (appended by
    a later one) restores the device as without it; a record it cannot read at all starts the
    device afresh, counted, instead of failing the restore."""
    tp = TopicPartition("vitals.readings", 0)
    start = (int(time.time() * 1000) - 2 * 3_600_000) // MIN * MIN
    first = _daemon(tp)
    first._positions[tp] = 0
    first._process({tp: _heart_rate(start, range(15))})  # type: ignore[dict-item]
    states = first._take_pending(commit=True).states
    [value] = [value for key, value, _ in states if key == b"dev-1"]
    fields = msgspec.msgpack.decode(value)
    assert len(fields) == 6, "the written format is unchanged"
    later = msgspec.msgpack.encode([*fields, {"a field": "of a later release"}])

    second = _daemon(tp)
    assert second._restore_device("dev-1", later)
    assert second._applied["dev-1"] == 14
    assert second.engine.snapshot("dev-1") == first.engine.snapshot("dev-1")
    assert second.minutes.snapshot("dev-1") == first.minutes.snapshot("dev-1") != b"\x90"
    assert second.metrics.state_refused._value.get() == 0

    third = _daemon(tp)
    assert not third._restore_device("dev-1", b"\xa5bogus")
    assert "dev-1" not in third._applied
    assert third.metrics.state_refused._value.get() == 1


def test_a_state_record_of_an_earlier_release_restores_its_minutes_of_layout_1() -> None:
    """Rolling forward: a record the previous release wrote (five fields, its minutes in
    layout 1 with a reading count) restores the device's minutes as this release's own record
    does; minutes that cannot be read start afresh, counted, the device state kept."""
    tp = TopicPartition("vitals.readings", 0)
    start = (int(time.time() * 1000) - 2 * 3_600_000) // MIN * MIN
    first = _daemon(tp)
    first._positions[tp] = 0
    first._process({tp: _heart_rate(start, range(15))})  # type: ignore[dict-item]
    [value] = [v for key, v, _ in first._take_pending(commit=True).states if key == b"dev-1"]
    version, partition, offset, engine, _, minutes = msgspec.msgpack.decode(value)
    earlier = msgspec.msgpack.encode([version, partition, offset, engine, layout_1(minutes)])

    second = _daemon(tp)
    assert second._restore_device("dev-1", earlier)
    assert second.minutes.snapshot("dev-1") == first.minutes.snapshot("dev-1") != b"\x90"
    assert second.engine.snapshot("dev-1") == first.engine.snapshot("dev-1")
    assert second.metrics.minutes_refused._value.get() == 0

    third = _daemon(tp)
    unreadable = msgspec.msgpack.encode([version, partition, offset, engine, b"\xc1"])
    assert third._restore_device("dev-1", unreadable)
    assert third._applied["dev-1"] == 14
    assert third.minutes.open_minutes(["dev-1"]) == []
    assert third.metrics.minutes_refused._value.get() == 1
    assert third.metrics.state_refused._value.get() == 0


async def test_a_point_too_large_for_influxdb_is_dead_lettered_as_influx_413() -> None:
    """InfluxDB (or a proxy before it) answers 413 for a reading's point even alone: the
    reading goes to a dead letter with reason ``influx_413``, the others are written."""
    tp = TopicPartition("vitals.readings", 0)
    start = (int(time.time() * 1000) - 3_600_000) // MIN * MIN
    batch = _heart_rate(start, range(12))
    too_large = "value=62"  # the readings of one value stand in for points over the limit
    written: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        lines = req.content.decode().split("\n")
        if any(too_large in line for line in lines):
            return httpx.Response(413, json={"message": "request entity too large"})
        written.extend(lines)
        return httpx.Response(204)

    daemon = _daemon(tp)
    daemon._positions[tp] = 0
    daemon.writer = InfluxWriter(
        url="http://influx.test",
        org="o",
        bucket="b",
        token="t",
        transport=httpx.MockTransport(handler),
    )
    daemon._process({tp: batch})  # type: ignore[dict-item]
    cp = daemon._take_pending(commit=False)
    n_lines = len(cp.lines)
    await daemon._checkpoint(cp)
    await daemon.writer.aclose()
    dead = daemon._pending.dead_letters  # exactly-once: they wait for the commit's transaction
    expected = [r for r in batch if b'"value":62' in r.value]
    assert expected, "the fixture has readings of that value"
    assert [(d.reason, d.stage, d.offset) for d in dead] == [
        ("influx_413", "write", r.offset) for r in expected
    ]
    assert [d.value for d in dead] == [r.value for r in expected], "the original record"
    assert "too large" in dead[0].detail
    assert len(written) == n_lines - len(expected)
