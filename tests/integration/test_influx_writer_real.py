"""The writer against the real InfluxDB: bad points isolated, good points stored, idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from ingest.errors import RetriableSinkError
from ingest.influx.writer import InfluxWriter
from ingest.settings import Settings
from tests.integration.harness import create_bucket, flux, isolated_settings

T0 = 1_767_225_600_000


async def test_type_conflict_rejects_only_the_bad_points_and_rewrites_are_idempotent(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    w = InfluxWriter(
        url=s.influx_url,
        org=s.influxdb.org,
        bucket=s.influxdb.bucket,
        token=s.influx_token(),
        max_lines=7,
    )
    try:
        good = [f"hr,device=d{i % 3} value={60 + i}.0 {T0 + i}" for i in range(30)]
        assert await w.write(good) == []
        mixed = [f"hr,device=d{i % 3} value={60 + i}.0 {T0 + i}" for i in range(30, 40)]
        mixed[4] = f'hr,device=d1 value="a string" {T0 + 34}'  # field type conflict
        mixed[8] = "this is not line protocol"
        rejected = await w.write(mixed + good)  # the good ones again: overwrite, not duplicate
    finally:
        await w.aclose()
    # InfluxDB answers 422 for a type conflict (partial write) and 400 for a parse error
    assert {r.index: r.status for r in rejected} == {4: 422, 8: 400}
    assert "type conflict" in next(r.reason for r in rejected if r.index == 4)
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "hr") |> group() |> count()',
    )
    assert rows[0]["_value"] == 38, "30 good + 8 mixed good, each stored once"


@contextlib.asynccontextmanager
async def _size_limit(
    upstream: str,
    max_body_bytes: int | None,
    *,
    close: bool = False,
    sizes: list[int] | None = None,
) -> AsyncIterator[str]:
    """An HTTP proxy before ``upstream`` that answers 413 to a request whose body is over
    ``max_body_bytes`` (as nginx's ``client_max_body_size`` does) and forwards the rest.
    InfluxDB 2.7 itself has no request-size setting (its launcher never sets the write
    handler's limit), so the limit a deployment meets is a proxy's.

    ``close``: instead of answering 413, read that much of the body and close the connection
    without an answer, as some proxies and load balancers do (``max_body_bytes=None``: every
    request, as a TCP proxy before a dead InfluxDB). ``sizes`` gets each request's body size.
    """
    client = httpx.AsyncClient(base_url=upstream)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *header_lines = head.rstrip("\r\n").split("\r\n")
                method, target, _ = request_line.split(" ")
                headers = dict(line.split(": ", 1) for line in header_lines)
                size = int(headers.get("Content-Length", headers.get("content-length", "0")))
                if sizes is not None:
                    sizes.append(size)
                over = max_body_bytes is None or size > max_body_bytes
                if over and close:
                    await reader.readexactly(min(size, max_body_bytes or 0))
                    return  # closed, the rest of the body unread, no answer
                body = await reader.readexactly(size)
                if over:
                    status, content = 413, b'{"message":"request entity too large"}'
                else:
                    keep = {k: v for k, v in headers.items() if k.lower() != "host"}
                    resp = await client.request(method, target, content=body, headers=keep)
                    status, content = resp.status_code, resp.content
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Length: {len(content)}\r\n"
                    "Content-Type: application/json\r\n\r\n".encode()
                    + content
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with client, server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("close", [False, True], ids=["answers-413", "closes-the-connection"])
async def test_a_request_size_limit_splits_batches_and_rejects_a_point_too_large_alone(
    live_stack: Settings, unique_name: str, close: bool
) -> None:
    """A proxy with a 4 KiB limit: every point is stored through smaller requests, and the
    one point over the limit alone is rejected with 413 (to a dead letter). A proxy that
    closes the connection on a body over it instead of answering 413 ends the same, each
    closed connection followed by a write of nothing, the large point rejected after its
    tries, instead of the write being retried for ever."""
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    lines = [f"hr,device=d{i % 7} value={60 + i % 50}.0 {T0 + i}" for i in range(3000)]
    huge = 1000
    lines[huge] = f'note,device=d1 text="{secrets.token_hex(8000)}" {T0}'  # alone over the limit
    sizes: list[int] = []
    async with _size_limit(s.influx_url, 4096, close=close, sizes=sizes) as url:
        w = InfluxWriter(
            url=url, org=s.influxdb.org, bucket=s.influxdb.bucket, token=s.influx_token()
        )
        try:
            rejected = await w.write(lines)
        finally:
            await w.aclose()
    assert [(r.index, r.status) for r in rejected] == [(huge, 413)]
    over = [n for n in sizes if n > 4096]
    assert over, "the proxy refused requests"
    if close:
        assert "connection closed" in rejected[0].reason
        assert sizes.count(0) == len(over), "each closed connection, then a write of nothing"
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "hr") |> group() |> count()',
    )
    assert rows[0]["_value"] == 2999, "every other point stored, through requests under 4 KiB"


async def test_a_proxy_closing_every_connection_is_retriable_after_two_requests(
    live_stack: Settings, unique_name: str
) -> None:
    """InfluxDB down behind a TCP proxy (every connection closed, a write of nothing too): a
    retriable failure at once, nothing split, nothing rejected."""
    s = isolated_settings(live_stack, unique_name)
    sizes: list[int] = []
    lines = [f"hr,device=d{i % 7} value={60 + i % 50}.0 {T0 + i}" for i in range(3000)]
    async with _size_limit(s.influx_url, None, close=True, sizes=sizes) as url:
        w = InfluxWriter(url=url, org="o", bucket="b", token="t")
        try:
            with pytest.raises(RetriableSinkError, match="connection lost"):
                await w.write(lines)
        finally:
            await w.aclose()
    assert len(sizes) == 2
    assert sizes[1] == 0
