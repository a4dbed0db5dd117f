"""The values the planner produces and everything downstream consumes.

A Plan is data: an ordered tuple of actions plus findings per table. It
compares with ``==`` so tests can assert whole plans, and the dry run renders
exactly the statements the executor would send for it.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo

from pgpart.core.bounds import KeyKind
from pgpart.core.identifiers import display_name
from pgpart.core.interval import Interval
from pgpart.core.policy import Execution
from pgpart.core.problem_code import ProblemCode as ProblemCode
from pgpart.core.record import record
from pgpart.core.relocation import DefaultFacts, Relocating
from pgpart.core.siblings import ParentFacts, Relocation, SiblingTemplate


class Status(str, Enum):
    OK = "ok"
    INFO = "info"  # a problem's severity only: information that never raises a status
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def worst(cls, statuses: list[Status] | tuple[Status, ...]) -> Status:
        return max((s for s in statuses if s is not cls.INFO), key=lambda s: s.rank, default=cls.OK)


_RANK = {Status.OK: 0, Status.INFO: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.UNKNOWN: 3}


@record
class Problem:
    severity: Status  # INFO, WARNING, CRITICAL or UNKNOWN
    code: ProblemCode
    message: str


@record
class TableRef:
    """What DDL needs to know about the parent table."""

    oid: int
    schema: str
    name: str
    key_column: str
    key_kind: KeyKind
    owner: str
    acl: tuple[str, ...] = ()  # parent's grants (aclitem text), for a first partition
    facts: ParentFacts = field(default_factory=ParentFacts)

    @property
    def qualified(self) -> str:
        return display_name(self.schema, self.name)


@record
class StorageTemplate:
    """What a new partition copies from the newest existing one, since
    PostgreSQL carries none of it over: a partitioned parent cannot even hold
    storage parameters."""

    reloptions: tuple[str, ...] = ()
    tablespace: str | None = None
    replica_identity: str = "d"  # pg_class.relreplident: d, n, f (i needs an index)


@record
class CreatePartition:
    table: TableRef
    partition: str  # bare name, created in ``schema``
    lower: datetime
    upper: datetime
    default_partition: str | None  # bare name of the parent's DEFAULT partition, if any
    default_schema: str | None
    move_rows: bool  # the default partition holds rows of [lower, upper)
    storage: StorageTemplate  # used only when there is no sibling template
    template: SiblingTemplate | None = None  # the newest sibling, copied faithfully
    copy_names: tuple[tuple[str, str], ...] = ()  # sibling object name -> the copy's name
    relocation: Relocation = Relocation.PLAIN
    # Where the partition goes: its newest sibling's schema (None: the parent's),
    # so that schema publications and grants keep applying to it.
    schema: str | None = None
    # How rows leave the DEFAULT (pgpart.core.relocation); None: no DEFAULT.
    relocating: Relocating | None = None

    action = "create"

    @property
    def partition_schema(self) -> str:
        return self.schema or self.table.schema

    @property
    def default_at(self) -> tuple[str, str]:
        """(schema, name) of the parent's DEFAULT partition: for a table that has one."""
        assert self.default_partition is not None, "the table has no DEFAULT partition"
        return self.default_schema or self.table.schema, self.default_partition


@record
class DropPartition:
    table: TableRef
    partition: str
    partition_schema: str
    lower: datetime | None
    upper: datetime
    detach_first: bool  # detach (concurrently where possible) and then drop
    concurrently: bool  # DETACH ... CONCURRENTLY (14+, no default partition)
    owner: str | None = None  # the partition's owner, who may drop it (None: the parent's)
    oid: int = 0  # the partition's own oid, which retention's mark binds to (0: unknown)

    action = "drop"


@record
class DetachPartition:
    table: TableRef
    partition: str
    partition_schema: str
    lower: datetime | None
    upper: datetime
    concurrently: bool

    action = "detach"


@record
class FinalizeDetach:
    table: TableRef
    partition: str
    partition_schema: str

    action = "finalize_detach"


@record
class DropLeftover:
    """Drop a table pgpart detached for retention and could not drop then,
    once verified (pgpart.core.leftovers); the step checks again that the
    table and its mark are what the plan read."""

    table: TableRef
    partition: str
    partition_schema: str
    owner: str
    oid: int = 0  # the table the plan verified (0: not checked again)
    note: str = ""  # its mark's text as the plan read it
    lower: datetime | None = None
    upper: datetime | None = None

    action = "drop_leftover"


@record
class UnmarkPartition:
    """Remove a retention mark left on a partition that is still attached (a
    detach that did not happen): never a licence, and it would outlive a
    later detach by hand. An earlier pgpart's mark (``legacy``: the table's
    comment) is cleared only while the comment is still exactly ``note``."""

    table: TableRef
    partition: str
    partition_schema: str
    owner: str
    oid: int
    note: str
    legacy: bool

    action = "unmark"


