"""The InfluxDB writer's error handling, against an in-memory HTTP transport."""

from __future__ import annotations

import asyncio
import functools
import gzip
import importlib.util
import sys
from collections.abc import Callable

import httpx
import pytest

from ingest.errors import PermanentSinkError, RetriableSinkError
from ingest.influx import writer as writer_module
from ingest.influx.writer import LOST_CONNECTION_TRIES, InfluxWriter, gzip_compressor

Handler = Callable[[httpx.Request], httpx.Response]


def _writer(handler: Handler, max_lines: int = 5000) -> InfluxWriter:
    return InfluxWriter(
        url="http://influx.test",
        org="o",
        bucket="b",
        token="t",
        max_lines=max_lines,
        transport=httpx.MockTransport(handler),
    )


def _lines(request: httpx.Request) -> list[str]:
    body = request.content
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return body.decode().split("\n")


async def test_ok_and_batches_split_by_max_lines() -> None:
    seen: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.params["precision"] == "ms"
        assert req.headers["Authorization"] == "Token t"
        seen.append(len(_lines(req)))
        return httpx.Response(204)

    assert await _writer(handler, max_lines=4).write([f"m v={i} {i}" for i in range(10)]) == []
    assert seen == [4, 4, 2]


@pytest.mark.parametrize("status", [429, 503])
async def test_throttling_is_retriable_and_honours_retry_after(status: int) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Retry-After": "7"}, json={"message": "slow"})

    with pytest.raises(RetriableSinkError) as info:
        await _writer(handler).write(["m v=1 1"])
    assert info.value.retriable
    assert info.value.retry_after_s == 7.0


async def test_server_errors_and_connection_failures_are_retriable() -> None:
    with pytest.raises(RetriableSinkError):
        await _writer(lambda r: httpx.Response(500, text="boom")).write(["m v=1 1"])

    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    with pytest.raises(RetriableSinkError):
        await _writer(refuse).write(["m v=1 1"])


async def test_413_splits_the_batch_until_it_fits() -> None:
    sizes: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        n = len(_lines(req))
        sizes.append(n)
        return httpx.Response(413 if n > 3 else 204)

    assert await _writer(handler).write([f"m v={i} {i}" for i in range(10)]) == []
    assert max(s for s in sizes if s <= 3) <= 3
    assert sum(s for s in sizes if s <= 3) == 10, "every line written exactly once in the end"


async def test_a_line_too_large_alone_is_rejected_with_413_and_the_rest_written() -> None:
    """A request-size limit (a proxy's, or InfluxDB's) that one line exceeds on its own: the
    batch is halved until that line stands alone, it comes back rejected (for a dead letter),
    and the split is bounded: at most 2n - 1 requests for n lines."""
    limit = 200
    written: list[str] = []
    requests = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        if len(req.content) > limit:
            return httpx.Response(413, json={"message": "request entity too large"})
        written.extend(_lines(req))
        return httpx.Response(204)

    lines = [f"m v={i} {i}" for i in range(40)]
    lines[25] = f'm s="{"x" * 300}" 25'
    rejected = await _writer(handler).write(lines)
    assert [(r.index, r.status) for r in rejected] == [(25, 413)]
    assert "too large" in rejected[0].reason
    assert sorted(written) == sorted(lines[:25] + lines[26:]), "every other line, once"
    assert requests <= 2 * len(lines) - 1


async def test_400_isolates_exactly_the_bad_lines() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        bad = [ln for ln in _lines(req) if "BAD" in ln]
        return (
            httpx.Response(400, json={"message": "type conflict"}) if bad else httpx.Response(204)
        )

    lines = [f"m v={i} {i}" for i in range(20)]
    lines[3] = "m BAD=1 3"
    lines[17] = "m BAD=1 17"
    rejected = await _writer(handler).write(lines)
    assert [r.index for r in rejected] == [3, 17]
    assert {r.status for r in rejected} == {400}
    assert all("type conflict" in r.reason for r in rejected)


async def test_auth_failure_is_permanent() -> None:
    with pytest.raises(PermanentSinkError) as info:
        await _writer(lambda r: httpx.Response(401, json={"message": "unauthorized"})).write(
            ["m v=1 1"]
        )
    assert info.value.status == 401
    assert not info.value.retriable


@pytest.mark.parametrize("compress", [True, False])
async def test_large_bodies_are_gzipped_unless_compression_is_off(compress: bool) -> None:
    encodings: list[str | None] = []

    def handler(req: httpx.Request) -> httpx.Response:
        encodings.append(req.headers.get("Content-Encoding"))
        assert len(_lines(req)) == 2000
        return httpx.Response(204)

    writer = _writer(handler)
    writer.compress = compress
    await writer.write([f"measurement,tag=t value={i} {i}" for i in range(2000)])
    assert encodings == (["gzip"] if compress else [None])


