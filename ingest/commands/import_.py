"""``vitalstream import apple-health|fitbit INPUT --out FILE.csv[.gz]|kafka``: a personal health
export as replay CSV (for ``vitalstream replay``) or as wire messages on the readings topic.

Streaming with constant memory (see :mod:`ingest.importers`); readings are sorted by event time
through temporary files beside the system's temp dir, and keyed by ``--device``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ingest.importers.sink import ImportStats, Row
    from ingest.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import",
        help="import an Apple Health or Fitbit export as replay CSV or into Kafka",
        description="Read a personal health export; write the replay CSV "
        "(device_id,ts,metric,value) or produce wire messages to the readings topic.",
    )
    kinds = parser.add_subparsers(dest="source_format", required=True, metavar="FORMAT")
    apple = kinds.add_parser(
        "apple-health",
        help="Apple Health export.zip or export.xml",
        description="Heart rate, SpO2, step counts and sleep analysis of every source device "
        "(or only --source ones).",
    )
    apple.add_argument("input", type=Path, metavar="export.zip|export.xml")
    apple.add_argument(
        "--source",
        action="append",
        default=None,
        metavar="NAME",
        help="only records of this sourceName (repeatable; default: all sources, see summary)",
    )
    fitbit = kinds.add_parser(
        "fitbit",
        help="Fitbit account export or Google Takeout (folder or zip)",
        description="Heart rate, steps, sleep stages and SpO2 of a Fitbit export.",
    )
    fitbit.add_argument("input", type=Path, metavar="DIR|ZIP")
    fitbit.add_argument(
        "--tz", default=None, help="time zone of the export's local times (default: Profile.csv)"
    )
    fitbit.add_argument(
        "--min-confidence",
        type=int,
        choices=range(4),
        default=1,
        help="skip heart-rate samples Fitbit rated below this confidence (0-3, default 1)",
    )
    for p in (apple, fitbit):
        p.add_argument(
            "--out", required=True, metavar="FILE.csv[.gz]|kafka", help="replay CSV, or 'kafka'"
        )
        p.add_argument("--device", default="me", help="device id of the readings (default: me)")
        p.add_argument("--topic", default=None, help="topic for --out kafka (default: settings)")
        p.add_argument("--quiet", action="store_true", help="no progress on stderr")
        p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import sys

    from ingest.errors import ConfigError
    from ingest.importers.sink import ImportStats, Progress, SortedReadings, write_csv
    from messages.codec import check_device_id

    try:
        check_device_id(args.device)
    except ValueError as exc:
        raise ConfigError(f"--device: {exc}") from None
    if not args.input.exists():
        raise ConfigError(f"import input {args.input} does not exist")
    if args.out != "kafka" and not str(args.out).endswith((".csv", ".csv.gz")):
        raise ConfigError("--out must be FILE.csv, FILE.csv.gz or kafka")
    stats = ImportStats()
    label = f"import {args.source_format}"
    progress = Progress(label, None, quiet=args.quiet)
    rows = SortedReadings()

    read = [0]

    def show(done: int, total: int) -> None:
        read[0] = done
        progress.total = total or None
        progress.update(done, sum(stats.kept.values()))

    try:
        for row in _read(args, stats, show):
            rows.add(row)
    except ValueError as exc:  # AppleHealthError, FitbitError: the input is not such an export
        print(f"vitalstream import: {exc}", file=sys.stderr)
        return 2
    progress.update(read[0], sum(stats.kept.values()), final=True)
    if args.out == "kafka":
        import asyncio

        written = asyncio.run(_to_kafka(rows.sorted(), args, settings))
        where = f"Kafka topic {args.topic or settings.topics.readings}"
    else:
        written = write_csv(rows.sorted(), args.device, Path(args.out))
        where = str(args.out)
    print(f"{label}: {written:,} readings -> {where}; {stats.summary()}", file=sys.stderr)
    if len(stats.sources) > 1:
        listed = ", ".join(f"{k!r} {v:,}" for k, v in sorted(stats.sources.items()))
        print(
            f"{label}: records of {len(stats.sources)} sources ({listed}); two devices counting "
            "the same steps are both kept: choose with --source",
            file=sys.stderr,
        )
    return 0 if written else 1


def _read(
    args: argparse.Namespace, stats: ImportStats, show: Callable[[int, int], None]
) -> Iterator[Row]:
    if args.source_format == "apple-health":
        from ingest.importers.apple_health import read_apple_health

        sources = set(args.source) if args.source else None
        return read_apple_health(args.input, stats, sources=sources, on_progress=show)
    from ingest.importers.fitbit import read_fitbit

    return read_fitbit(
        args.input,
        stats,
        tz=args.tz,
        min_confidence=args.min_confidence,
        on_progress=show,
    )


async def _to_kafka(rows: Iterator[Row], args: argparse.Namespace, settings: Settings) -> int:
    """Produce the readings in event-time order, keyed by the device; waits for every ack."""
    import asyncio
    import sys
    import time

    from aiokafka import AIOKafkaProducer

    from ingest.kafka_io.topics import create_missing_topics
    from ingest.kafka_security import kafka_client_kwargs
    from messages.codec import encode_reading

    topic = args.topic or settings.topics.readings
    if args.topic is None:
        await create_missing_topics(settings)
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(settings), acks="all", enable_idempotence=True, linger_ms=50
    )
    await producer.start()
    oldest_ok = int(time.time() * 1000) - settings.ingest.max_age_ms
    key = args.device.encode()
    sent = too_old = 0
    try:
        pending = []
        for r in rows:
            too_old += r.ts_ms < oldest_ok
            value = encode_reading(args.device, r.ts_ms, r.metric, r.value, interval_s=r.interval_s)
            pending.append(await producer.send(topic, value, key=key))
            sent += 1
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    if too_old:
        print(
            f"vitalstream import: {too_old:,} readings are older than ingest.max_age_ms: the "
            "daemon dead-letters them (ts_too_old) unless VITALSTREAM_INGEST__MAX_AGE_MS is "
            "raised for the backfill; `vitalstream replay FILE.csv.gz` needs no such window",
            file=sys.stderr,
        )
    return sent
