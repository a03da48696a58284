"""kill -9 the daemon again and again during a replay; compare with a fault-free run."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from ingest.settings import Settings
from tests.chaos.harness import (
    chaos_settings,
    distinct_alert_events,
    prepare,
    run_clean,
    scale,
    scores,
    start_daemon,
    stored_alerts,
)
from tests.integration.harness import (
    committed,
    expected_identities,
    produce,
    simulated_messages,
    vitals_identities,
    wait_committed,
)


@pytest.mark.timeout(1800)
async def test_repeated_kill9_loses_nothing_and_changes_no_score(
    live_stack: Settings, unique_name: str, tmp_path: Path
) -> None:
    kills = scale(5, 20)
    messages = simulated_messages(devices=scale(5, 40), hours=scale(24, 30), seed=21)
    assert len(messages) >= scale(40_000, 200_000)
    ref = chaos_settings(live_stack, f"{unique_name}-ref")
    run = chaos_settings(live_stack, f"{unique_name}-k9", max_batch_records=scale(500, 2000))
    await prepare(ref, messages)
    await run_clean(ref, tmp_path / "ref.log")
    await prepare(run, [])

    async def replay() -> None:
        # the same records, arriving over ~15 s per planned kill (a cycle waits out the dead
        # member's 6 s session before the next instance gets partitions): kills land mid-stream
        step = max(1, len(messages) // (kills * 30))
        for i in range(0, len(messages), step):
            await produce(run, run.topics.readings, messages[i : i + step])
            await asyncio.sleep(0.5)

    producer = asyncio.create_task(replay())

    rng = random.Random(7)
    mid_stream = 0
    log = tmp_path / "chaos.log"
    for _ in range(kills):
        d = start_daemon(run, log)
        # kill at a random moment after the daemon got partitions and did some work
        before = sum((await committed(run)).values())
        await d.assigned()
        await asyncio.sleep(rng.uniform(0.5, 4.0))
        assert d.proc.poll() is None, d.output()[-3000:]
        d.kill9()
        mid_stream += not producer.done()
        assert sum((await committed(run)).values()) >= before
    await producer
    final = start_daemon(run, log)
    try:
        await final.started()
        await wait_committed(run, timeout_s=300)
    finally:
        assert final.terminate() == 0

    assert mid_stream >= kills // 2, "most kills landed while records were still arriving"
    valid, _ = expected_identities(messages, run)
    got = vitals_identities(run)
    assert len(got) == len(set(got)), "0 duplicate points"
    assert set(got) == valid, "0 readings missing"
    ref_scores, run_scores = scores(ref), scores(run)
    assert ref_scores, "the fault-free run wrote device-minute summaries"
    assert run_scores == ref_scores, "device-minute summaries identical to the fault-free run"
    ref_alerts, run_alerts = stored_alerts(ref), stored_alerts(run)
    opens = [a[1] for a in run_alerts if a[2] == "open"]
    assert len(opens) == len(set(opens)), "0 duplicate alerts: one open event per alert"
    # every event to the letter, the time-driven ones (device silent, "no longer observable")
    # too: they are ticked on each partition's stream time, which the checkpoints carry
    assert sorted(run_alerts) == sorted(ref_alerts), "the same alert events, at the same times"
    time_driven = sum(a[4] for a in run_alerts)
    assert time_driven > 0, "the input exercised time-driven detection"
    ref_topic, _ = await distinct_alert_events(ref)
    run_topic, repeats = await distinct_alert_events(run)
    assert repeats == 0, "exactly once on the alert topic: checkpoints are transactions"
    assert run_topic == ref_topic, "the alert topic carries the same events as a fault-free run"
    print(
        f"kill -9 x{kills}: {len(messages)} records, alert events {len(run_alerts)} "
        f"({time_driven} time-driven), repeated on topic {repeats}"
    )
