"""Apache Kafka, single node, combined broker+controller (KRaft), from Maven Central jars."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

from ingest.errors import InstallError, ServiceStartError
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings
from ingest.stack.process import ManagedProcess, tail
from ingest.stack.service import LocalService

_READY_LINE = "Kafka Server started"
_PROBE_TOPIC = "_vitalstream.stack-probe"
_JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
]


def _resource(name: str) -> Path:
    return Path(str(resources.files("ingest.stack") / "resources" / name))


class KafkaService(LocalService):
    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self._s = settings
        st = settings.stack
        self.version = st.kafka_version
        self.libs = st.cache_dir / "kafka" / f"kafka-{self.version}" / "libs"
        self.home = st.home / "kafka"
        self.config_file = self.home / "server.properties"
        self.data_dir = self.home / "data"
        self.logs_dir = self.home / "logs"
        self._proc = ManagedProcess("kafka", self.home / "kafka.pid", str(self.config_file))

    @property
    def external(self) -> bool:
        return self._s.kafka.bootstrap_servers is not None

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def address(self) -> str:
        return self._s.bootstrap_servers

    def installed(self) -> bool:
        return (self.libs / f"kafka_2.13-{self.version}.jar").is_file()

    def install(self) -> None:
        """Resolve the broker's runtime classpath from Maven Central into the cache."""
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise InstallError("Kafka needs java (OpenJDK 17) and mvn on PATH")
        tmp = self.libs.with_name(f"libs.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        argv = [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(_resource("kafka-pom.xml")),
            f"-Dkafka.version={self.version}",
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ]
        for attempt in (1, 2):  # a registry hiccup should not fail a cold CI run
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            if result.returncode == 0:
                break
            if attempt == 2:
                raise InstallError(
                    f"mvn could not fetch Kafka {self.version}:\n{result.stdout[-2000:]}"
                )
        shutil.rmtree(self.libs, ignore_errors=True)
        tmp.rename(self.libs)

    def _java_base(self) -> list[str]:
        return [
            "java",
            *_JVM_FLAGS,
            f"-Dkafka.logs.dir={self.logs_dir}",
            f"-Dlog4j.configuration=file:{_resource('kafka-log4j.properties')}",
            "-cp",
            f"{self.libs}/*",
        ]

    def _write_config(self) -> None:
        st = self._s.stack
        port, cport = st.kafka_port, st.kafka_controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.segment.bytes": "67108864",
            "log.cleaner.dedupe.buffer.size": "16777216",
        }
        if st.secure:
            props.update(self._secure_props())
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def _secure_props(self) -> dict[str, str]:
        """Clients on SASL_SSL (SCRAM-SHA-512) at the configured port; the broker talks to
        itself on a plaintext loopback listener two ports up."""
        from ingest.stack.tls import ensure_tls

        st = self._s.stack
        tls = ensure_tls(self._s.local_tls_dir)
        internal = st.kafka_port + 2
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{st.kafka_port},"
            f"INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{st.kafka_controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{st.kafka_port},"
            f"INTERNAL://127.0.0.1:{internal}",
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,"
            "SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls.ca),
        }

    def _scram_args(self) -> list[str]:
        """SCRAM credentials are stored when the storage is formatted (KRaft has no ZooKeeper
        to add them to later); they come from the kafka settings, i.e. env or file."""
        k = self._s.kafka
        if not self._s.stack.secure:
            return []
        if not k.sasl_username or k.sasl_password is None:
            raise ServiceStartError(
                "kafka",
                "secure mode needs VITALSTREAM_KAFKA__SASL_USERNAME and "
                "VITALSTREAM_KAFKA__SASL_PASSWORD",
            )
        pw = k.sasl_password.get_secret_value()
        return ["--add-scram", f"SCRAM-SHA-512=[name={k.sasl_username},password={pw}]"]

    def _format_storage(self) -> None:
        id_file = self.home / "cluster-id"
        if not id_file.exists():
            # the id is a base64 UUID; uuid4 bytes give the same shape as `StorageTool random-uuid`
            import base64

            raw = "-"
            while raw.startswith("-"):  # StorageTool would read a leading "-" as an option
                raw = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            id_file.write_text(raw)
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # KAFKA-15413
        tool = [
            "kafka.tools.StorageTool",
            "format",
            "-t",
            id_file.read_text().strip(),
            "-c",
            str(self.config_file),
            "--ignore-formatted",
            *self._scram_args(),
        ]
        # the SCRAM password must not be on a command line (`ps` shows it to every user): the
        # tool's class and arguments go to the JVM in an argument file only we may read
        argfile = self.home / "storage-format.args"
        argfile.unlink(missing_ok=True)
        argfile.touch(mode=0o600)
        try:
            argfile.write_text(java_argfile(tool))
            result = subprocess.run(
                [*self._java_base(), f"@{argfile}"],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
        finally:
            argfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ServiceStartError(
                "kafka", f"storage format failed: {result.stdout[-1000:]}{result.stderr[-1000:]}"
            )

    def start(self) -> None:
        if self._proc.pid() is not None:
            return
        self._write_config()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._format_storage()
        # a fresh log makes the readiness line unambiguous; keep the previous one for diagnosis
        if self.log_file.exists():
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        heap = self._s.stack.kafka_heap.split()
        self._proc.start(
            ["java", *heap, *self._java_base()[1:], "kafka.Kafka", str(self.config_file)],
            log_file=self.logs_dir / "stdout.log",
        )

    def wait_ready(self, deadline: float) -> None:
        """Ready means: the broker logged its start line and served a produce+consume."""
        if not self.external:
            while _READY_LINE not in _read(self.log_file):
                if self._proc.pid() is None:
                    raise ServiceStartError(
                        "kafka", f"process exited:\n{tail(self.log_file)}", self.log_file
                    )
                if time.monotonic() > deadline:
                    raise ServiceStartError("kafka", "no start line in time", self.log_file)
                time.sleep(0.25)
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                asyncio.run(kafka_round_trip(kafka_client_kwargs(self._s), timeout_s=10.0))
                return
            except Exception as exc:
                last = exc
                time.sleep(0.5)
        raise ServiceStartError("kafka", f"round trip failed: {last!r}", self.log_file)


def java_argfile(args: list[str]) -> str:
    r"""A ``java @file`` argument file holding ``args``, one quoted argument a line.

    >>> print(java_argfile(["x", 'a "b" \\c d']), end="")
    "x"
    "a \"b\" \\c d"
    """
    quoted = ('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in args)
    return "".join(f"{q}\n" for q in quoted)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


async def kafka_round_trip(kafka: dict[str, Any], *, timeout_s: float) -> None:
    """Produce one record to the probe topic and read it back (no consumer group)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    token = uuid.uuid4().bytes
    async with asyncio.timeout(timeout_s):
        # create the topic explicitly: auto-creation makes aiokafka log an error first
        admin = AIOKafkaAdminClient(**kafka)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(_PROBE_TOPIC, 1, 1)])
        except TopicAlreadyExistsError:
            pass
        finally:
            await admin.close()
        producer = AIOKafkaProducer(**kafka, acks="all")
        await producer.start()
        try:
            meta = await producer.send_and_wait(_PROBE_TOPIC, token)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(**kafka, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(_PROBE_TOPIC, meta.partition)
            consumer.assign([tp])
            consumer.seek(tp, meta.offset)
            while True:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                if any(r.value == token for r in batch.get(tp, [])):
                    return
        finally:
            await consumer.stop()
