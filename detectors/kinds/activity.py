"""The activity context (no alert of its own): cadence, quiet windows, exercise bouts, stage.

The per-reading update runs in :mod:`detectors.reading_path` (``steps``, ``context``); this
module owns the slots.
"""

from __future__ import annotations

from detectors.kinds.base import Module
from detectors.layout import Layout, Slot
from messages.metrics import SleepStage


class Activity(Module):
    name = "activity"
    section = "activity"
    layout = Layout(
        "activity",
        1,
        (
            Slot("first_steps", init=-1.0),
            Slot("steps_ring", 10),  # cadence of the last 10 minutes, by minute modulo 10
            Slot("ring_minute", 10, jump="reset"),  # the minute number each ring slot holds
            Slot("rest", jump="reset"),  # set by the newest steps reading: 10 quiet minutes
            Slot("still", jump="reset"),  # ... or at least the last few quiet minutes
            Slot("cadence"),
            Slot("stage", init=float(SleepStage.AWAKE)),  # newest sleep stage
            Slot("quiet_since", init=-1.0, jump="reset"),  # start of the quiet streak
            Slot("bout_start", init=-1.0, jump="reset"),  # exercise bout
            Slot("bout_last", init=-1.0, jump="time"),
            Slot("bout_hr_sum"),
            Slot("bout_hr_n"),
            Slot("bout_cadence_sum"),
            Slot("bout_cadence_n"),
        ),
    )
