"""Helpers for the notification tests: a webhook receiver, a private Alertmanager, a proxy in
front of one, and readings that make the daemon raise (and later resolve) a ``device_silent``
alert."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiokafka.partitioner import murmur2

from ingest.alertmanager.notifier import Notifier
from ingest.kafka_io import offsets
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings
from ingest.stack.alertmanager import AlertmanagerService, RouteTimings
from messages import Metric, encode_reading
from tests.integration.harness import running

MIN = 60_000
HOUR = 60 * MIN


@dataclass
class Notification:
    receiver: str  # the path the receiver posted to: urgent, wearer, technician
    body: dict[str, Any]

    def alerts(self, alert_id: str, status: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.body.get("alerts", [])
            if a["labels"].get("alert_id") == alert_id and a["status"] == status
        ]


@dataclass
class Webhook:
    """A local HTTP receiver of Alertmanager's webhook notifications."""

    url: str
    received: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def about(self, alert_id: str, status: str) -> list[Notification]:
        """Notifications that report ``alert_id`` with ``status`` (firing or resolved)."""
        with self.lock:
            return [n for n in self.received if n.alerts(alert_id, status)]

    def wait_for(self, alert_id: str, status: str, timeout_s: float = 60.0) -> Notification:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.about(alert_id, status)
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no {status} notification for {alert_id} within {timeout_s} s")


@contextmanager
def webhook_receiver() -> Iterator[Webhook]:
    hook: Webhook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with hook.lock:
                hook.received.append(Notification(self.path.strip("/"), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook = Webhook(f"http://127.0.0.1:{server.server_address[1]}/")
    with _serving(server):
        yield hook


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[None]:
    """``server`` answering in a thread of its own; shut down after."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class PathProxy:
    """A reverse proxy that forwards ``<prefix>/...`` to an Alertmanager and answers 404 to any
    other path, as a proxy in front of Alertmanager does when its route changes under us."""

    url: str  # what clients use: this proxy's address
    upstream: str
    prefix: str


@contextmanager
def path_proxy(upstream: str, prefix: str) -> Iterator[PathProxy]:
    proxy: PathProxy

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if not self.path.startswith(proxy.prefix + "/"):
                self.send_response(404)
                self.send_header("Content-Length", "19")
                self.end_headers()
                self.wfile.write(b"404 page not found\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            answer = httpx.request(
                self.command,
                proxy.upstream + self.path.removeprefix(proxy.prefix),
                content=self.rfile.read(length) if length else None,
                headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                timeout=10,
            )
            self.send_response(answer.status_code)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def do_DELETE(self) -> None:
            self._forward()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy = PathProxy(f"http://127.0.0.1:{server.server_address[1]}", upstream, prefix)
    with _serving(server):
        yield proxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_alertmanager(
    base: Settings, home: Path, webhook: Webhook, timings: RouteTimings
) -> Iterator[tuple[Settings, AlertmanagerService]]:
    """The stack's Alertmanager binary and routing example, on a port, data dir and webhook of
    this test's own, with short timings. Yields settings that point at it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    am_settings = base.alertmanager.model_copy(update={"webhook_url": webhook.url, "url": None})
    local = base.model_copy(update={"alertmanager": am_settings})
    service = AlertmanagerService(local, home=home, port=port, timings=timings)
    if not service.installed():
        service.install()
    service.start()
    try:
        service.wait_ready(time.monotonic() + 60)
        pointed = base.model_copy(
            update={"alertmanager": am_settings.model_copy(update={"url": url})}
        )
        yield pointed, service
    finally:
        service.stop()


QUICK = RouteTimings(
    group_wait="1s",
    group_interval="1s",
    repeat_interval="1h",
    urgent_group_wait="1s",
    urgent_repeat_interval="1h",
    technician_repeat_interval="1h",
)


def with_notify(s: Settings, **notify: object) -> Settings:
    return s.model_copy(update={"notify": s.notify.model_copy(update={"http_port": 0, **notify})})


@contextlib.asynccontextmanager
async def running_notify(s: Settings) -> AsyncIterator[Notifier]:
    notifier = Notifier(s)
    async with running(notifier, "notify"):
        yield notifier


async def notify_caught_up(s: Settings, group_id: str, timeout_s: float = 90.0) -> None:
    """Wait until ``group_id`` committed the whole alerts topic (committed = accepted)."""
    ends = await offsets.end_offsets(kafka_client_kwargs(s), s.topics.alerts)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = await offsets.committed_offsets(kafka_client_kwargs(s), s.topics.alerts, group_id)
        if all(done.get(p, 0) >= end for p, end in ends.items()):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"notify group {group_id} did not commit the alerts topic")


def partition_of(device: str, partitions: int) -> int:
    return (murmur2(device.encode()) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class SilentScript:
    """Readings for two devices of one partition: ``quiet`` stops sending for a while (the
    daemon raises ``device_silent`` for it, on the partition's stream time kept going by
    ``companion``), then sends again (the alert resolves)."""

    quiet: str
    companion: str
    t0: int

    @classmethod
    def make(cls, tag: str, partitions: int, hours_ago: int = 6) -> SilentScript:
        """Readings that start ``hours_ago`` (at least 4: event time must not reach the future)."""
        ids = [f"{tag}-{i}" for i in range(64)]
        quiet = ids[0]
        companion = next(
            d for d in ids[1:] if partition_of(d, partitions) == partition_of(quiet, partitions)
        )
        t0 = (int(time.time() * 1000) - hours_ago * HOUR) // MIN * MIN
        return cls(quiet, companion, t0)

    def _readings(
        self, start: int, end: int, sends: Callable[[str, int], bool]
    ) -> list[tuple[bytes | None, bytes]]:
        out: list[tuple[bytes | None, bytes]] = []
        for t in range(start, end, 30_000):
            for device in (self.quiet, self.companion):
                if sends(device, t):
                    value = encode_reading(device, t, Metric.HEART_RATE, 60.0 + t // 30_000 % 7)
                    out.append((device.encode(), value))
        return out

    def silence(self) -> list[tuple[bytes | None, bytes]]:
        """Both send for an hour, then only the companion for two more (quiet goes silent)."""
        quiet_until = self.t0 + HOUR
        return self._readings(
            self.t0 + 7_000,
            self.t0 + 3 * HOUR,
            lambda d, t: d == self.companion or t <= quiet_until,
        )

    def comeback(self) -> list[tuple[bytes | None, bytes]]:
        """Both send again for half an hour (quiet's alert resolves)."""
        return self._readings(self.t0 + 3 * HOUR, self.t0 + 3 * HOUR + 30 * MIN, lambda d, t: True)
