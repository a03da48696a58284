"""The one typed settings object. Built at the entry point only (:func:`load_settings`).

Sources, highest priority first: environment (``VITALSTREAM_`` prefix, ``__`` between nested
names, e.g. ``VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS``), then an optional TOML file
(``--config`` or ``VITALSTREAM_CONFIG``), then defaults. Secrets are ``SecretStr`` and come from
the environment or from files (``*_file`` fields); there is no command-line flag for any secret.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from platformdirs import user_cache_dir
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    Field,
    FilePath,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from detectors import EngineConfig

KAFKA_VERSION = "3.9.1"
INFLUXDB_VERSION = "v2.7.12"
ALERTMANAGER_VERSION = "v0.35.0"
_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


def _not_blank(value: str | None, unset_means: str) -> str | None:
    """``value`` unless it is empty or blank: for an optional setting whose absence means
    something (the local stack's service), an empty value is surely a mistake (an environment
    variable set to nothing, ``url = ""`` in the file), not a request for that default.

    >>> _not_blank(None, "x") is None, _not_blank("kafka:9092", "x")
    (True, 'kafka:9092')
    >>> _not_blank(" ", "unset it to use the local stack's")
    Traceback (most recent call last):
    ...
    ValueError: is empty: unset it to use the local stack's
    """
    if value is not None and not value.strip():
        raise ValueError(f"is empty: {unset_means}")
    return value


def _listen_host(host: str) -> str:
    # asyncio takes an empty host for every interface: /metrics would be open to the network
    _not_blank(host, "0.0.0.0 listens on every interface; unset, on 127.0.0.1")
    return host


# the address a health and metrics endpoint listens on
ListenHost = Annotated[str, AfterValidator(_listen_host)]


def _project_var_dir() -> Path:
    """The project's git-ignored ``var/`` (data and logs of the local stack).

    For a source checkout (editable install) that is beside ``pyproject.toml``, wherever the
    command runs from; otherwise ``./var``. Symlinks resolved.
    """
    root = Path(__file__).resolve().parents[1]
    var = (root if (root / "pyproject.toml").is_file() else Path.cwd()) / "var"
    # resolved: a var/ that is a symlink (work trees sharing one stack) must name the services'
    # files as their command lines do, or `stack` would not recognise its own processes
    return var.resolve()


class KafkaSettings(BaseModel):
    """Where Kafka is. ``bootstrap_servers`` unset means: the local stack's broker."""

    bootstrap_servers: str | None = None
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # must exist when the settings load, or the first connection fails with a traceback
    ssl_cafile: FilePath | None = None
    client_id: str = "vitalstream"
    request_timeout_ms: int = Field(default=30_000, gt=0)

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_named(cls, value: str | None) -> str | None:
        # blank would silently mean the local stack's broker: data sent to the wrong Kafka
        _not_blank(value, "unset it to use the local stack's broker")
        if value is not None and any(not server.strip() for server in value.split(",")):
            raise ValueError("names an empty server (a stray comma?)")
        return value


class InfluxSettings(BaseModel):
    """Where InfluxDB is. ``url`` unset means: the local stack's server."""

    url: str | None = None
    org: str = "vitalstream"
    bucket: str = "vitals"
    token: SecretStr | None = None
    token_file: Path | None = None
    timeout_ms: int = Field(default=10_000, gt=0)
    verify_ssl: bool = True
    ssl_ca_cert: FilePath | None = None
    # gzip of write requests: "auto" compresses unless InfluxDB is on this host (a loopback
    # address), where the bytes cost nothing and gzip costs the daemon ~0.25 µs per reading
    # while influxd's CPU is the same either way (docs/benchmarks.md, "What the sinks cost")
    compress: Literal["auto", "gzip", "none"] = "auto"

    @field_validator("url")
    @classmethod
    def _url_not_blank(cls, value: str | None) -> str | None:
        return _not_blank(value, "unset it to use the local stack's InfluxDB")


