"""The ingest daemon: Kafka -> per-device detection -> InfluxDB, at least once, never losing data.

One asyncio task polls Kafka (``getmany``) and scores what arrives into a *pending* buffer; a
*checkpoint* then runs in the background, in this order:

1. write every point of the buffer to InfluxDB (idempotent: a replay overwrites);
2. produce dead-letter, alert and device-state records, and wait for their acks;
3. commit the offsets the buffer covers.

An offset is therefore committed only after everything derived from the records below it is
durable. The next checkpoint's points are written while the previous one's Kafka work (2, 3)
runs, but one write at a time and one commit at a time, in order
(:meth:`IngestDaemon._checkpoint`), so InfluxDB is not left idle during a transaction.

Offsets are committed every ``commit_interval_ms``, and by the next checkpoint when an
alert opens or escalates (at most every ``alert_commit_interval_ms``), so that a
``read_committed`` consumer sees the alert without waiting for the routine commit. While
InfluxDB is slow or down the checkpoint retries with back-off; the buffer fills and fetching
pauses (``consumer.pause``), so memory stays bounded and nothing is committed.
Polling goes on meanwhile, so the consumer keeps its group membership.

On rebalance, revoked partitions are checkpointed and their devices dropped; assigned partitions
get their devices' state back from the compacted changelog before their first record is scored.

Time-driven detection (silent devices, alerts whose data stopped) runs on each partition's own
*stream time*: before the first reading that crosses a grid point of ``tick_interval_ms``, the
partition's devices are ticked at that point (:class:`detectors.GridClock`). The ticks thus fall
at the same places in the record stream however records were batched or the daemon restarted;
the clock is checkpointed with the device states, so a replay raises exactly the same alerts.
A partition that has gone quiet is ticked on the rest of the pipeline's time instead
(:mod:`ingest.idle`), so the deadman still fires for a silent partition or a silent fleet.

A record may carry several readings (an Open mHealth series, a FHIR Bundle, a step count over
an hour: :mod:`messages.formats`). They all share the record's offset and are scored within the
same batch, so a checkpoint holds all of a record's readings or none: after a restart the record
is either skipped as a whole (its offset is in the device state) or replayed as a whole (points
overwrite themselves in InfluxDB). Each rejected part is its own dead letter (header
``dl.path``), produced in the same transaction as the offset commit when exactly-once is on, so
it appears once; without exactly-once a crash before the commit may repeat it, like any
dead letter. The valid readings of a record with rejected parts are kept.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError, ProducerFenced
from aiokafka.partitioner import murmur2

from detectors import AlertEvent, Engine, GridClock, ProcessResult, Scored
from ingest import preflight
from ingest.alert_urgency import UrgentAlerts
from ingest.errors import FencedError, PermanentSinkError, RetriableSinkError
from ingest.fetch_pass import NO_TICK, format_points, record_values, scan_partition
from ingest.http_server import HealthServer
from ingest.idle import PartitionActivity
from ingest.influx.line_protocol import alert_line, reading_line
from ingest.influx.minutes import Minute, MinuteAggregator, minute_lines
from ingest.influx.writer import InfluxWriter, Rejected
from ingest.kafka_io.changelog import (
    CLOCK_KEY,
    decode_clock,
    decode_state,
    encode_clock,
    encode_state,
)
from ingest.kafka_io.deadletter import DeadLetter
from ingest.kafka_security import kafka_client_kwargs
from ingest.log import Throttle
from ingest.metrics import PipelineMetrics
from ingest.privacy import Pseudonymizer
from ingest.retry import Backoff
from ingest.settings import Settings
from messages import InvalidReading, Reading, ReadingDecoder
from messages.formats import Decoded, RecordDecoder

log = logging.getLogger(__name__)

_alert_encoder = msgspec.json.Encoder()


class DetectionEngine(Protocol):
    """What the daemon needs of an engine (:class:`detectors.Engine` is the real one)."""

    #: devices whose state the last ``tick`` changed
    tick_touched: set[str]

    def process(self, readings: Sequence[Reading]) -> ProcessResult: ...
    def tick(self, now_ms: int, devices: Iterable[str] | None = None) -> list[AlertEvent]: ...
    def snapshot(self, device_id: str) -> bytes: ...
    def restore(self, device_id: str, data: bytes) -> None: ...
    def drop(self, device_id: str) -> None: ...


class _Source(Protocol):
    """Where a point came from, to dead-letter the record if InfluxDB rejects the point: the
    Kafka record itself (no object per reading), or a :class:`_RecordRef` for a record that
    raised."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(slots=True, frozen=True)
class _RecordRef:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Checkpoint:
    """Everything one checkpoint makes durable, then commits."""

    lines: list[str] = field(default_factory=list)
    lanes: list[int] = field(default_factory=list)  # per line: its partition, to write by lane
    sources: list[_Source | None] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)
    states: list[tuple[bytes, bytes, int]] = field(default_factory=list)  # key, value, partition
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # next offset to read
    record_ts_ms: list[int] = field(default_factory=list)  # Kafka timestamps, for latency
    commit: bool = False  # carries offsets (and state) to commit

    def empty(self) -> bool:
        return not (self.lines or self.dead_letters or self.offsets or self.states)


@dataclass(eq=False)
class _Inflight:
    """A checkpoint under way (see :meth:`IngestDaemon._checkpoint`)."""

    task: asyncio.Task[None]
    #: done once the checkpoint's points are written (or its write gave up), before its Kafka work
    written: asyncio.Future[None]
    #: the checkpoint before it, whose Kafka work its own waits for
    after: asyncio.Task[None] | None


