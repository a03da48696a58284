"""Fast decoding and encoding of readings on the wire.

The daemon decodes every message on its hot path, so this module uses msgspec (about 5x faster
than pydantic's ``model_validate_json`` here) and applies the limits of :data:`messages.METRICS`.
:class:`messages.models.ReadingMessage` is the documented schema; a property test keeps the two
in agreement.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from messages.metrics import METRICS, SLEEP_STAGES, Metric

DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
_DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN)
_METRIC_BY_NAME = {m.value: m for m in Metric}
# epoch-ms outside these years is a unit mix-up (seconds, microseconds), not a clock
_MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01
_MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01
#: a reading is one flat object; deeper JSON (even in ignored fields) is rejected before parsing,
#: since a parser recursing 2,000 arrays deep runs out of stack
MAX_JSON_DEPTH = 32
# numeric metrics by wire name: (metric, minimum, maximum, unit), for the decoder's common case
_NUMERIC = {
    m.value: (m, float(spec.minimum), float(spec.maximum), spec.unit)
    for m, spec in METRICS.items()
    if not spec.categorical
}
_VALID_IDS_MAX = 1 << 16
#: smaller batches are decoded message by message: a batch parse would not pay for its checks
_MIN_BATCH = 8


class InvalidReading(ValueError):  # noqa: N818 - it names the condition, like ValueError
    """A message that cannot become a reading. ``code`` is stable and short (a metric label);
    ``detail`` says what was wrong in words, without echoing the reading's value."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class _Wire(msgspec.Struct, omit_defaults=True, gc=False):
    """What a device sends; field names and types mirror ``ReadingMessage``."""

    device_id: str
    ts: int | str
    metric: str
    value: float | str
    unit: str | None = None
    interval_s: float | None = None
    seq: int | None = None


class Reading(msgspec.Struct, frozen=True, gc=False):
    """A validated reading. ``value`` is numeric; sleep stages carry their :class:`SleepStage`
    code. ``ts_ms`` is device event time in epoch milliseconds, the point identity in InfluxDB.
    ``utc_offset_min`` is the wearer's UTC offset in minutes when the message's RFC 3339 ``ts``
    carried one (not ``Z`` or ``-00:00``), else ``None`` (see :func:`parse_ts_offset`)."""

    device_id: str
    ts_ms: int
    metric: Metric
    value: float
    interval_s: float | None = None
    seq: int | None = None
    utc_offset_min: int | None = None


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects deeper than ``limit``.

    Brackets inside strings do not count. Cheap for ordinary messages: only one with more than
    ``limit`` opening brackets in all is scanned.

    >>> json_depth_exceeds(b'{"a": [[1]], "b": "[[[[["}', 3)
    False
    >>> json_depth_exceeds(b'{"a": [[[1]]]}', 3)
    True
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def parse_ts(ts: int | str, *, assume_utc: bool = False) -> int:
    """Return epoch milliseconds for an epoch-ms integer or an RFC 3339 string.

    >>> parse_ts("2026-01-01T00:00:00Z")
    1767225600000
    >>> parse_ts(1767225600000)
    1767225600000
    """
    return parse_ts_offset(ts, assume_utc=assume_utc)[0]


#: the real-world range of UTC offsets (minutes), UTC-12:00 to UTC+14:00: a wilder offset is
#: not taken for the wearer's local time
MIN_UTC_OFFSET_MIN, MAX_UTC_OFFSET_MIN = -12 * 60, 14 * 60


