"""The records of one wearer's closed local night and day: what the illness model reads.

The engine's ``illness`` module (:mod:`detectors.kinds.illness`) accumulates them: per
heart-rate reading in the compiled path (time worn, time at rest and its HR sums for the hour),
per hour into the local day and night, and emits a :class:`NightRecord` when the night closes
(local noon) and a :class:`DayRecord` when the day closes (local midnight). Definitions:

- **at rest**: heart rate while the engine's quiet-steps flag is set (mean cadence about 0 over
  the last 10 minutes, ``activity.rest_min_ms``) and the steps stream is alive. A device that
  sends no steps never has a resting heart rate: rest cannot be told from a walk.
- **resting HR**: the time-weighted mean of at-rest heart rate; each reading weighs the time
  since the previous one, capped at one minute, so a 1 s watch and a 60 s ring count alike.
- **the night** ending on local day ``D``: resting HR between local 00:00 and 07:00 of ``D``
  (Alavi et al. 2022 read resting HR between midnight and 7 am); staged sleep of the sessions
  that end between noon of ``D-1`` and noon of ``D``.
- **the day** ``D``: local midnight to midnight: steps, hours worn, resting HR.

A feature is ``None`` when too little data backs it; the record still carries the amount.
"""

from __future__ import annotations

import msgspec


class NightRecord(msgspec.Struct, frozen=True, gc=False):
    """One closed night: the night before local day ``day`` (epoch days).

    ``rest_hr`` and ``rest_hr_sd`` need ``min_night_rest_min`` minutes at rest between midnight
    and the end of the night window; ``sleep_min`` and ``sleep_efficiency`` need staged sleep.
    """

    day: int
    rest_hr: float | None
    rest_hr_sd: float | None
    rest_min: float
    worn_min: float
    sleep_min: float | None
    sleep_efficiency: float | None
    steps: float


class DayRecord(msgspec.Struct, frozen=True, gc=False):
    """One closed local calendar day ``day`` (epoch days; ``weekday`` 0 = Monday).

    ``steps``, ``rest_hr`` and ``rest_hr_sd`` are ``None`` when fewer than ``min_day_worn_h``
    hours were worn (steps also count as worn time when the device sends no heart rate).
    """

    day: int
    weekday: int
    worn_h: float
    steps: float | None
    rest_hr: float | None
    rest_hr_sd: float | None
    rest_min: float


Record = NightRecord | DayRecord
