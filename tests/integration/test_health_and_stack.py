"""The daemon's HTTP endpoints, and `stack down` stopping exactly what `stack up` started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from ingest import stack
from ingest.settings import Settings
from tests.integration.harness import create_bucket, ensure_topic, isolated_settings, running_daemon


async def test_healthz_readyz_and_prometheus_metrics(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    await ensure_topic(s)
    async with running_daemon(s) as run:
        port = run.daemon.http_port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert "vitalstream_records_total" in metrics.text
            assert "vitalstream_consumer_lag" in metrics.text
            assert (await http.get("/nope")).status_code == 404
            assert (await http.post("/healthz")).status_code == 405


def _our_processes(marker: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_second_stack_up_status_down_leaves_nothing_running(
    live_stack: Settings, tmp_path: Path
) -> None:
    """A separate stack (own home and ports) goes up and down; the main one is untouched."""
    st = live_stack.stack.model_copy(
        update={
            "home": tmp_path / "stack",
            "kafka_port": live_stack.stack.kafka_port + 100,
            "kafka_controller_port": live_stack.stack.kafka_controller_port + 100,
            "influxdb_port": live_stack.stack.influxdb_port + 100,
            "alertmanager_port": live_stack.stack.alertmanager_port + 100,
        }
    )
    other = live_stack.model_copy(update={"stack": st})
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(tmp_path)])
    try:
        up = {r.name: r for r in stack.up(other)}
        assert all(r.state == "running" and r.pid for r in up.values())
        assert len(_our_processes(str(tmp_path / "stack"))) == 3
        stopped = stack.down(other)
        assert sorted(stopped) == ["alertmanager", "influxdb", "kafka"]
        assert _our_processes(str(tmp_path / "stack")) == []
        assert {r.state for r in stack.status(other)} == {"stopped"}
        assert decoy.poll() is None, "a process that is not ours survives `down`"
        main = {r.name: r.state for r in stack.status(live_stack)}
        assert main == {"kafka": "running", "influxdb": "running", "alertmanager": "running"}
    finally:
        os.kill(decoy.pid, signal.SIGKILL)
        decoy.wait()
        stack.down(other)
