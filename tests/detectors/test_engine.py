"""Behaviour of the engine: the daemon's contract, rules, lifecycle, data quality, snapshots."""

from __future__ import annotations

import itertools
import math
import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import AlertEvent, Engine, EngineConfig, Scored
from detectors.config import DeadmanConfig, QualityConfig
from detectors.engine import STATE_BYTES
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.kinds import Category
from messages.metrics import Metric
from tests.detectors.streams import DAY, HOUR, MIN, T0, minutes, normal_days

_enc = msgspec.msgpack.Encoder()


def run(
    readings: list[Reading], engine: Engine | None = None, batch: int = 10_000
) -> tuple[list[Scored], list[AlertEvent]]:
    eng = engine or Engine()
    scored: list[Scored] = []
    alerts: list[AlertEvent] = []
    for i in range(0, len(readings), batch):
        out = eng.process(readings[i : i + batch])
        scored += out.scored
        alerts += out.alerts
    # whatever the stream, every alert begins at a real event time, not after its event
    assert all(0 <= a.start_ms <= a.ts_ms for a in alerts), alerts
    return scored, alerts


def kinds(alerts: list[AlertEvent], state: str = "open") -> list[str]:
    return [a.kind.value for a in alerts if a.state == state]


def rest_then(
    hr_at: dict[range, float], n: int, base: float = 66.0, device: str = "d1", seed: int = 0
) -> list[Reading]:
    """At rest (0 steps) for ``n`` minutes; heart rate ``base`` except in the given ranges."""

    def hr(i: int) -> float:
        for rng, v in hr_at.items():
            if i in rng:
                return v
        return base

    return minutes(device, n, hr=hr, steps=lambda i: 0.0, seed=seed)


# -- the daemon's contract ------------------------------------------------------------------


def test_one_scored_per_reading_in_order_and_finite() -> None:
    rs = normal_days("d1", 1) + normal_days("d2", 1, seed=1)
    rs.sort(key=lambda r: r.ts_ms)
    scored, _ = run(rs)
    assert len(scored) == len(rs)
    for r, s in zip(rs, scored, strict=True):
        assert (s.device_id, s.ts_ms, s.metric, s.value) == (
            r.device_id,
            r.ts_ms,
            r.metric,
            r.value,
        )
        assert math.isfinite(s.score)


def test_first_reading_scores_against_population_prior() -> None:
    s = Engine().process([Reading("new", T0, Metric.HEART_RATE, 70.0)]).scored[0]
    assert s.baseline is not None
    assert math.isfinite(s.score)
    assert not s.flagged


def test_batching_does_not_change_output() -> None:
    rs = normal_days("d1", 2) + rest_then({range(600, 640): 140.0}, 700, device="d2")
    rs.sort(key=lambda r: r.ts_ms)
    a = run(rs, batch=len(rs))
    b = run(rs, batch=97)
    assert _enc.encode(a) == _enc.encode(b)


class _AttributeReading:
    """A reading that is not a :class:`Reading`: only its attributes (no ``seq``)."""

    def __init__(self, r: Reading) -> None:
        self.device_id = r.device_id
        self.ts_ms = r.ts_ms
        self.metric = r.metric
        self.value = r.value
        self.interval_s = r.interval_s
        self.utc_offset_min = r.utc_offset_min


@pytest.mark.parametrize("compiled", [True, False])
def test_reading_lookalikes_score_as_readings(compiled: bool) -> None:
    # the path takes a Reading's fields in one call; a subclass or an object with the same
    # attributes takes another way to them, with the same output
    class Sub(Reading):
        pass

    rs = normal_days("d1", 1) + rest_then({range(600, 640): 140.0}, 700, device="d2")
    rs.sort(key=lambda r: r.ts_ms)
    want = Engine(compiled=compiled).process(rs)
    assert want.alerts  # the comparison covers the rules' calls too
    subs = [Sub(*msgspec.structs.astuple(r)) for r in rs]
    attrs = [_AttributeReading(r) for r in rs]
    for other in (subs, attrs):
        got = Engine(compiled=compiled).process(other)  # type: ignore[arg-type]
        assert got.scored == want.scored
        assert got.alerts == want.alerts