def parse_ts_offset(ts: int | str, *, assume_utc: bool = False) -> tuple[int, int | None]:
    """Return epoch milliseconds and the UTC offset (minutes) an RFC 3339 string carries.

    The offset is the wearer's local clock as the device wrote it. ``Z`` and ``-00:00`` (RFC
    3339: "local offset unknown"), epoch milliseconds, and offsets outside -12:00..+14:00 or
    not whole minutes carry none (``None``); the timestamp itself is valid either way.

    >>> parse_ts_offset("2026-01-01T02:00:30+01:00")
    (1767229230000, 60)
    >>> parse_ts_offset("2026-01-01T00:00:00Z"), parse_ts_offset(1767225600000)
    ((1767225600000, None), (1767225600000, None))
    """
    offset_min = None
    if isinstance(ts, int):
        ms = ts
    else:
        try:
            dt = datetime.fromisoformat(ts)
        except ValueError:
            raise InvalidReading(
                "bad_timestamp", "ts is not RFC 3339 or epoch milliseconds"
            ) from None
        if dt.tzinfo is None:
            if not assume_utc:
                raise InvalidReading("bad_timestamp", "ts has no UTC offset")
            dt = dt.replace(tzinfo=UTC)
        elif ts[-1] != "Z" and not ts.endswith("-00:00"):
            off = dt.utcoffset()
            assert off is not None  # aware: tzinfo is set
            seconds = off.days * 86_400 + off.seconds  # integer arithmetic: cheaper than floats
            if seconds % 60 == 0 and MIN_UTC_OFFSET_MIN <= seconds // 60 <= MAX_UTC_OFFSET_MIN:
                offset_min = seconds // 60
        ms = int(dt.timestamp() * 1000)
    if not _MIN_EPOCH_MS <= ms < _MAX_EPOCH_MS:
        raise InvalidReading("bad_timestamp", "ts outside 2000-2100 (seconds instead of ms?)")
    return ms, offset_min


def check_value(metric: Metric, value: float | str) -> float:
    """Validate a value against the metric table and return its numeric form."""
    spec = METRICS[metric]
    if spec.categorical:
        if not isinstance(value, str) or value not in SLEEP_STAGES:
            raise InvalidReading(
                "bad_value", f"{metric.value} must be one of {sorted(SLEEP_STAGES)}"
            )
        return float(SLEEP_STAGES[value])
    if isinstance(value, str):
        raise InvalidReading("wrong_type", f"{metric.value} value must be a number")
    if not math.isfinite(value):
        raise InvalidReading("not_finite", f"{metric.value} value is NaN or infinite")
    if not spec.minimum <= value <= spec.maximum:
        raise InvalidReading(
            "out_of_range",
            f"{metric.value} outside plausible range {spec.minimum:g}-{spec.maximum:g} {spec.unit}",
        )
    return float(value)


def check_device_id(device_id: str) -> str:
    if not _DEVICE_ID_RE.match(device_id):
        raise InvalidReading("bad_device_id", "device_id must be 1-128 chars of [A-Za-z0-9._:-]")
    return device_id


def parse_metric(name: str) -> Metric:
    metric = _METRIC_BY_NAME.get(name)
    if metric is None:
        raise InvalidReading("unknown_metric", f"metric must be one of {sorted(_METRIC_BY_NAME)}")
    return metric


