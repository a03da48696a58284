"""The report's files: ``index.html`` plus PNG plots (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ingest.report.data import SLEEP_STAGES, Alert, DeviceVitals, ReportData, Series

SEVERITY_COLORS = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}
SEVERITIES = ("critical", "warning", "info")
CATEGORY_TITLES = {"clinical": "Clinical alerts", "data_quality": "Data-quality alerts"}
DPI = 110


def file_stem(device: str) -> str:
    """A file name for a device id (ids are ``[A-Za-z0-9._:-]``; ``:`` is not portable)."""
    return "device-" + re.sub(r"[^A-Za-z0-9._-]", "_", device)


def _time_axis(ax: Axes, start: dt.datetime, stop: dt.datetime) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_xlim(start, stop)  # type: ignore[arg-type]
    ax.grid(True, axis="x", alpha=0.3)


def _alert_end(a: Alert, stop: dt.datetime) -> dt.datetime:
    end = a.end or stop
    # instant alerts (clock skew) get a visible sliver
    return max(end, a.start + dt.timedelta(minutes=2))


def _timeline(ax: Axes, alerts: Sequence[Alert], data: ReportData, title: str) -> None:
    devices = sorted({a.device for a in alerts})
    rows = {d: i for i, d in enumerate(devices)}
    for a in alerts:
        start = mdates.date2num(a.start)  # type: ignore[no-untyped-call]
        width = mdates.date2num(_alert_end(a, data.stop)) - start  # type: ignore[no-untyped-call]
        ax.barh(
            rows[a.device],
            width,
            left=start,
            height=0.6,
            color=SEVERITY_COLORS.get(a.severity, "grey"),
            edgecolor="black" if a.end is None else "none",
            linewidth=0.8,
        )
    ax.set_yticks(range(len(devices)), [d[:16] for d in devices], fontsize=8)
    ax.set_ylim(-0.7, max(len(devices), 1) - 0.3)
    ax.invert_yaxis()
    ax.set_ylabel("device")
    ax.set_title(f"{title} ({len(alerts)})", loc="left", fontsize=11)
    if not alerts:
        ax.text(0.5, 0.5, "none in this range", transform=ax.transAxes, ha="center", va="center",
                color="grey")  # fmt: skip
    _time_axis(ax, data.start, data.stop)


def _counts(ax: Axes, alerts: Sequence[Alert], title: str) -> None:
    kinds = sorted({a.kind for a in alerts})
    counts = Counter((a.kind, a.severity) for a in alerts)
    left = [0] * len(kinds)
    for sev in SEVERITIES:
        values = [counts[(k, sev)] for k in kinds]
        if any(values):
            ax.barh(kinds, values, left=left, color=SEVERITY_COLORS[sev], label=sev)
            left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("alerts (count)")
    ax.set_title(title, loc="left", fontsize=11)
    ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    ax.tick_params(axis="y", labelsize=8)
    if not kinds:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "none", transform=ax.transAxes, ha="center", va="center", color="grey")


def overview_figure(data: ReportData) -> Figure:
    by_cat = {c: [a for a in data.alerts if a.category == c] for c in CATEGORY_TITLES}
    n_rows = [max(3, len({a.device for a in v})) for v in by_cat.values()]
    fig = plt.figure(figsize=(12, 3 + 0.28 * sum(n_rows) + 3), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(3, 2, height_ratios=[*n_rows, max(n_rows) * 0.9], width_ratios=[1, 1])
    for i, (cat, title) in enumerate(CATEGORY_TITLES.items()):
        _timeline(fig.add_subplot(grid[i, :]), by_cat[cat], data, title)
    for i, (cat, title) in enumerate(CATEGORY_TITLES.items()):
        _counts(fig.add_subplot(grid[2, i]), by_cat[cat], f"{title} by kind")
    handles = [Patch(color=SEVERITY_COLORS[s], label=s) for s in SEVERITIES]
    handles.append(Patch(facecolor="white", edgecolor="black", label="still open"))
    fig.legend(handles=handles, loc="outside upper right", ncols=4, fontsize=9, frameon=False)
    fig.suptitle(
        f"Alerts {_fmt(data.start)} to {_fmt(data.stop)} (UTC)", x=0.01, ha="left", fontsize=13
    )
    return fig


DQ_COLOR = "#7f7f7f"


def _shade_alerts(ax: Axes, alerts: Sequence[Alert], data: ReportData, strip: bool) -> None:
    """Clinical alerts shade the plot by severity; data-quality alerts are a grey strip along
    the bottom of the first plot (``strip``), apart from the clinical ones."""
    for a in alerts:
        if a.category != "clinical":
            if strip:
                ax.axvspan(
                    a.start,  # type: ignore[arg-type]
                    _alert_end(a, data.stop),  # type: ignore[arg-type]
                    ymin=0,
                    ymax=0.05,
                    color=DQ_COLOR,
                    alpha=0.8,
                    linewidth=0,
                )
            continue
        ax.axvspan(
            a.start,  # type: ignore[arg-type]
            _alert_end(a, data.stop),  # type: ignore[arg-type]
            color=SEVERITY_COLORS.get(a.severity, "grey"),
            alpha=0.15,
            linewidth=0,
        )


def _gapped(series: Series, window_min: int) -> tuple[list[dt.datetime], list[float]]:
    """The series with a NaN wherever data stops for more than three windows, so lines break
    over gaps (device off the wrist, no data) instead of drawing across them."""
    gap = dt.timedelta(minutes=3 * window_min)
    times: list[dt.datetime] = []
    values: list[float] = []
    for t, v in zip(series.times, series.values, strict=True):
        if times and t - times[-1] > gap:
            times.append(times[-1] + dt.timedelta(minutes=window_min))
            values.append(math.nan)
        times.append(t)
        values.append(v)
    return times, values


def _empty(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this range", transform=ax.transAxes, ha="center",
            va="center", color="grey")  # fmt: skip


def device_figure(v: DeviceVitals, alerts: Sequence[Alert], data: ReportData) -> Figure:
    fig, axes = plt.subplots(
        4, 1, figsize=(12, 9), dpi=DPI, sharex=True, layout="constrained",
        gridspec_kw={"height_ratios": [3, 2, 1.2, 1.5]},
    )  # fmt: skip
    hr_ax, spo2_ax, sleep_ax, steps_ax = axes
    for i, ax in enumerate(axes):
        _shade_alerts(ax, alerts, data, strip=i == 0)
    if len(v.heart_rate):
        hr_ax.plot(*_gapped(v.heart_rate, data.window_min), color="#c0392b", lw=1,
                   label="heart rate (mean)")  # fmt: skip
    else:
        _empty(hr_ax, "heart rate")
    if len(v.baseline):
        hr_ax.plot(*_gapped(v.baseline, data.window_min), color="#1f4e9c", lw=1.2, ls="--",
                   label="personal baseline")  # fmt: skip
    hr_ax.set_ylabel("heart rate (bpm)")
    handles, _labels = hr_ax.get_legend_handles_labels()
    sev_seen = sorted({a.severity for a in alerts if a.category == "clinical"},
                      key=SEVERITIES.index)  # fmt: skip
    handles += [Patch(color=SEVERITY_COLORS[s], alpha=0.25, label=f"{s} alert") for s in sev_seen]
    if any(a.category != "clinical" for a in alerts):
        handles.append(Patch(color=DQ_COLOR, alpha=0.8, label="data-quality alert"))
    hr_ax.legend(handles=handles, loc="upper right", fontsize=8, ncols=4, frameon=False)

    if len(v.spo2):
        w = data.window_min
        spo2_ax.plot(*_gapped(v.spo2, w), color="#2c7fb8", lw=1, label="SpO2 (mean)")
        spo2_ax.plot(*_gapped(v.spo2_min, w), color="#2c7fb8", lw=0.8, ls=":",
                     label="SpO2 (lowest)")  # fmt: skip
        spo2_ax.axhline(90, color="#d62728", lw=0.8, ls="--", label="90 %")
        spo2_ax.legend(loc="lower right", fontsize=8, ncols=3, frameon=False)
        spo2_ax.set_ylim(top=100.5)
    else:
        _empty(spo2_ax, "SpO2")
    spo2_ax.set_ylabel("SpO2 (%)")

    if len(v.sleep):
        sleep_ax.step(v.sleep.times, v.sleep.values, where="post", color="#5b3a8e", lw=1)
    else:
        _empty(sleep_ax, "sleep stages")
    sleep_ax.set_yticks(range(len(SLEEP_STAGES)), SLEEP_STAGES, fontsize=8)
    sleep_ax.set_ylim(3.4, -0.4)  # awake on top, deep sleep low
    sleep_ax.set_ylabel("sleep stage")

    if len(v.steps_per_hour):
        steps_ax.bar(v.steps_per_hour.times, v.steps_per_hour.values, width=1 / 24 * 0.9,
                     align="edge", color="#31a354")  # fmt: skip
    else:
        _empty(steps_ax, "steps")
    steps_ax.set_ylabel("steps per hour")
    for ax in axes:
        _time_axis(ax, data.start, data.stop)
        ax.grid(True, axis="y", alpha=0.3)
    n = len(alerts)
    fig.suptitle(
        f"Device {v.device}: {n} alert{'s' if n != 1 else ''} "
        f"({_fmt(data.start)} to {_fmt(data.stop)} UTC, {data.window_min} min means)",
        x=0.01, ha="left", fontsize=12,
    )  # fmt: skip
    return fig


def _fmt(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, format="png")
    plt.close(fig)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _alert_table(alerts: Sequence[Alert], with_device: bool) -> str:
    if not alerts:
        return '<p class="none">No alerts in this range.</p>'
    head = ["device"] if with_device else []
    head += ["started (UTC)", "kind", "category", "severity", "state", "duration", "explanation"]
    rows = []
    for a in sorted(alerts, key=lambda a: a.start, reverse=True):
        cells = [html.escape(a.device)] if with_device else []
        cells += [
            _fmt(a.start),
            html.escape(a.kind),
            html.escape(a.category.replace("_", " ")),
            f'<span class="sev {html.escape(a.severity)}">{html.escape(a.severity)}</span>',
            html.escape(a.state),
            _duration(a.duration_s),
            html.escape(a.explanation),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #555; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } img { max-width: 100%; border: 1px solid #eee; }
.sev { font-weight: 600; } .critical { color: #d62728; } .warning { color: #e6550d; }
.info { color: #1f77b4; } .none { color: #777; } nav a { margin-right: 1em; }
.summary td:first-child { font-weight: 600; width: 16em; }
"""


