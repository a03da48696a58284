"""The compiled build of ``ingest/influx/line_protocol.py`` (Cython, untyped) is built, current,
and formats exactly what the interpreted source formats."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import ingest.influx.line_protocol as compiled
from detectors import AlertEvent, Scored
from detectors.engine import _interpreted
from messages import Metric
from messages.kinds import AnomalyKind, Category
from tests.compiled import assert_built_and_current

interpreted = _interpreted(compiled)


def test_the_compiled_line_protocol_is_built_and_current() -> None:
    assert_built_and_current(compiled, interpreted, "line_protocol.py")


_field = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),  # NaN and infinities too: left out alike
    st.text(max_size=20),
)


@given(
    st.sampled_from(list(Metric)),
    st.floats(allow_nan=False),
    st.integers(0, 2**62),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._:-", min_size=1, max_size=24),
    st.text(max_size=12),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=8), _field, max_size=5),
)
def test_compiled_and_interpreted_format_the_same_lines(
    metric: Metric,
    value: float,
    ts: int,
    tag: str,
    measurement: str,
    tags: dict[str, str],
    fields: dict[str, compiled.FieldValue],
) -> None:
    s = Scored("d", ts, metric, value, 0.5, None, False)
    assert compiled.reading_line(s, tag) == interpreted.reading_line(s, tag)
    outcomes = []
    for mod in (compiled, interpreted):
        try:
            outcomes.append(mod.line(measurement, tags, fields, ts))
        except ValueError as exc:  # no field left: both raise alike
            outcomes.append(f"ValueError: {exc}")
    assert outcomes[0] == outcomes[1]


def test_an_alert_formats_the_same() -> None:
    alert = AlertEvent(
        "a1",
        "d1",
        AnomalyKind.FLATLINE,
        Category.DATA_QUALITY,
        "warning",
        "open",
        1_767_225_600_000,
        1_767_225_500_000,
        None,
        61.0,
        'flat "signal", 10 min',
    )
    assert compiled.alert_line(alert, "p1") == interpreted.alert_line(alert, "p1")
