"""Local time: hour-of-day profiles, circadian rest offsets and the night follow the wearer's
clock (the UTC offset of RFC 3339 readings, a per-device setting, or the fleet default)."""

from __future__ import annotations

import msgspec
import pydantic
import pytest

from detectors import AlertEvent, Engine, EngineConfig, Scored
from detectors.engine import LAYOUT
from messages.codec import Reading, ReadingDecoder, parse_ts_offset
from messages.metrics import Metric
from tests.detectors.streams import DAY, HOUR, MIN, T0

UTC_MINUS_7, UTC_PLUS_9 = -7 * 60, 9 * 60
OFFSET = LAYOUT["local_time.utc_offset_ms"]
CIRCADIAN = slice(LAYOUT["heart_rate.circadian"], LAYOUT["heart_rate.circadian"] + 6)
PROFILE = slice(LAYOUT["unusual_inactivity.profile"], LAYOUT["unusual_inactivity.profile"] + 25)


def _local_plan(day: int, m: int) -> tuple[float | None, float, float | None]:
    """(steps/min, heart rate, sleep stage) at minute ``m`` of local day ``day``.

    Asleep 23-07; active 09-12 and 14-19 (about 1,800 steps an hour); resting heart rate 62 in
    the morning and 74 in the evening (the circadian offsets learn that). Day 6: no steps from
    09:00 to 13:00 (unusual inactivity); day 7, 03:00-03:40 asleep: 135 bpm (tachycardia).
    """
    h = m // 60
    if h < 7 or h >= 23:
        hr = 135.0 if day == 7 and h == 3 and m % 60 < 40 else 54.0 + m % 3
        return 0.0, hr, 1.0 + (m // 90) % 3
    active = 9 <= h < 12 or 14 <= h < 19
    if day == 6 and 9 <= h < 13:
        active = False
    rest_hr = 62.0 if h < 15 else 74.0
    if active:
        return 30.0, rest_hr + 20.0 + m % 4, None
    return (2.0 if m % 9 == 0 else 0.0), rest_hr + m % 3, (0.0 if h < 8 else None)


def local_days(device: str, offset_min: int | None, days: int = 8) -> list[Reading]:
    """The same local-time days of one wearer, stamped in UTC for a clock at ``offset_min``
    (``None``: the readings carry no offset and are written as if local time were UTC)."""
    shift = (offset_min or 0) * MIN
    local0 = T0  # local midnight of day 0
    out: list[Reading] = []
    for day in range(days):
        for m in range(1440):
            t = local0 + day * DAY + m * MIN - shift
            steps, hr, stage = _local_plan(day, m)
            if steps is not None:
                out.append(Reading(device, t, Metric.STEPS, steps, 60.0, None, offset_min))
            if stage is not None:
                out.append(
                    Reading(device, t + 1, Metric.SLEEP_STAGE, stage, None, None, offset_min)
                )
            out.append(Reading(device, t + 2, Metric.HEART_RATE, hr, None, None, offset_min))
    return out


def _run(
    readings: list[Reading], cfg: EngineConfig | None = None, *, compiled: bool = True
) -> tuple[Engine, list[Scored], list[AlertEvent]]:
    eng = Engine(cfg, compiled=compiled)
    out = eng.process(readings)
    return eng, out.scored, out.alerts


def _shifted(events: list[AlertEvent], shift_ms: int) -> list[tuple[object, ...]]:
    return [
        (
            e.kind,
            e.state,
            e.severity,
            e.ts_ms + shift_ms,
            e.start_ms + shift_ms,
            None if e.end_ms is None else e.end_ms + shift_ms,
            e.peak_value,
            e.explanation,
        )
        for e in events
    ]


@pytest.mark.parametrize("compiled", [True, False])
def test_utc_minus_7_and_utc_plus_9_behave_alike_on_the_same_local_days(compiled: bool) -> None:
    """The acceptance test: the same local-time data from a wearer in UTC-7 and one in UTC+9
    (one engine, RFC 3339 offsets on the readings) gives the same scores, alerts and circadian
    state, 16 hours apart in UTC."""
    west = local_days("west", UTC_MINUS_7)
    east = local_days("east", UTC_PLUS_9)
    eng, scored, alerts = _run(sorted(west + east, key=lambda r: r.ts_ms), compiled=compiled)
    shift = (UTC_PLUS_9 - UTC_MINUS_7) * MIN  # west's UTC is east's + 16 h
    by = {d: [s for s in scored if s.device_id == d] for d in ("west", "east")}
    assert [(s.ts_ms, s.score, s.baseline, s.flagged) for s in by["west"]] == [
        (s.ts_ms + shift, s.score, s.baseline, s.flagged) for s in by["east"]
    ]
    west_alerts = [a for a in alerts if a.device_id == "west"]
    east_alerts = [a for a in alerts if a.device_id == "east"]
    assert _shifted(west_alerts, 0) == _shifted(east_alerts, shift)
    kinds = {a.kind.value for a in west_alerts}
    assert {"unusual_inactivity", "tachycardia_at_rest"} <= kinds
    # the unusual inactivity began at local 09:00 of day 6: 16:00 UTC in UTC-7
    inactive = next(a for a in west_alerts if a.kind.value == "unusual_inactivity")
    assert inactive.start_ms == T0 + 6 * DAY + 9 * HOUR + 7 * HOUR
    w, e = eng._devices["west"].s, eng._devices["east"].s
    assert list(w[CIRCADIAN]) == list(e[CIRCADIAN])
    assert list(w[PROFILE]) == list(e[PROFILE])
    assert (w[OFFSET], e[OFFSET]) == (UTC_MINUS_7 * MIN, UTC_PLUS_9 * MIN)
    # the profile is in local hours: the usual steps at local 10:00 are the active ones
    assert w[PROFILE][10] > 1000
    assert w[PROFILE][3] == 0.0


def test_without_the_offset_the_two_wearers_would_differ() -> None:
    """Control: the same readings with their offsets dropped (all UTC) learn different
    circadian offsets and profiles, so the test above could fail."""
    west = [msgspec.structs.replace(r, utc_offset_min=None) for r in local_days("w", UTC_MINUS_7)]
    east = [msgspec.structs.replace(r, utc_offset_min=None) for r in local_days("e", UTC_PLUS_9)]
    eng, _, _ = _run(west + east)
    w, e = eng._devices["w"].s, eng._devices["e"].s
    assert list(w[CIRCADIAN]) != list(e[CIRCADIAN])
    assert list(w[PROFILE]) != list(e[PROFILE])


def test_a_configured_device_zone_gives_the_same_behaviour_as_rfc3339_offsets() -> None:
    """Readings in epoch ms (no offset) from a device configured as UTC-7 behave exactly like
    the same readings carrying -07:00."""
    stamped = local_days("d", UTC_MINUS_7, days=4)
    plain = [msgspec.structs.replace(r, utc_offset_min=None) for r in stamped]
    cfg = EngineConfig.model_validate({"local_time": {"devices": {"d": "-07:00"}}})
    a, scored_a, alerts_a = _run(stamped)
    b, scored_b, alerts_b = _run(plain, cfg)
    assert msgspec.msgpack.encode(scored_a) == msgspec.msgpack.encode(scored_b)
    assert msgspec.msgpack.encode(alerts_a) == msgspec.msgpack.encode(alerts_b)
    assert list(a._devices["d"].s[CIRCADIAN]) == list(b._devices["d"].s[CIRCADIAN])


def _offset_min(eng: Engine, did: str) -> float:
    return eng._devices[did].s[OFFSET] / MIN


def test_precedence_reading_then_device_setting_then_fleet_default() -> None:
    cfg = EngineConfig.model_validate(
        {"local_time": {"timezone": "+02:00", "devices": {"configured": "-07:00"}}}
    )
    eng = Engine(cfg)
    hr = Metric.HEART_RATE
    eng.process(
        [
            Reading("fleet", T0, hr, 60.0),
            Reading("configured", T0, hr, 60.0),
            Reading("stamped", T0, hr, 60.0, None, None, 9 * 60),
            Reading("configured-and-stamped", T0, hr, 60.0, None, None, 5 * 60 + 30),
        ]
    )
    assert _offset_min(eng, "fleet") == 120
    assert _offset_min(eng, "configured") == -420
    assert _offset_min(eng, "stamped") == 540
    assert _offset_min(eng, "configured-and-stamped") == 330
    local = eng.modules["local_time"]
    assert local.offset_min(eng._devices["configured"]) == -420  # type: ignore[attr-defined]
    assert local.offset_ms(eng._devices["stamped"]) == 540 * MIN  # type: ignore[attr-defined]
    # the illness kind's local days and nights read the same offset
    illness = eng.modules["illness"]
    assert illness.utc_offset_ms("configured", eng._devices["configured"]) == -420 * MIN  # type: ignore[attr-defined]
    # a reading without an offset later does not undo what the readings said
    eng.process([Reading("stamped", T0 + 2 * HOUR, hr, 61.0)])
    assert _offset_min(eng, "stamped") == 540


def test_an_iana_zone_follows_daylight_saving_time_at_the_next_hour() -> None:
    """Europe/Oslo: UTC+1 until 2026-03-29 01:00 UTC, then UTC+2."""
    cfg = EngineConfig.model_validate({"local_time": {"timezone": "Europe/Oslo"}})
    eng = Engine(cfg)
    change = 1_774_746_000_000  # 2026-03-29T01:00:00Z
    eng.process([Reading("d", change - 3 * HOUR, Metric.HEART_RATE, 60.0)])
    assert _offset_min(eng, "d") == 60
    eng.process([Reading("d", change - 10 * MIN, Metric.HEART_RATE, 60.0)])
    assert _offset_min(eng, "d") == 60
    eng.process([Reading("d", change + 5 * MIN, Metric.HEART_RATE, 60.0)])
    assert _offset_min(eng, "d") == 120


def test_an_offset_change_shifts_the_hour_profile_without_resetting_it() -> None:
    """Travel (or DST): the learned profile stays; from the change on, each UTC hour reads the
    profile entry of its new local hour."""
    days = local_days("d", 0, days=4)
    eng, _, _ = _run(days)
    s = eng._devices["d"].s
    before = list(s[PROFILE])
    local = eng.modules["local_time"]
    hour_of_day = local.hour_of_day  # type: ignore[attr-defined]
    later = T0 + 4 * DAY + 10 * HOUR  # 10:00 UTC
    assert hour_of_day(s, later) == 10
    eng.process([Reading("d", later, Metric.HEART_RATE, 70.0, None, None, 3 * 60)])
    assert hour_of_day(s, later) == 13
    after = list(s[PROFILE])
    assert after[:24] == before[:24]  # nothing reset, nothing relearned yet
    assert after[24] >= before[24]  # the count of learned hours goes on


def test_the_offset_survives_a_snapshot_round_trip() -> None:
    """A restored device keeps the offset its readings gave, even under another fleet default;
    a configured offset follows the configuration of the engine it is restored into."""
    eng = Engine()
    hr = Metric.HEART_RATE
    eng.process(
        [Reading("stamped", T0, hr, 60.0, None, None, -7 * 60), Reading("plain", T0, hr, 60.0)]
    )
    other = Engine(EngineConfig.model_validate({"local_time": {"timezone": "+09:00"}}))
    for did in ("stamped", "plain"):
        other.restore(did, eng.snapshot(did))
    assert _offset_min(other, "stamped") == -420
    assert _offset_min(other, "plain") == 540
    same = Engine()
    same.restore("stamped", eng.snapshot("stamped"))
    assert same.snapshot("stamped") == eng.snapshot("stamped")


@pytest.mark.parametrize(
    ("ts", "offset"),
    [
        ("2026-07-01T23:10:00-07:00", -420),
        ("2026-07-01T23:10:00+09:00", 540),
        ("2026-07-01T23:10:00.250+05:30", 330),
        ("2026-07-01T23:10:00+00:00", 0),
        ("2026-07-01T23:10:00Z", None),
        ("2026-07-01T23:10:00-00:00", None),  # RFC 3339: local offset unknown
        ("2026-07-01T23:10:00+15:00", None),  # no such zone: the time counts, not the offset
        (1_782_947_400_000, None),
    ],
)
def test_the_offset_of_an_rfc3339_timestamp(ts: str | int, offset: int | None) -> None:
    assert parse_ts_offset(ts)[1] == offset
    raw = msgspec.json.encode({"device_id": "d", "ts": ts, "metric": "heart_rate", "value": 60})
    r = ReadingDecoder(max_age_ms=10**13, max_future_ms=10**13).decode(raw, now_ms=T0)
    assert r.utc_offset_min == offset
    assert r.ts_ms == parse_ts_offset(ts)[0]


def test_both_offsets_name_the_same_instant() -> None:
    west = parse_ts_offset("2026-07-01T23:10:00-07:00")
    east = parse_ts_offset("2026-07-02T15:10:00+09:00")
    assert west[0] == east[0]


@pytest.mark.parametrize(
    "bad",
    [
        {"timezone": "Europe/Olso"},
        {"timezone": "+15:00"},
        {"timezone": "+01:60"},
        {"timezone": "1"},
        {"devices": {"d": "Mars/Olympus"}},
    ],
)
def test_a_bad_zone_is_refused_at_start(bad: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError, match=r"time zone|UTC offset"):
        EngineConfig.model_validate({"local_time": bad})


def test_the_simulator_evaluation_tells_the_engine_each_wearers_zone() -> None:
    """Scenarios with ``utc_offsets_h`` simulate wearers' days in local time and send epoch ms:
    the evaluation configures each wearer's zone (a zone configured already wins)."""
    from ingest.replay.evaluation import simulated_zones
    from simulators import FleetSimulator, load_scenario

    sim = FleetSimulator(load_scenario("illness_cohort"), seed=1, start_ms=T0)
    offsets = dict(zip(sim.device_ids, sim.population.utc_offset_ms.tolist(), strict=True))
    first = sim.device_ids[0]
    cfg = EngineConfig.model_validate({"local_time": {"devices": {first: "+14:00"}}})
    zones = simulated_zones(cfg, sim).local_time.devices
    assert zones[first] == "+14:00"
    eng = Engine(simulated_zones(cfg, sim))
    local = eng.modules["local_time"]
    for did, off in offsets.items():
        if did != first:
            assert local.configured_offset_ms(did, T0) == off  # type: ignore[attr-defined]
    assert {v for v in offsets.values()} - {0}, "the scenario has wearers away from UTC"
    plain = EngineConfig()
    normal = FleetSimulator(load_scenario("normal_week"), devices=3, seed=1, start_ms=T0)
    assert simulated_zones(plain, normal) is plain


def test_the_settings_take_the_zones_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.settings import Settings

    monkeypatch.setenv("VITALSTREAM_DETECTION__LOCAL_TIME__TIMEZONE", "Europe/Oslo")
    monkeypatch.setenv("VITALSTREAM_DETECTION__LOCAL_TIME__DEVICES", '{"watch-1": "-07:00"}')
    lt = Settings().detection.local_time
    assert (lt.timezone, lt.devices) == ("Europe/Oslo", {"watch-1": "-07:00"})
    monkeypatch.setenv("VITALSTREAM_DETECTION__LOCAL_TIME__TIMEZONE", "Europe/Olso")
    with pytest.raises(pydantic.ValidationError, match="unknown time zone 'Europe/Olso'"):
        Settings()


@pytest.mark.parametrize(
    ("name", "zulu_to", "offset"),
    [
        ("omh-oxygen-saturation.json", None, 60),  # written with +01:00
        ("fhir-heart-rate.json", None, 60),
        ("omh-heart-rate.json", None, None),  # Z: no local offset
        ("omh-heart-rate.json", "-07:00", -420),
        ("omh-step-count-2.json", "+09:00", 540),
        ("omh-sleep-stages.json", "+05:30", 330),
        ("fhir-steps.json", None, None),
        ("fhir-steps.json", "-07:00", -420),
    ],
)
def test_the_standard_formats_carry_the_offset_too(
    name: str, zulu_to: str | None, offset: int | None
) -> None:
    """Open mHealth and FHIR times are RFC 3339 as well: each reading carries their offset."""
    from pathlib import Path

    from messages.formats import Decoded, RecordDecoder

    raw = (Path(__file__).parent.parent / "fixtures" / "formats" / name).read_bytes()
    if zulu_to is not None:
        raw = raw.replace(b'Z"', f'{zulu_to}"'.encode())
    dec = RecordDecoder(ReadingDecoder(max_age_ms=10**13, max_future_ms=10**13))
    out = dec.decode(raw, key=b"watch-0001", now_ms=T0)
    assert isinstance(out, Decoded)
    assert out.readings
    assert {r.utc_offset_min for r in out.readings} == {offset}
