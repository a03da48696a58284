"""The simulator realism report (docs/simulator-realism.md and JSON): real recordings and
simulated fleets side by side, feature by feature (quantiles, KS distance) and kind by kind
(alerts per person-day of today's engine, as ``vitalstream evaluate --real`` counts them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.replay.real_evaluation import RealSet, kind_rates
from ingest.replay.real_report import notes_section
from ingest.replay.realism import FEATURES, QUANTILES, Comparison, Features, compare, quantiles
from ingest.replay.report import produced_by
from messages.kinds import AnomalyKind, Category

WITHIN = 2.0  # the goal: the simulator's false-alarm rate within 2x of the real one


@dataclass
class Side:
    """One data source of the report: a real set or a simulated fleet."""

    label: str
    features: Features
    alerts: RealSet


def rate(s: RealSet, kind: AnomalyKind) -> float | None:
    pd = s.person_days
    return kind_rates(s)[kind].alerts / pd if pd else None


def within(sim: float | None, real: float | None, factor: float = WITHIN) -> bool | None:
    """Whether ``sim`` is within ``factor`` of ``real`` (both zero counts as within)."""
    if sim is None or real is None:
        return None
    if real == 0 or sim == 0:
        return real == sim
    return 1 / factor <= sim / real <= factor


def poisson_interval(n: int, exposure: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson rate: ``n`` events in ``exposure`` person-days.

    A real set's per-kind rate rests on a handful of alerts; a simulated rate outside 2x of
    it may still be one the real set could have shown by chance.

    >>> lo, hi = poisson_interval(1, 100.0)
    >>> round(lo, 5), round(hi, 4)
    (0.00025, 0.0557)
    """
    from scipy.stats import chi2

    tail = (1.0 - level) / 2.0
    lo = 0.0 if n == 0 else float(chi2.ppf(tail, 2 * n)) / 2.0
    hi = float(chi2.ppf(1.0 - tail, 2 * n + 2)) / 2.0
    return lo / exposure, hi / exposure


def verdict(sim: RealSet, real: RealSet, kind: AnomalyKind) -> str:
    """``yes`` (within :data:`WITHIN` x), ``no``, or ``no, inside the real 95 % interval``."""
    ok = within(rate(sim, kind), rate(real, kind))
    if ok is None:
        return "-"
    if ok:
        return "yes"
    lo, hi = poisson_interval(kind_rates(real)[kind].alerts, real.person_days)
    sim_rate = rate(sim, kind)
    return (
        "no, inside the real 95 % interval"
        if sim_rate is not None and lo <= sim_rate <= hi
        else "no"
    )


def _q(q: list[float] | None) -> str:
    return "-" if q is None else " / ".join(f"{x:.3g}" for x in q)


