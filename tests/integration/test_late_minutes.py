"""A late reading on the real stack: its minute's ``vitals_minute`` point is written again with
it, within the late window; later than that, its raw point only."""

from __future__ import annotations

import time

from ingest.influx.minutes import LATE_WINDOW_MS
from ingest.settings import Settings
from messages import Metric, encode_reading
from tests.integration.harness import (
    create_bucket,
    ensure_topic,
    flux,
    isolated_settings,
    produce,
    running_daemon,
    vitals_identities,
    wait_committed,
)

MIN = 60_000
DEVICE = "dev-late"


def _hr(ts: int, value: float) -> tuple[bytes, bytes]:
    return DEVICE.encode(), encode_reading(DEVICE, ts, Metric.HEART_RATE, value)


def _minutes(s: Settings) -> dict[int, dict[str, object]]:
    """The stored ``vitals_minute`` points, by minute start (ms)."""
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "vitals_minute") '
        '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
    )
    fields = ("score_max", "readings", "flagged", "baseline", "sd")  # readings: asserted absent
    return {
        int(r["_time"].timestamp() * 1000): {f: r[f] for f in fields if f in r}  # type: ignore[attr-defined]
        for r in rows
    }


async def test_a_late_reading_rewrites_its_closed_minute_within_the_window(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    await ensure_topic(s)
    t0 = (int(time.time() * 1000) // MIN - 120) * MIN  # a minute's start, 2 h ago
    span = LATE_WINDOW_MS + 5 * MIN
    on_time = [_hr(t0 + i * 5_000, 70.0 + i % 5) for i in range(span // 5_000)]
    open_ms = t0 + span - MIN  # the device's open minute once these are in
    inside = open_ms - LATE_WINDOW_MS + 2 * MIN  # a closed minute in the window
    outside = open_ms - LATE_WINDOW_MS - 2 * MIN  # one that left it
    async with running_daemon(s):
        await produce(s, s.topics.readings, on_time)
        await wait_committed(s)
        before = _minutes(s)
        assert {inside, outside} <= set(before)
        raw_before = [ts for _, _, ts in vitals_identities(s)]
        # stragglers of both minutes, far from the baseline, after their minutes were written
        await produce(
            s, s.topics.readings, [_hr(inside + 2_500, 150.0), _hr(outside + 2_500, 150.0)]
        )
        await wait_committed(s)
    after = _minutes(s)
    # the straggler's score (far from the baseline) is now its minute's largest
    assert after[inside]["score_max"] > before[inside]["score_max"]  # type: ignore[operator]
    assert "readings" not in after[inside], "the count is the raw points' (docs/schema.md)"
    assert after[inside]["baseline"] == before[inside]["baseline"], "the minute's own baseline"
    assert after[outside] == before[outside], "beyond the window: the minute as written"
    raw = [ts for _, _, ts in vitals_identities(s)]
    assert {inside + 2_500, outside + 2_500} <= set(raw), "both late readings keep their raw points"

    def in_minute(stamps: list[int], start: int) -> int:
        return sum(start <= ts < start + MIN for ts in stamps)

    # the minute's reading count (its raw points) grew by the straggler
    assert in_minute(raw, inside) == in_minute(raw_before, inside) + 1
