"""A multi-day illness signal from heart rate and steps: nightly resting HR against the wearer's
own River baseline, steps and (when staged) sleep as support.

Where the work happens, and how often:

- **per reading** (compiled, :mod:`detectors.reading_path`): a heart-rate reading adds the time
  it covers (the time since the previous one, at most a minute) to this hour's time worn, and,
  when the wearer is at rest (the engine's 10-minute quiet-steps flag, with the steps stream
  alive), to this hour's time at rest and its HR sums: four float additions in the hour slots;
- **per hour** (:meth:`Illness.on_hour`, called by :class:`detectors.kinds.hour.Hour` when the
  hour closes): the hour is folded into the wearer's local day (steps from the hour module, time
  worn, time at rest) and, between local 00:00 and 07:00, into the night's resting HR; its
  steps between 18:00 and 03:00 into the night's evening and late steps (what tells a night
  out or a hard evening session from an illness's first night: the model discounts those);
- **per day and night** (when the local day closes, or the night's window at local 07:00): the day's
  record is kept in four slots; a closed night becomes the model's input
  (:func:`detectors.illness.night_features`) and the device's River model
  (:class:`detectors.illness.IllnessDetector`, in ``Device.models["illness"]``) judges it,
  score before learning. A flagged night opens an ``illness`` alert whose explanation is the
  model's plain-language sentence; the first judged night back within one sd of the baseline
  resolves it.

Local time comes from one place, :meth:`Illness.utc_offset_ms`: the device's offset kept by
:mod:`detectors.kinds.local_time` (from RFC 3339 readings, a device zone or the fleet default).
Hours are the engine's UTC hours, assigned to the local day or night their start falls in (exact
for whole-hour offsets).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from detectors.daily_features import DayRecord, NightRecord
from detectors.illness import IllnessCandidate, IllnessDetector, night_features
from detectors.illness import explain as explain_night
from detectors.kinds.base import DAY, HOUR, Module, Wording, r1
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent, Severity
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.alerts import Track
    from detectors.reading_path import Device

NIGHT_END_MS = 7 * HOUR  # resting HR of the night: local 00:00 to 07:00 (Alavi et al. 2022)
MIN_NIGHT_REST_MIN = 120.0  # minutes at rest in the night window behind a night's resting HR
MIN_DAY_WORN_H = 10.0  # hours worn behind a day's steps and resting HR
MIN_SLEEP_MIN = 60.0  # staged sleep behind a night's sleep duration
WARNING_DELTA_BPM = 6.0  # a flagged night this far over the baseline opens a warning, not info
# the night's activity before it: evening (a hard session) and past bedtime (a night out), local
EVENING_START_MS = 18 * HOUR
LATE_START_MS = 22 * HOUR
LATE_END_MS = 3 * HOUR
# the day is judged again at local 22:00, from its resting HR so far (00:00-22:00; the night
# that follows judges the whole day's)
EVENING_JUDGED_MS = 22 * HOUR
_NAN = float("nan")


def _night_of(local_ms: float) -> float:
    """The night (the local epoch day it ends) that local time ``local_ms`` belongs to: from
    07:00 the day before to 07:00, so the night is judged as soon as its window
    (00:00-07:00) ends rather than hours later: every hour of lead counts."""
    return (local_ms + DAY - NIGHT_END_MS) // DAY


#: the key of this module's model in ``Device.models``
MODEL = "illness"


class Illness(Module):
    name = "illness"
    kind = K.ILLNESS
    multiday = True
    metric = Metric.HEART_RATE
    title = "Possible onset of an illness"
    # version 3: the model snapshot is IllnessDetector's SNAPSHOT_VERSION 4 (bump both together)
    layout = Layout(
        "illness",
        3,
        (
            # this hour, accumulated per heart-rate reading by the compiled path (minutes)
            Slot("hour_worn", jump="reset"),
            Slot("hour_rest_w", jump="reset"),
            Slot("hour_rest_sum", jump="reset"),
            Slot("hour_rest_sq", jump="reset"),
            # the local day being accumulated (epoch days; -1 before the first hour closes)
            Slot("day", init=-1.0),
            Slot("day_worn"),
            Slot("day_steps"),
            Slot("day_step_readings"),
            Slot("day_rest_w"),
            Slot("day_rest_sum"),
            Slot("day_rest_sq"),
            # the night being accumulated: the local day it ends (07:00 to 07:00)
            Slot("night", init=-1.0),
            Slot("night_worn"),
            Slot("night_rest_w"),
            Slot("night_rest_sum"),
            Slot("night_rest_sq"),
            Slot("night_sleep_min"),
            # steps of the evening (18-22 h) and past bedtime (22-03 h) before the night
            Slot("night_evening_steps"),
            Slot("night_late_steps"),
            # the last closed day (NaN: too little worn)
            Slot("prev_day", init=-1.0),
            Slot("prev_steps", init=_NAN),
            Slot("prev_rest_hr", init=_NAN),
            Slot("prev_worn_h"),
        ),
    )

    def setup(self) -> None:
        from detectors.kinds.local_time import LocalTime

        local = self.env.modules["local_time"]
        assert isinstance(local, LocalTime)
        self.local = local
        self.HOUR_WORN = self.slot("hour_worn")
        self.HOUR_REST_W = self.slot("hour_rest_w")
        self.DAY = self.slot("day")
        self.NIGHT = self.slot("night")
        self.PREV_DAY = self.slot("prev_day")
        self.H_STEPS = self.slot("steps", "hour")
        self.H_STEPS_N = self.slot("steps_n", "hour")
        # the day's and the night's sums, in the order the hour's are folded into them
        self.D = self.slot("day_worn")
        self.N = self.slot("night_worn")

    # -- local time: the one place it is derived -----------------------------------------------

    def utc_offset_ms(self, did: str, d: Device) -> float:
        """The wearer's UTC offset (ms): local time = event time + this (kept by
        :mod:`detectors.kinds.local_time`)."""
        return self.local.offset_ms(d)

    # -- the hour closes -------------------------------------------------------------------

    def on_hour(
        self, did: str, d: Device, cur: int, new_hour: int, ts: int, out: list[AlertEvent]
    ) -> None:
        """Fold the finished UTC hour ``cur`` into its local day and night, then close the day
        or night that ended before ``new_hour``. Called before the hour's slots are reset."""
        s = d.s
        offset = self.utc_offset_ms(did, d)
        h = self.HOUR_WORN
        if cur >= 0:
            local = cur * HOUR + offset
            self._roll(did, d, local, ts, out)
            day = local // DAY
            worn, rest_w, rest_sum, rest_sq = s[h], s[h + 1], s[h + 2], s[h + 3]
            of_day = local - day * DAY
            if day == s[self.DAY]:
                o = self.D
                s[o] += worn
                s[o + 1] += s[self.H_STEPS]
                s[o + 2] += s[self.H_STEPS_N]
                s[o + 3] += rest_w
                s[o + 4] += rest_sum
                s[o + 5] += rest_sq
            if _night_of(local) == s[self.NIGHT]:
                o = self.N
                if of_day < NIGHT_END_MS:
                    s[o] += worn
                    s[o + 1] += rest_w
                    s[o + 2] += rest_sum
                    s[o + 3] += rest_sq
                if EVENING_START_MS <= of_day < LATE_START_MS:
                    s[o + 5] += s[self.H_STEPS]
                elif of_day >= LATE_START_MS or of_day < LATE_END_MS:
                    s[o + 6] += s[self.H_STEPS]
            if of_day < EVENING_JUDGED_MS <= of_day + HOUR and day == s[self.DAY]:
                self._judge_evening(did, d, day, ts, out)
        self._roll(did, d, new_hour * HOUR + offset, ts, out)
        s[h] = s[h + 1] = s[h + 2] = s[h + 3] = 0.0

    def on_sleep(self, did: str, d: Device, end_ms: float, asleep_min: float) -> None:
        """A sleep session ended at ``end_ms``: its time asleep counts for the night it ends in,
        if that night is still open (the night is judged when its window ends, at local 07:00,
        so a lie-in that ends later is not waited for: support only, and the judgement comes
        hours earlier without it)."""
        s = d.s
        if (end_ms + self.utc_offset_ms(did, d) + DAY // 2) // DAY == s[self.NIGHT]:
            s[self.N + 4] += asleep_min

    def _roll(self, did: str, d: Device, local: float, ts: int, out: list[AlertEvent]) -> None:
        """Close the local day and the night that ended before local time ``local``."""
        s = d.s
        day = local // DAY
        if s[self.DAY] < 0.0:  # the device's first hour: its model starts (bounded from here)
            s[self.DAY] = day
            if MODEL not in d.models:
                d.models[MODEL] = IllnessDetector()
        elif day > s[self.DAY]:
            self._close_day(s)
            s[self.DAY] = day
        night = _night_of(local)
        if s[self.NIGHT] < 0.0:
            s[self.NIGHT] = night
        elif night > s[self.NIGHT]:
            self._close_night(did, d, ts, out)
            s[self.NIGHT] = night

    def _close_day(self, s: Any) -> None:
        o = self.D
        worn_h = s[o] / 60.0
        # a steps-only device: minutes with a steps reading stand in for the time worn
        enough = max(worn_h, 0.0 if s[o] else s[o + 2] / 60.0) >= MIN_DAY_WORN_H
        p = self.PREV_DAY
        s[p] = s[self.DAY]
        s[p + 1] = s[o + 1] if enough and s[o + 2] > 0.0 else _NAN
        rest_w = s[o + 3]
        s[p + 2] = s[o + 4] / rest_w if enough and rest_w >= MIN_NIGHT_REST_MIN else _NAN
        s[p + 3] = worn_h
        for i in range(o, o + 6):
            s[i] = 0.0

    def _night_record(self, s: Any) -> NightRecord:
        o = self.N
        w = s[o + 1]
        rest_hr = rest_sd = None
        if w >= MIN_NIGHT_REST_MIN:
            rest_hr = s[o + 2] / w
            rest_sd = math.sqrt(max(0.0, s[o + 3] / w - rest_hr * rest_hr))
        sleep = s[o + 4]
        return NightRecord(
            day=int(s[self.NIGHT]),
            rest_hr=rest_hr,
            rest_hr_sd=rest_sd,
            rest_min=w,
            worn_min=s[o],
            sleep_min=sleep if sleep >= MIN_SLEEP_MIN else None,
            sleep_efficiency=None,
            steps=0.0,
        )

    def _day_record(self, s: Any) -> DayRecord | None:
        p = self.PREV_DAY
        if s[p] < 0.0:
            return None
        day = int(s[p])
        steps, rest = s[p + 1], s[p + 2]
        return DayRecord(
            day=day,
            weekday=(day + 3) % 7,  # 1970-01-01 was a Thursday
            worn_h=s[p + 3],
            steps=None if steps != steps else steps,
            rest_hr=None if rest != rest else rest,
            rest_hr_sd=None,
            rest_min=0.0,
        )

    def night_input(self, s: Any, night: NightRecord) -> dict[str, float]:
        """The model's input for the night being closed (``night``: its record): the night's
        and the day before's features, and the steps of the evening and past bedtime before
        the night (when the steps stream was alive the day before)."""
        x = night_features(night, self._day_record(s))
        if "steps" in x:
            x["evening_steps"] = s[self.N + 5]
            x["late_steps"] = s[self.N + 6]
        return x

    def _judge_evening(
        self, did: str, d: Device, day: float, ts: int, out: list[AlertEvent]
    ) -> None:
        """Local 22:00 of ``day``: the model's evening judgement of the day's resting HR so far
        (:meth:`detectors.illness.IllnessDetector.judge_evening`); a flag opens the alert
        hours before the night that follows would close."""
        s = d.s
        model = d.models.get(MODEL)
        o = self.D
        rest_w = s[o + 3]
        if model is None or s[o] / 60.0 < MIN_DAY_WORN_H or rest_w < MIN_NIGHT_REST_MIN:
            return
        x = {"day_rest_hr": s[o + 4] / rest_w}
        if s[o + 2] > 0.0:  # the steps stream is alive: a hard evening session is not judged
            x["evening_steps"] = s[self.N + 5]
        candidate = model.judge_evening(int(day), x)
        if candidate is not None:
            self._open(did, d, ts, day, candidate, out)

    def _open(
        self,
        did: str,
        d: Device,
        ts: int,
        day: float,
        candidate: IllnessCandidate,
        out: list[AlertEvent],
    ) -> None:
        """Open the alert for a flagged night or evening of local ``day`` (it starts at that
        day's local midnight)."""
        sev: Severity = (
            "warning" if candidate.rest_hr - candidate.baseline >= WARNING_DELTA_BPM else "info"
        )
        self.book.active(
            did,
            d.tracks,
            K.ILLNESS,
            ts,
            int(day * DAY - self.utc_offset_ms(did, d)),
            sev,
            r1(candidate.rest_hr),
            True,
            out,
            baseline=r1(candidate.baseline),
            context="at rest",
            detail=candidate.explanation,
        )

    def _close_night(self, did: str, d: Device, ts: int, out: list[AlertEvent]) -> None:
        s = d.s
        night = self._night_record(s)
        x = self.night_input(s, night)
        for i in range(self.N, self.N + 7):
            s[i] = 0.0
        model = d.models.get(MODEL)
        if not x or model is None:
            return  # nothing was measured
        base = model.baseline()
        change = model.steps_change(x)
        baseline_nights = min(model.nights, model.span)
        candidate = model.judge(night.day, x)
        tracks = d.tracks
        if candidate is not None:
            self._open(did, d, ts, night.day, candidate, out)
            return
        t = tracks.get(K.ILLNESS)
        if t is None or not t.is_open or night.rest_hr is None or base is None:
            return
        center, sd = base
        rhr = night.rest_hr
        if rhr - center >= sd:  # still up: the alert stays open (a heartbeat)
            text = explain_night(rhr, center, sd, model.elevated_run, change, baseline_nights)
            self.book.active(
                did,
                tracks,
                K.ILLNESS,
                ts,
                t.start_ms,
                t.severity,
                r1(rhr),
                True,
                out,
                baseline=r1(center),
                detail=text,
            )
        else:
            detail = (
                f"Resting heart rate last night {rhr:.0f} bpm, back within one sd of the "
                f"personal baseline ({center:.0f} +/- {sd:.1f} bpm)."
            )
            self.book.resolve(did, tracks, K.ILLNESS, ts, out, end_ms=ts, detail=detail)

    # -- state -----------------------------------------------------------------------------

    def dump_model(self, model: IllnessDetector) -> bytes:
        """The device's model as bytes for its snapshot."""
        return model.snapshot()

    def load_model(self, data: bytes) -> IllnessDetector:
        """A model restored from :meth:`dump_model`'s bytes (``ValueError`` if not readable)."""
        model = IllnessDetector()
        model.restore(data)
        return model

    def describe(self, t: Track, w: Wording) -> str | None:
        return (
            f"{self.title}: resting heart rate (at rest, at night and by day) raised over the "
            f"personal baseline for {w.dur}{w.from_clock(', ')}."
        )