def test_snapshot_restore_replay_is_byte_identical() -> None:
    rs = normal_days("d1", 3, rhr_delta=lambda d: 8.0 if d == 2 else 0.0)
    cut = len(rs) // 2
    eng = Engine()
    run(rs[:cut], eng)
    snap = eng.snapshot("d1")
    expected = run(rs[cut:], eng)
    again = Engine()
    again.restore("d1", snap)
    assert _enc.encode(run(rs[cut:], again)) == _enc.encode(expected)


def test_snapshot_is_small_and_versioned() -> None:
    eng = Engine()
    run(normal_days("d1", 2), eng)
    snap = eng.snapshot("d1")
    # issue 14's budget: the always-on state of a device (slots, River models) <= 4 KB
    assert STATE_BYTES + 512 <= 4096
    assert len(snap) < 4096
    with pytest.raises(ValueError, match="another layout"):
        eng.restore("d1", _enc.encode([99, "d1", b"", []]))
    assert "d1" not in eng.device_ids()  # refused: the device starts afresh


def test_a_snapshot_of_another_layout_starts_afresh_and_is_never_misread() -> None:
    """Swap two slots of one module: same size, same version, other places. The old snapshot
    must not be read into the new layout (that would silently misread the state)."""
    from dataclasses import replace

    from detectors import engine as engine_module
    from detectors.kinds.registry import MODULES
    from detectors.kinds.tachycardia import Tachycardia
    from detectors.layout import StateLayout

    eng = Engine()
    run(normal_days("d1", 1), eng)
    snap = eng.snapshot("d1")
    lay = Tachycardia.layout
    swapped = replace(lay, slots=(lay.slots[0], lay.slots[2], lay.slots[1], *lay.slots[3:]))
    other = StateLayout(swapped if m is Tachycardia else m.layout for m in MODULES)
    assert other.n_slots == engine_module.LAYOUT.n_slots
    assert other.fingerprint != engine_module.LAYOUT_FINGERPRINT
    # an engine built with the swapped layout refuses the snapshot and starts the device afresh
    mp = pytest.MonkeyPatch()
    with mp.context() as m:
        m.setattr(engine_module, "LAYOUT_FINGERPRINT", other.fingerprint)
        fresh = Engine()
        fresh.process([Reading("d1", T0, Metric.HEART_RATE, 60.0)])
        with pytest.raises(engine_module.LayoutMismatchError, match="another layout"):
            fresh.restore("d1", snap)
        assert fresh.layout_mismatches == 1
        assert "d1" not in fresh.device_ids()
        out = fresh.process([Reading("d1", T0 + 1, Metric.HEART_RATE, 60.0)])
        assert fresh.stats("d1")["readings"] == 1  # afresh, not the 1-day state
        assert len(out.scored) == 1
    # the same layout restores it exactly
    again = Engine()
    again.restore("d1", snap)
    assert again.snapshot("d1") == snap
    assert again.layout_mismatches == 0


def test_drop_and_device_ids() -> None:
    eng = Engine()
    eng.process([Reading("a", T0, Metric.HEART_RATE, 60.0), Reading("b", T0, Metric.SPO2, 97.0)])
    assert sorted(eng.device_ids()) == ["a", "b"]
    eng.drop("a")
    assert list(eng.device_ids()) == ["b"]
    with pytest.raises(KeyError):
        eng.snapshot("a")


# -- clinical rules -------------------------------------------------------------------------


