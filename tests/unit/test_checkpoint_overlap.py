"""Overlapping checkpoints, without Kafka or InfluxDB: the next checkpoint's points are written
while the previous one's Kafka transaction runs, but an offset is committed only after every
point below it is written, commits keep their order, and a failure in the middle of an overlap
commits nothing past it. And the loop stops waiting for records as soon as something else is
due (a stop; room for the next checkpoint while fetching is paused)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, ProducerFenced

from ingest.daemon import Checkpoint, IngestDaemon
from ingest.errors import FencedError
from ingest.influx.writer import Rejected
from ingest.settings import Settings

TP = TopicPartition("vitalstream.readings", 0)


class _Consumer:
    def __init__(self) -> None:
        self.fetch_gate = asyncio.Event()

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        await self.fetch_gate.wait()  # no records until the test says so, whatever the timeout
        return {}


class _Writer:
    """Each write waits for the test to open its gate; the log says what was written when."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.gates: dict[str, asyncio.Event] = {}

    def gate(self, first_line: str) -> asyncio.Event:
        return self.gates.setdefault(first_line, asyncio.Event())

    async def write(self, lines: list[str], lanes: list[int]) -> list[Rejected]:
        self.log.append(f"write {lines[0]} started")
        await self.gate(lines[0]).wait()
        self.log.append(f"write {lines[0]} done")
        return []


class _Producer:
    """A transactional producer whose commits wait for the test; ``fail`` raises at commit."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.offsets: dict[TopicPartition, int] = {}
        self.commit_gates: list[asyncio.Event] = []
        self.commit_waiting = asyncio.Event()
        self.fail: list[BaseException] = []

    async def begin_transaction(self) -> None:
        self.log.append("begin")
        self.offsets = {}

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_offsets_to_transaction(
        self, offsets: dict[TopicPartition, int], group: str
    ) -> None:
        self.offsets = dict(offsets)

    async def commit_transaction(self) -> None:
        gate = asyncio.Event()
        self.commit_gates.append(gate)
        self.commit_waiting.set()
        await gate.wait()
        if self.fail:
            raise self.fail.pop(0)
        self.log.append(f"commit {self.offsets.get(TP)}")

    async def abort_transaction(self) -> None:
        self.log.append("abort")


def _daemon(log: list[str]) -> tuple[IngestDaemon, _Writer, _Producer]:
    daemon = IngestDaemon(Settings(privacy={"pseudonymize": False}))  # type: ignore[arg-type]
    writer, producer = _Writer(log), _Producer(log)
    daemon.consumer = _Consumer()  # type: ignore[assignment]
    daemon.writer = writer  # type: ignore[assignment]
    daemon.producer = producer  # type: ignore[assignment]
    return daemon, writer, producer


def _checkpoint(line: str, offset: int) -> Checkpoint:
    return Checkpoint(lines=[line], lanes=[0], sources=[None], offsets={TP: offset}, commit=True)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def _open_commit(producer: _Producer, index: int) -> None:
    while len(producer.commit_gates) <= index:
        producer.commit_waiting.clear()
        await producer.commit_waiting.wait()
    producer.commit_gates[index].set()


async def test_the_next_write_overlaps_the_previous_commit_and_commits_wait_their_turn() -> None:
    log: list[str] = []
    daemon, writer, producer = _daemon(log)
    daemon._start_checkpoint(_checkpoint("a", 10))
    await _settle()
    assert daemon._checkpoint_holding_next() is not None  # a's points are not written yet
    writer.gate("a").set()
    await _settle()
    assert log == ["write a started", "write a done", "begin"]  # a's commit waits
    assert daemon._checkpoint_holding_next() is None  # b may start: a's points are written

    daemon._start_checkpoint(_checkpoint("b", 20))
    await _settle()
    assert log[-1] == "write b started"  # b's write overlaps a's transaction
    # two checkpoints at most: a third waits for a's transaction
    assert daemon._checkpoint_holding_next() is not None
    writer.gate("b").set()
    await _settle()
    assert "begin" not in log[3:]  # b's transaction waits for a's commit

    await _open_commit(producer, 0)
    await _open_commit(producer, 1)
    await daemon._await_inflight()
    assert log == [
        "write a started",
        "write a done",
        "begin",
        "write b started",
        "write b done",
        "commit 10",
        "begin",
        "commit 20",
    ]


async def test_a_write_never_starts_before_the_previous_write_is_over() -> None:
    log: list[str] = []
    daemon, writer, producer = _daemon(log)
    daemon._start_checkpoint(_checkpoint("a", 10))
    # started regardless of _checkpoint_holding_next: the task itself keeps the order
    daemon._start_checkpoint(_checkpoint("b", 20))
    await _settle()
    assert log == ["write a started"]
    writer.gate("b").set()
    await _settle()
    assert log == ["write a started"]
    writer.gate("a").set()
    await _open_commit(producer, 0)
    await _open_commit(producer, 1)
    await daemon._await_inflight()
    assert log.index("write a done") < log.index("write b started")
    assert [e for e in log if e.startswith("commit")] == ["commit 10", "commit 20"]


async def _overlap_with_a_failing_commit(
    error: BaseException, log: list[str]
) -> tuple[IngestDaemon, _Producer]:
    """Checkpoints a (offset 10) and b (20) overlapping, a's first commit raising ``error``."""
    daemon, writer, producer = _daemon(log)
    writer.gate("a").set()
    writer.gate("b").set()
    producer.fail.append(error)
    daemon._start_checkpoint(_checkpoint("a", 10))
    await _settle()
    daemon._start_checkpoint(_checkpoint("b", 20))
    return daemon, producer


