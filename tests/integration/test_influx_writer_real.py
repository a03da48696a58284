"""The writer against the real InfluxDB: bad points isolated, good points stored, idempotent."""

from __future__ import annotations

from ingest.influx.writer import InfluxWriter
from ingest.settings import Settings
from tests.integration.harness import create_bucket, flux, isolated_settings

T0 = 1_767_225_600_000


async def test_type_conflict_rejects_only_the_bad_points_and_rewrites_are_idempotent(
    live_stack: Settings, unique_name: str
) -> None:
    s = isolated_settings(live_stack, unique_name)
    create_bucket(s)
    w = InfluxWriter(
        url=s.influx_url,
        org=s.influxdb.org,
        bucket=s.influxdb.bucket,
        token=s.influx_token(),
        max_lines=7,
    )
    try:
        good = [f"hr,device=d{i % 3} value={60 + i}.0 {T0 + i}" for i in range(30)]
        assert await w.write(good) == []
        mixed = [f"hr,device=d{i % 3} value={60 + i}.0 {T0 + i}" for i in range(30, 40)]
        mixed[4] = f'hr,device=d1 value="a string" {T0 + 34}'  # field type conflict
        mixed[8] = "this is not line protocol"
        rejected = await w.write(mixed + good)  # the good ones again: overwrite, not duplicate
    finally:
        await w.aclose()
    # InfluxDB answers 422 for a type conflict (partial write) and 400 for a parse error
    assert {r.index: r.status for r in rejected} == {4: 422, 8: 400}
    assert "type conflict" in next(r.reason for r in rejected if r.index == 4)
    rows = flux(
        s,
        f'from(bucket: "{s.influxdb.bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._measurement == "hr") |> group() |> count()',
    )
    assert rows[0]["_value"] == 38, "30 good + 8 mixed good, each stored once"
