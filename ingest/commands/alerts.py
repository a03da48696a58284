"""``vitalstream alerts ack ALERT_ID --note TEXT``: record that a clinician read an alert.

(``vitalstream alerts migrate``: rewrite alert points of the old layout,
:mod:`ingest.influx.alert_migration`.)

Two records: the acknowledgement in InfluxDB (below; the dashboards show who acknowledged what)
and an Alertmanager silence of that alert (matcher ``alert_id``, the author as ``createdBy``, the
note as comment), so its notifications stop. ``vitalstream notify`` expires the silence when the
alert resolves; it lasts at most ``alertmanager.ack_silence_max_h``.

An acknowledgement is an InfluxDB point in the ``alert_acks`` measurement of the vitals bucket
(no tags, so one series however many alerts are acknowledged; fields ``alert_id``,
``acked_by``, ``note``), time-stamped with the wall clock at acknowledgement in nanoseconds
(the only wall time in vitalstream's alert data: acknowledging is a human act, not an event of
the device). The point's identity is its time alone, and two acknowledgements (a script
acknowledging several alerts) are never the same nanosecond: every ack adds a row, so the
history of notes is kept. ``--to-file`` appends the same record as a JSON line instead
(offline use, e.g. after ``vitalstream replay``).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from ingest.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from ingest.settings import Settings

# raw ids are 16 hex characters; pseudonyms (the default) a "p" and 20 (ingest.privacy)
ALERT_ID_RE = re.compile(r"^(?:[0-9a-f]{16}|p[0-9a-f]{20})$")
MEASUREMENT = "alert_acks"


class Ack(msgspec.Struct):
    alert_id: str
    note: str
    by: str
    ts_ms: int
    ts_ns: int = 0  # the InfluxDB point's time; 0: ts_ms (the millisecond's start)

    def point_ns(self) -> int:
        return self.ts_ns or self.ts_ms * 1_000_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("alerts", help="work with raised alerts")
    actions = parser.add_subparsers(dest="alerts_action", required=True, metavar="ACTION")
    ack = actions.add_parser("ack", help="acknowledge an alert with a note")
    ack.add_argument("alert_id", metavar="ALERT_ID", help="16 hex characters, as in the alert")
    ack.add_argument("--note", required=True, help="what was done or decided")
    ack.add_argument("--by", default=None, help="who acknowledges (default: the OS user)")
    ack.add_argument(
        "--to-file",
        type=Path,
        default=None,
        metavar="ACKS.ndjson",
        help="append to this file instead of writing to InfluxDB and Alertmanager",
    )
    migrate = actions.add_parser(
        "migrate",
        help="rewrite alert points written with alert_id as a tag into the current layout",
        description="Rewrite every alerts point written with alert_id as a tag (the old layout) "
        "with alert_id as a field, check it reads back, then delete the old series "
        "(docs/schema.md). Idempotent; safe to interrupt and rerun.",
    )
    migrate.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    migrate.add_argument(
        "--start",
        type=_rfc3339,
        default=datetime(1970, 1, 1, tzinfo=UTC),
        metavar="RFC3339",
        help="migrate only points at or after this time (default: all)",
    )
    migrate.add_argument(
        "--batch",
        type=_at_least_one,
        default=100,
        metavar="N",
        help="alert ids per batch (default 100)",
    )
    parser.set_defaults(handler=run)


def _at_least_one(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return n


def _rfc3339(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC3339 time: {text!r}") from None
    if t.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. Z): {text!r}")
    return t


def make_ack(alert_id: str, note: str, by: str | None, ts_ms: int | None = None) -> Ack:
    """Validate and build an acknowledgement.

    >>> make_ack("761d8a0cafbcdd15", "called the wearer", "dr.a", 1767225600000).by
    'dr.a'
    >>> make_ack("not-an-id", "x", "dr.a")
    Traceback (most recent call last):
    ...
    ingest.errors.ConfigError: ALERT_ID must be 16 hex characters or a pseudonym (p and 20)
    """
    if not ALERT_ID_RE.match(alert_id):
        raise ConfigError("ALERT_ID must be 16 hex characters or a pseudonym (p and 20)")
    if not note.strip():
        raise ConfigError("--note must not be empty")
    who = by if by is not None else getpass.getuser()
    if ts_ms is not None:
        return Ack(alert_id, note.strip(), who, ts_ms)
    now_ns = time.time_ns()
    return Ack(alert_id, note.strip(), who, now_ns // 1_000_000, now_ns)


def ack_line(a: Ack) -> str:
    """The InfluxDB line of an acknowledgement (nanosecond time).

    >>> ack_line(Ack("761d8a0cafbcdd15", 'said "ok"', "dr.a", 5))
    'alert_acks alert_id="761d8a0cafbcdd15",acked_by="dr.a",note="said \\\\"ok\\\\"" 5000000'
    """
    from ingest.influx.line_protocol import line

    fields = {"alert_id": a.alert_id, "acked_by": a.by, "note": a.note}
    return line(MEASUREMENT, {}, fields, a.point_ns())


async def write_ack(
    settings: Settings, a: Ack, transport: httpx.AsyncBaseTransport | None = None
) -> None:
    from ingest.influx.writer import InfluxWriter

    writer = InfluxWriter(
        url=settings.influx_url,
        org=settings.influxdb.org,
        bucket=settings.influxdb.bucket,
        token=settings.influx_token(),
        timeout_s=settings.influxdb.timeout_ms / 1000,
        verify=settings.influx_ssl(),
        transport=transport,
        precision="ns",
    )
    try:
        rejected = await writer.write([ack_line(a)])
    finally:
        await writer.aclose()
    if rejected:
        raise ConfigError(f"InfluxDB rejected the acknowledgement: {rejected[0].reason}")


async def silence_ack(
    settings: Settings, a: Ack, transport: httpx.AsyncBaseTransport | None = None
) -> str:
    """Silence the acknowledged alert in Alertmanager; returns the silence id."""
    from ingest.alertmanager.client import AlertmanagerClient

    client = AlertmanagerClient(
        settings.alertmanager_url, timeout_s=settings.alertmanager.timeout_s, transport=transport
    )
    starts = datetime.fromtimestamp(a.ts_ms / 1000, tz=UTC)
    try:
        return await client.create_silence(
            {"alert_id": a.alert_id},
            created_by=a.by,
            comment=f"acknowledged: {a.note}",
            starts_at=starts,
            ends_at=starts + timedelta(hours=settings.alertmanager.ack_silence_max_h),
        )
    finally:
        await client.aclose()


async def acknowledge(settings: Settings, a: Ack) -> str:
    """Both records of an acknowledgement; returns the silence id."""
    await write_ack(settings, a)
    return await silence_ack(settings, a)


def migrate_layout(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.influx.alert_migration import run_migration

    counts = run_migration(settings, args.start, args.batch, args.dry_run)
    verb = "would rewrite" if args.dry_run else "rewrote"
    print(
        f"alerts migrate ({settings.influxdb.bucket}): {verb} {counts.points} points of "
        f"{counts.alert_ids} alerts; {'would delete' if args.dry_run else 'deleted'} "
        f"{counts.series} old series",
        file=sys.stderr,
    )
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio  # on use: every command module loads with the parser (~20 ms)

    if args.alerts_action == "migrate":
        return migrate_layout(args, settings)
    a = make_ack(args.alert_id, args.note, args.by)
    if args.to_file is not None:
        with args.to_file.open("ab") as f:
            f.write(msgspec.json.encode(a) + b"\n")
        where = str(args.to_file)
    else:
        silence_id = asyncio.run(acknowledge(settings, a))
        where = (
            f"InfluxDB {settings.influxdb.bucket}/{MEASUREMENT}, Alertmanager silence {silence_id}"
        )
    print(f"acknowledged {a.alert_id} by {a.by} -> {where}", file=sys.stderr)
    return 0