class TopicSettings(BaseModel):
    """Topic names. One readings topic keyed by device keeps a device's signals in order."""

    readings: str = "vitals.readings"
    dead_letter: str = "vitals.dead-letter"
    alerts: str = "vitals.alerts"
    device_state: str = "vitals.device-state"
    partitions: int = Field(default=6, ge=1)


class StackSettings(BaseModel):
    """The local development stack (``vitalstream stack``)."""

    home: Path = Field(default_factory=lambda: _project_var_dir() / "stack", validate_default=True)
    cache_dir: Path = Field(default_factory=lambda: Path(user_cache_dir("vitalstream")))
    kafka_version: str = KAFKA_VERSION
    influxdb_version: str = INFLUXDB_VERSION
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    influxdb_port: int = 18086
    alertmanager_version: str = ALERTMANAGER_VERSION
    # not Alertmanager's default 9093: that is often taken by a real one
    alertmanager_port: int = 19094
    kafka_heap: str = "-Xms256m -Xmx1g"
    # secure mode: Kafka clients on SASL_SSL (SCRAM-SHA-512, user/password from the kafka
    # settings), InfluxDB on HTTPS; certificates are generated under home/tls
    secure: bool = False
    start_timeout_s: float = Field(default=120.0, gt=0)

    @field_validator("home")
    @classmethod
    def _resolved_home(cls, home: Path) -> Path:
        # a service is recognised by its state path in its command line: one spelling per
        # directory, so a stack started through a symlinked var/ is still found through another
        return home.resolve()


class IngestSettings(BaseModel):
    """The ingest daemon."""

    group_id: str = "vitalstream-ingest"
    # names this daemon instance in its Kafka transactional id, which must stay the same across
    # restarts so a restarted instance fences its zombie; unset: the host name (one daemon per
    # host and group). Several daemons of one group on one host need one each.
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    max_batch_records: int = Field(default=5000, gt=0)
    fetch_timeout_ms: int = Field(default=200, gt=0)
    # points, dead letters and alerts are flushed this often (latency) ...
    flush_interval_ms: int = Field(default=1000, gt=0)
    # ... and offsets committed, with device state, this often (state volume, replay on crash)
    commit_interval_ms: int = Field(default=5000, gt=0)
    # an alert that opens or escalates is committed (so a read_committed consumer sees it) by
    # the next checkpoint instead of waiting for commit_interval_ms, but commits come at most
    # this often, which bounds the commit rate in an alert storm (0: alerts wait for the
    # routine commit)
    alert_commit_interval_ms: int = Field(default=500, ge=0)
    # dead letters, alerts, device state and offsets in one Kafka transaction per commit
    exactly_once: bool = True
    # how the daemon's producer compresses those records: zstd is near gzip's ratio at a
    # fraction of its CPU on both sides (docs/benchmarks.md, "What the sinks cost")
    kafka_compression: Literal["zstd", "gzip", "lz4", "snappy", "none"] = "zstd"
    # uncompressed bytes per producer batch and partition: a commit's device states fill a few
    # large batches instead of many 16 KiB ones (fewer requests for client and broker); keep it
    # under the broker's message.max.bytes (1 MiB by default)
    kafka_batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024, le=1024 * 1024)
    # time-driven detection (deadman, staleness) runs on this grid of event time
    tick_interval_ms: int = Field(default=60_000, gt=0)
    max_pending_points: int = Field(default=50_000, gt=0)
    write_batch_points: int = Field(default=5000, gt=0)
    # InfluxDB write requests in flight at once (lanes by partition keep per-device order)
    write_concurrency: int = Field(default=4, gt=0)
    max_message_bytes: int = Field(default=4096, gt=0)
    # an Open mHealth / FHIR record (a Bundle) may carry many readings: its own size limit
    max_document_bytes: int = Field(default=1 << 20, gt=0)
    max_future_ms: int = Field(default=5 * 60_000, ge=0)
    max_age_ms: int = Field(default=30 * 86_400_000, gt=0)
    session_timeout_ms: int = Field(default=30_000, gt=0)
    max_poll_interval_ms: int = Field(default=300_000, gt=0)
    shutdown_timeout_s: float = Field(default=25.0, gt=0)
    # a rebalance waits this long for the last checkpoint of revoked partitions, then gives it
    # up (nothing of it is committed: the records are read again)
    revoke_timeout_s: float = Field(default=20.0, gt=0)
    # the first attempt to restore assigned partitions' device state may take this long; each
    # retry gets twice as long
    restore_timeout_s: float = Field(default=60.0, gt=0)
    # a caught-up partition without a record for this long (wall time) is idle: its clock then
    # follows the other partitions' stream time, or the wall clock (0: never, stream time only)
    idle_partition_ms: int = Field(default=60_000, ge=0)
    http_host: ListenHost = "127.0.0.1"
    http_port: int = Field(default=18900, ge=0)
    metrics_interval_s: float = Field(default=10.0, gt=0)