async def test_a_failed_commit_mid_overlap_is_retried_before_the_next_one_commits() -> None:
    log: list[str] = []
    daemon, producer = await _overlap_with_a_failing_commit(KafkaConnectionError(), log)
    for i in range(3):  # a fails, a again, then b
        await _open_commit(producer, i)
    await daemon._await_inflight()
    commits = [e for e in log if e.startswith(("commit", "abort"))]
    assert commits == ["abort", "commit 10", "commit 20"]


async def test_fencing_mid_overlap_commits_nothing_after_it() -> None:
    log: list[str] = []
    daemon, producer = await _overlap_with_a_failing_commit(ProducerFenced(), log)
    await _open_commit(producer, 0)
    with pytest.raises(FencedError):
        await daemon._await_inflight()
    await _settle()
    assert "write b done" in log  # b's points were written (idempotent, harmless) ...
    assert not [e for e in log if e.startswith("commit")]  # ... but nothing was committed
    assert log.count("begin") == 1  # b never began its transaction


async def test_abandoning_drops_both_checkpoints_in_flight_uncommitted() -> None:
    log: list[str] = []
    daemon, writer, _producer = _daemon(log)
    writer.gate("a").set()
    daemon._start_checkpoint(_checkpoint("a", 10))
    await _settle()
    daemon._start_checkpoint(_checkpoint("b", 20))  # its write hangs, a's commit too
    await _settle()
    first = daemon._inflight
    assert first is not None
    assert first.after is not None
    await daemon._abandon_checkpoints()
    assert first.task.cancelled()
    assert first.after.cancelled()
    assert daemon._inflight is None
    assert not [e for e in log if e.startswith("commit")]


async def test_paused_fetching_wakes_when_the_checkpoint_holding_it_has_written() -> None:
    log: list[str] = []
    daemon, writer, _ = _daemon(log)
    daemon.settings.ingest.fetch_timeout_ms = 3_600_000  # only the write can wake the loop
    daemon._paused = True
    daemon._start_checkpoint(_checkpoint("a", 10))
    stopping: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(daemon._next_batch(stopping))
    await _settle()
    assert not waiting.done()
    writer.gate("a").set()
    done, _ = await asyncio.wait({waiting}, timeout=30)
    assert waiting in done
    assert waiting.result() == {}
    # the fetch was not cancelled: the next call takes it up
    fetch = daemon._fetch
    assert fetch is not None
    assert not fetch.done()
    stopping.set_result(True)
    await daemon._next_batch(stopping)
    assert daemon._fetch is fetch
    daemon.consumer.fetch_gate.set()  # type: ignore[union-attr]
    assert await daemon._next_batch(stopping) == {}
    assert daemon._fetch is None
    daemon._inflight.task.cancel()  # type: ignore[union-attr]


async def test_a_stop_request_wakes_a_loop_waiting_for_records() -> None:
    daemon, _, _ = _daemon([])
    daemon.settings.ingest.fetch_timeout_ms = 3_600_000
    loop = asyncio.ensure_future(daemon._loop())
    await _settle()
    assert not loop.done()
    daemon.request_stop()
    done, _ = await asyncio.wait({loop}, timeout=30)
    assert loop in done
    assert daemon._fetch is not None  # left to end on its own; _shutdown drops it
    daemon.consumer.fetch_gate.set()  # type: ignore[union-attr]
    await daemon._drop_fetch()
    assert daemon._fetch is None
