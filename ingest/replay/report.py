"""The markdown report of ``vitalstream evaluate`` (committed as docs/evaluation.md)."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from detectors import EngineConfig
from ingest.replay.evaluation import (
    ACUTE,
    ILLNESS_SIGNS,
    LOOKALIKE_JUDGED,
    MIN,
    KindStats,
    RunResult,
    false_alerts_per_device_day,
    illness_figures,
    lookalike_figures,
    merge,
    say,
)
from messages.kinds import AnomalyKind, Category

K = AnomalyKind
RECALL_TARGET = 0.95
FALSE_PER_DAY_TARGET = 0.1
ILLNESS_ALERTED_TARGET = 0.9  # alerted within onset-7 d .. onset+3 d
ILLNESS_LEAD_TARGET_H = -24.0  # median first alert at least a day before symptom onset


def sustain_min(cfg: EngineConfig, kind: AnomalyKind) -> float | None:
    """The rule's sustain time in minutes (what the time-to-detect target is relative to)."""
    table = {
        K.TACHYCARDIA_AT_REST: cfg.tachycardia.sustain_ms,
        K.BRADYCARDIA: cfg.bradycardia.sustain_ms,
        K.ABRUPT_HR_CHANGE: cfg.abrupt.sustain_ms,
        K.LOW_SPO2: cfg.low_spo2.sustain_ms,
        K.DESATURATION: cfg.desaturation.long_episode_ms,
    }
    ms = table.get(kind)
    return None if ms is None else ms / MIN


@dataclass
class Verdict:
    ok: bool
    lines: list[str]


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "-" if x is None else format(x, fmt)