class AlertmanagerSettings(BaseModel):
    """Where Alertmanager is. ``url`` unset means: the local stack's, with the routing example
    (``ingest/stack/resources/alertmanager.yml``) provisioned, its receivers posting to
    ``webhook_url``."""

    url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    # local stack only: the base URL its example receivers post to (``urgent``, ``wearer`` and
    # ``technician`` are appended); or a whole alertmanager.yml of your own
    webhook_url: str = "http://127.0.0.1:18952/"
    config_file: FilePath | None = None
    # notification annotations link here (the device drill-down dashboard)
    grafana_url: str = "http://127.0.0.1:3000"
    # `alerts ack` silences its alert until it resolves (notify then expires the silence), but
    # no longer than this: an alert still open after that notifies again, as a reminder
    ack_silence_max_h: float = Field(default=168.0, gt=0)

    @field_validator("url", "webhook_url", "grafana_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        # Alertmanager refuses a link it cannot parse (422: a relative one, a space in the host)
        # and would refuse every post carrying it: notify would dead-letter every alert
        if value is None:
            return value
        _not_blank(value, "unset it to use the default")
        if not value.startswith(("http://", "https://")):
            # the value is not quoted: a URL may carry credentials (user:password@host)
            raise ValueError("must be an absolute http(s) URL")
        try:
            _HTTP_URL.validate_python(value)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Input should be a valid URL, ")
            raise ValueError(f"no valid URL: {reason}") from None
        return value


class NotifySettings(BaseModel):
    """``vitalstream notify``: the alerts topic -> Alertmanager."""

    group_id: str = "vitalstream-notify"
    # open alerts are re-sent this often (wall clock), each valid for ``ttl_factor`` times as
    # long (15 min): Alertmanager resolves an alert on its own only if notify is gone that long
    # (a restart or a rebalance takes seconds)
    resend_interval_s: float = Field(default=60.0, gt=0)
    ttl_factor: float = Field(default=15.0, ge=2)
    max_batch_events: int = Field(default=500, gt=0)
    # an open alert without a lifecycle event for this long (wall clock) is resolved by notify:
    # an orphan (its device's state restarted, e.g. after a rollback, so no `resolved` comes).
    # Live alerts have a heartbeat every 30 min, nightly kinds every night the engine can judge
    # (two nights without data: ~72 h), docs/reliability.md
    orphan_after_h: float = Field(default=72.0, gt=0)
    retry_initial_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)
    http_host: ListenHost = "127.0.0.1"
    http_port: int = Field(default=18901, ge=0)

    @model_validator(mode="after")
    def _retry_cap_above_start(self) -> NotifySettings:
        # checked here, at start, rather than by the back-off at the first failed post
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError(
                f"notify.retry_max_s ({self.retry_max_s}) is below notify.retry_initial_s "
                f"({self.retry_initial_s})"
            )
        return self


class PrivacySettings(BaseModel):
    """Pseudonymisation of device and alert ids (see :mod:`ingest.privacy`). On by default."""

    pseudonymize: bool = True
    key: SecretStr | None = None
    key_file: Path | None = None


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["kv", "json"] = "kv"


