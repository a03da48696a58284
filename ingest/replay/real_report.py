"""The report of ``vitalstream evaluate --real``: Markdown (docs/evaluation-real.md) and JSON.

A hand-written reading of the alerts may sit between :data:`NOTES_BEGIN` and :data:`NOTES_END`
in the Markdown file; :func:`keep_notes` carries it over when the report is written again, so
re-running the command never erases what a person wrote about the alerts.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from ingest.replay.real_evaluation import (
    DAY,
    MIN,
    RESTING_HR_SUFFIX,
    SEVERITIES,
    Overall,
    Person,
    RealAlert,
    RealSet,
    kind_rates,
    overall,
)
from ingest.replay.report import produced_by, shown_path
from messages.kinds import AnomalyKind, Category

NOTES_BEGIN = "<!-- notes:begin (hand-written; kept when the report is regenerated) -->"
NOTES_END = "<!-- notes:end -->"
SAMPLE_PER_KIND = 4


def _rate(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _day(day: int) -> str:
    return datetime.fromtimestamp(day * DAY / 1000, tz=UTC).strftime("%Y-%m-%d")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def overall_json(o: Overall) -> dict[str, Any]:
    return {
        "person_days": o.person_days,
        "clinical_alerts": o.clinical,
        "clinical_warning_or_critical": o.clinical_warn_crit,
        "clinical_critical": o.clinical_critical,
        "data_quality_alerts": o.data_quality,
        "clinical_per_person_day": o.per_day(o.clinical),
        "clinical_warning_or_critical_per_person_day": o.per_day(o.clinical_warn_crit),
        "clinical_critical_per_person_day": o.per_day(o.clinical_critical),
        "data_quality_per_person_day": o.per_day(o.data_quality),
        "share_person_days_any_clinical": o.share(o.days_any_clinical),
        "share_person_days_warning_or_critical": o.share(o.days_warn_crit),
        "share_person_days_critical": o.share(o.days_critical),
        "alerts_on_other_days": o.off_day_alerts,
        "alarm_budget": {True: "PASS", False: "FAIL", None: "-"}[within_budget(o)],
    }


def _alert_json(a: RealAlert) -> dict[str, Any]:
    return {
        "kind": a.line.kind,
        "severity": a.line.severity,
        "start": a.line.start,
        "end": a.line.end,
        "on_person_day": a.on_person_day,
        "peak_value": a.line.peak_value,
        "hr_median": a.context.hr_median,
        "steps_per_min": a.context.steps_per_min,
        "asleep_share": a.context.asleep_share,
        "explanation": a.line.explanation,
    }


def set_json(s: RealSet, min_hours: float) -> dict[str, Any]:
    rates = kind_rates(s)
    pd = s.person_days
    return {
        "name": s.name,
        "path": shown_path(s.path),
        "files": s.files,
        "skipped_files": s.skipped_files,
        "rows": s.rows,
        "readings": s.readings,
        "skipped_rows": s.skipped_rows,
        "seconds": round(s.seconds, 2),
        "timezone": s.timezone,
        "days_with_data": s.days_with_data,
        "min_hours": min_hours,
        "overall": overall_json(overall(s.people)),
        "per_kind": {
            k.value: {
                "category": k.category.value,
                "alerts": r.alerts,
                "by_severity": {sev: r.by_severity.get(sev, 0) for sev in SEVERITIES},
                "per_person_day": r.alerts / pd if pd else None,
                "share_person_days": r.days_with / pd if pd else None,
                "alerts_on_other_days": r.off_day_alerts,
                "all_alerts_per_day_with_data": (r.alerts + r.off_day_alerts) / s.days_with_data
                if s.days_with_data
                else None,
            }
            for k, r in rates.items()
        },
        "people": [
            {
                "device_id": p.device_id,
                "readings": p.readings,
                "days_with_data": len(p.hours_by_day),
                "person_days": [_day(d) for d in p.person_days],
                "steps_rows_count_as_data": p.steps_rows_count,
                "overall": overall_json(overall([p])),
                "judged": {k.value: v for k, v in p.judged().items()},
                "alerts_by_kind": dict(sorted(Counter(a.line.kind for a in p.alerts).items())),
            }
            for p in s.people
        ],
        "sample_alerts": [_alert_json(a) for a in _sample(s)],
        "illness_on_daily_resting_hr": None
        if s.daily_resting_hr is None
        else {
            "files": s.daily_resting_hr.files,
            "person_days": s.daily_resting_hr.person_days,
            "alert_days": s.daily_resting_hr.alerts,
            "per_30_person_days": s.daily_resting_hr.per_30_person_days,
            "alert_days_by_person": {
                k: [_day(d) for d in v] for k, v in s.daily_resting_hr.alert_days.items()
            },
        },
    }


def report_json(sets: list[RealSet], command: str, min_hours: float) -> dict[str, Any]:
    return {"command": command, "sets": [set_json(s, min_hours) for s in sets]}


# -- markdown --------------------------------------------------------------------------------


def _summary(sets: list[RealSet]) -> list[str]:
    lines = [
        "| set | people | person-days | clinical / person-day | warning+critical / person-day"
        " | critical / person-day | person-days with a clinical alert (any / warning+ /"
        " critical) | data-quality / person-day | alerts on other days | alarm budget |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for s in sets:
        o = overall(s.people)
        share = " / ".join(
            _pct(o.share(n)) for n in (o.days_any_clinical, o.days_warn_crit, o.days_critical)
        )
        lines.append(
            f"| {s.name} | {len(s.people)} | {o.person_days} | {_rate(o.per_day(o.clinical))} "
            f"({o.clinical}) | {_rate(o.per_day(o.clinical_warn_crit))} "
            f"({o.clinical_warn_crit}) | {_rate(o.per_day(o.clinical_critical))} "
            f"({o.clinical_critical}) | {share} | {_rate(o.per_day(o.data_quality))} "
            f"({o.data_quality}) | {o.off_day_alerts} | {_budget(o)} |"
        )
    return lines


#: issue 13's alarm budget on real data: clinical alerts per person-day
BUDGET_WARN_CRIT = 0.02
BUDGET_CLINICAL = 0.05


def within_budget(o: Overall) -> bool | None:
    """Whether the set is within the alarm budget (warning+critical and all clinical); None
    without person-days."""
    wc, cl = o.per_day(o.clinical_warn_crit), o.per_day(o.clinical)
    if wc is None or cl is None:
        return None
    return wc <= BUDGET_WARN_CRIT + 1e-12 and cl <= BUDGET_CLINICAL + 1e-12


def _budget(o: Overall) -> str:
    ok = within_budget(o)
    if ok is None:
        return "-"
    return ("PASS" if ok else "FAIL") + f" (<= {BUDGET_WARN_CRIT} / {BUDGET_CLINICAL})"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _per_kind(sets: list[RealSet]) -> list[str]:
    """Each kind's alerts per person-day on each set, side by side; and, looser, all of its
    alerts per day with any data (which counts the sleep-only wearers too)."""
    head = "| kind | category | " + " | ".join(s.name for s in sets)
    head += " | " + " | ".join(f"{s.name}: all alerts / day with data" for s in sets) + " |"
    lines = [head, "|---|---|" + "---:|" * (2 * len(sets))]
    rates = [(s.person_days, s.days_with_data, kind_rates(s)) for s in sets]
    for k in AnomalyKind:
        strict, loose = [], []
        for pd, dd, r in rates:
            n = r[k].alerts
            strict.append("-" if not pd else f"{n / pd:.3f} ({n})")
            m = n + r[k].off_day_alerts
            loose.append("-" if not dd else f"{m / dd:.3f} ({m})")
        lines.append(f"| `{k.value}` | {k.category.value} | " + " | ".join(strict + loose) + " |")
    return lines


def _kind_table(s: RealSet) -> list[str]:
    pd = s.person_days
    lines = [
        "| kind | alerts | info | warning | critical | per person-day | share of person-days"
        " | alerts on other days |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, r in kind_rates(s).items():
        if not r.alerts and not r.off_day_alerts:
            continue
        sev = " | ".join(str(r.by_severity.get(x, 0)) for x in SEVERITIES)
        lines.append(
            f"| `{k.value}` | {r.alerts} | {sev} | {_rate(r.alerts / pd if pd else None)} | "
            f"{_pct(r.days_with / pd if pd else None)} | {r.off_day_alerts} |"
        )
    return lines


def _daily_resting_hr(s: RealSet) -> list[str]:
    d = s.daily_resting_hr
    if d is None:
        return []
    people = ", ".join(f"{k} {len(v)}" for k, v in sorted(d.alert_days.items()) if v)
    return [
        "### Illness on the daily resting-HR series",
        "",
        f"The folder's {len(d.files)} `*{RESTING_HR_SUFFIX}` files (the device's own daily"
        " resting-HR estimate, no heart-rate samples needed), one night per row, judged by the"
        " `illness` kind's model (`detectors.illness.flagged_days`, default parameters; resting"
        " HR only) in date order, every alert-day counted as a false alarm (no illness labels):"
        f" **{d.alerts} alert-days in {d.person_days} person-days ="
        f" {_rate(d.per_30_person_days, 2)} per 30 person-days** (target <= 0.5)."
        + (f" Alert-days by person: {people}." if people else ""),
        "",
    ]


def _signals(p: Person) -> str:
    return ", ".join(f"{m} {n:,}" for m, n in sorted(p.readings.items()) if n) or "none"


def _people_table(s: RealSet) -> list[str]:
    lines = [
        "| device | readings | days with data | person-days | median h of data on a person-day"
        " | clinical (warning+) | clinical / person-day | data-quality | alerts on other days |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in s.people:
        o = overall([p])
        hours = sorted(p.hours_by_day[d] for d in p.person_days)
        med = f"{hours[len(hours) // 2]:.1f}" if hours else "-"
        lines.append(
            f"| {p.device_id} | {_signals(p)} | {len(p.hours_by_day)} | {o.person_days} | {med} "
            f"| {o.clinical} ({o.clinical_warn_crit}) | {_rate(o.per_day(o.clinical))} | "
            f"{o.data_quality} | {o.off_day_alerts} |"
        )
    return lines


def _judged_table(s: RealSet) -> list[str]:
    """Which kinds the engine could judge on which devices (by the signals they send)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    verdicts: dict[tuple[str, ...], dict[AnomalyKind, str]] = {}
    for p in s.people:
        key = tuple(sorted(m for m, n in p.readings.items() if n))
        groups.setdefault(key, []).append(p.device_id)
        verdicts[key] = p.judged()
    lines = [
        "| signals sent | devices | judged | judged, sleep told from heart rate"
        " | judged, context assumed | not judged (signal missing) |",
        "|---|---|---|---|---|---|",
    ]
    for key, devices in sorted(groups.items()):
        v = verdicts[key]

        def names(want: str, v: dict[AnomalyKind, str] = v) -> str:
            return ", ".join(f"`{k.value}`" for k, x in v.items() if x == want) or "-"

        lines.append(
            f"| {', '.join(key) or 'none'} | {len(devices)} | {names('yes')} | "
            f"{names('inferred')} | {names('no context')} | {names('no')} |"
        )
    return lines


