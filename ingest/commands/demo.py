"""``vitalstream demo``: the whole pipeline once, on the local stack, with a printed summary.

Simulated wearers (with injected acute events and malformed messages) go into Kafka, the
daemon scores them and writes InfluxDB, and the summary says what was written and raised.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.daemon import IngestDaemon
    from ingest.settings import Settings


HOUR_MS = 3_600_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="simulate a fleet through Kafka, the daemon and InfluxDB")
    parser.add_argument("--scenario", default="acute_events", help="named scenario or TOML file")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--hours", type=float, default=48.0, help="event time to simulate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # on use: every command module loads with the parser (~20 ms)

    from ingest import stack

    stack.up(settings)
    return asyncio.run(_demo(args, settings))


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # on use: every command module loads with the parser (~20 ms)

    from ingest.daemon import IngestDaemon
    from ingest.kafka_io.offsets import end_offsets, wait_until_committed
    from ingest.kafka_io.topics import create_missing_topics
    from ingest.kafka_security import kafka_client_kwargs
    from simulators import FleetSimulator, load_scenario
    from simulators.sinks import KafkaSink, produce

    kafka = kafka_client_kwargs(settings)
    topic = settings.topics.readings
    await create_missing_topics(settings)

    now = int(time.time() * 1000)
    span = int(args.hours * HOUR_MS)
    sim = FleetSimulator(
        load_scenario(args.scenario),
        devices=args.devices,
        seed=args.seed,
        start_ms=now - span - HOUR_MS,
        duration_ms=span,
    )
    before = sum((await end_offsets(kafka, topic)).values())
    _say(
        f"demo: simulating {sim.n_devices} devices over {args.hours:g} h of event time "
        f"({len(sim.event_labels)} injected events) into {topic}"
    )
    extra = {k: v for k, v in kafka.items() if k != "bootstrap_servers"}
    t0 = time.perf_counter()
    async with KafkaSink(settings.bootstrap_servers, topic, producer_kwargs=extra) as sink:
        stats = await produce(sim, sink)
    produced = stats.messages
    _say(f"demo: produced {produced:,} messages in {time.perf_counter() - t0:.1f} s")

    daemon = IngestDaemon(settings)
    task = asyncio.create_task(daemon.run())
    t1 = time.perf_counter()
    try:
        await wait_until_committed(kafka, topic, settings.ingest.group_id, timeout_s=args.timeout)
    finally:
        daemon.request_stop()
        await task
    elapsed = time.perf_counter() - t1
    m = daemon.metrics
    after = sum((await end_offsets(kafka, topic)).values())

    def total(counter: object) -> int:
        return int(m._total(counter))  # type: ignore[arg-type]

    dead = Counter(
        {
            s.labels["reason"]: int(s.value)
            for metric in m.dead_letters.collect()
            for s in metric.samples
            if s.name.endswith("_total")
        }
    )
    alerts = _alert_summary(daemon)
    print()
    print("vitalstream demo summary")
    print(f"  records in topic (new)      {after - before:>10,}")
    print(f"  records consumed            {total(m.records):>10,}")
    print(f"  readings scored + written   {total(m.readings):>10,}")
    print(f"  points acknowledged         {total(m.points):>10,}  (readings, alerts, metrics)")
    print(
        f"  dead-lettered               {sum(dead.values()):>10,}  "
        + ", ".join(f"{k}={v}" for k, v in dead.most_common())
    )
    print(f"  alert events                {total(m.alerts):>10,}")
    for (kind, severity), n in sorted(alerts.items()):
        print(f"      {kind:<24} {severity:<9} {n:>4} opened")
    print(
        f"  daemon time                 {elapsed:>10.1f} s "
        f"({total(m.records) / max(elapsed, 1e-9):,.0f} records/s)"
    )
    print(
        f"  InfluxDB: {settings.influx_url}  bucket={settings.influxdb.bucket} "
        f"measurements vitals, vitals_minute, alerts, pipeline"
    )
    return 0


def _alert_summary(daemon: IngestDaemon) -> Counter[tuple[str, str]]:
    """Alerts opened during this run, by kind and severity (from the engine's own events)."""
    return Counter((a.kind.value, a.severity) for a in daemon.opened_alerts)
