"""Which partitions are idle, and the time their clocks follow (ingest/idle.py)."""

from __future__ import annotations

from ingest.idle import PartitionActivity


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _activity(idle_ms: int = 2_000) -> tuple[PartitionActivity, _Clock]:
    clock = _Clock()
    return PartitionActivity(idle_ms, clock=clock, wall_ms=lambda: 9_999_000), clock


def test_no_partition_is_idle_while_records_flow() -> None:
    a, clock = _activity()
    for t in range(10):
        clock.now = float(t)
        a.saw(0, 1_000_000 + t * 1000)
        a.saw(1, 1_000_000 + t * 1000)
        assert a.idle_partitions({0, 1}) == ([], None)


def test_a_quiet_partition_follows_the_slowest_active_one() -> None:
    a, clock = _activity()
    a.saw(0, 1_000_000)
    for t in range(1, 6):
        clock.now = float(t)
        a.saw(1, 1_000_000 + t * 60_000)
        a.saw(2, 1_000_000 + t * 30_000)
    assert a.idle_partitions({0, 1, 2}) == ([0], 1_150_000)


def test_a_partition_with_unread_records_is_not_idle_and_holds_the_others_back() -> None:
    a, clock = _activity()
    a.saw(0, 1_000_000)
    a.saw(1, 500_000)
    clock.now = 10.0
    # partition 1 has records left to read (not caught up): it counts as active
    assert a.idle_partitions({0}) == ([0], 500_000)


def test_a_silent_fleet_follows_the_wall_clock_from_its_newest_stream_time() -> None:
    a, clock = _activity()
    a.saw(0, 1_000_000)
    clock.now = 1.0
    a.saw(1, 1_030_000)
    clock.now = 31.0
    assert a.idle_partitions({0, 1}) == ([0, 1], 1_060_000)


def test_without_any_stream_time_the_wall_clock_and_revoked_partitions_are_forgotten() -> None:
    a, clock = _activity()
    a.assigned(0, None)
    a.assigned(1, 2_000_000)
    a.revoked(1)
    clock.now = 5.0
    assert a.idle_partitions({0, 1}) == ([0], 9_999_000)


def test_idle_partitions_wait_for_others_without_stream_time() -> None:
    a, clock = _activity()
    a.assigned(0, None)
    a.saw(1, None)  # only dead letters so far
    clock.now = 1.0
    a.saw(1, None)
    clock.now = 5.0
    assert a.idle_partitions({0}) == ([0], None)
