"""Type stub of the compiled per-reading path (``detectors/_fastpath.pyx``)."""

from collections.abc import Sequence

from detectors.engine import Engine
from detectors.types import AlertEvent, Scored
from messages.codec import Reading

class FastPath:
    def __init__(self, engine: Engine) -> None: ...
    def process(
        self, readings: Sequence[Reading], scored: list[Scored], out: list[AlertEvent]
    ) -> None: ...
