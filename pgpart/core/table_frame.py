"""One table as the planner sees it in its own time: key kind, zone,
interval, grid and now (the record every part of planning reads), and the
conversions between the table's key space and what users give and read."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from pgpart.core import calendar as cal
from pgpart.core.bounds import KeyKind
from pgpart.core.localtime import to_instant
from pgpart.core.plan import TableRef
from pgpart.core.record import record
from pgpart.core.snapshot import PartitionedTable


@record
class TableFrame:
    """A table seen in its own time: key kind, zone, interval, now."""

    table: PartitionedTable
    kind: KeyKind
    tz: ZoneInfo | None  # None for timestamp/date keys (naive wall-clock periods)
    zone: ZoneInfo  # the policy's zone, also for naive keys' notion of "now"
    interval: cal.Interval | None
    now: datetime  # aware UTC for timestamptz, naive wall clock otherwise
    grid: cal.Grid | None = None  # the interval's boundaries (origin: the existing bounds)
    # What retention judges by in a writing run: the earlier of now and the
    # server's clock, in now's terms (None: now). --now may plan a date
    # ahead; it never makes a run remove what the server's now() keeps.
    retention_now: datetime | None = None

    @property
    def retention_clock(self) -> datetime:
        return self.retention_now if self.retention_now is not None else self.now


def table_ref(frame: TableFrame) -> TableRef:
    """What DDL needs to know about the parent table."""
    t = frame.table
    return TableRef(
        oid=t.oid,
        schema=t.schema,
        name=t.name,
        key_column=t.key_column or "",
        key_kind=frame.kind,
        owner=t.owner,
        acl=t.acl,
        facts=t.facts,
    )


def to_key_space(moment: datetime, frame: TableFrame) -> datetime:
    """A user-given moment in the table's terms: naive input is wall-clock
    time in the table's zone; aware input is converted."""
    if frame.tz is not None:
        if moment.tzinfo is None:
            return to_instant(moment, frame.tz)
        return moment.astimezone(timezone.utc)
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(frame.zone).replace(tzinfo=None)


def as_reported(value: datetime, frame: TableFrame) -> datetime:
    """Report moments as aware datetimes: naive keys are read in the policy zone."""
    if value.tzinfo is not None:
        return value
    return to_instant(value, frame.zone)


def wall_text(moment: datetime, frame: TableFrame) -> str:
    """A moment as --from/--to read it: wall clock of the table's zone."""
    wall = moment.astimezone(frame.tz).replace(tzinfo=None) if frame.tz else moment
    if wall.hour == wall.minute == wall.second == wall.microsecond == 0:
        return wall.date().isoformat()
    return wall.isoformat(timespec="minutes")
