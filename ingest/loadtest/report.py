"""The load-test report: JSON document, printed table and PNG plots (``docs/loadtest.md``)."""

from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ingest.loadtest.analysis import (
    Scrape,
    bucket_delta,
    histogram_quantile,
    percentiles,
    recall,
)

if TYPE_CHECKING:
    from ingest.loadtest.runner import LoadTest, Sample

REPORT_VERSION = 1
LATENCY_HIST = "vitalstream_reading_to_influx_seconds"


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(float(x), nd)


def _counter(s: Scrape | None, name: str) -> float:
    return s.counter(name) if s is not None else 0.0


def _quantiles_ms(later: Scrape | None, earlier: Scrape | None) -> dict[str, float | None]:
    if later is None or LATENCY_HIST not in later.buckets:
        return {"p50": None, "p95": None, "p99": None}
    prev = earlier.buckets.get(LATENCY_HIST) if earlier is not None else None
    delta = bucket_delta(later.buckets[LATENCY_HIST], prev)
    out: dict[str, float | None] = {}
    for q in (50, 95, 99):
        v = histogram_quantile(q / 100, delta)
        out[f"p{q}"] = None if v is None else round(v * 1000, 1)
    return out


def _timeseries(lt: LoadTest) -> tuple[dict[str, list[Any]], float]:
    xs = lt.samples
    ts: dict[str, list[Any]] = {
        k: []
        for k in (
            "t_s",
            "target_rate",
            "offered_rate",
            "achieved_rate",
            "produced",
            "consumed",
            "committed_lag",
            "consumed_lag",
            "daemon_lag_gauge",
            "pending_points",
            "influx_p50_ms",
            "influx_p95_ms",
            "influx_p99_ms",
            "daemon_cpu_percent",
            "daemon_rss_mb",
            "generator_cpu_percent",
        )
    }
    # latency quantiles over a trailing window of a few flushes: the daemon observes its
    # histogram once per checkpoint, so one sample interval may hold no observation
    window = max(2.5, 2.5 * lt.s.ingest.flush_interval_ms / 1000, 2 * lt.cfg.sample_interval_s)
    lo = 0
    for i, (prev, cur) in enumerate(itertools.pairwise(xs), start=1):
        dt = cur.t - prev.t
        if dt <= 0:
            continue
        while xs[lo].t < cur.t - window and lo < i - 1:
            lo += 1
        c0 = _counter(prev.scrape, "vitalstream_records")
        c1 = _counter(cur.scrape, "vitalstream_records")
        q = _quantiles_ms(cur.scrape, xs[lo].scrape)
        ts["t_s"].append(round(cur.t, 2))
        ts["target_rate"].append(cur.target_rate)
        ts["offered_rate"].append(round((cur.produced - prev.produced) / dt, 1))
        sdt = cur.scrape_t - prev.scrape_t
        ts["achieved_rate"].append(round((c1 - c0) / sdt, 1) if sdt > 0 else None)
        ts["produced"].append(cur.produced)
        ts["consumed"].append(int(c1))
        ts["committed_lag"].append(cur.log_end - cur.committed)
        ts["consumed_lag"].append(max(0, cur.produced - int(c1)) if cur.scrape else None)
        g = cur.scrape.gauges if cur.scrape else {}
        ts["daemon_lag_gauge"].append(g.get("vitalstream_consumer_lag"))
        ts["pending_points"].append(g.get("vitalstream_pending_points"))
        ts["influx_p50_ms"].append(q["p50"])
        ts["influx_p95_ms"].append(q["p95"])
        ts["influx_p99_ms"].append(q["p99"])
        cpu = (
            round((cur.cpu_s - prev.cpu_s) / dt * 100, 1)
            if cur.cpu_s is not None and prev.cpu_s is not None
            else None
        )
        ts["daemon_cpu_percent"].append(cpu)
        ts["daemon_rss_mb"].append(_r(cur.rss / 2**20) if cur.rss is not None else None)
        ts["generator_cpu_percent"].append(round((cur.gen_cpu_s - prev.gen_cpu_s) / dt * 100, 1))
    return ts, window


