"""``vitalstream notify``: keep Alertmanager in step with the alerts topic.

Delivery, and why nothing is lost or notified twice:

- A consumer of its own group reads the alerts topic with ``read_committed`` (the daemon writes
  it in transactions). A batch of events becomes one ``POST /api/v2/alerts``; the batch's
  offsets are committed only after Alertmanager accepted it. While Alertmanager is down the post
  is retried with capped exponential backoff, the partitions paused (so memory holds one batch)
  and the consumer still polled (so it keeps its group membership).
- ``open``/``ongoing`` posts the alert valid for ``resend_interval_s * ttl_factor``; every
  ``resend_interval_s`` all open alerts are posted again, so Alertmanager never times one out
  while notify runs, and one it lost (a restart: Alertmanager keeps alerts in memory only) is
  back within one interval. ``resolved`` posts it with ``endsAt``.
- Alertmanager identifies an alert by its labels and remembers, per group, which alerts it has
  notified (its notification log). Posting the same labels again, after a notify restart that
  re-reads uncommitted events or from several notify instances, updates the alert and sends no
  second notification (tests/integration/test_notify.py proves it).
- After a (re)start or rebalance, the open alerts of the partitions it got are taken from
  Alertmanager itself, so they are kept alive without re-reading the topic from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.partitioner import murmur2

from detectors.types import AlertEvent
from ingest.alertmanager.client import AlertmanagerClient, AlertmanagerError
from ingest.alertmanager.mapping import iso, labels, postable
from ingest.http_server import HealthServer
from ingest.kafka_io.topics import create_missing_topics
from ingest.kafka_security import kafka_client_kwargs
from ingest.metrics import NotifyMetrics
from ingest.settings import Settings

log = logging.getLogger(__name__)

Payload = dict[str, Any]
_decoder = msgspec.json.Decoder(AlertEvent)
# alerts of ours in Alertmanager: every one carries an alert_id label
OURS = 'alert_id=~".+"'


@dataclass
class Posts:
    """What one batch of events posts: one payload per label set (the last event wins)."""

    payloads: dict[str, Payload] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)  # label sets posted as ended
    resolved_ids: list[str] = field(default_factory=list)

    def put(self, payload: Payload, *, ended: bool) -> None:
        key = _label_key(payload["labels"])
        self.payloads[key] = payload
        if ended:
            self.ended.add(key)
        else:
            self.ended.discard(key)


class _StopRequestedError(Exception):
    """Stop was requested while a post was being retried."""


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (the daemon keys alerts by
    device), so alerts restored from Alertmanager are kept by their partition's owner."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class Notifier:
    """The alerts topic -> Alertmanager, one batch at a time."""

    def __init__(self, settings: Settings, client: AlertmanagerClient | None = None) -> None:
        self.settings = settings
        n = settings.notify
        self.client = client or AlertmanagerClient(
            settings.alertmanager_url, timeout_s=settings.alertmanager.timeout_s
        )
        self.metrics = NotifyMetrics()
        self.ttl_ms = int(n.resend_interval_s * n.ttl_factor * 1000)
        # open alerts by alert_id: (partition, payload last posted)
        self._active: dict[str, tuple[int, Payload]] = {}
        self._restore: set[int] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._stop = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._last_resend = time.monotonic()
        self._reachable = False
        self.http_port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        self._stop.set()

    def ready(self) -> bool:
        return self.not_ready_reason() is None

    def not_ready_reason(self) -> str | None:
        """Why ``/readyz`` fails, or ``None`` when notify consumes and Alertmanager answers."""
        if self._consumer is None:
            return "not consuming yet"
        if not self._reachable:
            return "Alertmanager unreachable"
        return None

    async def run(self) -> None:
        s = self.settings
        await create_missing_topics(s)
        http = HealthServer(
            s.notify.http_host,
            s.notify.http_port,
            not_ready_reason=self.not_ready_reason,
            metrics=self.metrics.exposition,
        )
        await http.start()
        self.http_port = http.port
        consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(s),
            group_id=s.notify.group_id,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        consumer.subscribe([s.topics.alerts], listener=_Listener(self))
        await consumer.start()
        self._consumer = consumer
        log.info(
            "notify started", extra={"alertmanager": self.client.url, "topic": s.topics.alerts}
        )
        try:
            await self._loop(consumer)
        except _StopRequestedError:
            pass
        finally:
            self._consumer = None
            await consumer.stop()
            await self.client.aclose()
            await http.stop()
            log.info("notify stopped")

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        n = self.settings.notify
        while not self._stop.is_set():
            if self._restore:
                await self._restore_active()
            if time.monotonic() - self._last_resend >= n.resend_interval_s:
                await self._resend()
            batch = await consumer.getmany(timeout_ms=200, max_records=n.max_batch_events)
            records = [r for recs in batch.values() for r in recs]
            if records:
                await self._handle(consumer, batch)
            await self._update_lag(consumer)

    # ------------------------------------------------------------------ events

    async def _handle(self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, Any]) -> None:
        now_ms = int(time.time() * 1000)
        out = Posts()
        for tp, records in batch.items():
            for rec in records:
                try:
                    event = _decoder.decode(rec.value)
                except (msgspec.DecodeError, TypeError):
                    self.metrics.undecodable.inc()
                    log.error(
                        "alerts topic record is no alert event; skipped",
                        extra={"partition": tp.partition, "offset": rec.offset},
                    )
                    continue
                self._apply(event, tp.partition, now_ms, out)
        await self._deliver(list(out.payloads.values()))
        ended = len(out.ended & out.payloads.keys())
        self.metrics.sent.labels("firing").inc(len(out.payloads) - ended)
        self.metrics.sent.labels("resolved").inc(ended)
        await self._expire_ack_silences(out.resolved_ids)
        # the position, not the last offset + 1: it is past the transaction markers too
        offsets = {
            tp: max(recs[-1].offset + 1, await consumer.position(tp))
            for tp, recs in batch.items()
            if recs
        }
        self._positions.update(offsets)
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # a rebalance took the partitions: their new owner posts the events again, and
            # Alertmanager takes the repeats as the same alerts
            log.warning("commit failed; the new owner re-posts", extra={"error": repr(exc)})
        self.metrics.active.set(len(self._active))

    def _apply(self, e: AlertEvent, partition: int, now_ms: int, out: Posts) -> None:
        """Record ``e`` in the open alerts and in what to post (``out``)."""
        payload = postable(
            e, grafana_url=self.settings.alertmanager.grafana_url, now_ms=now_ms, ttl_ms=self.ttl_ms
        )
        previous = self._active.get(e.alert_id)
        if previous is not None and previous[1]["labels"] != labels(e):
            # a changed label (severity escalated) is another alert to Alertmanager: end the old
            out.put(_ended(previous[1], now_ms), ended=True)
        if e.state == "resolved":
            self._active.pop(e.alert_id, None)
            out.resolved_ids.append(e.alert_id)
        else:
            self._active[e.alert_id] = (partition, payload)
        out.put(payload, ended=e.state == "resolved")

    async def _deliver(self, payloads: list[Payload]) -> None:
        """Post until Alertmanager accepts (or stop is requested: nothing is committed then)."""
        if not payloads:
            return
        delay = self.settings.notify.retry_initial_s
        failed = False
        while True:
            try:
                await self.client.post_alerts(payloads)
                break
            except AlertmanagerError as exc:
                self._reachable = False
                self.metrics.failed.inc()
                if not failed:
                    log.warning("Alertmanager post failed; retrying", extra={"error": str(exc)})
                failed = True
                await self._wait_polling(delay)
                self.metrics.retried.inc()
                delay = min(delay * 2, self.settings.notify.retry_max_s)
        self._reachable = True
        if failed:
            # Alertmanager may have restarted and forgotten what it held: re-post the open ones
            log.info("Alertmanager accepts posts again")
            self._last_resend = float("-inf")

    async def _wait_polling(self, seconds: float) -> None:
        """Sleep ``seconds`` with fetching paused but the consumer polled (group membership)."""
        consumer = self._consumer
        deadline = time.monotonic() + seconds
        if consumer is not None:
            consumer.pause(*consumer.assignment())
        try:
            while (left := deadline - time.monotonic()) > 0:
                if self._stop.is_set():
                    raise _StopRequestedError
                if consumer is not None:
                    await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
                else:
                    await asyncio.sleep(min(left, 0.5))
        finally:
            if consumer is not None:
                consumer.resume(*consumer.assignment())

    async def _resend(self) -> None:
        """Post every open alert again with a fresh ``endsAt``."""
        self._last_resend = time.monotonic()
        if not self._active:
            return
        ends = iso(int(time.time() * 1000) + self.ttl_ms)
        payloads = [{**p, "endsAt": ends} for _, p in self._active.values()]
        size = self.settings.notify.max_batch_events
        for i in range(0, len(payloads), size):
            chunk = payloads[i : i + size]
            await self._deliver(chunk)
            self.metrics.sent.labels("resent").inc(len(chunk))
        self._last_resend = time.monotonic()

    async def _expire_ack_silences(self, alert_ids: Iterable[str]) -> None:
        """An acknowledgement silences its alert until it resolves: expire those silences now.
        Best effort (a silence matches only its own alert_id anyway)."""
        for alert_id in alert_ids:
            try:
                for sil in await self.client.silences([f'alert_id="{alert_id}"']):
                    if sil.get("status", {}).get("state") in ("active", "pending"):
                        await self.client.expire_silence(sil["id"])
            except AlertmanagerError as exc:
                log.warning("could not expire an ack silence", extra={"error": str(exc)})

    # ------------------------------------------------------------------ rebalances

    def assigned(self, partitions: set[int]) -> None:
        self._restore |= partitions

    def revoked(self, partitions: set[int]) -> None:
        self._restore -= partitions
        self._positions = {
            tp: o for tp, o in self._positions.items() if tp.partition not in partitions
        }
        for alert_id, (part, _) in list(self._active.items()):
            if part in partitions:
                del self._active[alert_id]

    async def _restore_active(self) -> None:
        """Keep alive the open alerts Alertmanager holds for the partitions we were given."""
        wanted, self._restore = self._restore, set()
        consumer = self._consumer
        assert consumer is not None
        total = len(consumer.partitions_for_topic(self.settings.topics.alerts) or ()) or 1
        delay = self.settings.notify.retry_initial_s
        while True:
            try:
                found = await self.client.alerts([OURS])
                break
            except AlertmanagerError as exc:
                self.metrics.failed.inc()
                log.warning("cannot read Alertmanager's alerts yet", extra={"error": str(exc)})
                await self._wait_polling(delay)
                self.metrics.retried.inc()
                delay = min(delay * 2, self.settings.notify.retry_max_s)
        self._reachable = True
        restored = 0
        for a in found:
            lab = a.get("labels", {})
            alert_id, device = lab.get("alert_id"), lab.get("device")
            if not alert_id or not device or alert_id in self._active:
                continue
            part = key_partition(device.encode(), total)
            if part in wanted:
                payload: Payload = {
                    k: a[k] for k in ("labels", "annotations", "startsAt") if k in a
                }
                payload["generatorURL"] = a.get("generatorURL", "")
                self._active[alert_id] = (part, payload)
                restored += 1
        self.metrics.active.set(len(self._active))
        log.info(
            "open alerts taken back from Alertmanager",
            extra={"partitions": sorted(wanted), "alerts": restored, "of": len(found)},
        )

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Committed alert events between our position and the log's stable end."""
        lag = 0
        for tp in consumer.assignment():
            end = consumer.last_stable_offset(tp)
            if end is None:
                end = consumer.highwater(tp)
            if end is None:
                continue
            if tp not in self._positions:
                with contextlib.suppress(KafkaError, TimeoutError):
                    self._positions[tp] = await asyncio.wait_for(consumer.position(tp), 5.0)
            lag += max(0, end - self._positions.get(tp, end))
        self.metrics.lag.set(lag)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, notifier: Notifier) -> None:
        self._n = notifier

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._n.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._n.assigned({tp.partition for tp in assigned})


def _label_key(lab: dict[str, str]) -> str:
    return "\x1f".join(f"{k}={v}" for k, v in sorted(lab.items()))


def _ended(payload: Payload, now_ms: int) -> Payload:
    return {**payload, "endsAt": iso(now_ms)}


async def run_notify(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT; what Alertmanager accepted is committed, nothing else."""
    notifier = Notifier(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, notifier.request_stop)
    await notifier.run()