def test_tachycardia_at_rest_opens_after_sustain_and_resolves() -> None:
    rs = rest_then({range(120, 150): 135.0}, 200)
    _, alerts = run(rs)
    tachy = [a for a in alerts if a.kind is K.TACHYCARDIA_AT_REST]
    assert [a.state for a in tachy] == ["open", "resolved"]
    opened, resolved = tachy
    assert opened.start_ms == T0 + 120 * MIN + 2
    assert 10 * MIN <= opened.ts_ms - opened.start_ms <= 11 * MIN
    assert opened.category is Category.CLINICAL
    assert opened.severity == "critical"  # NEWS2 pulse >= 131
    assert "at rest" in opened.explanation
    assert "baseline" in opened.explanation
    assert resolved.alert_id == opened.alert_id
    assert resolved.end_ms is not None
    assert resolved.end_ms <= T0 + 151 * MIN
    assert resolved.peak_value is not None
    assert resolved.peak_value >= 130


def _ramp_after_walk(held_min: int) -> list[Reading]:
    """Walking (100 steps/min, HR 100) for 20 min, then no steps while the rate climbs from
    100 to 135 bpm over 8 min and stays there ``held_min`` minutes (cycling after walking to
    the bike: the wrist counts no steps), then back to rest."""
    ramp_end = 128
    stop = ramp_end + held_min

    def hr(i: int) -> float:
        if 100 <= i < 120:
            return 100.0
        if 120 <= i < ramp_end:
            return 100.0 + 35.0 * (i - 120) / 8
        if ramp_end <= i < stop:
            return 135.0
        return 66.0

    return minutes(
        "d1", stop + 40, hr=hr, steps=lambda i: 100.0 if 100 <= i < 120 else 0.0, hr_noise=1.0
    )


def test_tachycardia_with_a_gradual_onset_waits_longer() -> None:
    """A climb to 135 bpm over 8 min after walking is the shape of exercise without steps:
    20 min of it does not alert; held for 45 min it does, after the 30-min sustain, and says
    why it waited."""
    _, alerts = run(_ramp_after_walk(20))
    assert K.TACHYCARDIA_AT_REST.value not in kinds(alerts)
    _, alerts = run(_ramp_after_walk(45))
    (opened,) = [a for a in alerts if a.kind is K.TACHYCARDIA_AT_REST and a.state == "open"]
    assert 30 * MIN <= opened.ts_ms - opened.start_ms <= 31 * MIN
    assert "Gradual onset" in opened.explanation
    assert "30 min" in opened.explanation


def test_tachycardia_with_an_abrupt_onset_keeps_the_short_sustain() -> None:
    """The same 20 min at 135 bpm, jumping there from the resting rate, alerts at 10 min."""
    _, alerts = run(rest_then({range(120, 140): 135.0}, 200))
    (opened,) = [a for a in alerts if a.kind is K.TACHYCARDIA_AT_REST and a.state == "open"]
    assert opened.ts_ms - opened.start_ms <= 11 * MIN
    assert "Abrupt onset: from a level of about 6" in opened.explanation  # 66 +- noise


def test_tachycardia_from_the_first_readings_has_an_unknown_onset() -> None:
    """A device whose first readings are already at 135 bpm at rest: nothing before them says
    how the rate got there, so the onset is unknown (not a gradual climb) and the standard
    10-min sustain applies."""
    _, alerts = run(rest_then({range(0, 20): 135.0}, 60))
    (opened,) = [a for a in alerts if a.kind is K.TACHYCARDIA_AT_REST and a.state == "open"]
    assert opened.start_ms < T0 + MIN
    assert 10 * MIN <= opened.ts_ms - opened.start_ms <= 11 * MIN
    assert "Onset unknown: no heart rate in the 2 min before it rose above 120 bpm" in (
        opened.explanation
    )
    assert "Gradual" not in opened.explanation


def test_tachycardia_after_a_gap_has_an_unknown_onset() -> None:
    """Resting at 66 bpm, then no heart rate for an hour (the watch off), then 135 bpm at rest:
    the level before the gap is no onset (it was not "within a minute")."""
    rs = [
        r for r in rest_then({range(120, 140): 135.0}, 200) if not 60 <= (r.ts_ms - T0) // MIN < 120
    ]
    _, alerts = run(rs)
    (opened,) = [a for a in alerts if a.kind is K.TACHYCARDIA_AT_REST and a.state == "open"]
    assert opened.ts_ms - opened.start_ms <= 11 * MIN
    assert "Onset unknown" in opened.explanation