@record
class ArchivePartition:
    """Detach, pg_dump and verify, manifest, archive_command, then drop
    (retention_mode = "archive"; carried out by pgpart.db.archive)."""

    table: TableRef
    partition: str
    partition_schema: str
    lower: datetime | None  # None: a leftover whose bounds pgpart did not record
    upper: datetime | None
    concurrently: bool
    detached: bool  # already detached by an earlier run (a leftover): resume
    owner: str  # the partition's owner, who may drop it
    archive_dir: str
    archive_command: str | None = None
    pg_bin: str | None = None
    archive_timeout_s: float = 3600.0  # archive_command is killed past it
    oid: int = 0  # the partition's own oid, which retention's mark binds to
    note: str = ""  # a leftover's mark as the plan read it (checked before anything)

    action = "archive"


@record
class AnalyzeTable:
    """ANALYZE the parent once its partitions changed: autovacuum analyzes
    partitions, never a partitioned parent, whose statistics (of the table as
    a whole) the planner uses for every query over the table. Planned last
    among the table's actions; run only when one of them changed something
    (pgpart.db.ddl.analyze)."""

    table: TableRef
    partition: str | None = None  # it is about no partition

    action = "analyze"


@record
class RefreshSubscription:
    """ALTER SUBSCRIPTION ... REFRESH PUBLICATION on a subscriber, so that it
    applies the changes of partitions it did not know (pgpart.core.replication
    says when and why copy_data is true; pgpart.db.ddl.subscription runs it)."""

    table: TableRef  # a subscribed table of the run: the refresh follows its creations
    subscription: str
    owner: str  # the subscription's owner, whom pgpart acts as
    partitions: tuple[tuple[str, str], ...]  # (schema, name) it brings in: each must be empty
    copy_data: bool = True

    action = "refresh_subscription"

    @property
    def partition(self) -> str:
        """What reports show in the partition column: the subscription."""
        return self.subscription


Action = (
    CreatePartition
    | DropPartition
    | DetachPartition
    | FinalizeDetach
    | DropLeftover
    | ArchivePartition
    | AnalyzeTable
    | RefreshSubscription
    | UnmarkPartition
)


@record
class DefaultPeriod:
    """Rows of the DEFAULT partition that fall in one period."""

    start: datetime
    rows: int


@record
class DefaultRows:
    """What a probe of the DEFAULT partition found."""

    rows: int  # rows seen (a lower bound unless exact), NULL keys included
    exact: bool
    periods: tuple[DefaultPeriod, ...] = ()
    error: str | None = None  # the probe could not run (lock timeout, privilege)
    null_rows: int = 0  # rows whose key is NULL: no range partition can take them
    # Every period holding rows is listed (exact, or found through an index on
    # the key); else only those a sample saw, and others may hold rows too.
    all_periods: bool = True
    facts: DefaultFacts = field(default_factory=DefaultFacts)
    sampled_pages: int = 0  # a sample: the pages its rows came from (the DEFAULT's density)


@record
class Span:
    """A stretch [lower, upper) of a table's key space, as aware moments;
    None: MINVALUE / MAXVALUE. ``rows``: DEFAULT rows of the stretch."""

    lower: datetime | None
    upper: datetime | None
    rows: int = 0


@record
class CoverageMap:
    """What a picture of one table's coverage needs (``check --timeline``):
    the stretches its partitions cover and the periods whose rows sit in its DEFAULT,
    framed by the moments that matter, every moment aware. Periods fall on
    the table's calendar in ``zone``."""

    zone: ZoneInfo
    interval: Interval | None
    covered: tuple[Span, ...]  # what the partitions routing rows cover, by lower bound
    default_periods: tuple[Span, ...] = ()
    has_default: bool = False
    retention_cutoff: datetime | None = None  # partitions wholly before it expire
    horizon: datetime | None = None  # where coverage should reach (premake)


@record
class TablePlan:
    table: str  # display name, or the argument as given when unknown
    status: Status
    interval: str | None
    interval_source: str | None  # "config", "inferred", "flag"
    partitions: int
    covered_from: datetime | None
    covered_until: datetime | None
    default_rows: int | None
    problems: tuple[Problem, ...] = ()
    actions: tuple[Action, ...] = ()
    blocked: bool = False  # problems forbid DDL on this table
    oid: int | None = None  # the parent's, when the table exists
    # How its actions run (lock_timeout, retry_for, ...): its policy as planned.
    execution: Execution = field(default_factory=Execution)
    coverage: CoverageMap | None = None  # None: a table pgpart cannot work on


@record
class Plan:
    now: datetime
    tables: tuple[TablePlan, ...]
    server_version: int | None = None  # server_version_num of the snapshot planned from

    @property
    def status(self) -> Status:
        return Status.worst([t.status for t in self.tables])

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(a for t in self.tables for a in t.actions)