class IngestDaemon:
    """Consume readings, score them, write points/alerts, commit. See the module docstring."""

    def __init__(self, settings: Settings, *, engine: DetectionEngine | None = None) -> None:
        self.settings = settings
        self.engine: DetectionEngine = engine if engine is not None else Engine(settings.detection)
        ing = settings.ingest
        self.decoder = ReadingDecoder(
            max_bytes=ing.max_message_bytes,
            max_future_ms=ing.max_future_ms,
            max_age_ms=ing.max_age_ms,
        )
        # Open mHealth / FHIR records beside our JSON (messages.formats; ours stays the fast path)
        self.records = RecordDecoder(self.decoder, max_document_bytes=ing.max_document_bytes)
        self.pseudo = Pseudonymizer(settings.pseudonym_key())
        # scores and baselines per device-minute (vitals_minute); the open minutes are device state
        self.minutes = MinuteAggregator()
        self.metrics = PipelineMetrics(f"{socket.gethostname()}-{os.getpid()}")
        self._exactly_once = settings.ingest.exactly_once
        self._pending = Checkpoint()
        # the latest checkpoint under way; it may overlap the Kafka work of the one before it
        self._inflight: _Inflight | None = None
        # a getmany still waiting when the loop turned to something else (see _next_batch)
        self._fetch: asyncio.Future[dict[TopicPartition, list[object]]] | None = None
        self._last_flush = time.monotonic()
        self._last_commit = time.monotonic()
        # an alert opened or escalated since the last commit: commit soon (see _maybe_checkpoint)
        self._urgent = UrgentAlerts()
        self._alert_waiting = False
        # how long the newest record of the last batch waited in Kafka (its timestamp to our
        # clock): over commit_interval_ms the daemon is catching up, and alerts take the
        # routine commit (see _maybe_checkpoint)
        self._behind_ms = 0
        self._last_metrics = time.monotonic()
        self._positions: dict[TopicPartition, int] = {}  # next offset to read, per partition
        self._applied: dict[str, int] = {}  # device -> last readings offset in its state
        self._device_partition: dict[str, int] = {}
        self._partition_devices: dict[int, set[str]] = {}
        self._dirty: set[str] = set()
        self._clocks: dict[int, GridClock] = {}  # readings partition -> its stream-time clock
        self._clocks_saved: dict[int, int | None] = {}  # tick_ms last put in the changelog
        self._activity = PartitionActivity(settings.ingest.idle_partition_ms)
        # partitions whose state is being restored: nothing of theirs is scored meanwhile
        self._restoring: set[TopicPartition] = set()
        self._stopping = asyncio.Event()
        self._influx_failing_since: float | None = None
        self._error_log = Throttle(60.0)  # repeated ERRORs: once a minute per kind
        self._influx_error: tuple[bool, str] | None = None  # (permanent, what) while failing
        self._fenced = False
        self._started = False
        self._paused = False
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.writer: InfluxWriter | None = None
        self._restorer: AIOKafkaConsumer | None = None
        self.http_port: int | None = None
        self.opened_alerts: collections.deque[AlertEvent] = collections.deque(maxlen=1000)
        # a bounded sample of reading-to-InfluxDB latencies (s), for benchmarks and load tests
        self.latency_sample: collections.deque[float] = collections.deque(maxlen=100_000)

    # ---------------------------------------------------------------- lifecycle

    @property
    def transactional_id(self) -> str:
        """Kafka transactional id: the same after a restart, so the new instance fences the
        old one (a zombie) instead of both committing."""
        return self.settings.transactional_id

    def _fenced_message(self) -> str:
        return (
            f"fenced: another instance started with transactional id "
            f"{self.transactional_id!r} (ingest.instance_id); this one stops"
        )

    def request_stop(self) -> None:
        """Stop fetching; :meth:`run` then flushes, commits and returns."""
        self._stopping.set()

    def ready(self) -> bool:
        return self.not_ready_reason() is None

    def not_ready_reason(self) -> str | None:
        """Why ``/readyz`` fails (``None``: ready). A write error the configuration causes
        counts at once; a transient one after 10 s."""
        if not self._started:
            return "starting" if not self._fenced else "fenced"
        failing, error = self._influx_failing_since, self._influx_error
        if failing is None or error is None:
            return None
        permanent, what = error
        if permanent:
            return f"InfluxDB refuses writes: {what}"
        down_s = time.monotonic() - failing
        return f"InfluxDB writes failing for {down_s:.0f} s: {what}" if down_s >= 10.0 else None

    async def run(self) -> None:
        """Run until :meth:`request_stop` (or SIGTERM/SIGINT when installed by the caller)."""
        s = self.settings
        kafka_kwargs = kafka_client_kwargs(s)
        # fail fast on a misconfiguration: one clear line instead of retries forever
        for line in await preflight.check(s, starting=True):
            log.info("start-up check", extra={"result": line})
        self.writer = InfluxWriter.from_settings(s)
        txn = {"transactional_id": self.transactional_id} if self._exactly_once else {}
        self.producer = AIOKafkaProducer(
            **kafka_kwargs,
            **txn,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            compression_type=(
                None if s.ingest.kafka_compression == "none" else s.ingest.kafka_compression
            ),
            max_batch_size=s.ingest.kafka_batch_bytes,
        )
        # read only committed checkpoints: an aborted one's state must not come back
        self._restorer = AIOKafkaConsumer(
            **kafka_kwargs, enable_auto_commit=False, isolation_level="read_committed"
        )
        self.consumer = AIOKafkaConsumer(
            **kafka_kwargs,
            group_id=s.ingest.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.ingest.session_timeout_ms,
            max_poll_interval_ms=s.ingest.max_poll_interval_ms,
            max_partition_fetch_bytes=1 << 20,
        )
        http = HealthServer(
            s.ingest.http_host,
            s.ingest.http_port,
            not_ready_reason=self.not_ready_reason,
            metrics=self.metrics.exposition,
        )
        await http.start()
        self.http_port = http.port
        await self.producer.start()
        await self._restorer.start()
        await self.consumer.start()
        self.consumer.subscribe([s.topics.readings], listener=_Rebalance(self))
        self._started = True
        log.info(
            "ingest started",
            extra={"group": s.ingest.group_id, "topic": s.topics.readings, "http_port": http.port},
        )
        thresholds = _collect_less()
        try:
            await self._loop()
        finally:
            gc.unfreeze()
            gc.set_threshold(*thresholds)
            await self._shutdown(http)
        if self._fenced:
            raise FencedError(self._fenced_message())

    async def _loop(self) -> None:
        stopping: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                self._apply_backpressure()
                batch = await self._next_batch(stopping)
                if batch:
                    self._process(batch)
                self._advance_idle_clocks()
                self._maybe_emit_metrics()
                self._maybe_checkpoint()
                self._update_lag()
        finally:
            stopping.cancel()

    async def _next_batch(
        self, stopping: asyncio.Future[Any]
    ) -> dict[TopicPartition, list[object]]:
        """The next ``getmany`` batch, or nothing as soon as there is something else to do.

        ``getmany`` waits up to ``fetch_timeout_ms`` for records. The loop stops waiting for
        them early when a stop is requested, and when fetching is paused by backpressure and the
        checkpoint that holds the next one back is done: waiting out the fetch timeout there
        left InfluxDB without a write and the loop without records for up to the whole timeout
        (docs/benchmarks.md, "Where the daemon waits"). The fetch is not cancelled (aiokafka's
        idle clock for ``max_poll_interval_ms`` does not survive a cancelled ``getmany``): a
        pending one is taken up by the next call, and at stop it is left to end on its own,
        its records unprocessed and so uncommitted (read again after a restart).
        """
        assert self.consumer is not None
        ing = self.settings.ingest
        if self._fetch is None:
            self._fetch = asyncio.ensure_future(
                self.consumer.getmany(
                    timeout_ms=ing.fetch_timeout_ms, max_records=ing.max_batch_records
                )
            )
        fetch = self._fetch
        if not fetch.done():
            wake: set[asyncio.Future[Any]] = {fetch, stopping}
            held_by = self._checkpoint_holding_next() if self._paused else None
            if held_by is not None:
                wake.add(held_by)
            await asyncio.wait(wake, return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                return {}
        self._fetch = None
        return fetch.result()

    async def _shutdown(self, http: HealthServer) -> None:
        timeout = self.settings.ingest.shutdown_timeout_s
        self._maybe_emit_metrics(final=True)
        try:
            if self._fenced:
                log.error("fenced: stopping without a final checkpoint")
            else:
                await asyncio.wait_for(self.checkpoint_now(), timeout=timeout)
                m = self.metrics
                log.info(
                    "ingest stopped cleanly",
                    extra={
                        "records": int(m._total(m.records)),
                        "skipped": int(m._total(m.skipped)),
                        "commits": int(m._total(m.commits)),
                    },
                )
        except TimeoutError:
            log.warning(
                "shutdown: sinks not flushed in time; uncommitted records will be "
                "reprocessed on restart",
                extra={"timeout_s": timeout},
            )
        finally:
            self._started = False
            await self._abandon_checkpoints()
            for closer in (self.consumer, self._restorer, self.producer):
                if closer is not None:
                    with contextlib.suppress(KafkaError, asyncio.CancelledError):
                        await closer.stop()
            await self._drop_fetch()  # the consumer's stop ended a getmany left waiting
            if self.writer is not None:
                await self.writer.aclose()
            await http.stop()

    async def _drop_fetch(self) -> None:
        """Collect a ``getmany`` the loop left waiting at stop (the consumer's stop ends it; its
        records, if any, were not processed, so not committed: they are read again)."""
        fetch, self._fetch = self._fetch, None
        if fetch is None:
            return
        if not fetch.done():
            await asyncio.wait({fetch}, timeout=self.settings.ingest.fetch_timeout_ms / 1000 + 1)
        if fetch.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                fetch.result()
        else:
            fetch.cancel()

    # ---------------------------------------------------------------- processing

    def _process(self, batch: dict[TopicPartition, list[object]]) -> None:
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        now_ms = int(time.time() * 1000)
        pending = self._pending
        readings: list[Reading] = []
        sources: list[_Source] = []
        n_records = 0
        newest_record_ms = -1
        decode_many = self.decoder.decode_many
        applied = self._applied
        skipped = 0
        for tp, records in batch.items():
            if tp not in assigned:
                continue  # fetched before a revoke: the new owner reads these again
            if tp in self._restoring:
                # aiokafka hands out records while the assignment callback still runs: read
                # these again once the partition's devices are restored
                if records:
                    self.consumer.seek(tp, records[0].offset)  # type: ignore[attr-defined]
                continue
            part = tp.partition
            clock = self._clock(part)
            if not records:
                continue
            # the fetch's own JSON in one parse; a record it leaves out (None) takes the
            # general path, which finds its reason or its standard format
            try:
                fast = decode_many(record_values(records), now_ms=now_ms)
            except Exception:  # a bug: each record's own decode finds and dead-letters it
                fast = [None] * len(records)
            # the common case in one compiled loop; the general path and grid points call back
            readings, sources, skipped_here, newest = scan_partition(
                records,
                fast,
                applied,
                _next_tick(clock),
                functools.partial(self._decode_general, tp, now_ms=now_ms),
                functools.partial(self._boundary, part, clock),
                readings,
                sources,
                pending.record_ts_ms,
            )
            skipped += skipped_here
            # nothing above reads these: set once per partition, not per record
            pending.offsets[tp] = self._positions[tp] = records[-1].offset + 1  # type: ignore[attr-defined]
            newest_record_ms = max(newest_record_ms, pending.record_ts_ms[-1])
            n_records += len(records)
            self._activity.saw(part, newest if newest >= 0 else None)
        if skipped:
            self.metrics.skipped.inc(skipped)
        if newest_record_ms >= 0:
            self._behind_ms = now_ms - newest_record_ms
        self.metrics.records.inc(n_records)
        self._score(readings, sources)
        self.metrics.pending.set(len(pending.lines))
        self.metrics.devices.set(len(self._device_partition))

    def _boundary(
        self,
        part: int,
        clock: GridClock,
        ts_ms: int,
        readings: list[Reading],
        sources: list[_Source],
    ) -> tuple[int, bool]:
        """A reading of ``part`` at ``ts_ms`` reached its clock's next grid point: if it crossed
        grid points, the partition's readings before it are scored, then its ticks run.
        Returns the clock's next grid point and whether ``readings`` were scored."""
        grid = clock.advance(ts_ms)
        if grid:
            self._score(readings, sources)
            for at in grid:
                self._tick(part, at)
        return _next_tick(clock), bool(grid)

    def _decode_general(
        self, tp: TopicPartition, rec: object, now_ms: int
    ) -> Sequence[Reading] | None:
        """:meth:`decode_record` for a record the batch decode left out; its dead letter and
        ``None`` if it is rejected as a whole."""
        key, value, offset = rec.key, rec.value, rec.offset  # type: ignore[attr-defined]
        try:
            return self.decode_record(tp, offset, key, value, rec.headers, now_ms)  # type: ignore[attr-defined]
        except InvalidReading as exc:
            self._dead_letter(tp, offset, key, value, exc.code, exc.detail)
        except Exception as exc:  # one record must never stop the loop
            self._internal_error(_RecordRef(tp.partition, offset, key, value), "decode", exc)
        return None

    def decode_record(
        self,
        tp: TopicPartition,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]] | None,
        now_ms: int,
    ) -> Sequence[Reading]:
        """The per-record decode step: a record -> its validated, correctly keyed readings.

        Our own JSON is tried first, at full speed; a ``content-type`` header or a failure of
        it hands the record to the standard-format decoders (:mod:`messages.formats`). The
        rejected and mis-keyed parts of a multi-reading record are dead-lettered here, one dead
        letter per part; its other readings are returned.

        Raises
        ------
        InvalidReading
            With the reason to dead-letter the whole record under.
        """
        if headers:  # a content-type header may name the format
            decoded = self.records.decode(value, headers, key, now_ms=now_ms)
        else:
            try:  # our own JSON first, at full speed
                decoded = self.decoder.decode(value, now_ms=now_ms)
            except InvalidReading as exc:  # else Open mHealth / FHIR, or exc
                decoded = self.records.decode_other(value, key, exc, now_ms=now_ms)
        if type(decoded) is Reading:  # our own JSON: one reading
            if key is None or key != decoded.device_id.encode():
                # a mis-keyed reading would split one device's state over two partitions
                raise InvalidReading("key_mismatch", "record key must be the reading's device_id")
            return (decoded,)
        assert isinstance(decoded, Decoded)  # a standard record: its readings
        if not decoded.readings and not decoded.errors:
            # e.g. a Bundle without entries: dead-lettered, never dropped in silence
            raise InvalidReading("no_readings", "the record carries no readings")
        return self._parts(tp, offset, key, value, decoded)

    def _parts(
        self,
        tp: TopicPartition,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        decoded: Decoded,
    ) -> list[Reading]:
        """Dead-letter the rejected and the mis-keyed parts of a multi-reading record (one dead
        letter per part, with ``dl.path``); return its other readings."""
        for bad in decoded.errors:
            self._dead_letter(tp, offset, key, bad.raw, bad.code, bad.detail, path=bad.path)
        device = key.decode(errors="replace") if key is not None else None
        kept: list[Reading] = []
        mis_keyed: set[str] = set()
        for reading, path in zip(decoded.readings, decoded.paths, strict=True):
            if reading.device_id == device:
                kept.append(reading)
            elif path not in mis_keyed:  # a part of many epochs is one dead letter
                mis_keyed.add(path)
                self._mis_keyed(tp, offset, key, value, path)
        return kept

    def _mis_keyed(
        self,
        tp: TopicPartition,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        path: str | None = None,
    ) -> None:
        # a mis-keyed reading would split one device's state over two partitions
        self._dead_letter(
            tp,
            offset,
            key,
            value,
            "key_mismatch",
            "record key must be the reading's device_id",
            path=path,
        )

    def _score(self, readings: list[Reading], sources: list[_Source]) -> None:
        if not readings:
            return
        pending = self._pending
        try:
            out = self.engine.process(readings)
        except Exception as exc:  # a bug the batch hit: find the record, keep the rest
            out, sources = self._score_one_by_one(readings, sources, exc)
        scored = out.scored
        # the lines, their lanes and per device its last reading's record (for the bookkeeping
        # below), in one loop; if a point raises, point by point
        try:
            lines, lanes, latest = format_points(scored, sources, self.pseudo, reading_line)
        except Exception:
            lines, scored, sources = self._format_one_by_one(scored, sources)
            lanes = [src.partition for src in sources]
            latest = {s.device_id: src for s, src in zip(scored, sources, strict=True)}
        pending.lines += lines
        pending.lanes += lanes
        pending.sources += sources
        closed = self.minutes.add(scored)
        applied, owner = self._applied, self._device_partition
        for device, src in latest.items():
            applied[device] = src.offset
            if owner.get(device) != src.partition:
                self._own(device, src.partition)
        self._dirty.update(latest)
        if closed:
            self._add_minutes(pending, closed)
        self.metrics.readings.inc(len(readings))
        self._add_alerts(out.alerts)

    def _add_minutes(self, cp: Checkpoint, minutes: list[tuple[str, Minute]]) -> None:
        """Add ``vitals_minute`` points to a checkpoint; a device's in its partition's lane, so
        a minute's partial and final points are written in that order."""
        cp.lines += minute_lines(minutes, self.pseudo)
        owner = self._device_partition
        cp.lanes += [owner.get(device, 0) for device, _ in minutes]
        cp.sources += [None] * len(minutes)

    def _format_one_by_one(
        self, scored: list[Scored], sources: list[_Source]
    ) -> tuple[list[str], list[Scored], list[_Source]]:
        """Format the points of a batch one at a time; dead-letter the records that raise."""
        lines: list[str] = []
        kept: list[Scored] = []
        kept_sources: list[_Source] = []
        for s, src in zip(scored, sources, strict=True):
            try:
                lines.append(reading_line(s, self.pseudo(s.device_id)))
            except Exception as exc:
                self._internal_error(src, "format", exc)
                continue
            kept.append(s)
            kept_sources.append(src)
        return lines, kept, kept_sources

    def _score_one_by_one(
        self, readings: list[Reading], sources: list[_Source], error: Exception
    ) -> tuple[ProcessResult, list[_Source]]:
        """Score a batch that raised one reading at a time; dead-letter the readings that raise.

        A reading that raises leaves its device as it was before it. The readings of the batch
        before the failing one were already applied by the failed call: the engine sees them a
        second time here, as duplicates (scored, counted, not learned).
        """
        log.error(
            "scoring a batch raised; scoring its readings one at a time",
            extra={"error": type(error).__name__, "readings": len(readings)},
        )
        scored: list[Scored] = []
        alerts: list[AlertEvent] = []
        kept: list[_Source] = []
        for reading, src in zip(readings, sources, strict=True):
            device = reading.device_id
            try:
                before: bytes | None = self.engine.snapshot(device)
            except KeyError:
                before = None
            try:
                out = self.engine.process([reading])
            except Exception as exc:
                with contextlib.suppress(Exception):
                    if before is None:
                        self.engine.drop(device)
                    else:
                        self.engine.restore(device, before)
                self._internal_error(src, "score", exc)
                continue
            scored += out.scored
            alerts += out.alerts
            kept.append(src)
        return ProcessResult(scored, alerts), kept

    def _internal_error(self, src: _Source, stage: str, exc: BaseException) -> None:
        """Dead-letter one record a bug choked on. The reason names the exception's type only:
        its message may quote the reading."""
        self._pending.dead_letters.append(
            DeadLetter(
                src.key,
                src.value,
                "internal_error",
                type(exc).__name__,
                self.settings.topics.readings,
                src.partition,
                src.offset,
                stage=stage,
            )
        )
        self.metrics.dead_letters.labels("internal_error").inc()
        self.metrics.errors.labels(f"record_{stage}").inc()
        if self._error_log.due(f"record_{stage}"):
            log.error(
                "a record raised; dead-lettered as internal_error",
                extra={"stage": stage, "error": type(exc).__name__},
            )

    def _own(self, device: str, partition: int) -> None:
        old = self._device_partition.get(device)
        if old is not None:
            self._partition_devices.get(old, set()).discard(device)
        self._device_partition[device] = partition
        self._partition_devices.setdefault(partition, set()).add(device)

    def _clock(self, partition: int) -> GridClock:
        clock = self._clocks.get(partition)
        if clock is None:
            clock = self._clocks[partition] = GridClock(self.settings.ingest.tick_interval_ms)
        return clock

    def _advance_idle_clocks(self) -> None:
        """Tick idle partitions on the time the rest of the pipeline shows (see
        :mod:`ingest.idle`): the deadman of a silent partition, or of a silent fleet."""
        if not self.settings.ingest.idle_partition_ms or self._paused:
            return  # paused: partitions may have unread records, so none counts as idle
        assert self.consumer is not None
        caught_up = []
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if (
                tp not in self._restoring
                and high is not None
                and self._positions.get(tp, 0) >= high
            ):
                caught_up.append(tp.partition)
        idle, target = self._activity.idle_partitions(caught_up)
        if target is None:
            return
        for part in idle:
            for at in self._clock(part).advance(target):
                self._tick(part, at)

    def _tick(self, partition: int, at_ms: int) -> None:
        """Time-driven alerts of one partition's devices at a grid point of its stream time."""
        try:
            events = self.engine.tick(at_ms, self._partition_devices.get(partition, ()))
        except Exception as exc:  # no record to dead-letter: count it, say it, go on
            self.metrics.errors.labels("tick").inc()
            if self._error_log.due("tick"):
                log.error("a tick raised; skipped", extra={"error": type(exc).__name__})
            return
        # state the tick changed must reach the changelog like state changed by readings
        self._dirty.update(self.engine.tick_touched)
        self._add_alerts(events)

    def _add_alerts(self, alerts: Iterable[AlertEvent]) -> None:
        for a in alerts:
            try:
                public = self.public_alert(a)
                line = alert_line(public, public.device_id)
            except Exception as exc:
                self.metrics.errors.labels("alert_format").inc()
                if self._error_log.due("alert_format"):
                    log.error("formatting an alert raised", extra={"error": type(exc).__name__})
                continue
            self._pending.lines.append(line)
            self._pending.lanes.append(self._device_partition.get(a.device_id, 0))
            self._pending.sources.append(None)
            self._pending.alerts.append(public)
            self._dirty.add(a.device_id)
            self.metrics.alerts.labels(a.state).inc()
            if self._urgent.urgent(a):
                self._alert_waiting = True
            if a.state == "open":
                self.opened_alerts.append(a)

    def public_alert(self, a: AlertEvent) -> AlertEvent:
        """The alert as the world sees it: device and alert ids pseudonymised."""
        if not self.pseudo.enabled:
            return a
        return msgspec.structs.replace(
            a, device_id=self.pseudo(a.device_id), alert_id=self.pseudo(a.alert_id)
        )

    def _dead_letter(
        self,
        tp: TopicPartition,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        code: str,
        detail: str,
        *,
        path: str | None = None,
    ) -> None:
        self._pending.dead_letters.append(
            DeadLetter(key, value, code, detail, tp.topic, tp.partition, offset, path=path)
        )
        self.metrics.dead_letters.labels(code).inc()

    def _maybe_emit_metrics(self, *, final: bool = False) -> None:
        """Every ``metrics_interval_s``, and once more with ``up=false`` on a clean stop."""
        now = time.monotonic()
        if final or now - self._last_metrics >= self.settings.ingest.metrics_interval_s:
            self._last_metrics = now
            now_ms = int(time.time() * 1000)
            lines = [
                self.metrics.influx_line(now_ms, up=not final),
                *self.metrics.dead_letter_lines(now_ms),
            ]
            self._pending.lines.extend(lines)
            self._pending.lanes.extend([0] * len(lines))
            self._pending.sources.extend([None] * len(lines))

    def _update_lag(self) -> None:
        """Records between our position and the log end, over all assigned partitions."""
        assert self.consumer is not None
        lag = 0
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                lag += max(0, high - self._positions.get(tp, 0))
        self.metrics.lag.set(lag)

    # ---------------------------------------------------------------- backpressure

    def _apply_backpressure(self) -> None:
        assert self.consumer is not None
        full = len(self._pending.lines) >= self.settings.ingest.max_pending_points
        if full and not self._paused:
            self.consumer.pause(*self.consumer.assignment())
            self._paused = True
            self.metrics.paused.set(1)
            self.metrics.pauses.inc()
            # DEBUG: under sustained load this toggles every few seconds; the metrics show it
            log.debug("backpressure: fetching paused", extra={"pending": len(self._pending.lines)})
        elif not full and self._paused:
            self.consumer.resume(
                *(tp for tp in self.consumer.paused() if tp not in self._restoring)
            )
            self._paused = False
            self.metrics.paused.set(0)
            log.debug("backpressure released: fetching resumed")

    # ---------------------------------------------------------------- checkpoints

    def _take_pending(self, *, commit: bool) -> Checkpoint:
        """Swap the pending buffer out.

        A committing checkpoint carries the offsets and, consistent with them, the state
        snapshots of every device changed since the last commit. A flush-only checkpoint
        makes points, dead letters and alerts durable sooner; its offsets wait for the next
        commit (which comes after it, so everything below them is durable by then).
        """
        cp = self._pending
        self._pending = Checkpoint()
        self._last_flush = time.monotonic()
        self.metrics.pending.set(0)
        if not commit:
            self._pending.offsets, cp.offsets = cp.offsets, {}
            if self._exactly_once:
                # Kafka records wait for the next commit's transaction (points do not: they
                # are idempotent, so they are written now)
                self._pending.dead_letters, cp.dead_letters = cp.dead_letters, []
                self._pending.alerts, cp.alerts = cp.alerts, []
            return cp
        cp.commit = True
        self._alert_waiting = False
        # the minutes still open are written partial before this commit (and again, whole,
        # when they close): every reading the commit covers is in InfluxDB with its minute
        self._add_minutes(cp, self.minutes.open_minutes(self._dirty))
        for device in self._dirty:
            part = self._device_partition.get(device)
            if part is None:
                continue
            state = encode_state(
                part,
                self._applied.get(device, -1),
                self.engine.snapshot(device),
                self.minutes.snapshot(device),
            )
            cp.states.append((device.encode(), state, part))
        self._dirty.clear()
        for part, clock in self._clocks.items():
            if clock.tick_ms is not None and self._clocks_saved.get(part) != clock.tick_ms:
                cp.states.append((CLOCK_KEY, encode_clock(part, clock.tick_ms), part))
                self._clocks_saved[part] = clock.tick_ms
        self._last_commit = time.monotonic()
        return cp

    def _maybe_checkpoint(self) -> None:
        inflight = self._inflight
        if inflight is not None and inflight.task.done():
            self._inflight = None
            if not inflight.task.cancelled():  # cancelled: abandoned, see _abandon_checkpoints
                inflight.task.result()  # re-raise anything unexpected (fencing among them)
        if self._checkpoint_holding_next() is not None:
            return
        ing = self.settings.ingest
        now = time.monotonic()
        since_commit_ms = (now - self._last_commit) * 1000
        # an opened or escalated alert is committed by this checkpoint, unless the last commit
        # was less than alert_commit_interval_ms ago (an alert storm commits at that rate) or
        # the daemon is catching up: its records waited longer than a routine commit would
        # add, and every commit (a transaction with each changed device's state) is time the
        # backlog waits for
        alert_due = (
            self._alert_waiting
            and ing.alert_commit_interval_ms > 0
            and since_commit_ms >= ing.alert_commit_interval_ms
            and self._behind_ms <= ing.commit_interval_ms
        )
        commit_due = (alert_due or since_commit_ms >= ing.commit_interval_ms) and bool(
            self._pending.offsets or self._dirty
        )
        flush_due = (now - self._last_flush) * 1000 >= ing.flush_interval_ms and bool(
            self._pending.lines or self._pending.dead_letters
        )
        if not (commit_due or flush_due or len(self._pending.lines) >= ing.write_batch_points):
            return
        self._start_checkpoint(self._take_pending(commit=commit_due))

    def _start_checkpoint(self, cp: Checkpoint) -> None:
        previous = self._inflight
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._checkpoint(cp, written, previous))
        self._inflight = _Inflight(task, written, previous.task if previous else None)

    def _checkpoint_holding_next(self) -> asyncio.Future[Any] | None:
        """What the next checkpoint must wait for before it starts; ``None``: it may start now.

        One write at a time: the in-flight checkpoint's points must be written first (so a
        device's points reach InfluxDB in order, and points InfluxDB rejects are dead-lettered
        with the checkpoint that commits their offsets). Its Kafka work may still run: the next
        checkpoint's write overlaps it, and the next one's Kafka work waits for it. And two
        checkpoints at most: the one before the in-flight one must be done.
        """
        inflight = self._inflight
        if inflight is None or inflight.task.done():
            return None
        if not inflight.written.done():
            return inflight.written
        if inflight.after is not None and not inflight.after.done():
            return inflight.after
        return None

    async def checkpoint_now(self) -> None:
        """Finish the checkpoints in flight, then checkpoint and commit everything pending.

        Cancellation-safe: cancelling this (a revoke or a shutdown that timed out) leaves the
        checkpoints it waits for running; only :meth:`_abandon_checkpoints` stops a
        checkpoint, and it drops the data with it.
        """
        await self._await_inflight()
        if not self._pending.empty() or self._dirty:
            self._start_checkpoint(self._take_pending(commit=True))
            await self._await_inflight()

    async def _await_inflight(self) -> None:
        """Until no checkpoint is in flight (the latest one ends after every earlier one)."""
        while (inflight := self._inflight) is not None:
            await asyncio.shield(inflight.task)
            if self._inflight is inflight:
                self._inflight = None

    async def _abandon_checkpoints(self) -> None:
        """Give up the checkpoints in flight and everything pending (a revoke or a shutdown
        that timed out while a sink hangs). Nothing of it was committed, so the records are
        read again, here or by the partitions' next owner: a loss of time, not of data."""
        inflight, self._inflight = self._inflight, None
        tasks: list[asyncio.Task[None] | None] = (
            [] if inflight is None else [inflight.task, inflight.after]
        )
        running = {t for t in tasks if t is not None and not t.done()}
        for task in running:
            task.cancel()
        if running:
            # a transaction being aborted may take a moment; a hung one is left to finish alone
            await asyncio.wait(running, timeout=5.0)
        for done in tasks:
            if done is not None and done.done() and not done.cancelled():
                done.exception()  # retrieved: raised already, or moot now (fenced, stopping)
        self._pending = Checkpoint()
        self._dirty.clear()
        self.metrics.pending.set(0)

    async def _checkpoint(
        self,
        cp: Checkpoint,
        written: asyncio.Future[None] | None = None,
        previous: _Inflight | None = None,
    ) -> None:
        """Write the checkpoint's points, then (after the previous checkpoint's) its Kafka work.

        The order that makes a commit safe: this write starts once the previous checkpoint's
        points are written, and this commit once the previous checkpoint's commit is done, so
        an offset is committed only after every point below it is written, and commits never
        overtake each other. ``written`` is set when the write is over (also when it failed or
        was cancelled: the checkpoint after this one then fails at its wait for this one and
        commits nothing).
        """
        try:
            if previous is not None:
                await asyncio.shield(previous.written)
            rejected = await self._write_points(cp)
            self._dead_letter_rejected(cp, rejected)
        finally:
            if written is not None and not written.done():
                written.set_result(None)
        # written: only the Kafka records are kept while this waits for the previous commit
        cp.lines, cp.lanes, cp.sources, cp.record_ts_ms = [], [], [], []
        if previous is not None:
            await asyncio.shield(previous.task)
        if self._exactly_once:
            if cp.commit:
                await self._produce_and_commit_in_transaction(cp)
            return
        await self._produce(cp)
        await self._commit(cp.offsets)

    def _dead_letter_rejected(self, cp: Checkpoint, rejected: list[Rejected]) -> None:
        """Dead letters of the points InfluxDB rejected: in the checkpoint's own transaction if
        it commits, else in the next commit's (pending; taken only after this write is over)."""
        dead = (
            cp.dead_letters if cp.commit or not self._exactly_once else self._pending.dead_letters
        )
        for r in rejected:
            src = cp.sources[r.index]
            if src is None:
                log.error("InfluxDB rejected an internal point", extra={"status": r.status})
                continue
            dead.append(
                DeadLetter(
                    src.key,
                    src.value,
                    f"influx_{r.status}",
                    r.reason,
                    self.settings.topics.readings,
                    src.partition,
                    src.offset,
                    stage="write",
                )
            )
            self.metrics.dead_letters.labels(f"influx_{r.status}").inc()

    async def _produce_and_commit_in_transaction(self, cp: Checkpoint) -> None:
        """Dead letters, alerts, device state and the consumer offsets, all or nothing: a crash
        anywhere leaves either the whole checkpoint or none of it (readers use
        ``isolation_level="read_committed"``), so nothing is repeated after a restart."""
        assert self.producer is not None
        assert self.consumer is not None
        backoff = Backoff()
        while True:
            owned = {tp: off for tp, off in cp.offsets.items() if tp in self.consumer.assignment()}
            try:
                await self.producer.begin_transaction()
                try:
                    await self._send_records(cp)
                    if owned:
                        await self.producer.send_offsets_to_transaction(
                            owned, self.settings.ingest.group_id
                        )
                    await self.producer.commit_transaction()
                except BaseException as exc:
                    try:
                        await self.producer.abort_transaction()
                    except Exception as abort_exc:  # a fenced producer cannot abort either
                        log.warning(
                            "aborting the checkpoint transaction failed",
                            extra={"error": type(exc).__name__, "abort": type(abort_exc).__name__},
                        )
                    raise
                if owned:
                    self.metrics.commits.inc()
                return
            except ProducerFenced:
                # a newer instance with our transactional id started: it owns our work now
                self._fenced = True
                self.metrics.errors.labels("fenced").inc()
                raise FencedError(self._fenced_message()) from None
            except KafkaError as exc:
                self.metrics.errors.labels("kafka_transaction").inc()
                log.warning(
                    "checkpoint transaction failed; retrying",
                    extra={"error": type(exc).__name__, "retriable": exc.retriable},
                )
                await backoff.sleep()

    async def _write_points(self, cp: Checkpoint) -> list[Rejected]:
        assert self.writer is not None
        if not cp.lines:
            return []
        backoff = Backoff()
        while True:
            started = time.perf_counter()
            try:
                rejected = await self.writer.write(cp.lines, cp.lanes)
            except (RetriableSinkError, PermanentSinkError) as exc:
                self._sink_failed(exc)
                await backoff.sleep(getattr(exc, "retry_after_s", None))
                continue
            break
        if self._influx_failing_since is not None:
            log.info(
                "InfluxDB writes recovered",
                extra={"down_s": round(time.monotonic() - self._influx_failing_since, 1)},
            )
            self._influx_failing_since = None
            self._influx_error = None
            self.metrics.sink_failing.set(0)
        self.metrics.write_latency.observe(time.perf_counter() - started)
        self.metrics.points.inc(len(cp.lines) - len(rejected))
        now_ms = time.time() * 1000
        step = max(1, len(cp.record_ts_ms) // 200)  # a sample keeps the histogram cheap
        for ts in cp.record_ts_ms[::step]:
            latency = max(0.0, (now_ms - ts) / 1000)
            self.metrics.e2e_latency.observe(latency)
            self.latency_sample.append(latency)
        return rejected

    def _sink_failed(self, exc: RetriableSinkError | PermanentSinkError) -> None:
        """Count a failed write and say so: a transient failure once when it starts, one the
        configuration causes (401/403/404) at ERROR once a minute until it is fixed."""
        self.metrics.errors.labels("influx_write").inc()
        permanent = isinstance(exc, PermanentSinkError)
        self._influx_error = (permanent, str(exc))
        self.metrics.sink_failing.set(2 if permanent else 1)
        if self._influx_failing_since is None:
            self._influx_failing_since = time.monotonic()
            if not permanent:
                log.warning(
                    "InfluxDB write failing; retrying, nothing committed meanwhile",
                    extra={"error": str(exc)},
                )
        if permanent and self._error_log.due("influx_permanent"):
            log.error(
                "InfluxDB refuses every write; fix the settings (retrying, nothing committed)",
                extra={"error": str(exc), "bucket": self.settings.influxdb.bucket},
            )

    async def _send_records(self, cp: Checkpoint) -> None:
        """Produce the checkpoint's Kafka records and wait for every acknowledgement."""
        assert self.producer is not None
        t = self.settings.topics
        futures = [
            await self.producer.send(t.dead_letter, dl.value, key=dl.key, headers=dl.headers())
            for dl in cp.dead_letters
        ]
        futures += [
            await self.producer.send(t.alerts, _alert_encoder.encode(a), key=a.device_id.encode())
            for a in cp.alerts
        ]
        futures += [
            await self.producer.send(t.device_state, value, key=key, partition=part)
            for key, value, part in cp.states
        ]
        if futures:
            await asyncio.gather(*futures)

    async def _produce(self, cp: Checkpoint) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._send_records(cp)
                return
            except KafkaError as exc:
                self.metrics.errors.labels("kafka_produce").inc()
                log.warning(
                    "producing checkpoint records failed; retrying",
                    extra={"error": type(exc).__name__, "retriable": exc.retriable},
                )
                await backoff.sleep()

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self.consumer is not None
        owned = {tp: off for tp, off in offsets.items() if tp in self.consumer.assignment()}
        if not owned:
            return
        try:
            await self.consumer.commit(owned)
            self.metrics.commits.inc()
        except CommitFailedError:
            # the group rebalanced under us: the new owner reprocesses from the last commit;
            # the points are idempotent, so that costs time, not correctness
            self.metrics.errors.labels("commit_failed").inc()
            log.warning("commit failed after a rebalance; records will be reprocessed")
        except KafkaError as exc:
            self.metrics.errors.labels("commit").inc()
            log.warning(
                "commit failed; records will be reprocessed",
                extra={"error": type(exc).__name__, "retriable": exc.retriable},
            )

    # ---------------------------------------------------------------- rebalances

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Flush and commit before the partitions go; then forget their devices."""
        timeout = self.settings.ingest.revoke_timeout_s
        try:
            await asyncio.wait_for(self.checkpoint_now(), timeout=timeout)
        except FencedError:
            pass  # the loop raises it from the checkpoint task and stops the daemon
        except TimeoutError:
            # aiokafka rebalances eagerly (every partition is revoked), so dropping all that
            # is pending drops only data of revoked partitions, read again from their commits
            log.warning(
                "revoke: sinks not flushed in time; nothing committed, the records are read again",
                extra={"timeout_s": timeout},
            )
            await self._abandon_checkpoints()
        parts = {tp.partition for tp in revoked if tp.topic == self.settings.topics.readings}
        for p in parts:
            self._activity.revoked(p)
            self._clocks.pop(p, None)
            self._clocks_saved.pop(p, None)
            self._partition_devices.pop(p, None)
        for tp in revoked:
            self._positions.pop(tp, None)
        gone = [d for d, p in self._device_partition.items() if p in parts]
        for device in gone:
            self.engine.drop(device)
            self.minutes.drop(device)
            self.pseudo.forget(device)
            self._urgent.forget((device,))
            del self._device_partition[device]
            self._applied.pop(device, None)
        log.info("partitions revoked", extra={"partitions": sorted(parts), "devices": len(gone)})

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Restore the devices of new partitions from the changelog before scoring."""
        parts = sorted(tp.partition for tp in assigned if tp.topic == self.settings.topics.readings)
        started = time.perf_counter()
        assert self.consumer is not None
        # records of these partitions may be fetched and handed out while this callback runs
        self._restoring |= assigned
        self.consumer.pause(*assigned)
        restored = await self._restore_until_done(parts)
        if restored is None:
            return  # stopping: the partitions stay paused, nothing of theirs is scored
        try:
            self._watch_roster(parts)
            for tp in assigned:
                # where reading starts (the committed offset), for the lag gauge
                with contextlib.suppress(KafkaError, TimeoutError):
                    self._positions[tp] = await asyncio.wait_for(self.consumer.position(tp), 5.0)
                clock = self._clocks.get(tp.partition)
                self._activity.assigned(tp.partition, clock.tick_ms if clock else None)
        finally:
            self._restoring -= assigned
            if not self._paused:
                self.consumer.resume(*(tp for tp in assigned if tp in self.consumer.assignment()))
        log.info(
            "partitions assigned",
            extra={
                "partitions": parts,
                "devices_restored": restored,
                "restore_s": round(time.perf_counter() - started, 3),
            },
        )

    async def _restore_until_done(self, partitions: list[int]) -> int | None:
        """:meth:`_restore` within ``ingest.restore_timeout_s``; when that passes (a changelog
        too large for the bound, a broker that hangs), an ERROR and another attempt with twice
        the time, until one succeeds. ``None`` if the daemon is stopping meanwhile."""
        timeout = self.settings.ingest.restore_timeout_s
        backoff = Backoff(base_s=0.1, cap_s=5.0)
        while not self._stopping.is_set():
            try:
                return await asyncio.wait_for(self._restore(partitions), timeout=timeout)
            except (TimeoutError, KafkaError) as exc:
                self.metrics.errors.labels("restore").inc()
                log.error(
                    "restoring device state did not finish; retrying the assignment",
                    extra={
                        "partitions": partitions,
                        "timeout_s": timeout,
                        "error": type(exc).__name__,
                    },
                )
                timeout *= 2
                await backoff.sleep()
        return None

    async def _restore(self, partitions: list[int]) -> int:
        if not partitions:
            return 0
        assert self._restorer is not None
        topic = self.settings.topics.device_state
        known = self._restorer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions if not known or p in known]
        if not tps:
            return 0
        # the end offsets before assigning: once assigned, the restorer's fetch of a partition
        # without records long-polls on the connection (fetch_max_wait_ms, 500 ms), and the
        # broker answers the end offsets only after it, at every start and rebalance
        end = await self._restorer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        if not remaining:
            if self._restorer.assignment():  # left by a restore that timed out
                self._restorer.unsubscribe()
            return 0
        self._restorer.assign(sorted(remaining))
        await self._restorer.seek_to_beginning(*remaining)
        latest: dict[str, bytes | None] = {}
        clocks: dict[int, bytes] = {}
        while remaining:
            batch = await self._restorer.getmany(*remaining, timeout_ms=500, max_records=10_000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.key == CLOCK_KEY:
                        if rec.value is not None:
                            clocks[tp.partition] = rec.value
                    else:
                        latest[rec.key.decode()] = rec.value
                if records and records[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await self._restorer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        for part, raw in clocks.items():
            self._restore_clock(part, raw)
        count = 0
        for device, value in latest.items():
            if value is not None and self._restore_device(device, value):
                count += 1
        self._restorer.unsubscribe()
        return count

    def _restore_clock(self, partition: int, raw: bytes) -> None:
        """Continue a partition's stream-time clock from its changelog record."""
        try:
            tick_ms = decode_clock(raw).tick_ms
        except ValueError:
            # a record this release cannot read at all: the clock starts from the stream again
            log.warning("partition clock not restorable", extra={"partition": partition})
            return
        self._clocks[partition] = GridClock(self.settings.ingest.tick_interval_ms, tick_ms=tick_ms)
        self._clocks_saved[partition] = tick_ms

    def _restore_device(self, device: str, value: bytes) -> bool:
        """Restore one device from its changelog record (fields a later release appended are
        ignored); ``False`` if it starts afresh instead."""
        try:
            state = decode_state(value)
            self.engine.restore(device, state.engine)
        except ValueError as exc:
            # a record this release cannot read, or a snapshot of another state layout
            # (detectors.engine.LayoutMismatchError): never misread, the device starts afresh
            self.metrics.state_refused.inc()
            log.warning("device state not restorable; starting afresh", extra={"error": exc})
            return False
        # a record of an earlier release carries the minutes in their layout 1 only
        restored = (
            self.minutes.restore(device, state.minutes)
            if state.minutes
            else self.minutes.restore(device, state.minutes_v1, layout=1)
        )
        if not restored:
            self.metrics.minutes_refused.inc()
            log.warning("open minutes of a device not restorable; its minute starts afresh")
        self._applied[device] = state.offset
        self._own(device, state.partition)
        return True

    def _watch_roster(self, partitions: list[int]) -> None:
        """Roster devices (``detection.deadman.roster``) of these partitions are ticked even
        before their first reading, so one that never sends anything is reported silent. Their
        partition is the one Kafka's default partitioner gives their key."""
        roster = self.settings.detection.deadman.roster
        if not roster or not partitions:
            return
        assert self.consumer is not None
        count = len(self.consumer.partitions_for_topic(self.settings.topics.readings) or ())
        if not count:
            return
        mine = set(partitions)
        for device in roster:
            part = (murmur2(device.encode()) & 0x7FFFFFFF) % count
            if part in mine and device not in self._device_partition:
                self._own(device, part)


def _next_tick(clock: GridClock) -> int:
    """The clock's next grid point for :func:`ingest.fetch_pass.scan_partition`."""
    next_ms = clock.next_ms
    return NO_TICK if next_ms is None else next_ms


def _collect_less() -> tuple[int, int, int]:
    """Keep the cyclic garbage collector to what the stream creates; returns the thresholds
    it had.

    Under load the collector took ~1.8 µs of the daemon's CPU per reading (docs/benchmarks.md,
    "The daemon's own CPU"): every record brings tracked objects (aiokafka's
    ``ConsumerRecord``, kept as its point's source until the write) that outlive the
    youngest generation, so full collections came often, each scanning everything alive,
    imported modules included. Everything alive at start-up (modules, settings, clients) lives
    as long as the daemon, so it is frozen out of every collection; and the youngest
    generation is collected every 10,000 allocations instead of 700, so most of a batch's
    objects are gone before a collection sees them. Cycles are still found.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    return thresholds


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, daemon: IngestDaemon) -> None:
        self._daemon = daemon

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._daemon.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._daemon.on_assigned(assigned)


async def run_daemon(settings: Settings) -> None:
    """Run the daemon until SIGTERM or SIGINT, then flush, commit and return."""
    daemon = IngestDaemon(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)
    await daemon.run()