async def test_without_isal_bodies_are_gzipped_by_zlib_in_the_same_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A platform without an isal wheel: importing it fails, the writer still imports and
    compresses, with the standard library's gzip at the same level, what InfluxDB reads."""
    body = "".join(f"measurement,tag=t value={i} {i}\n" for i in range(2000)).encode()
    with_isal = gzip_compressor()
    assert isinstance(with_isal, functools.partial)
    assert with_isal.func.__module__.startswith("isal"), "isal is installed here"
    monkeypatch.setitem(sys.modules, "isal", None)  # `import isal` raises ImportError
    monkeypatch.delitem(sys.modules, "isal.igzip", raising=False)
    # the writer module imports, its compressor the fallback
    spec = importlib.util.find_spec("ingest.influx.writer")
    assert spec is not None
    assert spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    fallback = fresh._gzip
    assert isinstance(fallback, functools.partial)
    assert fallback.func is gzip.compress
    assert fallback.keywords == with_isal.keywords == {"compresslevel": 1}
    zipped = fallback(body)
    assert zipped[:3] == with_isal(body)[:3] == b"\x1f\x8b\x08", "gzip, deflate"
    assert gzip.decompress(zipped) == body

    monkeypatch.setattr(writer_module, "_gzip", fallback)
    seen: list[tuple[str | None, list[str]]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append((req.headers.get("Content-Encoding"), _lines(req)))
        return httpx.Response(204)

    lines = [f"measurement,tag=t value={i} {i}" for i in range(2000)]
    assert await _writer(handler).write(lines) == []
    assert seen == [("gzip", lines)]


async def test_lanes_write_concurrently_and_keep_their_own_order() -> None:
    in_flight, peak, bodies = 0, 0, []

    async def handler(req: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        bodies.append(_lines(req))
        in_flight -= 1
        return httpx.Response(204)

    lines = [f"m,lane={i % 3} v={i} {i}" for i in range(30)]
    lanes = [i % 3 for i in range(30)]
    assert await _writer(handler, max_lines=4).write(lines, lanes) == []
    assert peak >= 2, "lanes overlap"
    for lane in range(3):
        mine = [x for body in bodies for x in body if x.startswith(f"m,lane={lane} ")]
        assert mine == [x for x in lines if x.startswith(f"m,lane={lane} ")], "in order"


async def test_rejections_in_lanes_point_at_the_original_lines() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if any("bad" in x for x in _lines(req)):
            return httpx.Response(400, json={"message": "unable to parse"})
        return httpx.Response(204)

    lines = [f"m v={i} {i}" if i not in (3, 8) else "bad" for i in range(10)]
    got = await _writer(handler, max_lines=3).write(lines, [i % 2 for i in range(10)])
    assert [r.index for r in got] == [3, 8]
    with pytest.raises(ValueError, match="one lane per line"):
        await _writer(handler).write(lines, [0])


async def test_a_failing_lane_raises_after_the_others_finished() -> None:
    finished: list[str] = []

    async def handler(req: httpx.Request) -> httpx.Response:
        body = _lines(req)
        if body[0].startswith("fail"):
            return httpx.Response(503)
        await asyncio.sleep(0.02)
        finished.extend(body)
        return httpx.Response(204)

    with pytest.raises(RetriableSinkError):
        await _writer(handler).write(["fail v=1 1", "m v=2 2"], [0, 1])
    assert finished == ["m v=2 2"]


def _closing_proxy(
    max_lines: int, requests: list[int], closes_empty: bool = False
) -> Callable[[httpx.Request], httpx.Response]:
    """A path to InfluxDB that closes the connection under a body of more than ``max_lines``
    lines (or any body longer than 1 kB) instead of answering 413; a write of nothing goes
    through unless ``closes_empty``. ``requests`` gets each request's line count (0: none)."""

    def handler(req: httpx.Request) -> httpx.Response:
        lines = _lines(req) if req.content else []
        requests.append(len(lines))
        if closes_empty or len(lines) > max_lines or len(req.content) > 1024:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(204)

    return handler


async def test_a_connection_closed_under_a_large_body_splits_it_like_a_413() -> None:
    requests: list[int] = []
    lines = [f"m,d=d{i % 5} v={i} {i}" for i in range(40)]
    assert await _writer(_closing_proxy(10, requests)).write(lines) == []
    # 40 closed, nothing through, 20 closed, nothing through, then 10 + 10, then the other 20
    assert requests == [40, 0, 20, 0, 10, 10, 20, 0, 10, 10]


async def test_a_point_alone_over_the_silent_limit_is_rejected_with_413_after_its_tries() -> None:
    requests: list[int] = []
    lines = [f"m,d=d1 v={i} {i}" for i in range(4)]
    lines[2] = f'm,d=d1 text="{"x" * 2000}" 2'
    rejected = await _writer(_closing_proxy(10, requests)).write(lines)
    assert [(r.index, r.status) for r in rejected] == [(2, 413)]
    assert "connection closed" in rejected[0].reason
    alone = [n for n in requests if n == 1]
    assert len(alone) == 1 + LOST_CONNECTION_TRIES, "the good one alone, the large one 3 times"


async def test_a_connection_closed_under_a_write_of_nothing_too_is_retriable_at_once() -> None:
    """InfluxDB or the network down (a TCP proxy before a dead InfluxDB closes every
    connection): two requests, no split, nothing rejected."""
    requests: list[int] = []
    with pytest.raises(RetriableSinkError, match="connection lost"):
        await _writer(_closing_proxy(0, requests, closes_empty=True)).write(["m v=1 1"] * 40)
    assert requests == [40, 0]


async def test_a_connection_closed_once_loses_nothing() -> None:
    requests: list[int] = []
    stored: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        requests.append(len(_lines(req)) if req.content else 0)
        if len(requests) == 1:
            raise httpx.ReadError("Connection reset by peer")
        if req.content:
            stored.extend(_lines(req))
        return httpx.Response(204)

    lines = [f"m,d=d1 v={i} {i}" for i in range(10)]
    assert await _writer(handler).write(lines) == []
    assert stored == lines
    assert requests == [10, 0, 5, 5]


async def test_a_timeout_is_retriable_without_a_probe() -> None:
    requests: list[httpx.Request] = []

    def slow(req: httpx.Request) -> httpx.Response:
        requests.append(req)
        raise httpx.WriteTimeout("timed out", request=req)

    with pytest.raises(RetriableSinkError, match="unreachable"):
        await _writer(slow).write(["m v=1 1"] * 3)
    assert len(requests) == 1
