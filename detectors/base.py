"""The detector protocol and the flat-array state every built-in detector keeps.

A detector follows River's shape: :meth:`score_one` before :meth:`learn_one` (prequential), and
``learn_one`` ignores a reading the detector itself would flag, so an anomaly never teaches the
baseline. Inputs are feature dicts; a missing feature scores ``0.0`` and teaches nothing, unknown
features are ignored.

Built-in detectors keep their whole state in a few float slots of an :class:`array.array`. The
engine lays the slots of every detector a device needs side by side in one array per device and
calls the same module-level functions the classes use, so the contract suite tests the exact
arithmetic the engine runs, and a device's state is a fixed number of bytes that snapshots with
``tobytes()``.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from typing import ClassVar, Protocol, runtime_checkable

Features = Mapping[str, float]

_SNAPSHOT_VERSION = 1


@runtime_checkable
class Detector(Protocol):
    """What every detector offers (River-like, plus a batch API and snapshots)."""

    def score_one(self, x: Features) -> float: ...

    def learn_one(self, x: Features) -> None: ...

    def score_many(self, xs: Sequence[Features]) -> list[float]: ...

    def learn_many(self, xs: Sequence[Features]) -> None: ...

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes) -> None: ...

    def state_nbytes(self) -> int: ...


class ArrayDetector:
    """Base class of detectors whose state is ``SLOTS`` floats.

    Subclasses set ``SLOTS``, implement :meth:`_init_state`, :meth:`score_one` and
    :meth:`learn_one`; batches, snapshots and memory accounting come from here.
    """

    SLOTS: ClassVar[int] = 0

    def __init__(self, *, seed: int | None = None) -> None:
        # Built-in detectors are deterministic; ``seed`` is accepted for a uniform signature.
        self.seed = seed
        self._s = array("d", bytes(8 * self.SLOTS))
        self._init_state()

    def _init_state(self) -> None:
        """Fill the slots with their cold-start values."""

    def score_one(self, x: Features) -> float:
        raise NotImplementedError

    def learn_one(self, x: Features) -> None:
        raise NotImplementedError

    def score_many(self, xs: Sequence[Features]) -> list[float]:
        """Score a batch with the current state (no learning in between)."""
        return [self.score_one(x) for x in xs]

    def learn_many(self, xs: Sequence[Features]) -> None:
        for x in xs:
            self.learn_one(x)

    def process_many(self, xs: Sequence[Features]) -> list[float]:
        """Prequential batch: each reading is scored, then learned, in order."""
        out = []
        for x in xs:
            out.append(self.score_one(x))
            self.learn_one(x)
        return out

    def snapshot(self) -> bytes:
        return bytes([_SNAPSHOT_VERSION]) + self._s.tobytes()

    def restore(self, data: bytes) -> None:
        if not data or data[0] != _SNAPSHOT_VERSION or len(data) != 1 + 8 * self.SLOTS:
            raise ValueError(f"not a version-{_SNAPSHOT_VERSION} {type(self).__name__} snapshot")
        self._s = array("d", data[1:])

    def state_nbytes(self) -> int:
        """Bytes of detector state (the slots; the engine stores exactly these per device)."""
        return self._s.itemsize * len(self._s)


def feature(x: Features, name: str) -> float | None:
    """The finite value of feature ``name`` in ``x``, or ``None`` if missing or not finite."""
    v = x.get(name)
    if v is None:
        return None
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        return None
    return v