def _end_of_load(lt: LoadTest) -> Sample:
    inside = [x for x in lt.samples if x.t <= lt.load_end_t + 1e-6]
    return inside[-1] if inside else lt.samples[0]


def build_report(lt: LoadTest, drained_s: float | None) -> dict[str, Any]:
    from ingest.loadtest.runner import _device_names, decode_alerts, machine

    cfg, sim = lt.cfg, lt.sim
    first, last, end = lt.samples[0], lt.samples[-1], _end_of_load(lt)
    window = max(lt.load_end_t, 1e-9)
    produced = int(lt.sink.stats.messages)
    consumed_end = _counter(end.scrape, "vitalstream_records")
    ts, trailing_s = _timeseries(lt)

    # ---- latency: reading -> InfluxDB (the daemon's histogram), reading -> alert (ours)
    influx = _quantiles_ms(last.scrape, first.scrape)
    hist = last.scrape.buckets.get(LATENCY_HIST, []) if last.scrape else []
    influx["samples"] = int(hist[-1][1]) if hist else 0
    influx["trailing_window_s"] = trailing_s  # of the quantiles over time
    names = _device_names(lt.s, sim.device_ids)
    events = decode_alerts(lt.alert_records)
    lat_ms: list[float] = []
    lat_points: list[list[Any]] = []
    how = {"reading": 0, "stream": 0, "unknown": 0}
    raw_events = []
    for _recv, kts, ev in events:
        idx = names.get(ev.device_id)
        if idx is None:
            how["unknown"] += 1
            continue
        raw_events.append(msgspec.structs.replace(ev, device_id=sim.device_ids[idx]))
        if ev.state != "open":
            continue
        trig = lt.index.trigger_wall(idx, ev.ts_ms)
        if trig is None:
            how["unknown"] += 1
            continue
        wall, rule = trig
        how[rule] += 1
        ms = max(0.0, kts - wall * 1000)
        lat_ms.append(ms)
        lat_points.append([round(kts / 1000 - lt.t0_wall, 2), round(ms, 1), ev.kind.value])
    alert_lat = percentiles(lat_ms)
    alert_lat = {k: (_r(v) if k != "n" else v) for k, v in alert_lat.items()}
    alert_lat["trigger"] = how

    # ---- recall on the injected events whose span was fully produced, after the warm-up
    warm_end = sim.start_ms + int(cfg.warmup_min * 60_000)
    labels = [
        lb
        for lb in sim.event_labels
        if lb.end_ms <= lt.produced_until_ms and lb.start_ms >= warm_end
    ]
    # alerts explained by any ground truth (routine off-wrist charging included) are not
    # counted as unmatched
    truth = [lb for lb in sim.labels if lb.start_ms < lt.produced_until_ms]
    per_kind, unmatched = recall(labels, raw_events, lt.produced_until_ms, explained_by=truth)
    n_labels = sum(v["labels"] for v in per_kind.values())
    n_detected = sum(v["detected"] for v in per_kind.values())

    # ---- dead letters, alerts, daemon resources
    dead = last.scrape.labelled("vitalstream_dead_letters") if last.scrape else {}
    opened: dict[str, int] = {}
    for ev in raw_events:
        if ev.state == "open":
            opened[ev.kind.value] = opened.get(ev.kind.value, 0) + 1
    cpu_series = [c for c in ts["daemon_cpu_percent"] if c is not None]
    rss_series = [r for r in ts["daemon_rss_mb"] if r is not None]
    daemon_cpu_window = (
        (end.cpu_s - first.cpu_s) / window * 100
        if end.cpu_s is not None and first.cpu_s is not None
        else None
    )
    committed_lags = [x.log_end - x.committed for x in lt.samples if x.t <= lt.load_end_t + 1e-6]
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "name": lt.name,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lt.t0_wall)),
        "command": cfg.command,
        "machine": machine(),
        "config": {
            "devices": cfg.devices,
            "rate": cfg.rate,
            "duration_s": cfg.duration_s,
            "scenario": cfg.scenario,
            "seed": cfg.seed,
            "step": cfg.step,
            "step_factor": cfg.step_factor if cfg.step else None,
            "max_rate": cfg.max_rate if cfg.step else None,
            "lag_tolerance": cfg.lag_tolerance,
            "sample_interval_s": cfg.sample_interval_s,
            "partitions": lt.s.topics.partitions,
            "warmup_min": cfg.warmup_min,
        },
        "simulation": {
            "devices": sim.n_devices,
            "start_ms": sim.start_ms,
            "end_ms": sim.end_ms,
            "produced_until_ms": lt.produced_until_ms,
            "event_time_h": round((sim.end_ms - sim.start_ms) / 3_600_000, 3),
            "nominal_rate": round(sim.nominal_rate(), 2),
            "speedup": round(cfg.rate / max(sim.nominal_rate(), 1e-9), 1),
            "injected_events": len(sim.event_labels),
        },
        "throughput": {
            "target_per_s": round(lt.schedule.total_count() / lt.schedule.seconds, 1)
            if not cfg.step
            else None,
            "offered_per_s": round(produced / window, 1),
            "achieved_per_s": round(consumed_end / window, 1),
            "window_s": round(window, 2),
            "produced": produced,
            "acked": int(lt.sink.stats.acked),
            "consumed_in_window": int(consumed_end),
            "consumed_total": int(_counter(last.scrape, "vitalstream_records")),
            "readings_scored": int(_counter(last.scrape, "vitalstream_readings")),
            "points_written": int(_counter(last.scrape, "vitalstream_points_written")),
            "drain_s": _r(drained_s, 2),
            "drained": drained_s is not None,
            "generator_cpu_percent": _r((end.gen_cpu_s - first.gen_cpu_s) / window * 100),
        },
        "lag": {
            "definition": "records: log-end offset - committed offset, summed over partitions",
            "max_during_load": max(committed_lags) if committed_lags else 0,
            "at_end_of_load": end.log_end - end.committed,
            "final": last.log_end - last.committed,
            "backpressure_pauses": int(_counter(last.scrape, "vitalstream_backpressure_pauses")),
        },
        "latency_ms": {"reading_to_influx": influx, "reading_to_alert": alert_lat},
        "dead_letters": {
            "total": int(sum(dead.values())),
            "by_reason": {k: int(v) for k, v in sorted(dead.items(), key=lambda kv: -kv[1])},
            "expected": {
                "malformed": lt.expected_malformed,
                "out_of_range": lt.expected_out_of_range,
            },
        },
        "alerts": {
            "events": len(events),
            "opened": sum(opened.values()),
            "opened_by_kind": dict(sorted(opened.items())),
        },
        "daemon": {
            "pid": lt.daemon.proc.pid,
            "cpu_percent_mean": _r(daemon_cpu_window),
            "cpu_percent_max": max(cpu_series) if cpu_series else None,
            "cpu_seconds": _r(
                last.cpu_s - first.cpu_s
                if last.cpu_s is not None and first.cpu_s is not None
                else None,
                2,
            ),
            "rss_mb_max": max(rss_series) if rss_series else None,
            "rss_mb_end": rss_series[-1] if rss_series else None,
            # sink and commit errors the daemon counted (e.g. influx_write while InfluxDB
            # was unreachable): figures of a run with errors are not the system's steady state
            "errors": {
                k: int(v)
                for k, v in (
                    last.scrape.labelled("vitalstream_errors") if last.scrape else {}
                ).items()
            },
            "metrics_scrape_failures": sum(1 for x in lt.samples if x.scrape_t < x.t - 1e-9),
        },
        "recall": {
            "overall": round(n_detected / n_labels, 3) if n_labels else None,
            "labels": n_labels,
            "detected": n_detected,
            "excluded_labels": len(sim.event_labels) - n_labels,
            "unmatched_alerts": unmatched,
            "per_kind": per_kind,
        },
        "timeseries": ts,
        "alert_latencies": lat_points,
    }
    if cfg.step:
        report["steps"] = [v.as_dict() for v in lt.verdicts]
        bad = [v for v in lt.verdicts if not v.sustainable]
        worst = min((v.target_rate for v in bad), default=math.inf)
        good = [v.target_rate for v in lt.verdicts if v.sustainable and v.target_rate < worst]
        report["highest_sustainable_rate"] = max(good) if good else None
        report["lowest_unsustainable_rate"] = None if math.isinf(worst) else worst
        first_bad = min(bad, key=lambda v: v.target_rate) if bad else None
        report["limit_reason"] = (
            first_bad.reason if first_bad else "max_rate reached, all steps sustained"
        )
    return report