def test_no_tachycardia_alert_during_exercise() -> None:
    rs = minutes(
        "d1",
        200,
        hr=lambda i: 150.0 if 60 <= i < 120 else 70.0,
        steps=lambda i: 160.0 if 60 <= i < 120 else 0.0,
    )
    _, alerts = run(rs)
    assert not [a for a in alerts if a.category is Category.CLINICAL]


def test_short_tachycardia_does_not_alert() -> None:
    _, alerts = run(rest_then({range(120, 127): 135.0}, 200))
    assert K.TACHYCARDIA_AT_REST.value not in kinds(alerts)


def test_bradycardia() -> None:
    _, alerts = run(rest_then({range(120, 145): 36.0}, 200))
    assert kinds(alerts) == ["bradycardia"]


def test_abrupt_change_from_personal_baseline() -> None:
    _, alerts = run(rest_then({range(200, 215): 108.0}, 260, base=62.0))
    assert "abrupt_hr_change" in kinds(alerts)
    a = next(a for a in alerts if a.kind is K.ABRUPT_HR_CHANGE)
    assert a.ts_ms - a.start_ms <= 5 * MIN


def test_abrupt_change_explains_the_jump() -> None:
    _, alerts = run(rest_then({range(200, 215): 108.0}, 260, base=62.0))
    a = next(a for a in alerts if a.kind is K.ABRUPT_HR_CHANGE)
    assert "jump from a level of about 6" in a.explanation  # 62 +- noise


def test_swing_of_a_rate_already_up_is_not_an_abrupt_change() -> None:
    """Up at 85 bpm for 10 min (getting ready without steps: not yet far enough from the
    baseline of 62 to count), then a swing to 100: the jump left a level 23 bpm above the
    baseline, more than half of the change, so it is not a change from the baseline; the
    same 100 bpm straight from the baseline is."""
    swing = rest_then({range(190, 200): 85.0, range(200, 215): 100.0}, 260, base=62.0)
    _, alerts = run(swing)
    assert K.ABRUPT_HR_CHANGE.value not in kinds(alerts)
    _, alerts = run(rest_then({range(200, 215): 100.0}, 260, base=62.0))
    assert K.ABRUPT_HR_CHANGE.value in kinds(alerts)


