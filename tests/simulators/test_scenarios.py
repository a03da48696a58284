"""Named scenarios load and run; scenario files are validated with useful errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from messages.kinds import AnomalyKind
from simulators import FleetSimulator, load_scenario, parse_duration, scenario_names

from .conftest import DAY_MS, START_MS


@pytest.mark.parametrize("name", ["normal_week", "acute_events", "illness_week", "loadtest"])
def test_named_scenarios_resolve(name: str) -> None:
    assert name in scenario_names()
    scenario = load_scenario(name)
    sim = FleetSimulator(scenario, start_ms=START_MS)
    assert sim.end_ms - sim.start_ms == scenario.duration_ms
    if name == "normal_week":
        assert sim.event_labels == []
    else:
        assert sim.event_labels


def test_acute_events_cover_every_acute_and_data_quality_kind() -> None:
    sim = FleetSimulator(load_scenario("acute_events"), start_ms=START_MS)
    multi_day = {
        AnomalyKind.ELEVATED_RESTING_HR,
        AnomalyKind.SLEEP_DISRUPTION,
        AnomalyKind.UNUSUAL_INACTIVITY,
    }
    assert {lb.kind for lb in sim.event_labels} == set(AnomalyKind) - multi_day - {
        AnomalyKind.ILLNESS
    }
    illness = FleetSimulator(load_scenario("illness_week"), start_ms=START_MS)
    assert multi_day <= {lb.kind for lb in illness.event_labels}
    cohort = FleetSimulator(load_scenario("illness_cohort"), start_ms=START_MS)
    assert AnomalyKind.ILLNESS in {lb.kind for lb in cohort.event_labels}


def test_scenario_from_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'duration = "1d"\nseed = 4\nstart = 2026-01-01T00:00:00Z\n[fleet]\ndevices = 3\n'
        "[artefacts]\nmalformed_rate = 0.01\n"
        '[[events]]\nkind = "bradycardia"\ndevices = [1]\nat = "14h"\nduration = "15m"\n'
    )
    scenario = load_scenario(path)
    assert scenario.name == "mine"
    assert scenario.start_ms == START_MS
    sim = FleetSimulator(scenario)
    (label,) = sim.event_labels
    assert label.device_id == sim.device_ids[1]
    assert label.start_ms == START_MS + 14 * 3_600_000
    assert label.end_ms - label.start_ms == 15 * 60_000


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('duraton = "1d"', "unknown scenario keys"),
        ('[fleet]\ndevices = 2\ncolour = "red"', "unknown \\[fleet\\] keys"),
        ("[artefacts]\nmalformed = 0.1", "unknown artefact settings"),
        ('[[events]]\nkind = "hiccups"', "event kind must be one of"),
        ('[[events]]\nkind = "flatline"\nduration = "1m"', "duration must be >="),
        ('[[events]]\nkind = "flatline"\nseverity = 3', "severity"),
        ('duration = "soon"', "not a duration"),
    ],
)
def test_bad_scenarios_are_rejected(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=match):
        FleetSimulator(load_scenario(path), start_ms=START_MS)


def test_unknown_scenario_name() -> None:
    with pytest.raises(ValueError, match="no scenario"):
        load_scenario("no_such_scenario")


def test_parse_duration() -> None:
    assert parse_duration("2w") == 14 * DAY_MS
    assert parse_duration("1h30m") == 90 * 60_000