def write_report(data: ReportData, out: Path) -> list[Path]:
    """Write ``index.html`` and the PNGs into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "alerts-overview.png"]
    _save(overview_figure(data), written[0])
    sections = []
    for v in data.vitals:
        alerts = data.alerts_of(v.device)
        png = out / f"{file_stem(v.device)}.png"
        _save(device_figure(v, alerts, data), png)
        written.append(png)
        anchor = html.escape(file_stem(v.device))
        sections.append(
            f'<section id="{anchor}"><h2>Device {html.escape(v.device)}</h2>'
            f'<img src="{html.escape(png.name)}" alt="vitals of device {html.escape(v.device)}">'
            f"{_alert_table(alerts, with_device=False)}</section>"
        )
    by_cat = Counter(a.category for a in data.alerts)
    by_sev = Counter(a.severity for a in data.alerts)
    still_open = sum(1 for a in data.alerts if a.state != "resolved")
    summary: list[tuple[str, Any]] = [
        ("time range (UTC)", f"{_fmt(data.start)} to {_fmt(data.stop)}"),
        ("InfluxDB bucket", html.escape(data.bucket)),
        ("devices with readings", data.devices_in_range),
        ("devices plotted", f"{len(data.vitals)} (most alerts first)"),
        ("alerts", f"{len(data.alerts)}: {by_cat['clinical']} clinical, "
                   f"{by_cat['data_quality']} data quality"),
        ("by severity", ", ".join(f"{by_sev[s]} {s}" for s in SEVERITIES)),
        ("still open at the end", still_open),
    ]  # fmt: skip
    nav = " ".join(
        f'<a href="#{html.escape(file_stem(v.device))}">{html.escape(v.device)}</a>'
        for v in data.vitals
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>vitalstream report {_fmt(data.start)} to {_fmt(data.stop)}</title>
<style>{CSS}</style></head><body>
<h1>vitalstream report</h1>
<p class="meta">Generated {_fmt(dt.datetime.now(dt.UTC))} UTC. Contains health data: share it
only with people allowed to see it. Device ids as stored in InfluxDB.</p>
<table class="summary">{"".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in summary)}</table>
<h2>Alerts</h2>
<img src="alerts-overview.png" alt="alert timelines and counts by kind">
{_alert_table(data.alerts, with_device=True)}
<h2>Devices</h2>
<nav>{nav}</nav>
{"".join(sections)}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return [index, *written]
