"""Time modes: real time, accelerated, as fast as possible.

Pacing maps simulated delivery time onto wall time: a reading delivered at simulated time ``t``
is released when ``(t - origin) / speed`` seconds have passed since the run began. Chunks are
cut into slices of about ``slice_s`` wall seconds so a paced feed flows smoothly.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

import numpy as np

from simulators.chunk import Chunk

MINUTE_MS = 60_000


def default_start_ms(duration_ms: int, speed: float | None, now_ms: int | None = None) -> int:
    """A start such that event time never runs ahead of the wall clock and ends near now.

    As fast as possible (``speed`` None or inf): ``now - duration``. At ``speed`` x it is
    ``now - duration * (1 - 1/speed)``: the run takes ``duration / speed`` of wall time and its
    event time reaches the then-current time just as it ends. Real time (1x) starts now.

    >>> default_start_ms(3_600_000, None, now_ms=10_000_000)
    6360000
    >>> default_start_ms(3_600_000, 1.0, now_ms=10_000_000)
    9960000
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if speed is None or math.isinf(speed):
        start = now - duration_ms
    else:
        if speed <= 0:
            raise ValueError("speed must be positive")
        start = now - int(duration_ms * max(0.0, 1.0 - 1.0 / speed))
    return start // MINUTE_MS * MINUTE_MS


def next_chunk(it: Iterator[Chunk]) -> Chunk | None:
    """``next(it, None)``, typed for :func:`asyncio.to_thread`."""
    return next(it, None)


def _slices(chunk: Chunk, step_ms: int) -> Iterator[Chunk]:
    edges = [*range(chunk.start_ms + step_ms, chunk.end_ms, step_ms), chunk.end_ms]
    cuts = np.searchsorted(chunk.send_ms, edges, side="left").tolist()
    lo, start = 0, chunk.start_ms
    for edge, hi in zip(edges, cuts, strict=True):
        yield chunk.slice(lo, hi, start, edge)
        lo, start = hi, edge


def _plan(speed: float | None, slice_s: float) -> int | None:
    if speed is None or math.isinf(speed):
        return None
    if speed <= 0:
        raise ValueError("speed must be positive")
    return max(1, int(slice_s * speed * 1000))


def paced(
    chunks: Iterable[Chunk],
    speed: float | None,
    *,
    origin_ms: int,
    slice_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Chunk]:
    """Yield chunks (or slices of them) no earlier than their delivery time allows.

    ``speed`` 1.0 is real time, 3600 replays an hour per second, ``None`` does not wait.
    The wall clock starts when the first chunk is ready.

    >>> from simulators import Artefacts, FleetSimulator, Scenario
    >>> quiet = Scenario(devices=2, duration_ms=120_000, artefacts=Artefacts.none())
    >>> sim = FleetSimulator(quiet, start_ms=1767225600000)
    >>> fake = [0.0]
    >>> out = list(paced(sim, 60.0, origin_ms=sim.start_ms, slice_s=1.0,
    ...                  clock=lambda: fake[0], sleep=lambda s: fake.__setitem__(0, fake[0] + s)))
    >>> 2.0 <= fake[0] < 3.1  # two simulated minutes at 60x, then the last steps counts
    True
    """
    step = _plan(speed, slice_s)
    if step is None:
        yield from chunks
        return
    assert speed is not None
    wall0: float | None = None
    for chunk in chunks:
        if wall0 is None:
            wall0 = clock()  # after the first chunk: planning a big fleet takes seconds
        for part in _slices(chunk, step):
            wait = wall0 + (part.end_ms - origin_ms) / speed / 1000.0 - clock()
            if wait > 0:
                sleep(wait)
            yield part


async def apaced(
    chunks: Iterable[Chunk],
    speed: float | None,
    *,
    origin_ms: int,
    slice_s: float = 0.5,
) -> AsyncIterator[Chunk]:
    """Async :func:`paced` for the Kafka sink.

    Chunks are generated in a worker thread (numpy releases the GIL), so the event loop keeps
    the producer's sockets busy meanwhile; the generator is only ever used by one thread.
    """
    step = _plan(speed, slice_s)
    loop = asyncio.get_running_loop()
    wall0: float | None = None
    it = iter(chunks)
    while (chunk := await asyncio.to_thread(next_chunk, it)) is not None:
        if step is None or speed is None:
            yield chunk
            continue
        if wall0 is None:
            wall0 = loop.time()
        for part in _slices(chunk, step):
            wait = wall0 + (part.end_ms - origin_ms) / speed / 1000.0 - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            yield part
