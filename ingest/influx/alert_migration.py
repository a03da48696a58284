"""Rewrite ``alerts`` points of the old layout (``alert_id`` a tag) into the current one.

The alert id became a field so the measurement's series stay bounded (docs/schema.md); points
written before keep their per-alert series in the bucket's index until their retention drops
them. :func:`migrate` drops them now, a batch of alert ids at a time:

1. read every old-layout point of the batch (times in nanoseconds, every tag and field);
2. write each again in the new layout (same time, same tags minus ``alert_id``, the alert id as
   a field), formatted by :func:`ingest.influx.line_protocol.line` like every alert point;
3. read the rewritten points back and compare them with what was read in step 1;
4. only then delete the old series of the batch (the delete API matches tag values only, one
   alert id per request).

An interruption between steps leaves every event readable (at worst twice, until a rerun);
a rerun rewrites again (same identity, the same point) and deletes what is left. A second
complete run finds nothing to do.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingest.errors import SinkError
from ingest.influx.line_protocol import FieldValue, line
from ingest.report.data import PIVOT

if TYPE_CHECKING:
    from influxdb_client import InfluxDBClient  # type: ignore[attr-defined]

    from ingest.settings import Settings

log = logging.getLogger(__name__)

MEASUREMENT = "alerts"
#: the end of every range read and deleted: past any event time a device can send, inside
#: InfluxDB's time range (which ends in 2262)
FAR_FUTURE = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
#: Flux columns of a pivoted row that are neither tags nor fields (``_ns``: the time in ns)
_NOT_TAGS = frozenset({"result", "table", "_start", "_stop", "_time", "_measurement", "_ns"})

#: a point: its tags (sorted, without ``alert_id``), its time in ns, its fields by name
PointKey = tuple[tuple[tuple[str, str], ...], int]


@dataclass(frozen=True)
class MigrationCounts:
    """What a run found (``--dry-run``) or did."""

    alert_ids: int = 0
    points: int = 0
    series: int = 0  # old series (tag sets: one per alert id and state)


def _flux_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _flux_strings(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def _flux_regex(values: Sequence[str]) -> str:
    """A Flux regex matching exactly ``values``: a tag predicate InfluxDB's storage applies
    itself (``contains`` would read every point of the range into Flux)."""
    return "/^(" + "|".join(re.escape(v).replace("/", r"\/") for v in values) + ")$/"


class AlertLayoutMigration:
    """Reads, rewrites and deletes old-layout alert points of one bucket from ``start`` on."""

    def __init__(self, client: InfluxDBClient, bucket: str, org: str, start: dt.datetime) -> None:
        self._client = client
        self.bucket = bucket
        self.org = org
        self.start = start

    def _rows(self, query: str) -> list[dict[str, Any]]:
        tables = self._client.query_api().query(query, org=self.org)
        return [dict(rec.values) for t in tables for rec in t.records]

    def _points(self, query: str) -> Iterator[tuple[dict[str, str], int, dict[str, Any]]]:
        """(tags, time in ns, fields) of every pivoted row: the tags are the table's group
        key (the series), the fields the other columns, whatever they are."""
        for t in self._client.query_api().query(query, org=self.org):
            tag_names = {c.label for c in t.get_group_key()} - _NOT_TAGS  # type: ignore[no-untyped-call]
            for rec in t.records:
                tags = {k: str(v) for k, v in rec.values.items() if k in tag_names}
                fields = {
                    k: v
                    for k, v in rec.values.items()
                    if k not in tag_names and k not in _NOT_TAGS and v is not None
                }
                yield tags, int(rec.values["_ns"]), fields

    def _range(self, between_ns: tuple[int, int] | None = None) -> str:
        """The measurement from ``start`` on, or in ``between_ns`` (start, stop)."""
        if between_ns is None:
            bounds = f"start: {_flux_time(self.start)}, stop: {_flux_time(FAR_FUTURE)}"
        else:
            bounds = f"start: time(v: {between_ns[0]}), stop: time(v: {between_ns[1]})"
        return (
            f"from(bucket: {json.dumps(self.bucket)})\n"
            f"  |> range({bounds})\n"
            f'  |> filter(fn: (r) => r._measurement == "{MEASUREMENT}")\n'
        )

    def old_alert_ids(self) -> list[str]:
        """The alert ids that still have old-layout points in the range, by the time of
        their first one (so a batch of them spans a short time). ``first()`` reads points:
        without it InfluxDB answers from its series index, which takes in series with points
        anywhere in a shard the range touches, before the range's start too."""
        rows = self._rows(
            self._range() + "  |> filter(fn: (r) => exists r.alert_id) |> first()\n"
            '  |> keep(columns: ["alert_id", "_time"]) |> group()\n'
        )
        first: dict[str, dt.datetime] = {}
        for r in rows:
            alert_id, t = str(r["alert_id"]), r["_time"]
            if alert_id not in first or t < first[alert_id]:
                first[alert_id] = t
        return sorted(first, key=lambda a: (first[a], a))

    def old_points(self, alert_ids: Sequence[str]) -> dict[PointKey, dict[str, Any]]:
        """The old-layout points of ``alert_ids`` in the range, as the new layout has them:
        tags without ``alert_id``, fields with it."""
        return self._alert_points(
            self._range()
            + f"  |> filter(fn: (r) => r.alert_id =~ {_flux_regex(alert_ids)})\n"
            + PIVOT
        )

    def new_points(
        self, alert_ids: Sequence[str], between_ns: tuple[int, int]
    ) -> dict[PointKey, dict[str, Any]]:
        """The new-layout points of ``alert_ids`` in ``between_ns`` (start, stop): their id is
        a field, so all points of the range are pivoted before the ids are picked."""
        ids = _flux_strings(alert_ids)
        return self._alert_points(
            self._range(between_ns)
            + "  |> filter(fn: (r) => not exists r.alert_id)\n"
            + PIVOT
            + f"  |> filter(fn: (r) => contains(value: r.alert_id, set: {ids}))\n"
        )

    def _alert_points(self, query: str) -> dict[PointKey, dict[str, Any]]:
        found: dict[PointKey, dict[str, Any]] = {}
        for tags, ns, fields in self._points(
            query + "  |> map(fn: (r) => ({r with _ns: int(v: r._time)}))\n"
        ):
            if "alert_id" in tags:
                fields = {"alert_id": tags.pop("alert_id"), **fields}
            found[(tuple(sorted(tags.items())), ns)] = fields
        return found

    def rewrite(self, points: dict[PointKey, dict[str, Any]]) -> None:
        """Write ``points`` in the new layout (nanosecond times: the old points' own)."""
        from influxdb_client.client.write_api import SYNCHRONOUS

        lines = [
            line(MEASUREMENT, dict(tags), _new_layout_fields(fields), ns)
            for (tags, ns), fields in points.items()
        ]
        with self._client.write_api(write_options=SYNCHRONOUS) as w:
            w.write(bucket=self.bucket, org=self.org, record=lines, write_precision="ns")

    def delete_old(self, alert_id: str) -> None:
        """Delete the old-layout points of one alert in the range (new-layout points have no
        ``alert_id`` tag, so the predicate never matches them)."""
        self._client.delete_api().delete(
            start=self.start,
            stop=FAR_FUTURE,
            predicate=f'_measurement="{MEASUREMENT}" AND alert_id={json.dumps(alert_id)}',
            bucket=self.bucket,
            org=self.org,
        )


