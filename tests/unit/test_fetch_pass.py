"""The daemon's compiled pass over a fetch (``ingest/fetch_pass.py``, typed by
``fetch_pass.pxd``) is built, current, and does exactly what the interpreted source does: the
same lines, lanes, offsets, dead letters, alerts and device bookkeeping over a fetch with every
kind of bad record, records already applied, several partitions and grid points of stream
time, and when formatting or scoring raises."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from aiokafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

import ingest.daemon
import ingest.fetch_pass as compiled
from detectors import Engine
from detectors.engine import _interpreted
from ingest.daemon import IngestDaemon
from ingest.influx.line_protocol import reading_line
from ingest.settings import Settings
from messages import encode_reading
from tests.compiled import assert_built_and_current
from tests.unit.test_daemon_records import _observation

interpreted = _interpreted(compiled)
MIN = 60_000
TOPIC = "vitals.readings"


class _Record(NamedTuple):
    """What the daemon reads of an aiokafka ``ConsumerRecord``."""

    key: bytes | None
    value: bytes | None
    offset: int
    timestamp: int
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int = 0


class _Consumer:
    def __init__(self, tps: set[TopicPartition]) -> None:
        self.tps = tps

    def assignment(self) -> set[TopicPartition]:
        return self.tps


def test_the_compiled_pass_is_built_and_current() -> None:
    assert_built_and_current(compiled, interpreted, "fetch_pass.py", "fetch_pass.pxd")


def _fetch(start: int, partition: int) -> list[_Record]:
    """One partition's fetch: 40 minutes of heart rate and SpO2 from three devices (the last
    ten minutes of dev-0 high enough to alert), crossing grid points of stream time, with
    every kind of record the fast path leaves out."""
    records: list[tuple[bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]] = []
    for i in range(240):
        device = f"dev-{partition}{i % 3}"
        ts = start + i * 10_000
        high = i % 3 == 0 and i >= 180
        records.append(
            (device.encode(), encode_reading(device, ts, "heart_rate", 165 if high else 62), ())
        )
        if i % 2:
            records.append(
                (device.encode(), encode_reading(device, ts + 1, "spo2", 90 if high else 97), ())
            )
    dev = f"dev-{partition}0"
    bad: dict[int, tuple[bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]] = {
        7: (dev.encode(), b'{"device_id":"' + dev.encode() + b'","ts":', ()),  # cut
        8: (dev.encode(), b'1,"metric":"spo2","value":97}', ()),  # the rest of it
        20: (b"other", encode_reading(dev, start + 200_000, "spo2", 97), ()),  # mis-keyed
        21: (None, encode_reading(dev, start + 210_000, "spo2", 97), ()),  # no key
        22: (dev.encode(), None, ()),  # a tombstone
        40: (dev.encode(), encode_reading(dev, start + 400_000, "spo2", 140), ()),  # range
        41: (dev.encode(), encode_reading(dev, start + 410_000, "speed", 3), ()),  # metric
        60: (b"dev-9", _observation("dev-9", start + 600_000), ()),  # FHIR, no header
        61: (
            dev.encode(),
            _observation(dev, start + 610_000),
            (("content-type", b"application/fhir+json"),),
        ),
        62: (dev.encode(), encode_reading(dev, start + 620_000, "heart_rate", 61), (("x", b""),)),
        90: (dev.encode(), b"{" * 200 + b"}" * 200, ()),  # too deep
    }
    for at, record in bad.items():
        records[at] = record
    return [
        _Record(key, value, offset, start + offset, headers, partition)
        for offset, (key, value, headers) in enumerate(records)
    ]


def _run(
    fetch_pass: Any,
    monkeypatch: pytest.MonkeyPatch,
    *,
    engine: Callable[[Settings], Any] = lambda s: Engine(s.detection),
) -> dict[str, Any]:
    """Everything a daemon built with ``fetch_pass`` makes of three fetches of two
    partitions, the first of them partly applied before (a restart's replay)."""
    monkeypatch.setattr(ingest.daemon, "record_values", fetch_pass.record_values)
    monkeypatch.setattr(ingest.daemon, "scan_partition", fetch_pass.scan_partition)
    monkeypatch.setattr(ingest.daemon, "format_points", fetch_pass.format_points)
    settings = Settings(privacy={"pseudonymize": False})  # type: ignore[arg-type]
    daemon = IngestDaemon(settings, engine=engine(settings))
    tps = [TopicPartition(TOPIC, p) for p in (0, 1)]
    daemon.consumer = _Consumer(set(tps))  # type: ignore[assignment]
    start = (int(time.time() * 1000) - 3 * 3_600_000) // MIN * MIN + 7_000
    fetches = {tp: _fetch(start, tp.partition) for tp in tps}
    daemon._applied["dev-01"] = 30  # its state covers these: skipped
    for tp in tps:
        daemon._positions[tp] = 0
    for lo, hi in ((0, 120), (120, 121), (121, 400)):
        daemon._process({tp: records[lo:hi] for tp, records in fetches.items()})  # type: ignore[misc]
    pending = daemon._pending
    return {
        "lines": pending.lines,
        "lanes": pending.lanes,
        "sources": [None if s is None else (s.partition, s.offset) for s in pending.sources],
        "dead_letters": [(d.reason, d.partition, d.offset, d.path) for d in pending.dead_letters],
        "alerts": [(a.device_id, a.kind, a.state, a.ts_ms) for a in pending.alerts],
        "offsets": pending.offsets,
        "record_ts_ms": pending.record_ts_ms,
        "applied": daemon._applied,
        "owners": daemon._device_partition,
        "dirty": daemon._dirty,
        "clocks": {p: c.tick_ms for p, c in daemon._clocks.items()},
        "readings": daemon.metrics.readings._value.get(),
        "skipped": daemon.metrics.skipped._value.get(),
        "records": daemon.metrics.records._value.get(),
        "minutes": {d: daemon.minutes.snapshot(d) for d in daemon._device_partition},
    }


def test_compiled_and_interpreted_passes_give_the_same_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled_out = _run(compiled, monkeypatch)
    interpreted_out = _run(interpreted, monkeypatch)
    assert compiled_out == interpreted_out
    # the fetches reached every branch, so the equality says something
    reasons = {reason for reason, *_ in compiled_out["dead_letters"]}
    assert {"key_mismatch", "out_of_range", "unknown_metric", "too_deep"} <= reasons
    assert compiled_out["alerts"], "the high heart rate opened an alert"
    assert compiled_out["skipped"] > 0
    assert any(line.startswith("vitals_minute,") for line in compiled_out["lines"])
    assert len(compiled_out["clocks"]) == 2


class _FailingEngine(Engine):
    """Raises when a batch holds dev-12's reading at a given time (a bug in scoring)."""

    def process(self, readings: Any) -> Any:
        if any(r.device_id == "dev-12" and r.ts_ms % 60_000 == 17_000 for r in readings):
            raise RuntimeError("a scoring bug")
        return super().process(readings)


def test_both_passes_fall_back_alike_when_formatting_or_scoring_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fails_for_dev_11(s: Any, tag: str) -> str:
        if s.device_id == "dev-11":
            raise RuntimeError("a formatting bug")
        return reading_line(s, tag)

    monkeypatch.setattr(ingest.daemon, "reading_line", fails_for_dev_11)
    outs = [
        _run(mod, monkeypatch, engine=lambda s: _FailingEngine(s.detection))
        for mod in (compiled, interpreted)
    ]
    assert outs[0] == outs[1]
    internal = [d for d in outs[0]["dead_letters"] if d[0] == "internal_error"]
    assert internal, "the records that raised are dead-lettered"
    assert {d[1] for d in internal} == {1}, "dev-11 and dev-12 are partition 1's"
    assert not any("device=dev-11,metric" in line for line in outs[0]["lines"])


_scan_record = st.tuples(
    st.sampled_from([b"a", b"b", None]),  # the key
    st.sampled_from(["a", "b"]),  # the reading's device
    st.integers(0, 250_000),  # its event time
    st.integers(0, 3),  # 0: the fast path left it out; 1: headers; 2-3: a plain record
    st.integers(0, 3),  # readings the general path finds in it (0-3)
)


class _Reading(NamedTuple):
    device_id: str
    ts_ms: int


@settings(max_examples=200, deadline=None)
@given(st.lists(_scan_record, max_size=40), st.integers(-1, 20), st.booleans())
def test_the_scan_is_the_same_compiled_and_interpreted(
    recs: list[tuple[bytes | None, str, int, int, int]], applied_to: int, started: bool
) -> None:
    """Both builds of :func:`scan_partition` over the same records, with a fake general path
    and clock: the same calls back in the same order, readings, sources, counts."""
    records = [
        _Record(key, b"", offset, offset, (("h", b""),) if kind == 1 else ())
        for offset, (key, _, _, kind, _) in enumerate(recs)
    ]
    fast = [None if kind == 0 else _Reading(device, ts) for (_, device, ts, kind, _) in recs]
    results = []
    for mod in (compiled, interpreted):
        calls: list[Any] = []

        def general(rec: _Record, calls: list[Any] = calls) -> list[_Reading] | None:
            calls.append(("general", rec.offset))
            _, device, ts, _, n = recs[rec.offset]
            return None if n == 3 else [_Reading(device, ts + k) for k in range(n)]

        def boundary(
            ts: int, readings: list[Any], sources: list[Any], calls: list[Any] = calls
        ) -> tuple[int, bool]:
            calls.append(("boundary", ts, list(readings), [s.offset for s in sources]))
            return (ts // 60_000 + 1) * 60_000, ts % 2 == 0

        timestamps: list[int] = []
        out = mod.scan_partition(
            records,
            fast,
            {"a": applied_to},
            60_000 if started else mod.NO_TICK,
            general,
            boundary,
            [],
            [],
            timestamps,
        )
        results.append((calls, out[0], [s.offset for s in out[1]], out[2], out[3], timestamps))
    assert results[0] == results[1]