class Settings(BaseSettings):
    """All of vitalstream's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="VITALSTREAM_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    influxdb: InfluxSettings = Field(default_factory=InfluxSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    detection: EngineConfig = Field(default_factory=EngineConfig)
    alertmanager: AlertmanagerSettings = Field(default_factory=AlertmanagerSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("VITALSTREAM_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka to use: configured, or the local stack's."""
        return self.kafka.bootstrap_servers or f"127.0.0.1:{self.stack.kafka_port}"

    @property
    def transactional_id(self) -> str:
        """The daemon's Kafka transactional id: stable per instance across restarts."""
        return f"{self.ingest.group_id}.{self.ingest.instance_id or socket.gethostname()}"

    @property
    def influx_url(self) -> str:
        """The InfluxDB to use: configured, or the local stack's."""
        scheme = "https" if self.stack.secure else "http"
        return self.influxdb.url or f"{scheme}://127.0.0.1:{self.stack.influxdb_port}"

    @property
    def influx_gzip(self) -> bool:
        """Whether write requests are gzipped (``influxdb.compress``; "auto": unless InfluxDB's
        host is a loopback address)."""
        if self.influxdb.compress != "auto":
            return self.influxdb.compress == "gzip"
        host = urlsplit(self.influx_url).hostname or ""
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:  # a name: another host as far as we know
            return True

    @property
    def alertmanager_url(self) -> str:
        """The Alertmanager to use: configured, or the local stack's."""
        return (self.alertmanager.url or f"http://127.0.0.1:{self.stack.alertmanager_port}").rstrip(
            "/"
        )

    @property
    def local_tls_dir(self) -> Path:
        return self.stack.home / "tls"

    @property
    def kafka_ssl_cafile(self) -> Path | None:
        """The CA clients trust for Kafka: configured, or the secure local stack's."""
        if self.kafka.ssl_cafile is not None:
            return self.kafka.ssl_cafile
        if self.stack.secure and self.kafka.bootstrap_servers is None:
            return self.local_tls_dir / "ca.pem"
        return None

    @property
    def kafka_security_protocol(self) -> str:
        if self.stack.secure and self.kafka.bootstrap_servers is None:
            return "SASL_SSL"
        return self.kafka.security_protocol

    def influx_ssl(self) -> bool | ssl.SSLContext:
        """httpx ``verify`` for InfluxDB: a context trusting our CA file, or True/False."""
        verify = self.influx_verify
        return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify

    @property
    def influx_verify(self) -> bool | str:
        """httpx ``verify``: the CA file to trust, or whether to verify at all."""
        if self.influxdb.ssl_ca_cert is not None:
            return str(self.influxdb.ssl_ca_cert)
        if self.stack.secure and self.influxdb.url is None:
            return str(self.local_tls_dir / "ca.pem")
        return self.influxdb.verify_ssl

    @property
    def local_token_file(self) -> Path:
        """Where the local stack keeps the admin token it generated at onboarding."""
        return self.stack.home / "influxdb" / "admin-token"

    def influx_token(self) -> str:
        """The InfluxDB token: from the environment, a token file, or the local stack."""
        if self.influxdb.token is not None:
            return self.influxdb.token.get_secret_value()
        path = self.influxdb.token_file or (
            self.local_token_file if self.influxdb.url is None else None
        )
        if path is None:
            from ingest.errors import ConfigError

            raise ConfigError(
                "no InfluxDB token: set VITALSTREAM_INFLUXDB__TOKEN "
                "or VITALSTREAM_INFLUXDB__TOKEN_FILE"
            )
        try:
            return path.read_text().strip()
        except OSError as exc:
            from ingest.errors import ConfigError

            raise ConfigError(f"cannot read InfluxDB token file {path}: {exc.strerror}") from None

    def with_namespace(
        self,
        name: str,
        *,
        partitions: int | None = None,
        http_port: int | None = None,
        **ingest: object,
    ) -> Settings:
        """A copy whose topics, consumer group and bucket are ``name``'s own (load tests,
        benchmarks and tests run side by side on one stack this way)."""
        topics = self.topics.model_copy(
            update={
                "readings": f"{name}.readings",
                "dead_letter": f"{name}.dead-letter",
                "alerts": f"{name}.alerts",
                "device_state": f"{name}.device-state",
                **({"partitions": partitions} if partitions else {}),
            }
        )
        ing = self.ingest.model_copy(
            update={
                "group_id": f"{name}-group",
                **({"http_port": http_port} if http_port is not None else {}),
                **ingest,
            }
        )
        influx = self.influxdb.model_copy(update={"bucket": name})
        notify = self.notify.model_copy(update={"group_id": f"{name}-notify"})
        return self.model_copy(
            update={"topics": topics, "ingest": ing, "influxdb": influx, "notify": notify}
        )

    def namespace_env(self) -> dict[str, str]:
        """Environment variables that give a ``vitalstream`` subprocess these settings'
        topics, group, bucket and HTTP port."""
        return {
            "VITALSTREAM_INFLUXDB__BUCKET": self.influxdb.bucket,
            "VITALSTREAM_TOPICS__READINGS": self.topics.readings,
            "VITALSTREAM_TOPICS__DEAD_LETTER": self.topics.dead_letter,
            "VITALSTREAM_TOPICS__ALERTS": self.topics.alerts,
            "VITALSTREAM_TOPICS__DEVICE_STATE": self.topics.device_state,
            "VITALSTREAM_TOPICS__PARTITIONS": str(self.topics.partitions),
            "VITALSTREAM_INGEST__GROUP_ID": self.ingest.group_id,
            "VITALSTREAM_INGEST__HTTP_PORT": str(self.ingest.http_port),
            "VITALSTREAM_NOTIFY__GROUP_ID": self.notify.group_id,
        }

    @property
    def local_pseudonym_key_file(self) -> Path:
        """Where the local stack keeps the pseudonymisation key it generated."""
        return self.stack.home / "pseudonym-key"

    def pseudonym_key(self) -> bytes | None:
        """The HMAC key for pseudonyms (``None`` when pseudonymisation is off)."""
        from ingest.errors import ConfigError

        p = self.privacy
        if not p.pseudonymize:
            return None
        if p.key is not None:
            return p.key.get_secret_value().encode()
        path = p.key_file or (self.local_pseudonym_key_file if self.influxdb.url is None else None)
        if path is None:
            raise ConfigError(
                "pseudonymisation is on but has no key: set VITALSTREAM_PRIVACY__KEY or "
                "VITALSTREAM_PRIVACY__KEY_FILE (or VITALSTREAM_PRIVACY__PSEUDONYMIZE=false)"
            )
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read pseudonym key file {path}: {exc.strerror}") from None
        if len(key) < 16:
            raise ConfigError(f"pseudonym key in {path} is shorter than 16 bytes")
        return key


