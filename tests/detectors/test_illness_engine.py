"""The ``illness`` kind in the engine: River models in the per-device state, snapshots that
carry them, and replay that gives the same alerts across a restore mid-stream."""

from __future__ import annotations

import re

import pytest
from river import stats

import detectors
from detectors.config import EngineConfig
from detectors.engine import Engine, LayoutMismatchError
from detectors.illness import IllnessDetector
from detectors.types import AlertEvent
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from tests.detectors.streams import DAY, MIN, T0, day_plan, minutes

BATCH = 5_000


def hr_and_steps(
    device: str, days: int, *, up_from: int = 10**9, up_bpm: float = 8.0
) -> list[Reading]:
    """Ordinary days from a device that sends heart rate and steps only (no sleep stages); from
    day ``up_from`` on, heart rate ``up_bpm`` higher."""
    return minutes(
        device,
        days * 1440,
        steps=lambda i: day_plan(i % 1440)[0],
        hr=lambda i: day_plan(i % 1440)[1] + (up_bpm if i // 1440 >= up_from else 0.0),
        seed=3,
    )


def run(eng: Engine, rs: list[Reading]) -> list[AlertEvent]:
    out: list[AlertEvent] = []
    for lo in range(0, len(rs), BATCH):
        batch = rs[lo : lo + BATCH]
        out += eng.process(batch).alerts
        out += eng.tick(batch[-1].ts_ms)
    return out


def test_processing_a_stream_puts_river_models_in_the_device_state() -> None:
    eng = detectors.Engine()
    run(eng, hr_and_steps("d1", 4))
    model = eng.models("d1")["illness"]
    assert isinstance(model, IllnessDetector)
    assert isinstance(model._center, stats.EWMean)
    assert isinstance(model._spread, stats.EWVar)
    assert model.nights >= 3  # one resting HR per closed night was learned
    center, _ = model.baseline() or (0.0, 0.0)
    assert 54.0 < center < 58.0  # the plan's 56 bpm at night


def test_hr_and_steps_alone_raise_an_explained_illness_alert() -> None:
    eng = Engine()
    alerts = [a for a in run(eng, hr_and_steps("d1", 16, up_from=12)) if a.kind is K.ILLNESS]
    assert alerts
    first = alerts[0]
    assert first.state == "open"
    assert (first.ts_ms - T0) // DAY == 12  # the first elevated night, judged at its 07:00
    assert "Resting heart rate last night 64 bpm, 8 bpm above the personal" in first.explanation
    assert "-night baseline (56 +/- " in first.explanation
    # as every kind: the personal baseline, how long and the wearer's clock time it began
    assert re.search(
        r"over the personal baseline for \d+ (h|min)[\d min]*, from ", first.explanation
    )
    assert re.search(r"\d\d:\d\d (UTC|local time)", first.explanation), first.explanation
    assert " your " not in first.explanation


def raised_night_then_day() -> list[Reading]:
    """Ordinary days; the night ending on day 11 2 bpm up (over one sd, too little to flag),
    then day 11 5 bpm up."""
    start = 11 * 1440

    def rise(i: int) -> float:
        return 0.0 if i < start else 2.0 if i < start + 7 * 60 else 5.0

    return minutes(
        "d1",
        13 * 1440,
        steps=lambda i: day_plan(i % 1440)[0],
        hr=lambda i: day_plan(i % 1440)[1] + rise(i),
        seed=3,
    )


def test_a_raised_day_after_a_raised_night_is_alerted_at_22h() -> None:
    """The evening judgement alerts at local 22:00 of the raised day, nine hours before the
    night that follows closes."""
    alerts = [a for a in run(Engine(), raised_night_then_day()) if a.kind is K.ILLNESS]
    assert alerts
    first = alerts[0]
    assert first.state == "open"
    assert (first.ts_ms - T0) // (DAY // 24) == 11 * 24 + 22  # day 11, local 22:00 (UTC)
    assert first.explanation.startswith("Possible onset of an illness")
    assert "Resting heart rate today" in first.explanation
    assert "last night it was already over the personal" in first.explanation


def test_normal_days_raise_no_illness_alert() -> None:
    eng = Engine()
    assert not [a for a in run(eng, hr_and_steps("d1", 16)) if a.kind is K.ILLNESS]


def test_snapshot_round_trip_carries_the_river_state() -> None:
    eng = Engine()
    run(eng, hr_and_steps("d1", 9))
    snap = eng.snapshot("d1")
    other = Engine()
    other.restore("d1", snap)
    assert other.snapshot("d1") == snap
    a, b = eng.models("d1")["illness"], other.models("d1")["illness"]
    assert a is not b
    assert b.snapshot() == a.snapshot()
    assert b.baseline() == a.baseline()
    assert len(snap) <= 4096  # the always-on per-device budget
    assert len(a.snapshot()) <= 1024  # the model: 780 B with the evening usual (656 before)


def test_replay_is_deterministic_across_a_restore_mid_stream() -> None:
    expected = replay_across_a_restore(hr_and_steps("d1", 18, up_from=12), 13 * 1440 * 2 + 517)
    assert any(a.kind is K.ILLNESS for a in expected)  # cut mid-day, after the alert opened


def replay_across_a_restore(rs: list[Reading], cut: int) -> list[AlertEvent]:
    """The alerts of ``rs`` in one engine; asserts that a second engine restored from a
    snapshot after ``rs[:cut]`` gives the same alerts and the same final state."""
    whole = Engine()
    expected = run(whole, rs)
    first = Engine()
    got = run(first, rs[:cut])
    second = Engine()
    second.restore("d1", first.snapshot("d1"))
    got += run(second, rs[cut:])
    assert got == expected
    assert second.snapshot("d1") == whole.snapshot("d1")
    return expected


def test_replay_across_a_restore_before_the_evening_judgement_is_deterministic() -> None:
    # cut on day 11 at 20:00: the day's sums and the evening's usual travel in the snapshot
    expected = replay_across_a_restore(raised_night_then_day(), (11 * 1440 + 20 * 60) * 2 + 17)
    assert any("Resting heart rate today" in a.explanation for a in expected)


def test_an_unreadable_model_starts_the_device_afresh() -> None:
    eng = Engine()
    run(eng, hr_and_steps("d1", 3))
    snap = eng.snapshot("d1")
    model = eng.models("d1")["illness"].snapshot()
    broken = snap.replace(model, b"\x07" + model[1:])
    other = Engine()
    with pytest.raises(LayoutMismatchError, match="model"):
        other.restore("d1", broken)
    assert "d1" not in other.device_ids()
    # a model under the name of a module that keeps none (or of no module at all)
    for key in (b"\xa4hour", b"\xa7nothere"):  # msgpack short strings
        odd = snap.replace(b"\xa7illness", key)
        assert odd != snap
        with pytest.raises(LayoutMismatchError, match="model"):
            other.restore("d1", odd)


def test_a_night_is_the_wearers_local_night() -> None:
    """The offset is the wearer's, kept by the local_time module (here configured): at UTC+8
    the night window 00:00-07:00 local is 16:00-23:00 UTC, so a rise only in those UTC hours
    shows as an elevated night."""
    eng = Engine(EngineConfig.model_validate({"local_time": {"devices": {"d1": "+08:00"}}}))

    def hr(i: int) -> float:
        m = i % 1440
        up = i // 1440 >= 12 and 16 * 60 <= m < 23 * 60
        return 56.0 + (8.0 if up else 0.0)

    rs = minutes(
        "d1",
        16 * 1440,
        steps=lambda i: 0.0 if 16 * 60 <= i % 1440 < 23 * 60 else 3.0 * (i % 7 == 0),
        hr=hr,
        seed=1,
    )
    alerts = [a for a in run(eng, rs) if a.kind is K.ILLNESS]
    assert alerts
    # judged when the local night's window ends: local 07:00 of day 13 = 23:00 UTC of day 12
    assert (alerts[0].ts_ms - T0) // (MIN * 60) == 12 * 24 + 23


def one_raised_night(device: str, days: int, night: int, *, out_late: bool) -> list[Reading]:
    """Ordinary days; the night ending on day ``night`` has resting HR 8 bpm up fading to 2 by
    07:00; ``out_late``: the wearer was on their feet from 22:00 to 01:00 before it (a night
    out), else in bed as usual (an illness's first night looks like this)."""
    start = night * 1440 - 120  # 22:00 the day before

    def steps(i: int) -> float:
        if out_late and start <= i < start + 180:
            return 40.0
        return day_plan(i % 1440)[0]

    def hr(i: int) -> float:
        base = day_plan(i % 1440)[1]
        if out_late and start <= i < start + 180:
            return 95.0
        since = i - (start + 180 if out_late else start)
        if since >= 0 and i < night * 1440 + 420:
            return base + 8.0 - 6.0 * since / (night * 1440 + 420 - start)
        return base

    return minutes(device, days * 1440, steps=steps, hr=hr, seed=3)


def test_a_night_out_is_discounted_in_the_engine_an_unexplained_rise_is_not() -> None:
    """The same raised night: flagged when the wearer was in bed as usual, discounted (no
    alert, the baseline not moved) after three hours on their feet past their bedtime."""
    in_bed, out = Engine(), Engine()
    flagged = run(in_bed, one_raised_night("d1", 14, 12, out_late=False))
    assert [a for a in flagged if a.kind is K.ILLNESS]
    quiet = run(out, one_raised_night("d1", 14, 12, out_late=True))
    assert not [a for a in quiet if a.kind is K.ILLNESS]
    model = out.models("d1")["illness"]
    assert isinstance(model, IllnessDetector)
    center, _ = model.baseline() or (0.0, 0.0)
    assert 54.0 < center < 57.0  # the raised night was not learned
