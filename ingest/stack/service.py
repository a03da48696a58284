"""What every stack service reports about itself."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ingest.stack.process import ManagedProcess

State = Literal["running", "stopped", "external", "not-installed"]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: State
    version: str
    address: str
    pid: int | None
    log_file: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_status(
    name: str,
    *,
    external: bool,
    running_pid: int | None,
    installed: bool,
    version: str,
    address: str,
    log_file: Path,
) -> ServiceStatus:
    """The status of a service the stack manages (or of one the settings point elsewhere)."""
    if external:
        return ServiceStatus(name, "external", "", address, None, None)
    state: State = "running" if running_pid else ("stopped" if installed else "not-installed")
    return ServiceStatus(name, state, version, address, running_pid, str(log_file))


class Service(Protocol):
    name: str

    @property
    def external(self) -> bool: ...
    @property
    def log_file(self) -> Path: ...
    def installed(self) -> bool: ...
    def install(self) -> None: ...
    def start(self) -> None: ...
    def wait_ready(self, deadline: float) -> None: ...
    def stop(self) -> bool: ...
    def status(self) -> ServiceStatus: ...


class LocalService(ABC):
    """What the services the stack runs as processes of its own (Kafka, InfluxDB,
    Alertmanager) share: a process behind a PID file, stopped and reported alike."""

    name: str
    version: str
    _proc: ManagedProcess

    @property
    @abstractmethod
    def external(self) -> bool:
        """The settings point at a service elsewhere: the stack leaves it alone."""

    @property
    @abstractmethod
    def address(self) -> str: ...

    @property
    @abstractmethod
    def log_file(self) -> Path: ...

    @abstractmethod
    def installed(self) -> bool: ...

    def stop(self) -> bool:
        return self._proc.stop(timeout_s=30.0)

    def status(self) -> ServiceStatus:
        return local_status(
            self.name,
            external=self.external,
            running_pid=self._proc.pid(),
            installed=self.installed(),
            version=self.version,
            address=self.address,
            log_file=self.log_file,
        )
