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
- An open alert without a lifecycle event for ``orphan_after_h`` (72 h; wall clock, from the
  ``last_event_at`` annotation, so a restart does not reset it) is an orphan: its device's
  state restarted (a rollback across a state layout change, docs/reliability.md) and no
  ``resolved`` will come. It is posted resolved and no longer re-sent. A live alert has
  heartbeats (nightly kinds: each night the engine can judge), and one whose device went quiet
  is resolved by the daemon's clock, so this ends alerts nothing keeps any more; should an
  event of it come after all (a wearer who missed three nights), it fires again.

What cannot be delivered goes to the dead-letter topic (``dl.stage=notify``), produced and
acknowledged before the offsets that carried it are committed, and is counted in
``vitalstream_notify_dead_letters{reason}``; the stream goes on:

- a record that is no alert event: ``malformed_alert_event``; an event whose times no date can
  hold: ``invalid_alert_event``;
- an alert Alertmanager refuses for what it carries (400/422, ``alertmanager_rejected``, the
  answer in ``dl.detail``): retrying the same request cannot help. Alertmanager stores the
  valid alerts of a batch it refuses and names one fault, so the batch is posted again one
  alert at a time to find the refused ones; the records that made each refused alert are
  dead-lettered (an open alert re-sent from memory has no record: its payload is the value,
  ``dl.offset`` -1). Unreachable, timeouts, 408, 429 and 5xx are retried with back-off.

A refusal of the endpoint is no alert's fault and dead-letters nothing: a redirect, 401, 403,
404, 405, 407, 413 (:class:`AlertmanagerConfigurationError`), or a 400/422 that hits every
alert of a batch posted alone with the same status (one alert alone: if Alertmanager refuses
a post of no alert too). notify then stalls: nothing committed, ``/readyz`` 503, an ERROR a
minute with the status, the post retried with back-off until the endpoint takes it again.

Dead letters are at least once: a crash between producing them and the commit produces them
again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord

from detectors.types import AlertEvent
from ingest.alertmanager.client import AlertmanagerClient
from ingest.alertmanager.mapping import LAST_EVENT_AT, iso, labels, postable
from ingest.errors import (
    AlertmanagerConfigurationError,
    AlertmanagerError,
    AlertmanagerRejectedError,
    ConfigError,
    RetriableAlertmanagerError,
)
from ingest.http_server import HealthServer
from ingest.kafka_io.deadletter import DeadLetter
from ingest.kafka_io.topics import create_missing_topics
from ingest.kafka_security import kafka_client_kwargs
from ingest.log import Throttle
from ingest.metrics import NotifyMetrics
from ingest.retry import Backoff
from ingest.settings import Settings

log = logging.getLogger(__name__)

Payload = dict[str, Any]
_decoder = msgspec.json.Decoder(AlertEvent)
# alerts of ours in Alertmanager: every one carries an alert_id label
OURS = 'alert_id=~".+"'
_T = TypeVar("_T")


