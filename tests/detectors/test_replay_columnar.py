"""The columnar replay (pyarrow reader, array reordering) gives the row path's output byte for
byte: the engine sees the same readings in the same batches with the same ticks."""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.replay import columnar
from ingest.replay.columnar import NeedsRowPath
from ingest.replay.replay import (
    MIN,
    ReplayStats,
    open_text,
    parse_ts,
    read_rows,
    replay,
    replay_columns,
    replay_file,
)
from simulators import FleetSimulator
from simulators.scenario import load_scenario
from simulators.sinks import write_csv

T0 = 1_767_225_600_000


@pytest.fixture(scope="module")
def clean_rows() -> list[list[str]]:
    """Half a day of a small fleet, as the simulator exports it."""
    scenario = load_scenario("normal_week")
    sim = FleetSimulator(scenario, devices=3, start_ms=T0, duration_ms=12 * 60 * MIN)
    text = io.StringIO()
    write_csv(sim, text)
    return list(csv.reader(io.StringIO(text.getvalue())))[1:]


def _mess(rows: list[list[str]], seed: int) -> list[list[str]]:
    """Disorder (within and beyond the window), duplicates and every kind of bad row."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    for row in rows:
        r = list(row)
        x = rng.random()
        if x < 0.03:
            r[1] = str(int(r[1]) - rng.randint(0, 25 * MIN))  # late, some beyond the window
        elif x < 0.04:
            out.append(list(r))  # duplicate
        elif x < 0.045:
            iso = datetime.fromtimestamp(int(r[1]) / 1000, tz=UTC).isoformat()
            r[1] = iso.replace("+00:00", "Z")
        elif x < 0.047:
            r[1] = datetime.fromtimestamp(int(r[1]) / 1000).strftime("%Y-%m-%d %H:%M")
        elif x < 0.049:
            r[1] = rng.choice(["not-a-time", "", "12:00", " " + r[1]])
        elif x < 0.052:
            r[2] = rng.choice([" " + r[2] + " ", "temperature", "", "Heart_Rate"])
        elif x < 0.055:
            r = r[: rng.randint(0, 3)]  # short row, an empty line when nothing is left
        elif x < 0.060:
            r[3] = rng.choice(["n/a", " 61 ", "", "1e3", "nan", "-inf", "1_000", "0x10"])
        elif x < 0.065 and r[2] == "sleep_stage":
            r[3] = rng.choice(["dozing", " REM", "Deep ", ""])
        out.append(r)
    for i in range(len(out) - 1):  # local shuffles: disorder within the window
        if rng.random() < 0.05:
            j = min(len(out) - 1, i + rng.randint(1, 40))
            out[i], out[j] = out[j], out[i]
    return out


def _write(path: Path, rows: list[list[str]], *, gz: bool = False) -> Path:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["device_id", "ts", "metric", "value"])
    writer.writerows(rows)
    data = text.getvalue().encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _row_path(src: Path, window_ms: int, batch: int) -> tuple[bytes, str, ReplayStats]:
    alerts, scores, stats = io.BytesIO(), io.StringIO(), ReplayStats()
    with open_text(src) as text:
        replay(
            read_rows(text, stats),
            alerts,
            scores_out=scores,
            window_ms=window_ms,
            batch=batch,
            stats=stats,
        )
    return alerts.getvalue(), scores.getvalue(), stats


def _columns(
    src: Path, window_ms: int, batch: int, block_bytes: int | None = None
) -> tuple[bytes, str, ReplayStats]:
    alerts, scores = io.BytesIO(), io.StringIO()
    stats = replay_columns(
        src, alerts, scores_out=scores, window_ms=window_ms, batch=batch, block_bytes=block_bytes
    )
    return alerts.getvalue(), scores.getvalue(), stats


@pytest.mark.parametrize(
    ("window_min", "batch", "block_bytes"),
    [(10, 10_000, None), (10, 500, 1 << 14), (1, 7, 1 << 12), (0, 3, None)],
)
def test_same_output_as_the_row_path(
    tmp_path: Path,
    clean_rows: list[list[str]],
    window_min: int,
    batch: int,
    block_bytes: int | None,
) -> None:
    src = _write(tmp_path / "in.csv.gz", _mess(clean_rows, seed=window_min + batch), gz=True)
    want_alerts, want_scores, want = _row_path(src, window_min * MIN, batch)
    got_alerts, got_scores, got = _columns(src, window_min * MIN, batch, block_bytes)
    assert want_alerts.count(b"\n") > 3  # the fixture raises alerts
    assert sum(want.skipped.values()) > 50
    assert len(want.skipped) == 4  # every skip reason occurs
    assert got_alerts == want_alerts
    assert got_scores == want_scores
    assert (got.rows, got.readings, got.skipped, got.alerts) == (
        want.rows,
        want.readings,
        want.skipped,
        want.alerts,
    )


def test_replay_file_takes_the_columnar_path_and_agrees(
    tmp_path: Path, clean_rows: list[list[str]]
) -> None:
    src = _write(tmp_path / "in.csv", _mess(clean_rows, seed=3))
    stats = replay_file(src, tmp_path / "a.ndjson", scores_path=tmp_path / "s.csv")
    want_alerts, want_scores, want = _row_path(src, 10 * MIN, 10_000)
    assert (tmp_path / "a.ndjson").read_bytes() == want_alerts
    assert (tmp_path / "s.csv").read_bytes().decode() == want_scores
    assert stats.skipped == want.skipped


def test_a_row_longer_than_the_header_goes_through_the_row_path(
    tmp_path: Path, clean_rows: list[list[str]]
) -> None:
    rows = [list(r) for r in clean_rows[:3000]]
    rows[1500] = [*rows[1500], "extra"]  # the row path reads its first four fields
    src = _write(tmp_path / "in.csv", rows)
    with pytest.raises(NeedsRowPath):
        _columns(src, 10 * MIN, 10_000)
    stats = replay_file(src, tmp_path / "a.ndjson", scores_path=tmp_path / "s.csv")
    want_alerts, want_scores, want = _row_path(src, 10 * MIN, 10_000)
    assert stats.readings == want.readings == 3000
    assert (tmp_path / "a.ndjson").read_bytes() == want_alerts
    assert (tmp_path / "s.csv").read_bytes().decode() == want_scores


_DEVICES = ["a", "b", "c"]
_METRICS = ["heart_rate", "steps", "spo2", "sleep_stage"]


@st.composite
def _files(draw: st.DrawFn) -> list[list[str]]:
    n = draw(st.integers(1, 120))
    t = T0
    rows = []
    for _ in range(n):
        t += draw(st.integers(-20 * MIN, 3 * MIN))  # backwards steps: disorder, late rows
        metric = draw(st.sampled_from(_METRICS))
        value = (
            draw(st.sampled_from(["awake", "light", "deep", "rem", "x"]))
            if metric == "sleep_stage"
            else str(draw(st.integers(0, 220)))
        )
        rows.append([draw(st.sampled_from(_DEVICES)), str(t), metric, value])
    return rows


@settings(max_examples=60, deadline=None)
@given(rows=_files(), window_min=st.sampled_from([0, 1, 5]), batch=st.integers(1, 30))
def test_same_output_on_random_files(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]], window_min: int, batch: int
) -> None:
    src = _write(tmp_path_factory.mktemp("r") / "in.csv", rows)
    want = _row_path(src, window_min * MIN, batch)
    got = _columns(src, window_min * MIN, batch)
    assert got[:2] == want[:2]
    assert got[2].readings == want[2].readings


_iso_parts = st.tuples(
    st.integers(0, 10_000),  # year (4 digits, or 5: not this form)
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
)


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(_iso_parts, min_size=1, max_size=50))
def test_iso_seconds_in_columns_are_parse_ts(
    parts: list[tuple[int, int, int, int, int, int]],
) -> None:
    """Timestamps parsed in columns get what the row path's parser gives, and every one it
    accepts in this form is; invalid dates, leap seconds, year 0 and other forms are left to
    the row path's parser."""
    texts = [f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z" for y, mo, d, h, mi, s in parts]
    other = ["2026-01-01T00:00:00.5Z", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00+01:00"]
    ts = np.zeros(len(texts) + len(other), np.int64)
    rows = np.ones(len(ts), bool)
    done = columnar.ColumnReader._iso_seconds(pa.array(texts + other), rows, ts)
    assert not done[len(texts) :].any()
    for text, parsed, t in zip(texts, done.tolist(), ts.tolist(), strict=False):
        try:
            want: int | None = parse_ts(text)
        except ValueError:
            want = None
        assert parsed == (want is not None), text
        if parsed:
            assert t == want, text


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 5), st.integers(-3, 3)), max_size=80
    ),
    at_scale=st.sampled_from([1, 2**56]),
    ts_scale=st.sampled_from([1, 60_000, 2**61]),
)
def test_release_order_is_the_four_key_lexsort(
    items: list[tuple[int, int, int]], at_scale: int, ts_scale: int
) -> None:
    """The release order sorts once by (releasing row, group) and again only the groups whose
    times go backwards: the same order as sorting by all four keys, also where the keys are too
    wide to combine (the large scales)."""
    at = np.array([a * at_scale for a, _, _ in items], np.int64)
    group = np.array([g for _, g, _ in items], np.int64)
    ts = np.array([t * ts_scale for _, _, t in items], np.int64)
    row = np.arange(len(items), dtype=np.int64)  # items come in file order within a group
    got = columnar._release_order(at, group, ts, row)
    assert got.tolist() == np.lexsort((row, ts, group, at)).tolist()


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="0123456789+- a٣", max_size=20), max_size=12),
    start=st.integers(0, 3),
)
def test_epoch_digits_only_judges_the_whole_column(texts: list[str], start: int) -> None:
    """The whole-column cast is taken only when every value is 1 to 18 ASCII digits (what the
    per-row test would take), also on a slice of an array (buffers shared, an offset)."""
    column = pa.array(["x"] * start + texts, pa.string()).slice(start)
    want = bool(texts) and all(t.isascii() and t.isdigit() and 1 <= len(t) <= 18 for t in texts)
    assert columnar._epoch_digits_only(column) == want


def test_a_worker_stops_with_its_caller_and_hands_on_its_error() -> None:
    """The read-ahead threads end when the caller stops early (no thread left blocked on a
    full queue), and an error in a worker is raised in the caller's thread."""
    import threading

    ahead = columnar._ahead(iter(range(1000)), "test-ahead")
    assert next(ahead) == 0
    ahead.close()
    assert not [t for t in threading.enumerate() if t.name == "test-ahead"]

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("bad block")

    items = columnar._ahead(failing(), "test-failing")
    assert next(items) == 1
    with pytest.raises(ValueError, match="bad block"):
        next(items)
