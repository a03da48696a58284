"""Evaluate the engine on labelled simulator scenarios: recall, precision, time to detect, and
false alerts per device-day.

The readings go through :class:`detectors.Engine` exactly as the daemon feeds it: in delivery
order (late, duplicate and out-of-order rows included), in batches, with ``tick()`` after each
batch at the newest event time seen. Malformed messages are left out (the daemon dead-letters
them); physically impossible values are kept, as a replayed CSV would carry them.

Matching: an alert matches a label of the same kind and device when the alert's span
``[start, end]`` overlaps the label's span extended by a tolerance after its end (multi-day
kinds are decided the morning after a night, so they get more). Time to detect is the event
time of the matching alert's ``open`` event minus the label start.

Two exceptions, both from the illness cohort:

- a label of a healthy look-alike (``params.profile`` in
  :data:`simulators.illness.HEALTHY_LOOKALIKES`: a late night out, a hard training day) is a
  night the engine should *not* flag: it is no event to detect (not in ``labels``/``recall``),
  an alert on it stays a false alarm, and it is counted as a look-alike that was flagged;
- an alert of a kind an illness also shows (:data:`ILLNESS_SIGNS`) that matches no label of its
  own kind but overlaps an ``illness`` label of its device is "also seen in the illness"
  (``in_illness``), not a false alarm.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors import AlertEvent, Engine, EngineConfig
from messages.codec import Reading
from messages.kinds import AnomalyKind, Category
from messages.labels import Label
from messages.metrics import Metric

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
EVAL_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed so reports are reproducible
BATCH = 10_000

K = AnomalyKind
ACUTE = (
    K.TACHYCARDIA_AT_REST,
    K.BRADYCARDIA,
    K.ABRUPT_HR_CHANGE,
    K.LOW_SPO2,
    K.DESATURATION,
)
MULTIDAY = (K.ELEVATED_RESTING_HR, K.SLEEP_DISRUPTION, K.UNUSUAL_INACTIVITY, K.ILLNESS)
# how long after a label ends an alert may still start and count as detecting it
_SLACK = {kind: (36 * HOUR if kind in MULTIDAY else 30 * MIN) for kind in K}
#: kinds that an illness also raises: inside an ``illness`` label they are no false alarm.
#: (``sleep_disruption`` is not among them: the simulated illness leaves sleep alone, so a
#: disrupted night inside one is a coincidence there.)
ILLNESS_SIGNS = (K.ELEVATED_RESTING_HR,)


def is_lookalike(label: Label) -> bool:
    """Whether ``label`` is a healthy night that looks like illness (not an event to detect)."""
    from simulators.illness import HEALTHY_LOOKALIKES

    return label.params.get("profile") in HEALTHY_LOOKALIKES


@dataclass
class Alert:
    """The final state of one alert, plus when it was first raised."""

    alert_id: str
    device_id: str
    kind: AnomalyKind
    severity: str
    start_ms: int
    opened_ms: int
    end_ms: int | None
    peak_value: float | None
    explanation: str


def fold_events(
    events: Iterable[AlertEvent], into: dict[str, Alert] | None = None
) -> dict[str, Alert]:
    """Fold lifecycle events into one :class:`Alert` per alert id (its final state)."""
    alerts = {} if into is None else into
    for e in events:
        a = alerts.get(e.alert_id)
        if a is None:
            alerts[e.alert_id] = Alert(
                e.alert_id,
                e.device_id,
                e.kind,
                e.severity,
                e.start_ms,
                e.ts_ms,
                e.end_ms,
                e.peak_value,
                e.explanation,
            )
            continue
        a.severity = e.severity
        a.end_ms = e.end_ms
        a.peak_value = e.peak_value
        a.explanation = e.explanation
    return alerts


@dataclass
class KindStats:
    """One kind's matching figures (``labels``: events to detect, look-alikes not included)."""

    labels: int = 0
    detected: int = 0
    alerts: int = 0
    #: alerts matching a label of their kind
    true_alerts: int = 0
    ttd_ms: list[int] = field(default_factory=list)
    #: healthy look-alike labels of this kind, and how many an alert of the kind overlapped
    lookalikes: int = 0
    lookalikes_flagged: int = 0
    #: alerts matching no label of their kind but inside an ``illness`` label (ILLNESS_SIGNS)
    in_illness: int = 0

    @property
    def recall(self) -> float | None:
        return self.detected / self.labels if self.labels else None

    @property
    def precision(self) -> float | None:
        """Share of the alerts that are not false: matching a label, or seen in an illness."""
        return (self.true_alerts + self.in_illness) / self.alerts if self.alerts else None

    @property
    def median_ttd_min(self) -> float | None:
        return statistics.median(self.ttd_ms) / MIN if self.ttd_ms else None


@dataclass
class RunResult:
    scenario: str
    seed: int
    devices: int
    days: float
    readings: int
    seconds: float
    labels: list[Label]
    alerts: list[Alert]
    per_kind: dict[AnomalyKind, KindStats]
    unmatched: list[Alert]

    @property
    def device_days(self) -> float:
        return self.devices * self.days


