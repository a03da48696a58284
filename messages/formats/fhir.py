"""FHIR R4 ``Observation`` resources (alone or in a ``Bundle``) -> readings.

Codes (LOINC): heart rate ``8867-4``, oxygen saturation ``59408-5`` (pulse oximetry) or
``2708-6`` (arterial), step count ``55423-8`` (needs ``effectivePeriod``). Values come from
``valueQuantity`` in UCUM (``/min``, ``%``, ``1`` for a fraction, ``{steps}``), converted by
:mod:`messages.formats.units`. The device is ``Observation.device`` (the reference's id, or its
identifier's value), else ``subject``.

Rules of the R4 vital-signs profile applied to heart rate and SpO2 (the profile does not cover
steps): ``status`` is given and not ``registered``/``cancelled``/``entered-in-error``
(``fhir_status``); ``category`` holds ``vital-signs`` and ``subject`` is present
(``fhir_profile``); ``effective[x]`` is present; ``valueQuantity`` has a value and a UCUM unit
(``system`` http://unitsofmeasure.org when given); an observation with ``dataAbsentReason`` and
no value has no reading (``data_absent``). Our timestamps need a time with a UTC offset, so a
date-only ``effectiveDateTime`` (allowed by FHIR) is rejected (``bad_timestamp``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import msgspec

from messages.codec import InvalidReading
from messages.formats.parts import Part, PartError, local_offset, msgspec_detail, when
from messages.formats.units import convert, split_steps
from messages.metrics import Metric

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITAL_SIGNS = "vital-signs"
#: LOINC code -> metric
CODES: dict[str, Metric] = {
    "8867-4": Metric.HEART_RATE,
    "59408-5": Metric.SPO2,
    "2708-6": Metric.SPO2,
    "55423-8": Metric.STEPS,
}
#: statuses that mean "this value was measured" (the rest: never made, or withdrawn)
USABLE_STATUS = frozenset({"final", "amended", "corrected", "preliminary"})


class _Coding(msgspec.Struct):
    system: str | None = None
    code: str | None = None


class _Concept(msgspec.Struct):
    coding: list[_Coding] = []
    text: str | None = None


class _Identifier(msgspec.Struct):
    value: str | None = None


class _Reference(msgspec.Struct):
    reference: str | None = None
    identifier: _Identifier | None = None


class _Quantity(msgspec.Struct):
    value: float | None = None
    unit: str | None = None
    system: str | None = None
    code: str | None = None


class _Period(msgspec.Struct):
    start: str | None = None
    end: str | None = None


class Observation(msgspec.Struct, rename="camel", tag_field="resourceType", tag="Observation"):
    """The fields of an R4 Observation vitalstream reads (others are ignored)."""

    status: str
    code: _Concept
    category: list[_Concept] = []
    subject: _Reference | None = None
    device: _Reference | None = None
    effective_date_time: str | None = None
    effective_instant: str | None = None
    effective_period: _Period | None = None
    value_quantity: _Quantity | None = None
    data_absent_reason: _Concept | None = None


class _Entry(msgspec.Struct):
    resource: msgspec.Raw = msgspec.Raw()


class Bundle(msgspec.Struct, tag_field="resourceType", tag="Bundle"):
    entry: list[_Entry] = []


class _Kind(msgspec.Struct):
    resourceType: str | None = None  # noqa: N815 - the FHIR name


_resource = msgspec.json.Decoder(Observation | Bundle)
_observation = msgspec.json.Decoder(Observation)
_kind = msgspec.json.Decoder(_Kind)


def reference_id(ref: _Reference | None) -> str | None:
    """The id a reference points at: ``Device/w-1`` -> ``w-1`` (absolute URLs, versions and
    contained ``#ids`` too), else the identifier's value.

    >>> reference_id(_Reference("https://h.example/fhir/Device/w-1/_history/3"))
    'w-1'
    """
    if ref is None:
        return None
    if ref.reference:
        path = ref.reference.split("/_history/", 1)[0]
        return path.rsplit("/", 1)[-1].lstrip("#") or None
    if ref.identifier is not None and ref.identifier.value:
        return ref.identifier.value
    return None


def decode(raw: bytes) -> Iterator[Part | PartError]:
    """The readings of one FHIR Observation or Bundle (or what is wrong with its parts).

    Raises :class:`InvalidReading` when the record as a whole is unusable.
    """
    try:
        resource = _resource.decode(raw)
    except msgspec.DecodeError as exc:
        if not isinstance(exc, msgspec.ValidationError):
            raise InvalidReading("malformed_json", "message is not valid JSON") from None
        kind = None
        with contextlib.suppress(msgspec.DecodeError):
            kind = _kind.decode(raw).resourceType
        if kind is None:
            raise InvalidReading("schema", "resourceType is missing") from None
        if kind not in ("Observation", "Bundle"):
            raise InvalidReading(
                "unknown_code", f"FHIR resourceType {str(kind)[:32]!r} is not one vitalstream reads"
            ) from None
        path, words = msgspec_detail(exc, "$")
        raise InvalidReading("schema", f"{words} at {path}") from None
    if isinstance(resource, Observation):
        yield from observation(resource, "$", raw)
        return
    for i, entry in enumerate(resource.entry):
        path = f"$.entry[{i}].resource"
        if not entry.resource:
            yield PartError(f"$.entry[{i}]", "schema", "entry has no resource")
            continue
        part = bytes(entry.resource)
        try:
            obs = _observation.decode(entry.resource)
        except msgspec.DecodeError as exc:
            kind = None
            with contextlib.suppress(msgspec.DecodeError):
                kind = _kind.decode(entry.resource).resourceType
            if kind != "Observation":
                yield PartError(
                    path, "not_an_observation", f"resourceType {str(kind)[:32]!r}", part
                )
            else:
                where, words = (
                    msgspec_detail(exc, path)
                    if isinstance(exc, msgspec.ValidationError)
                    else (path, "not valid JSON")
                )
                yield PartError(where, "schema", words, part)
            continue
        yield from observation(obs, path, part)


def _metric(obs: Observation) -> Metric:
    loinc = [c.code for c in obs.code.coding if c.system == LOINC and c.code]
    for code in loinc:
        metric = CODES.get(code)
        if metric is not None:
            return metric
    shown = ", ".join(c[:16] for c in loinc[:3]) or "none"
    raise InvalidReading("unknown_code", f"LOINC code(s) {shown} not read by vitalstream")


def observation(obs: Observation, path: str, raw: bytes) -> Iterator[Part | PartError]:
    """The readings of one Observation (steps over a period may give several)."""
    try:
        metric = _metric(obs)
        if obs.status not in USABLE_STATUS:
            raise InvalidReading("fhir_status", f"status {obs.status[:24]!r} carries no value")
        if metric is not Metric.STEPS:
            if not any(c.code == VITAL_SIGNS for cat in obs.category for c in cat.coding):
                raise InvalidReading("fhir_profile", "vital-signs category is missing")
            if obs.subject is None:
                raise InvalidReading("fhir_profile", "subject is missing")
        device = reference_id(obs.device) or reference_id(obs.subject)
        if device is None:
            raise InvalidReading("no_device", "neither device nor subject names a device")
        q = obs.value_quantity
        if q is None or q.value is None:
            if obs.data_absent_reason is not None:
                raise InvalidReading("data_absent", "dataAbsentReason instead of a value")
            raise InvalidReading("schema", "valueQuantity.value is missing")
        if q.system is not None and q.system != UCUM:
            raise InvalidReading("wrong_unit", "valueQuantity.system must be UCUM")
        value = convert(metric, q.value, q.code if q.code is not None else q.unit)
        if metric is Metric.STEPS:
            period = obs.effective_period
            if period is None or period.start is None or period.end is None:
                raise InvalidReading("bad_interval", "steps need effectivePeriod start and end")
            offset = local_offset(period.start)
            for ts, steps, secs in split_steps(when(period.start), when(period.end), value):
                yield Part(path, device, ts, metric, steps, secs, raw, offset)
            return
        text = _effective(obs)
        yield Part(path, device, when(text), metric, value, None, raw, local_offset(text))
    except InvalidReading as exc:
        yield PartError(path, exc.code, exc.detail, raw)


def _effective(obs: Observation) -> str:
    """The RFC 3339 time of an observation (a period: its start, else its end)."""
    text = obs.effective_date_time or obs.effective_instant
    if text is None and obs.effective_period is not None:
        text = obs.effective_period.start or obs.effective_period.end
    if text is None:
        raise InvalidReading("fhir_profile", "effective[x] is missing")
    return text