def test_no_abrupt_change_from_a_level_before_a_gap() -> None:
    """Resting at 62 bpm, then the device off for two hours, then 100 bpm at rest: the level
    from before the gap is no start of a jump (nothing says how the rate got to 100), so there
    is no abrupt change; the same 100 bpm without the gap is one."""
    rs = rest_then({range(320, 335): 100.0}, 380, base=62.0)
    off = [r for r in rs if not 200 <= (r.ts_ms - T0) // MIN < 320]
    _, alerts = run(off)
    assert K.ABRUPT_HR_CHANGE.value not in kinds(alerts)
    _, alerts = run(rs)
    assert K.ABRUPT_HR_CHANGE.value in kinds(alerts)


def test_decoupling_ships_disabled() -> None:
    """High at rest for 50 min (98 bpm, resting 66): no decoupling alert by default; the
    rule still works when switched on."""
    rs = rest_then({range(120, 170): 98.0}, 220)
    _, alerts = run(rs)
    assert K.HR_ACTIVITY_DECOUPLING.value not in kinds(alerts)
    on = EngineConfig.model_validate({"decoupling": {"enabled": True}})
    _, alerts = run(rs, Engine(on))
    assert K.HR_ACTIVITY_DECOUPLING.value in kinds(alerts)


def test_low_spo2_and_desaturation() -> None:
    low = minutes(
        "d1",
        200,
        spo2=lambda i: 87.0 if 100 <= i < 115 else 97.0,
        hr=lambda i: 60.0,
        steps=lambda i: 0.0,
    )
    _, alerts = run(low)
    assert kinds(alerts) == ["low_spo2"]
    desat = minutes(
        "d2",
        300,
        spo2=lambda i: 92.0 if i > 120 and i % 15 in (0, 1) else 97.0,
        hr=lambda i: 60.0,
        steps=lambda i: 0.0,
    )
    _, alerts = run(desat)
    assert kinds(alerts) == ["desaturation"]


def test_desaturation_of_one_reading_dips_starts_at_the_first_dip() -> None:
    """A 1/min device with one-reading dips to 91 % (baseline 97 %): each dip counts only as
    saturation recovers, a reading later. The alert starts at the cluster's first dip and
    reports the lowest saturation of its dips, not the recovered reading's."""
    rs = minutes(
        "d1",
        200,
        spo2=lambda i: 91.0 if i > 120 and i % 10 == 0 else 97.0,
        hr=lambda i: 60.0,
        steps=lambda i: 0.0,
    )
    _, alerts = run(rs)
    opened = next(a for a in alerts if a.kind is K.DESATURATION and a.state == "open")
    assert opened.start_ms == T0 + 130 * MIN + 3  # the first dip's reading
    assert opened.peak_value == 91.0
    assert "(lowest 91 %) over 11 min" in opened.explanation


def test_ongoing_is_rate_limited() -> None:
    _, alerts = run(rest_then({range(60, 60 + 180): 128.0}, 300))
    tachy = [a for a in alerts if a.kind is K.TACHYCARDIA_AT_REST]
    ongoing = [a for a in tachy if a.state == "ongoing"]
    assert 4 <= len(ongoing) <= 6  # ~3 h at one heartbeat per 30 min
    assert len({a.alert_id for a in tachy}) == 1


def test_severity_escalation_emits_ongoing() -> None:
    _, alerts = run(rest_then({range(60, 80): 124.0, range(80, 100): 140.0}, 150))
    tachy = [(a.state, a.severity) for a in alerts if a.kind is K.TACHYCARDIA_AT_REST]
    assert tachy[:2] == [("open", "warning"), ("ongoing", "critical")]


def test_elevated_resting_hr_over_nights() -> None:
    rs = normal_days("d1", 16, rhr_delta=lambda d: 7.0 if d >= 13 else 0.0)
    _, alerts = run(rs)
    rhr = [a for a in alerts if a.kind is K.ELEVATED_RESTING_HR]
    assert rhr
    assert rhr[0].state == "open"
    assert "consecutive nights" in rhr[0].explanation
    assert not [
        a
        for a in alerts
        if a.kind not in (K.ELEVATED_RESTING_HR, K.ILLNESS) and a.category is Category.CLINICAL
    ]


def test_normal_days_raise_nothing() -> None:
    _, alerts = run(normal_days("d1", 10))
    assert alerts == []


# -- data quality ---------------------------------------------------------------------------


def test_duplicates_and_late_readings_do_not_change_scores() -> None:
    rs = normal_days("d1", 1)
    clean, _ = run(rs)
    rng = random.Random(1)
    messy: list[Reading] = []
    late: list[Reading] = []
    for r in rs:
        messy.append(r)
        if rng.random() < 0.01:
            messy.append(r)  # duplicate
        if rng.random() < 0.01:
            late.append(r)
        if late and rng.random() < 0.05:
            messy.append(late.pop())  # a few minutes late
    got, alerts = run(messy)
    first: dict[tuple[int, str], Scored] = {}
    for s in got:
        first.setdefault((s.ts_ms, s.metric.value), s)
    assert [first[(s.ts_ms, s.metric.value)] for s in clean] == clean
    assert [a.kind for a in alerts if a.category is Category.CLINICAL] == []


def test_quality_counters() -> None:
    eng = Engine()
    r = Reading("d1", T0, Metric.HEART_RATE, 60.0)
    eng.process([r, r, Reading("d1", T0 - 10 * MIN, Metric.HEART_RATE, 61.0)])
    assert eng.stats("d1") == {
        "readings": 3,
        "duplicates": 1,
        "out_of_order": 1,
        "late": 1,
        "impossible": 0,
    }


def test_impossible_values_are_data_quality() -> None:
    rs = rest_then({}, 100)
    rs.insert(50, Reading("d1", T0 + 25 * MIN + 5, Metric.HEART_RATE, 0.0))
    rs.insert(60, Reading("d1", T0 + 30 * MIN + 5, Metric.HEART_RATE, float("nan")))
    scored, alerts = run(rs)
    assert kinds(alerts) == ["impossible_value"]
    assert alerts[0].category is Category.DATA_QUALITY
    assert all(math.isfinite(s.score) for s in scored)


def test_flatline() -> None:
    rs = minutes("d1", 120, hr=lambda i: 64.0, steps=lambda i: 0.0, hr_noise=0.0)
    _, alerts = run(rs)
    assert kinds(alerts) == ["flatline"]


def test_off_wrist_versus_dropout() -> None:
    rs = minutes("d1", 200, hr=lambda i: None if 60 <= i < 120 else 65.0, steps=lambda i: 0.0)
    _, alerts = run(rs)
    assert kinds(alerts) == ["off_wrist"]
    assert kinds(alerts, "resolved") == ["off_wrist"]
    # the optical sensor stops but the wearer keeps walking about
    worn = minutes(
        "d2",
        200,
        hr=lambda i: None if 60 <= i < 120 else 65.0,
        steps=lambda i: 12.0 if i % 3 == 0 else 0.0,
    )
    _, alerts = run(worn)
    assert kinds(alerts) == ["dropout"]
    # every metric stops for 30 min: a dropout found when data resumes (judged from the
    # start: the device's habits need no learning here)
    gap = minutes(
        "d3",
        200,
        hr=lambda i: None if 60 <= i < 90 else 65.0,
        steps=lambda i: None if 60 <= i < 90 else 0.0,
    )
    at_once = Engine(EngineConfig(quality=QualityConfig(presence_learn_days=0)))
    _, alerts = run(gap, at_once)
    assert kinds(alerts) == ["dropout"]
    # by default a new device's 30 min gap may be its habit: not judged yet
    _, alerts = run(gap)
    assert kinds(alerts) == []


def test_clock_skew() -> None:
    rs = rest_then({}, 240)
    skewed = [
        r
        if r.ts_ms < T0 + 100 * MIN or r.ts_ms >= T0 + 160 * MIN
        else Reading(r.device_id, r.ts_ms - 20 * MIN, r.metric, r.value)
        for r in rs
    ]
    _, alerts = run(skewed)
    assert kinds(alerts) == ["clock_skew"]
    assert kinds(alerts, "resolved") == ["clock_skew"]


def test_deadman_tick() -> None:
    cfg = EngineConfig(
        deadman=DeadmanConfig(roster={"expected": 30 * MIN}),
        quality=QualityConfig(presence_learn_days=0),  # d1 judged at once
    )
    eng = Engine(cfg)
    eng.process(rest_then({}, 10))
    assert eng.tick(T0 + 20 * MIN) == []
    events = eng.tick(T0 + 2 * HOUR)
    assert sorted(e.device_id for e in events) == ["d1", "expected"]
    assert {e.kind for e in events} == {K.DEVICE_SILENT}
    assert eng.tick(T0 + 2 * HOUR + MIN) == []  # no repeat
    out = eng.process([Reading("d1", T0 + 3 * HOUR, Metric.HEART_RATE, 64.0)])
    assert [(a.kind.value, a.state) for a in out.alerts] == [("device_silent", "resolved")]


def test_tick_resolves_unobservable_alerts() -> None:
    eng = Engine()
    _, alerts = run(rest_then({range(60, 100): 140.0}, 100), eng)
    assert kinds(alerts) == ["tachycardia_at_rest"]
    out = eng.tick(T0 + 100 * MIN + DAY // 48)
    assert ("tachycardia_at_rest", "resolved") in [(a.kind.value, a.state) for a in out]


def test_restore_mid_alert_keeps_the_alert() -> None:
    rs = rest_then({range(60, 100): 140.0}, 160)
    cut = next(i for i, r in enumerate(rs) if r.ts_ms >= T0 + 80 * MIN)
    eng = Engine()
    _, first = run(rs[:cut], eng)
    assert kinds(first) == ["tachycardia_at_rest"]
    again = Engine()
    again.restore("d1", eng.snapshot("d1"))
    _, rest = run(rs[cut:], again)
    assert [a.state for a in rest if a.kind is K.TACHYCARDIA_AT_REST] == ["resolved"]
    assert rest[-1].alert_id == first[0].alert_id


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-50, max_value=400) | st.just(float("nan")), min_size=1, max_size=300
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=300), max_size=5),
    jitter=st.lists(st.integers(min_value=-600_000, max_value=600_000), max_size=300),
)
def test_any_stream_any_batching(values: list[float], cuts: list[int], jitter: list[int]) -> None:
    """Scores stay finite and output does not depend on batch boundaries, whatever arrives."""
    metrics = list(Metric)
    rs = [
        Reading(
            "p",
            T0 + i * 30_000 + (jitter[i] if i < len(jitter) else 0),
            metrics[i % 4],
            v if metrics[i % 4] is not Metric.SLEEP_STAGE else float(i % 4),
        )
        for i, v in enumerate(values)
    ]
    whole = Engine().process(rs)
    assert all(math.isfinite(s.score) for s in whole.scored)
    eng = Engine()
    scored: list[Scored] = []
    alerts: list[AlertEvent] = []
    bounds = sorted({0, len(rs), *[c for c in cuts if c < len(rs)]})
    for lo, hi in itertools.pairwise(bounds):
        out = eng.process(rs[lo:hi])
        scored += out.scored
        alerts += out.alerts
    assert _enc.encode(scored) == _enc.encode(whole.scored)
    assert _enc.encode(alerts) == _enc.encode(whole.alerts)


