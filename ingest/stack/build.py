"""Stack services built from source with one of ``scripts/``, logging to a file."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

from ingest.errors import InstallError
from ingest.stack.process import tail
from ingest.stack.service import LocalService


def run_build_script(
    script: str, version: str, cache: Path, log_file: Path, what: str, *, built: Path
) -> None:
    """Run ``scripts/SCRIPT VERSION CACHE``; raise :class:`InstallError` with the log's tail
    unless it succeeded and left ``built`` behind. ``what`` says what is built, for the user."""
    path = Path(str(resources.files("ingest.stack") / "scripts" / script))
    cache.mkdir(parents=True, exist_ok=True)
    print(f"building {what} (first run only); log: {log_file}", file=sys.stderr, flush=True)
    with log_file.open("wb") as log:
        result = subprocess.run(
            ["bash", str(path), version, str(cache)],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0 or not built.is_file():
        raise InstallError(f"building {what} failed; read {log_file}:\n{tail(log_file)}")


class SourceBuilt(LocalService):
    """What the services built from source by a script (InfluxDB, Alertmanager) share: a
    binary cached per version, its build log, and a process of ours behind a PID file."""

    build_cache: Path
    binary: Path
    #: the script in ``scripts/`` that builds it, and the name of what it builds, for the user
    build_script: str
    build_what: str

    @property
    def build_log(self) -> Path:
        return self.build_cache / f"build-{self.version}.log"

    def installed(self) -> bool:
        return self.binary.is_file()

    def install(self) -> None:
        """Build the binary (first run only: cached per version afterwards)."""
        what = f"{self.build_what} {self.version}"
        run_build_script(
            self.build_script,
            self.version,
            self.build_cache,
            self.build_log,
            what,
            built=self.binary,
        )
