"""The load test's pure parts: schedules, step verdicts, histogram quantiles, trigger lookup,
alert decoding and recall on real simulator labels. No services needed."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from pydantic import SecretStr

from detectors import AlertEvent
from ingest.loadtest.analysis import (
    ProducedIndex,
    bucket_delta,
    histogram_quantile,
    judge_step,
    parse_metrics,
    percentiles,
    recall,
)
from ingest.loadtest.runner import _device_names, decode_alerts
from ingest.loadtest.schedule import Schedule
from ingest.metrics import PipelineMetrics
from ingest.privacy import pseudonym
from ingest.settings import Settings
from messages.kinds import AnomalyKind


def test_schedule_paces_by_count_and_ends() -> None:
    s = Schedule([(100, 2), (300, 1)])
    assert s.total_count() == 500
    assert s.seconds == 3
    assert s.due_s(0) == 0
    assert s.due_s(199) == pytest.approx(1.99)
    assert s.due_s(200) == pytest.approx(2.0)
    assert s.due_s(350) == pytest.approx(2.5)
    assert s.due_s(500) is None
    assert s.rate_at(2.5) == 300
    assert s.rate_at(3.0) == 0
    with pytest.raises(ValueError, match="positive"):
        Schedule([(0, 1)])


def test_staircase_stops_at_max_rate() -> None:
    st = Schedule.staircase(1000, factor=1.5, max_rate=5000, seconds=10)
    assert [x.rate for x in st.steps] == [1000, 1500, 2250, 3375]
    assert [x.start_s for x in st.steps] == [0, 10, 20, 30]


def test_judge_step_sustainable_and_producer_bound() -> None:
    t = [float(i) for i in range(11)]
    produced = [1000.0 * i for i in range(11)]
    consumed = [1000.0 * i - 300 * (i % 2) for i in range(11)]  # jitter, no trend
    lag = [p - c for p, c in zip(produced, consumed, strict=True)]
    ok = judge_step(1000, t, produced, consumed, lag, tolerance=0.05)
    assert ok.sustainable, ok.reason
    assert abs(ok.lag_growth_per_s) < 50
    assert ok.achieved_rate == pytest.approx(1000)
    slow = judge_step(2000, t, produced, consumed, lag, tolerance=0.05)
    assert not slow.sustainable
    assert slow.reason.startswith("producer-bound")


def test_histogram_quantile_from_daemon_exposition() -> None:
    m = PipelineMetrics("t")
    for v in [0.2] * 90 + [1.5] * 10:
        m.e2e_latency.observe(v)
    before = parse_metrics(m.exposition().decode())
    for v in [3.0] * 100:
        m.e2e_latency.observe(v)
    after = parse_metrics(m.exposition().decode())
    b = after.buckets["vitalstream_reading_to_influx_seconds"]
    p50 = histogram_quantile(0.5, b)
    assert p50 is not None
    assert 0.1 <= p50 <= 2.0
    # only the observations between two scrapes: all 3.0 s, in the (2, 5] bucket
    d = bucket_delta(b, before.buckets["vitalstream_reading_to_influx_seconds"])
    q = histogram_quantile(0.5, d)
    assert q is not None
    assert 2.0 < q <= 5.0
    assert histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None, "n": 0}


def test_trigger_lookup_by_device_reading_then_stream() -> None:
    base = 1_767_225_600_000
    idx = ProducedIndex(base - 1000)
    idx.add(np.array([0, 1, 0]), np.array([base, base + 10, base + 20]), 100.0)
    idx.add(np.array([1, 0]), np.array([base + 30, base + 20]), 101.0)  # a duplicate, later
    assert idx.trigger_wall(0, base + 20) == (100.0, "reading")  # first delivery counts
    assert idx.trigger_wall(1, base + 30) == (101.0, "reading")
    # no reading of device 0 at base+25: the stream first carried event time >= it at 101.0
    assert idx.trigger_wall(0, base + 25) == (101.0, "stream")
    assert idx.trigger_wall(0, base + 999) is None


def _event(alert_id: str, device: str, kind: AnomalyKind, state: str, start: int, ts: int) -> bytes:
    return msgspec.json.encode(
        {
            "alert_id": alert_id,
            "device_id": device,
            "kind": kind.value,
            "category": kind.category.value,
            "severity": "critical",
            "state": state,
            "start_ms": start,
            "ts_ms": ts,
            "end_ms": None,
            "peak_value": 130.0,
            "explanation": "x",
        }
    )


def test_recall_on_real_simulator_labels_with_deduplicated_alerts() -> None:
    from simulators import FleetSimulator, load_scenario

    sim = FleetSimulator(
        load_scenario("loadtest"),
        devices=20,
        seed=5,
        start_ms=1_767_225_600_000,
        duration_ms=4 * 3_600_000,
    )
    labels = sim.event_labels
    assert labels
    lb = labels[0]
    raw = _event("a1", lb.device_id, lb.kind, "open", lb.start_ms + 60_000, lb.start_ms + 600_000)
    wrong = _event("a2", lb.device_id, lb.kind, "open", sim.end_ms + 10**8, sim.end_ms + 10**8)
    events = decode_alerts([(1.0, 1, raw), (2.0, 2, raw), (3.0, 3, wrong)])
    assert len(events) == 2, "an at-least-once duplicate is dropped"
    assert isinstance(events[0][2], AlertEvent)
    table, unmatched = recall(labels, [e for _, _, e in events], sim.end_ms)
    assert sum(v["labels"] for v in table.values()) == len(labels)
    assert table[lb.kind.value]["detected"] == 1
    assert sum(v["detected"] for v in table.values()) == 1
    assert unmatched == 1


def test_alert_device_names_map_back_from_pseudonyms(settings: Settings) -> None:
    key = "k" * 32
    privacy = settings.privacy.model_copy(update={"pseudonymize": True, "key": SecretStr(key)})
    s = settings.model_copy(update={"privacy": privacy})
    names = _device_names(s, ("ring-000000", "watch-000001"))
    assert names["watch-000001"] == 1
    assert names[pseudonym(key.encode(), "watch-000001")] == 1
    assert len(names) == 4


def test_timeseries_survives_a_failed_scrape() -> None:
    from types import SimpleNamespace

    from ingest.loadtest.analysis import Scrape
    from ingest.loadtest.report import _timeseries
    from ingest.loadtest.runner import Sample

    def scrape(n: float) -> Scrape:
        return Scrape(counters={"vitalstream_records": n})

    rows = [  # t, produced, consumed, scrape time (a failed scrape keeps the previous one)
        (0.0, 0, scrape(0), 0.0),
        (1.0, 1000, scrape(900), 1.0),
        (2.0, 2000, scrape(900), 1.0),
        (3.0, 3000, scrape(3000), 3.0),
    ]
    samples = [
        Sample(t, 1000.0, p, p, p, p - 100, sc, st, 1.0 + t, 50 << 20, t) for t, p, sc, st in rows
    ]
    lt: object = SimpleNamespace(
        samples=samples,
        s=SimpleNamespace(ingest=SimpleNamespace(flush_interval_ms=1000)),
        cfg=SimpleNamespace(sample_interval_s=1.0),
    )
    ts, _ = _timeseries(lt)  # type: ignore[arg-type]
    assert ts["achieved_rate"] == [900.0, None, 1050.0]
    assert ts["offered_rate"] == [1000.0, 1000.0, 1000.0]
    assert ts["committed_lag"] == [100, 100, 100]
    assert ts["consumed_lag"] == [100, 1100, 0]
    assert ts["daemon_cpu_percent"] == [100.0, 100.0, 100.0]
