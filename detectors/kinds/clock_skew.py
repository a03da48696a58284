"""Device clock skew (data quality): readings at or before the newest of their metric.

A duplicate or one late reading is only counted (by the per-reading path,
:mod:`detectors.reading_path`, which calls this module only for a reading far enough behind
to begin a jump: ``quality.skew_ms``). A clock that jumped back sends a steady run
of readings of several metrics, each newer than the last: after ``quality.skew_min_readings``
of them the device is re-based on its new clock (every slot declared ``jump="time"`` or
``jump="reset"`` in a module's layout follows) and a ``clock_skew`` alert opens; it resolves
when the clock jumps forward again by the amount it lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.explain import duration_text
from detectors.kinds.base import HOUR, Module
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.reading_path import Device

_METRIC_BIT = {Metric.HEART_RATE: 1, Metric.SPO2: 2, Metric.STEPS: 4, Metric.SLEEP_STAGE: 8}
_ONE_BIT = frozenset({1, 2, 4, 8})


class ClockSkew(Module):
    name = "clock_skew"
    kind = K.CLOCK_SKEW
    section = "quality"
    self_resolving = True
    title = "Device clock skew"
    layout = Layout(
        "clock_skew",
        1,
        (
            Slot("behind_run"),  # readings in the current run behind the device's clock
            Slot("behind_prev", init=-1.0),
            Slot("behind_first", init=-1.0),
            Slot("behind_metrics"),  # bit set of the metrics in the current behind run
            Slot("offset"),  # > 0 while the device clock is believed to run behind
        ),
    )

    def setup(self) -> None:
        self.RUN = self.slot("behind_run")
        self.PREV = self.slot("behind_prev")
        self.FIRST = self.slot("behind_first")
        self.METRICS = self.slot("behind_metrics")
        self.OFFSET = self.slot("offset")
        self.T_ANY = self.slot("newest", "device")
        self.H_CUR = self.slot("current", "hour")
        lay = self.env.layout
        self.time_slots = lay.time_slots
        self.reset_slots = lay.reset_slots

    def on_behind(self, r: Reading, d: Device, out: list[AlertEvent]) -> bool:
        """An out-of-order reading at least ``quality.skew_ms`` behind the device's newest (the
        per-reading path counted it: duplicates, out of order, late). Return True if it starts
        a new clock (a backward clock jump confirmed by consecutive readings)."""
        s = d.s
        ts = r.ts_ms
        q = self.c.quality
        # a clock that jumped back sends a steady run of readings of all its metrics, each
        # newer than the last (a backlog of one metric uploaded late is not a clock jump)
        bit = _METRIC_BIT[r.metric]
        run = self.RUN
        if s[run] > 0 and ts >= s[self.PREV]:
            s[run] += 1.0
            s[self.METRICS] = float(int(s[self.METRICS]) | bit)
        else:
            s[run] = 1.0
            s[self.FIRST] = ts
            s[self.METRICS] = float(bit)
        s[self.PREV] = ts
        if s[run] < q.skew_min_readings or int(s[self.METRICS]) in _ONE_BIT:
            return False
        # re-base the device on its new clock; remember by how much it jumped
        offset = s[self.T_ANY] - s[self.FIRST]
        start = int(s[self.T_ANY])
        s[self.OFFSET] = offset
        first = s[self.FIRST]
        # times ahead of the new clock move back to just before it; older ones stay, so stale
        # context (last night's sleep stage) stays stale
        for o in self.time_slots:
            if s[o] >= first:
                s[o] = first - 1.0
        # runs, windows and episodes restart on the new clock
        for o, init in self.reset_slots:
            s[o] = init
        s[self.H_CUR] = first // HOUR
        s[run] = 0.0
        self.book.earlier.add(r.device_id)  # its times moved back, and so may its deadlines
        self.book.active(
            r.device_id,
            d.tracks,
            K.CLOCK_SKEW,
            start,
            start,
            "info",
            None,
            True,
            out,
            detail=f"The device clock jumped back by about {duration_text(int(offset))}; its "
            "readings are time-stamped in the past (data quality).",
        )
        return True
