"""``vitalstream stack up | down | status``: the local Kafka, InfluxDB and Alertmanager, without
Docker."""

from __future__ import annotations

import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ingest.settings import Settings
from ingest.stack.alertmanager import AlertmanagerService
from ingest.stack.influxdb import InfluxService
from ingest.stack.kafka import KafkaService
from ingest.stack.service import Service, ServiceStatus


def services(settings: Settings) -> list[Service]:
    return [KafkaService(settings), InfluxService(settings), AlertmanagerService(settings)]


def _say(msg: str) -> None:
    print(f"stack: {msg}", file=sys.stderr, flush=True)


def up(settings: Settings) -> list[ServiceStatus]:
    """Install what is missing, start what is stopped, and wait until each serves real requests.

    Idempotent: running services are probed again, not restarted. Services the settings point
    elsewhere (``external``) are left alone. Installs run in parallel (the InfluxDB build is long).
    """
    _ensure_pseudonym_key(settings)
    local = [svc for svc in services(settings) if not svc.external]
    missing = [svc for svc in local if not svc.installed()]
    if missing:
        with ThreadPoolExecutor(max_workers=len(missing)) as pool:
            for svc in missing:
                _say(f"installing {svc.name}")
            for fut in [pool.submit(svc.install) for svc in missing]:
                fut.result()
    for svc in local:
        if svc.status().state != "running":
            _say(f"starting {svc.name}")
            svc.start()
    deadline = time.monotonic() + settings.stack.start_timeout_s
    for svc in local:
        svc.wait_ready(deadline)
        _say(f"{svc.name} ready")
    return status(settings)


def _ensure_pseudonym_key(settings: Settings) -> None:
    """The local stack's pseudonymisation key: made once, kept with the stack's data (0600)."""
    path = settings.local_pseudonym_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))


def down(settings: Settings) -> list[str]:
    """Stop the processes that ``up`` started (by PID file), and nothing else."""
    stopped = []
    for svc in reversed(services(settings)):
        if not svc.external and svc.stop():
            stopped.append(svc.name)
    return stopped


def status(settings: Settings) -> list[ServiceStatus]:
    return [svc.status() for svc in services(settings)]