def _fmt(x: float | None, unit: str = "", nd: int = 0) -> str:
    return "-" if x is None else f"{x:,.{nd}f}{unit}"


def table(r: dict[str, Any]) -> str:
    """The short printed summary."""
    c, th, lag, lat = r["config"], r["throughput"], r["lag"], r["latency_ms"]
    li, la = lat["reading_to_influx"], lat["reading_to_alert"]
    dl, d, rc = r["dead_letters"], r["daemon"], r["recall"]
    mode = (
        f"steps from {c['rate']:,.0f}/s x{c['step_factor']:g} every {c['duration_s']:g} s"
        if c["step"]
        else f"{c['rate']:,.0f} readings/s for {c['duration_s']:g} s"
    )
    reasons = ", ".join(f"{k}={v}" for k, v in list(dl["by_reason"].items())[:4])
    exp = dl["expected"]
    lines = [
        f"vitalstream loadtest {r['name']}: {c['devices']:,} devices, {mode}",
        f"  offered (producer)     {_fmt(th['offered_per_s'])} readings/s"
        + (f"  (target {_fmt(th['target_per_s'])})" if th["target_per_s"] else ""),
        f"  achieved (daemon)      {_fmt(th['achieved_per_s'])} readings/s"
        f"  ({th['consumed_in_window']:,} of {th['produced']:,} consumed during the load)",
        f"  consumer lag           max {lag['max_during_load']:,}  end of load "
        f"{lag['at_end_of_load']:,}  drained "
        + (f"in {th['drain_s']:.1f} s" if th["drained"] else "NO (timeout)"),
        f"  reading->InfluxDB      p50 {_fmt(li['p50'], ' ms')}  p95 {_fmt(li['p95'], ' ms')}"
        f"  p99 {_fmt(li['p99'], ' ms')}",
        f"  reading->alert (open)  p50 {_fmt(la['p50'], ' ms')}  p95 {_fmt(la['p95'], ' ms')}"
        f"  p99 {_fmt(la['p99'], ' ms')}  (n={la['n']})",
        f"  dead letters           {dl['total']:,}  (sent malformed {exp['malformed']:,} + "
        f"out of range {exp['out_of_range']:,})  {reasons}",
        f"  daemon                 CPU {_fmt(d['cpu_percent_mean'], ' %')} of a core "
        f"(max {_fmt(d['cpu_percent_max'], ' %')}), RSS {_fmt(d['rss_mb_end'], ' MB')} "
        f"(max {_fmt(d['rss_mb_max'], ' MB')})",
        f"  recall                 {rc['detected']}/{rc['labels']} injected events = "
        f"{_fmt(rc['overall'], '', 2)}  ({rc['unmatched_alerts']} alerts match no ground truth)",
    ]
    if d.get("errors"):
        lines.append(
            "  daemon errors          "
            + ", ".join(f"{k}={v}" for k, v in d["errors"].items())
            + "  (figures include the disturbance)"
        )
    if c["step"]:
        for i, s in enumerate(r["steps"], 1):
            lines.append(
                f"  step {i:<2} target {s['target_rate']:>9,.0f}/s  offered "
                f"{s['offered_rate']:>9,.0f}/s  achieved {s['achieved_rate']:>9,.0f}/s  "
                f"lag floor {s['lag_growth_per_s']:>+9,.0f}/s  {s['reason']}"
            )
        lines.append(
            f"  highest sustainable    {_fmt(r['highest_sustainable_rate'])} readings/s"
            f"  (lowest unsustainable {_fmt(r['lowest_unsustainable_rate'])}: "
            f"{r['limit_reason']})"
        )
    return "\n".join(lines)


