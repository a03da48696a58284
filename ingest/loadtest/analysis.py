"""Pure computations of the load test: Prometheus scrapes, histogram quantiles, lag trends,
step verdicts, reading-to-alert latency lookups and detection recall."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client.parser import text_string_to_metric_families

from detectors import AlertEvent
from ingest.replay.evaluation import fold_events, match
from messages.labels import Label


@dataclass
class Scrape:
    """One ``/metrics`` scrape of the daemon, the parts the load test reads."""

    counters: dict[str, float] = field(default_factory=dict)  # name (+ {label}) -> value
    gauges: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # le, cumulative

    def counter(self, name: str) -> float:
        return self.counters.get(name, 0.0)

    def labelled(self, name: str) -> dict[str, float]:
        """Values of a labelled counter, by its one label's value."""
        prefix = name + "{"
        return {k[len(prefix) : -1]: v for k, v in self.counters.items() if k.startswith(prefix)}


def parse_metrics(text: str) -> Scrape:
    """Parse the Prometheus text exposition.

    >>> s = parse_metrics('''# TYPE vitalstream_records counter
    ... vitalstream_records_total 12.0
    ... # TYPE vitalstream_dead_letters counter
    ... vitalstream_dead_letters_total{reason="schema"} 2.0
    ... # TYPE vitalstream_consumer_lag gauge
    ... vitalstream_consumer_lag 5.0
    ... ''')
    >>> s.counter("vitalstream_records"), s.labelled("vitalstream_dead_letters"), s.gauges
    (12.0, {'schema': 2.0}, {'vitalstream_consumer_lag': 5.0})
    """
    out = Scrape()
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            name = smp.name
            if name.endswith("_created"):
                continue
            if name.endswith("_total"):
                labels = ",".join(smp.labels.values())
                key = name[: -len("_total")] + ("{" + labels + "}" if labels else "")
                out.counters[key] = float(smp.value)
            elif name.endswith("_bucket"):
                le = float(smp.labels["le"])
                out.buckets.setdefault(name[: -len("_bucket")], []).append((le, float(smp.value)))
            elif fam.type in ("gauge", "unknown") and not name.endswith(("_sum", "_count")):
                out.gauges[name] = float(smp.value)
    for b in out.buckets.values():
        b.sort()
    return out


def bucket_delta(
    later: Sequence[tuple[float, float]], earlier: Sequence[tuple[float, float]] | None
) -> list[tuple[float, float]]:
    """Cumulative bucket counts observed between two scrapes."""
    if not earlier:
        return list(later)
    before = dict(earlier)
    return [(le, c - before.get(le, 0.0)) for le, c in later]


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket holding the
    quantile (0 is the lower edge of the first bucket; the ``+Inf`` bucket returns the highest
    finite bound). ``None`` without observations.

    >>> histogram_quantile(0.5, [(0.1, 0), (0.5, 10), (1.0, 20), (math.inf, 20)])
    0.5
    >>> histogram_quantile(0.75, [(0.1, 0), (0.5, 10), (1.0, 20), (math.inf, 20)])
    0.75
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if math.isinf(le):
                return prev_le
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return prev_le


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, Any]:
    """``{"p50": ..., "p95": ..., "p99": ..., "n": ...}`` (``None`` values when empty)."""
    arr = np.asarray(list(values), dtype=np.float64)
    out: dict[str, Any] = {f"p{q:g}": None for q in qs}
    out["n"] = int(arr.size)
    if arr.size:
        for q in qs:
            out[f"p{q:g}"] = float(np.percentile(arr, q))
    return out


