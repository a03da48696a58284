"""Run one load test: a paced simulated fleet into Kafka, the daemon as a separate process,
samplers around it, then a report (see ``docs/loadtest.md`` for every definition).

Everything runs on isolated topics, consumer group and InfluxDB bucket (``loadtest-<id>``),
deleted afterwards unless ``keep`` is set, so a load test never touches production data.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from detectors import AlertEvent
from ingest.errors import VitalstreamError
from ingest.kafka_io.offsets import topic_partitions
from ingest.kafka_io.topics import create_missing_topics
from ingest.kafka_security import kafka_client_kwargs
from ingest.loadtest.analysis import (
    ProducedIndex,
    Scrape,
    StepVerdict,
    judge_step,
    parse_metrics,
)
from ingest.loadtest.schedule import Schedule
from ingest.privacy import pseudonym
from ingest.settings import Settings

MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
LATENCY_HIST = "vitalstream_reading_to_influx_seconds"


@dataclass
class LoadTestConfig:
    """What to run. ``rate`` is the target offered load (readings/s) for ``duration_s``; in
    step mode it is the first step's rate, multiplied by ``step_factor`` every ``duration_s``
    up to ``max_rate`` or until a step is not sustainable; then ``refine`` more steps bisect
    between the last sustainable rate and the first unsustainable one."""

    devices: int = 1000
    rate: float = 5000.0
    duration_s: float = 30.0
    scenario: str = "loadtest"
    seed: int = 5
    step: bool = False
    step_factor: float = 1.5
    max_rate: float = 200_000.0
    lag_tolerance: float = 0.05
    refine: int = 2
    sample_interval_s: float = 1.0
    drain_timeout_s: float = 120.0
    warmup_min: float = 60.0
    partitions: int | None = None
    out_dir: Path = Path("var/loadtest")
    keep: bool = False
    plots: bool = True
    name: str | None = None
    config_file: Path | None = None
    daemon_env: dict[str, str] = field(default_factory=dict)
    command: str = ""  # how it was run, for the report

    def schedule(self) -> Schedule:
        if self.step:
            return Schedule.staircase(
                self.rate, factor=self.step_factor, max_rate=self.max_rate, seconds=self.duration_s
            )
        return Schedule.constant(self.rate, self.duration_s)


@dataclass
class Sample:
    t: float  # seconds since the load started
    target_rate: float
    produced: int
    acked: int
    log_end: int
    committed: int
    scrape: Scrape | None  # the daemon's /metrics (the previous one if a scrape failed)
    scrape_t: float  # when that scrape was taken
    cpu_s: float | None  # daemon CPU seconds so far (user + system)
    rss: int | None
    gen_cpu_s: float


class LoadTestError(VitalstreamError):
    """The load test could not run (the daemon did not start or died); see its log."""


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def isolated(base: Settings, name: str, partitions: int | None, port: int) -> Settings:
    return base.with_namespace(name, partitions=partitions, http_port=port)


def daemon_env(s: Settings, cfg: LoadTestConfig) -> dict[str, str]:
    """The environment of the daemon subprocess: the caller's (so services, credentials and
    the pseudonym key resolve exactly as for this process), with the isolated names."""
    env = dict(os.environ)
    if cfg.config_file is not None:
        env["VITALSTREAM_CONFIG"] = str(cfg.config_file)
    env.update({**s.namespace_env(), **cfg.daemon_env})
    return env


def _bucket(s: Settings, *, create: bool) -> None:
    from influxdb_client.client.influxdb_client import InfluxDBClient

    with InfluxDBClient(url=s.influx_url, token=s.influx_token(), org=s.influxdb.org) as c:
        api = c.buckets_api()
        found = api.find_bucket_by_name(s.influxdb.bucket)
        if create and found is None:
            api.create_bucket(bucket_name=s.influxdb.bucket, org=s.influxdb.org)
        elif not create and found is not None:
            api.delete_bucket(found)


def _device_names(settings: Settings, device_ids: tuple[str, ...]) -> dict[str, int]:
    """Device index by every name the daemon may publish: the raw id and, when the daemon
    pseudonymises ids (:mod:`ingest.privacy`), the pseudonym (same settings, same key)."""
    names = {d: i for i, d in enumerate(device_ids)}
    try:
        key = settings.pseudonym_key()
    except VitalstreamError:
        return names  # no key: the daemon would not have started either
    if key:
        names.update({pseudonym(key, d): i for i, d in enumerate(device_ids)})
    return names


class _Daemon:
    """The daemon as a subprocess, logs to a file."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int) -> None:
        self.log_path = log_path
        self.port = port
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingest.cli", "ingest"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        import psutil

        self.ps: Any = psutil.Process(self.proc.pid)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as r:  # noqa: S310
                return int(r.status), r.read().decode()
        except OSError:
            return 0, ""

    def resources(self) -> tuple[float | None, int | None]:
        try:
            ct = self.ps.cpu_times()
            return float(ct.user + ct.system), int(self.ps.memory_info().rss)
        except Exception:
            return None, None

    async def wait_assigned(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LoadTestError(f"daemon exited with {self.proc.returncode}: {self.log_path}")
            if "partitions assigned" in self.log_path.read_text(errors="replace"):
                return
            await asyncio.sleep(0.2)
        raise LoadTestError(f"daemon got no partitions in {timeout_s:.0f} s: {self.log_path}")

    def stop(self, timeout_s: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)


class LoadTest:
    """One run. ``await LoadTest(settings, cfg).run()`` returns the report (a dict)."""

    def __init__(self, settings: Settings, cfg: LoadTestConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name or f"loadtest-{uuid.uuid4().hex[:8]}"
        self.port = _free_port()
        self.s = isolated(settings, self.name, cfg.partitions, self.port)
        self.kafka = kafka_client_kwargs(self.s)
        self.schedule = cfg.schedule()
        self.samples: list[Sample] = []
        self.alert_records: list[tuple[float, int, bytes]] = []  # recv wall, kafka ts, value
        self.verdicts: list[StepVerdict] = []
        self.stop_load = asyncio.Event()
        self.bracket: tuple[float | None, float | None] = (None, None)  # sustainable, not
        self._refines_left = cfg.refine
        self.current_rate = 0.0  # target rate of what the producer is offering now
        self.t0_wall = 0.0
        self.t0 = 0.0
        self.load_end_t = 0.0
        self.produced_until_ms = 0
        self.expected_malformed = 0
        self.expected_out_of_range = 0
        self.sink: Any = None

    # ------------------------------------------------------------------ setup

    async def _setup(self) -> None:
        await create_missing_topics(self.s)
        await asyncio.to_thread(_bucket, self.s, create=True)

    async def _teardown(self) -> None:
        if self.cfg.keep:
            return
        t = self.s.topics
        admin = AIOKafkaAdminClient(**self.kafka)
        await admin.start()
        try:
            await admin.delete_topics([t.readings, t.dead_letter, t.alerts, t.device_state])
        except Exception as exc:
            say(f"loadtest: could not delete topics: {exc}")
        finally:
            await admin.close()
        try:
            await asyncio.to_thread(_bucket, self.s, create=False)
        except Exception as exc:
            say(f"loadtest: could not delete bucket: {exc}")

    # ------------------------------------------------------------------ the run

    async def run(self) -> dict[str, Any]:
        from simulators import FleetSimulator, load_scenario

        cfg = self.cfg
        cfg.out_dir.mkdir(parents=True, exist_ok=True)
        scenario = load_scenario(cfg.scenario)
        probe = FleetSimulator(
            scenario.replace(events=()), devices=cfg.devices, seed=cfg.seed, duration_ms=HOUR_MS
        )
        nominal = probe.nominal_rate()
        # event time needed to offer the whole schedule; it ends 10 min before now
        # (the fleet's real rate runs a few % under its nominal rate: gaps, charging)
        needed = self.schedule.total_count()
        if cfg.step:  # refinement steps run below the first unsustainable rate
            needed += cfg.refine * self.schedule.steps[-1].rate * cfg.duration_s
        span_ms = int(needed / nominal * 1000 * 1.25) + 2 * MIN_MS
        # never shorter than the scenario itself, so that its events fit (what is not produced
        # is simply not scored)
        span_ms = max(span_ms, scenario.duration_ms)
        span_ms = -(-span_ms // MIN_MS) * MIN_MS
        now = int(time.time() * 1000)
        sim = FleetSimulator(
            scenario,
            devices=cfg.devices,
            seed=cfg.seed,
            start_ms=now - span_ms - 10 * MIN_MS,
            duration_ms=span_ms,
        )
        if span_ms > 29 * 24 * HOUR_MS:
            raise ValueError("the schedule needs more than 29 days of event time: add devices")
        self.sim = sim
        self.index = ProducedIndex(sim.start_ms - 24 * HOUR_MS)
        say(
            f"loadtest {self.name}: {sim.n_devices} devices, {len(sim.event_labels)} injected "
            f"events, {span_ms / HOUR_MS:.2f} h of event time at "
            f"{self.schedule.total_count() / self.schedule.seconds:,.0f} readings/s "
            f"(x{nominal and self.schedule.steps[0].rate / nominal:,.0f} real time)"
        )
        await self._setup()
        daemon = _Daemon(
            daemon_env(self.s, cfg), cfg.out_dir / f"{self.name}-daemon.log", self.port
        )
        self.daemon = daemon
        exit_code: int | None = None
        try:
            await daemon.wait_assigned(90.0)
            report = await self._measure(sim)
        finally:
            exit_code = await asyncio.to_thread(daemon.stop)
            await self._teardown()
        report["daemon"]["exit_code"] = exit_code
        report["daemon"]["log"] = str(daemon.log_path)
        return report

    async def _measure(self, sim: Any) -> dict[str, Any]:
        from simulators.sinks import KafkaSink

        extra = {k: v for k, v in self.kafka.items() if k != "bootstrap_servers"}
        offsets = AIOKafkaConsumer(
            **self.kafka, group_id=self.s.ingest.group_id, enable_auto_commit=False
        )
        await offsets.start()
        self._offsets = offsets
        alerts = AIOKafkaConsumer(
            **self.kafka, enable_auto_commit=False, isolation_level="read_committed"
        )
        await alerts.start()
        self.gen_proc = _own_process()
        try:
            parts = await _wait_partitions(self.kafka, self.s.topics.readings)
            self._tps = [TopicPartition(self.s.topics.readings, p) for p in parts]
            alert_parts = await _wait_partitions(self.kafka, self.s.topics.alerts)
            atps = [TopicPartition(self.s.topics.alerts, p) for p in alert_parts]
            alerts.assign(atps)
            await alerts.seek_to_beginning(*atps)
            async with KafkaSink(
                self.s.bootstrap_servers,
                self.s.topics.readings,
                linger_ms=5,
                producer_kwargs=extra,
            ) as sink:
                self.sink = sink
                self.t0 = time.monotonic()
                self.t0_wall = time.time()
                first = await self._sample(offsets)
                self.samples.append(first)
                tasks = [
                    asyncio.create_task(self._sampler(offsets)),
                    asyncio.create_task(self._read_alerts(alerts)),
                ]
                try:
                    await self._produce(sim, sink)
                    self.load_end_t = time.monotonic() - self.t0
                    self.samples.append(await self._sample(offsets))
                    drained_s = await self._drain(offsets)
                    await _cancel(tasks[0])
                    self.samples.append(await self._sample(offsets))
                    await self._catch_up_alerts(alerts, atps)
                finally:
                    await _cancel(*tasks)
        finally:
            await offsets.stop()
            await alerts.stop()
        return self._report(drained_s)

    async def _produce(self, sim: Any, sink: Any) -> None:
        from simulators.pacing import next_chunk

        loop = asyncio.get_running_loop()
        sched = self.schedule
        it = iter(sim)
        nxt = loop.run_in_executor(None, next_chunk, it)
        sent = 0
        current: int | None = None  # index of the step being offered
        while not self.stop_load.is_set():
            chunk = await nxt
            if chunk is None:
                say("loadtest: the simulation ran out before the schedule ended")
                break
            nxt = loop.run_in_executor(None, next_chunk, it)  # generate ahead, in a thread
            lo, n = 0, len(chunk)
            while lo < n and not self.stop_load.is_set():
                step = sched.index_for_count(sent)
                if self.cfg.step and current is not None and step != current:
                    await self._end_of_step(current)  # may stop, or re-plan what follows
                    current = None
                    step = sched.index_for_count(sent)
                if step is None or self.stop_load.is_set():
                    break
                current = step
                self.current_rate = sched.steps[step].rate
                due = sched.due_s(sent)
                assert due is not None
                step_n = max(20, int(sched.rate_at_count(sent) * 0.02))  # ~50 sends/s
                hi = min(n, lo + step_n)
                wait = self.t0 + due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                part = chunk.slice(lo, hi, chunk.start_ms, chunk.end_ms)
                self.index.add(part.device_idx, part.ts_ms, time.time())
                self.expected_malformed += part.n_malformed
                self.expected_out_of_range += int(np.count_nonzero(part.out_of_range))
                await sink.send(part)
                sent += hi - lo
                self.produced_until_ms = max(self.produced_until_ms, int(part.send_ms[-1]))
                lo = hi
            if sched.due_s(sent) is None and not (self.cfg.step and current is not None):
                break  # (in step mode, the last step's verdict may plan more steps)
        if not self.stop_load.is_set():
            # the load lasts until the last slice's time is up (not just until it was sent),
            # so the offered rate is readings / the schedule's seconds
            due = sched.due_s(sent)
            end = sched.steps[-1].end_s if due is None else due
            await asyncio.sleep(max(0.0, self.t0 + end - time.monotonic()))
        self.current_rate = 0.0
        if self.cfg.step and current is not None and not self.stop_load.is_set():
            await self._end_of_step(current)
        await sink.flush()
        nxt.cancel()

    async def _sample(self, offsets: AIOKafkaConsumer) -> Sample:
        # order matters: consumed (scrape) before produced, committed before the log end, so
        # that consumed <= produced and committed <= log end within a sample
        status, text = await asyncio.to_thread(self.daemon.get, "/metrics")
        t = time.monotonic() - self.t0
        scrape: Scrape | None
        if status == 200:
            scrape, scrape_t = parse_metrics(text), t
        else:  # a slow or failed scrape: keep the last one, with its own time
            last = self.samples[-1] if self.samples else None
            scrape, scrape_t = (last.scrape, last.scrape_t) if last else (None, t)
        produced = int(self.sink.stats.messages)
        acked = int(self.sink.stats.acked)
        committed = 0
        for tp in self._tps:
            committed += await offsets.committed(tp) or 0
        ends = await offsets.end_offsets(self._tps)
        cpu, rss = self.daemon.resources()
        gct = self.gen_proc.cpu_times()
        return Sample(
            t,
            self.current_rate,
            produced,
            acked,
            int(sum(ends.values())),
            committed,
            scrape,
            scrape_t,
            cpu,
            rss,
            float(gct.user + gct.system),
        )

    async def _sampler(self, offsets: AIOKafkaConsumer) -> None:
        interval = self.cfg.sample_interval_s
        nxt = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            nxt += interval
            try:
                self.samples.append(await self._sample(offsets))
            except KafkaError as exc:  # a broker hiccup costs a sample, not the run
                say(f"loadtest: sample failed: {exc!r}")

    async def _read_alerts(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for r in records:
                    self.alert_records.append((now, int(r.timestamp), bytes(r.value)))

    async def _catch_up_alerts(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        """Let the reader reach the alerts topic's current end (everything the daemon produced
        before its last commit)."""
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pos = {tp: await consumer.position(tp) for tp in tps}
            if all(pos[tp] >= ends[tp] for tp in tps):
                return
            await asyncio.sleep(0.2)

    async def _drain(self, offsets: AIOKafkaConsumer) -> float | None:
        """Wait until the daemon committed everything produced; seconds it took after the
        load ended, or ``None`` on timeout."""
        end = await offsets.end_offsets(self._tps)
        t_end = time.monotonic()
        timeout = self.cfg.drain_timeout_s
        while time.monotonic() - t_end < timeout:
            got = 0
            done = True
            for tp in self._tps:
                c = await offsets.committed(tp) or 0
                got += c
                done &= c >= end[tp]
            if done:
                return time.monotonic() - t_end
            if self.daemon.proc.poll() is not None:
                raise LoadTestError(f"the daemon exited: {self.daemon.log_path}")
            await asyncio.sleep(0.25)
        say(f"loadtest: backlog not drained within {timeout:.0f} s")
        return None

    # ------------------------------------------------------------------ step mode

    def _step_samples(self, start_s: float, end_s: float) -> list[Sample]:
        return [x for x in self.samples if start_s - 1e-6 <= x.t <= end_s + 1e-6]

    def _verdict(self, step_no: int, end_s: float) -> StepVerdict:
        st = self.schedule.steps[step_no]
        xs = self._step_samples(st.start_s, end_s)
        if len(xs) < 2:
            xs = self.samples[-2:]
        consumed = [x.scrape.counter("vitalstream_records") if x.scrape else 0.0 for x in xs]
        return judge_step(
            st.rate,
            [x.t for x in xs],
            [float(x.produced) for x in xs],
            consumed,
            [float(x.log_end - x.committed) for x in xs],
            tolerance=self.cfg.lag_tolerance,
        )

    async def _end_of_step(self, i: int) -> None:
        """Judge step ``i`` once its time is up, then plan what follows: the next step of the
        staircase, a bisection step between the last sustainable and the first unsustainable
        rate (after letting the backlog drain), or the end of the run."""
        st = self.schedule.steps[i]
        await asyncio.sleep(max(0.0, self.t0 + st.end_s - time.monotonic()))
        self.current_rate = 0.0  # nothing is offered while judging (and draining)
        self.samples.append(await self._sample(self._offsets))  # the step's last sample
        v = self._verdict(i, st.end_s)
        self.verdicts.append(v)
        good, bad = self.bracket
        if v.sustainable:
            good = max(good or 0.0, v.target_rate)
        else:
            bad = min(bad or math.inf, v.target_rate)
        self.bracket = (good, bad)
        say(
            f"loadtest step {len(self.verdicts)}: target {v.target_rate:,.0f}/s offered "
            f"{v.offered_rate:,.0f}/s achieved {v.achieved_rate:,.0f}/s -> {v.reason}"
        )
        if v.sustainable and bad is None:
            return  # climb on
        if good is None or bad is None or self._refines_left <= 0 or bad / good < 1.05:
            self.stop_load.set()
            return
        self._refines_left -= 1
        mid = round(math.sqrt(good * bad), -2 if good >= 1000 else 0)
        self.schedule.truncate(i + 1)
        if not v.sustainable:
            await self._wait_lag_below(good * 2.0, timeout_s=max(60.0, self.cfg.duration_s * 2))
        pause = time.monotonic() - self.t0 - st.end_s
        if pause > 0.05:
            self.schedule.append(0.0, pause)
        self.schedule.append(mid, self.cfg.duration_s)
        say(f"loadtest: refining between {good:,.0f}/s and {bad:,.0f}/s: {mid:,.0f}/s next")

    async def _wait_lag_below(self, records: float, *, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            committed = 0
            for tp in self._tps:
                committed += await self._offsets.committed(tp) or 0
            ends = await self._offsets.end_offsets(self._tps)
            if sum(ends.values()) - committed <= records:
                return
            await asyncio.sleep(0.5)
        say("loadtest: the backlog did not drain before the next step")

    # ------------------------------------------------------------------ the report

    def _report(self, drained_s: float | None) -> dict[str, Any]:
        from ingest.loadtest.report import build_report

        return build_report(self, drained_s)


async def _cancel(*tasks: asyncio.Task[None]) -> None:
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


def _own_process() -> Any:
    import psutil

    return psutil.Process()


async def _wait_partitions(kafka: dict[str, Any], topic: str) -> list[int]:
    for _ in range(50):
        parts = await topic_partitions(kafka, topic)
        if parts:
            return parts
        await asyncio.sleep(0.1)
    raise LoadTestError(f"topic {topic} has no partitions")


def decode_alerts(
    records: list[tuple[float, int, bytes]],
) -> list[tuple[float, int, AlertEvent]]:
    """Alert events from the alerts topic, deduplicated on ``(alert_id, state, ts_ms)`` (the
    topic is at least once), first delivery kept."""
    dec = msgspec.json.Decoder(AlertEvent)
    seen: set[tuple[str, str, int]] = set()
    out = []
    for recv, kts, value in records:
        ev = dec.decode(value)
        key = (ev.alert_id, str(ev.state), ev.ts_ms)
        if key in seen:
            continue
        seen.add(key)
        out.append((recv, kts, ev))
    return out


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
