"""`vitalstream import … --out kafka`: the export's readings on the readings topic as our wire
JSON, keyed by the chosen device, in event-time order (what the daemon then reads)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ingest.commands.import_ import _to_kafka
from ingest.importers.fitbit import read_fitbit
from ingest.importers.sink import ImportStats, SortedReadings
from ingest.settings import Settings
from messages import ReadingDecoder
from tests.integration.harness import ensure_topic, isolated_settings, read_all

FITBIT = Path(__file__).parent.parent / "fixtures" / "fitbit"


async def test_fitbit_export_to_kafka(live_stack: Settings, unique_name: str) -> None:
    s = isolated_settings(live_stack, unique_name)
    await ensure_topic(s)
    rows = SortedReadings()
    for row in read_fitbit(FITBIT, ImportStats()):
        rows.add(row)
    args = argparse.Namespace(device="ana-1", topic=s.topics.readings)
    sent = await _to_kafka(rows.sorted(), args, s)
    assert sent == 18

    records = await read_all(s, s.topics.readings)
    assert len(records) == sent
    assert {r.key for r in records} == {b"ana-1"}  # type: ignore[attr-defined]
    # far-past readings are fine here: this checks the wire format, not the clock window
    dec = ReadingDecoder(max_age_ms=10**13)
    readings = [dec.decode(r.value) for r in records]  # type: ignore[attr-defined]
    assert [r.ts_ms for r in readings] == sorted(r.ts_ms for r in readings)
    steps = [r for r in readings if r.metric.value == "steps"]
    assert [r.value for r in steps] == [0.0, 87.0, 112.0]
    assert all(r.interval_s == 60.0 for r in steps)
    assert {r.metric.value for r in readings} == {"heart_rate", "steps", "sleep_stage", "spo2"}
