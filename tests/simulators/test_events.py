"""Every anomaly kind can be injected, is labelled with its span, and looks like its definition."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from messages import METRICS
from messages.kinds import AnomalyKind
from messages.labels import Label
from simulators import (
    MALFORMED,
    METRIC_ORDER,
    Artefacts,
    Chunk,
    EventSpec,
    FleetSimulator,
    Scenario,
)
from simulators.chunk import HR, SLEEP, SPO2, STEPS

from .conftest import DAY_MS, START_MS

MIN = 60_000
K = AnomalyKind


@dataclass
class Rows:
    dev: NDArray[np.int32]
    ts: NDArray[np.int64]
    metric: NDArray[np.int8]
    value: NDArray[np.float64]
    send: NDArray[np.int64]

    def of(
        self, label: Label, sim: FleetSimulator, metric: int, lo: int = 0, hi: int = 0
    ) -> NDArray[np.float64]:
        d = sim.device_ids.index(label.device_id)
        sel = (
            (self.dev == d)
            & (self.metric == metric)
            & (self.ts >= label.start_ms + lo)
            & (self.ts < label.end_ms + hi)
        )
        return self.value[sel]


def collect(chunks: Iterable[Chunk]) -> Rows:
    """Well-formed rows of a run, concatenated."""
    cols: list[list[NDArray[Any]]] = [[], [], [], [], []]
    for c in chunks:
        ok = (c.flags & MALFORMED) == 0
        for col, a in zip(cols, (c.device_idx, c.ts_ms, c.metric, c.value, c.send_ms), strict=True):
            col.append(a[ok])
    dev, ts, metric, value, send = (np.concatenate(col) for col in cols)
    return Rows(dev, ts, metric, value, send)


# a clean clock and no transport faults so spans can be checked to the minute
CLEAN = Artefacts(clock_drift_ppm=0.0, late_rate=0.0, duplicate_rate=0.0, malformed_rate=0.0)


@pytest.fixture(scope="module")
def all_kinds() -> tuple[FleetSimulator, Rows]:
    events = tuple(
        EventSpec(
            kind=k,
            devices=[i],
            severity=0.6,
            day=2 if k in _MULTI_DAY else None,
            # an illness spans 8-26 days: a short one fits the week
            params={"lead_days": 1.0, "recovery_days": 3.25} if k is K.ILLNESS else {},
        )
        for i, k in enumerate(AnomalyKind)
    )
    scenario = Scenario(
        devices=len(AnomalyKind),
        duration_ms=7 * DAY_MS,
        events=events,
        artefacts=CLEAN,
        models={"watch": 1.0},
    )
    sim = FleetSimulator(scenario, seed=21, start_ms=START_MS)
    return sim, collect(sim)


_MULTI_DAY = {K.ELEVATED_RESTING_HR, K.SLEEP_DISRUPTION, K.UNUSUAL_INACTIVITY, K.ILLNESS}


def _label(sim: FleetSimulator, kind: AnomalyKind) -> Label:
    (label,) = [lb for lb in sim.event_labels if lb.kind is kind]
    return label


def test_every_kind_is_labelled_with_its_span(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, _ = all_kinds
    kinds = {lb.kind for lb in sim.event_labels}
    assert kinds == set(AnomalyKind)
    for event, label in zip(
        sim.events,
        sorted(sim.event_labels, key=lambda x: (x.start_ms, x.device_id, x.kind.value)),
        strict=True,
    ):
        assert label.end_ms - label.start_ms == event.end_ms - event.start_ms
        assert sim.start_ms <= label.start_ms < label.end_ms <= sim.end_ms
        assert label.start_ms % MIN == 0
        assert label.end_ms % MIN == 0


def test_labels_never_inside_readings(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, _ = all_kinds
    chunk = next(iter(sim))
    assert all(b"kind" not in v and b"label" not in v for v in chunk.values())


def test_tachycardia_at_rest(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    lb = _label(sim, K.TACHYCARDIA_AT_REST)
    hr = rows.of(lb, sim, HR)
    assert lb.end_ms - lb.start_ms >= 10 * MIN
    assert len(hr) >= 25
    assert (hr > 120).mean() > 0.95
    assert (rows.of(lb, sim, STEPS) == 0).all()
    before = rows.of(lb, sim, HR, lo=-40 * MIN, hi=-(lb.end_ms - lb.start_ms) - 10 * MIN)
    assert np.median(before) < 110


def test_bradycardia(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    lb = _label(sim, K.BRADYCARDIA)
    hr = rows.of(lb, sim, HR)
    assert len(hr) >= 15
    assert (hr < 40).mean() > 0.95


def test_abrupt_change(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    lb = _label(sim, K.ABRUPT_HR_CHANGE)
    span = lb.end_ms - lb.start_ms
    during = rows.of(lb, sim, HR)
    before = rows.of(lb, sim, HR, lo=-5 * MIN, hi=-span)
    assert np.median(during) - np.median(before) >= 30
    assert (rows.of(lb, sim, STEPS) == 0).all()


def test_low_spo2_and_desaturation(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    low = rows.of(_label(sim, K.LOW_SPO2), sim, SPO2)
    assert len(low) >= 5
    assert (low < 90).all()
    lb = _label(sim, K.DESATURATION)
    desat = rows.of(lb, sim, SPO2)
    assert len(desat) >= 2
    assert (lb.params["baseline"] - desat >= 4 - 0.5).all()
    assert (desat >= 90).all()


def test_normal_spo2_never_looks_like_an_event(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    spo2_devs = {
        sim.device_ids.index(lb.device_id)
        for lb in sim.event_labels
        if lb.kind in (K.LOW_SPO2, K.DESATURATION, K.IMPOSSIBLE_VALUE)
    }
    sel = (rows.metric == SPO2) & ~np.isin(rows.dev, list(spo2_devs))
    base = sim.population.spo2_baseline[rows.dev[sel]]
    assert (rows.value[sel] >= 90).all()
    assert (base - rows.value[sel] < 4.5).all()


def test_elevated_resting_hr(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    lb = _label(sim, K.ELEVATED_RESTING_HR)
    d = sim.device_ids.index(lb.device_id)
    hr_sel = (rows.dev == d) & (rows.metric == HR)
    nights = []
    for day in range(7):
        t0 = START_MS + day * DAY_MS + 1 * 3_600_000  # 01:00-05:00 UTC, asleep
        sel = hr_sel & (rows.ts >= t0) & (rows.ts < t0 + 4 * 3_600_000)
        nights.append((t0, float(np.percentile(rows.value[sel], 10))))
    inside = [v for t, v in nights if lb.start_ms <= t < lb.end_ms]
    outside = [v for t, v in nights if t < lb.start_ms]
    assert len(inside) >= 2
    assert min(inside) - max(outside) >= 2.5
    assert np.mean(inside) - np.mean(outside) >= 4


def test_sleep_disruption(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    lb = _label(sim, K.SLEEP_DISRUPTION)
    d = sim.device_ids.index(lb.device_id)
    sel = (rows.dev == d) & (rows.metric == SLEEP)
    inside = sel & (rows.ts >= lb.start_ms) & (rows.ts < lb.end_ms)
    before = sel & (rows.ts < lb.start_ms)
    awake_in = (rows.value[inside] == 0).mean()
    awake_before = (rows.value[before] == 0).mean()
    assert awake_in > 2 * awake_before
    assert awake_in > 0.15


def test_unusual_inactivity(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    lb = _label(sim, K.UNUSUAL_INACTIVITY)
    span_days = (lb.end_ms - lb.start_ms) / DAY_MS
    inside = rows.of(lb, sim, STEPS).sum() / span_days
    d = sim.device_ids.index(lb.device_id)
    sel = (rows.dev == d) & (rows.metric == STEPS) & (rows.ts < lb.start_ms)
    per_day = rows.value[sel].sum() / ((lb.start_ms - START_MS) / DAY_MS)
    assert inside < 0.2 * per_day


def test_hr_activity_decoupling(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    lb = _label(sim, K.HR_ACTIVITY_DECOUPLING)
    d = sim.device_ids.index(lb.device_id)
    steps = rows.of(lb, sim, STEPS)
    hr = rows.of(lb, sim, HR)
    assert np.median(steps) >= 100
    assert np.median(hr) < sim.population.resting_hr[d] + 15


def test_flatline(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    hr = rows.of(_label(sim, K.FLATLINE), sim, HR)
    assert len(hr) > 20
    assert len(set(hr.tolist())) == 1


def test_dropout_off_wrist_silent(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    drop = _label(sim, K.DROPOUT)
    assert len(rows.of(drop, sim, HR)) == 0
    assert len(rows.of(drop, sim, SPO2)) == 0
    assert len(rows.of(drop, sim, STEPS)) > 0
    off = _label(sim, K.OFF_WRIST)
    assert len(rows.of(off, sim, HR)) == 0
    assert len(rows.of(off, sim, SLEEP)) == 0
    assert (rows.of(off, sim, STEPS) == 0).all()
    silent = _label(sim, K.DEVICE_SILENT)
    for metric in (HR, SPO2, STEPS, SLEEP):
        assert len(rows.of(silent, sim, metric)) == 0


def test_impossible_values_only_inside_span(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    lb = _label(sim, K.IMPOSSIBLE_VALUE)
    spec = METRICS[METRIC_ORDER[HR]]
    hr = rows.of(lb, sim, HR)
    out = (hr < spec.minimum) | (hr > spec.maximum)
    assert out.mean() > 0.3
    d = sim.device_ids.index(lb.device_id)
    outside = (rows.dev == d) & ((rows.ts < lb.start_ms) | (rows.ts >= lb.end_ms))
    for code, metric in enumerate(METRIC_ORDER):
        v = rows.value[outside & (rows.metric == code)]
        assert ((v >= METRICS[metric].minimum) & (v <= METRICS[metric].maximum)).all()


def test_clock_skew(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    lb = _label(sim, K.CLOCK_SKEW)
    d = sim.device_ids.index(lb.device_id)
    offset = lb.params["offset_s"] * 1000
    sel = (rows.dev == d) & (rows.send - 3_000 >= lb.start_ms) & (rows.send < lb.end_ms + offset)
    lag = rows.send[sel] - rows.ts[sel]
    assert np.median(lag) == pytest.approx(-offset, abs=3_000)


def test_routine_charging_is_labelled_off_wrist(all_kinds: tuple[FleetSimulator, Rows]) -> None:
    sim, rows = all_kinds
    charging = [lb for lb in sim.labels if lb.params.get("cause") == "charging"]
    assert len(charging) > sim.n_devices  # most wearers charge most days
    for lb in charging[:20]:
        assert len(rows.of(lb, sim, HR)) == 0


def test_events_must_fit_in_the_run() -> None:
    spec = EventSpec(kind=K.ELEVATED_RESTING_HR, devices=[0], at_ms=0, duration_ms=3 * DAY_MS)
    with pytest.raises(ValueError, match="does not fit"):
        FleetSimulator(Scenario(devices=1, duration_ms=DAY_MS, events=(spec,)), start_ms=START_MS)


def test_spo2_events_pick_devices_with_spo2() -> None:
    spec = EventSpec(kind=K.LOW_SPO2, devices=3)
    scenario = Scenario(
        devices=10, duration_ms=DAY_MS, events=(spec,), models={"watch": 0.5, "patch": 0.5}
    )
    sim = FleetSimulator(scenario, start_ms=START_MS)
    assert all(sim.population.has_spo2[e.device] for e in sim.events)
    no_spo2 = int(np.flatnonzero(~sim.population.has_spo2)[0])
    bad = EventSpec(kind=K.LOW_SPO2, devices=[no_spo2])
    with pytest.raises(ValueError, match="lack a sensor"):
        FleetSimulator(scenario.replace(events=(bad,)), start_ms=START_MS)


def test_out_of_range_flags_exactly_the_impossible_values() -> None:
    spec = EventSpec(kind=K.IMPOSSIBLE_VALUE, devices=[0], at_ms=30 * MIN, severity=1.0)
    scenario = Scenario(devices=2, duration_ms=2 * 3_600_000, events=(spec,))
    sim = FleetSimulator(scenario, seed=3, start_ms=START_MS)
    (label,) = sim.event_labels
    n = 0
    for chunk in sim:
        bad = chunk.out_of_range
        assert not (bad & chunk.malformed).any()
        ts = chunk.ts_ms[bad]
        assert ((ts >= label.start_ms - 60_000) & (ts < label.end_ms + 60_000)).all()
        n += int(bad.sum())
    assert n > 0
