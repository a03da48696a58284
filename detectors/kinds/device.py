"""Device bookkeeping (no alert of its own): event times, the expected interval, counters."""

from __future__ import annotations

from detectors.kinds.base import Module
from detectors.layout import Layout, Slot


class DeviceClock(Module):
    name = "device"
    layout = Layout(
        "device",
        1,
        (
            Slot("first", init=-1.0),  # event time of the first reading (-1 = never)
            Slot("newest", init=-1.0, jump="time"),  # newest in-order event time, any metric
            Slot("newest_heart_rate", init=-1.0, jump="time"),
            Slot("newest_spo2", init=-1.0, jump="time"),
            Slot("newest_steps", init=-1.0, jump="time"),
            Slot("newest_sleep_stage", init=-1.0, jump="time"),
            Slot("interval", init=10_000.0),  # EW of the interval between in-order readings
            Slot("readings"),
            Slot("duplicates"),
            Slot("out_of_order"),
            Slot("late"),
        ),
    )
