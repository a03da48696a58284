"""Multi-day illness signal per device: River statistics on nightly resting HR and daily steps.

Input: one feature dict per closed night (:func:`night_features` of the records in
:mod:`detectors.daily_features`, which the engine's ``illness`` module accumulates: the night's
record and the record of the day before it)::

    {"rest_hr": 61.2, "day_rest_hr": 66.0, "steps": 5400.0, "weekend": 0.0, "sleep_min": 455.0}

Any feature may be missing: without ``rest_hr`` the night scores 0 and teaches only the other
baselines; the day before's resting HR, steps and sleep only ever *support* a night's resting-HR
rise, never raise an alert alone.

Which River estimator does what (chosen by measurement, ``docs/illness.md``):

- **resting-HR baseline**: ``river.stats.EWMean`` + ``river.stats.EWVar`` with a 28-night span
  (``fading_factor = 2 / 29``) by default; ``baseline="median"`` uses
  ``river.stats.RollingQuantile(0.5, 28)`` + ``river.stats.RollingIQR`` (the 28-night median of
  the reference rule, and a robust spread) instead. The spread is shrunk towards the population
  prior ``prior_sd`` (the within-person night-to-night sd, measured on real data) with a weight
  of ``prior_nights`` nights, so a young baseline neither panics on a tight week nor sleeps
  through a real rise; nothing alerts before ``min_nights`` nights.
- **usual steps**: two ``river.stats.EWMean`` (working days, weekends), so "steps down 40 % on
  this person's usual for that kind of day" compares a Saturday with Saturdays; usual sleep:
  one ``EWMean``; the day-time resting HR of the day before: ``EWMean`` + ``EWVar`` (it moves
  half a day before the night).
- **the evening's usual**: ``EWMean`` + ``EWVar`` of the day's resting HR as local 22:00 sees
  it (00:00-22:00), learned by :meth:`IllnessDetector.judge_evening`, for the evening
  judgement (a raised day after a raised night alerts 9 h before the next night closes).
- **evidence over nights**: a one-sided CuSum of the nightly resting-HR z-score, plus the day
  before's resting-HR z-score (clipped to [-1, 3], weight ``day_weight``) and bounded support
  from a steps drop and longer sleep on nights whose resting HR is already up:
  ``S = max(0, S + e - k)``. A night is flagged when ``S >= h`` and resting HR is at least
  ``min_delta_bpm`` over the baseline. The CuSum is three floats (River's ``drift.PageHinkley``
  is the same test around a running mean of its own inputs, which drifts with the residuals).

Prequential: :meth:`IllnessDetector.score_one` computes tonight's ``S`` without changing state;
:meth:`IllnessDetector.learn_one` applies it and learns the baselines only from nights that are
not flagged (resting HR winsorised at 2.5 sd, so one odd night moves the baseline little).
After ``max_alert_nights`` flagged nights (1: the alert has been given) the detector settles for
``refractory_nights`` (14): it learns every night again and builds no evidence, so a lasting
change of level (a new training block, a new medicine) costs one alert, not weeks of them.

All arithmetic is deterministic (no randomness); state is River objects plus a few floats.
A snapshot is msgpack, never pickle (it travels through the changelog topic): each River
statistic is its own state bytes (River's Rust statistics export them with ``__getstate__``)
and its few Python attributes, read back into a fresh statistic of the same configuration.
About 0.5 KB per device with the EW baseline, 1.2 KB with the median (``state_nbytes``;
measured in ``docs/illness.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from river import stats

from detectors.base import Features, feature
from detectors.daily_features import DayRecord, NightRecord

SNAPSHOT_VERSION = 4
# the River statistics a snapshot holds, in order
_RIVER = ("_center", "_spread", "_steps", "_sleep", "_day", "_evening", "_late", "_eve_day")
# then the counters and the CuSum
_STATE = (
    "_n",
    "_n_steps",
    "_n_sleep",
    "_n_day",
    "_cusum",
    "_flagged_run",
    "_quiet",
    "_elevated_run",
    "_n_evening",
    "_n_late",
    "_discounted",
    "_n_eve_day",
    "_last_night",
)

#: why a night was discounted (``IllnessDetector.discounted``): index -> plain language
DISCOUNT_REASONS = (
    "",
    "the wearer was up and moving well past their usual bedtime",
    "a long hard effort the evening before",
)


class IllnessCandidate(msgspec.Struct, frozen=True, gc=False):
    """A night that the illness model flags (the engine turns these into alert lifecycle events).

    ``day`` is the local day the night ended (epoch days); ``nights`` counts nights in a row with
    resting HR more than one sd above the baseline; ``score`` is the CuSum evidence;
    ``explanation`` is plain language.
    """

    day: int
    score: float
    rest_hr: float
    baseline: float
    baseline_sd: float
    nights: int
    steps_change: float | None
    explanation: str


def _ordinal(n: int) -> str:
    words = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
    return words.get(n, f"{n}th")


class IllnessDetector:
    """Per-device multi-night illness evidence from resting HR, steps and (optional) sleep.

    Parameters
    ----------
    baseline
        ``"ew"`` (River EWMean/EWVar) or ``"median"`` (River RollingQuantile/RollingIQR).
    span
        Nights in the baseline (28).
    prior_sd, prior_nights
        Population prior of the night-to-night resting-HR sd (bpm) and its weight in nights.
    min_nights
        Nights learned before anything is flagged.
    k, h
        CuSum allowance and decision threshold (in sds).
    max_alert_nights, refractory_nights
        Flagged nights per episode, then nights without flags while the baseline settles.
    cusum_cap
        Most evidence kept (sds), so the CuSum forgets a long rise quickly once it ends.
    min_delta_bpm
        A flagged night is at least this far above the baseline.
    steps_weight, sleep_weight
        Most evidence a steps drop (of 60 % or more) or a sleep lengthening (of 25 % or more)
        adds to a night whose resting HR z-score is already above ``support_z``.
    day_weight, prior_day_sd
        Weight of the day before's resting-HR z-score, and the population prior of its sd.
    early_z, early_delta_bpm
        The early rule (``None``: off): a night also flags on its own when its resting HR is
        ``early_z`` sds and ``early_delta_bpm`` over the baseline and a second signal supports
        it: evidence already accumulated by the nights before (CuSum > 0), steps down >= 15 %
        on the usual day, or the day before's resting HR >= 1 sd up.
    discount_z, late_min_steps, evening_min_steps
        A healthy look-alike night is **discounted** (neither flagged nor learned, no evidence
        added; ``None``: off): its ``late_steps`` (steps from local 22:00 to 03:00: up past
        bedtime) are ``discount_z`` sds and ``late_min_steps`` over the device's usual, or its
        ``evening_steps`` (18:00-22:00: a long hard effort) ``discount_z`` sds and
        ``evening_min_steps`` over theirs. Both usuals are River ``EWMean`` + ``EWVar`` per
        device, learned from every night (winsorised), so a night owl's late steps are usual.
    prior_late_sd, prior_evening_sd
        Population priors of those steps' sds (steps), weight ``prior_nights``.
    evening
        Judge each day again at local 22:00 (:meth:`judge_evening`): the day's resting HR with
        the evidence carried so far, hours before the night that follows closes.
    seed
        Accepted for a uniform detector signature; the model is deterministic.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(4)
    >>> det = IllnessDetector()
    >>> for _ in range(30):
    ...     det.learn_one({"rest_hr": rng.gauss(58, 1.5), "steps": rng.gauss(8000, 1500)})
    >>> round(det.score_one({"rest_hr": 58.0}), 2)
    0.0
    >>> det.learn_one({"rest_hr": 64.0, "steps": 4000.0})
    >>> det.score_one({"rest_hr": 64.5, "steps": 3500.0}) >= det.h
    True
    """

    def __init__(
        self,
        *,
        baseline: str = "ew",
        span: int = 28,
        prior_sd: float = 2.0,
        prior_nights: float = 10.0,
        min_nights: int = 7,
        k: float = 1.25,
        h: float = 2.0,
        min_delta_bpm: float = 1.5,
        steps_weight: float = 1.0,
        day_weight: float = 3.0,
        prior_day_sd: float = 3.0,
        sleep_weight: float = 0.5,
        support_z: float = 1.0,
        max_alert_nights: int = 1,
        refractory_nights: int = 14,
        cusum_cap: float = 6.0,
        early_z: float | None = 2.5,
        early_delta_bpm: float = 2.0,
        discount_z: float | None = 3.0,
        late_min_steps: float = 1500.0,
        evening_min_steps: float = 4000.0,
        prior_late_sd: float = 800.0,
        prior_evening_sd: float = 2000.0,
        evening: bool = True,
        seed: int | None = None,
    ) -> None:
        if baseline not in ("ew", "median"):
            raise ValueError(f"baseline must be 'ew' or 'median', got {baseline!r}")
        self.baseline_kind = baseline
        self.span = span
        self.prior_sd = prior_sd
        self.prior_nights = prior_nights
        self.min_nights = min_nights
        self.k = k
        self.h = h
        self.min_delta_bpm = min_delta_bpm
        self.steps_weight = steps_weight
        self.day_weight = day_weight
        self.prior_day_sd = prior_day_sd
        self.sleep_weight = sleep_weight
        self.support_z = support_z
        self.max_alert_nights = max_alert_nights
        self.refractory_nights = refractory_nights
        self.cusum_cap = cusum_cap
        self.early_z = early_z
        self.early_delta_bpm = early_delta_bpm
        self.discount_z = discount_z
        self.late_min_steps = late_min_steps
        self.evening_min_steps = evening_min_steps
        self.prior_late_sd = prior_late_sd
        self.prior_evening_sd = prior_evening_sd
        self.evening = evening
        self.seed = seed
        fading = 2.0 / (span + 1.0)
        self._center: Any
        self._spread: Any
        if baseline == "ew":
            self._center = stats.EWMean(fading_factor=fading)
            self._spread = stats.EWVar(fading_factor=fading)
        else:
            self._center = stats.RollingQuantile(q=0.5, window_size=span)
            self._spread = stats.RollingIQR(q_inf=0.25, q_sup=0.75, window_size=span)
        self._steps = (stats.EWMean(fading_factor=fading), stats.EWMean(fading_factor=0.25))
        self._sleep = stats.EWMean(fading_factor=fading)
        self._day = (stats.EWMean(fading_factor=fading), stats.EWVar(fading_factor=fading))
        self._n_day = 0
        self._evening = (stats.EWMean(fading_factor=fading), stats.EWVar(fading_factor=fading))
        self._late = (stats.EWMean(fading_factor=fading), stats.EWVar(fading_factor=fading))
        self._n_evening = 0
        self._n_late = 0
        # the day's resting HR as the evening sees it (00:00-22:00): its own usual
        self._eve_day = (stats.EWMean(fading_factor=fading), stats.EWVar(fading_factor=fading))
        self._n_eve_day = 0
        # the day the last night judged with a resting HR ended (-1: none yet)
        self._last_night = -1
        # the last night judged was discounted: 0 no, else an index of DISCOUNT_REASONS
        self._discounted = 0
        # nights learned, steps days learned (working, weekend), sleep nights, CuSum, run
        self._n = 0
        self._n_steps = [0, 0]
        self._n_sleep = 0
        self._cusum = 0.0
        self._flagged_run = 0
        self._quiet = 0
        self._elevated_run = 0

    # -- baselines -------------------------------------------------------------------------

    @property
    def nights(self) -> int:
        """Nights learned into the resting-HR baseline."""
        return self._n

    @property
    def elevated_run(self) -> int:
        """Judged nights in a row with resting HR more than one sd above the baseline."""
        return self._elevated_run

    @property
    def flagged_run(self) -> int:
        """Flagged nights in a row, up to the last learned night."""
        return self._flagged_run

    def baseline(self) -> tuple[float, float] | None:
        """The resting-HR baseline (center, sd shrunk to the prior), ``None`` before a night."""
        if self._n == 0:
            return None
        center = float(self._center.get())
        if self.baseline_kind == "ew":
            var = float(self._spread.get())
        else:
            var = (float(self._spread.get()) / 1.349) ** 2
        w = self.prior_nights
        sd = math.sqrt((w * self.prior_sd**2 + self._n * var) / (w + self._n))
        return center, sd

    def usual_steps(self, weekend: bool) -> float | None:
        """The usual steps of a working day or a weekend day, ``None`` before 3 such days."""
        i = 1 if weekend else 0
        return float(self._steps[i].get()) if self._n_steps[i] >= 3 else None

    def steps_change(self, x: Features) -> float | None:
        """Steps of the day before against the usual for that kind of day (-0.4 = 40 % down)."""
        steps = feature(x, "steps")
        if steps is None:
            return None
        usual = self.usual_steps(bool(feature(x, "weekend")))
        if usual is None or usual <= 0:
            return None
        return steps / usual - 1.0

    @property
    def discounted(self) -> int:
        """Why the last judged night was discounted (an index of :data:`DISCOUNT_REASONS`; 0:
        it was not)."""
        return self._discounted

    def _activity(self) -> tuple[tuple[str, Any, int, float, float, int], ...]:
        """(feature, River mean/var pair, nights learned, prior sd, floor, reason) per kind of
        late activity."""
        return (
            ("late_steps", self._late, self._n_late, self.prior_late_sd, self.late_min_steps, 1),
            (
                "evening_steps",
                self._evening,
                self._n_evening,
                self.prior_evening_sd,
                self.evening_min_steps,
                2,
            ),
        )

    def _usual(self, pair: Any, n: int, prior_sd: float) -> tuple[float, float]:
        w = self.prior_nights
        var = float(pair[1].get())
        return float(pair[0].get()), math.sqrt((w * prior_sd**2 + n * var) / (w + n))

    def discount_reason(self, x: Features) -> int:
        """Why tonight is a healthy look-alike to discount (an index of
        :data:`DISCOUNT_REASONS`), 0 if it is not; no state change.

        A late night out or a hard evening session raises the night's resting HR for one night:
        what tells it from an illness's first night is the activity before it, far over the
        wearer's own usual at that hour. (An illness lowers activity; a rise that persists is
        judged on the nights after.)
        """
        if self.discount_z is None:
            return 0
        for key, pair, n, prior_sd, floor, reason in self._activity():
            value = feature(x, key)
            if value is None or n < self.min_nights:
                continue
            usual, sd = self._usual(pair, n, prior_sd)
            if value - usual >= max(floor, self.discount_z * sd):
                return reason
        return 0

    def _learn_activity(self, x: Features) -> None:
        """Learn the usual late and evening steps (winsorised at the discount threshold, so a
        night out moves the usual a little and a lasting change of routine is learned)."""
        for key, pair, n, prior_sd, floor, _ in self._activity():
            value = feature(x, key)
            if value is None:
                continue
            if n:
                usual, sd = self._usual(pair, n, prior_sd)
                value = min(value, usual + max(floor, (self.discount_z or 3.0) * sd))
            pair[0].update(value)
            pair[1].update(value)
            if key == "late_steps":
                self._n_late += 1
            else:
                self._n_evening += 1

    # -- the detector protocol -------------------------------------------------------------

    def _evidence(self, x: Features) -> tuple[float, float, float, float, bool] | None:
        """(new CuSum, resting HR, center, sd, whether the early rule flags), or ``None`` when
        the night cannot be judged."""
        rhr = feature(x, "rest_hr")
        base = self.baseline()
        if rhr is None or base is None:
            return None
        center, sd = base
        z = (rhr - center) / sd
        e = min(z, 6.0)  # one absurd night is worth at most a few ordinary sick ones
        supported = self._cusum > 0.0
        day_rhr = feature(x, "day_rest_hr")
        if self.day_weight and day_rhr is not None and self._n_day >= self.min_nights:
            # the day before, at rest: half a day earlier than tonight, noisier
            w = self.prior_nights
            var = float(self._day[1].get())
            day_sd = math.sqrt((w * self.prior_day_sd**2 + self._n_day * var) / (w + self._n_day))
            z_day = (day_rhr - float(self._day[0].get())) / day_sd
            e += self.day_weight * min(3.0, max(-1.0, z_day))
            supported = supported or z_day >= 1.0
        if z > self.support_z:
            change = self.steps_change(x)
            if change is not None:
                supported = supported or change <= -0.15
                e += self.steps_weight * min(1.0, max(0.0, (-change - 0.2) / 0.4))
            sleep = feature(x, "sleep_min")
            if sleep is not None and self._n_sleep >= 5:
                usual = float(self._sleep.get())
                if usual > 0:
                    e += self.sleep_weight * min(1.0, max(0.0, (sleep / usual - 1.05) / 0.2))
        early = (
            self.early_z is not None
            and supported
            and z >= self.early_z
            and rhr - center >= self.early_delta_bpm
        )
        return min(self.cusum_cap, max(0.0, self._cusum + e - self.k)), rhr, center, sd, early

    def _flags(self, cusum: float, rhr: float, center: float, early: bool) -> bool:
        if self._quiet or self._n < self.min_nights:
            return False
        return early or (cusum >= self.h and rhr - center >= self.min_delta_bpm)

    def score_one(self, x: Features) -> float:
        """Tonight's CuSum evidence (sds), without learning; 0 if the night cannot be judged
        (a discounted night adds nothing: the evidence so far)."""
        if self.discount_reason(x):
            return self._cusum
        ev = self._evidence(x)
        return 0.0 if ev is None else ev[0]

    def flags(self, x: Features) -> bool:
        """Whether :meth:`learn_one` would flag this night (no state change)."""
        if self.discount_reason(x):
            return False
        ev = self._evidence(x)
        return ev is not None and self._flags(ev[0], ev[1], ev[2], ev[4])

    def learn_one(self, x: Features) -> None:
        """Apply tonight's evidence; learn the baselines unless the night is flagged.

        A discounted night (:meth:`discount_reason`) adds no evidence and teaches nothing but
        the usual late and evening steps: it is not a normal night either."""
        reason = self.discount_reason(x)
        self._learn_activity(x)
        self._discounted = reason
        if reason:
            if self._quiet:
                self._quiet -= 1
            return
        ev = self._evidence(x)
        flagged = False
        if ev is not None:
            cusum, rhr, center, _, early = ev
            flagged = self._flags(cusum, rhr, center, early)
            # no evidence builds up while an acknowledged episode settles
            self._cusum = 0.0 if self._quiet else cusum
        if self._quiet:
            self._quiet -= 1
        if ev is not None:
            above = ev[1] - ev[2] >= ev[3]  # more than one sd above the baseline
            self._elevated_run = self._elevated_run + 1 if above else 0
        if flagged:
            self._flagged_run += 1
            if self._flagged_run >= self.max_alert_nights:
                # the alert has been given: settle on the new level before alerting again
                self._quiet = self.refractory_nights
                self._cusum = 0.0
            return
        self._flagged_run = 0
        rhr_v = feature(x, "rest_hr")
        if rhr_v is not None:
            if ev is not None:  # winsorise: one odd night moves the baseline a little
                rhr_v = min(max(rhr_v, ev[2] - 2.5 * ev[3]), ev[2] + 2.5 * ev[3])
            self._center.update(rhr_v)
            self._spread.update(rhr_v)
            self._n += 1
        steps = feature(x, "steps")
        if steps is not None:
            i = 1 if feature(x, "weekend") else 0
            self._steps[i].update(steps)
            self._n_steps[i] += 1
        sleep = feature(x, "sleep_min")
        if sleep is not None:
            self._sleep.update(sleep)
            self._n_sleep += 1
        day_rhr = feature(x, "day_rest_hr")
        if day_rhr is not None:
            self._day[0].update(day_rhr)
            self._day[1].update(day_rhr)
            self._n_day += 1

    # -- the evening judgement -------------------------------------------------------------

    def _evening_usual(self, x: Features) -> tuple[float, float, float] | None:
        """(day's resting HR so far, its usual, the usual's sd) when the evening can be judged,
        else ``None``: the day after a discounted night is not (its raised day-time HR is the
        night out's tail), nor a day without a resting HR or before ``min_nights`` evenings."""
        day_rhr = feature(x, "day_rest_hr")
        if day_rhr is None or self._discounted or self._n_eve_day < self.min_nights:
            return None
        w, n = self.prior_nights, self._n_eve_day
        var = float(self._eve_day[1].get())
        sd = math.sqrt((w * self.prior_day_sd**2 + n * var) / (w + n))
        return day_rhr, float(self._eve_day[0].get()), sd

    def evening_flags(self, day: int, x: Features) -> bool:
        """Whether the evening judgement flags local day ``day`` (no state change).

        ``x`` is what is known at local 22:00: the day's resting HR so far (``day_rest_hr``,
        00:00-22:00, judged against its own usual: the evenings' values, learned by
        :meth:`judge_evening`) and, when the steps stream is alive, the evening's steps
        (``evening_steps``). The evening asks whether the night that follows would be flagged
        even if it brought no news (its resting-HR z-score 0): the evidence carried from the
        nights before plus the day's, ``S + day_weight * clip(z_day, -1, 3) - k >= h``, with the
        day's resting HR >= 1 sd and ``min_delta_bpm`` over its usual, and last night (the
        night that ended this morning, judged with a resting HR) already more than one sd over
        the baseline: the rise was there in the night and persists through the day. The CuSum
        is not changed: the day's evidence is counted once, by the night that follows, as
        before. Not judged: a hard evening session (``evening_steps``, as in
        :meth:`discount_reason`), the day after a discounted night.
        """
        if not self.evening or self._quiet or self._n < self.min_nights:
            return False
        ev = self._evening_usual(x)
        last_night_up = self._last_night == day and self._elevated_run >= 1
        if ev is None or not last_night_up or self.discount_reason(x):
            return False
        day_rhr, usual, sd = ev
        z_day = (day_rhr - usual) / sd
        if z_day < 1.0 or day_rhr - usual < self.min_delta_bpm:
            return False
        return self._cusum + self.day_weight * min(3.0, z_day) - self.k >= self.h

    def judge_evening(self, day: int, x: Features) -> IllnessCandidate | None:
        """The evening judgement (:meth:`evening_flags`) of local day ``day``, then learning.

        A flag returns a candidate and starts the episode's quiet period (the alert has been
        given: the night that follows adds no evidence and is learned, as the nights after a
        flagged night are). Otherwise the day's value is learned into the evening's usual
        (winsorised at 2.5 sd), unless the evening is not judged (:meth:`_evening_usual`)."""
        value = feature(x, "day_rest_hr")
        if not self.evening or value is None or self._discounted:
            return None
        ev = self._evening_usual(x)
        if not self.evening_flags(day, x):
            if ev is not None:  # winsorise: one odd day moves the usual a little
                _, usual, sd = ev
                value = min(max(value, usual - 2.5 * sd), usual + 2.5 * sd)
            self._eve_day[0].update(value)
            self._eve_day[1].update(value)
            self._n_eve_day += 1
            return None
        assert ev is not None
        base = self.baseline()
        assert base is not None  # evening_flags needs learned nights
        center, sd = base
        day_rhr, usual, _ = ev
        cusum = self._cusum
        self._flagged_run += 1
        self._quiet = self.refractory_nights + 1
        self._cusum = 0.0
        text = (
            f"Resting heart rate today {day_rhr:.0f} bpm, {day_rhr - usual:.0f} bpm above this "
            f"person's usual day ({usual:.0f} bpm); last night it was already over the personal "
            f"{max(min(self._n, self.span), 1)}-night baseline ({center:.0f} +/- {sd:.1f} bpm)"
        )
        text += "." if self._elevated_run <= 1 else f", {_ordinal(self._elevated_run)} in a row."
        return self._candidate(day, cusum, day_rhr, usual, sd, None, text)

    def _candidate(
        self,
        day: int,
        score: float,
        rest_hr: float,
        baseline: float,
        sd: float,
        steps_change: float | None,
        text: str,
    ) -> IllnessCandidate:
        return IllnessCandidate(
            day=day,
            score=score,
            rest_hr=rest_hr,
            baseline=baseline,
            baseline_sd=sd,
            nights=self._elevated_run,
            steps_change=steps_change,
            explanation=text,
        )

    def score_many(self, xs: Sequence[Features]) -> list[float]:
        return [self.score_one(x) for x in xs]

    def learn_many(self, xs: Sequence[Features]) -> None:
        for x in xs:
            self.learn_one(x)

    def judge(self, day: int, x: Features) -> IllnessCandidate | None:
        """Score tonight, then learn it (prequential); a candidate if the night is flagged."""
        ev = self._evidence(x)
        flagged = ev is not None and self._flags(ev[0], ev[1], ev[2], ev[4])
        flagged = flagged and not self.discount_reason(x)
        change = self.steps_change(x)
        before = self._discounted
        self.learn_one(x)
        if ev is not None and not self._discounted:
            self._last_night = day
        if not flagged or ev is None:
            return None
        cusum, rhr, center, sd, _ = ev
        text = explain(rhr, center, sd, self._elevated_run, change, min(self._n, self.span))
        if before:
            text += f" The night before was not counted: {DISCOUNT_REASONS[before]}."
        return self._candidate(day, cusum, rhr, center, sd, change, text)

    # -- state -----------------------------------------------------------------------------

    def _statistics(self) -> list[Any]:
        out: list[Any] = []
        for name in _RIVER:
            obj = getattr(self, name)
            out.extend(obj if isinstance(obj, tuple) else (obj,))
        return out

    def snapshot(self) -> bytes:
        """Versioned msgpack bytes: each River statistic's state, the counters and the CuSum."""
        river = [_stat_state(x) for x in self._statistics()]
        counters = [getattr(self, name) for name in _STATE]
        return bytes([SNAPSHOT_VERSION]) + msgspec.msgpack.encode(
            (self.baseline_kind, self.span, river, counters)
        )

    def restore(self, data: bytes) -> None:
        """Replace the state; ``ValueError`` if the version, baseline kind or span differs."""
        if not data or data[0] != SNAPSHOT_VERSION:
            raise ValueError(f"not a version-{SNAPSHOT_VERSION} IllnessDetector snapshot")
        try:
            kind, span, river, counters = msgspec.msgpack.decode(data[1:])
        except (msgspec.DecodeError, ValueError, TypeError):
            raise ValueError("unreadable IllnessDetector snapshot") from None
        if kind != self.baseline_kind or span != self.span:
            raise ValueError(
                f"snapshot has a {kind!r} baseline over {span} nights, this detector "
                f"{self.baseline_kind!r} over {self.span}"
            )
        stats_ = self._statistics()
        if len(river) != len(stats_) or len(counters) != len(_STATE):
            raise ValueError("IllnessDetector snapshot of another layout")
        for obj, st in zip(stats_, river, strict=True):
            _set_stat_state(obj, st)
        for name, value in zip(_STATE, counters, strict=True):
            setattr(self, name, value)

    def state_nbytes(self) -> int:
        """Bytes of the serialised state (what a device snapshot carries)."""
        return len(self.snapshot())


def _stat_state(x: Any) -> list[Any]:
    """A River statistic's state: its attributes in name order, the Rust core's as its state
    bytes."""
    return [
        v.__getstate__() if type(v).__module__.startswith("river._river_rust") else v
        for _, v in sorted(vars(x).items())
    ]


def _set_stat_state(x: Any, st: list[Any]) -> None:
    """Put :func:`_stat_state`'s output back into ``x`` (a statistic configured the same)."""
    names = sorted(vars(x))
    if not isinstance(st, list) or len(st) != len(names):
        raise ValueError(f"not the state of a {type(x).__name__}")
    for k, v in zip(names, st, strict=True):
        cur = getattr(x, k)
        if type(cur).__module__.startswith("river._river_rust"):
            if not isinstance(v, bytes):
                raise ValueError(f"not the state of a {type(x).__name__}")
            cur.__setstate__(v)
        elif type(v) is not type(cur):
            raise ValueError(f"not the state of a {type(x).__name__}")
        else:
            setattr(x, k, v)


def flagged_days(nights: Iterable[tuple[int, Features]], **kwargs: Any) -> list[int]:
    """The days whose night a fresh :class:`IllnessDetector` (``kwargs``: its parameters)
    flags, judging ``(day, features)`` nights in order: a daily series replayed offline.

    >>> flagged_days([(d, {"rest_hr": 60.0 + (8.0 if d >= 20 else d % 2)}) for d in range(25)])
    [20]
    """
    det = IllnessDetector(**kwargs)
    return [day for day, x in nights if det.judge(day, x) is not None]


def explain(
    rhr: float,
    center: float,
    sd: float,
    nights: int,
    steps_change: float | None,
    baseline_nights: int,
) -> str:
    """The plain-language explanation of a flagged night.

    >>> explain(71.2, 65.1, 1.8, 2, -0.4, 28)  # doctest: +NORMALIZE_WHITESPACE
    "Resting heart rate last night 71 bpm, 6 bpm above the personal 28-night baseline
    (65 +/- 1.8 bpm), second night in a row; steps down 40 % on this person's usual for
    that kind of day."
    """
    text = (
        f"Resting heart rate last night {rhr:.0f} bpm, {rhr - center:.0f} bpm above the personal "
        f"{max(baseline_nights, 1)}-night baseline ({center:.0f} +/- {sd:.1f} bpm)"
    )
    text += ", first night" if nights <= 1 else f", {_ordinal(nights)} night in a row"
    if steps_change is not None and steps_change <= -0.15:
        text += (
            f"; steps down {-steps_change * 100:.0f} % on this person's usual for that kind of day"
        )
    return text + "."


def night_features(night: NightRecord, day_before: DayRecord | None) -> dict[str, float]:
    """The model's input for one night: its resting HR and sleep, the day before's steps.

    >>> night_features(NightRecord(20000, 55.0, 2.0, 300.0, 420.0, None, None, 10.0), None)
    {'rest_hr': 55.0}
    """
    x: dict[str, float] = {}
    if night.rest_hr is not None:
        x["rest_hr"] = night.rest_hr
    if night.sleep_min is not None:
        x["sleep_min"] = night.sleep_min
    if day_before is not None and day_before.day == night.day - 1:
        if day_before.steps is not None:
            x["steps"] = day_before.steps
            x["weekend"] = 1.0 if day_before.weekday >= 5 else 0.0
        if day_before.rest_hr is not None:
            x["day_rest_hr"] = day_before.rest_hr
    return x
