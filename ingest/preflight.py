"""What the daemon checks before it starts (and all ``vitalstream ingest --check`` does).

A misconfiguration (a bucket that does not exist, a token that may not write, a topic that is
missing, a broker or InfluxDB that cannot be reached) otherwise shows only as retries that never
succeed. Each check here fails with a :class:`~ingest.errors.ConfigError` of one line saying what
is wrong and what to set; the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from ingest.errors import ConfigError, PermanentSinkError, RetriableSinkError
from ingest.influx.writer import InfluxWriter
from ingest.kafka_io.topics import ensure_topics
from ingest.kafka_security import kafka_client_kwargs
from ingest.settings import Settings

log = logging.getLogger(__name__)

_HINT = {
    401: "the token is not valid: set VITALSTREAM_INFLUXDB__TOKEN or ..._TOKEN_FILE",
    403: "the token may not write to it",
    404: "it does not exist, or the token may not write to it (or the org is wrong)",
}


async def check_kafka(settings: Settings, *, create_topics: bool) -> list[str]:
    """The broker answers and the daemon's topics exist (created first if ``create_topics``),
    the device-state changelog with as many partitions as the readings topic."""
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings))
    timeout_s = settings.kafka.request_timeout_ms / 1000
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its connection errors would precede our one line
    try:
        await asyncio.wait_for(admin.start(), timeout=timeout_s)
    except (KafkaError, TimeoutError, OSError) as exc:
        await admin.close()
        raise ConfigError(
            f"cannot reach Kafka at {settings.bootstrap_servers} ({type(exc).__name__}): "
            "check VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS and the security settings"
        ) from None
    finally:
        quiet.setLevel(level)
    t = settings.topics
    try:
        if create_topics:
            await ensure_topics(settings, admin)
        existing = set(await admin.list_topics())
        wanted = [t.readings, t.dead_letter, t.alerts, t.device_state]
        missing = [name for name in wanted if name not in existing]
        if missing:
            raise ConfigError(
                f"Kafka topic(s) missing: {', '.join(missing)} (`vitalstream ingest` creates "
                "them at start where the broker allows; otherwise create them)"
            )
        partitions = {
            str(m["topic"]): len(m["partitions"])
            for m in await admin.describe_topics([t.readings, t.device_state])
        }
    except KafkaError as exc:
        raise ConfigError(f"Kafka refused the topic check: {type(exc).__name__}") from None
    finally:
        await admin.close()
    if partitions.get(t.device_state) != partitions.get(t.readings):
        raise ConfigError(
            f"topic {t.device_state} has {partitions.get(t.device_state)} partitions, "
            f"{t.readings} has {partitions.get(t.readings)}: they must be equal (a device's "
            "state lives in the partition with the number of its readings partition)"
        )
    n = partitions[t.readings]
    return [f"Kafka {settings.bootstrap_servers}: the topics exist ({n} partitions)"]


async def check_influxdb(settings: Settings, *, outage_ok: bool = False) -> list[str]:
    """InfluxDB answers, and the token may write to the bucket. ``outage_ok``: an InfluxDB
    that does not answer (down, hung, 5xx) is not a configuration error, only reported; the
    daemon rides out outages anyway."""
    writer = InfluxWriter.from_settings(settings)  # a missing token is a ConfigError here
    where = f"InfluxDB bucket {settings.influxdb.bucket!r} (org {settings.influxdb.org!r})"
    try:
        await writer.probe_write()
    except RetriableSinkError as exc:
        if outage_ok:
            log.warning(
                "InfluxDB is down: its bucket and token are not checked", extra={"error": str(exc)}
            )
            return [f"{where} at {settings.influx_url}: not checked, InfluxDB is down"]
        raise ConfigError(
            f"cannot write to InfluxDB at {settings.influx_url}: {exc} "
            "(check VITALSTREAM_INFLUXDB__URL)"
        ) from None
    except PermanentSinkError as exc:
        hint = _HINT.get(exc.status or 0, str(exc))
        raise ConfigError(f"{where} at {settings.influx_url}: {hint} ({exc})") from None
    finally:
        await writer.aclose()
    return [f"{where} at {settings.influx_url}: writable"]


async def check(settings: Settings, *, starting: bool = False) -> list[str]:
    """Every check; what passed, one line each. Raises ConfigError at the first failure.

    ``starting``: the daemon's own checks, which first create missing topics and take an
    InfluxDB outage for what it is (the daemon waits it out, without committing).
    """
    return [
        *await check_kafka(settings, create_topics=starting),
        *await check_influxdb(settings, outage_ok=starting),
    ]