def kind_table(stats: dict[AnomalyKind, KindStats], cfg: EngineConfig) -> tuple[list[str], bool]:
    lines = [
        "| kind | labels | detected | recall | alerts | precision | median TTD (min) | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    ok = True
    for kind in K:
        st = stats[kind]
        if not st.labels and not st.alerts:
            continue
        target = []
        passed = True
        if kind in ACUTE and st.labels:
            target.append(f"recall >= {RECALL_TARGET}")
            passed &= (st.recall or 0.0) >= RECALL_TARGET
            sus = sustain_min(cfg, kind)
            if sus is not None:
                target.append(f"TTD <= {sus + 2:g}")
                passed &= st.median_ttd_min is not None and st.median_ttd_min <= sus + 2
        mark = ("PASS" if passed else "**MISS**") if target else ""
        ok &= passed
        lines.append(
            f"| {kind.value} | {st.labels} | {st.detected} | {_f(st.recall)} | {st.alerts} | "
            f"{_f(st.precision)} | {_f(st.median_ttd_min, '.1f')} | "
            f"{', '.join(target)} {mark} |"
        )
    return lines, ok


def command_line(words: Sequence[str], cwd: Path | None = None) -> str:
    """A command as a reader can run it again: absolute paths (also in ``--opt=PATH``) are
    shown relative to the working directory, so a report never carries this machine's
    layout (``/work/shared/data/x`` run from ``/work/main`` reads ``../shared/data/x``).

    >>> command_line(["vitalstream", "realism", "--real", "/a/data/x", "--out=/a/b/r.md"],
    ...              cwd=Path("/a/b"))
    'vitalstream realism --real ../data/x --out=r.md'
    """

    def shown(word: str) -> str:
        opt, eq, value = word.partition("=") if word.startswith("--") else ("", "", word)
        return f"{opt}{eq}{shown_path(value, cwd)}" if value.startswith("/") else word

    return shlex.join(shown(w) for w in words)


def shown_path(path: str | Path, cwd: Path | None = None) -> str:
    """``path`` as a report shows it: relative to the working directory if absolute.

    >>> shown_path("/work/shared/data/fitabase", cwd=Path("/work/main"))
    '../shared/data/fitabase'
    >>> shown_path("data/x.csv")
    'data/x.csv'
    """
    text = str(path)
    if not os.path.isabs(text):
        return text
    return os.path.relpath(text, str(cwd if cwd is not None else Path.cwd()))


def produced_by(title: str, command: str) -> list[str]:
    """The head of every generated report: its title and the command that wrote it."""
    return [f"# {title}", "", "Produced by:", "", "```", command, "```", ""]


def write_report(
    prog: str, text: str, out: Path | None, data: object = None, json_path: Path | None = None
) -> None:
    """Write a report's Markdown to ``out`` (stdout without it) and ``data`` as JSON."""
    if out is not None:
        out.write_text(text)
        say(f"{prog}: report written to {out}")
    else:
        print(text)
    if json_path is not None:
        json_path.write_text(json.dumps(data, indent=1))
        say(f"{prog}: JSON written to {json_path}")


def illness_section(runs: list[RunResult]) -> tuple[list[str], bool]:
    """Early detection of the scenario's ``illness`` labels (none: no lines, nothing missed)."""
    fig = illness_figures(runs)
    if fig is None:
        return [], True
    share, lead = fig.alerted_share or 0.0, fig.median_lead_h
    share_ok = share >= ILLNESS_ALERTED_TARGET
    lead_ok = lead is not None and lead <= ILLNESS_LEAD_TARGET_H
    hist = ", ".join(f"{d:+d} d: {n}" for d, n in fig.lead_days_histogram().items())
    lines = [
        "Illness, early detection (an illness is alerted when its first `illness` alert opens"
        " within symptom onset - 7 d .. onset + 3 d; lead = that alert's open time minus onset):",
        "",
        "| ill | alerted | median lead (h) | median lead (d) | first alert vs onset, whole days |"
        " false illness alerts / 30 healthy device-days | target |",
        "|---:|---:|---:|---:|---|---:|---|",
        f"| {fig.ill} | {fig.alerted} ({100 * share:.1f} %) | {_f(lead, '+.0f')} |"
        f" {_f(None if lead is None else lead / 24, '+.1f')} | {hist} |"
        f" {_f(fig.false_per_30_days)} ({fig.false_alerts}) |"
        f" alerted >= {100 * ILLNESS_ALERTED_TARGET:.0f} % {'PASS' if share_ok else '**MISS**'},"
        f" median lead <= {ILLNESS_LEAD_TARGET_H:+.0f} h {'PASS' if lead_ok else '**MISS**'} |",
        "",
    ]
    return lines, share_ok and lead_ok


def lookalike_section(runs: list[RunResult], stats: dict[AnomalyKind, KindStats]) -> list[str]:
    """The healthy look-alike nights (a false-alarm test) and the alerts of the kinds an illness
    also shows that fell inside one (no lines when the runs have neither)."""
    lines: list[str] = []
    figures = lookalike_figures(runs)
    if figures:
        lines += [
            "Healthy look-alikes (labels of healthy nights that raise resting HR; not events to"
            " detect: an alert on one is a false alarm, and is listed among the alerts matching"
            " no label):",
            "",
            "| look-alike | labels | "
            + " | ".join(f"flagged by `{k.value}`" for k in LOOKALIKE_JUDGED)
            + " |",
            "|---|---:|" + "---:|" * len(LOOKALIKE_JUDGED),
        ]
        for profile, row in figures.items():
            n = row["labels"]
            cells = " | ".join(
                f"{row[k.value]} ({100 * row[k.value] / n:.1f} %)" for k in LOOKALIKE_JUDGED
            )
            lines.append(f"| {profile} | {n} | {cells} |")
        lines.append("")
    seen = [f"`{k.value}` {stats[k].in_illness}" for k in ILLNESS_SIGNS if stats[k].in_illness]
    if seen:
        lines += [
            "Also seen in an illness (alerts of kinds an illness raises too, matching no label of"
            " their own kind but inside an `illness` label: counted in precision, not as false"
            f" alarms): {', '.join(seen)}.",
            "",
        ]
    return lines


def render(results: list[RunResult], command: str, cfg: EngineConfig) -> Verdict:
    """The whole report; ``ok`` says whether every target was met."""
    out = [
        *produced_by("Detection evaluation", command),
        "Each scenario is simulated by `simulators.FleetSimulator` (seeded, start "
        "2026-01-01T00:00Z) and fed to `detectors.Engine` with the default `EngineConfig` in "
        "delivery order (late, duplicate and out-of-order readings included; malformed messages "
        "dropped as the daemon dead-letters them; impossible values kept), with `tick()` about "
        "once a simulated minute. An alert matches a label of the same kind and device if their "
        "spans overlap (30 min of slack after the label ends; 36 h for nightly/daily kinds). "
        "Labels of healthy look-alikes (a late night out, a hard training day) are not events "
        "to detect but a false-alarm test; an `elevated_resting_hr` alert inside an illness "
        "counts as seen in the illness, not as a false alarm. "
        "Time to detect (TTD) = event time of the matching alert's `open` event minus the label "
        "start. Off-wrist labels are the simulator's routine charging periods.",
        "",
    ]
    ok = True
    by_scenario: dict[str, list[RunResult]] = {}
    for r in results:
        by_scenario.setdefault(r.scenario, []).append(r)
    summary = [
        "| scenario | seeds | device-days | readings | false alerts / device-day (clinical) "
        "| false alerts / device-day (all kinds) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    sections: list[str] = []
    for name, runs in by_scenario.items():
        dd = sum(r.device_days for r in runs)
        n = sum(r.readings for r in runs)
        clin = (
            sum(false_alerts_per_device_day(r, Category.CLINICAL) * r.device_days for r in runs)
            / dd
        )
        every = sum(false_alerts_per_device_day(r) * r.device_days for r in runs) / dd
        seeds = ",".join(str(r.seed) for r in runs)
        summary.append(f"| {name} | {seeds} | {dd:g} | {n:,} | {clin:.3f} | {every:.3f} |")
        if name.startswith("normal"):
            target_ok = every <= FALSE_PER_DAY_TARGET
            ok &= target_ok
            summary[-1] += f" {'PASS' if target_ok else '**MISS**'} (<= {FALSE_PER_DAY_TARGET})"
        stats = merge(runs)
        table, t_ok = kind_table(stats, cfg)
        ok &= t_ok
        sections += [f"## {name}", "", *table, "", *lookalike_section(runs, stats)]
        illness, i_ok = illness_section(runs)
        ok &= i_ok
        sections += illness
        unmatched = [a for r in runs for a in r.unmatched]
        if unmatched:
            sections += [f"Alerts matching no label ({len(unmatched)}):", ""]
            for a in unmatched[:20]:
                sections.append(f"- `{a.kind.value}` {a.device_id} ({a.severity}): {a.explanation}")
            sections.append("")
    out += ["## Summary", "", *summary, "", *sections]
    out.append(f"Overall: {'all targets met' if ok else 'some targets missed'}.")
    return Verdict(ok, out)