class ReadingDecoder:
    """Decode raw message bytes into :class:`Reading` or raise :class:`InvalidReading`.

    Parameters
    ----------
    max_bytes
        Larger messages are rejected before parsing.
    max_future_ms, max_age_ms
        Accepted clock window around ``now`` (device clocks drift; absurd times are bugs).
    max_depth
        Deeper JSON nesting is rejected (``too_deep``) before parsing.

    Examples
    --------
    >>> dec = ReadingDecoder()
    >>> now = 1767225600000
    >>> r = dec.decode(b'{"device_id":"d1","ts":1767225600000,"metric":"heart_rate","value":61}',
    ...                now_ms=now)
    >>> (r.device_id, r.metric.value, r.value)
    ('d1', 'heart_rate', 61.0)
    >>> dec.decode(b'{"device_id":"d1","ts":1767225600000,"metric":"spo2","value":140}',
    ...            now_ms=now)
    Traceback (most recent call last):
    ...
    messages.codec.InvalidReading: out_of_range: spo2 outside plausible range 50-100 %
    """

    def __init__(
        self,
        *,
        max_bytes: int = 4096,
        max_future_ms: int = 5 * 60_000,
        max_age_ms: int = 30 * 86_400_000,
        max_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.max_future_ms = max_future_ms
        self.max_age_ms = max_age_ms
        self._decoder = msgspec.json.Decoder(_Wire)
        # device ids that passed the pattern (a pure function of the string): skip the regex
        self._valid_ids: dict[str, None] = {}

    def decode(self, raw: bytes | None, *, now_ms: int | None = None) -> Reading:
        if raw is None:
            raise InvalidReading("empty", "message has no value")
        if len(raw) > self.max_bytes:
            raise InvalidReading("oversize", f"message larger than {self.max_bytes} bytes")
        if json_depth_exceeds(raw, self.max_depth):
            raise InvalidReading("too_deep", f"JSON nested deeper than {self.max_depth} levels")
        try:
            wire = self._decoder.decode(raw)
        except msgspec.ValidationError as exc:
            if str(exc).startswith("Number out of range"):
                raise InvalidReading("not_finite", "a number is out of range") from None
            raise InvalidReading("schema", str(exc)) from None
        except msgspec.DecodeError:
            raise InvalidReading("malformed_json", "message is not valid JSON") from None
        return self.validate(wire, now_ms=now_ms)

    def decode_many(
        self, raws: Sequence[bytes | None], *, now_ms: int | None = None
    ) -> list[Reading | None]:
        """Decode a batch of messages: per message its :class:`Reading`, exactly as
        :meth:`decode` returns it, or ``None`` where :meth:`decode` raises (call it for the
        reason; it is the slow path anyway).

        The messages are parsed by one msgspec call over the batch, one message per line, when
        that is provably the same as parsing each alone (see :meth:`_wires`); a batch that
        fails is halved until its failing messages stand alone and take :meth:`decode`. The
        clock window is worked out once for the batch.

        >>> dec = ReadingDecoder()
        >>> ok = b'{"device_id":"d1","ts":1767225600000,"metric":"heart_rate","value":61}'
        >>> [r and r.value for r in dec.decode_many([ok, b"{}", None, ok], now_ms=1767225600000)]
        [61.0, None, None, 61.0]
        """
        now = int(time.time() * 1000) if now_ms is None else now_ms
        out: list[Reading | None] = []
        self._decode_span(raws, now, out)
        return out

    def _decode_span(
        self, raws: Sequence[bytes | None], now_ms: int, out: list[Reading | None]
    ) -> None:
        wires = self._wires(raws) if len(raws) >= _MIN_BATCH else None
        if wires is None:
            if len(raws) >= _MIN_BATCH:  # a bad message in it: halve until it stands alone
                half = len(raws) // 2
                self._decode_span(raws[:half], now_ms, out)
                self._decode_span(raws[half:], now_ms, out)
                return
            for raw in raws:
                try:
                    out.append(self.decode(raw, now_ms=now_ms))
                except InvalidReading:
                    out.append(None)
            return
        validate, oldest_ms, newest_ms = (
            self._validate,
            now_ms - self.max_age_ms,
            now_ms + self.max_future_ms,
        )
        for wire in wires:
            try:
                out.append(validate(wire, oldest_ms, newest_ms))
            except InvalidReading:
                out.append(None)

    def _wires(self, raws: Sequence[bytes | None]) -> list[_Wire] | None:
        """The messages parsed in one call, or ``None`` when that is not certain to give each
        message's own parse (then the caller decides them one by one).

        The messages are joined by newlines and parsed as JSON lines. That equals parsing each
        alone when every message passes :meth:`decode`'s size and depth checks, contains no raw
        newline, every separator stands between a ``}`` and a ``{``, and the buffer yields one
        value per message. A value cannot run on across a separator (a string may not hold a
        raw newline, and no ``{`` may follow a ``}`` that closes a nested value), so each line
        holds whole values, at least one (with two or more messages every line touches a
        separator, so it starts with ``{`` or ends with ``}``), hence exactly one. Every
        message has at least one ``{``, so if the buffer's brackets beyond one per message are
        within the depth limit, no message has more brackets than the limit
        (:func:`json_depth_exceeds` scans none of them either).
        """
        n = len(raws)
        try:
            joined = b"\n".join(raws)  # type: ignore[arg-type]  # a None raises TypeError
        except TypeError:
            return None
        if (
            max(map(len, raws)) > self.max_bytes  # type: ignore[arg-type]
            or joined.count(b"\n") != n - 1
            or joined.count(b"}\n{") != n - 1
            or joined.count(b"[") + joined.count(b"{") - (n - 1) > self.max_depth
        ):
            return None
        try:
            wires = self._decoder.decode_lines(joined)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        return wires if len(wires) == n else None

    def validate(self, wire: _Wire, *, now_ms: int | None = None) -> Reading:
        """Check a parsed message against the metric table, the device-id pattern and the
        clock window around ``now_ms`` (default: now); return its :class:`Reading`."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return self._validate(wire, now - self.max_age_ms, now + self.max_future_ms)

    def _validate(self, wire: _Wire, oldest_ms: int, newest_ms: int) -> Reading:
        """:meth:`validate` with the clock window already worked out (once per batch)."""
        # the common case first, with the checks' order kept: a known metric's numeric value in
        # range, from a device id seen valid before; anything else takes the general checks
        known = _NUMERIC.get(wire.metric)
        value_in = wire.value
        device_id = wire.device_id
        valid_ids = self._valid_ids
        if (
            known is not None
            and type(value_in) is float
            and known[1] <= value_in <= known[2]  # NaN compares false: not_finite below
            and device_id in valid_ids
        ):
            metric, unit = known[0], known[3]
            value = value_in
        else:
            metric = parse_metric(wire.metric)
            value = check_value(metric, value_in)
            unit = METRICS[metric].unit
            if device_id not in valid_ids:  # the pattern is a pure function of the string
                check_device_id(device_id)
                if len(valid_ids) >= _VALID_IDS_MAX:
                    valid_ids.clear()  # bounded: a fleet larger than this re-checks ids
                valid_ids[device_id] = None
        wire_unit, interval_s = wire.unit, wire.interval_s
        if wire_unit is not None and wire_unit != unit:
            raise InvalidReading("wrong_unit", f"{metric.value} must be in {unit}")
        if interval_s is not None and not (math.isfinite(interval_s) and 0 < interval_s <= 86_400):
            raise InvalidReading("bad_interval", "interval_s must be in (0, 86400]")
        ts = wire.ts
        if type(ts) is int and _MIN_EPOCH_MS <= ts < _MAX_EPOCH_MS:
            ts_ms, offset_min = ts, None  # epoch ms in range: what parse_ts_offset returns
        else:
            ts_ms, offset_min = parse_ts_offset(ts)
        if ts_ms > newest_ms:
            raise InvalidReading("ts_in_future", "ts is ahead of the ingest clock")
        if ts_ms < oldest_ms:
            raise InvalidReading("ts_too_old", "ts is older than the accepted age")
        return Reading(device_id, ts_ms, metric, value, interval_s, wire.seq, offset_min)


_encoder = msgspec.json.Encoder()


def encode_reading(
    device_id: str,
    ts: int | str,
    metric: Metric | str,
    value: float | str,
    *,
    interval_s: float | None = None,
    seq: int | None = None,
) -> bytes:
    """Encode one reading as a device would send it (used by simulators and tests).

    >>> encode_reading("d1", 1767225600000, "sleep_stage", "rem")
    b'{"device_id":"d1","ts":1767225600000,"metric":"sleep_stage","value":"rem"}'
    """
    return _encoder.encode(_Wire(device_id, ts, str(metric), value, None, interval_s, seq))
