"""The daemon's per-record path (decode, validate, score, format) as a fuzz target.

An input is one Kafka record: ``key NUL value``, or just ``value`` with the key ``dev-1`` (the
device id the seed readings use, so mutations of a valid reading get past the key check). The
property: whatever the bytes, :meth:`IngestDaemon._process` returns, and the record ends up as
points to write or dead letters: one of the two for a record of our own JSON, and for a
multi-reading record (Open mHealth, FHIR Bundle) at least one, each rejected part with its JSON
path.

The daemon is the real one, built from settings, without Kafka or InfluxDB: nothing on this path
does I/O; a stand-in consumer answers the two questions ``_process`` asks (the assignment, and
where to seek).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiokafka import TopicPartition
from pydantic import SecretStr

from ingest.daemon import Checkpoint, IngestDaemon
from ingest.settings import IngestSettings, PrivacySettings, Settings

CORPUS = Path(__file__).with_name("corpus")
DEFAULT_KEY = b"dev-1"
_YEARS_100_MS = 100 * 365 * 86_400_000


@dataclass(frozen=True)
class _Record:
    key: bytes | None
    value: bytes | None
    offset: int
    timestamp: int
    headers: tuple[tuple[str, bytes | None], ...] = ()
    partition: int = 0  # the daemon keeps the record as the source of its points


class _Consumer:
    """The consumer as ``_process`` sees it: one assigned partition."""

    def __init__(self, tp: TopicPartition) -> None:
        self._assigned = {tp}

    def assignment(self) -> set[TopicPartition]:
        return self._assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        raise AssertionError("no partition is being restored here")


def split(data: bytes) -> tuple[bytes | None, bytes]:
    """An input's record key and value (see the module docstring)."""
    key, sep, value = data.partition(b"\x00")
    if not sep:
        return DEFAULT_KEY, data
    return key or None, value


class RecordHarness:
    """Feeds records one at a time through a fresh daemon's per-record path."""

    #: records before the daemon is built afresh (bounds the memory of long runs)
    RESET_EVERY = 5_000

    def __init__(self) -> None:
        self._settings = Settings(
            privacy=PrivacySettings(key=SecretStr("fuzz-key-" + "k" * 24)),
            # any timestamp of 2000-2100 is accepted, so the seeds do not age out of the window
            ingest=IngestSettings(max_future_ms=_YEARS_100_MS, max_age_ms=_YEARS_100_MS),
        )
        self._tp = TopicPartition(self._settings.topics.readings, 0)
        self._fresh()

    def _fresh(self) -> None:
        self.daemon = IngestDaemon(self._settings)
        self.daemon.consumer = _Consumer(self._tp)  # type: ignore[assignment]
        self._offset = 0

    def feed(self, data: bytes) -> str:
        """Process one input; what became of it: ``point`` or ``dead:<reason>``."""
        if self._offset >= self.RESET_EVERY:
            self._fresh()
        d = self.daemon
        d._pending = Checkpoint()
        key, value = split(data)
        d._positions[self._tp] = self._offset
        d._process({self._tp: [_Record(key, value, self._offset, 0)]})
        self._offset += 1
        pending = d._pending
        points = ["point" for src in pending.sources if src is not None]
        outcomes = [f"dead:{dl.reason}" for dl in pending.dead_letters] + points
        assert outcomes, "every record ends as points or dead letters"
        parts = [dl for dl in pending.dead_letters if dl.path is not None]
        if not parts and len(points) <= 1:
            assert len(outcomes) == 1, outcomes
        assert pending.offsets == {self._tp: self._offset}, "the record's offset is covered"
        for dl in pending.dead_letters:
            if dl.path is None:
                assert dl.value == value, "a dead letter keeps the original bytes"
            if dl.reason == "internal_error":
                assert dl.detail.isidentifier(), "the exception's type, never its message"
        return outcomes[0]


def corpus_inputs() -> list[tuple[str, bytes]]:
    """The committed corpus: (file name, bytes)."""
    return sorted((p.name, p.read_bytes()) for p in CORPUS.iterdir() if p.is_file())
