"""Named sets of person, routine and device parameters: how the simulated people live and what
their sensors do.

``default`` is the simulator as it has always been (every existing scenario, test and
``docs/evaluation.md`` use it; its stream is unchanged by this module). ``fitbit`` is fitted to
the real recordings in ``../shared/data`` (Fitabase: Fitbit heart rate every 1-15 s and
steps per minute, 6 people, April-May 2016; PMData: Fitbit Versa 2 daily resting HR, steps and
sleep of 16 people, 2019-20): :data:`SOURCES` says where each of its numbers came from, and
``vitalstream realism`` (docs/simulator-realism.md) shows how close it gets. Choose one per
scenario with ``[fleet] calibration = "fitbit"``.

The ``fitbit`` set is not the default: on it today's engine raises many more false alarms (as
on the real data), so the simulator targets of docs/evaluation.md are still measured on
``default`` until the detection work catches up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Calibration:
    """Parameters of people, routines and sensors that the ``default`` model fixes in code.

    A field left at its default keeps the original behaviour exactly (same random draws).

    Parameters
    ----------
    name
        How scenarios and reports refer to it.
    device_model
        Every device is this :data:`simulators.population.DEVICE_MODELS` entry (``None``: the
        scenario's model mix).
    resting_hr_mean, resting_hr_sd, resting_hr_min, resting_hr_max
        Awake resting HR of a person ~ Normal(mean - 10 (fitness - 0.5), sd), clipped
        (``resting_hr_mean=None``: the default model, 76 - 16 fitness + N(0, 4), 52-88).
    sleep_hr_drop_min, sleep_hr_drop_max
        Sleep runs this much (uniform, bpm) below the awake resting HR.
    resting_hr_daily_sd
        SD of a per-person, per-day offset of the resting level (day-to-day spread).
    rest_minute_sd
        SD of independent minute-to-minute HR variation on top of the slow wander (bpm).
    putter_intensity_per_step
        Exercise intensity (share of HR reserve) per step/min of pottering about
        (``None``: 1/400).
    walk_intensity_min, walk_intensity_max
        Intensity of commutes and lunch or weekend walks (``None``: 0.25 and 0.22).
    weekend_extra_sleep_h
        Extra sleep on weekend mornings (the default model: this much on the nights of
        Saturday and Sunday; calibrated: uniform from 0 to twice this on Friday and Saturday).
    late_night_prob, late_night_weekend_factor, late_night_max_h, late_night_sleep_loss
        Chance that a night starts late (times the factor on Friday and Saturday), by 1 to
        ``late_night_max_h`` hours (uniform); before a working day the wearer loses this share
        of the lateness in sleep.
    night_out_share
        Share of late Friday and Saturday nights spent out: heart rate at 30-50 % of its
        reserve with 0-4 steps/min until shortly before bed.
    stepless_workout_share
        Share of workouts the wrist counts no steps for (cycling, rowing, gym): 0-4 steps/min
        at 35-60 % of HR reserve.
    errand_walks_per_day, errand_median_min
        Short walks (to the shop, the car, another room) while awake: Poisson mean per day,
        lasting 1 min + a log-normal time with this median (log-sigma 1, capped at 20 min), at
        45-115 steps/min and a routine walk's intensity.
    stepless_bouts_per_day, stepless_bout_median_min
        Short stretches of effort without counted steps (a bike ride to the shops, stairs,
        lifting, stress) while awake: Poisson mean per day, lasting 8 min + a log-normal time
        with this median (log-sigma 1, capped at 90 min), at 25-45 % of HR reserve after 3 min
        at half that.
    removals_per_day, removal_median_min, removal_sigma
        Times a day the device comes off the wrist in the day (Poisson mean), each lasting a
        log-normal time (median, log-sigma), capped at 4 h.
    night_off_max
        Each person takes the device off for the night with a probability drawn uniformly in
        ``[0, night_off_max]``.
    flat_runs_per_day, flat_median_min, flat_sigma
        Stretches in which the HR stream repeats one value (the optical sensor loses the pulse
        and holds the last value): per day (Poisson mean), lasting 2 min + a log-normal time
        (median, log-sigma; capped at 1 h).
    spike_rate
        Share of HR samples displaced by 15-23 bpm (one-sample spikes).
    hr_dropouts_per_day, hr_dropout_median_min
        Daytime stretches in which the worn device counts steps but sends no heart rate
        (Poisson mean per day; 10 min + a log-normal time with this median, capped at 3 h).
    """

    name: str = "default"
    device_model: str | None = None
    resting_hr_mean: float | None = None
    resting_hr_sd: float = 4.0
    resting_hr_min: float = 52.0
    resting_hr_max: float = 88.0
    sleep_hr_drop_min: float = 7.0
    sleep_hr_drop_max: float = 11.0
    resting_hr_daily_sd: float = 0.0
    rest_minute_sd: float = 0.0
    putter_intensity_per_step: float | None = None
    walk_intensity_min: float | None = None
    walk_intensity_max: float | None = None
    weekend_extra_sleep_h: float = 0.7
    late_night_prob: float = 0.0
    late_night_weekend_factor: float = 1.0
    late_night_max_h: float = 3.0
    late_night_sleep_loss: float = 0.5
    night_out_share: float = 0.0
    stepless_workout_share: float = 0.0
    stepless_bouts_per_day: float = 0.0
    stepless_bout_median_min: float = 5.0
    errand_walks_per_day: float = 0.0
    errand_median_min: float = 2.0
    removals_per_day: float = 0.0
    removal_median_min: float = 8.0
    removal_sigma: float = 1.3
    night_off_max: float = 0.0
    flat_runs_per_day: float = 0.0
    flat_median_min: float = 0.65
    flat_sigma: float = 2.0
    spike_rate: float = 0.0
    hr_dropouts_per_day: float = 0.0
    hr_dropout_median_min: float = 10.0


DEFAULT = Calibration()

FITBIT = Calibration(
    name="fitbit",
    device_model="fitbit",
    resting_hr_mean=66.0,
    resting_hr_sd=6.5,
    resting_hr_min=48.0,
    resting_hr_max=85.0,
    sleep_hr_drop_min=5.0,
    sleep_hr_drop_max=9.0,
    resting_hr_daily_sd=2.2,
    rest_minute_sd=3.5,
    putter_intensity_per_step=1.0 / 120.0,
    walk_intensity_min=0.12,
    walk_intensity_max=0.35,
    weekend_extra_sleep_h=0.6,
    late_night_prob=0.22,
    late_night_weekend_factor=1.5,
    late_night_max_h=4.0,
    late_night_sleep_loss=0.5,
    night_out_share=0.1,
    stepless_workout_share=0.05,
    stepless_bouts_per_day=0.25,
    stepless_bout_median_min=6.0,
    errand_walks_per_day=6.0,
    errand_median_min=2.0,
    removals_per_day=3.0,
    removal_median_min=8.0,
    removal_sigma=1.3,
    night_off_max=1.0,
    flat_runs_per_day=12.0,
    flat_median_min=0.2,
    flat_sigma=1.7,
    spike_rate=0.0008,
    hr_dropouts_per_day=0.2,
    hr_dropout_median_min=10.0,
)

CALIBRATIONS: dict[str, Calibration] = {c.name: c for c in (DEFAULT, FITBIT)}

# where each number of the ``fitbit`` set comes from (measured with ``vitalstream realism``
# unless said otherwise; "Fitabase" = ../shared/data/fitabase, "PMData" = ../shared/data/pmdata;
# a day in Fitabase is a day with any heart rate, 128 of them)
SOURCES: dict[str, str] = {
    "device_model": "Fitabase: heart rate and steps only, no SpO2, no sleep stages; the HR"
    " interval mix of the `fitbit` device model is the share of Fitabase's sample intervals"
    " (1 s 8 %, 2 s 4 %, 3 s 17 %, 5 s 31 %, 10 s 23 %, 15 s 17 %) turned into a share of"
    " devices (weighted by interval)",
    "resting_hr_mean": "PMData daily resting HR (Fitbit's estimate), 14 people: person means"
    " 47.2-70.4 bpm, mean 59.5; Fitabase's daily resting HR (`resting_hr`): median 62.6;"
    " our resting level is seated-awake, a little above Fitbit's",
    "resting_hr_sd": "PMData: SD of the 14 person means, 7.1 bpm",
    "resting_hr_min": "PMData lowest person mean 47.2 bpm",
    "resting_hr_max": "Fitabase 95th percentile of daily resting HR, 76 bpm, plus margin",
    "sleep_hr_drop_min": "not measurable here (no HR during logged sleep); Fitbit's resting HR"
    " is already close to the sleeping rate, so the drop is smaller than the default's 7-11",
    "resting_hr_daily_sd": "PMData: within-person SD of the daily resting HR, median 2.2 bpm"
    " (1.3-3.4)",
    "rest_minute_sd": "Fitabase: median |change| of per-minute HR between still minutes 1.4 bpm"
    " (default simulator 0.5)",
    "putter_intensity_per_step": "Fitabase: HR 30 bpm (median) above the day's resting HR at"
    " 40-80 steps/min (default simulator 20)",
    "walk_intensity_min": "Fitabase: HR 40 bpm above resting at 100-120 steps/min (default 42:"
    " kept close), but 5 % of slow-walking minutes only 14 bpm above: some walks barely lift"
    " the heart rate (the decoupling false alarms of docs/evaluation-real.md)",
    "weekend_extra_sleep_h": "PMData (1,863 logged nights >= 3 h, 16 people): the median person"
    " sleeps 0.54 h longer on nights before Saturday and Sunday and gets up 1.35 h later"
    " (10th-90th percentile of people 0.3-2.0 h), going to bed about 0.8 h later; Fitabase:"
    " first minute with >= 10 steps 06:40 on weekdays, 07:25 at the weekend (one early riser,"
    " fitabase-4388161847, 05:00 against 06:25 and up to 10:00)",
    "late_night_prob": "PMData: 24 % of nights start after 01:00 local time; Fitabase: steps"
    " after 01:00 on 21 % of Sunday-Thursday nights and 30 % of Friday-Saturday nights"
    " (`last_up_h`: p75 00:48, p95 03:16); 1.5x as likely on Friday and Saturday; 1-4 h"
    " late (Fitabase `last_up_h` p95 03:16 against a usual bedtime near 23:00); half the"
    " lateness is lost in sleep before a working day (assumed: not measurable here)",
    "night_out_share": "Fitabase fitabase-4020332650, Friday 2016-04-15 21:37 to 03:30: heart"
    " rate 110-140 bpm for most of 6 h with 0-5 steps/min (93 min at 127 bpm from 01:22), the"
    " 71 min `tachycardia_at_rest` alert of docs/evaluation-real.md; one such night in about"
    " 37 Friday and Saturday nights with heart rate in the set",
    "stepless_workout_share": "Fitabase: runs of >= 10 min at >= 100 bpm with <= 5 steps/min"
    " (`stepless_elevated_min`) are mostly short (median 14 min, 16 of 17 under 30 min): long"
    " step-less workouts (cycling, gym) are the rarer part",
    "stepless_bouts_per_day": "Fitabase: 0.13 runs of >= 10 min at >= 100 bpm with <= 5"
    " steps/min per day with >= 6 h of HR and steps (15 in 114 days; 17 runs in all, from"
    " most wearers), median 14 min, longest 93 min (`stepless_elevated_min`,"
    " `stepless_elevated_per_day`); the rate and length are set so that the simulator"
    " measures the same",
    "errand_walks_per_day": "Fitabase: runs of minutes at >= 40 steps/min last 1 min (median),"
    " 2 min (75th percentile), 5 min (95th), 28 a day (`walk_bout_min`; PMData: 1 / 3 / 11.5);"
    " pottering about alone makes almost only 1 min runs",
    "removals_per_day": "Fitabase: 4.5 HR gaps > 1 min per day with any HR (578 in 128 days),"
    " median 7.6 min, 75th percentile 33 min (about 3 daytime removals plus the night)",
    "night_off_max": "Fitabase README and HR gaps: 2 of 5 wearers often wear it at night, one"
    " rarely, one never 00-05; HR hours per day: median 15 (default simulator 23)",
    "flat_runs_per_day": "Fitabase: 778 runs of one repeated HR value lasting >= 2 min in 128"
    " days (6 a day), median 2.6 min, 78 of >= 10 min, 95th percentile 26 min; set higher (12)"
    " because runs are only seen while the device is worn and sampling, and runs shorter than"
    " 2 min are not counted",
    "hr_dropouts_per_day": "Fitabase: 0.17 `dropout` alerts per person-day, most of them heart"
    " rate missing for 10 min to 4 h while steps go on (docs/evaluation-real.md)",
    "spike_rate": "Fitabase: 0.16 % of consecutive HR samples <= 15 s apart jump by >= 15 bpm"
    " (median 19 bpm); a one-sample spike makes two jumps",
}


def get_calibration(name: str) -> Calibration:
    """A calibration by name.

    >>> get_calibration("fitbit").device_model
    'fitbit'
    """
    try:
        return CALIBRATIONS[name]
    except KeyError:
        raise ValueError(f"unknown calibration {name!r}; known: {sorted(CALIBRATIONS)}") from None
