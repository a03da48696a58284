"""``vitalstream simulate``: a simulated wearable fleet into Kafka or a file, with labels.

Readings go to the readings topic (keyed by device) or to a ``.csv`` (replay format) or
``.ndjson`` (wire messages) file, gzipped if the name ends in ``.gz``; the ground-truth labels
go to an NDJSON file beside them (and optionally to a topic). Speed: ``1`` is real time,
``3600`` an hour per second, ``max`` as fast as possible. Without ``--start`` the span is placed
so that it ends near now, as the daemon only accepts readings up to 30 days old and 5 minutes
ahead.
"""

from __future__ import annotations

import argparse
import gzip
import io
import math
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.settings import Settings
    from simulators import Chunk, FleetSimulator


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        help="stream a simulated wearable fleet (with labelled anomalies) to Kafka or a file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--scenario",
        default="normal_week",
        help="named scenario (normal_week, acute_events, illness_week) or a TOML file",
    )
    p.add_argument("--devices", type=int, default=None, help="fleet size (default: scenario's)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: scenario's)")
    p.add_argument(
        "--duration", default=None, help="event time to simulate, e.g. 6h, 2d (default: scenario's)"
    )
    p.add_argument(
        "--start",
        default=None,
        help="first instant, RFC 3339 with offset (default: end the span near now)",
    )
    p.add_argument(
        "--speed",
        type=_speed,
        default=None,
        metavar="X|max",
        help="1 = real time, 60 = a minute per second, max = no pacing (default)",
    )
    p.add_argument(
        "--out",
        default="kafka",
        help="'kafka' (the readings topic), FILE.csv, FILE.ndjson, or '-' (NDJSON to stdout)",
    )
    p.add_argument("--topic", default=None, help="topic for --out kafka (default: settings)")
    p.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="labels NDJSON file (default: beside --out; for kafka ./<scenario>-labels.ndjson)",
    )
    p.add_argument("--labels-topic", default=None, help="also produce the labels to this topic")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(handler=run)


