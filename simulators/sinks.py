"""Where generated readings go: Kafka (keyed by device), replay CSV, NDJSON; labels as NDJSON.

The Kafka sink builds record batches per partition itself (``create_batch``/``send_batch``),
partitioning by device with the same murmur2 hash as the Java client and aiokafka's default
partitioner, so per-device order is kept and one device always lands on one partition.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from messages.labels import Label, encode_labels
from simulators.chunk import Chunk
from simulators.pacing import apaced, next_chunk

CSV_HEADER = ("device_id", "ts", "metric", "value")


class ByteSink(Protocol):
    """Anything bytes can be written to (a binary file, a ``GzipFile``, ``sys.stdout.buffer``)."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> object: ...


def write_ndjson(chunks: Iterable[Chunk], out: ByteSink) -> int:
    """Write wire messages, one per line (malformed ones included); return the count.

    >>> import io
    >>> from simulators import FleetSimulator, Scenario
    >>> buf = io.BytesIO()
    >>> sim = FleetSimulator(Scenario(devices=1, duration_ms=60_000), start_ms=1767225600000)
    >>> write_ndjson(sim, buf) == buf.getvalue().count(b"\\n")
    True
    """
    n = 0
    for chunk in chunks:
        values = chunk.values()
        if values:
            # a malformed message must not break the line framing
            out.write(b"\n".join(v.replace(b"\n", b" ") for v in values) + b"\n")
            out.flush()  # a paced feed (a pipe) must flow as it is released
        n += len(values)
    return n


def write_csv(chunks: Iterable[Chunk], out: IO[str]) -> int:
    """Write the replay CSV (``device_id,ts,metric,value``, ts in epoch ms, delivery order).

    Steps are the count since the previous steps row of the device; sleep stages are names.
    Malformed messages have no CSV form and are skipped. Returns rows written.
    """
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_HEADER)
    n = 0
    for chunk in chunks:
        rows = list(chunk.csv_rows())
        w.writerows(rows)
        n += len(rows)
    return n


def write_labels(labels: list[Label], path: str | Path) -> None:
    """Write labels as NDJSON (:func:`messages.labels.encode_labels`)."""
    Path(path).write_bytes(encode_labels(labels))


def _murmur2(data: bytes) -> int:
    # the Java client's murmur2, as in aiokafka.partitioner (kept here for speed and clarity)
    from aiokafka.partitioner import murmur2

    return int(murmur2(data))


@dataclass(slots=True)
class ProduceStats:
    """What a Kafka run sent (``acked`` counts messages whose batch the broker acknowledged)."""

    messages: int = 0
    malformed: int = 0
    bytes: int = 0
    acked: int = 0
    batches: int = 0
    seconds: float = 0.0
    per_partition: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


