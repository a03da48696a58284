"""The compiled build of ``ingest/influx/minutes.py`` (Cython pure-Python mode, typed by
``minutes.pxd``) is built, current, and writes exactly what the interpreted source writes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import ingest.influx.minutes as compiled
from detectors import Scored
from detectors.engine import _interpreted
from messages import Metric
from tests.compiled import assert_built_and_current

interpreted = _interpreted(compiled)
T0 = 1_767_225_600_000


def test_the_compiled_fold_is_built_and_current() -> None:
    assert_built_and_current(compiled, interpreted, "minutes.py", "minutes.pxd")


_METRICS = [Metric.HEART_RATE, Metric.SPO2, Metric.STEPS]
_reading = st.tuples(
    st.sampled_from(["d1", "d2"]),
    st.integers(-30_000, 90_000),  # the step from the device's last reading: late ones too
    st.sampled_from(_METRICS),
    st.floats(30, 200),
    st.one_of(st.floats(0, 8), st.just(float("nan")), st.just(float("inf"))),
    st.one_of(st.none(), st.floats(40, 120)),
    st.booleans(),
)


@given(st.lists(st.lists(_reading, max_size=30), max_size=12), st.integers(0, 11))
def test_compiled_and_interpreted_write_the_same_points(
    batches: list[list[tuple[str, int, Metric, float, float, float | None, bool]]], cut: int
) -> None:
    """Both builds over the same batches (a restore from a snapshot at ``cut``): the same
    lines when each batch is folded, the same open minutes and snapshots."""
    out: list[list[str]] = []
    for mod in (compiled, interpreted):
        agg, lines, ts = mod.MinuteAggregator(), [], {"d1": T0, "d2": T0}
        for i, batch in enumerate(batches):
            if i == cut:
                snaps = {d: agg.snapshot(d) for d in ts}
                agg = mod.MinuteAggregator()
                for d, snap in snaps.items():
                    assert agg.restore(d, snap)
            scored = []
            for device, step, metric, value, score, base, flag in batch:
                ts[device] += step
                scored.append(Scored(device, ts[device], metric, value, score, base, flag))
            lines += [mod.minute_line(d, m) for d, m in agg.add(scored)]
            lines += [mod.minute_line(d, m) for d, m in agg.open_minutes(["d1", "d2"])]
        lines += [agg.snapshot(d).hex() for d in ("d1", "d2")]
        out.append(lines)
    assert out[0] == out[1]