def test_flapping_is_reported_and_slows_resolution() -> None:
    # tachycardia for 12 min, normal for 25 min, five times over
    episodes = {range(60 + k * 37, 72 + k * 37): 130.0 for k in range(5)}
    _, alerts = run(rest_then(episodes, 60 + 5 * 37 + 30))
    opened = [a for a in alerts if a.kind is K.TACHYCARDIA_AT_REST and a.state == "open"]
    assert len(opened) >= 3
    assert "Flapping" in opened[-1].explanation
    assert len({a.alert_id for a in opened}) == len(opened)  # each episode its own id


def test_late_backlog_of_one_metric_is_not_clock_skew() -> None:
    live = rest_then({}, 120)
    # 20 minutes of SpO2 uploaded in one burst, 30 min late, while HR and steps stream live
    backlog = [Reading("d1", T0 + (60 + i) * MIN + 3, Metric.SPO2, 97.0) for i in range(20)]
    cut = next(i for i, r in enumerate(live) if r.ts_ms >= T0 + 110 * MIN)
    _, alerts = run(live[:cut] + backlog + live[cut:])
    assert alerts == []


def test_tick_reports_the_devices_it_changed() -> None:
    eng = Engine(EngineConfig(quality=QualityConfig(presence_learn_days=0)))
    eng.process(rest_then({}, 10))
    eng.process(rest_then({}, 10, device="d2", seed=1))
    assert eng.tick(T0 + 20 * MIN) == []
    assert eng.tick_touched == set()
    eng.process([Reading("d2", T0 + 2 * HOUR, Metric.HEART_RATE, 64.0)])
    events = eng.tick(T0 + 2 * HOUR)
    assert [e.device_id for e in events] == ["d1"]
    assert eng.tick_touched == {"d1"}
