"""`down` stops exactly what `up` started: PID files are checked against the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ingest.stack.process import ManagedProcess


def _sleeper(marker: str) -> list[str]:
    return [sys.executable, "-c", "import time, sys; time.sleep(60)", marker]


def test_start_and_stop_a_managed_process(tmp_path: Path) -> None:
    proc = ManagedProcess("demo", tmp_path / "demo.pid", "marker-abc")
    pid = proc.start(_sleeper("marker-abc"), log_file=tmp_path / "demo.log")
    assert proc.pid() == pid
    assert proc.stop(timeout_s=5) is True
    assert proc.pid() is None
    assert not (tmp_path / "demo.pid").exists()
    assert proc.stop() is False


def test_a_recycled_pid_of_another_program_is_left_alone(tmp_path: Path) -> None:
    other = subprocess.Popen(_sleeper("someone-else"))
    try:
        pid_file = tmp_path / "svc.pid"
        pid_file.write_text(f"{other.pid}\n")  # a stale PID file now naming a foreign process
        proc = ManagedProcess("svc", pid_file, "our-marker")
        assert proc.pid() is None
        assert proc.stop() is False
        assert other.poll() is None, "the foreign process must still run"
    finally:
        other.kill()
        other.wait()


def test_garbage_pid_file_means_not_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    pid_file.write_text("not a pid")
    assert ManagedProcess("x", pid_file, "m").pid() is None
