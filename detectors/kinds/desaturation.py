"""Oxygen desaturation: clusters of short drops of ``desaturation.drop`` points below the
personal SpO2 baseline, or one long drop (above the low-SpO2 threshold, which is
:mod:`~detectors.kinds.low_spo2`'s)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors import desaturation
from detectors.alerts import Track
from detectors.kinds.base import ASLEEP, CONTEXT_TEXT, Module, Wording, pct, plural, r1
from detectors.layout import Layout, Slot
from detectors.types import AlertEvent, Severity
from messages.codec import Reading
from messages.kinds import AnomalyKind as K
from messages.metrics import Metric

if TYPE_CHECKING:
    from detectors.kinds.spo2 import Spo2
    from detectors.reading_path import Device


class Desaturation(Module):
    name = "desaturation"
    kind = K.DESATURATION
    section = "desaturation"
    metric = Metric.SPO2
    layout = Layout(
        "desaturation",
        1,
        (
            # the current episode (desaturation.py): start, lowest, counted, last
            Slot("run", desaturation.SLOTS, init=(-1.0, 0.0, 0.0, -1.0), jump="reset"),
            Slot("cluster"),  # episodes in the current cluster
            Slot("last_episode", init=-1.0),
            Slot("first_episode", init=-1.0),
        ),
    )

    def setup(self) -> None:
        self.DS = self.slot("run")
        self.CLUSTER = self.slot("cluster")
        self.LAST_EP = self.slot("last_episode")
        self.FIRST_EP = self.slot("first_episode")
        self.SS_START = self.slot("start", "sleep_session")
        self.SS_DESATS = self.slot("desaturations", "sleep_session")
        self.LAST_ODI = self.slot("last_odi", "sleep_session")
        self.enabled = self.c.desaturation.enabled

    def on_spo2(self, r: Reading, d: Device, out: list[AlertEvent], ctx: int, base: float) -> bool:
        """One in-order SpO2 reading; True while in an episode (the reading is flagged)."""
        s = d.s
        ts = r.ts_ms
        v = r.value
        did = r.device_id
        tracks = d.tracks
        c = self.c
        dc = c.desaturation
        ds = self.DS
        # the episode's start, read before the update: an episode that counts only as it ends
        # (a one-reading dip of a 1/min device) has its start cleared by then
        episode_start = s[ds + desaturation.START]
        counted = desaturation.update(s, ds, ts, v, base, dc.drop, dc.min_episode_ms)
        if counted:
            if s[self.LAST_EP] < 0 or ts - s[self.LAST_EP] > dc.quiet_ms:
                s[self.CLUSTER] = 0.0
                s[self.FIRST_EP] = episode_start
            s[self.CLUSTER] += 1.0
            s[self.LAST_EP] = ts
            if ctx == ASLEEP and s[self.SS_START] >= 0:
                s[self.SS_DESATS] += 1.0
        ongoing = desaturation.in_episode(s, ds)
        # one long drop counts only above the low-SpO2 threshold (below it is low_spo2's)
        long_ep = (
            ongoing
            and ts - s[ds + desaturation.START] >= dc.long_episode_ms
            and s[ds + desaturation.MIN] >= c.low_spo2.threshold
        )
        low_open = K.LOW_SPO2 in tracks and tracks[K.LOW_SPO2].is_open
        if (long_ep or (counted and s[self.CLUSTER] >= dc.min_episodes)) and not low_open:
            start = int(s[ds + desaturation.START]) if long_ep else int(s[self.FIRST_EP])
            n = int(s[self.CLUSTER]) + (1 if long_ep and not counted else 0)
            # the lowest saturation of the episode: one that counts as it ends does so on the
            # recovering reading, whose value is no measure of the dip
            lowest = s[ds + desaturation.MIN]
            odi = s[self.LAST_ODI]
            sev: Severity = "warning" if (odi >= dc.odi_warning or lowest <= 88) else "info"
            self.book.active(
                did,
                tracks,
                K.DESATURATION,
                ts,
                start,
                sev,
                lowest,
                False,
                out,
                baseline=r1(base),
                context=CONTEXT_TEXT[ctx],
                detail=f"{plural(n, 'dip')} in this cluster"
                + (f"; last night's desaturation index {odi:.1f}/h." if odi >= 0 else "."),
            )
        elif K.DESATURATION in tracks and not ongoing:
            self.book.inactive(did, tracks, K.DESATURATION, ts, out, dc.quiet_ms)
        return ongoing

    def describe(self, t: Track, w: Wording) -> str:
        spo2: Spo2 = self.env.modules["spo2"]  # type: ignore[assignment]
        return (
            f"SpO2 dipped {round(self.env.cfg.desaturation.drop)}+ points below the personal "
            f"baseline of {spo2.baseline_text(w.s, t.baseline)} (lowest {pct(t.peak)}) over "
            f"{w.dur}{w.where}."
        )