def readings_of(chunk: object, *, tick_ms: int = MIN) -> Iterator[list[Reading]]:
    """Readings of a simulator chunk in delivery order, in batches of at most :data:`BATCH`
    that span at most ``tick_ms`` of delivery time (so ``tick()`` runs about once a minute, as
    in the daemon); malformed rows are dropped."""
    from simulators import MALFORMED, METRIC_ORDER

    c: Any = chunk  # simulators.Chunk
    keep = (c.flags & MALFORMED) == 0
    ids = c.device_ids
    metrics = METRIC_ORDER
    steps = Metric.STEPS
    dev = c.device_idx[keep].tolist()
    ts = c.ts_ms[keep].tolist()
    met = c.metric[keep].tolist()
    val = np.asarray(c.value[keep], dtype=np.float64).tolist()
    sent = c.send_ms[keep].tolist()
    out: list[Reading] = []
    cut = sent[0] + tick_ms if sent else 0
    for d, t, m, v, snd in zip(dev, ts, met, val, sent, strict=True):
        if snd >= cut or len(out) >= BATCH:
            yield out
            out = []
            cut = snd + tick_ms
        metric = metrics[m]
        out.append(Reading(ids[d], t, metric, v, 60.0 if metric is steps else None))
    if out:
        yield out


def simulated_zones(config: EngineConfig, sim: Any) -> EngineConfig:
    """``config`` knowing the UTC offset of every simulated wearer away from UTC (scenarios
    with ``utc_offsets_h``): the simulator's readings are epoch ms, so the engine is told the
    wearers' zones as a fleet's devices would be configured. Zones already configured win."""
    offsets = sim.population.utc_offset_ms.tolist()
    zones = {
        did: f"{'-' if off < 0 else '+'}{abs(off) // HOUR:02d}:{abs(off) % HOUR // MIN:02d}"
        for did, off in zip(sim.device_ids, offsets, strict=True)
        if off != 0
    }
    if not zones:
        return config
    lt = config.local_time
    return config.model_copy(
        update={"local_time": lt.model_copy(update={"devices": zones | dict(lt.devices)})}
    )


def run_scenario(
    name: str,
    seed: int,
    *,
    config: EngineConfig | None = None,
    devices: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Simulate ``name`` with ``seed`` through a fresh engine and score the alerts."""
    from simulators import FleetSimulator, load_scenario

    sim = FleetSimulator(load_scenario(name), seed=seed, devices=devices, start_ms=EVAL_START_MS)
    engine = Engine(simulated_zones(config or EngineConfig(), sim))
    alerts: dict[str, Alert] = {}
    n = 0
    newest = 0
    t0 = time.perf_counter()
    for chunk in sim:
        for batch in readings_of(chunk):
            out = engine.process(batch)
            fold_events(out.alerts, alerts)
            n += len(batch)
            newest = max(newest, max(r.ts_ms for r in batch))
            fold_events(engine.tick(newest), alerts)
        if progress:
            progress(f"{name} seed {seed}: {n:,} readings, {len(alerts)} alerts")
    seconds = time.perf_counter() - t0
    labels = sim.labels
    days = (sim.end_ms - sim.start_ms) / DAY
    per_kind, unmatched = match(labels, list(alerts.values()), sim.end_ms)
    return RunResult(
        name,
        seed,
        sim.n_devices,
        days,
        n,
        seconds,
        labels,
        list(alerts.values()),
        per_kind,
        unmatched,
    )


def overlaps(alert: Alert, label: Label, run_end_ms: int) -> bool:
    """Whether the alert's span (open ones: to the run's end) meets the label's span extended
    by its kind's tolerance."""
    end = alert.end_ms if alert.end_ms is not None else run_end_ms
    return alert.start_ms < label.end_ms + _SLACK[label.kind] and end >= label.start_ms


def match(
    labels: list[Label], alerts: list[Alert], run_end_ms: int
) -> tuple[dict[AnomalyKind, KindStats], list[Alert]]:
    """Per-kind recall/precision/time to detect; also the alerts that match no label (false
    alarms: those on healthy look-alikes included, those of :data:`ILLNESS_SIGNS` inside an
    illness not)."""
    stats = {k: KindStats() for k in K}
    by_key: dict[tuple[str, AnomalyKind], list[Alert]] = {}
    for a in alerts:
        by_key.setdefault((a.device_id, a.kind), []).append(a)
        stats[a.kind].alerts += 1

    def overlapping(lb: Label, kind: AnomalyKind) -> list[Alert]:
        return [a for a in by_key.get((lb.device_id, kind), []) if overlaps(a, lb, run_end_ms)]

    matched: set[str] = set()
    illnesses = []
    for lb in labels:
        st = stats[lb.kind]
        if is_lookalike(lb):
            st.lookalikes += 1
            st.lookalikes_flagged += bool(overlapping(lb, lb.kind))
            continue
        if lb.kind is K.ILLNESS:
            illnesses.append(lb)
        st.labels += 1
        hits = overlapping(lb, lb.kind)
        if hits:
            st.detected += 1
            first = min(hits, key=lambda a: a.opened_ms)
            st.ttd_ms.append(max(0, first.opened_ms - lb.start_ms))
            matched.update(a.alert_id for a in hits)
    also_ill = {
        a.alert_id
        for lb in illnesses
        for kind in ILLNESS_SIGNS
        for a in overlapping(lb, kind)
        if a.alert_id not in matched
    }
    unmatched = []
    for a in alerts:
        if a.alert_id in matched:
            stats[a.kind].true_alerts += 1
        elif a.alert_id in also_ill:
            stats[a.kind].in_illness += 1
        else:
            unmatched.append(a)
    return stats, unmatched


