"""vitalstream's exception tree.

::

    VitalstreamError
    ├── ConfigError                 settings are missing or inconsistent (not retriable)
    ├── FencedError                 a newer daemon took this one's transactional id: stop
    ├── StackError                  the local stack could not be installed or started
    │   ├── InstallError            a download or build failed (retriable: registries flake)
    │   └── ServiceStartError       a service did not become ready; names the log to read
    ├── SinkError                   writing to InfluxDB or Kafka failed
    │   ├── RetriableSinkError      transient (timeouts, 429, 5xx, unreachable): back off, retry
    │   └── PermanentSinkError      the request itself is wrong (4xx): do not retry as is
    └── AlertmanagerError           a call to Alertmanager's API failed
        ├── RetriableAlertmanagerError       unreachable, timeout, 408, 429, 5xx: back off, retry
        ├── AlertmanagerConfigurationError   the endpoint refuses us (a redirect, 401, 403, 404,
        │                                    405, 407, 413...): retrying helps once someone
        │                                    fixes the configuration; back off, retry, not ready
        └── AlertmanagerRejectedError        400/422: this request (an alert) is refused;
                                             retrying the same request cannot help

Every error says whether retrying can help (:attr:`VitalstreamError.retriable`), like aiokafka's.
Validation failures of single messages are not exceptions of this tree: they become
dead-letter records (:class:`messages.InvalidReading`).
"""

from __future__ import annotations

from pathlib import Path


class VitalstreamError(Exception):
    """Base of all vitalstream errors."""

    retriable: bool = False


class ConfigError(VitalstreamError):
    """Settings are missing or inconsistent."""


class FencedError(VitalstreamError):
    """A newer instance with the same transactional id (``ingest.instance_id``) started; this
    one may commit nothing more and stops."""


class StackError(VitalstreamError):
    """The local stack could not be installed or started."""


class InstallError(StackError):
    """A download or build step failed."""

    retriable = True


class ServiceStartError(StackError):
    """A service did not become ready in time."""

    def __init__(self, service: str, reason: str, log_file: Path | None = None) -> None:
        hint = f"; read {log_file}" if log_file is not None else ""
        super().__init__(f"{service} did not start: {reason}{hint}")
        self.service = service
        self.log_file = log_file


class SinkError(VitalstreamError):
    """Writing to a sink failed."""


class RetriableSinkError(SinkError):
    """Transient failure; retry after ``retry_after_s`` (if the server said so).

    A connection that closes under a request counts as transient only when it closes under a
    write of nothing as well: where that goes through, the request's size is what failed (a
    proxy's limit), which the InfluxDB writer handles like a 413 instead of raising this
    (:meth:`ingest.influx.writer.InfluxWriter.write`)."""

    retriable = True

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentSinkError(SinkError):
    """The request cannot succeed as it is (e.g. HTTP 400 or 413)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AlertmanagerError(VitalstreamError):
    """A call to Alertmanager's API failed (``status``: its HTTP answer, ``None`` if none)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetriableAlertmanagerError(AlertmanagerError):
    """Alertmanager could not be reached, timed out, or answered 408, 429 or 5xx."""

    retriable = True


class AlertmanagerConfigurationError(AlertmanagerError):
    """The endpoint refuses every request of ours, whatever it carries: a redirect, a
    401/403/407 (credentials, a proxy), a 404/405 (a wrong path), a 413 (a proxy's size
    limit), or Alertmanager refusing each alert of a batch alike. The fault is in the
    configuration, not in an alert: retrying helps once someone fixes it, so the caller waits
    (backs off, retries, reports itself not ready) instead of giving anything up."""

    retriable = True


class AlertmanagerRejectedError(AlertmanagerError):
    """Alertmanager refused the request for what it carries (400 or 422: its validation of
    an alert): the same request will be refused again, so it is not retried."""
