"""InfluxDB OSS 2.x built from its Go module (libflux from the Rust crate registry)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import httpx

from ingest.errors import ServiceStartError
from ingest.settings import Settings
from ingest.stack.build import SourceBuilt
from ingest.stack.process import ManagedProcess, tail


class InfluxService(SourceBuilt):
    """Built in 5-30 min on 2 cores the first time (libflux is the long part)."""

    name = "influxdb"
    build_script = "build-influxd.sh"
    build_what = "InfluxDB"

    def __init__(self, settings: Settings) -> None:
        self._s = settings
        st = settings.stack
        self.version = st.influxdb_version
        self.build_cache = st.cache_dir / "influxdb"
        self.binary = self.build_cache / f"influxd-{self.version}" / "influxd"
        self.home = st.home / "influxdb"
        self.bolt_path = self.home / "influxd.bolt"
        self._proc = ManagedProcess("influxdb", self.home / "influxd.pid", str(self.bolt_path))

    @property
    def external(self) -> bool:
        return self._s.influxdb.url is not None

    @property
    def log_file(self) -> Path:
        return self.home / "influxd.log"

    @property
    def address(self) -> str:
        return self._s.influx_url

    def start(self) -> None:
        if self._proc.pid() is not None:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        port = self._s.stack.influxdb_port
        self._proc.start(
            [
                str(self.binary),
                "--bolt-path",
                str(self.bolt_path),
                "--engine-path",
                str(self.home / "engine"),
                "--sqlite-path",
                str(self.home / "influxd.sqlite"),
                "--http-bind-address",
                f"127.0.0.1:{port}",
                "--reporting-disabled",
                "--ui-disabled",
                "--log-level",
                "warn",
                *self._tls_args(),
            ],
            log_file=self.log_file,
        )

    def _tls_args(self) -> list[str]:
        if not self._s.stack.secure:
            return []
        from ingest.stack.tls import ensure_tls

        tls = ensure_tls(self._s.local_tls_dir)
        return ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]

    def wait_ready(self, deadline: float) -> None:
        """Ready means: /health passes, onboarding is done, and a write+query round trip works."""
        last = "no answer"
        with httpx.Client(base_url=self.address, timeout=5.0, verify=self._s.influx_ssl()) as http:
            while time.monotonic() < deadline:
                if not self.external and self._proc.pid() is None:
                    raise ServiceStartError(
                        "influxdb", f"process exited:\n{tail(self.log_file)}", self.log_file
                    )
                try:
                    health = http.get("/health")
                    if health.status_code == 200 and health.json().get("status") == "pass":
                        break
                    last = f"/health answered {health.status_code}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                time.sleep(0.25)
            else:
                raise ServiceStartError("influxdb", last, self.log_file)
            if not self.external:
                self._onboard(http)
            self._round_trip(http)

    def _onboard(self, http: httpx.Client) -> None:
        """First start only: create org, bucket and an admin token (saved 0600 in var/)."""
        allowed = http.get("/api/v2/setup").json().get("allowed", False)
        token_file = self._s.local_token_file
        if not allowed:
            if not token_file.exists():
                raise ServiceStartError(
                    "influxdb",
                    f"onboarded, but {token_file} is missing; remove {self.home} to start afresh",
                    self.log_file,
                )
            return
        token = secrets.token_urlsafe(32)
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.touch(mode=0o600)
        token_file.write_text(token)
        body = {
            "username": "vitalstream",
            "password": secrets.token_urlsafe(16),
            "org": self._s.influxdb.org,
            "bucket": self._s.influxdb.bucket,
            "token": token,
            "retentionPeriodSeconds": 0,
        }
        resp = http.post("/api/v2/setup", json=body)
        if resp.status_code != 201:
            raise ServiceStartError(
                "influxdb", f"onboarding answered {resp.status_code}", self.log_file
            )

    def _round_trip(self, http: httpx.Client) -> None:
        token = self._s.influx_token()
        headers = {"Authorization": f"Token {token}"}
        org = self._s.influxdb.org
        bucket = self._s.influxdb.bucket
        marker = secrets.randbelow(2**31)
        now_ns = time.time_ns()
        resp = http.post(
            "/api/v2/write",
            params={"org": org, "bucket": bucket, "precision": "ns"},
            headers=headers,
            content=f"stack_probe probe={marker}i {now_ns}",
        )
        if resp.status_code != 204:
            raise ServiceStartError(
                "influxdb",
                f"probe write answered {resp.status_code}: {resp.text[:200]}",
                self.log_file,
            )
        flux = (
            f'from(bucket: "{bucket}") |> range(start: -1m) '
            f'|> filter(fn: (r) => r._measurement == "stack_probe" and r._value == {marker})'
        )
        resp = http.post(
            "/api/v2/query",
            params={"org": org},
            headers={
                **headers,
                "Accept": "application/csv",
                "Content-Type": "application/vnd.flux",
            },
            content=flux,
        )
        if resp.status_code != 200 or str(marker) not in resp.text:
            raise ServiceStartError(
                "influxdb",
                f"probe query answered {resp.status_code}: {resp.text[:200]}",
                self.log_file,
            )