class KafkaSink:
    """Produce chunks to a Kafka topic with aiokafka, keyed and partitioned by device.

    Parameters
    ----------
    bootstrap_servers, topic
        Where to produce.
    linger_ms, max_batch_size, compression_type, acks
        Passed to :class:`aiokafka.AIOKafkaProducer`. Large batches are what make 200k msg/s
        possible from one Python process.
    max_in_flight
        Batches sent but not yet acknowledged before the sink waits (back-pressure).
    producer_kwargs
        Anything else for the producer (e.g. security settings).

    Use as ``async with KafkaSink(...) as sink: await sink.send(chunk)``.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        linger_ms: int = 20,
        max_batch_size: int = 512 * 1024,
        compression_type: str | None = None,
        acks: int | str = 1,
        max_in_flight: int = 64,
        producer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self.stats = ProduceStats()
        self._max_in_flight = max_in_flight
        self._kwargs: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "linger_ms": linger_ms,
            "max_batch_size": max_batch_size,
            "max_request_size": max(1_048_576, max_batch_size * 2),
            "compression_type": compression_type,
            "acks": acks,
            **(producer_kwargs or {}),
        }
        self._producer: Any = None
        self._partitions: list[int] = []
        self._device_partition: dict[str, int] = {}
        # partition of every device index, per fleet (chunks share their fleet's id tuple)
        self._tables: dict[int, tuple[Sequence[str], np.ndarray[Any, Any]]] = {}
        self._in_flight: list[asyncio.Future[Any]] = []
        self._in_flight_sizes: list[int] = []
        self._t0 = 0.0

    async def __aenter__(self) -> KafkaSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        self._producer = AIOKafkaProducer(**self._kwargs)
        await self._producer.start()
        parts = await self._producer.partitions_for(self.topic)
        if not parts:
            raise RuntimeError(f"topic {self.topic!r} has no partitions")
        self._partitions = sorted(parts)
        self._t0 = time.perf_counter()

    async def stop(self) -> None:
        if self._producer is None:
            return
        try:
            await self.flush()
        finally:
            await self._producer.stop()
            self._producer = None
            self.stats.seconds = time.perf_counter() - self._t0

    def _partition_table(self, device_ids: Sequence[str]) -> np.ndarray[Any, Any]:
        cached = self._tables.get(id(device_ids))
        if cached is not None and cached[0] is device_ids:
            return cached[1]
        n = len(self._partitions)
        out = np.empty(len(device_ids), np.int64)
        for i, d in enumerate(device_ids):
            p = self._device_partition.get(d)
            if p is None:
                p = self._partitions[(_murmur2(d.encode()) & 0x7FFFFFFF) % n]
                self._device_partition[d] = p
            out[i] = p
        self._tables[id(device_ids)] = (device_ids, out)
        return out

    async def send(self, chunk: Chunk) -> int:
        """Queue a chunk's messages (in delivery order per partition); return how many."""
        if self._producer is None:
            raise RuntimeError("KafkaSink is not started")
        if len(chunk) == 0:
            return 0
        part = self._partition_table(chunk.device_ids)[chunk.device_idx]
        order = np.argsort(part, kind="stable")
        part_sorted = part[order]
        bounds = np.flatnonzero(np.diff(part_sorted)) + 1
        keys = chunk.keys()
        values = chunk.values()
        producer = self._producer
        total = 0
        for idx in np.split(order, bounds):
            if len(idx) == 0:
                continue
            p = int(part[idx[0]])
            batch = producer.create_batch()
            count = 0
            for i in idx.tolist():
                k, v = keys[i], values[i]
                if batch.append(key=k, value=v, timestamp=None) is None:
                    await self._send_batch(batch, p, count)
                    batch = producer.create_batch()
                    count = 0
                    batch.append(key=k, value=v, timestamp=None)
                count += 1
                total += len(v)
            await self._send_batch(batch, p, count)
            self.stats.per_partition[p] = self.stats.per_partition.get(p, 0) + len(idx)
        self.stats.messages += len(chunk)
        self.stats.malformed += chunk.n_malformed
        self.stats.bytes += total
        return len(chunk)

    async def _send_batch(self, batch: Any, partition: int, count: int) -> None:
        if count == 0:
            return
        fut = await self._producer.send_batch(batch, self.topic, partition=partition)
        self._in_flight.append(fut)
        self._in_flight_sizes.append(count)
        self.stats.batches += 1
        if len(self._in_flight) >= self._max_in_flight:
            half = len(self._in_flight) // 2
            await self._settle(half)

    async def _settle(self, n: int) -> None:
        futs, self._in_flight = self._in_flight[:n], self._in_flight[n:]
        sizes, self._in_flight_sizes = self._in_flight_sizes[:n], self._in_flight_sizes[n:]
        await asyncio.gather(*futs)
        self.stats.acked += sum(sizes)

    async def flush(self) -> None:
        """Wait until every queued batch is acknowledged."""
        if self._producer is not None:
            await self._producer.flush()
        await self._settle(len(self._in_flight))


async def produce(
    chunks: Iterable[Chunk] | AsyncIterable[Chunk],
    sink: KafkaSink,
    *,
    speed: float | None = None,
    origin_ms: int | None = None,
    on_chunk: Callable[[Chunk], object] | None = None,
) -> ProduceStats:
    """Send every chunk through a started sink, then flush; return the sink's stats.

    Parameters
    ----------
    chunks
        A :class:`simulators.FleetSimulator` (or any chunks), sync or async.
    speed
        Pace delivery (see :func:`simulators.pacing.apaced`): 1 = real time; ``None`` = as fast
        as possible. ``origin_ms`` defaults to the simulator's ``start_ms``.
    on_chunk
        Called after each chunk (or paced slice) is handed to the producer: progress displays
        and load tests count offered messages here.
    """
    if speed is not None and not isinstance(chunks, AsyncIterable):
        origin = origin_ms if origin_ms is not None else getattr(chunks, "start_ms", None)
        if origin is None:
            raise ValueError("pacing needs origin_ms (the simulated start)")
        chunks = apaced(chunks, speed, origin_ms=origin)
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            await sink.send(chunk)
            if on_chunk is not None:
                on_chunk(chunk)
    else:
        # generate the next chunk in a thread while the event loop ships the previous one
        it = iter(chunks)
        while (nxt := await asyncio.to_thread(next_chunk, it)) is not None:
            await sink.send(nxt)
            if on_chunk is not None:
                on_chunk(nxt)
    await sink.flush()
    return sink.stats
