"""CSV (replay format), NDJSON and label files; pacing of the time modes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from messages import ReadingDecoder
from messages.labels import decode_labels
from simulators import Artefacts, FleetSimulator, Scenario, load_scenario, paced
from simulators.sinks import CSV_HEADER, write_csv, write_labels, write_ndjson

from .conftest import DAY_MS, START_MS


def _sim(**kw: object) -> FleetSimulator:
    scenario = Scenario(
        devices=4, duration_ms=2 * 3_600_000, artefacts=Artefacts(malformed_rate=0.01)
    )
    return FleetSimulator(scenario, seed=9, start_ms=START_MS, **kw)  # type: ignore[arg-type]


def test_csv_replay_format() -> None:
    buf = io.StringIO()
    n = write_csv(_sim(), buf)
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) - 1 == n
    total = sum(len(c) - c.n_malformed for c in _sim())
    assert n == total
    metrics = {r[2] for r in rows[1:]}
    assert metrics <= {"heart_rate", "spo2", "steps", "sleep_stage"}
    for device_id, ts, metric, value in rows[1:]:
        assert device_id.split("-")[0] in {"watch", "ring", "patch"}
        assert int(ts) >= START_MS - 60_000
        if metric == "sleep_stage":
            assert value in {"awake", "light", "deep", "rem"}
        else:
            float(value)


def test_ndjson_is_the_wire_stream() -> None:
    buf = io.BytesIO()
    n = write_ndjson(_sim(), buf)
    lines = buf.getvalue().split(b"\n")[:-1]
    assert len(lines) == n
    dec = ReadingDecoder()
    ok = 0
    for line in lines:
        try:
            dec.decode(line, now_ms=START_MS + DAY_MS)
            ok += 1
        except ValueError:
            pass
    assert ok == n - sum(c.n_malformed for c in _sim())


def test_labels_file_roundtrip(tmp_path: Path) -> None:
    sim = FleetSimulator(load_scenario("acute_events"), start_ms=START_MS)
    for _ in sim:
        pass
    write_labels(sim.labels, tmp_path / "labels.ndjson")
    assert decode_labels((tmp_path / "labels.ndjson").read_bytes()) == sim.labels


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s
        self.slept += s


def test_real_time_pacing_never_releases_a_reading_early() -> None:
    sim = _sim()
    fake = FakeClock()
    released = 0
    for part in paced(
        sim, 1.0, origin_ms=sim.start_ms, slice_s=5.0, clock=fake.clock, sleep=fake.sleep
    ):
        wall_ms = (fake.now - 100.0) * 1000 + sim.start_ms
        assert (part.send_ms <= wall_ms).all()
        released += len(part)
    assert released == sum(len(c) for c in _sim())
    assert fake.slept >= 2 * 3600


def test_accelerated_and_unpaced() -> None:
    fake = FakeClock()
    sim = _sim()
    list(paced(sim, 3600.0, origin_ms=sim.start_ms, clock=fake.clock, sleep=fake.sleep))
    assert 2.0 <= fake.slept < 2.5  # two hours at 3600x (+ late stragglers)
    fake = FakeClock()
    list(paced(_sim(), None, origin_ms=START_MS, clock=fake.clock, sleep=fake.sleep))
    assert fake.slept == 0


def test_slices_partition_the_chunk() -> None:
    sim = _sim()
    total = [c.send_ms for c in sim]
    parts = [
        p.send_ms
        for p in paced(_sim(), 600.0, origin_ms=START_MS, clock=lambda: 0.0, sleep=lambda s: None)
    ]
    assert np.array_equal(np.concatenate(total), np.concatenate(parts))


async def test_apaced_paces_and_keeps_every_row() -> None:
    import time

    from simulators import apaced

    quiet = Scenario(devices=3, duration_ms=120_000, artefacts=Artefacts.none())
    sim = FleetSimulator(quiet, start_ms=START_MS)
    t0 = time.monotonic()
    parts = [p async for p in apaced(sim, 600.0, origin_ms=START_MS, slice_s=0.05)]
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.19  # two minutes at 600x
    assert len(parts) > 3
    assert sum(len(p) for p in parts) == sum(len(c) for c in sim)
    unpaced = [c async for c in apaced(sim, None, origin_ms=START_MS)]
    assert sum(len(c) for c in unpaced) == sum(len(p) for p in parts)