# an alert still open at the end of a run meets every label that starts before that end
_OPEN_END = sys.maxsize
#: the kinds whose alerts on a healthy look-alike night the report counts
LOOKALIKE_JUDGED = (*ILLNESS_SIGNS, K.ILLNESS)


def lookalike_figures(results: Iterable[RunResult]) -> dict[str, dict[str, int]]:
    """Per look-alike profile: its labels and how many of them an alert of each kind in
    :data:`LOOKALIKE_JUDGED` flagged (the device's alert overlapping the label); empty when no
    run has a look-alike."""
    out: dict[str, dict[str, int]] = {}
    for r in results:
        for lb in r.labels:
            if not is_lookalike(lb):
                continue
            row = out.setdefault(str(lb.params["profile"]), {"labels": 0})
            row["labels"] += 1
            for kind in LOOKALIKE_JUDGED:
                hit = any(
                    a.kind is kind and a.device_id == lb.device_id and overlaps(a, lb, _OPEN_END)
                    for a in r.alerts
                )
                row[kind.value] = row.get(kind.value, 0) + hit
    return out


def false_alerts_per_device_day(result: RunResult, category: Category | None = None) -> float:
    n = sum(1 for a in result.unmatched if category is None or a.kind.category is category)
    return n / result.device_days


def merge(results: list[RunResult]) -> dict[AnomalyKind, KindStats]:
    """Per-kind statistics summed over runs (several seeds of one scenario)."""
    total = {k: KindStats() for k in K}
    for r in results:
        for k, st in r.per_kind.items():
            t = total[k]
            t.labels += st.labels
            t.detected += st.detected
            t.alerts += st.alerts
            t.true_alerts += st.true_alerts
            t.ttd_ms += st.ttd_ms
            t.lookalikes += st.lookalikes
            t.lookalikes_flagged += st.lookalikes_flagged
            t.in_illness += st.in_illness
    return total


#: an illness counts as alerted when its first alert opens within this window around symptom
#: onset (the label's ``params.onset_ms``), as in the wearable studies (issue 14)
ILLNESS_WINDOW_MS = (-7 * DAY, 3 * DAY)


@dataclass
class IllnessFigures:
    """Early detection of the simulated illnesses (``illness`` labels with their onset)."""

    ill: int = 0
    alerted: int = 0
    #: first alert's open time minus symptom onset, hours, one per alerted illness
    leads_h: list[float] = field(default_factory=list)
    #: illness alerts that opened outside every illness span of their device (+ slack)
    false_alerts: int = 0
    healthy_device_days: float = 0.0

    @property
    def alerted_share(self) -> float | None:
        return self.alerted / self.ill if self.ill else None

    @property
    def median_lead_h(self) -> float | None:
        return statistics.median(self.leads_h) if self.leads_h else None

    @property
    def false_per_30_days(self) -> float | None:
        if self.healthy_device_days <= 0:
            return None
        return 30.0 * self.false_alerts / self.healthy_device_days

    def lead_days_histogram(self) -> dict[int, int]:
        """Alerted illnesses by whole days between onset and the first alert (-1: the day
        before onset or up to 24 h earlier)."""
        days = [int(h // 24) for h in self.leads_h]
        return {d: days.count(d) for d in sorted(set(days))}


def illness_figures(results: Iterable[RunResult]) -> IllnessFigures | None:
    """Early detection of ``illness`` labels over runs; ``None`` when no run has one."""
    fig = IllnessFigures()
    lo, hi = ILLNESS_WINDOW_MS
    for r in results:
        labels = [lb for lb in r.labels if lb.kind is K.ILLNESS]
        if not labels:
            continue
        alerts = [a for a in r.alerts if a.kind is K.ILLNESS]
        spans: dict[str, list[tuple[int, int]]] = {}
        for lb in labels:
            spans.setdefault(lb.device_id, []).append((lb.start_ms, lb.end_ms + _SLACK[K.ILLNESS]))
            onset = int(lb.params["onset_ms"])
            fig.ill += 1
            opened = [
                a.opened_ms
                for a in alerts
                if a.device_id == lb.device_id and onset + lo <= a.opened_ms <= onset + hi
            ]
            if opened:
                fig.alerted += 1
                fig.leads_h.append((min(opened) - onset) / HOUR)
        ill_days = sum(lb.end_ms - lb.start_ms for lb in labels) / DAY
        fig.healthy_device_days += r.device_days - ill_days
        fig.false_alerts += sum(
            1
            for a in alerts
            if not any(s <= a.opened_ms <= e for s, e in spans.get(a.device_id, []))
        )
    return fig if fig.ill else None


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