def describe_invalid(exc: ValidationError) -> str:
    """One line for the CLI: each invalid setting and why, without its value (a secret's
    value would otherwise be printed).

    >>> try:
    ...     NotifySettings(retry_initial_s=-1, http_port="x")
    ... except ValidationError as exc:
    ...     print(describe_invalid(exc))
    retry_initial_s: Input should be greater than 0; http_port: Input should be a valid integer, \
unable to parse string as an integer
    """
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'settings'}: "
        + e["msg"].removeprefix("Value error, ")
        for e in exc.errors(include_url=False, include_input=False)
    )


def load_settings(config_file: Path | None = None) -> Settings:
    """Build the settings object (entry points only).

    Raises
    ------
    ConfigError
        The settings file cannot be read or is no TOML (the settings source would ignore a
        missing file, and quote a parse error with a traceback).
    pydantic.ValidationError
        A setting is invalid (:func:`describe_invalid` says which, in one line).
    """
    from ingest.errors import ConfigError

    if config_file is not None:
        os.environ["VITALSTREAM_CONFIG"] = str(config_file)
    toml_file = os.environ.get("VITALSTREAM_CONFIG")
    if toml_file:
        try:
            tomllib.loads(Path(toml_file).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read settings file {toml_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {toml_file} is no valid TOML: {exc}") from None
    return Settings()
