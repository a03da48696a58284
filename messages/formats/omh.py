"""Open mHealth (IEEE 1752.1) data points -> readings.

A data point is ``{"header": {..., "schema_id": {"namespace", "name", "version"}}, "body": {...}}``.
Supported schemas (namespace ``omh`` or ``ieee``, any version whose body has these shapes):

- ``heart-rate``: ``heart_rate {value, unit: beats/min}`` at ``effective_time_frame``;
- ``oxygen-saturation``: ``oxygen_saturation {value, unit: %}``;
- ``step-count``: ``step_count`` (1.0: a number; 2.0+: ``{value, unit: steps}``) over
  ``effective_time_frame.time_interval``, split into readings of at most a minute;
- ``sleep-episode`` / ``sleep-stage``: stage segments ``{sleep_stage_state,
  sleep_stage_time_frame | effective_time_frame}`` (one in the body, or a list under
  ``sleep_stages``, ``sleep_stage_episodes`` or ``sleep``), expanded to 30 s epochs. A sleep
  episode without stages carries no reading vitalstream stores: it is rejected
  (``no_sleep_stages``), not dropped silently.

A multi-value body (the measurement key holding a list of ``{<key>, effective_time_frame}``
items, as IEEE 1752.1 data sets ship them) yields one reading per item. A data point does not
name its device: the device is the record's key (``default_device``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import msgspec

from messages.codec import InvalidReading
from messages.formats.parts import Part, PartError, local_offset, msgspec_detail, when
from messages.formats.units import MAX_INTERVAL_MS, convert, sleep_epochs, split_steps
from messages.metrics import Metric


class _SchemaId(msgspec.Struct):
    name: str
    namespace: str = "omh"
    version: str | None = None


class _Header(msgspec.Struct):
    schema_id: _SchemaId


class DataPoint(msgspec.Struct):
    """The envelope: ``body`` stays raw until the header says which schema it follows."""

    header: _Header
    body: msgspec.Raw


class _UnitValue(msgspec.Struct):
    value: float
    unit: str


class _Interval(msgspec.Struct):
    start_date_time: str | None = None
    end_date_time: str | None = None
    duration: _UnitValue | None = None


class _TimeFrame(msgspec.Struct):
    date_time: str | None = None
    time_interval: _Interval | None = None


def _measurement(key: str) -> type[msgspec.Struct]:
    """The body of a one-value schema: ``{<key>: {value, unit}, effective_time_frame}``, or
    ``{<key>: [{<key>: {value, unit}, effective_time_frame}, ...]}`` (a multi-value body)."""
    item = msgspec.defstruct(
        f"{key}_item", [(key, _UnitValue), ("effective_time_frame", _TimeFrame)]
    )
    return msgspec.defstruct(
        key,
        [(key, _UnitValue | list[item]), ("effective_time_frame", _TimeFrame | None, None)],  # type: ignore[valid-type]
    )


#: schema name -> (metric, body key) of the one-value schemas
_MEASURED = {
    "heart-rate": (Metric.HEART_RATE, "heart_rate"),
    "oxygen-saturation": (Metric.SPO2, "oxygen_saturation"),
}


class _StepsItem(msgspec.Struct):
    step_count: float | _UnitValue
    effective_time_frame: _TimeFrame


class _Steps(msgspec.Struct):
    step_count: float | _UnitValue | list[_StepsItem]
    effective_time_frame: _TimeFrame | None = None


class _Stage(msgspec.Struct):
    sleep_stage_state: str
    sleep_stage_time_frame: _TimeFrame | None = None
    effective_time_frame: _TimeFrame | None = None


class _Sleep(msgspec.Struct):
    sleep_stage_state: str | None = None
    sleep_stage_time_frame: _TimeFrame | None = None
    effective_time_frame: _TimeFrame | None = None
    sleep_stages: list[_Stage] | None = None
    sleep_stage_episodes: list[_Stage] | None = None
    sleep: list[_Stage] | None = None


#: OMH / IEEE 1752.1 sleep_stage_state values -> our stages
SLEEP_STATES = {"awake": "awake", "wake": "awake", "light": "light", "deep": "deep", "rem": "rem"}

_DURATION_MS = {"ms": 1, "sec": 1000, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_envelope = msgspec.json.Decoder(DataPoint)
_bodies: dict[str, msgspec.json.Decoder[object]] = {
    **{name: msgspec.json.Decoder(_measurement(key)) for name, (_, key) in _MEASURED.items()},
    "step-count": msgspec.json.Decoder(_Steps),
    "sleep-episode": msgspec.json.Decoder(_Sleep),
    "sleep-stage": msgspec.json.Decoder(_Sleep),
}
_encode = msgspec.json.Encoder().encode


def _instant(tf: _TimeFrame | None) -> int:
    """A point in time: the date-time, or the end of an interval."""
    if tf is None:
        raise InvalidReading("schema", "effective_time_frame is missing")
    if tf.date_time is not None:
        return when(tf.date_time)
    return _interval(tf)[1]


def _offset(tf: _TimeFrame | None) -> int | None:
    """The UTC offset its first RFC 3339 time carries (the wearer's local clock)."""
    if tf is None:
        return None
    ti = tf.time_interval
    if tf.date_time is None and ti is not None:
        return local_offset(ti.start_date_time or ti.end_date_time)
    return local_offset(tf.date_time)


def _interval(tf: _TimeFrame | None) -> tuple[int, int]:
    """[start, end) of a time_interval given by two ends, or one end and a duration."""
    ti = tf.time_interval if tf is not None else None
    if ti is None:
        raise InvalidReading("schema", "effective_time_frame.time_interval is required")
    start = when(ti.start_date_time) if ti.start_date_time is not None else None
    end = when(ti.end_date_time) if ti.end_date_time is not None else None
    if ti.duration is not None and (start is None) != (end is None):
        factor = _DURATION_MS.get(ti.duration.unit)
        if factor is None:
            raise InvalidReading("wrong_unit", f"duration unit {ti.duration.unit[:16]!r}")
        span = ti.duration.value * factor
        if not math.isfinite(span) or not 0 < span <= MAX_INTERVAL_MS:
            raise InvalidReading("bad_interval", "duration must be within (0, 24 h]")
        length = round(span)
        if start is None and end is not None:
            start = end - length
        elif start is not None:
            end = start + length
    if start is None or end is None:
        raise InvalidReading("schema", "time_interval needs two of start, end and duration")
    return start, end


def decode(raw: bytes, default_device: str | None) -> Iterator[Part | PartError]:
    """The readings of one Open mHealth data point (or what is wrong with its parts).

    Raises :class:`InvalidReading` when the record as a whole is unusable.
    """
    try:
        point = _envelope.decode(raw)
    except msgspec.ValidationError as exc:
        raise InvalidReading("schema", "".join(reversed(msgspec_detail(exc, " at $")))) from None
    except msgspec.DecodeError:
        raise InvalidReading("malformed_json", "message is not valid JSON") from None
    name = point.header.schema_id.name
    body_decoder = _bodies.get(name)
    if body_decoder is None:
        raise InvalidReading(
            "unknown_code",
            f"Open mHealth schema {point.header.schema_id.namespace[:16]}:{name[:40]} "
            "is not one vitalstream reads",
        )
    if not default_device:
        raise InvalidReading("no_device", "an Open mHealth record is keyed by its device id")
    try:
        body = body_decoder.decode(point.body)
    except msgspec.ValidationError as exc:
        path, words = msgspec_detail(exc, "$.body")
        yield PartError(path, "schema", words, bytes(point.body))
        return
    if name in _MEASURED:
        metric, key = _MEASURED[name]
        measured = getattr(body, key)
        items = (
            [
                (f"$.body.{key}[{i}]", getattr(it, key), it.effective_time_frame, it)
                for i, it in enumerate(measured)
            ]
            if isinstance(measured, list)
            else [("$.body", measured, getattr(body, "effective_time_frame"), body)]  # noqa: B009
        )
        for path, uv, tf, part in items:
            try:
                yield Part(
                    path,
                    default_device,
                    _instant(tf),
                    metric,
                    convert(metric, uv.value, uv.unit),
                    source=part,
                    utc_offset_min=_offset(tf),
                )
            except InvalidReading as exc:
                yield PartError(path, exc.code, exc.detail, _encode(part))
    elif isinstance(body, _Steps):
        counted = body.step_count
        entries = (
            [
                (f"$.body.step_count[{i}]", it.step_count, it.effective_time_frame, it)
                for i, it in enumerate(counted)
            ]
            if isinstance(counted, list)
            else [("$.body", counted, body.effective_time_frame, body)]
        )
        for path, count, tf, part in entries:
            try:
                value = (
                    convert(Metric.STEPS, count.value, count.unit)
                    if isinstance(count, _UnitValue)
                    else count
                )
                start, end = _interval(tf)
                offset = _offset(tf)
                for ts, steps, secs in split_steps(start, end, value):
                    yield Part(path, default_device, ts, Metric.STEPS, steps, secs, part, offset)
            except InvalidReading as exc:
                yield PartError(path, exc.code, exc.detail, _encode(part))
    else:
        assert isinstance(body, _Sleep)
        yield from _sleep(body, default_device, bytes(point.body))


def _sleep(body: _Sleep, device: str, raw: bytes) -> Iterator[Part | PartError]:
    listed = [
        (key, stages)
        for key in ("sleep_stages", "sleep_stage_episodes", "sleep")
        if (stages := getattr(body, key)) is not None
    ]
    segments: list[tuple[str, _Stage]] = [
        (f"$.body.{key}[{i}]", st) for key, stages in listed for i, st in enumerate(stages)
    ]
    if body.sleep_stage_state is not None:
        segments.append(
            (
                "$.body",
                _Stage(
                    body.sleep_stage_state, body.sleep_stage_time_frame, body.effective_time_frame
                ),
            )
        )
    if not segments:
        yield PartError(
            "$.body",
            "no_sleep_stages",
            "a sleep episode without stages has no reading vitalstream stores",
            raw,
        )
        return
    for path, st in segments:
        try:
            stage = SLEEP_STATES.get(st.sleep_stage_state.lower())
            if stage is None:
                raise InvalidReading(
                    "unknown_code", f"sleep_stage_state {st.sleep_stage_state[:16]!r}"
                )
            frame = st.sleep_stage_time_frame or st.effective_time_frame
            start, end = _interval(frame)
            offset = _offset(frame)
            for ts in sleep_epochs(start, end):
                yield Part(path, device, ts, Metric.SLEEP_STAGE, stage, None, st, offset)
        except InvalidReading as exc:
            yield PartError(path, exc.code, exc.detail, _encode(st))
