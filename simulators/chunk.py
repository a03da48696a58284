"""A chunk of generated readings (columns) and its encoding into wire messages.

Rows are ordered by delivery time ``send_ms``. ``ts_ms`` is what the device puts on the wire
(its own clock: drift and skew included), so late and out-of-order readings are visible as
``ts_ms`` going backwards between rows of a device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from messages.metrics import METRICS, Metric, SleepStage

#: metric codes used in :attr:`Chunk.metric`
METRIC_ORDER: tuple[Metric, ...] = (
    Metric.HEART_RATE,
    Metric.SPO2,
    Metric.STEPS,
    Metric.SLEEP_STAGE,
)
HR, SPO2, STEPS, SLEEP = 0, 1, 2, 3
STEPS_INTERVAL_S = 60

#: row flags (bit mask in :attr:`Chunk.flags`)
MALFORMED = 1  # the message bytes are deliberately broken; the row holds the intended reading
DUPLICATE = 2  # a second delivery of a message (same bytes, a little later)
LATE = 4  # delivered 10 s - 15 min after it was taken (out of order)

_STAGE_NAMES = tuple(s.name.lower() for s in SleepStage)
# one format per metric code, so that building a message is a single %-format
_FORMATS: tuple[bytes, ...] = (
    b'%s%d,"metric":"heart_rate","value":%d}',
    b'%s%d,"metric":"spo2","value":%d}',
    b'%s%d,"metric":"steps","value":%d,"interval_s":' + str(STEPS_INTERVAL_S).encode() + b"}",
    b'%s%d,"metric":"sleep_stage","value":"%s"}',
)
_STAGE_BYTES = tuple(s.encode() for s in _STAGE_NAMES)
_MIN = np.array([METRICS[m].minimum for m in METRIC_ORDER])
_MAX = np.array([METRICS[m].maximum for m in METRIC_ORDER])


@dataclass(slots=True)
class Chunk:
    """Readings delivered during ``[start_ms, end_ms)`` of simulated wall time.

    Attributes
    ----------
    device_idx, ts_ms, metric, value, send_ms, flags
        Columns, one row per delivered message. ``metric`` codes follow :data:`METRIC_ORDER`;
        sleep stages are their :class:`messages.SleepStage` code in ``value``; steps are the
        count of the minute before ``ts_ms``.
    device_ids
        Device id of each ``device_idx`` (shared with the simulator, not copied).
    """

    start_ms: int
    end_ms: int
    device_idx: NDArray[np.int32]
    ts_ms: NDArray[np.int64]
    metric: NDArray[np.int8]
    value: NDArray[np.float64]
    send_ms: NDArray[np.int64]
    flags: NDArray[np.uint8]
    device_ids: Sequence[str]
    _prefixes: Sequence[bytes]

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    @property
    def malformed(self) -> NDArray[np.bool_]:
        """Rows whose message bytes are deliberately malformed."""
        out: NDArray[np.bool_] = (self.flags & MALFORMED) != 0
        return out

    @property
    def n_malformed(self) -> int:
        return int(np.count_nonzero(self.flags & MALFORMED))

    @property
    def out_of_range(self) -> NDArray[np.bool_]:
        """Well-formed rows whose value is outside :data:`messages.METRICS` (``impossible_value``
        events): the daemon dead-letters these as ``out_of_range``."""
        code = self.metric.astype(np.intp)
        bad: NDArray[np.bool_] = (self.value < _MIN[code]) | (self.value > _MAX[code])
        bad &= (self.flags & MALFORMED) == 0
        return bad

    def slice(self, lo: int, hi: int, start_ms: int, end_ms: int) -> Chunk:
        """Rows ``lo:hi`` as a chunk covering ``[start_ms, end_ms)`` (views, no copies)."""
        return Chunk(
            start_ms,
            end_ms,
            self.device_idx[lo:hi],
            self.ts_ms[lo:hi],
            self.metric[lo:hi],
            self.value[lo:hi],
            self.send_ms[lo:hi],
            self.flags[lo:hi],
            self.device_ids,
            self._prefixes,
        )

    def keys(self) -> list[bytes]:
        """Kafka keys: the device id, UTF-8."""
        prefixes = [p[14:-7] for p in self._prefixes]  # cut '{"device_id":"' and '","ts":'
        return [prefixes[d] for d in self.device_idx.tolist()]

    def values(self) -> list[bytes]:
        """Wire messages, byte-identical to :func:`messages.encode_reading` except malformed rows.

        >>> from simulators import Scenario, FleetSimulator
        >>> sim = FleetSimulator(Scenario(devices=1, duration_ms=60_000), seed=1,
        ...                      start_ms=1767225600000)
        >>> next(iter(sim)).values()[0]
        b'{"device_id":"ring-000000","ts":1767225600000,"metric":"sleep_stage","value":"light"}'
        """
        vals: list[int | bytes] = np.rint(self.value).astype(np.int64).tolist()
        for i in np.flatnonzero(self.metric == SLEEP).tolist():
            vals[i] = _STAGE_BYTES[vals[i]]  # type: ignore[index]
        pre = self._prefixes
        fmts = _FORMATS
        out = [
            fmts[c] % (pre[d], t, v)
            for c, d, t, v in zip(
                self.metric.tolist(),
                self.device_idx.tolist(),
                self.ts_ms.tolist(),
                vals,
                strict=True,
            )
        ]
        bad = np.flatnonzero(self.flags & MALFORMED)
        for i in bad.tolist():
            out[i] = _corrupt(out[i], int(self.ts_ms[i]))
        return out

    def messages(self) -> list[tuple[bytes, bytes]]:
        """``(key, value)`` pairs in delivery order."""
        return list(zip(self.keys(), self.values(), strict=True))

    def csv_rows(self) -> Iterator[tuple[str, int, str, str]]:
        """Rows of the replay CSV (``device_id,ts,metric,value``), malformed rows skipped."""
        ok = (self.flags & MALFORMED) == 0
        ids = self.device_ids
        names = [m.value for m in METRIC_ORDER]
        vals = np.rint(self.value[ok]).astype(np.int64).tolist()
        for d, t, m, v in zip(
            self.device_idx[ok].tolist(),
            self.ts_ms[ok].tolist(),
            self.metric[ok].tolist(),
            vals,
            strict=True,
        ):
            yield ids[d], t, names[m], _STAGE_NAMES[v] if m == SLEEP else str(v)


def _corrupt(msg: bytes, salt: int) -> bytes:
    """A deliberately malformed variant of a message; every variant fails ReadingDecoder."""
    variant = salt % 7
    if variant == 0:  # truncated in transit
        return msg[: len(msg) // 2]
    if variant == 1:  # a number sent as a string
        head, _, tail = msg.rpartition(b'"value":')
        return head + b'"value":"' + tail.rstrip(b"}").split(b",")[0].strip(b'"') + b'x"}'
    if variant == 2:  # field missing
        return msg.replace(b',"metric"', b',"metrik"')
    if variant == 3:  # epoch seconds instead of milliseconds
        return msg.replace(b'"ts":' + str(salt).encode(), b'"ts":' + str(salt // 1000).encode())
    if variant == 4:  # unknown metric
        return msg.replace(b'"metric":"', b'"metric":"x_')
    if variant == 5:  # not JSON at all
        return b"\x00\xffgarbage" + msg[:8]
    return msg.replace(b'"value":', b'"value":NaN,"v":')
