"""Data-quality kinds judged against what each device normally sends (docs/data-quality.md)."""

from __future__ import annotations

from collections.abc import Iterable

from detectors import AlertEvent, Engine, EngineConfig
from detectors.config import DeadmanConfig, QualityConfig
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric
from tests.detectors.streams import DAY, HOUR, MIN, T0

EPOCH = 30_000  # a sleep-stage epoch


def replay(eng: Engine, readings: Iterable[Reading], tick_every: int = 5 * MIN) -> list[AlertEvent]:
    """Feed time-ordered readings with a tick() every ``tick_every`` of event time (as the
    replay and the daemon do); all alert events."""
    out: list[AlertEvent] = []
    batch: list[Reading] = []
    next_tick = -1
    for r in readings:
        if next_tick < 0:
            next_tick = r.ts_ms - r.ts_ms % tick_every + tick_every
        while r.ts_ms >= next_tick:
            out += eng.process(batch).alerts
            batch = []
            out += eng.tick(next_tick)
            next_tick += tick_every
        batch.append(r)
    out += eng.process(batch).alerts
    return out


def opened(events: list[AlertEvent], *kinds: K) -> list[AlertEvent]:
    return [e for e in events if e.state == "open" and e.kind in kinds]


def sleep_only(device: str, nights: int) -> list[Reading]:
    """A tracker that logs only sleep stages, 30 s epochs, bedtime 22:40-23:20 to 06:30-07:30."""
    out = []
    for n in range(nights):
        start = T0 + n * DAY + 22 * HOUR + (40 + (n * 17) % 40) * MIN
        end = T0 + (n + 1) * DAY + 6 * HOUR + (30 + (n * 23) % 60) * MIN
        out += [
            Reading(device, t, Metric.SLEEP_STAGE, float(1 + (t // (45 * MIN)) % 3))
            for t in range(start, end, EPOCH)
        ]
    return out


def streaming(
    device: str, start: int, end: int, skip: tuple[int, int] | None = None
) -> list[Reading]:
    """Steps every minute and heart rate every 15 s, nothing at all during ``skip``."""
    out = []
    for t in range(start, end, 15_000):
        if skip and skip[0] <= t < skip[1]:
            continue
        if t % MIN == 0:
            out.append(Reading(device, t, Metric.STEPS, float((t // MIN) % 7), 60.0))
        out.append(Reading(device, t + 1, Metric.HEART_RATE, 60.0 + (t // 15_000) % 9))
    return out


def test_a_sleep_only_tracker_is_not_silent_every_day() -> None:
    """Two weeks of a tracker that only logs sleep: its days without data are its habit. At
    most the first day (nothing learned yet) may be reported, never the days after."""
    events = replay(Engine(), sleep_only("sleeper", 14))
    quality = opened(events, K.DEVICE_SILENT, K.DROPOUT)
    assert len(quality) <= 1
    assert all(e.ts_ms < T0 + 2 * DAY for e in quality)


def test_a_sleep_only_tracker_that_misses_a_night_is_silent() -> None:
    readings = [r for r in sleep_only("sleeper", 14) if not T0 + 9 * DAY < r.ts_ms < T0 + 10 * DAY]
    events = replay(Engine(), readings)
    late = [e for e in opened(events, K.DEVICE_SILENT) if e.ts_ms > T0 + 2 * DAY]
    assert len(late) == 1
    assert T0 + 9 * DAY < late[0].ts_ms < T0 + 11 * DAY


def test_a_streaming_device_that_stops_still_drops_out_and_goes_silent() -> None:
    """Three days of a device that streams all day; on day 4 it stops for 30 min (a dropout,
    found when data resumes), later for 3 h in the afternoon (silent, found by tick())."""
    day4 = T0 + 3 * DAY
    readings = streaming(
        "watch", T0, day4 + 10 * HOUR, skip=(day4 + 9 * HOUR, day4 + 9 * HOUR + 30 * MIN)
    )
    readings += streaming(
        "watch", day4 + 13 * HOUR, day4 + 20 * HOUR, skip=(day4 + 14 * HOUR, day4 + 17 * HOUR)
    )
    # (10:00 to 13:00 on day 4 is silent too: the device normally sends then)
    events = replay(Engine(), readings)
    drops = opened(events, K.DROPOUT)
    silent = opened(events, K.DEVICE_SILENT)
    assert [e.ts_ms for e in drops] == [day4 + 9 * HOUR + 30 * MIN]
    assert len(silent) == 2
    assert day4 + 10 * HOUR + 45 * MIN <= silent[0].ts_ms <= day4 + 11 * HOUR
    assert day4 + 14 * HOUR + 45 * MIN <= silent[1].ts_ms <= day4 + 15 * HOUR


def test_holes_a_device_routinely_has_become_ordinary() -> None:
    """A steps export that skips 25 min four times a day: that is its habit, learned in the
    days before its gaps are judged (none is reported); a 4 h hole in its usual hours is still
    news."""
    readings = []
    for day in range(8):
        for m in range(7 * 60, 23 * 60):  # steps from 07:00 to 23:00
            if any(h * 60 <= m < h * 60 + 25 for h in (9, 12, 15, 19)):
                continue
            if day == 7 and 13 * 60 <= m < 17 * 60:
                continue
            readings.append(Reading("steps", T0 + day * DAY + m * MIN, Metric.STEPS, 3.0, 60.0))
    events = replay(Engine(), readings)
    drops = opened(events, K.DROPOUT)
    assert drops == []
    late_silent = [e for e in opened(events, K.DEVICE_SILENT) if e.ts_ms > T0 + 3 * DAY]
    assert len(late_silent) == 1
    assert T0 + 7 * DAY + 13 * HOUR < late_silent[0].ts_ms < T0 + 7 * DAY + 17 * HOUR


def held(constant: set[int], missing: set[int]) -> list[Reading]:
    """Four hours, steps every minute (0) and heart rate every 15 s: exactly 63 bpm in the
    ``constant`` minutes, none in the ``missing`` ones, varying otherwise."""
    rs: list[Reading] = []
    for i in range(240):
        t = T0 + i * MIN
        rs.append(Reading("d1", t, Metric.STEPS, 0.0, 60.0))
        if i in missing:
            continue
        for k in range(4):
            v = 63.0 if i in constant else 60.0 + (i * 4 + k) % 7
            rs.append(Reading("d1", t + k * 15_000 + 1, Metric.HEART_RATE, v))
    return rs


def test_a_value_held_before_a_heart_rate_gap_is_no_flatline() -> None:
    """A tracker repeats its last value for a few minutes as it loses contact; the first value
    after an hour without heart rate equals it: no stuck sensor. A 20 min run is one."""
    lost = held(set(range(60, 64)) | set(range(124, 126)), set(range(64, 124)))
    assert opened(replay(Engine(), lost), K.FLATLINE) == []
    stuck = held(set(range(60, 80)), set())
    assert len(opened(replay(Engine(), stuck), K.FLATLINE)) == 1


def test_stray_readings_do_not_split_one_removal() -> None:
    """Off the wrist for two hours; the tracker on the table logs two stray heart rates at 40
    min: one off_wrist alert, resolved when heart rate keeps flowing again."""
    rs: list[Reading] = []
    for i in range(300):
        t = T0 + i * MIN
        rs.append(Reading("d1", t, Metric.STEPS, 0.0, 60.0))
        off = 60 <= i < 180
        if not off or i in (100, 101):
            rs.append(Reading("d1", t + 1, Metric.HEART_RATE, 62.0 + i % 5))
    events = replay(Engine(), rs)
    assert len(opened(events, K.OFF_WRIST)) == 1
    resolved = [e for e in events if e.kind is K.OFF_WRIST and e.state == "resolved"]
    assert len(resolved) == 1


def test_a_short_still_pause_in_heart_rate_is_not_off_the_wrist() -> None:
    rs: list[Reading] = []
    for i in range(120):
        t = T0 + i * MIN
        rs.append(Reading("d1", t, Metric.STEPS, 0.0, 60.0))
        if not 60 <= i < 75:  # 15 min without heart rate, still
            rs.append(Reading("d1", t + 1, Metric.HEART_RATE, 62.0 + i % 5))
    assert opened(replay(Engine(), rs), K.OFF_WRIST, K.DROPOUT) == []


def test_a_short_silence_limit_is_not_stretched_by_the_profile() -> None:
    """A device with no habitual holes is silent after the configured limit, however short
    (judged from its first hour: no learning period)."""
    eng = Engine(
        EngineConfig(
            deadman=DeadmanConfig(silent_after_ms=2 * MIN),
            quality=QualityConfig(presence_learn_days=0),
        )
    )
    eng.process(streaming("watch", T0, T0 + HOUR))
    last = T0 + HOUR - 15_000 + 1
    assert eng.tick(last + 2 * MIN - 1) == []
    assert [e.kind for e in eng.tick(last + 2 * MIN)] == [K.DEVICE_SILENT]


def gaps_on_first_and_third_day(device: str) -> list[Reading]:
    """Three days of a device streaming all day, with nothing at all from 09:00 to 09:30 (a
    dropout) and from 14:00 to 17:00 (a silence) on the first day, and from 06:00 to 06:30
    and 18:00 to 21:00 on the third (other hours: a repeated hole would become its habit)."""
    day3 = T0 + 2 * DAY
    gaps = [
        (T0 + 9 * HOUR, T0 + 9 * HOUR + 30 * MIN),
        (T0 + 14 * HOUR, T0 + 17 * HOUR),
        (day3 + 6 * HOUR, day3 + 6 * HOUR + 30 * MIN),
        (day3 + 18 * HOUR, day3 + 21 * HOUR),
    ]
    readings = []
    start = T0
    for gap_start, gap_end in gaps:
        readings += streaming(device, start, gap_start)
        start = gap_end
    return readings + streaming(device, start, T0 + 3 * DAY)


def test_a_new_seen_device_is_judged_only_once_its_habits_are_learned() -> None:
    """A device only seen has no all-data dropout and no silence before it has
    ``presence_learn_days`` of history (its habits are unknown); like gaps after that are
    reported. A roster device is judged by its configured limit from the start."""
    cfg = EngineConfig(quality=QualityConfig(presence_learn_days=2))
    seen = replay(Engine(cfg), gaps_on_first_and_third_day("seen"))
    day3 = T0 + 2 * DAY
    assert [e.ts_ms for e in opened(seen, K.DROPOUT)] == [day3 + 6 * HOUR + 30 * MIN]
    silent = opened(seen, K.DEVICE_SILENT)
    assert len(silent) == 1
    assert day3 + 18 * HOUR + 45 * MIN <= silent[0].ts_ms <= day3 + 19 * HOUR

    roster_cfg = cfg.model_copy(update={"deadman": DeadmanConfig(roster={"listed": 45 * MIN})})
    listed = opened(
        replay(Engine(roster_cfg), gaps_on_first_and_third_day("listed")), K.DEVICE_SILENT
    )
    assert len(listed) == 2
    assert T0 + 14 * HOUR + 45 * MIN <= listed[0].ts_ms <= T0 + 15 * HOUR


def test_a_new_seen_device_that_stops_for_longer_than_any_habit_is_silent() -> None:
    """Before its habits are learned, a silence longer than any hole the profile could learn
    (6 h) is still reported."""
    readings = streaming("new", T0, T0 + 8 * HOUR) + streaming("new", T0 + 16 * HOUR, T0 + DAY)
    silent = opened(replay(Engine(), readings), K.DEVICE_SILENT)
    assert len(silent) == 1
    assert T0 + 14 * HOUR <= silent[0].ts_ms <= T0 + 14 * HOUR + 5 * MIN


# -- the bedtime hand-over: the metric that ends a gap --------------------------------------


def steps_and_sleep(
    device: str, nights: int, last_night_gap: int, ended_by: Metric
) -> list[Reading]:
    """A PMData-like tracker (steps every minute while up, a sleep log at night, no heart
    rate): up 07:00-22:00, asleep 22:00-07:00 (the steps stop as the sleep log starts), for
    ``nights`` nights. On the last night the steps stop at 22:00 and nothing comes for
    ``last_night_gap`` ms; the first reading after is of ``ended_by`` (then the sleep log)."""
    out: list[Reading] = []
    for n in range(nights):
        day = T0 + n * DAY
        out += [
            Reading(device, t, Metric.STEPS, float(t // MIN % 5), 60.0)
            for t in range(day + 7 * HOUR, day + 22 * HOUR, MIN)
        ]
        asleep = day + 22 * HOUR
        if n == nights - 1:
            asleep += last_night_gap
            if ended_by is Metric.HEART_RATE:
                out.append(Reading(device, asleep, Metric.HEART_RATE, 64.0))
            elif ended_by is Metric.STEPS:
                out.append(Reading(device, asleep, Metric.STEPS, 12.0, 60.0))
        out += [
            Reading(device, t, Metric.SLEEP_STAGE, 1.0 + (t // (40 * MIN)) % 3)
            for t in range(asleep, day + DAY + 7 * HOUR, EPOCH)
        ]
    return out


def gap_alerts(readings: list[Reading]) -> list[AlertEvent]:
    """The all-data gap alerts of one device replayed alone (no tick() between its readings,
    as ``evaluate --real`` replays a file: the gap is judged when data resumes)."""
    events = Engine().process(readings).alerts
    return opened(events, K.DROPOUT, K.DEVICE_SILENT)


def test_a_gap_ended_by_a_sleep_log_starting_is_bedtime() -> None:
    """After the learning period, the steps stop at 22:00 and the sleep log starts 55 min
    later: the wearer went to bed, not a device losing data."""
    assert gap_alerts(steps_and_sleep("bed", 4, 55 * MIN, Metric.SLEEP_STAGE)) == []


def test_the_same_gap_ended_by_a_heart_rate_is_reported() -> None:
    """The same 55 min without data, but what ends it is a heart rate (the device was worn
    and lost its data) or steps (not a sleep log): reported, from where the data stopped.
    (After the lone heart rate, the sleep log without heart rate is an optical dropout.)"""
    night = T0 + 3 * DAY + 22 * HOUR
    for ended_by in (Metric.HEART_RATE, Metric.STEPS):
        alerts = gap_alerts(steps_and_sleep("lost", 4, 55 * MIN, ended_by))
        assert [(e.kind, e.start_ms, e.ts_ms) for e in alerts][:1] == [
            (K.DEVICE_SILENT, night - MIN, night + 55 * MIN)
        ], ended_by
        assert all(e.start_ms >= night + 55 * MIN for e in alerts[1:])


def test_a_long_gap_before_a_sleep_log_is_not_bedtime() -> None:
    """Steps stop 3 h before the sleep log starts (over ``quality.bedtime_gap_max_ms``): an
    evening without data, reported."""
    alerts = gap_alerts(steps_and_sleep("evening", 4, 3 * HOUR, Metric.SLEEP_STAGE))
    assert [e.kind for e in alerts] == [K.DEVICE_SILENT]


def test_a_gap_on_a_heart_rate_device_before_its_sleep_log_is_reported() -> None:
    """A heart-rate stream does not pause while the tracker is worn: on a device that sends
    heart rate, no data at all before the sleep log starts is lost data, not bedtime."""
    readings = steps_and_sleep("hr", 4, 55 * MIN, Metric.SLEEP_STAGE)
    readings += [Reading("hr", r.ts_ms + 1, Metric.HEART_RATE, 60.0) for r in readings]
    readings.sort(key=lambda r: r.ts_ms)
    night = T0 + 3 * DAY + 22 * HOUR
    assert [(e.kind, e.start_ms) for e in gap_alerts(readings)] == [
        (K.DEVICE_SILENT, night - MIN + 1)
    ]


def test_tick_waits_for_a_bedtime_hand_over_before_calling_the_device_silent() -> None:
    """A live daemon ticks on while the device is quiet: on a device whose steps stopped and
    whose sleep log may yet start, tick() reports no silence within a bedtime hand-over
    (``quality.bedtime_gap_max_ms`` = 90 min, not the 45 min silence limit), and does once
    the silence is longer."""
    night = T0 + 3 * DAY + 22 * HOUR
    bedtime = replay(Engine(), steps_and_sleep("bed", 4, 55 * MIN, Metric.SLEEP_STAGE))
    assert opened(bedtime, K.DROPOUT, K.DEVICE_SILENT) == []
    evening = replay(Engine(), steps_and_sleep("evening", 4, 3 * HOUR, Metric.SLEEP_STAGE))
    silent = opened(evening, K.DROPOUT, K.DEVICE_SILENT)
    assert [e.kind for e in silent] == [K.DEVICE_SILENT]
    assert night - MIN + 90 * MIN <= silent[0].ts_ms <= night + 95 * MIN


# -- the presence profile in local hours ----------------------------------------------------


def local_routine(device: str, offset_min: int | None, days: int) -> list[Reading]:
    """Steps every minute from 08:00 to 22:00 on the wearer's clock (UTC + ``offset_min``),
    stamped in UTC; the readings carry the offset unless ``offset_min`` is None."""
    shift = (offset_min or 0) * MIN
    return [
        Reading(device, t - shift, Metric.STEPS, 4.0, 60.0, None, offset_min)
        for day in range(days)
        for t in range(T0 + day * DAY + 8 * HOUR, T0 + day * DAY + 22 * HOUR, MIN)
    ]


def test_two_wearers_with_the_same_local_routine_learn_the_same_presence_profile() -> None:
    """A wearer at UTC-7 (the offset in each reading's timestamp) and one at UTC+9 (a
    configured zone, readings in UTC) who both send data from 08:00 to 22:00 local time: 16 h
    apart in UTC, the same profile, whose usual hours are their local 08-21."""
    from detectors.config import LocalTimeConfig
    from detectors.engine import LAYOUT

    cfg = EngineConfig(local_time=LocalTimeConfig(devices={"east": "+09:00"}))
    eng = Engine(cfg)
    readings = local_routine("west", -7 * 60, 6) + [
        Reading("east", r.ts_ms, r.metric, r.value, r.interval_s)
        for r in local_routine("east", 9 * 60, 6)
    ]
    eng.process(sorted(readings, key=lambda r: r.ts_ms))
    hours = slice(LAYOUT["presence.hours"], LAYOUT["presence.hours_n"] + 24)
    west, east = eng._devices["west"], eng._devices["east"]
    assert list(west.s[hours]) == list(east.s[hours])
    presence = eng.modules["presence"]
    usual = [h for h in range(24) if presence.usual(west, h)]  # type: ignore[attr-defined]
    assert usual == list(range(8, 22))
