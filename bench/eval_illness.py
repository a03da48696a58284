"""Offline evaluation of the multi-day illness signal (issue 14): real healthy data + simulation.

Run: ``.venv/bin/python bench/eval_illness.py [--seeds 1,2,3]``

Every model configuration and the reference rule judge the *same* nights in the same run:

- **real, healthy** (no illness labels: every alert-day is a false alarm):
  ``/work/shared/data/fitabase`` (heart rate + steps, through the engine: the nights its
  ``illness`` module judges; person-days = days with >= 12 h of heart rate, as that README
  counts them) and
  ``/work/shared/data/pmdata/*.resting_hr.csv`` (Fitbit's daily resting HR: one night per row;
  steps of the day before from the five people whose steps are exported). Figure: illness
  alert-days per 30 person-days (target <= 0.5).
- **simulated cohort**: the ``illness_cohort`` scenario per seed: 25 wearers for 60 days
  (watches and rings, four time zones), 20 of whom catch a viral illness
  (``elevated_resting_hr`` with ``profile = "illness"``, prodrome from day 24-33, onset 1-5
  days later); everyone has late nights out and hard training days. Readings are fed to the
  engine in delivery order (late ones included), as the daemon sees them, and each wearer's
  night is their local night (``--utc-nights``: UTC nights, as the engine has them until it
  knows a device's zone). Odd devices have their
  sleep stages removed (heart rate and steps only). Figures: % of ill people alerted within
  onset-7 .. onset+3 days (target >= 90 %), the median first alert vs onset in days (target
  <= -1, i.e. at least a day before), and false alert-days per 30 person-days outside the
  illness spans.

The reference rule: nightly resting HR >= 4 bpm over the median of the previous 28 nights (at
least 7 of them) on 2 consecutive nights.

Prints a table and writes ``bench/results/illness_eval.json``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from river import anomaly, time_series

from detectors import Engine, EngineConfig
from detectors.illness import flagged_days, night_features
from detectors.kinds.illness import NIGHT_END_MS
from detectors.kinds.registry import LAYOUT
from ingest.replay.evaluation import readings_of
from ingest.replay.real_evaluation import RESTING_HR_SUFFIX, read_resting_hr
from messages.codec import Reading
from messages.kinds import AnomalyKind
from messages.metrics import Metric
from simulators import FleetSimulator
from simulators.scenario import load_scenario

DATA = Path("/work/shared/data")
RESULTS = Path(__file__).with_name("results")
START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z (a Thursday)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# night = (local day the night ended, model input)
Night = tuple[int, dict[str, float]]
Judge = Callable[[list[Night]], list[int]]  # -> days of flagged nights


def model_judge(**kwargs: Any) -> Judge:
    def run(nights: list[Night]) -> list[int]:
        return flagged_days(nights, **kwargs)

    return run


def reference_judge(nights: list[Night]) -> list[int]:
    """Resting HR >= 4 bpm over the 28-night median on 2 consecutive nights."""
    history: list[float] = []
    above_prev: int | None = None
    flagged = []
    for day, x in nights:
        rhr = x.get("rest_hr")
        if rhr is None:
            continue
        above = len(history) >= 7 and rhr >= statistics.median(history[-28:]) + 4.0
        if above and above_prev == day - 1:
            flagged.append(day)
        above_prev = day if above else None
        history.append(rhr)
    return flagged


def river_two_night_judge(make: Callable[[], Any], flag: Callable[[Any, float], bool]) -> Judge:
    """A River anomaly scorer on nightly resting HR: flagged when it flags 2 nights in a row
    (flagged nights are not learned)."""

    def run(nights: list[Night]) -> list[int]:
        model = make()
        prev: int | None = None
        flagged = []
        for day, x in nights:
            rhr = x.get("rest_hr")
            if rhr is None:
                continue
            hit = flag(model, rhr)
            if hit and prev == day - 1:
                flagged.append(day)
            prev = day if hit else None
            if not hit:
                model.learn_one(None, rhr)
        return flagged

    return run


def _gaussian_flag(model: Any, rhr: float) -> bool:
    return bool(model.score_one(None, rhr) >= 0.99 and rhr > model.gaussian.mu)


def _pad_flag(model: Any, rhr: float) -> bool:
    # PredictiveAnomalyDetection.score_one updates its error statistics (it learns while
    # scoring); measured here as it is
    above = rhr > model.predictive_model.forecast(1)[0] if model.iter >= 7 else False
    return bool(above and model.score_one(None, rhr) >= 1.0)


CONFIGS: dict[str, Judge] = {
    "reference rule (4 bpm over 28-night median, 2 nights)": reference_judge,
    "model (default: ew, k=0.75, h=2.5, 1 alert night)": model_judge(),
    "model, early rule z 2.5, 2 bpm, supported": model_judge(early_z=2.5, early_delta_bpm=2.0),
    "model, early rule z 2, 2 bpm, supported": model_judge(early_z=2.0, early_delta_bpm=2.0),
    "model, early rule z 1.5, 2 bpm, supported": model_judge(early_z=1.5, early_delta_bpm=2.0),
    "model, no day-time resting HR evidence": model_judge(day_weight=0.0),
    "model, median baseline": model_judge(baseline="median"),
    "model, night resting HR only (no steps/sleep/day support)": model_judge(
        steps_weight=0.0, sleep_weight=0.0, day_weight=0.0
    ),
    "model, k=1, h=4, 3 alert nights (conservative)": model_judge(k=1.0, h=4.0, max_alert_nights=3),
    "model, no refractory period": model_judge(max_alert_nights=10_000),
    "river GaussianScorer(28 nights) >= 0.99, 2 nights": river_two_night_judge(
        lambda: anomaly.GaussianScorer(window_size=28, grace_period=7),  # type: ignore[no-untyped-call]
        _gaussian_flag,
    ),
    "river PredictiveAnomalyDetection(HoltWinters), 2 nights": river_two_night_judge(
        lambda: anomaly.PredictiveAnomalyDetection(
            time_series.HoltWinters(alpha=0.1),  # type: ignore[no-untyped-call]
            horizon=1,
            n_std=3.0,
            warmup_period=7,
        ),
        _pad_flag,
    ),
}


# -- the engine's nights ----------------------------------------------------------------------


@dataclass
class DeviceNights:
    nights: list[Night] = field(default_factory=list)
    person_days: int = 0
    rest_hr: list[float] = field(default_factory=list)


class NightTap:
    """An :class:`Engine` whose ``illness`` module also records, per device, the model input of
    every night it judges (the engine's own features: nothing is recomputed here), with each
    device's UTC offset given (what the per-device local time will give the engine)."""

    def __init__(self, offsets_ms: dict[str, int] | None = None, worn_day_h: float = 12.0) -> None:
        self.engine = Engine(EngineConfig())
        self.devices: dict[str, DeviceNights] = {}
        mod: Any = self.engine.modules["illness"]
        close = mod._close_night
        offsets = offsets_ms or {}

        def tap(did: str, d: Any, ts: int, out: list[Any]) -> None:
            night, day = mod._night_record(d.s), mod._day_record(d.s)
            dn = self.devices.setdefault(did, DeviceNights())
            dn.nights.append((night.day, night_features(night, day)))
            if night.rest_hr is not None:
                dn.rest_hr.append(night.rest_hr)
            if day is not None and day.day == night.day - 1:
                dn.person_days += day.worn_h >= worn_day_h
            close(did, d, ts, out)

        mod._close_night = tap
        mod.utc_offset_ms = lambda did, d: float(offsets.get(did, 0))

    def feed(self, readings: list[Reading]) -> None:
        if readings:
            self.engine.process(readings)
            self.engine.tick(max(r.ts_ms for r in readings))

    def finish(self, newest_ms: int) -> dict[str, DeviceNights]:
        """Close the last day and night (a reading of nothing: a tick two days on)."""
        for did in list(self.engine.device_ids()):
            d = self.engine._devices[did]
            mod: Any = self.engine.modules["illness"]
            hour = int(d.s[LAYOUT["hour.current"]])
            mod.on_hour(did, d, hour, hour + 48, newest_ms, [])
        return self.devices


def _replay_readings(path: Path) -> list[Reading]:
    """The rows of a replay CSV as engine readings, in time order."""
    rows: list[Reading] = []
    with gzip.open(path, "rt") as f:
        for row in csv.DictReader(f):
            ts = int(datetime.fromisoformat(row["ts"]).timestamp() * 1000)
            metric = Metric(row["metric"])
            value = row["value"]
            v = (
                float(value)
                if value[0].isdigit()
                else float(["awake", "light", "deep", "rem"].index(value))
            )
            rows.append(
                Reading(row["device_id"], ts, metric, v, 60.0 if metric is Metric.STEPS else None)
            )
    rows.sort(key=lambda r: r.ts_ms)
    return rows


# -- real data ------------------------------------------------------------------------------


def fitabase() -> dict[str, DeviceNights]:
    out: dict[str, DeviceNights] = {}
    for path in sorted((DATA / "fitabase").glob("fitabase-*.csv.gz")):
        tap = NightTap()  # times are already local
        rows = _replay_readings(path)
        for lo in range(0, len(rows), 10_000):
            tap.feed(rows[lo : lo + 10_000])
        out.update(tap.finish(rows[-1].ts_ms))
    return out


def pmdata() -> dict[str, DeviceNights]:
    """Fitbit's daily resting HR (no HR samples), with the steps of the day before where the
    replay has steps (local days: UTC+1)."""
    out = {}
    for path in sorted((DATA / "pmdata").glob("pmdata-p*" + RESTING_HR_SUFFIX)):
        person = path.name.removesuffix(RESTING_HR_SUFFIX)
        steps_by_day: dict[int, float] = {}
        minutes_by_day: dict[int, int] = {}
        replay = DATA / "pmdata" / f"{person}.csv.gz"
        if replay.exists():
            for r in _replay_readings(replay):
                if r.metric is Metric.STEPS:
                    day = (r.ts_ms + HOUR_MS) // DAY_MS
                    steps_by_day[day] = steps_by_day.get(day, 0.0) + r.value
                    minutes_by_day[day] = minutes_by_day.get(day, 0) + 1
        # a day's steps count only with >= 10 h of steps minutes (the engine's worn-day rule)
        steps_by_day = {d: v for d, v in steps_by_day.items() if minutes_by_day[d] >= 600}
        dn = DeviceNights()
        for day, rhr in read_resting_hr(path):
            x: dict[str, float] = {"rest_hr": rhr}
            if day - 1 in steps_by_day:
                x["steps"] = steps_by_day[day - 1]
                x["weekend"] = 1.0 if (day - 1 + 3) % 7 >= 5 else 0.0
            dn.nights.append((day, x))
            dn.rest_hr.append(rhr)
            dn.person_days += 1
        out[person] = dn
    return out


def false_alarm_rate(devices: dict[str, DeviceNights], judge: Judge) -> tuple[int, int, float]:
    alert_days = sum(len(judge(d.nights)) for d in devices.values())
    person_days = sum(d.person_days for d in devices.values())
    return alert_days, person_days, 30.0 * alert_days / max(person_days, 1)


def nightly_sd(devices: dict[str, DeviceNights]) -> float:
    """Median within-person sd of night-to-night resting HR differences / sqrt(2)."""
    sds = []
    for d in devices.values():
        if len(d.rest_hr) >= 10:
            diffs = np.diff(np.asarray(d.rest_hr))
            sds.append(float(np.std(diffs)) / np.sqrt(2.0))
    return float(np.median(sds)) if sds else float("nan")


# -- simulated cohort -------------------------------------------------------------------------


@dataclass
class SimDevice:
    nights: DeviceNights
    onset_day: int | None
    span_days: tuple[int, int] | None  # local days of the illness event (excluded from FP)
    onset_ms: int | None
    utc_offset_ms: int


def simulate(seed: int, *, local_time: bool = True) -> list[SimDevice]:
    """Feed the cohort to the engine in delivery order, as the daemon would; odd devices send
    heart rate and steps only. ``local_time``: the engine knows each wearer's UTC offset (the
    per-device local time being added in parallel); ``False``: every night is a UTC night, as
    the engine has it today."""
    sim = FleetSimulator(load_scenario("illness_cohort"), seed=seed, start_ms=START_MS)
    offsets = [int(off) for off in sim.population.utc_offset_ms]
    ids = sim.device_ids
    tap = NightTap({ids[i]: off for i, off in enumerate(offsets)} if local_time else None)
    staged = {did for i, did in enumerate(ids) if i % 2 == 0}
    newest = 0
    for chunk in sim:
        for batch in readings_of(chunk):
            keep = [r for r in batch if r.metric is not Metric.SLEEP_STAGE or r.device_id in staged]
            tap.feed(keep)
            if batch:
                newest = max(newest, batch[-1].ts_ms)
    nights = tap.finish(newest)
    out = []
    for d, did in enumerate(ids):
        off = offsets[d] if local_time else 0
        dn = nights.get(did, DeviceNights())
        onset = span = onset_ms = None
        for e in sim.events:
            if e.device == d and e.kind is AnomalyKind.ILLNESS:
                onset_ms = int(e.params["onset_ms"])
                onset = (onset_ms + off) // DAY_MS
                span = ((e.start_ms + off) // DAY_MS, (e.end_ms + off) // DAY_MS + 1)
        out.append(SimDevice(dn, onset, span, onset_ms, off))
    return out


def cached_cohort(seed: int, local_time: bool) -> list[SimDevice]:
    """:func:`simulate`, kept in ``bench/results/`` (the engine pass is the slow part; the
    nights it judged are all the configurations need)."""
    path = RESULTS / f"illness_nights-seed{seed}-{'local' if local_time else 'utc'}.json"
    if path.exists():
        raw = json.loads(path.read_text())
        return [
            SimDevice(
                DeviceNights([(n[0], n[1]) for n in d["nights"]], d["person_days"], d["rest_hr"]),
                d["onset_day"],
                tuple(d["span_days"]) if d["span_days"] else None,  # type: ignore[arg-type]
                d["onset_ms"],
                d["utc_offset_ms"],
            )
            for d in raw
        ]
    cohort = simulate(seed, local_time=local_time)
    RESULTS.mkdir(exist_ok=True)
    path.write_text(
        json.dumps(
            [
                {
                    "nights": d.nights.nights,
                    "person_days": d.nights.person_days,
                    "rest_hr": d.nights.rest_hr,
                    "onset_day": d.onset_day,
                    "span_days": d.span_days,
                    "onset_ms": d.onset_ms,
                    "utc_offset_ms": d.utc_offset_ms,
                }
                for d in cohort
            ]
        )
    )
    return cohort


def cohort_figures(cohort: list[SimDevice], judge: Judge) -> dict[str, Any]:
    alerted = 0
    ill = 0
    leads: list[int] = []
    leads_h: list[float] = []
    fp_days = 0
    person_days = 0
    for dev in cohort:
        flagged = judge(dev.nights.nights)
        person_days += dev.nights.person_days
        if dev.onset_day is None or dev.span_days is None:
            fp_days += len(flagged)
            continue
        ill += 1
        lo, hi = dev.span_days
        fp_days += sum(1 for day in flagged if not lo <= day <= hi)
        person_days -= hi - lo  # the illness span is not a healthy person-day
        window = [day for day in flagged if dev.onset_day - 7 <= day <= dev.onset_day + 3]
        if window:
            alerted += 1
            leads.append(min(window) - dev.onset_day)
            if dev.onset_ms is not None:  # a night is judged when its window ends
                alert_ms = min(window) * DAY_MS + NIGHT_END_MS - dev.utc_offset_ms
                leads_h.append((alert_ms - dev.onset_ms) / 3_600_000)
    return {
        "ill": ill,
        "alerted_pct": 100.0 * alerted / max(ill, 1),
        "median_first_alert_vs_onset_days": float(statistics.median(leads)) if leads else None,
        "median_first_alert_vs_onset_hours": (
            float(statistics.median(leads_h)) if leads_h else None
        ),
        "first_alert_vs_onset_days_histogram": {str(k): leads.count(k) for k in sorted(set(leads))},
        "false_alert_days": fp_days,
        "healthy_person_days": person_days,
        "false_alert_days_per_30": 30.0 * fp_days / max(person_days, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--utc-nights", action="store_true", help="nights in UTC, not local")
    args = parser.parse_args()
    t0 = time.perf_counter()
    real = {"fitabase": fitabase(), "pmdata": pmdata()}
    t_real = time.perf_counter() - t0
    print(f"real data read and featurised in {t_real:.1f} s")
    for name, devs in real.items():
        print(f"  {name}: within-person night-to-night resting-HR sd {nightly_sd(devs):.2f} bpm")
    cohorts = []
    for seed in (int(s) for s in args.seeds.split(",")):
        t1 = time.perf_counter()
        cohorts.append(cached_cohort(seed, not args.utc_nights))
        print(f"  seed {seed}: simulated and featurised in {time.perf_counter() - t1:.1f} s")
    sim_devs = {f"{i}-{j}": d.nights for i, c in enumerate(cohorts) for j, d in enumerate(c)}
    healthy_sim = {k: v for k, v in sim_devs.items()}
    print(f"  simulated: night-to-night resting-HR sd {nightly_sd(healthy_sim):.2f} bpm")

    results: dict[str, Any] = {"configs": {}}
    header = (
        f"{'configuration':<54} {'fitabase /30':>12} {'pmdata /30':>11} "
        f"{'sim alerted':>11} {'median lead d':>13} {'(h)':>6} {'sim FP /30':>10}"
    )
    print(header)
    for cname, judge in CONFIGS.items():
        row: dict[str, Any] = {}
        for name, devs in real.items():
            a, p, rate = false_alarm_rate(devs, judge)
            row[name] = {"alert_days": a, "person_days": p, "per_30": rate}
        merged: list[SimDevice] = [d for c in cohorts for d in c]
        row["simulated"] = cohort_figures(merged, judge)
        row["simulated_by_seed"] = [cohort_figures(c, judge) for c in cohorts]
        results["configs"][cname] = row
        sim = row["simulated"]
        lead = sim["median_first_alert_vs_onset_days"]
        print(
            f"{cname:<54} {row['fitabase']['per_30']:>12.2f} {row['pmdata']['per_30']:>11.2f} "
            f"{sim['alerted_pct']:>10.1f}% {lead if lead is not None else float('nan'):>13.1f} "
            f"{sim['median_first_alert_vs_onset_hours'] or float('nan'):>6.0f} "
            f"{sim['false_alert_days_per_30']:>10.2f}"
        )
    results.update(
        {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "args": vars(args),
            "person_days": {k: sum(d.person_days for d in v.values()) for k, v in real.items()},
            "nightly_sd_bpm": {
                **{k: nightly_sd(v) for k, v in real.items()},
                "simulated": nightly_sd(healthy_sim),
            },
            "seconds": time.perf_counter() - t0,
        }
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "illness_eval.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out} ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
