#!/usr/bin/env python3
"""Coverage-guided fuzzing of the per-record path with atheris (libFuzzer).

    python tests/fuzz/fuzz_records.py -max_total_time=60 var/fuzz/corpus tests/fuzz/corpus

New interesting inputs go to the first directory. ``make fuzz`` runs it (``FUZZ_SECONDS``);
``make fuzz-merge`` adds the finds that widen coverage to the committed corpus (libFuzzer runs
this script again for that, so the virtualenv's python must come first on ``PATH``).
A crash (an exception escaping the daemon's per-record path, or a broken invariant) stops the
run and leaves the input as ``var/fuzz/crash-*``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["messages", "ingest", "detectors", "tests.fuzz"]):
    from tests.fuzz.records import RecordHarness

_harness = RecordHarness()


def test_one_input(data: bytes) -> None:
    _harness.feed(data)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
