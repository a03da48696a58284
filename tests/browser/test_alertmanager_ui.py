"""The Alertmanager web UI in a real browser (headless Chromium, Debian's package).

Run by ``make ui-check``, not by ``make test``. What it can check is what upstream's React UI
(``ui/mantine-ui``) renders at v0.35.0: the status and configuration pages. Its alerts and
silences pages are still placeholders upstream (a heading, no list), and the classic Elm UI that
lists alerts needs the Elm compiler and its package server, neither reachable here; the alerts
themselves are checked through the API v2 (tests/integration/test_notify.py).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ingest.settings import Settings


def _render(url: str) -> str:
    """The DOM after the page's JavaScript ran (the UI fetches from the API, then renders)."""
    chromium = shutil.which("chromium")
    assert chromium is not None, "apt-get install chromium (make ui-check does)"
    out = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # root in a container has no user namespace for the sandbox
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


@pytest.fixture(scope="module")
def ui(live_stack: Settings) -> str:
    return f"{live_stack.alertmanager_url}/ui/"


def test_status_page_shows_the_running_version(ui: str, live_stack: Settings) -> None:
    dom = _render(f"{ui}#/status")
    assert "mantine-AppShell-root" in dom  # the React app rendered, not a placeholder page
    assert live_stack.stack.alertmanager_version.lstrip("v") in dom


def test_configuration_page_shows_the_provisioned_routing(ui: str, live_stack: Settings) -> None:
    if live_stack.alertmanager.url is not None:
        pytest.fail("point the check at the stack's own Alertmanager (unset alertmanager.url)")
    dom = _render(f"{ui}#/config")
    for receiver in ("urgent", "wearer-team", "technician"):
        assert f"receiver: {receiver}" in dom or receiver in dom
    assert "off_wrist|device_silent" in dom


def test_root_points_to_the_ui(live_stack: Settings) -> None:
    dom = _render(f"{live_stack.alertmanager_url}/")
    assert 'href="ui/"' in dom
