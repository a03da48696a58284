"""``vitalstream --help`` stays light: building the parser imports every command module, so a
command module that imports the settings (and through them the engine, numpy, River) at its top
makes every command's start-up pay for it (``bench/bench_cli.py`` measures the time)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("ingest.settings", "detectors", "numpy", "pyarrow", "pydantic", "river", "asyncio")


def test_building_the_parser_imports_no_settings_engine_or_asyncio() -> None:
    code = (
        "import sys\n"
        "from ingest.cli import build_parser\n"
        "build_parser()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
