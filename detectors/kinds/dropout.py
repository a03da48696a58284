"""Data dropout (data quality): no data at all for a while (``quality.dropout_min_gap_ms``
and ``dropout_factor`` times the device's usual interval), found when the next reading
arrives; or no heart rate while the device is worn (decided by
:mod:`~detectors.kinds.off_wrist`). Resolved by the next heart-rate reading.

A gap of all data is judged against what the device normally sends
(:mod:`~detectors.kinds.presence`): only its part in the device's usual hours counts, and it
must be longer than the holes the device routinely has. Until the device has
``quality.presence_learn_days`` of history its habits are unknown: only a gap longer than any
hole it could learn to have (6 h of usual hours) is reported (its gaps are still learned).

The reading that ends a gap says what it was. A wearer going to bed leaves one on a tracker
whose steps export skips still minutes: the steps stop, and up to an hour later the sleep log
starts. A gap whose last reading was steps, ended by the first epoch of a sleep log (no sleep
logged when the data stopped), no longer than ``quality.bedtime_gap_max_ms``, on a device that
sends no heart rate (a heart-rate stream does not pause while the tracker is worn, so there a
gap is lost data), is that bedtime hand-over: not reported. It is still learned as one of the
device's holes: its export does pause that long in those hours, and a habitual evening pause
also covers the hand-overs that end in a few steps before the sleep log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.explain import duration_text
from detectors.kinds.base import Module
from detectors.layout import Layout
from detectors.types import AlertEvent, Severity
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.kinds.device_silent import DeviceSilent
    from detectors.kinds.presence import Presence
    from detectors.reading_path import Device


class Dropout(Module):
    name = "dropout"
    kind = K.DROPOUT
    section = "quality"
    self_resolving = True
    title = "Data dropout"
    layout = Layout("dropout", 1, ())

    def setup(self) -> None:
        self.silent: DeviceSilent = self.env.modules["device_silent"]  # type: ignore[assignment]
        self.presence: Presence = self.env.modules["presence"]  # type: ignore[assignment]
        self.INTERVAL = self.slot("interval", "device")
        self.T_STEPS = self.slot("newest_steps", "device")
        self.T_STAGE = self.slot("newest_sleep_stage", "device")
        self.T_HR = self.slot("newest_heart_rate", "device")
        self.bedtime_max_ms = float(self.c.quality.bedtime_gap_max_ms)

    def may_be_bedtime(self, d: Device, last: float) -> bool:
        """Whether a gap that starts after the reading at ``last`` may turn out to be a wearer
        going to bed: that reading was steps, no sleep was being logged, and the device sends
        no heart rate (a heart-rate stream does not pause while the tracker is worn)."""
        s = d.s
        return s[self.T_STEPS] == last and s[self.T_STAGE] < last and s[self.T_HR] < 0.0

    def is_bedtime(self, d: Device, prev: int, gap: float, ended_by: Metric) -> bool:
        """Whether the gap from ``prev`` (``gap`` long), ended by a reading of ``ended_by``, is
        a wearer going to bed (:meth:`may_be_bedtime`, and the first epoch of a sleep log
        ended it within ``quality.bedtime_gap_max_ms``). Called before the ending reading is
        stored, so the device's newest slots still describe the gap's start."""
        return (
            ended_by is Metric.SLEEP_STAGE
            and gap <= self.bedtime_max_ms
            and self.may_be_bedtime(d, prev)
        )

    def on_gap(
        self,
        did: str,
        d: Device,
        prev: int,
        ts: int,
        gap: float,
        ended_by: Metric,
        out: list[AlertEvent],
    ) -> None:
        """No data at all from ``prev`` to ``ts`` (ended by a reading of ``ended_by``): a
        dropout, a silence found after the fact, or nothing to report: the device's habit (a
        gap outside its usual hours, or as long as its usual holes) or the wearer going to bed
        (:meth:`is_bedtime`)."""
        presence = self.presence
        interval = d.s[self.INTERVAL]
        roster = self.silent.on_roster(did)
        limit = self.silent.limit(did)
        usual = presence.usual_ms(d, prev, ts)
        news = presence.news_ms(d, prev)
        presence.record_hole(d, usual)
        if roster and gap >= limit:
            kind = K.DEVICE_SILENT  # the roster's limit is the operator's word: raw time
            sev: Severity = "warning"
        elif self.is_bedtime(d, prev, gap, ended_by):
            return  # a hand-over from the steps export to the sleep log
        elif usual < max(news, self.c.quality.dropout_min_gap_ms):
            # outside its usual hours, no longer than its ordinary holes, or (habits not
            # learned yet) no longer than a hole it may turn out to have
            return
        elif not roster and usual >= limit:
            kind, sev = K.DEVICE_SILENT, "warning"  # found after the fact (no tick() between)
        else:
            kind, sev = K.DROPOUT, "info"
        self.book.interval(
            did,
            d.tracks,
            kind,
            prev,
            ts,
            ts,
            sev,
            out,
            detail=f"No data at all, {duration_text(int(usual))} of it in hours the device "
            f"usually sends (usually a reading every ~{max(1, round(interval / 1000))} s): "
            "data quality.",
        )
