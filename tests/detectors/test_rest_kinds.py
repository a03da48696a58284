"""The rest and sleep kinds judge only with the context a device actually sends.

``unusual_inactivity`` on a device without sleep staging tells sleep from rest by heart rate
(near the person's sleeping level and steady); it never judges a device that sends no steps or
no heart rate. ``sleep_disruption`` counts a long night's extra awakenings as nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from detectors import Engine, EngineConfig
from detectors.types import AlertEvent
from messages.codec import Reading
from tests.detectors.streams import DAY, HOUR, MIN, T0, minutes

SPECIAL_DAY = 4  # after the steps profile and the sleeping level have been learned


def _no_stage_day(minute: int) -> tuple[float, float]:
    """(steps/min, heart rate) of an ordinary day on a device without sleep staging: asleep
    23-07 (no steps, heart rate ~52), up 07-23 (about 600 steps an hour, heart rate ~75)."""
    h = minute // 60
    if h < 7 or h >= 23:
        return 0.0, 52.0
    return (20.0 if minute % 2 else 0.0), 75.0


def _days(
    special: Callable[[int], tuple[float, float] | None],
    *,
    with_steps: bool = True,
    with_hr: bool = True,
    days: int = 6,
) -> list[Reading]:
    """``days`` days, 1 reading/min; on SPECIAL_DAY ``special(minute)`` replaces the plan."""

    def plan(i: int) -> tuple[float, float]:
        day, minute = divmod(i, 1440)
        if day == SPECIAL_DAY and (x := special(minute)) is not None:
            return x
        return _no_stage_day(minute)

    return minutes(
        "wrist",
        days * 1440,
        steps=(lambda i: plan(i)[0]) if with_steps else None,
        hr=(lambda i: plan(i)[1]) if with_hr else None,
    )


def _inactivity(readings: list[Reading]) -> list[AlertEvent]:
    out = Engine(EngineConfig()).process(readings)
    return [a for a in out.alerts if a.kind == "unusual_inactivity"]


def test_a_lie_in_with_sleep_like_heart_rate_does_not_alert() -> None:
    # stays in bed, asleep by heart rate, until 11:00 on a day usually active from 07:00
    def lie_in(minute: int) -> tuple[float, float] | None:
        return (0.0, 52.0) if minute < 11 * 60 else None

    assert _inactivity(_days(lie_in)) == []


def test_awake_inactivity_alerts_and_says_which_context_it_had() -> None:
    # up at 07:00 as usual, then no step from 09:00 to 16:00 with an awake heart rate
    def still_awake(minute: int) -> tuple[float, float] | None:
        return (0.0, 78.0) if 9 * 60 <= minute < 16 * 60 else None

    alerts = _inactivity(_days(still_awake))
    opened = [a for a in alerts if a.state == "open"]
    assert len(opened) == 1
    a = opened[0]
    assert a.start_ms == T0 + SPECIAL_DAY * DAY + 9 * HOUR
    assert a.severity == "warning"
    assert "no sleep staging" in a.explanation
    assert "sleeping level of about 52 bpm" in a.explanation
    assert "heart rate about 78 bpm" in a.explanation


def test_awake_in_bed_just_after_waking_is_a_late_morning_not_inactivity() -> None:
    # wakes at 07:00 (heart rate up) but stays in bed without a step until 10:00: the first
    # two hours are a late morning, the third alone is no run
    def slow_start(minute: int) -> tuple[float, float] | None:
        return (0.0, 70.0) if 7 * 60 <= minute < 10 * 60 else None

    assert _inactivity(_days(slow_start)) == []


def test_a_device_without_steps_is_never_judged_for_inactivity() -> None:
    def still_awake(minute: int) -> tuple[float, float] | None:
        return (0.0, 78.0) if 7 * 60 <= minute < 23 * 60 else None

    assert _inactivity(_days(still_awake, with_steps=False)) == []


def test_a_device_without_heart_rate_is_never_judged_for_inactivity() -> None:
    # steps only (no wear evidence): a day of zeros may be a day off the wrist
    def no_step(minute: int) -> tuple[float, float] | None:
        return (0.0, 0.0) if 7 * 60 <= minute < 23 * 60 else None

    assert _inactivity(_days(no_step, with_hr=False)) == []


def _nights(long_from: int) -> Callable[[int], float | None]:
    """Stages from 23:00: 8 h asleep; from night ``long_from`` 9 h in bed with 6 awakenings of
    6 min spread over it (8.4 h asleep, efficiency ~93 %)."""

    def stage(i: int) -> float | None:
        day, minute = divmod(i, 1440)
        m = (minute - 23 * 60) % 1440  # minutes since 23:00
        night = day if minute >= 23 * 60 else day - 1
        if night < long_from:
            return 1.0 if m < 8 * 60 else None
        if m >= 9 * 60:
            return None
        return 0.0 if m % 90 < 6 and m >= 90 else 1.0

    return stage


def test_a_long_night_with_a_long_nights_awakenings_is_not_disrupted() -> None:
    # nights of 8 h asleep; from night 4, 9 h in bed with 6 awakenings of 6 min (efficiency
    # still ~93 %): more awakenings than usual, but no sign of disrupted sleep
    readings = minutes("bed", 9 * 1440, stage=_nights(4))
    out = Engine(EngineConfig()).process(readings)
    assert [a for a in out.alerts if a.kind == "sleep_disruption"] == []


def test_short_nights_are_disrupted_and_the_explanation_says_why() -> None:
    def stage(i: int) -> float | None:
        day, minute = divmod(i, 1440)
        m = (minute - 23 * 60) % 1440
        hours = 3.5 if day >= 4 else 8.0
        return 1.0 if m < hours * 60 else None

    out = Engine(EngineConfig()).process(minutes("bed", 8 * 1440, stage=stage))
    opened = [a for a in out.alerts if a.kind == "sleep_disruption" and a.state == "open"]
    assert len(opened) == 1
    assert "short" in opened[0].explanation
    assert "sleep staging" in opened[0].explanation
    assert opened[0].ts_ms < T0 + 7 * DAY + MIN


def test_without_sleep_staging_no_night_is_guessed() -> None:
    # heart rate and steps only, nights 12 bpm higher from day 3: nothing says it was sleep
    def plan(i: int) -> tuple[float, float]:
        steps, hr = _no_stage_day(i % 1440)
        return steps, hr + (12.0 if i // 1440 >= 3 and steps == 0.0 else 0.0)

    readings = minutes("wrist", 7 * 1440, steps=lambda i: plan(i)[0], hr=lambda i: plan(i)[1])
    out = Engine(EngineConfig()).process(readings)
    kinds = {a.kind for a in out.alerts}
    assert "elevated_resting_hr" not in kinds
    assert "sleep_disruption" not in kinds


def _nights_of(plan: str) -> Callable[[int], float | None]:
    """Stages from 23:00 of day n after ``plan[n]``: ``n`` 8 h asleep; ``f`` 9 h in bed with 4
    awakenings of 25 min (efficiency ~81 %); ``s`` only 03:00-07:00 asleep (short, unbroken)."""

    def stage(i: int) -> float | None:
        day, minute = divmod(i, 1440)
        night, m = (day, minute - 23 * 60) if minute >= 23 * 60 else (day - 1, minute + 60)
        kind = plan[night] if 0 <= night < len(plan) else "n"
        if kind == "f":
            if m >= 9 * 60:
                return None
            return 0.0 if m >= 90 and (m - 90) % 120 < 25 and m < 8 * 60 else 1.0
        if kind == "s":
            return 1.0 if 4 * 60 <= m < 8 * 60 else None
        return 1.0 if m < 8 * 60 else None

    return stage


def _disruptions(plan: str) -> list[AlertEvent]:
    readings = minutes("bed", (len(plan) + 2) * 1440, stage=_nights_of(plan))
    out = Engine(EngineConfig()).process(readings)
    return [a for a in out.alerts if a.kind == "sleep_disruption" and a.state == "open"]


def test_two_broken_nights_of_three_are_disrupted() -> None:
    # a normal night between two nights broken by long awakenings
    (a,) = _disruptions("nnnnnfnfnn")
    assert "2 of the last 3 nights" in a.explanation
    assert "fragmented" in a.explanation
    assert abs(a.start_ms - (T0 + 5 * DAY + 23 * HOUR)) < MIN  # the first broken night


def test_two_short_nights_apart_are_late_nights_not_disruption() -> None:
    # short but unbroken nights (late to bed) with a normal night between them
    assert _disruptions("nnnnnsnsnn") == []
    # ...two in a row are
    assert len(_disruptions("nnnnnssnnn")) == 1
