"""The wearer's local time (no alert of its own): every time-of-day decision goes through here.

One slot holds the device's current UTC offset (local = UTC + offset), so hour-of-day
profiles, the circadian rest offsets and anything judged per local night or day read the
wearer's clock, not UTC: a wearer in UTC-7 sleeps from about 07:00 to 14:00 UTC.

Where the offset comes from, in order of precedence:

1. the offset a reading's RFC 3339 ``ts`` carries (``2026-07-01T23:10:00-07:00``), taken from
   every in-order reading that has one (the reading path writes it into the slot, and marks
   it, so configuration no longer applies to that device). ``Z`` and ``-00:00`` ("local offset
   unknown", RFC 3339 section 4.3) carry no offset: many devices write UTC whatever the
   wearer's clock says;
2. the device's entry in :attr:`detectors.config.LocalTimeConfig.devices`;
3. the fleet default :attr:`detectors.config.LocalTimeConfig.timezone`.

A configured IANA zone follows daylight saving time: its offset is looked up again at the
device's first reading and whenever an hour closes (once per device-hour, never per reading).

When the offset changes (travel, daylight saving time) nothing is reset: the profiles are kept
in local hours, so from the change on the same local hour reads the same profile entry at a
different UTC hour (the profile shifts with the wearer). Hours are numbered in UTC whole hours
(``ts // 1 h``); an hour's hour of day is the local hour its start falls in, so with a
half-hour offset (+05:30) the UTC hour 10:00-11:00 is local hour 15.

The offset is part of the device state: snapshots carry it, and a restored device keeps an
offset learned from its readings (a configured one is looked up again from the configuration).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from detectors.config import time_zone
from detectors.kinds.base import DAY, HOUR, MIN, Module
from detectors.layout import Layout, Slot

if TYPE_CHECKING:
    from array import array

    from detectors.reading_path import Device

_EARLIEST_MS, _LATEST_MS = 0.0, 253_402_128_000_000.0  # 1970-01-01, 9999-12-30 (UTC)


class LocalTime(Module):
    name = "local_time"
    layout = Layout(
        "local_time",
        1,
        (
            Slot("utc_offset_ms"),  # local = UTC + this
            Slot("from_reading"),  # 1: the offset came from a reading's timestamp
        ),
    )

    def setup(self) -> None:
        self.OFFSET = self.slot("utc_offset_ms")
        self.FROM_READING = self.slot("from_reading")
        lt = self.env.cfg.local_time
        self.default_zone = time_zone(lt.timezone)
        self.zones = {did: time_zone(z) for did, z in lt.devices.items()}

    # -- the offset --------------------------------------------------------------------------

    def zone(self, did: str) -> tzinfo:
        """The configured zone of device ``did`` (its own entry, else the fleet default)."""
        return self.zones.get(did, self.default_zone)

    def configured_offset_ms(self, did: str, ts: float) -> float:
        """The UTC offset (ms) the configuration gives device ``did`` at event time ``ts``."""
        return utc_offset_ms(self.zone(did), ts)

    def refresh(self, did: str, d: Device, ts: float) -> None:
        """Look up the configured offset at ``ts``, unless a reading gave the device one."""
        s = d.s
        if s[self.FROM_READING] == 0.0:
            s[self.OFFSET] = self.configured_offset_ms(did, ts)

    def offset_ms(self, d: Device) -> float:
        """The device's current UTC offset in ms (local time = event time + this): what every
        other module reads, rather than the slot."""
        return d.s[self.OFFSET]

    def offset_min(self, d: Device) -> int:
        """The device's current UTC offset in minutes (e.g. for :mod:`detectors.daily_features`)."""
        return int(self.offset_ms(d)) // MIN

    # -- local time of day -------------------------------------------------------------------

    def local_ms(self, s: array[float], ts: float) -> int:
        """Event time ``ts`` on the wearer's clock (epoch ms as if local time were UTC)."""
        return int(ts + s[self.OFFSET])

    def hour_of_day(self, s: array[float], ts: float) -> int:
        """The local hour of day (0-23) at event time ``ts``."""
        return (self.local_ms(s, ts) % DAY) // HOUR

    def clock_text(self, did: str, d: Device, ts: float, now: float) -> str:
        """Event time ``ts`` as the wearer's clock shows it, for an explanation: ``"01:12
        local time"``, with the date (``"12 Apr 23:10 local time"``) when ``now`` falls on
        another local day; ``UTC`` instead of ``local time`` while the device has no local
        time of its own (no offset from its readings, no zone configured but UTC).
        """
        s = d.s
        local = self.local_ms(s, ts)
        at = datetime.fromtimestamp(min(max(local, _EARLIEST_MS), _LATEST_MS) / 1000.0, UTC)
        same_day = local // DAY == self.local_ms(s, now) // DAY
        clock = f"{at:%H:%M}" if same_day else f"{at.day} {at:%b %H:%M}"
        own = s[self.FROM_READING] != 0.0 or s[self.OFFSET] != 0.0 or self.zone(did) is not UTC
        return f"{clock} {'local time' if own else 'UTC'}"


def utc_offset_ms(zone: tzinfo, ts: float) -> float:
    """The UTC offset (ms) of ``zone`` at event time ``ts`` (local time = ``ts`` + this).

    >>> utc_offset_ms(time_zone("Europe/Oslo"), 1_767_225_600_000) / 3_600_000  # 2026-01-01
    1.0
    >>> utc_offset_ms(time_zone("Europe/Oslo"), 1_782_864_000_000) / 3_600_000  # 2026-07-01
    2.0
    """
    off = zone.utcoffset(None)  # a fixed offset (or UTC) answers without a time
    if off is None:
        # a zone with rules: its offset at that instant (times beyond what datetime can
        # hold, which only a broken clock sends, take the offset of the nearest it can)
        t = min(max(ts, _EARLIEST_MS), _LATEST_MS)
        off = datetime.fromtimestamp(t / 1000.0, zone).utcoffset()
    return 0.0 if off is None else off.total_seconds() * 1000.0
