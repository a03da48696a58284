"""Simulated wearable fleets with labelled anomalies, for tests, evaluation, demos and load.

Depends only on :mod:`messages` (plus numpy/scipy/msgspec; aiokafka for the Kafka sink).

>>> from simulators import FleetSimulator, load_scenario
>>> sim = FleetSimulator(load_scenario("acute_events"), devices=4, seed=1,
...                      start_ms=1767225600000, duration_ms=2 * 86_400_000)
>>> chunk = next(iter(sim))
>>> key, value = chunk.messages()[0]
>>> key
b'watch-000002'
"""

from simulators.artefacts import Artefacts
from simulators.chunk import DUPLICATE, LATE, MALFORMED, METRIC_ORDER, Chunk
from simulators.events import KINDS, Event, EventSpec, parse_duration
from simulators.fleet import FleetSimulator
from simulators.pacing import apaced, default_start_ms, paced
from simulators.population import DEVICE_MODELS, Person, Population, make_population
from simulators.scenario import Scenario, load_scenario, scenario_names

__all__ = [
    "DEVICE_MODELS",
    "DUPLICATE",
    "KINDS",
    "LATE",
    "MALFORMED",
    "METRIC_ORDER",
    "Artefacts",
    "Chunk",
    "Event",
    "EventSpec",
    "FleetSimulator",
    "Person",
    "Population",
    "Scenario",
    "apaced",
    "default_start_ms",
    "load_scenario",
    "make_population",
    "paced",
    "parse_duration",
    "scenario_names",
]
