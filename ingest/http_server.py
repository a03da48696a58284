"""``/healthz`` (the process is alive), ``/readyz`` (consuming and InfluxDB reachable) and
Prometheus ``/metrics``, on a tiny asyncio HTTP server (no framework needed for three routes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        not_ready_reason: Callable[[], str | None],
        metrics: Callable[[], bytes],
    ) -> None:
        self._host, self._port = host, port
        self._not_ready_reason, self._metrics = not_ready_reason, metrics
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, path, *_ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if method != "GET":
                status, body, ctype = 405, b"method not allowed\n", "text/plain"
            elif path == "/healthz":
                status, body, ctype = 200, b"ok\n", "text/plain"
            elif path == "/readyz":
                reason = self._not_ready_reason()
                status, body, ctype = (
                    (200, b"ready\n", "text/plain")
                    if reason is None
                    else (503, f"not ready: {reason}\n".encode(), "text/plain")
                )
            elif path == "/metrics":
                status, body = 200, self._metrics()
                ctype = "text/plain; version=0.0.4; charset=utf-8"
            else:
                status, body, ctype = 404, b"not found\n", "text/plain"
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
