"""Prometheus Alertmanager built from its Go module, with vitalstream's routing example.

The build (``scripts/build-alertmanager.sh``) fills in the web UI the module leaves out; the
binary is cached per version like InfluxDB's. The provisioned ``alertmanager.yml`` is the
packaged routing example (``resources/alertmanager.yml``) with its webhook base URL and timings
filled in, or the file ``alertmanager.config_file`` names.
"""

from __future__ import annotations

import string
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx

from ingest.errors import ServiceStartError
from ingest.settings import Settings
from ingest.stack.build import SourceBuilt
from ingest.stack.process import ManagedProcess, tail


@dataclass(frozen=True)
class RouteTimings:
    """The routing example's timings (Alertmanager duration strings). Tests shorten them."""

    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    urgent_group_wait: str = "10s"
    urgent_repeat_interval: str = "1h"
    technician_repeat_interval: str = "24h"


def routing_config(webhook_url: str, timings: RouteTimings | None = None) -> str:
    """The routing example with its placeholders filled in.

    >>> "url: http://hook:1/urgent" in routing_config("http://hook:1/")
    True
    """
    template = (resources.files("ingest.stack") / "resources" / "alertmanager.yml").read_text()
    t = timings or RouteTimings()
    base = webhook_url if webhook_url.endswith("/") else webhook_url + "/"
    return string.Template(template).substitute(webhook_url=base, **t.__dict__)


def provisioned_config(settings: Settings, timings: RouteTimings | None = None) -> str:
    """The alertmanager.yml to run: ``alertmanager.config_file``, or the routing example."""
    own = settings.alertmanager.config_file
    if own is not None:
        return own.read_text()
    return routing_config(settings.alertmanager.webhook_url, timings)


class AlertmanagerService(SourceBuilt):
    """Built in about 8 min on a busy 2-core machine the first time (npm and Go modules).
    ``home``, ``port`` and ``timings`` give tests an instance of their own."""

    name = "alertmanager"
    build_script = "build-alertmanager.sh"
    build_what = "Alertmanager"

    def __init__(
        self,
        settings: Settings,
        *,
        home: Path | None = None,
        port: int | None = None,
        timings: RouteTimings | None = None,
    ) -> None:
        self._s = settings
        st = settings.stack
        self.version = st.alertmanager_version
        self.build_cache = st.cache_dir / "alertmanager"
        self.binary = self.build_cache / f"alertmanager-{self.version}" / "alertmanager"
        self.home = home or st.home / "alertmanager"
        self.port = port if port is not None else st.alertmanager_port
        self.timings = timings
        self.config_path = self.home / "alertmanager.yml"
        self._proc = ManagedProcess("alertmanager", self.home / "alertmanager.pid", str(self.home))

    @property
    def external(self) -> bool:
        return self._s.alertmanager.url is not None

    @property
    def log_file(self) -> Path:
        return self.home / "alertmanager.log"

    @property
    def address(self) -> str:
        if self.external:
            return self._s.alertmanager_url
        return f"http://127.0.0.1:{self.port}"

    def provision(self) -> None:
        """Write the alertmanager.yml this instance runs with."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(provisioned_config(self._s, self.timings))

    def start(self) -> None:
        if self._proc.pid() is not None:
            return
        self.provision()
        self._proc.start(
            [
                str(self.binary),
                f"--config.file={self.config_path}",
                f"--storage.path={self.home / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--web.external-url={self.address}/",
                # one instance, no gossip: an empty listen address turns clustering off
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            log_file=self.log_file,
            cwd=self.home,
        )

    def wait_ready(self, deadline: float) -> None:
        """Ready means: ``/-/ready`` answers and the API v2 reports its status."""
        last = "no answer"
        with httpx.Client(base_url=self.address, timeout=5.0) as http:
            while time.monotonic() < deadline:
                if not self.external and self._proc.pid() is None:
                    raise ServiceStartError(
                        "alertmanager", f"process exited:\n{tail(self.log_file)}", self.log_file
                    )
                try:
                    ready = http.get("/-/ready")
                    status = http.get("/api/v2/status")
                    if ready.status_code == 200 and status.status_code == 200:
                        return
                    last = f"/-/ready {ready.status_code}, /api/v2/status {status.status_code}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                time.sleep(0.25)
        raise ServiceStartError("alertmanager", last, self.log_file)
