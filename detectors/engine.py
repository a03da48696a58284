"""The detection engine: the composition of the detector modules and the alert lifecycle.

One :class:`Engine` serves any number of devices. Each device owns one flat ``array('d')`` laid
out from the registered modules' declarative layouts (:mod:`detectors.kinds.registry`,
:mod:`detectors.layout`) plus a small dict of alert tracks that exist only while an alert is
pending, open or cooling down. Every reading goes through the same pure, deterministic path
(:mod:`detectors.reading_path`, compiled when a C compiler was available at install time):

1. data quality first: impossible values, duplicates, out-of-order/late readings and clock
   jumps are recognised and never reach a baseline or a rule;
2. context: asleep (recent non-awake sleep stage), at rest (mean cadence ~0 over the last
   ``rest_min_ms``), inactive (the same over the last ``still_min_ms``: enough for the acute
   HR rules, which must not wait 10 minutes after a walk), exercising (cadence above
   ``active_min_steps_per_min``) or lightly active;
3. score against the personal baseline *of that context* (prequential: before learning);
4. rules, one module per alert kind (:mod:`detectors.kinds`): sustained thresholds, episodes,
   multi-day and hourly aggregates signal conditions to the :class:`detectors.alerts.AlertBook`;
5. learn, unless the reading was flagged.

This module wires the modules together, keeps the devices, snapshots and restores them (with
the layout's fingerprint) and runs the time-driven part of the lifecycle (:meth:`Engine.tick`).
No wall clock and no randomness: output is a function of (restored state, input sequence).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import msgspec
from pydantic import BaseModel

from detectors import reading_path as _reading_path
from detectors.alerts import AlertBook, Track
from detectors.config import EngineConfig
from detectors.explain import Explainer
from detectors.kinds.base import ACTIVE, ASLEEP, CONTEXT_TEXT, LIGHT, REST, STILL, Env, Module
from detectors.kinds.device_silent import DeviceSilent
from detectors.kinds.local_time import LocalTime
from detectors.kinds.registry import LAYOUT, MODULES
from detectors.kinds.sleep_session import SleepSession
from detectors.types import AlertEvent, ProcessResult, Scored
from messages.codec import Reading
from messages.kinds import AnomalyKind

__all__ = [
    "ACTIVE",
    "ASLEEP",
    "COMPILED",
    "CONTEXT_TEXT",
    "LIGHT",
    "N_SLOTS",
    "REST",
    "STATE_BYTES",
    "STILL",
    "Engine",
    "LayoutMismatchError",
]


def _interpreted(module: ModuleType) -> ModuleType:
    """The plain Python build of ``module`` (loaded from its ``.py`` source)."""
    path = Path(module.__file__ or "")
    if path.suffix == ".py":
        return module  # no compiled build: the import already is the source
    name = module.__name__ + "_interpreted"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, path.with_name(path.name.split(".")[0] + ".py")
    )
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


#: whether :class:`Engine` runs its per-reading path compiled by default (the extension built
#: from ``detectors/reading_path.py`` at install time)
COMPILED = not (_reading_path.__file__ or "").endswith(".py")
_PATHS = {True: _reading_path, False: _interpreted(_reading_path)}

N_SLOTS = LAYOUT.n_slots
STATE_BYTES = LAYOUT.state_bytes
#: hash of the composed slot layout; every snapshot carries it
LAYOUT_FINGERPRINT = LAYOUT.fingerprint
_SNAPSHOT_VERSION = 2


# The slot offsets the engine used to export as constants (``engine.T_HR``), kept as aliases of
# the composed layout's offsets so code written against them still works; new code asks the
# layout (``LAYOUT["device.newest_heart_rate"]``) or, in a module, ``self.slot(...)``.
_LEGACY_SLOTS = {
    "T_FIRST": "device.first",
    "T_ANY": "device.newest",
    "T_HR": "device.newest_heart_rate",
    "T_SPO2": "device.newest_spo2",
    "T_STEPS": "device.newest_steps",
    "T_STAGE": "device.newest_sleep_stage",
    "T_WATCH": "device_silent.watch_since",
    "T_FIRST_STEPS": "activity.first_steps",
    "STEPS_RING": "activity.steps_ring",
    "RING_MIN": "activity.ring_minute",
    "REST_FLAG": "activity.rest",
    "STILL_FLAG": "activity.still",
    "CADENCE": "activity.cadence",
    "STAGE": "activity.stage",
    "HR_FAST": "heart_rate.fast",
    "HR_FAST_T": "heart_rate.fast_time",
    "INTERVAL": "device.interval",
    "B_SLEEP": "heart_rate.asleep",
    "B_REST": "heart_rate.rest",
    "B_ACTIVE": "heart_rate.active",
    "CIRC": "heart_rate.circadian",
    "B_SPO2": "spo2.baseline",
    "R_TACHY": "tachycardia.run",
    "R_BRADY": "bradycardia.run",
    "R_LOWSPO2": "low_spo2.run",
    "R_ABRUPT": "abrupt_hr_change.run",
    "ABRUPT_OK": "abrupt_hr_change.began_with_jump",
    "JUMP_T": "abrupt_hr_change.jump_up",
    "JUMP_DOWN_T": "abrupt_hr_change.jump_down",
    "HIGH_SINCE": "tachycardia.high_since",
    "HIGH_LAST": "tachycardia.high_last",
    "QUIET_SINCE": "activity.quiet_since",
    "R_HIGHREST": "hr_activity_decoupling.run",
    "FL": "flatline.run",
    "DS": "desaturation.run",
    "DS_CLUSTER": "desaturation.cluster",
    "DS_LAST_EP": "desaturation.last_episode",
    "DS_FIRST_EP": "desaturation.first_episode",
    "ACT_START": "activity.bout_start",
    "ACT_LAST": "activity.bout_last",
    "ACT_HR_SUM": "activity.bout_hr_sum",
    "ACT_HR_N": "activity.bout_hr_n",
    "ACT_CAD_SUM": "activity.bout_cadence_sum",
    "ACT_CAD_N": "activity.bout_cadence_n",
    "SS_START": "sleep_session.start",
    "SS_LAST": "sleep_session.last",
    "SS_ASLEEP": "sleep_session.asleep_ms",
    "SS_AWAKE": "sleep_session.awake_ms",
    "SS_AWAKENINGS": "sleep_session.awakenings",
    "SS_AWAKE_SINCE": "sleep_session.awake_since",
    "SS_HR_SUM": "sleep_session.hr_sum",
    "SS_HR_N": "sleep_session.hr_n",
    "SS_DESATS": "sleep_session.desaturations",
    "N_RHR": "elevated_resting_hr.baseline",
    "N_DUR": "sleep_disruption.duration",
    "N_EFF": "sleep_disruption.efficiency",
    "N_AWK": "sleep_disruption.awakenings",
    "SLEEP_CONSEC": "sleep_disruption.consecutive",
    "RHR_RUN_START": "elevated_resting_hr.run_start",
    "SLEEP_RUN_START": "sleep_disruption.run_start",
    "LAST_ODI": "sleep_session.last_odi",
    "HP": "unusual_inactivity.profile",
    "H_CUR": "hour.current",
    "H_STEPS": "hour.steps",
    "H_STEPS_N": "hour.steps_n",
    "H_HR_N": "hour.hr_n",
    "H_ASLEEP_N": "hour.asleep_n",
    "H_RUN": "unusual_inactivity.run",
    "H_RUN_START": "unusual_inactivity.run_start",
    "H_RUN_LAST": "unusual_inactivity.run_last",
    "H_RUN_STEPS": "unusual_inactivity.run_steps",
    "H_RUN_USUAL": "unusual_inactivity.run_usual",
    "BEHIND_RUN": "clock_skew.behind_run",
    "BEHIND_PREV": "clock_skew.behind_prev",
    "BEHIND_FIRST": "clock_skew.behind_first",
    "BEHIND_METRICS": "clock_skew.behind_metrics",
    "SKEW_OFFSET": "clock_skew.offset",
    "SINCE_HR_STEPS": "off_wrist.steps_since_hr",
    "SINCE_HR_STAGES": "off_wrist.stages_since_hr",
    "WORN_SINCE": "off_wrist.worn_since",
    "N_READINGS": "device.readings",
    "N_DUP": "device.duplicates",
    "N_OOO": "device.out_of_order",
    "N_LATE": "device.late",
    "N_IMPOSSIBLE": "impossible_value.count",
    "IMP_LAST": "impossible_value.last",
}


def __getattr__(name: str) -> int:
    key = _LEGACY_SLOTS.get(name)
    if key is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return LAYOUT[key]


class LayoutMismatchError(ValueError):
    """A snapshot written by another state layout (or an older snapshot format): not read."""


class _Snapshot(msgspec.Struct, array_like=True):
    version: int
    device_id: str
    slots: bytes
    tracks: list[Track]
    layout: str = ""
    #: the modules' per-device models (River objects) by module name, as the module dumps them
    models: dict[str, bytes] = msgspec.field(default_factory=dict)


class Engine:
    """Streaming anomaly detection over any number of devices.

    Examples
    --------
    >>> from messages import Reading, Metric
    >>> eng = Engine(EngineConfig())
    >>> t0 = 1_767_225_600_000
    >>> rs = []
    >>> for i in range(60):  # at rest (0 steps/min): 20 min at ~70 bpm, then a jump to 131-135
    ...     hr = (70.0 if i < 20 else 131.0) + i % 5
    ...     rs.append(Reading("d1", t0 + i * 60_000, Metric.STEPS, 0.0, 60.0))
    ...     rs.append(Reading("d1", t0 + i * 60_000 + 1, Metric.HEART_RATE, hr))
    >>> out = eng.process(rs)
    >>> len(out.scored) == len(rs)
    True
    >>> [(a.kind.value, a.state, a.severity) for a in out.alerts]
    [('tachycardia_at_rest', 'open', 'critical')]
    >>> a = out.alerts[0]
    >>> (a.ts_ms - a.start_ms) // 60_000  # an abrupt onset: 10 min (a gradual climb: 30)
    10
    >>> eng2 = Engine(EngineConfig())
    >>> eng2.restore("d1", eng.snapshot("d1"))
    >>> eng2.snapshot("d1") == eng.snapshot("d1")
    True
    """

    def __init__(self, config: EngineConfig | None = None, *, compiled: bool = True) -> None:
        self.cfg = config if config is not None else EngineConfig()
        # the hot path reads thresholds from plain objects: a pydantic attribute chain costs
        # ~70 ns, and a heart-rate reading reads ~40 of them
        self._c = cast(EngineConfig, _plain(self.cfg))
        self._devices: dict[str, Any] = {}
        env = Env(self.cfg, self._c, cast(AlertBook, None), LAYOUT)
        mods: dict[str, Module] = {}
        env.modules = mods
        for cls in MODULES:
            mods[cls.name] = cls(env)
        self.modules = mods
        kinds = [m for m in mods.values() if m.kind is not None]
        multiday = frozenset(m.kind for m in kinds if m.multiday and m.kind is not None)
        self._book = AlertBook(
            self.cfg.alerts,
            Explainer(
                self.cfg,
                {m.kind: m for m in kinds if m.kind},
                self._devices,
                cast(LocalTime, mods["local_time"]),
            ),
            multiday,
        )
        env.book = self._book
        for m in mods.values():
            m.book = self._book
        self._multiday = multiday
        # kinds resolved by their own logic (gap ends, night closes), never by tick() staleness
        self._not_stale = frozenset(m.kind for m in kinds if m.self_resolving and m.kind)
        # per kind, the slot of the newest reading that shows whether its condition holds
        self._kind_seen = {
            m.kind: LAYOUT[f"device.newest_{m.metric.value}"] for m in kinds if m.metric and m.kind
        }
        self._t_any = LAYOUT["device.newest"]
        self._silent = cast(DeviceSilent, mods["device_silent"])
        self._night = cast(SleepSession, mods["sleep_session"])
        self._local = cast(LocalTime, mods["local_time"])
        self._ss_start = LAYOUT["sleep_session.start"]
        self._ss_last = LAYOUT["sleep_session.last"]
        self._enc = msgspec.msgpack.Encoder()
        self._dec = msgspec.msgpack.Decoder(_Snapshot)
        #: snapshots of another layout that :meth:`restore` refused (the device started afresh)
        self.layout_mismatches = 0
        #: devices whose state the last :meth:`tick` changed (to be snapshotted again)
        self.tick_touched: set[str] = set()
        # per device, the earliest event time at which tick() could change anything (a lower
        # bound; absent: unknown), so a tick visits only the devices that are due
        self._due: dict[str, float] = {}
        self._tick_every_device = False  # tests compare the index with visiting everything
        # compiled=False (or no compiled build): the same source, interpreted
        self.compiled = compiled and COMPILED
        path = _PATHS[self.compiled]
        self._Device = path.Device
        mm: Any = mods
        self._path = path.ReadingPath(
            self._c,
            LAYOUT,
            self._devices,
            self._device,
            {
                "book": self._book,
                "impossible": mm["impossible_value"].on_reading,
                "behind": mm["clock_skew"].on_behind,
                "gap": mm["dropout"].on_gap,
                "close_night": mm["sleep_session"].close,
                "close_hour": mm["hour"].close,
                "presence": mm["presence"].on_hour,
                "spo2": mm["spo2"].on_reading,
                "off_wrist": mm["off_wrist"].decide,
                "hr_back": mm["off_wrist"].on_heart_rate,
                "tachycardia": mm["tachycardia"].on_heart_rate,
                "bradycardia": mm["bradycardia"].on_heart_rate,
                "abrupt": mm["abrupt_hr_change"].on_heart_rate,
                "decoupling": mm["hr_activity_decoupling"].on_heart_rate,
            },
        )
        env.context_of = self._path.context_of
        for mod in mods.values():
            mod.setup()

    # -- device bookkeeping ------------------------------------------------------------------

    def device_ids(self) -> Iterable[str]:
        return list(self._devices)

    def _fresh(self) -> Any:
        s = LAYOUT.fresh()
        for m in self.modules.values():
            m.init_state(s, self.cfg)
        return s

    def _device(self, device_id: str) -> Any:
        d = self._devices.get(device_id)
        if d is None:
            d = self._devices[device_id] = self._Device(self._fresh(), {})
        return d

    def drop(self, device_id: str) -> None:
        """Forget a device (its partition moved elsewhere)."""
        self._devices.pop(device_id, None)
        self._due.pop(device_id, None)
        self._book.earlier.discard(device_id)

    def snapshot(self, device_id: str) -> bytes:
        """All state of one device as versioned msgpack (about 2 KB plus open alerts: the slot
        array and the modules' per-device models), stamped with the layout's fingerprint."""
        d = self._devices.get(device_id)
        if d is None:
            raise KeyError(device_id)
        tracks = [d.tracks[k] for k in sorted(d.tracks)]
        mods = self.modules
        models = {name: mods[name].dump_model(m) for name, m in sorted(d.models.items())}
        return self._enc.encode(
            _Snapshot(
                _SNAPSHOT_VERSION, device_id, d.s.tobytes(), tracks, LAYOUT_FINGERPRINT, models
            )
        )

    def restore(self, device_id: str, data: bytes) -> None:
        """Replace the state of ``device_id`` with a snapshot taken by :meth:`snapshot`.

        A snapshot of another state layout (its fingerprint differs: a module added, removed
        or changed its slots) or format is never read slot by slot: the device starts afresh,
        :attr:`layout_mismatches` counts it and :class:`LayoutMismatchError` (a ``ValueError``) says
        so, for the caller to log.
        """
        try:
            snap = self._dec.decode(data)
        except msgspec.DecodeError:
            snap = None
        if (
            snap is None
            or snap.version != _SNAPSHOT_VERSION
            or snap.layout != LAYOUT_FINGERPRINT
            or len(snap.slots) != STATE_BYTES
        ):
            self.drop(device_id)
            self.layout_mismatches += 1
            found = "unreadable" if snap is None else f"v{snap.version} layout {snap.layout or '-'}"
            raise LayoutMismatchError(
                f"device state snapshot of another layout ({found}; this engine: "
                f"v{_SNAPSHOT_VERSION} layout {LAYOUT_FINGERPRINT}): the device starts afresh"
            )
        try:
            models = {name: self.modules[name].load_model(b) for name, b in snap.models.items()}
        except (KeyError, ValueError, NotImplementedError) as e:  # a module gone or changed
            self.drop(device_id)
            self.layout_mismatches += 1
            raise LayoutMismatchError(
                f"device state snapshot with an unreadable model ({e}): the device starts afresh"
            ) from None
        s = LAYOUT.fresh()
        s[:] = type(s)("d", snap.slots)
        tracks = {t.kind.value: t for t in snap.tracks}
        d = self._devices[device_id] = self._Device(s, tracks, models)
        self._due.pop(device_id, None)
        if s[self._t_any] >= 0:
            # an offset from the readings is kept; a configured one follows the configuration
            self._local.refresh(device_id, d, s[self._t_any])

    def models(self, device_id: str) -> dict[str, Any]:
        """The per-device models of a device by module name (River objects the modules judge
        once per day or night: the ``illness`` kind's :class:`detectors.illness.IllnessDetector`);
        part of its snapshot."""
        return dict(self._devices[device_id].models)

    def stats(self, device_id: str) -> dict[str, int]:
        """Data-quality counters of a device (for the daemon's metrics)."""
        s = self._devices[device_id].s
        at = LAYOUT.offsets
        return {
            "readings": int(s[at["device.readings"]]),
            "duplicates": int(s[at["device.duplicates"]]),
            "out_of_order": int(s[at["device.out_of_order"]]),
            "late": int(s[at["device.late"]]),
            "impossible": int(s[at["impossible_value.count"]]),
        }

    # -- readings ----------------------------------------------------------------------------

    def process(self, readings: Sequence[Reading]) -> ProcessResult:
        """Score every reading (one :class:`Scored` each, same order) and run the lifecycle."""
        scored: list[Scored] = []
        alerts: list[AlertEvent] = []
        self._path.process(readings, scored, alerts)
        return ProcessResult(scored, alerts)

    def process_columns(
        self,
        device_ids: list[str],
        dev: Any,
        ts: Any,
        metric: Any,
        value: Any,
        interval_s: Any,
        score: Any,
        baseline: Any,
        flags: Any,
    ) -> tuple[dict[int, Scored], list[AlertEvent]]:
        """:meth:`process` of readings given as columns: the same decisions, without a
        :class:`Reading` in or a :class:`Scored` out per row (a bulk replay's entry point).

        Parameters
        ----------
        device_ids
            Device ids by device code.
        dev, ts, metric
            Per row: device code, event time (epoch ms), metric code (the position in
            ``list(Metric)``); C-contiguous buffers of int64 (numpy arrays, memoryviews).
        value, interval_s
            Per row: the value and the steps interval in seconds (NaN: none); contiguous float64.
        score, baseline, flags
            Outputs, one per row (float64, float64, int8): the score, the baseline and
            ``flagged + 2 * has_baseline``, for rows that are not in the returned dict.

        Returns
        -------
        tuple
            The :class:`Scored` of rows a rule module scored itself (impossible values, late
            readings), by row; and the alert events, as :meth:`process` gives them.
        """
        columns = [memoryview(c) for c in (dev, ts, metric, value, interval_s)]
        outputs = [memoryview(c) for c in (score, baseline, flags)]
        n = len(columns[1])
        if any(len(c) != n for c in columns + outputs):
            raise ValueError("every column must have one entry per reading")
        odd: dict[int, Scored] = {}
        alerts: list[AlertEvent] = []
        self._path.process_columns(device_ids, *columns, *outputs, odd, alerts)
        return odd, alerts

    # -- time-driven events ------------------------------------------------------------------

    def tick(self, now_ms: int, devices: Iterable[str] | None = None) -> list[AlertEvent]:
        """Deadman and staleness at event time ``now_ms``.

        Opens ``device_silent`` for roster devices and (if configured) every device seen before
        that has sent nothing for longer than its limit; resolves open alerts whose condition
        has not been observable for ``stale_ms``; closes nights whose sleep data stopped.

        ``devices`` limits the tick to those devices (a daemon ticks each Kafka partition's
        devices on that partition's own clock); by default every device seen and every roster
        device. Only devices that are due are visited, in sorted order, so the output is
        deterministic and a tick costs little when nothing is due. The devices whose state it
        changed are left in :attr:`tick_touched`, so a caller that persists state per device
        snapshots them again.
        """
        out: list[AlertEvent] = []
        touched = self.tick_touched = set()
        dm = self._c.deadman
        roster = dm.roster
        known = self._devices
        if devices is None:
            devices = known.keys() | roster.keys()
        due = self._due
        earlier = self._book.earlier
        every = self._tick_every_device
        visit = sorted(
            did
            for did in devices
            if (every or due.get(did, -1.0) <= now_ms or did in earlier)
            and (did in roster or (dm.watch_seen_devices and did in known))
        )
        for did in visit:
            self._tick_device(did, now_ms, out, touched)
            earlier.discard(did)
            due[did] = self._next_due(did, now_ms)
        return out

    def _tick_device(self, did: str, now_ms: int, out: list[AlertEvent], touched: set[str]) -> None:
        ac = self._c.alerts
        d = self._device(did)
        s = d.s
        tracks = d.tracks
        if self._silent.on_tick(did, d, now_ms, out):
            touched.add(did)
        if s[self._ss_start] >= 0 and now_ms - s[self._ss_last] > self._c.multiday.session_gap_ms:
            self._night.close(did, d, now_ms, out)
            touched.add(did)
        for kind in sorted(tracks):
            t = tracks[kind]
            if not t.is_open or t.kind in self._not_stale:
                continue
            limit = ac.multiday_stale_ms if t.kind in self._multiday else ac.stale_ms
            slot = self._kind_seen.get(t.kind)
            seen = s[slot] if slot is not None else s[self._t_any]
            if now_ms - t.last_active >= limit and now_ms - seen >= limit // 2:
                touched.add(did)
                self._book.resolve(
                    did,
                    tracks,
                    t.kind,
                    now_ms,
                    out,
                    end_ms=t.last_active,
                    detail="No longer observable: its data stopped.",
                )

    def _next_due(self, did: str, now_ms: int) -> float:
        """The earliest event time at which :meth:`_tick_device` could change ``did`` again,
        unless its readings move a deadline earlier (the alert book then lists it)."""
        d = self._devices[did]
        s = d.s
        tracks = d.tracks
        silent = tracks.get(AnomalyKind.DEVICE_SILENT)
        if silent is not None and silent.is_open:
            return now_ms + 1  # every tick: the open alert's heartbeat and severity
        due = self._silent.due(did, d)
        if s[self._ss_start] >= 0:
            due = min(due, s[self._ss_last] + self._c.multiday.session_gap_ms)
        ac = self._c.alerts
        for t in tracks.values():
            if not t.is_open or t.kind in self._not_stale:
                continue
            limit = ac.multiday_stale_ms if t.kind in self._multiday else ac.stale_ms
            slot = self._kind_seen.get(t.kind)
            seen = s[slot] if slot is not None else s[self._t_any]
            due = min(due, max(t.last_active + limit, seen + limit // 2))
        return due


def _plain(m: BaseModel) -> SimpleNamespace:
    """A plain-attribute copy of a (nested) pydantic model."""
    return SimpleNamespace(
        **{k: _plain(v) if isinstance(v, BaseModel) else v for k, v in m.__dict__.items()}
    )