def slope(t: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``y`` over ``t`` (0 with fewer than two points).

    >>> round(slope([0, 1, 2, 3], [5, 7, 9, 11]), 6)
    2.0
    """
    if len(t) < 2 or max(t) == min(t):
        return 0.0
    return float(np.polyfit(np.asarray(t, float), np.asarray(y, float), 1)[0])


@dataclass
class StepVerdict:
    target_rate: float
    offered_rate: float
    achieved_rate: float
    lag_growth_per_s: float
    lag_end: float
    sustainable: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_rate": self.target_rate,
            "offered_rate": round(self.offered_rate, 1),
            "achieved_rate": round(self.achieved_rate, 1),
            "lag_growth_per_s": round(self.lag_growth_per_s, 1),
            "lag_end": self.lag_end,
            "sustainable": self.sustainable,
            "reason": self.reason,
        }


def floor_growth(t: Sequence[float], lag: Sequence[float], *, settle: float = 0.25) -> float:
    """How fast the *floor* of the lag rises (records/s): the minimum over the last third of
    the samples (after the first ``settle`` share) minus the minimum over the first third,
    divided by the time between the two thirds' centres.

    The daemon's lag is a saw-tooth (it commits once per checkpoint) with occasional stalls
    (a slow InfluxDB write holds a checkpoint for seconds); a backlog that really grows raises
    the troughs, which is what this measures.

    >>> t = [float(i) for i in range(13)]
    >>> floor_growth(t, [0, 900, 0, 900, 0, 900, 0, 5000, 9000, 0, 900, 0, 900])  # a stall
    0.0
    >>> floor_growth(t, [100 * i + (900 if i % 2 else 0) for i in range(13)])
    100.0
    """
    if len(t) < 3:
        return slope(t, lag)
    t0 = t[0] + settle * (t[-1] - t[0])
    span = t[-1] - t0
    if span <= 0:
        return 0.0
    early = [y for x, y in zip(t, lag, strict=True) if t0 <= x <= t0 + span / 3]
    late = [y for x, y in zip(t, lag, strict=True) if x >= t[-1] - span / 3]
    if not early or not late:
        return slope(t, lag)
    return (min(late) - min(early)) / (span * 2 / 3)


def judge_step(
    target_rate: float,
    t: Sequence[float],
    produced: Sequence[float],
    consumed: Sequence[float],
    lag: Sequence[float],
    *,
    tolerance: float,
    settle: float = 0.25,
) -> StepVerdict:
    """Is a step's rate sustainable? Samples are those taken during the step; ``lag`` is the
    committed consumer lag.

    Sustainable when the producer offered at least ``1 - tolerance`` of the target and the
    lag's floor (:func:`floor_growth`, after the first ``settle`` share of the step, so the
    previous step's backlog settles) rises by at most ``tolerance`` x the rate per second:
    a consumer that keeps up keeps coming back to the same low lag after each checkpoint.

    >>> v = judge_step(1000, [0, 1, 2, 3, 4], [0, 1000, 2000, 3000, 4000],
    ...                [0, 700, 1400, 2100, 2800], [0, 300, 600, 900, 1200], tolerance=0.05)
    >>> v.sustainable, round(v.lag_growth_per_s), v.reason
    (False, 300, 'lag grows 300/s (> 50/s)')
    """
    dt = t[-1] - t[0] if len(t) > 1 else 0.0
    offered = (produced[-1] - produced[0]) / dt if dt > 0 else 0.0
    achieved = (consumed[-1] - consumed[0]) / dt if dt > 0 else 0.0
    g = floor_growth(t, lag, settle=settle)
    limit = tolerance * target_rate
    if offered < (1 - tolerance) * target_rate:
        ok, reason = False, f"producer-bound: offered {offered:,.0f}/s"
    elif g > limit:
        ok, reason = False, f"lag grows {g:,.0f}/s (> {limit:,.0f}/s)"
    else:
        ok, reason = True, "lag bounded"
    return StepVerdict(
        target_rate, offered, achieved, g, float(lag[-1]) if lag else 0.0, ok, reason
    )


class ProducedIndex:
    """When each reading was handed to the producer, to find the reading that triggered an alert.

    ``add`` is called once per sent slice with the slice's device indices and event times.
    """

    def __init__(self, base_ms: int) -> None:
        self.base_ms = base_ms
        self._dev: list[NDArray[np.int64]] = []
        self._ts: list[NDArray[np.int64]] = []
        self._wall: list[NDArray[np.float64]] = []
        self._keys: NDArray[np.int64] | None = None

    def add(self, device_idx: NDArray[Any], ts_ms: NDArray[Any], wall_s: float) -> None:
        self._dev.append(device_idx.astype(np.int64))
        self._ts.append(ts_ms.astype(np.int64))
        self._wall.append(np.full(len(ts_ms), wall_s))
        self._keys = None

    def _build(self) -> None:
        dev = np.concatenate(self._dev) if self._dev else np.zeros(0, np.int64)
        ts = np.concatenate(self._ts) if self._ts else np.zeros(0, np.int64)
        wall = np.concatenate(self._wall) if self._wall else np.zeros(0)
        rel = np.clip(ts - self.base_ms, 0, (1 << 40) - 1)
        keys = (dev << 40) | rel
        order = np.lexsort((wall, keys))  # by key, then earliest send first
        self._keys, self._key_wall = keys[order], wall[order]
        by_ts = np.lexsort((wall, ts))
        self._ts_sorted = ts[by_ts]
        w = wall[by_ts]
        self._suffix_min = np.minimum.accumulate(w[::-1])[::-1] if len(w) else w

    def trigger_wall(self, device_idx: int, ts_ms: int) -> tuple[float, str] | None:
        """Send time of the reading that triggered an alert event at event time ``ts_ms``:

        * ``reading``: the device's own reading with that event time (reading-driven alerts);
        * ``stream``: else the first reading of any device with event time >= ``ts_ms``
          (time-driven alerts, decided when the stream's event time passed ``ts_ms``).
        """
        if self._keys is None:
            self._build()
        assert self._keys is not None
        key = (device_idx << 40) | max(0, min(ts_ms - self.base_ms, (1 << 40) - 1))
        i = int(np.searchsorted(self._keys, key, side="left"))
        if i < len(self._keys) and self._keys[i] == key:
            return float(self._key_wall[i]), "reading"
        j = int(np.searchsorted(self._ts_sorted, ts_ms, side="left"))
        if j < len(self._ts_sorted):
            return float(self._suffix_min[j]), "stream"
        return None


def recall(
    labels: list[Label],
    events: list[AlertEvent],
    run_end_ms: int,
    explained_by: list[Label] | None = None,
) -> tuple[dict[str, Any], int]:
    """Recall per kind and overall, with :func:`ingest.replay.evaluation.match` (the replay
    evaluation's matching: same device and kind, spans overlapping with the kind's tolerance).
    Returns the per-kind table and the number of alerts that match none of ``explained_by``
    (default ``labels``; e.g. all ground truth, routine off-wrist charging included)."""
    alerts = list(fold_events(events).values())
    per_kind, unmatched = match(labels, alerts, run_end_ms)
    if explained_by is not None:
        unmatched = match(explained_by, alerts, run_end_ms)[1]
    table: dict[str, Any] = {}
    for kind, st in per_kind.items():
        if st.labels or st.alerts:
            table[kind.value] = {
                "labels": st.labels,
                "detected": st.detected,
                "recall": st.recall,
                "alerts": st.alerts,
                "median_ttd_min": st.median_ttd_min,
            }
    return table, len(unmatched)