def _speed(text: str) -> float | None:
    if text.lower() in ("max", "inf", "fast"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("speed must be a positive number or 'max'") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError("speed must be a positive number or 'max'")
    return value


def _parse_start(text: str | None) -> int | None:
    if text is None:
        return None
    if text == "now":
        return int(time.time() * 1000)
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError("--start needs a UTC offset, e.g. 2026-01-05T00:00:00Z")
    return int(dt.timestamp() * 1000)


def build_simulator(args: argparse.Namespace) -> FleetSimulator:
    """The simulator the arguments describe (public so tests and ``loadtest`` can reuse it)."""
    from simulators import FleetSimulator, load_scenario, parse_duration

    return FleetSimulator(
        load_scenario(args.scenario),
        devices=args.devices,
        seed=args.seed,
        start_ms=_parse_start(args.start),
        duration_ms=parse_duration(args.duration) if args.duration else None,
        speed=args.speed,
    )


def labels_path(args: argparse.Namespace, sim: FleetSimulator) -> Path | None:
    """Where labels go: ``--labels``, else beside the output file, else ``./<scenario>-labels``."""
    if args.labels is not None:
        return Path(args.labels)
    if args.out == "-":
        return None
    if args.out == "kafka":
        return Path(f"{sim.scenario.name}-labels.ndjson")
    out = Path(args.out)
    stem = Path(out.stem).stem if out.suffix == ".gz" else out.stem
    return out.with_name(stem + ".labels.ndjson")


class Progress:
    """A one-line progress display on stderr (rewritten in place on a terminal)."""

    def __init__(
        self, sim: FleetSimulator, *, enabled: bool, stream: IO[str] | None = None
    ) -> None:
        self.sim = sim
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.messages = 0
        self.malformed = 0
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._at = sim.start_ms

    def update(self, chunk: Chunk) -> None:
        self.messages += len(chunk)
        self.malformed += chunk.n_malformed
        self._at = max(self._at, chunk.end_ms)
        now = time.perf_counter()
        if self.enabled and now - self._last >= (0.5 if self.tty else 5.0):
            self._last = now
            self._show(final=False)

    def done(self) -> None:
        """Print the final state (always, so logs show how far the run got)."""
        if self.enabled:
            self._show(final=True)

    def _show(self, *, final: bool) -> None:
        span = self.sim.end_ms - self.sim.start_ms
        at_ms = min(self._at, self.sim.end_ms)
        done = (at_ms - self.sim.start_ms) / span
        rate = self.messages / max(time.perf_counter() - self._t0, 1e-9)
        line = (
            f"simulate: {done:6.1%} event time "
            f"{datetime.fromtimestamp(at_ms / 1000, UTC):%Y-%m-%d %H:%M} | "
            f"{self.messages:,} msgs ({self.malformed:,} malformed) | {rate:,.0f} msg/s"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def tracked(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        for chunk in chunks:
            self.update(chunk)
            yield chunk


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # on use: every command module loads with the parser (~20 ms)

    try:
        sim = build_simulator(args)
    except ValueError as exc:
        print(f"vitalstream simulate: {exc}", file=sys.stderr)
        return 2
    _say(
        f"simulate: {sim.scenario.name}, {sim.n_devices} devices, seed {sim.seed}, "
        f"{_iso(sim.start_ms)} .. {_iso(sim.end_ms)}, {len(sim.event_labels)} injected events, "
        f"speed {'max' if args.speed is None else f'{args.speed:g}x'} -> {args.out}",
        args,
    )
    if args.out == "kafka":
        _warn_outside_window(sim, args, settings)
    from simulators.sinks import write_labels

    progress = Progress(sim, enabled=not args.quiet)
    path = labels_path(args, sim)
    if path is not None:
        # the injected events are known now: an interrupted (real-time) run still has them
        write_labels(sim.labels, path)
    try:
        if args.out == "kafka":
            code = asyncio.run(_to_kafka(args, settings, sim, progress))
        else:
            code = _to_file(args, sim, progress)
    finally:
        progress.done()
        if path is not None:
            # now with the routine charging periods of the part that ran
            write_labels(sim.labels, path)
            _say(f"simulate: {len(sim.labels)} labels -> {path}", args)
    if args.labels_topic:
        asyncio.run(_labels_to_kafka(args, settings, sim))
    return code


def _to_file(args: argparse.Namespace, sim: FleetSimulator, progress: Progress) -> int:
    from simulators import paced
    from simulators.sinks import write_csv, write_ndjson

    chunks = progress.tracked(paced(sim, args.speed, origin_ms=sim.start_ms))
    if args.out == "-":
        write_ndjson(chunks, sys.stdout.buffer)
        return 0
    out = Path(args.out)
    zipped = out.suffix == ".gz"
    kind = Path(out.stem).suffix if zipped else out.suffix
    if kind not in (".csv", ".ndjson", ".jsonl"):
        print(
            "vitalstream simulate: --out must be kafka, -, *.csv or *.ndjson (optionally .gz)",
            file=sys.stderr,
        )
        return 2
    with gzip.open(out, "wb", compresslevel=3) if zipped else out.open("wb") as raw:
        if kind == ".csv":
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            write_csv(chunks, text)
            text.flush()
            text.detach()
        else:
            write_ndjson(chunks, raw)
    return 0


async def _to_kafka(
    args: argparse.Namespace, settings: Settings, sim: FleetSimulator, progress: Progress
) -> int:
    from ingest.kafka_io.topics import create_missing_topics
    from ingest.kafka_security import kafka_client_kwargs
    from simulators.sinks import KafkaSink, produce

    kwargs = kafka_client_kwargs(settings)
    topic = args.topic or settings.topics.readings
    if args.topic is None:
        await create_missing_topics(settings)
    bootstrap = kwargs.pop("bootstrap_servers")
    async with KafkaSink(bootstrap, topic, producer_kwargs=kwargs) as sink:
        await produce(sim, sink, speed=args.speed, on_chunk=progress.update)
    stats = sink.stats
    _say(
        f"simulate: {stats.acked:,} acknowledged by Kafka topic {topic} in {stats.seconds:.1f} s "
        f"({stats.rate:,.0f} msg/s)",
        args,
    )
    return 0 if stats.acked == stats.messages else 1


async def _labels_to_kafka(
    args: argparse.Namespace, settings: Settings, sim: FleetSimulator
) -> None:
    import msgspec
    from aiokafka import AIOKafkaProducer

    from ingest.kafka_security import kafka_client_kwargs

    kwargs = kafka_client_kwargs(settings)
    producer = AIOKafkaProducer(**kwargs, linger_ms=20)
    await producer.start()
    enc = msgspec.json.Encoder()
    try:
        for label in sim.labels:
            await producer.send(args.labels_topic, enc.encode(label), key=label.device_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    _say(f"simulate: {len(sim.labels)} labels -> topic {args.labels_topic}", args)


def _warn_outside_window(sim: FleetSimulator, args: argparse.Namespace, settings: Settings) -> None:
    """Say so when the daemon will dead-letter readings for their timestamps."""
    ingest = getattr(settings, "ingest", None)
    max_age = getattr(ingest, "max_age_ms", 30 * 86_400_000)
    max_future = getattr(ingest, "max_future_ms", 5 * 60_000)
    now = int(time.time() * 1000)
    if sim.start_ms < now - max_age:
        print(
            "vitalstream simulate: warning: the span starts more than "
            f"{max_age // 86_400_000} days ago; the daemon will dead-letter those readings "
            "(ts_too_old). Omit --start to end the span near now.",
            file=sys.stderr,
        )
    speed = args.speed or math.inf
    # event time at the end of the run versus the wall clock then
    if sim.end_ms > now + (sim.end_ms - sim.start_ms) / speed + max_future:
        print(
            "vitalstream simulate: warning: event time will run ahead of the wall clock; the "
            "daemon will dead-letter readings more than "
            f"{max_future // 60_000} min ahead (ts_in_future). Omit --start or lower --speed.",
            file=sys.stderr,
        )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _say(msg: str, args: argparse.Namespace) -> None:
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)
