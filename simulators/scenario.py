"""Scenarios: a fleet, a time span, artefact rates and the events to inject (TOML files).

Named scenarios ship in ``simulators/scenarios/``; any other ``.toml`` path works the same way.
See ``docs/simulator.md`` for the file format.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from simulators.artefacts import Artefacts
from simulators.calibration import DEFAULT, Calibration, get_calibration
from simulators.events import EventSpec, parse_duration
from simulators.population import DAY_MS

SCENARIO_DIR = Path(__file__).with_name("scenarios")


@dataclass(frozen=True, slots=True)
class Scenario:
    """What to simulate.

    Parameters
    ----------
    name, description
        For humans and reports.
    devices
        Fleet size (one device per person).
    duration_ms
        Span of event time.
    seed
        Default seed of runs of this scenario.
    start_ms
        Fixed start (epoch ms). ``None`` lets the run choose (see
        :func:`simulators.pacing.default_start_ms`): so that the span ends near "now".
    models
        Share of each device model (``watch``, ``ring``, ``patch``).
    utc_offsets_h
        Time zones of the wearers.
    artefacts
        Device and transport artefact rates.
    calibration
        Person, routine and sensor parameters (:mod:`simulators.calibration`; TOML:
        ``[fleet] calibration = "fitbit"``).
    events
        Anomalies to inject.

    Examples
    --------
    >>> s = Scenario(devices=5, duration_ms=DAY_MS)
    >>> s.replace(devices=7).devices
    7
    """

    name: str = "custom"
    description: str = ""
    devices: int = 10
    duration_ms: int = 7 * DAY_MS
    seed: int = 0
    start_ms: int | None = None
    models: Mapping[str, float] | None = None
    utc_offsets_h: tuple[float, ...] = (0.0,)
    artefacts: Artefacts = field(default_factory=Artefacts)
    events: tuple[EventSpec, ...] = ()
    calibration: Calibration = DEFAULT

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str = "custom") -> Scenario:
        """Build from parsed TOML (see ``docs/simulator.md`` for the keys)."""
        known = {"name", "description", "seed", "start", "duration", "fleet", "artefacts", "events"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown scenario keys {sorted(unknown)}; known: {sorted(known)}")
        fleet = dict(data.get("fleet", {}))
        unknown = set(fleet) - {"devices", "models", "utc_offsets_h", "calibration"}
        if unknown:
            raise ValueError(f"unknown [fleet] keys {sorted(unknown)}")
        start = data.get("start")
        start_ms: int | None
        if start is None:
            start_ms = None
        elif isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("scenario start needs a UTC offset, e.g. 2026-01-05T00:00:00Z")
            start_ms = int(start.timestamp() * 1000)
        else:
            raise ValueError("scenario start must be a TOML offset date-time")
        duration_ms = parse_duration(data.get("duration", "7d"))
        if duration_ms <= 0:
            raise ValueError("scenario duration must be positive")
        return cls(
            name=str(data.get("name", name)),
            description=str(data.get("description", "")),
            devices=int(fleet.get("devices", 10)),
            duration_ms=duration_ms,
            seed=int(data.get("seed", 0)),
            start_ms=start_ms,
            models=dict(fleet["models"]) if "models" in fleet else None,
            utc_offsets_h=tuple(float(x) for x in fleet.get("utc_offsets_h", [0.0])),
            artefacts=Artefacts.from_dict(dict(data.get("artefacts", {}))),
            events=tuple(EventSpec.from_dict(e) for e in data.get("events", [])),
            calibration=get_calibration(str(fleet.get("calibration", "default"))),
        )


def scenario_names() -> list[str]:
    """Names of the scenarios that ship with the project.

    >>> scenario_names()
    ['acute_events', 'illness_cohort', 'illness_week', 'loadtest', 'normal_week']
    """
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a named scenario (see :func:`scenario_names`) or a ``.toml`` file.

    >>> load_scenario("normal_week").name
    'normal_week'
    """
    text = str(name_or_path)
    path = SCENARIO_DIR / f"{text}.toml"
    if not path.is_file():
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"no scenario {text!r}: not a file, nor one of {scenario_names()}")
    with path.open("rb") as f:
        data = tomllib.load(f)
    try:
        return Scenario.from_dict(data, name=path.stem)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