def _new_layout_fields(fields: dict[str, Any]) -> dict[str, FieldValue]:
    """The alert id first, as :func:`~ingest.influx.line_protocol.alert_line` orders it."""
    return {"alert_id": fields["alert_id"], **{k: v for k, v in fields.items() if k != "alert_id"}}


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def migrate(
    migration: AlertLayoutMigration, *, batch: int, dry_run: bool = False
) -> MigrationCounts:
    """Migrate every old-layout alert point of the range, ``batch`` alert ids at a time.

    Raises
    ------
    SinkError
        A rewritten point did not read back as written (nothing of its batch was deleted).
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    alert_ids = migration.old_alert_ids()
    points = series = 0
    batches = -(-len(alert_ids) // batch)
    for done, ids in enumerate(_batches(alert_ids, batch), 1):
        old = migration.old_points(ids)
        points += len(old)
        series += len({(tags, fields["alert_id"]) for (tags, _), fields in old.items()})
        if dry_run or not old:
            continue
        migration.rewrite(old)
        times = [ns for _, ns in old]
        written = migration.new_points(ids, (min(times), max(times) + 1))
        missing = [k for k, fields in old.items() if written.get(k) != fields]
        if missing:
            raise SinkError(
                f"{len(missing)} rewritten alert points did not read back as written; "
                "nothing of their batch was deleted (rerun to retry)"
            )
        for alert_id in ids:
            migration.delete_old(alert_id)
        log.info("alerts migrate: batch %d of %d done, %d points rewritten", done, batches, points)
    return MigrationCounts(len(alert_ids), points, series)


def run_migration(
    settings: Settings, start: dt.datetime, batch: int, dry_run: bool
) -> MigrationCounts:
    """:func:`migrate` on the configured bucket.

    Raises
    ------
    SinkError
        InfluxDB refused a request or could not be reached (one line: its status, never a
        body, which may quote an alert's values); a rerun continues where this one stopped.
    """
    from influxdb_client.rest import ApiException
    from urllib3.exceptions import HTTPError

    from ingest.report.data import influx_client

    try:
        with influx_client(settings) as client:
            migration = AlertLayoutMigration(
                client, settings.influxdb.bucket, settings.influxdb.org, start
            )
            return migrate(migration, batch=batch, dry_run=dry_run)
    except ApiException as exc:
        raise SinkError(
            f"InfluxDB answered {exc.status} {exc.reason} (bucket {settings.influxdb.bucket}); "
            "rerun to continue: no old point is deleted before it is rewritten"
        ) from None
    except (OSError, HTTPError) as exc:
        raise SinkError(
            f"InfluxDB at {settings.influx_url} unreachable ({type(exc).__name__}); "
            "rerun to continue: no old point is deleted before it is rewritten"
        ) from None