@dataclass
class Posts:
    """What one batch of events posts: one payload per label set (the last event wins)."""

    payloads: dict[str, Payload] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)  # label sets posted as ended
    resolved_ids: list[str] = field(default_factory=list)
    # the records each label set's payload comes from: dead-lettered if Alertmanager refuses it
    sources: dict[str, list[ConsumerRecord[bytes, bytes]]] = field(default_factory=dict)

    def put(
        self,
        payload: Payload,
        *,
        ended: bool,
        source: ConsumerRecord[bytes, bytes] | None = None,
    ) -> None:
        key = _label_key(payload["labels"])
        self.payloads[key] = payload
        if source is not None:
            self.sources.setdefault(key, []).append(source)
        if ended:
            self.ended.add(key)
        else:
            self.ended.discard(key)

    def sources_of(self, payload: Payload) -> list[ConsumerRecord[bytes, bytes]]:
        return self.sources.get(_label_key(payload["labels"]), [])


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
        self._producer: AIOKafkaProducer | None = None  # dead letters
        self._last_resend = time.monotonic()
        self._reachable = False
        # while the endpoint refuses us (the configuration's fault): the refusal
        self._refusing: AlertmanagerConfigurationError | None = None
        self._error_log = Throttle(60.0)  # repeated ERRORs: once a minute
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
        if self._refusing is not None:
            return (
                f"Alertmanager refuses notify's requests (answered {self._refusing.status}): "
                "fix the configuration"
            )
        if not self._reachable:
            return "Alertmanager unreachable"
        return None

    async def check_alertmanager(self) -> None:
        """Fail at start with one line if the configured URL is no Alertmanager we may use (a
        4xx: a wrong path, or a proxy refusing us); an unreachable one is waited for later."""
        try:
            await self.client.status()
        except (AlertmanagerRejectedError, AlertmanagerConfigurationError) as exc:
            raise ConfigError(
                f"Alertmanager at {self.client.url} refuses its API (answered {exc.status} to "
                "GET /api/v2/status): check VITALSTREAM_ALERTMANAGER__URL"
            ) from None
        except RetriableAlertmanagerError as exc:
            log.warning("Alertmanager not reachable yet; retrying", extra={"error": str(exc)})

    async def run(self) -> None:
        s = self.settings
        try:
            await self.check_alertmanager()
        except ConfigError:
            await self.client.aclose()
            raise
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
        producer = AIOKafkaProducer(**kafka_client_kwargs(s), acks="all", enable_idempotence=True)
        await producer.start()
        self._producer = producer
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
            self._producer = None
            await consumer.stop()
            await producer.stop()
            await self.client.aclose()
            await http.stop()
            log.info("notify stopped")

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        n = self.settings.notify
        while not self._stop.is_set():
            if self._restore:
                await self._restore_active()
            if time.monotonic() - self._last_resend >= n.resend_interval_s:
                await self._resolve_orphans()
                await self._resend()
            batch = await consumer.getmany(timeout_ms=200, max_records=n.max_batch_events)
            records = [r for recs in batch.values() for r in recs]
            if records:
                await self._handle(consumer, batch)
            await self._update_lag(consumer)

    # ------------------------------------------------------------------ events

    async def _handle(self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, Any]) -> None:
        now_ms = int(time.time() * 1000)
        out, dead = self._collect(batch, now_ms)
        dead += await self._post(out)
        await self._send_dead_letters(dead)
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

    def _collect(
        self, batch: dict[TopicPartition, Any], now_ms: int
    ) -> tuple[Posts, list[DeadLetter]]:
        """The batch's events as what to post, and its records that are no valid event."""
        out = Posts()
        dead: list[DeadLetter] = []
        for tp, records in batch.items():
            for rec in records:
                try:
                    event = _decoder.decode(rec.value)
                except (msgspec.DecodeError, TypeError) as exc:  # TypeError: a null value
                    dead.append(self._dead_letter(rec, "malformed_alert_event", str(exc)))
                    continue
                try:
                    self._apply(event, tp.partition, now_ms, out, source=rec)
                except (ValueError, OverflowError, OSError) as exc:
                    # a time no datetime holds (postable raises before _apply changes state)
                    dead.append(self._dead_letter(rec, "invalid_alert_event", str(exc)))
        return out, dead

    def _dead_letter(
        self, rec: ConsumerRecord[bytes, bytes], reason: str, detail: str
    ) -> DeadLetter:
        self.metrics.dead_letters.labels(reason).inc()
        return DeadLetter(
            rec.key,
            rec.value,
            reason,
            detail[:300],
            rec.topic,
            rec.partition,
            rec.offset,
            stage="notify",
        )

    async def _post(self, out: Posts) -> list[DeadLetter]:
        """Post ``out``; the dead letters of the alerts Alertmanager refused."""
        dead: list[DeadLetter] = []
        refused: set[str] = set()
        for payload, exc in await self._deliver(list(out.payloads.values())):
            self._forget(payload)
            refused.add(_label_key(payload["labels"]))
            dead += [
                self._dead_letter(rec, "alertmanager_rejected", str(exc))
                for rec in out.sources_of(payload)
            ]
        accepted = out.payloads.keys() - refused
        ended = len(out.ended & accepted)
        self.metrics.sent.labels("firing").inc(len(accepted) - ended)
        self.metrics.sent.labels("resolved").inc(ended)
        return dead

    def _forget(self, payload: Payload) -> None:
        """Stop re-sending a refused alert (it would be refused every time)."""
        alert_id = payload["labels"].get("alert_id")
        kept = self._active.get(alert_id) if alert_id is not None else None
        if kept is not None and kept[1]["labels"] == payload["labels"]:
            del self._active[alert_id]

    def _apply(
        self,
        e: AlertEvent,
        partition: int,
        now_ms: int,
        out: Posts,
        *,
        source: ConsumerRecord[bytes, bytes] | None = None,
    ) -> None:
        """Record ``e`` (read from ``source``) in the open alerts and in what to post."""
        payload = postable(
            e, grafana_url=self.settings.alertmanager.grafana_url, now_ms=now_ms, ttl_ms=self.ttl_ms
        )
        previous = self._active.get(e.alert_id)
        if previous is not None and previous[1]["labels"] != labels(e):
            # a changed label (severity escalated) is another alert to Alertmanager: end the old
            out.put(_ended(previous[1], now_ms), ended=True, source=source)
        if e.state == "resolved":
            self._active.pop(e.alert_id, None)
            out.resolved_ids.append(e.alert_id)
        else:
            self._active[e.alert_id] = (partition, payload)
        out.put(payload, ended=e.state == "resolved", source=source)

    async def _deliver(
        self, payloads: list[Payload]
    ) -> list[tuple[Payload, AlertmanagerRejectedError]]:
        """Post ``payloads``; the ones Alertmanager refuses, each with its refusal.

        Transient failures, and refusals of the endpoint (the configuration's fault), are
        retried until Alertmanager takes the posts (or stop is requested: nothing is committed
        then). A refused alert is returned only when the refusal is the alert's own.
        """
        if not payloads:
            return []

        async def post_once() -> list[tuple[Payload, AlertmanagerRejectedError]]:
            refused = await self._post_finding_refused(payloads)
            fault = await self._refused_alike(payloads, refused)
            if fault is not None:
                raise fault
            return refused

        return await self._retrying(post_once, failing="Alertmanager post failed; retrying")

    async def _post_finding_refused(
        self, payloads: list[Payload]
    ) -> list[tuple[Payload, AlertmanagerRejectedError]]:
        """Post ``payloads``; the ones Alertmanager refuses for what they carry.

        Alertmanager stores the valid alerts of a batch it refuses and names only one fault,
        so a refused batch is posted again one alert at a time to find the refused ones
        (posting an alert again is idempotent).
        """
        try:
            await self._post_until_answered(payloads)
            return []
        except AlertmanagerRejectedError as exc:
            if len(payloads) == 1:
                return [(payloads[0], exc)]
            if self._error_log.due("batch_refused"):  # a stall would repeat it every retry
                log.error(
                    "Alertmanager refused a batch (retrying will not help); posting one by one",
                    extra={"error": str(exc), "alerts": len(payloads)},
                )
        refused: list[tuple[Payload, AlertmanagerRejectedError]] = []
        for payload in payloads:
            try:
                await self._post_until_answered([payload])
            except AlertmanagerRejectedError as exc:
                refused.append((payload, exc))
        return refused

    async def _refused_alike(
        self, payloads: list[Payload], refused: list[tuple[Payload, AlertmanagerRejectedError]]
    ) -> AlertmanagerError | None:
        """Why the refusals of ``payloads`` are no alert's fault, or ``None`` if they are.

        A refusal names its alert when other alerts of the batch went through, or when the
        status differs among them. Every alert refused alone with the same status is the
        endpoint's doing (a proxy, or a setting that spoils every alert); a lone alert tells
        nothing on its own, so then a post of no alert decides: refused too, the endpoint's
        fault. A :class:`RetriableAlertmanagerError` means that post could not tell (retry).
        """
        if not refused or len(refused) < len(payloads):
            return None
        statuses = {exc.status for _, exc in refused}
        if len(statuses) > 1:
            return None
        first = refused[0][1]
        if len(payloads) > 1:
            return AlertmanagerConfigurationError(
                f"Alertmanager refused each of the {len(payloads)} alerts of a batch alone, "
                f"all with {first.status}: {first}",
                first.status,
            )
        try:
            await self.client.accepts_posts()
        except AlertmanagerRejectedError as exc:
            return AlertmanagerConfigurationError(
                f"Alertmanager refuses even a post of no alert: {exc}", exc.status
            )
        except (AlertmanagerConfigurationError, RetriableAlertmanagerError) as exc:
            return exc
        if self._endpoint_answers():
            log.info("Alertmanager accepts posts again")
        return None

    async def _post_until_answered(self, payloads: list[Payload]) -> None:
        """One post, retried with back-off while the failure is transient or the endpoint
        refuses us; a refusal of the alerts (:class:`AlertmanagerRejectedError`) is raised at
        once."""
        await self._retrying(
            lambda: self.client.post_alerts(payloads),
            failing="Alertmanager post failed; retrying",
            recovered=self._posts_accepted,
        )

    def _posts_accepted(self, failed: bool) -> None:
        """A post went through (after ``failed`` attempts, if true)."""
        if self._endpoint_answers() or failed:
            # Alertmanager may have restarted and forgotten what it held: re-post the open ones
            log.info("Alertmanager accepts posts again")
            self._last_resend = float("-inf")

    async def _retrying(
        self,
        attempt: Callable[[], Awaitable[_T]],
        *,
        failing: str,
        retry_on: type[Exception] = RetriableAlertmanagerError,
        recovered: Callable[[bool], None] | None = None,
    ) -> _T:
        """What ``attempt()`` returns once it succeeds: the one retry loop of notify.

        Between attempts it waits with back-off (:class:`ingest.retry.Backoff`), fetching
        paused but the consumer polled, so notify keeps its group membership (a stop request
        ends the wait with :class:`_StopRequestedError`: nothing is committed then).

        - a refusal of the endpoint (:class:`AlertmanagerConfigurationError`, the
          configuration's fault): not ready, an ERROR once a minute, retried;
        - a failure of ``retry_on`` (an Alertmanager one makes notify not ready): ``failing``
          at WARNING when it starts, then at most once a minute while it lasts, retried;
        - a refusal of the request (:class:`AlertmanagerRejectedError`): counted, raised at
          once (retrying the same request cannot help); anything else is raised too.

        Failed and retried Alertmanager calls are counted in the notify metrics; a Kafka
        failure is not theirs. ``recovered(failed)`` is called on success, ``failed`` saying
        whether an attempt failed first.
        """
        backoff = self._backoff()
        warnings = Throttle(60.0)
        failed = False
        while True:
            try:
                result = await attempt()
            except AlertmanagerRejectedError:
                self._reachable = True  # it answered
                self.metrics.failed.inc()
                raise
            except AlertmanagerConfigurationError as exc:
                self._endpoint_refuses(exc)
                ours = True
            except retry_on as exc:
                ours = isinstance(exc, AlertmanagerError)
                if ours:
                    self._reachable = False
                    self.metrics.failed.inc()
                if warnings.due(failing):
                    error = str(exc) if ours else repr(exc)  # a KafkaError's str may be empty
                    log.warning(failing, extra={"error": error})
            else:
                if recovered is not None:
                    recovered(failed)
                return result
            failed = True
            await self._wait_polling(backoff.next_delay())
            if ours:
                self.metrics.retried.inc()

    def _endpoint_refuses(self, exc: AlertmanagerConfigurationError) -> None:
        """The endpoint refuses us: not ready, and an ERROR once a minute while it lasts (the
        error names the status and the request, never the URL or its credentials)."""
        self._reachable = True  # it answered
        self._refusing = exc
        self.metrics.failed.inc()
        if self._error_log.due("endpoint_refuses"):
            log.error(
                "Alertmanager refuses notify's requests; fix the configuration (retrying, "
                "nothing committed or dead-lettered meanwhile)",
                extra={"status": exc.status, "error": str(exc)},
            )

    def _endpoint_answers(self) -> bool:
        """A request succeeded: reachable, and no longer refused. Whether it was refused."""
        self._reachable = True
        if self._refusing is None:
            return False
        self._refusing = None
        self._error_log = Throttle(60.0)  # the next fault is told at once
        return True

    def _backoff(self) -> Backoff:
        n = self.settings.notify
        return Backoff(base_s=n.retry_initial_s, cap_s=n.retry_max_s)

    async def _send_dead_letters(self, dead: list[DeadLetter]) -> None:
        """Produce ``dead`` and wait for every acknowledgement (before the commit), retrying
        while Kafka fails."""
        if not dead:
            return
        # one line a batch: a refused batch may dead-letter hundreds of alerts
        reasons = collections.Counter(d.reason for d in dead)
        log.error("alert events dead-lettered", extra={"reasons": dict(sorted(reasons.items()))})
        producer = self._producer
        assert producer is not None, "dead letters before run() started the producer"
        topic = self.settings.topics.dead_letter

        async def produce_all() -> None:
            futures = [
                await producer.send(topic, d.value, key=d.key, headers=d.headers()) for d in dead
            ]
            await asyncio.gather(*futures)

        await self._retrying(
            produce_all, failing="producing dead letters failed; retrying", retry_on=KafkaError
        )

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
        await self._post_kept(
            [(part, {**p, "endsAt": ends}) for part, p in self._active.values()], "resent"
        )
        self._last_resend = time.monotonic()

    async def _resolve_orphans(self) -> None:
        """Resolve the open alerts without an event for ``orphan_after_h`` (module docstring)."""
        now_ms = int(time.time() * 1000)
        limit_ms = self.settings.notify.orphan_after_h * 3_600_000
        orphans = {
            alert_id: kept
            for alert_id, kept in self._active.items()
            if now_ms - _last_event_ms(kept[1], now_ms) > limit_ms
        }
        if not orphans:
            return
        for alert_id in orphans:
            del self._active[alert_id]
        ended = [(part, _ended(p, now_ms)) for part, p in orphans.values()]
        accepted = await self._post_kept(ended, "resolved")
        self.metrics.orphans.inc(accepted)
        self.metrics.active.set(len(self._active))
        log.warning(
            "open alerts without an event resolved as orphans (a device state restarted?)",
            extra={"alerts": len(orphans), "orphan_after_h": self.settings.notify.orphan_after_h},
        )
        await self._expire_ack_silences(orphans)

    async def _post_kept(self, kept: list[tuple[int, Payload]], sent: str) -> int:
        """Post alerts kept in memory (``(partition, payload)``), counted as ``sent``; those
        Alertmanager refuses are forgotten and dead-lettered. How many it accepted."""
        size = self.settings.notify.max_batch_events
        dead: list[DeadLetter] = []
        accepted = 0
        for i in range(0, len(kept), size):
            chunk = kept[i : i + size]
            refused = await self._deliver([p for _, p in chunk])
            partition = {id(p): part for part, p in chunk}
            for payload, exc in refused:
                self._forget(payload)
                dead.append(self._dead_resend(payload, partition[id(payload)], str(exc)))
            self.metrics.sent.labels(sent).inc(len(chunk) - len(refused))
            accepted += len(chunk) - len(refused)
        await self._send_dead_letters(dead)
        return accepted

    def _dead_resend(self, payload: Payload, partition: int, detail: str) -> DeadLetter:
        """The dead letter of an open alert re-sent from memory: no record, so its payload."""
        reason = "alertmanager_rejected"
        self.metrics.dead_letters.labels(reason).inc()
        device = str(payload["labels"].get("device", ""))
        return DeadLetter(
            device.encode() or None,
            json.dumps(payload).encode(),
            reason,
            detail[:300],
            self.settings.topics.alerts,
            partition,
            -1,
            stage="notify",
        )

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
        try:
            found = await self._retrying(
                lambda: self.client.alerts([OURS]),
                failing="cannot read Alertmanager's alerts yet",
                recovered=self._queries_answered,
            )
        except AlertmanagerRejectedError as exc:
            # not retried: they are re-sent only once their next events arrive
            log.error(
                "Alertmanager refused the query for open alerts; they are not re-sent",
                extra={"error": str(exc), "partitions": sorted(wanted)},
            )
            return
        restored = 0
        now_ms = int(time.time() * 1000)
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
                # posted by a notify before last_event_at: orphaned counting from now
                when = iso(_last_event_ms(payload, now_ms))
                payload["annotations"] = {**payload.get("annotations", {}), LAST_EVENT_AT: when}
                self._active[alert_id] = (part, payload)
                restored += 1
        self.metrics.active.set(len(self._active))
        log.info(
            "open alerts taken back from Alertmanager",
            extra={"partitions": sorted(wanted), "alerts": restored, "of": len(found)},
        )

    def _queries_answered(self, failed: bool) -> None:
        """A query went through: say so if the endpoint refused us before."""
        if self._endpoint_answers():
            log.info("Alertmanager answers again")

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


def _last_event_ms(payload: Payload, now_ms: int) -> int:
    """When notify read the latest event of a kept alert (its ``last_event_at`` annotation);
    ``now_ms`` for one posted by a notify before that annotation (restored from Alertmanager),
    which then counts from the restore.

    >>> _last_event_ms({"annotations": {"last_event_at": "2026-01-01T00:00:00+00:00"}}, 5)
    1767225600000
    >>> _last_event_ms({"annotations": {}}, 5)
    5
    """
    text = payload.get("annotations", {}).get(LAST_EVENT_AT)
    if not isinstance(text, str):
        return now_ms
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return now_ms


async def run_notify(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT; what Alertmanager accepted is committed, nothing else."""
    notifier = Notifier(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, notifier.request_stop)
    await notifier.run()
