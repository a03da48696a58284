"""The protocol of a detector module (see :mod:`detectors.kinds` for how a kind plugs in)."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from detectors.alerts import AlertBook, Track
from detectors.config import EngineConfig
from detectors.layout import Layout, StateLayout
from messages.kinds import AnomalyKind
from messages.metrics import Metric

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: the activity contexts a heart-rate or SpO2 reading is scored in (index into CONTEXT_TEXT)
ASLEEP, REST, STILL, ACTIVE, LIGHT = 0, 1, 2, 3, 4
CONTEXT_TEXT = ("asleep", "at rest", "inactive", "exercising", "lightly active")

MIN = 60_000
HOUR = 3_600_000
DAY = 24 * HOUR


@dataclass(frozen=True, slots=True)
class Wording:
    """What :class:`detectors.explain.Explainer` hands a module to word one alert event."""

    #: how long the alert has lasted (to its end once resolved), e.g. ``"29 min"``
    dur: str
    #: ``" while <context>"`` (what the wearer was doing, and whether that was assumed) or ``""``
    ctx: str
    #: the wearer's clock time the alert began, e.g. ``"01:12 local time"`` (``""``: unknown)
    since: str
    #: the device's slots, read only (None: no device state at hand)
    s: array[float] | None

    @property
    def where(self) -> str:
        """The context and the clock time together: ``" while at rest, from 01:12 local time"``.

        >>> Wording("3 min", " while asleep", "01:12 UTC", None).where
        ' while asleep, from 01:12 UTC'
        >>> Wording("3 min", "", "", None).where
        ''
        """
        return self.ctx + self.from_clock(", " if self.ctx else " ")

    def from_clock(self, lead: str = " ") -> str:
        """The clock time the alert began alone, for a text that words its context its own
        way: ``lead + "from <clock time>"``, or ``""`` when the clock time is unknown.

        >>> Wording("31 h", "", "12 Jan 00:00 local time", None).from_clock(", ")
        ', from 12 Jan 00:00 local time'
        >>> Wording("3 min", "", "", None).from_clock()
        ''
        """
        return f"{lead}from {self.since}" if self.since else ""


class Env:
    """What every module of one engine shares: the configuration (a plain-attribute copy of
    :class:`EngineConfig`, cheap to read on the hot path), the alert book, the composed state
    layout and the modules themselves by name."""

    def __init__(
        self, cfg: EngineConfig, plain: EngineConfig, book: AlertBook, layout: StateLayout
    ) -> None:
        self.cfg = cfg
        self.c = plain
        self.book = book
        self.layout = layout
        self.modules: Mapping[str, Module] = {}
        #: the activity context of a device at an event time (set by the engine)
        self.context_of: Callable[[Any, float], int] = _no_context


def _no_context(d: Any, ts: float) -> int:
    raise RuntimeError("the engine has not wired the context yet")


class Module:
    """A detector module: its slots, its configuration section, its rule and its wording.

    Subclasses set the class attributes; ``__init__`` runs once per engine (after every
    module's layout has been placed, so offsets are known), :meth:`setup` once every module of
    the engine exists (to look up peers), :meth:`init_state` for each new device.
    """

    #: the module's name: its slots are ``"<name>.<slot>"`` in the composed layout
    name: ClassVar[str]
    #: the slots it keeps per device
    layout: ClassVar[Layout]
    #: the alert kind it raises, if any
    kind: ClassVar[AnomalyKind | None] = None
    #: its section of :class:`EngineConfig` (the field name), if any
    section: ClassVar[str | None] = None
    #: the metric whose arrival shows the condition is observable (for tick()'s staleness);
    #: None: any reading of the device
    metric: ClassVar[Metric | None] = None
    #: judged per night, hour or day (a rarer heartbeat, a longer staleness limit)
    multiday: ClassVar[bool] = False
    #: resolved by its own logic (a gap ends, data flows again), never by tick() staleness
    self_resolving: ClassVar[bool] = False
    #: the headline of an alert of this kind when :meth:`explain` gives none
    title: ClassVar[str] = ""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.book = env.book
        self.c = env.c

    def slot(self, name: str, owner: str | None = None) -> int:
        """The offset of slot ``name`` of module ``owner`` (default: this one)."""
        return self.env.layout[f"{owner or self.name}.{name}"]

    def setup(self) -> None:
        """Called once all modules of the engine exist (look up peers here)."""

    def init_state(self, s: array[float], cfg: EngineConfig) -> None:
        """Cold-start values that depend on the configuration (the rest come from the layout)."""

    def dump_model(self, model: Any) -> bytes:
        """Bytes of this module's per-device model (``Device.models[name]``) for a snapshot."""
        raise NotImplementedError(f"module {self.name} keeps no per-device model")

    def load_model(self, data: bytes) -> Any:
        """The model :meth:`dump_model` wrote (``ValueError`` if the bytes are not one)."""
        raise NotImplementedError(f"module {self.name} keeps no per-device model")

    def explain(self, t: Track, dur: str, ctx: str) -> str | None:
        """The sentence describing alert ``t`` lasting ``dur`` (``ctx``: " while <context>"
        or ""); None: the generic ``"<title> for <dur><ctx>, from <clock time>."``."""
        return None

    def describe(self, t: Track, w: Wording) -> str | None:
        """The sentence describing alert ``t`` with everything :class:`Wording` holds (the
        local clock time it began, the device's slots for the baseline's spread); by default
        :meth:`explain`'s. None: the generic sentence."""
        return self.explain(t, w.dur, w.ctx)


def bpm(x: float | None) -> str:
    """A heart rate as a clinician reads it: whole beats per minute.

    >>> bpm(71.46), bpm(None)
    ('71 bpm', 'n/a')
    """
    return "n/a" if x is None else f"{round(x)} bpm"


def pct(x: float | None) -> str:
    """A SpO2 as a clinician reads it: a whole percentage.

    >>> pct(95.6)
    '96 %'
    """
    return "n/a" if x is None else f"{round(x)} %"


def plural(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is 1.

    >>> plural(1, "night"), plural(3, "episode")
    ('1 night', '3 episodes')
    """
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def baseline_text(
    s: array[float] | None,
    o: int,
    value: float | None,
    unit: str,
    sd_floor: float,
    warmup_ms: float,
) -> str:
    """The personal baseline at offset ``o`` (:mod:`detectors.ewz` slots) whose value an alert
    used, as a clinician reads it: ``"71 +/- 6 bpm"`` (mean and usual spread, one sd, whole
    numbers), or, while it has learned less than ``warmup_ms``, that it is still the
    population prior (the rules then judge by their population thresholds alone).

    >>> s = array("d", [71.4, 30.0, 7_200_000.0])
    >>> baseline_text(s, 0, 71.4, "bpm", 2.0, 3_600_000)
    '71 +/- 5 bpm'
    >>> baseline_text(array("d", [96.5, 2.25, 0.0]), 0, 96.5, "%", 0.7, 3_600_000)
    '96 %, not yet personal (under 1 h of data: the population prior)'
    """
    if value is None or s is None:
        return "n/a" if value is None else f"{round(value)} {unit}"
    if s[o + 2] < warmup_ms:  # ewz.N: ms learned
        return (
            f"{round(value)} {unit}, not yet personal (under {round(warmup_ms / HOUR)} h of "
            "data: the population prior)"
            if warmup_ms >= HOUR
            else f"{round(value)} {unit}, not yet personal (the population prior)"
        )
    sd = max(math.sqrt(max(s[o + 1], 0.0)), sd_floor)  # ewz.VAR
    return f"{round(value)} +/- {round(sd)} {unit}"


def r1(x: float) -> float:
    return round(x, 1)


def g1(x: float) -> str:
    return f"{x:.1f}"


def g(x: float | None, unit: str = "") -> str:
    if x is None:
        return "n/a"
    return f"{x:.1f}".removesuffix(".0") + unit