def render(
    real: list[Side],
    sims: list[Side],
    command: str,
    notes: list[str],
    reading: str | None = None,
) -> list[str]:
    """The Markdown report; ``reading`` is the hand-written reading kept from the last one."""
    qs = " / ".join(f"p{int(q * 100)}" for q in QUANTILES)
    lines = [
        *produced_by("Simulator realism: simulated fleets next to real wearers", command),
        *notes,
        "",
        "## Distributions",
        "",
        f"Each cell: quantiles {qs} (sample size in brackets); KS = two-sample"
        " Kolmogorov-Smirnov distance to the first real set that has the feature (0 = same"
        " distribution, 1 = disjoint).",
        "",
    ]
    head = "| feature | " + " | ".join(s.label for s in real + sims)
    head += " | " + " | ".join(f"KS {s.label}" for s in sims) + " |"
    lines += [head, "|---|" + "---|" * (len(real) + 2 * len(sims))]
    comparisons: dict[str, list[Comparison]] = {}
    for s in sims:
        for r in real:
            comparisons[f"{r.label}|{s.label}"] = compare(r.features, s.features)
    for i, name in enumerate(FEATURES):
        cells = []
        for side in real + sims:
            a = side.features.array(name)
            cells.append("-" if not len(a) else f"{_q(quantiles(a))} ({len(a):,})")
        ks_cells = []
        for s in sims:
            ks = None
            for r in real:
                c = comparisons[f"{r.label}|{s.label}"][i]
                if c.ks is not None:
                    ks = f"{c.ks:.2f} vs {r.label}"
                    break
            ks_cells.append(ks or "-")
        lines.append(f"| `{name}` | " + " | ".join(cells + ks_cells) + " |")
    lines += ["", "Definitions:", ""]
    lines += [f"- `{k}`: {v}" for k, v in FEATURES.items()]
    lines += [
        "",
        "## Alerts per person-day of today's engine",
        "",
        "Alerts starting on person-days (>= 12 h of data) per person-day, counted exactly as"
        " `vitalstream evaluate --real` counts them (docs/evaluation-real.md), on the real"
        " sets and on the simulated fleets written as replay CSVs. Every alert on these"
        f" simulated fleets is a false alarm (no events injected). *Within {WITHIN:g}x*"
        f" compares the last simulated fleet with {real[0].label}; the exact Poisson 95 %"
        f" interval of {real[0].label}'s rate says how little a handful of real alerts pins"
        " it down.",
        "",
    ]
    sides = real + sims
    lines += [
        "| kind | category | "
        + " | ".join(f"{s.label} ({s.alerts.person_days} person-days)" for s in sides)
        + f" | {real[0].label} 95 % interval | within {WITHIN:g}x |",
        "|---|---|" + "---:|" * len(sides) + "---|---|",
    ]
    ref, last = real[0].alerts, sims[-1].alerts
    for k in AnomalyKind:
        cells = []
        for side in sides:
            per_day = rate(side.alerts, k)
            n = kind_rates(side.alerts)[k].alerts
            cells.append("-" if per_day is None else f"{per_day:.3f} ({n})")
        span = "-"
        if ref.person_days:
            lo, hi = poisson_interval(kind_rates(ref)[k].alerts, ref.person_days)
            span = f"{lo:.3f}-{hi:.3f}"
        lines.append(
            f"| `{k.value}` | {k.category.value} | "
            + " | ".join(cells)
            + f" | {span} | {verdict(last, ref, k)} |"
        )
    for cat in Category:
        cells = []
        for s in sides:
            pd = s.alerts.person_days
            n = sum(r.alerts for k, r in kind_rates(s.alerts).items() if k.category is cat)
            cells.append("-" if not pd else f"**{n / pd:.3f}** ({n})")
        lines.append(f"| all {cat.value} | | " + " | ".join(cells) + " | | |")
    return lines + notes_section("Reading", reading)


def report_json(real: list[Side], sims: list[Side], command: str) -> dict[str, Any]:
    def side_json(s: Side) -> dict[str, Any]:
        rates = kind_rates(s.alerts)
        pd = s.alerts.person_days
        return {
            "label": s.label,
            "devices": s.features.devices,
            "person_days": pd,
            "features": {
                name: {
                    "n": len(s.features.array(name)),
                    "quantiles": dict(
                        zip(
                            [f"p{int(q * 100)}" for q in QUANTILES],
                            quantiles(s.features.array(name)) or [],
                            strict=False,
                        )
                    ),
                }
                for name in FEATURES
            },
            "alerts_per_person_day": {
                k.value: (r.alerts / pd if pd else None) for k, r in rates.items()
            },
            "alerts": {k.value: r.alerts for k, r in rates.items()},
        }

    ks = {
        f"{s.label} vs {r.label}": {
            c.feature: c.ks for c in compare(r.features, s.features) if c.ks is not None
        }
        for s in sims
        for r in real
    }
    return {
        "command": command,
        "real": [side_json(s) for s in real],
        "simulated": [side_json(s) for s in sims],
        "ks": ks,
        "within_2x": {
            k.value: within(rate(sims[-1].alerts, k), rate(real[0].alerts, k)) for k in AnomalyKind
        },
        "verdict": {k.value: verdict(sims[-1].alerts, real[0].alerts, k) for k in AnomalyKind},
        "real_rate_interval_95": {
            k.value: list(poisson_interval(kind_rates(real[0].alerts)[k].alerts, pd))
            for k in AnomalyKind
            if (pd := real[0].alerts.person_days)
        },
    }
