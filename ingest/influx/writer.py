"""Write line-protocol batches to InfluxDB's ``/api/v2/write``, and say what failed.

We batch ourselves instead of using influxdb-client's batching WriteApi, which reports errors
in callbacks and may drop data on close. The contract: :meth:`InfluxWriter.write` returns only
when every line is either stored or identified as rejected by InfluxDB (returned, so the caller
can dead-letter it); transient failures raise :class:`~ingest.errors.RetriableSinkError` and
nothing of the batch counts as written. Writes are idempotent, so retrying a whole batch after a
partial success is safe.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import httpx

from ingest.errors import PermanentSinkError, RetriableSinkError

if TYPE_CHECKING:
    from ingest.settings import Settings

_GZIP_MIN_BYTES = 8192
#: level 1: a write body is compressed once and sent once, so the fastest level pays best
_GZIP_LEVEL = 1


def gzip_compressor() -> Callable[[bytes], bytes]:
    """The gzip compression of write bodies: ISA-L's (``isal``) where it is installed, about
    6x less CPU than zlib's at level 1, and smaller; else the standard library's zlib. Both
    write the same format (RFC 1952) at the same level, so InfluxDB reads either; ``isal`` is
    installed only on the platforms it has wheels for (pyproject.toml)."""
    try:
        from isal import igzip
    except ImportError:
        import gzip

        return functools.partial(gzip.compress, compresslevel=_GZIP_LEVEL)
    return functools.partial(igzip.compress, compresslevel=_GZIP_LEVEL)


_gzip = gzip_compressor()

#: how often one point alone is sent while the connection keeps closing under it (and a write
#: of nothing keeps going through) before it is taken to be over a size limit
LOST_CONNECTION_TRIES = 3


class _ConnectionLostError(RetriableSinkError):
    """The connection closed while a request was sent or before its answer came: InfluxDB or
    the network failing, or a proxy that closes it on a body over its size limit instead of
    answering 413 (the writer tells the two apart, :meth:`InfluxWriter.write`)."""


@dataclass(frozen=True)
class Rejected:
    """A line refused on its own: by InfluxDB (HTTP 400/422 for just this line), or by a size
    limit before it (413, answered or shown by the connection closing under it alone)."""

    index: int
    status: int
    reason: str


class InfluxWriter:
    """An async client for ``/api/v2/write`` (ms precision unless told otherwise).

    Parameters
    ----------
    url, org, bucket, token
        Where to write.
    max_lines
        Lines per HTTP request; larger batches are split.
    max_concurrent
        Requests in flight at once, one per *lane* (see :meth:`write`): InfluxDB parses and
        syncs concurrent writes in parallel, so the round trips overlap.
    timeout_s
        Per-request timeout.
    compress
        Gzip request bodies of 8 KiB and more (worth it over a network; on the same host
        it only costs the daemon CPU).
    transport
        An httpx transport (tests use an in-memory one).
    precision
        The unit of the lines' timestamps: ``ms`` (every point vitalstream's daemon writes),
        or ``ns`` (an acknowledgement: its wall time must tell two acks of one millisecond
        apart).
    """

    def __init__(
        self,
        *,
        url: str,
        org: str,
        bucket: str,
        token: str,
        max_lines: int = 5000,
        max_concurrent: int = 4,
        timeout_s: float = 10.0,
        verify: bool | ssl.SSLContext = True,
        compress: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        precision: Literal["ms", "ns"] = "ms",
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=url,
            timeout=timeout_s,
            headers={"Authorization": f"Token {token}", "Content-Type": "text/plain"},
            verify=verify,
            transport=transport,
        )
        self._params = {"org": org, "bucket": bucket, "precision": precision}
        self.max_lines = max_lines
        self.max_concurrent = max_concurrent
        self.compress = compress
        self.last_latency_s = 0.0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def write(
        self, lines: Sequence[str], lanes: Sequence[int] | None = None
    ) -> list[Rejected]:
        """Write all lines. Returns the lines InfluxDB rejected one by one (to dead-letter).

        ``lanes`` (one per line, e.g. the Kafka partition it came from) lets lines of different
        lanes be written concurrently. Within a lane the lines are written in order, so when
        two lines have the same identity (a replayed reading), the later one wins as it would
        in one sequential write: give lines of one device the same lane.

        A request over a size limit (HTTP 413, from InfluxDB or a proxy before it) is halved
        until each part fits, at most 2n - 1 requests for n lines; a line over the limit on
        its own comes back rejected with status 413, like a line InfluxDB refuses (400/422).

        A proxy may instead close the connection on a body over its limit. A request whose
        connection closes is therefore followed by a write of nothing through the same path:
        if that fails as well, InfluxDB or the network is down (RetriableSinkError, after
        those two requests); if it goes through, the body is what failed, and it is halved
        like a 413's (safe: points are idempotent). A line alone is sent
        :data:`LOST_CONNECTION_TRIES` times, each failure followed by a write of nothing that
        goes through, before it comes back rejected with status 413.

        Raises
        ------
        RetriableSinkError
            InfluxDB is down, slow, throttling (429/503, honouring Retry-After) or failing
            (5xx), or the connection closes under a write of nothing as well.
        PermanentSinkError
            Authentication or a missing bucket (401/403/404): retrying will not help until the
            configuration is fixed.
        """
        if lanes is not None and len(lanes) != len(lines):
            raise ValueError("one lane per line")
        rejected: list[Rejected] = []
        by_lane: dict[int, list[int]] = {}
        if lanes is None or self.max_concurrent <= 1:
            by_lane[0] = list(range(len(lines)))
        else:
            n = self.max_concurrent
            for i, lane in enumerate(lanes):
                by_lane.setdefault(lane % n, []).append(i)
        results = await asyncio.gather(
            *(self._write_lane(lines, indices, rejected) for indices in by_lane.values()),
            return_exceptions=True,
        )
        # every lane has finished (none is left writing behind a retry): raise the first error
        for r in results:
            if isinstance(r, BaseException):
                raise r
        rejected.sort(key=lambda r: r.index)
        return rejected

    async def _write_lane(
        self, lines: Sequence[str], indices: list[int], rejected: list[Rejected]
    ) -> None:
        step = self.max_lines
        for start in range(0, len(indices), step):
            await self._write_indices(lines, indices[start : start + step], rejected)

    async def _write_indices(
        self, lines: Sequence[str], indices: list[int], rejected: list[Rejected], tries: int = 1
    ) -> None:
        try:
            status, reason = await self._post("\n".join(lines[i] for i in indices))
        except _ConnectionLostError as exc:
            # InfluxDB, the network, or a proxy closing the connection on a body over its size
            # limit instead of answering 413: only the last lets a write of nothing through
            await self._reachable_after(exc)
            if len(indices) == 1 and tries < LOST_CONNECTION_TRIES:
                await self._write_indices(lines, indices, rejected, tries + 1)
                return
            status = 413
            reason = (
                f"the connection closed while this point alone was sent ({tries} times), "
                "while a write of nothing went through: over the size limit of a proxy?"
                if len(indices) == 1
                else "the connection closed while the request was sent"
            )
        if status == 204:
            return
        if status == 413 and len(indices) > 1:
            half = len(indices) // 2
            await self._write_indices(lines, indices[:half], rejected)
            await self._write_indices(lines, indices[half:], rejected)
            return
        if status in (400, 413, 422):
            # some lines are bad: bisect until each bad line stands alone (good lines are
            # rewritten on the way, which is harmless: point identity makes writes idempotent)
            if len(indices) == 1:
                rejected.append(Rejected(indices[0], status, reason))
                return
            half = len(indices) // 2
            await self._write_indices(lines, indices[:half], rejected)
            await self._write_indices(lines, indices[half:], rejected)
            return
        raise PermanentSinkError(f"InfluxDB answered {status}: {reason}", status=status)

    async def _post(self, body: str) -> tuple[int, str]:
        data = body.encode()
        headers = {}
        if self.compress and len(data) >= _GZIP_MIN_BYTES:
            data = _gzip(data)
            headers["Content-Encoding"] = "gzip"
        started = time.perf_counter()
        try:
            resp = await self._client.post(
                "/api/v2/write", params=self._params, content=data, headers=headers
            )
        except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError) as exc:
            # connected, then closed under the request (a timeout is not this: a slow server)
            raise _ConnectionLostError(f"InfluxDB connection lost: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise RetriableSinkError(f"InfluxDB unreachable: {type(exc).__name__}") from None
        self.last_latency_s = time.perf_counter() - started
        status = resp.status_code
        if status == 204:
            return status, ""
        reason = _reason(resp)
        if status in (429, 503) or status >= 500:
            raise RetriableSinkError(
                f"InfluxDB answered {status}: {reason}", retry_after_s=_retry_after(resp)
            )
        return status, reason

    @classmethod
    def from_settings(cls, settings: Settings) -> InfluxWriter:
        """The writer the settings describe (the daemon's and the start-up check's)."""
        return cls(
            url=settings.influx_url,
            org=settings.influxdb.org,
            bucket=settings.influxdb.bucket,
            token=settings.influx_token(),
            max_lines=settings.ingest.write_batch_points,
            max_concurrent=settings.ingest.write_concurrency,
            timeout_s=settings.influxdb.timeout_ms / 1000,
            verify=settings.influx_ssl(),
            compress=settings.influx_gzip,
        )

    async def probe_write(self) -> None:
        """Check that a write would be accepted, without writing anything: an empty write
        goes through InfluxDB's checks of the token, the org and the bucket.

        Raises
        ------
        RetriableSinkError
            InfluxDB is unreachable or failing.
        PermanentSinkError
            The token, org or bucket is wrong (the status says which).
        """
        status, reason = await self._post("")
        if status not in (204, 200):
            raise PermanentSinkError(f"InfluxDB answered {status}: {reason}", status=status)

    async def _reachable_after(self, lost: _ConnectionLostError) -> None:
        """Return if a write of nothing goes through where a request's connection closed;
        else raise what a failed write raises (RetriableSinkError naming the lost connection
        if that closes too)."""
        try:
            await self.probe_write()
        except _ConnectionLostError:
            raise RetriableSinkError(str(lost)) from None

    async def ping(self) -> bool:
        try:
            resp = await self._client.get("/health")
        except httpx.TransportError:
            return False
        return resp.status_code == 200


def _reason(resp: httpx.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return resp.text[:300]
    return str(doc.get("message", doc))[:300] if isinstance(doc, dict) else str(doc)[:300]


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
