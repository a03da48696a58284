"""Build a stack service from source with one of ``scripts/``, logging to a file."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

from ingest.errors import InstallError
from ingest.stack.process import tail


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