def _sample(s: RealSet) -> list[RealAlert]:
    """Up to :data:`SAMPLE_PER_KIND` alerts of each kind on person-days, spread over the set
    (evenly spaced in start order, so not only the first person's)."""
    by_kind: dict[AnomalyKind, list[RealAlert]] = {}
    for p in s.people:
        for a in p.alerts:
            if a.on_person_day:
                by_kind.setdefault(a.kind, []).append(a)
    out = []
    for k in AnomalyKind:
        alerts = sorted(by_kind.get(k, []), key=lambda a: (a.line.device_id, a.start_ms))
        if len(alerts) > SAMPLE_PER_KIND:
            step = len(alerts) / SAMPLE_PER_KIND
            alerts = [alerts[int(i * step)] for i in range(SAMPLE_PER_KIND)]
        out += alerts
    return out


def _sample_table(s: RealSet) -> list[str]:
    lines = [
        "| kind | severity | device | start (UTC) | min | HR median | steps/min | asleep"
        " | explanation |",
        "|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for a in _sample(s):
        c = a.context
        dur = "open" if a.end_ms is None else f"{(a.end_ms - a.start_ms) / MIN:.0f}"
        expl = a.line.explanation.replace("|", "/")
        lines.append(
            f"| `{a.line.kind}` | {a.line.severity} | {a.line.device_id} | {_when(a.start_ms)} | "
            f"{dur} | {_rate(c.hr_median, 0)} | {_rate(c.steps_per_min, 0)} | "
            f"{_pct(c.asleep_share)} | {expl} |"
        )
    return lines


def render_markdown(
    sets: list[RealSet], command: str, min_hours: float, notes: str | None = None
) -> str:
    clinical = [k.value for k in AnomalyKind if k.category is Category.CLINICAL]
    lines = [
        *produced_by("Detection on real wearable data", command),
        "Real recordings of ordinary people, without clinical labels (see each folder's README"
        " for the source, licence and attribution): every clinical alert on them counts as a"
        " false alarm unless the data shows otherwise. Each replay CSV goes through"
        " `ingest.replay.replay.replay`, the path of `vitalstream replay` (event-time reorder"
        " buffer, batches, `tick()` every minute of event time), with the default"
        " `EngineConfig` unless the settings say otherwise. Each file is one person.",
        "",
        "**Definitions.**",
        "",
        "- *Minute of data*: a minute in which the device reported a body signal: heart rate,"
        " SpO2, a sleep-stage epoch, or a steps count above zero. A steps row of 0 is not"
        " evidence of wear (Fitabase writes 0 for every minute of the month, worn or not). On a"
        " device that never sends heart rate or SpO2 (PMData: sleep stages and, for 5 people,"
        " steps) every steps row counts, zeros included: that export holds only the minutes the"
        " tracker logged, and nothing else there tells wear from no wear.",
        f"- *Person-day*: a calendar day of the wearer's local time with >= {min_hours:g} h of"
        " data of that person; an alert falls on the local day its start does. Local time is"
        " the zone the engine is given (`--timezone`, else `detection.local_time`; a device's"
        " own entry there wins), UTC when none is: "
        + "; ".join(f"{s.name} {s.timezone}" for s in sets)
        + " (Fitabase times are local wall-clock times written as UTC, so UTC days are its"
        " local days; PMData is UTC, its wearers live in Norway, Europe/Oslo). Times in the"
        " tables are UTC. A PMData wearer who sends only sleep stages has 7-9 h of"
        " data on most days and so few person-days (a day that holds the end of one night and"
        " the start of the next can reach 12 h): alerts on days below the bar are listed as"
        " *alerts on other days*, never in a rate.",
        "- *Rates*: alerts whose start falls on a person-day, divided by person-days. An alert"
        " is counted once in its final state (highest severity reached). Clinical kinds: "
        + ", ".join(f"`{k}`" for k in clinical)
        + "; the others are data quality, reported apart.",
        "",
        "## Summary",
        "",
        *_summary(sets),
        "",
        "## Alerts per person-day by kind",
        "",
        "Each kind's alerts per person-day (count in brackets) on each real set, with this"
        " engine; the alarm budget (issue 13) is warning+critical <= 0.02 and all clinical"
        " <= 0.05 per person-day on every set. The last columns divide"
        " *all* of a kind's alerts by the days with any data: that includes the PMData wearers"
        " who send only sleep stages (few person-days, but a night of data on most days).",
        "",
        *_per_kind(sets),
    ]
    for s in sets:
        skipped = (
            f" Other CSVs in the folder (not replay format, not replayed): {len(s.skipped_files)}."
            if s.skipped_files
            else ""
        )
        rows_skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(s.skipped_rows.items()))
        lines += [
            "",
            f"## {s.name}",
            "",
            f"`{shown_path(s.path)}`: {len(s.files)} replay files, {s.rows:,} rows,"
            f" {s.readings:,} readings scored in {s.seconds:.1f} s;"
            f" {s.person_days} person-days (local days: {s.timezone}).{skipped}"
            + (f" Rows skipped: {rows_skipped}." if rows_skipped else ""),
            "",
            "### Per kind",
            "",
            *_kind_table(s),
            "",
            *_daily_resting_hr(s),
            "### Per person",
            "",
            *_people_table(s),
            "",
            "### Kinds judged per device",
            "",
            "A kind is judged where the device sends the signals it reads; *context assumed*"
            " means the rule runs but cannot see whether the wearer was resting or asleep"
            " (no steps or no sleep stages), so it guesses; *sleep told from heart rate*"
            " means that, for want of sleep staging, an hour whose heart rate is near the"
            " person's sleeping level counts as asleep (the alert's explanation says so).",
            "",
            *_judged_table(s),
            "",
            "### A sample of the alerts",
            "",
            f"Up to {SAMPLE_PER_KIND} alerts per kind on person-days, spread over the set, with"
            " what the signals did while the alert was open (per-minute means; an open alert's"
            " first 10 min).",
            "",
            *_sample_table(s),
        ]
    lines += notes_section("Reading of the alerts", notes)
    return "\n".join(lines)


def notes_section(title: str, notes: str | None) -> list[str]:
    """A hand-written section that :func:`keep_notes` carries over to the next report."""
    body = [notes.strip("\n")] if notes else ["(no notes yet)"]
    return ["", f"## {title}", "", NOTES_BEGIN, *body, NOTES_END, ""]


def keep_notes(previous: str | None) -> str | None:
    """The hand-written notes of a previous report, if it has them."""
    if not previous or NOTES_BEGIN not in previous or NOTES_END not in previous:
        return None
    body = previous.split(NOTES_BEGIN, 1)[1].split(NOTES_END, 1)[0].strip("\n")
    return None if body.strip() in ("", "(no notes yet)") else body
