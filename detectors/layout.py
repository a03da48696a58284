"""Declarative slot layouts: how a device's flat state array is laid out, and its fingerprint.

Every detector module (:mod:`detectors.kinds`) declares the float slots it keeps per device as a
:class:`Layout`: named :class:`Slot` entries with their cold-start values and what a backward
clock jump does to them. :class:`StateLayout` lays the modules' layouts side by side, in
registration order, into one ``array('d')`` per device, gives every slot its offset
(``"tachycardia.run"``) and hashes the whole layout (module names, versions, slot names and
sizes, in order) into a :attr:`StateLayout.fingerprint` that every snapshot carries. A snapshot
whose fingerprint differs was written by another layout: it is never read slot by slot.

>>> a = Layout("a", 1, (Slot("x", init=-1.0), Slot("ring", 3)))
>>> b = Layout("b", 2, (Slot("y", jump="time"),))
>>> st = StateLayout((a, b))
>>> st.n_slots, st["a.ring"], st["b.y"]
(5, 1, 4)
>>> list(st.fresh())
[-1.0, 0.0, 0.0, 0.0, 0.0]
>>> st.fingerprint == StateLayout((a, b)).fingerprint
True
>>> st.fingerprint == StateLayout((b, a)).fingerprint  # same slots, other places
False
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

#: what a confirmed backward clock jump does to a slot: nothing (``keep``), move an event time
#: that is ahead of the new clock back to just before it (``time``), or restore its cold-start
#: value (``reset``: runs, windows and episodes restart on the new clock)
OnClockJump = Literal["keep", "time", "reset"]


@dataclass(frozen=True)
class Slot:
    """``size`` consecutive floats named ``name``; ``init`` is their cold-start value (one
    float for all, or one per float); ``jump``: see :data:`OnClockJump`."""

    name: str
    size: int = 1
    init: float | tuple[float, ...] = 0.0
    jump: OnClockJump = "keep"
    #: the value ``jump="reset"`` restores (default: ``init``)
    reset_value: float | None = None

    def initial(self) -> tuple[float, ...]:
        if isinstance(self.init, tuple):
            if len(self.init) != self.size:
                raise ValueError(
                    f"slot {self.name}: {len(self.init)} initial values, size {self.size}"
                )
            return self.init
        return (float(self.init),) * self.size


@dataclass(frozen=True)
class Layout:
    """The slots one module keeps per device. Bump ``version`` when the meaning of a slot
    changes without its name or size changing: old snapshots then start afresh."""

    owner: str
    version: int
    slots: tuple[Slot, ...]


class StateLayout:
    """The composed layout of a device's state array (see the module docstring)."""

    def __init__(self, layouts: Iterable[Layout]) -> None:
        self.layouts = tuple(layouts)
        self.offsets: dict[str, int] = {}
        init: list[float] = []
        time_slots: list[int] = []
        reset_slots: list[tuple[int, float]] = []
        parts: list[str] = []
        for lay in self.layouts:
            parts.append(f"{lay.owner}@{lay.version}")
            for slot in lay.slots:
                key = f"{lay.owner}.{slot.name}"
                if key in self.offsets:
                    raise ValueError(f"slot {key} declared twice")
                o = self.offsets[key] = len(init)
                values = slot.initial()
                for k, v in enumerate(values):
                    if slot.jump == "time":
                        time_slots.append(o + k)
                    elif slot.jump == "reset":
                        reset = v if slot.reset_value is None else slot.reset_value
                        reset_slots.append((o + k, reset))
                init += values
                parts.append(f"{slot.name}:{slot.size}")
        self.n_slots = len(init)
        self.state_bytes = 8 * self.n_slots
        self._init = array("d", init)
        #: event-time slots a backward clock jump moves back (see :data:`OnClockJump`)
        self.time_slots = tuple(time_slots)
        #: (offset, cold-start value) of the slots a backward clock jump resets
        self.reset_slots = tuple(reset_slots)
        #: hash of every module's name, version and slots, in order
        self.fingerprint = hashlib.sha256(" ".join(parts).encode()).hexdigest()[:16]

    def __getitem__(self, key: str) -> int:
        return self.offsets[key]

    def fresh(self) -> array[float]:
        """A new state array holding every slot's cold-start value."""
        return array("d", self._init)