def write(r: dict[str, Any], out_dir: Path, *, plots: bool = True) -> dict[str, str]:
    """Write ``<name>.json`` (and the PNGs); return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    if plots:
        paths.update(plot(r, out_dir))
    r["files"] = dict(paths)
    js = out_dir / f"{r['name']}.json"
    r["files"]["report"] = str(js)
    js.write_text(json.dumps(r, indent=1))
    return r["files"]  # type: ignore[no-any-return]


def plot(r: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Throughput, lag, latency and daemon-resource plots over time (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = r["timeseries"]
    t = ts["t_s"]
    window_s = r["latency_ms"]["reading_to_influx"]["trailing_window_s"]
    name = r["name"]
    out: dict[str, str] = {}

    def save(fig: Any, key: str) -> None:
        p = out_dir / f"{name}-{key}.png"
        fig.tight_layout()
        fig.savefig(p, dpi=100)
        plt.close(fig)
        out[key] = str(p)

    def series(key: str) -> list[float]:
        return [float("nan") if v is None else v for v in ts[key]]

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.step(t, series("target_rate"), where="pre", color="grey", ls="--", label="target")
    ax.plot(t, series("offered_rate"), label="offered (producer)")
    ax.plot(t, series("achieved_rate"), label="achieved (daemon consumed)")
    ax.set(xlabel="seconds", ylabel="readings/s", title=f"{name}: throughput")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, "throughput")

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(t, series("committed_lag"), label="committed lag (log end - committed)")
    ax.plot(t, series("consumed_lag"), label="unconsumed (produced - consumed)")
    ax.plot(t, series("daemon_lag_gauge"), label="daemon gauge", alpha=0.6)
    ax.set(xlabel="seconds", ylabel="records", title=f"{name}: consumer lag")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, "lag")

    fig, ax = plt.subplots(figsize=(9, 4))
    for q in ("p50", "p95", "p99"):
        ax.plot(
            t,
            [v / 1000 if v else float("nan") for v in ts[f"influx_{q}_ms"]],
            marker=".",
            label=f"reading->InfluxDB {q} (trailing {window_s:g} s)",
        )
    pts = r["alert_latencies"]
    if pts:
        ax.scatter(
            [p[0] for p in pts],
            [p[1] / 1000 for p in pts],
            marker="x",
            color="red",
            label="reading->alert (open events)",
        )
    ax.set(xlabel="seconds", ylabel="latency (s)", title=f"{name}: latency")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, "latency")

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(t, series("daemon_cpu_percent"), label="daemon CPU %")
    ax.plot(t, series("generator_cpu_percent"), label="load generator CPU %", alpha=0.6)
    ax.set(xlabel="seconds", ylabel="% of one core", title=f"{name}: resources")
    ax2 = ax.twinx()
    ax2.plot(t, series("daemon_rss_mb"), color="black", ls=":", label="daemon RSS (MB)")
    ax2.set_ylabel("MB")
    ax.legend(loc="upper left")
    ax2.legend(loc="upper right")
    save(fig, "resources")
    return out
