"""Configuration of the detection engine: every threshold, sustain time and lifecycle knob.

All fields have clinically motivated defaults, so ``EngineConfig()`` is a working engine. The
daemon nests :class:`EngineConfig` in its settings; times are milliseconds of event time.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from messages.codec import MAX_UTC_OFFSET_MIN, MIN_UTC_OFFSET_MIN

_MIN = 60_000
_HOUR = 60 * _MIN


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselineConfig(_Cfg):
    """Personal exponentially weighted baselines with a population prior for cold start.

    Weights are time based, so a 1 s and a 60 s device learn at the same speed: a reading that
    follows the previous one of its context by ``dt`` moves the baseline by
    ``max(dt/tau_ms, dt/(learned_ms + prior_ms))`` (a running mean while young).
    """

    tau_ms: int = Field(12 * _HOUR, gt=0, description="EW time constant of context baselines")
    prior_ms: int = Field(30 * _MIN, gt=0, description="How much context time the prior is worth")
    warmup_ms: int = Field(60 * _MIN, ge=0, description="Context time before a baseline flags")
    max_dt_ms: int = Field(5 * _MIN, gt=0, description="Longer gaps count as this much time")
    flag_z: float = Field(4.0, gt=0, description="|z| at or above which a reading is flagged")
    hr_sleep_prior: tuple[float, float] = (58.0, 8.0)
    hr_rest_prior: tuple[float, float] = (68.0, 9.0)
    hr_active_prior: tuple[float, float] = (100.0, 20.0)
    spo2_prior: tuple[float, float] = (96.5, 1.5)
    hr_sd_floor: float = Field(2.0, gt=0, description="Lower bound on a HR baseline's sd, bpm")
    spo2_sd_floor: float = Field(0.7, gt=0)
    circadian_tau_ms: int = Field(7 * 24 * _HOUR, gt=0, description="Of the 4-h rest offsets")


class ActivityConfig(_Cfg):
    """What counts as at rest, asleep and exercising."""

    rest_max_steps_per_min: float = Field(
        10.0, ge=0, description="~0 steps: mean cadence at most this over the window"
    )
    rest_min_ms: int = Field(10 * _MIN, ge=_MIN, le=10 * _MIN, description="At rest: window")
    still_min_ms: int = Field(
        3 * _MIN, ge=_MIN, le=10 * _MIN, description="Inactive enough for the acute HR rules"
    )
    active_min_steps_per_min: float = Field(60.0, gt=0, description="Cadence of exercise")
    steps_valid_ms: int = Field(5 * _MIN, gt=0, description="A steps reading describes this long")
    stage_valid_ms: int = Field(15 * _MIN, gt=0, description="A sleep stage reading stays valid")
    assume_rest_without_steps: bool = Field(
        False, description="Devices that never send steps: treat awake HR as resting"
    )


class RuleConfig(_Cfg):
    """A threshold that must hold for ``sustain_ms`` (with ``grace_ms`` of tolerated noise)."""

    threshold: float
    sustain_ms: int = 10 * _MIN
    hysteresis: float = Field(3.0, ge=0, description="Once open, the threshold relaxes by this")
    grace_ms: int = Field(2 * _MIN, ge=0, description="A run survives gaps/noise this long")
    enabled: bool = True


class TachycardiaConfig(RuleConfig):
    """Tachycardia while inactive; how the rate got there sets how long it must last.

    An abrupt onset (the ~1 min level at most ``onset_rise_bpm`` below the threshold when the
    rate first crossed it: a jump of that much within about a minute) is the shape of a
    paroxysmal rhythm and alerts after ``sustain_ms``. A gradual climb (the level already
    near the threshold) is the shape of exertion the wrist counted no steps for (cycling, gym,
    carrying): it alerts only if it lasts ``gradual_sustain_ms``.
    """

    onset_rise_bpm: float = Field(
        20.0, gt=0, description="Abrupt onset: the ~1 min level at most this far below threshold"
    )
    gradual_sustain_ms: int = Field(
        30 * _MIN, gt=0, description="A gradual climb above the threshold must last this long"
    )


class AbruptChangeConfig(_Cfg):
    delta_bpm: float = Field(25.0, gt=0, description="Minimum deviation from personal baseline")
    z: float = Field(5.0, gt=0, description="...and at least this many baseline sds")
    sustain_ms: int = 3 * _MIN
    grace_ms: int = Field(
        2 * _MIN,
        ge=0,
        description="A run survives gaps/noise this long; a ~1 min level with no heart rate "
        "this long after it (before a gap) is no start of a jump",
    )
    onset_ms: int = Field(
        4 * _MIN, gt=0, description="The run must start this soon after a jump of delta/2"
    )
    jump_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="The level the jump left was at most this share of the change away from "
        "the baseline (a change from the baseline, not a swing of a rate already up)",
    )
    defer_margin_bpm: float | None = Field(
        10.0,
        description="Values this far above the tachycardia threshold, or below the "
        "bradycardia threshold, are left to those rules (None: never defer)",
    )
    enabled: bool = True


class DesaturationConfig(_Cfg):
    drop: float = Field(4.0, gt=0, description="Points below the personal SpO2 baseline")
    min_episode_ms: int = Field(10_000, ge=0, description="Shortest desaturation episode")
    min_episodes: int = Field(2, ge=1, description="Episodes within quiet_ms before alerting")
    long_episode_ms: int = Field(90_000, gt=0, description="One episode this long alerts")
    quiet_ms: int = Field(30 * _MIN, gt=0, description="No episode this long resolves the alert")
    odi_warning: float = Field(15.0, gt=0, description="Episodes/hour asleep for 'warning'")
    enabled: bool = True


class MultiDayConfig(_Cfg):
    """Nightly aggregates judged against a ~4-week personal baseline (cold start: the first
    nights, pulled towards population priors, so a new wearer is judged from night 3)."""

    baseline_nights: int = Field(28, ge=2, description="EW span of the nightly baseline")
    min_nights: int = Field(2, ge=1, description="Nights before multi-day alerts can fire")
    rhr_delta_bpm: float = Field(4.0, gt=0, description="Nightly resting HR above baseline")
    rhr_consecutive_nights: int = Field(2, ge=1)
    min_sleep_ms: int = Field(3 * _HOUR, gt=0, description="Shorter sessions are naps")
    session_gap_ms: int = Field(60 * _MIN, gt=0, description="Stage silence that ends a night")
    session_wake_ms: int = Field(90 * _MIN, gt=0, description="Awake this long ends a night")
    sleep_z: float = Field(2.5, gt=0, description="|z| of duration/efficiency/awakenings")
    sleep_duration_delta_h: float = Field(1.0, gt=0, description="...and at least this short")
    sleep_efficiency_delta: float = Field(0.08, gt=0, description="...and this much less efficient")
    sleep_awakenings_delta: float = Field(2.0, gt=0, description="...and this many more")
    sleep_loose_factor: float = Field(
        0.6, gt=0, le=1, description="Two measures beyond this share of their limits also count"
    )
    sleep_consecutive_nights: int = Field(2, ge=1)
    sleep_window_nights: int = Field(
        3,
        ge=1,
        le=16,
        description="...or that many within this many nights when one of them had more wake"
        " inside the night than usual (not only short)",
    )
    sleep_short_h: float = Field(
        6.0, gt=0, description="A night counts as short only below this (clinical short sleep)"
    )
    sleep_low_efficiency: float = Field(
        0.85, gt=0, le=1, description="...as fragmented only below this efficiency (clinical)"
    )
    awakening_min_ms: int = Field(5 * _MIN, ge=0, description="Shorter awake bouts don't count")


class InactivityConfig(_Cfg):
    usual_active_steps_per_hour: float = Field(
        300.0, gt=0, description="An hour is 'usually active' above this personal mean"
    )
    fraction: float = Field(0.1, gt=0, lt=1, description="Below this share of usual is unusual")
    consecutive_hours: int = Field(3, ge=1)
    min_days: int = Field(2, ge=1, description="Days of history before judging an hour")
    wake_grace_hours: int = Field(
        2, ge=0, description="Hours after sleep not judged (awake in bed, a lie-in)"
    )
    sleep_hr_margin_bpm: float = Field(
        6.0,
        ge=0,
        description="No sleep staging: an hour whose mean HR is within this (or 2 sd of the"
        " day-to-day spread) of the person's lowest daily level counts as asleep",
    )
    sleep_hr_max_sd_bpm: float = Field(
        8.0, gt=0, description="...and whose HR varies no more than this within the hour"
    )
    enabled: bool = True


class DecouplingConfig(_Cfg):
    """HR that does not follow activity: no rise during exercise, or high at rest.

    Off by default: on real Fitbit data every alert was ordinary physiology (walking that
    barely lifts a fit wearer's rate, recovery after a hard workout, exercise the wrist counted
    no steps for); steps say nothing of effort, so the rule cannot tell those from a heart
    that fails to respond. See docs/detection.md.
    """

    exercise_min_ms: int = Field(8 * _MIN, gt=0, description="Sustained exercise to judge")
    min_rise_bpm: float = Field(10.0, gt=0, description="Expected rise over the resting baseline")
    rest_excess_bpm: float = Field(25.0, gt=0, description="'High at rest' above rest baseline")
    rest_sustain_ms: int = Field(20 * _MIN, gt=0)
    enabled: bool = False


class QualityConfig(_Cfg):
    flatline_ms: int = Field(10 * _MIN, gt=0, description="Identical HR values this long")
    flatline_min_readings: int = Field(
        15, ge=2, description="...and this many readings (a 1/min device: 15 min)"
    )
    flatline_max_gap_ms: int = Field(
        5 * _MIN, gt=0, description="A heart-rate gap this long ends a run of identical values"
    )
    dropout_min_gap_ms: int = Field(10 * _MIN, gt=0, description="Shortest gap called a dropout")
    dropout_factor: float = Field(10.0, gt=1, description="...and this many expected intervals")
    off_wrist_gap_ms: int = Field(10 * _MIN, gt=0, description="No HR while other data flows")
    off_wrist_min_ms: int = Field(
        20 * _MIN, gt=0, description="No HR and no motion this long: off the wrist"
    )
    off_wrist_back_ms: int = Field(
        3 * _MIN, gt=0, description="HR flowing again this long ends off_wrist / optical dropout"
    )
    presence_days: int = Field(
        14, ge=2, description="Memory (days) of when a device usually sends and its holes"
    )
    presence_learn_days: float = Field(
        2.0,
        ge=0,
        description="History a seen device needs before its all-data gaps are judged (days)",
    )
    usual_hour_share: float = Field(
        0.75, ge=0, lt=1, description="An hour of the day with data on more days than this: usual"
    )
    ordinary_holes_per_week: float = Field(
        2.0, gt=0, description="Gaps of a length this frequent are the device's habit, not news"
    )
    bedtime_gap_max_ms: int = Field(
        90 * _MIN,
        ge=0,
        description="A gap after steps ended by a sleep log starting, up to this long: bedtime",
    )
    late_ms: int = Field(5 * _MIN, gt=0, description="Behind the device's newest reading: late")
    skew_ms: int = Field(5 * _MIN, gt=0, description="A backward clock jump of at least this")
    skew_min_readings: int = Field(5, ge=2, description="Consecutive readings behind = skew")
    impossible_clear_ms: int = Field(10 * _MIN, gt=0)


class AlertConfig(_Cfg):
    resolve_after_ms: int = Field(5 * _MIN, ge=0, description="Condition absent this long")
    ongoing_every_ms: int = Field(30 * _MIN, gt=0, description="Heartbeat of an open alert")
    slow_ongoing_every_ms: int = Field(
        12 * _HOUR, gt=0, description="Heartbeat of hourly/nightly kinds (multi-day alerts)"
    )
    cooldown_ms: int = Field(15 * _MIN, ge=0, description="No re-open of a kind this soon")
    flap_window_ms: int = Field(6 * _HOUR, gt=0)
    flap_count: int = Field(3, ge=2, description="Opens within the window that mean flapping")
    flap_resolve_factor: float = Field(4.0, ge=1, description="Resolve slower while flapping")
    stale_ms: int = Field(20 * _MIN, gt=0, description="tick(): unobservable this long resolves")
    multiday_stale_ms: int = Field(48 * _HOUR, gt=0, description="Same, for nightly/daily kinds")


class DeadmanConfig(_Cfg):
    roster: dict[str, int] = Field(
        default_factory=dict, description="device_id -> silent limit (ms) of expected devices"
    )
    silent_after_ms: int = Field(45 * _MIN, gt=0, description="Limit for seen, unlisted devices")
    watch_seen_devices: bool = True


_FIXED_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def time_zone(text: str) -> tzinfo:
    """The zone named by ``text``: ``UTC``, a fixed offset ``+01:00`` / ``-07:00`` or an IANA
    name (``Europe/Oslo``, whose offset follows daylight saving time).

    >>> time_zone("-07:00").utcoffset(None)
    datetime.timedelta(days=-1, seconds=61200)
    >>> time_zone("Europe/Oslo").key
    'Europe/Oslo'
    """
    if text in ("UTC", "Z"):
        return UTC
    m = _FIXED_OFFSET.match(text)
    if m is not None:
        minutes = int(m[2]) * 60 + int(m[3])
        minutes = -minutes if m[1] == "-" else minutes
        if int(m[3]) >= 60 or not MIN_UTC_OFFSET_MIN <= minutes <= MAX_UTC_OFFSET_MIN:
            raise ValueError(f"UTC offset {text!r} outside -12:00..+14:00")
        return timezone(timedelta(minutes=minutes))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {text!r} (an IANA name like Europe/Oslo, or +01:00)"
        ) from None


class LocalTimeConfig(_Cfg):
    """The wearer's local time, which hour-of-day profiles, circadian offsets and the night
    follow. Precedence: the UTC offset a reading's RFC 3339 ``ts`` carries (``Z`` and
    ``-00:00`` carry none), then the device's entry in ``devices``, then ``timezone``."""

    timezone: str = Field(
        "UTC", description="Fleet default: an IANA zone (Europe/Oslo) or a fixed offset (+01:00)"
    )
    devices: dict[str, str] = Field(
        default_factory=dict, description="device_id -> zone or offset (overrides the default)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        time_zone(v)
        return v

    @field_validator("devices")
    @classmethod
    def _known_zones(cls, v: dict[str, str]) -> dict[str, str]:
        for zone in v.values():
            time_zone(zone)
        return v


class EngineConfig(_Cfg):
    """Everything the engine needs; all defaults are usable.

    >>> cfg = EngineConfig()
    >>> cfg.tachycardia.threshold, cfg.tachycardia.sustain_ms // 60_000
    (120.0, 10)
    """

    baseline: BaselineConfig = BaselineConfig()
    activity: ActivityConfig = ActivityConfig()
    tachycardia: TachycardiaConfig = TachycardiaConfig(threshold=120.0, hysteresis=5.0)
    bradycardia: RuleConfig = RuleConfig(threshold=40.0, hysteresis=3.0)
    low_spo2: RuleConfig = RuleConfig(threshold=90.0, sustain_ms=5 * _MIN, hysteresis=1.0)
    abrupt: AbruptChangeConfig = AbruptChangeConfig()
    desaturation: DesaturationConfig = DesaturationConfig()
    multiday: MultiDayConfig = MultiDayConfig()
    inactivity: InactivityConfig = InactivityConfig()
    decoupling: DecouplingConfig = DecouplingConfig()
    quality: QualityConfig = QualityConfig()
    alerts: AlertConfig = AlertConfig()
    deadman: DeadmanConfig = DeadmanConfig()
    local_time: LocalTimeConfig = LocalTimeConfig()
