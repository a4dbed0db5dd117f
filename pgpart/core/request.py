"""What a command asks the planner for: the tables (targets) and the
command's own choices beyond their policies (re-exported by
:mod:`pgpart.core.planner`, where callers import them from)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from pgpart.core import calendar as cal
from pgpart.core.durations import Duration
from pgpart.core.plan import DefaultRows
from pgpart.core.policy import TablePolicy
from pgpart.core.record import record
from pgpart.core.snapshot import PartitionedTable


class Mode(str, Enum):
    CHECK = "check"
    MAINTAIN = "maintain"
    CREATE = "create"
    DROP = "drop"


@record
class Target:
    """One table to plan for: what the user named and what the catalog holds."""

    argument: str
    table: PartitionedTable | None
    policy: TablePolicy
    default_rows: DefaultRows | None = None
    # Found by discovery rather than named: a table pgpart cannot handle is
    # listed with the reason as information, not judged unknown.
    discovered: bool = False


@record
class Request:
    """What the command asks for beyond the policies."""

    mode: Mode
    interval: cal.Interval | None = None  # create --interval
    create_from: datetime | None = None  # naive = the table's wall clock
    create_to: datetime | None = None
    drop_before: datetime | None = None  # drop --before (naive = table's wall clock)
    drop_older_than: Duration | None = None
    drop_detach: bool = False
    drop_no_archive: bool = (
        False  # drop --no-archive: an archive-mode table's partitions unarchived
    )
    max_new_partitions: int = 500
    force: bool = False  # allow more than max_new_partitions
    analyze: bool = True  # False: --no-analyze (no ANALYZE of the parents changed)
