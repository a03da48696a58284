"""What every test of a module compiled from its Python source checks first (Cython pure-Python
mode: ``pyproject.toml``'s ``ext-modules``)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest


def assert_built_and_current(compiled: ModuleType, interpreted: ModuleType, *sources: str) -> None:
    """``compiled`` is the extension module, built after each of its ``sources`` (file names
    beside it) last changed, and ``interpreted`` its plain Python build. Skipped with
    ``VITALSTREAM_ALLOW_PURE_PYTHON=1`` (a machine without a C compiler)."""
    if os.environ.get("VITALSTREAM_ALLOW_PURE_PYTHON") == "1":
        pytest.skip(f"VITALSTREAM_ALLOW_PURE_PYTHON=1: the interpreted {compiled.__name__}")
    built = Path(compiled.__file__ or "")
    assert built.suffix != ".py", f"{compiled.__name__} is not compiled: run `make venv`"
    for name in sources:
        assert built.stat().st_mtime >= built.with_name(name).stat().st_mtime, (
            f"{name} of {compiled.__name__} changed after it was compiled: run `make venv`"
        )
    assert interpreted is not compiled
