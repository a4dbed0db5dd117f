"""The catalog as pgpart sees it: one snapshot of partitioned tables.

Frozen records, read by ``pgpart.db.catalog`` and planned from by the pure
``pgpart.core.planner``. Partitions are known by their bounds; names are
labels.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime

from pgpart.core.bounds import KeyKind, RangeBound
from pgpart.core.identifiers import display_name
from pgpart.core.marks import MarkedTable, RetentionMark
from pgpart.core.opaque_current import OpaqueCurrent
from pgpart.core.record import record
from pgpart.core.replication_facts import Replication
from pgpart.core.retention_facts import RetentionFacts
from pgpart.core.row_code import RowCode
from pgpart.core.siblings import ParentFacts, Templates


@record
class Partition:
    schema: str
    name: str
    bound: RangeBound | None  # None for the DEFAULT partition
    rows_estimate: int | None  # None: never analyzed (reltuples = -1)
    bytes: int | None  # only read for `stats`
    pending_detach: bool = False
    reloptions: tuple[str, ...] = ()
    tablespace: str | None = None
    replica_identity: str = "d"
    bound_error: str | None = None  # bound text pgpart could not interpret
    owner: str | None = None
    oid: int = 0
    kept_until: datetime | None = None  # a restored partition, kept until then (restore_mark)
    # The bound as PostgreSQL prints it (pg_get_expr): kept for keys whose
    # bounds are read otherwise than as dates and times.
    bound_text: str | None = None

    @property
    def is_default(self) -> bool:
        return self.bound is None and self.bound_error is None

    @property
    def lower(self) -> datetime | None:
        return self.bound.lower if self.bound else None

    @property
    def upper(self) -> datetime | None:
        return self.bound.upper if self.bound else None

    @property
    def qualified(self) -> str:
        return display_name(self.schema, self.name)


@record
class Leftover:
    """A standalone table carrying a retention mark: detached by pgpart's
    retention (or meant to be) and not dropped. A claim the planner verifies
    (pgpart.core.leftovers) before anything is done with it."""

    schema: str
    name: str
    owner: str
    note: str = ""  # the mark's text: its constraint's comment (an earlier pgpart's: the table's)
    oid: int = 0
    mark: RetentionMark | None = None  # None: the comment mark of an earlier pgpart
    lower: datetime | None = None  # its range, when known (from the mark, or the CHECK
    upper: datetime | None = None  # DETACH ... CONCURRENTLY added); upper None: unknown
    archive: bool = False  # marked to be archived before it is dropped

    @property
    def qualified(self) -> str:
        return display_name(self.schema, self.name)

    @property
    def legacy(self) -> bool:
        return self.mark is None


@record
class Login:
    """The role pgpart connected as, and what it may do."""

    name: str = ""
    superuser: bool = False
    may_set_replication_role: bool = False  # superuser, or GRANT SET ON PARAMETER (15+)
    acts_as: frozenset[str] = frozenset()  # owners (of parents, partitions) it can act as


@record
class PartitionedTable:
    oid: int
    schema: str
    name: str
    owner: str
    relkind: str  # 'p' partitioned, 'r' plain table, ...
    strategy: str | None  # 'range', 'list', 'hash'; None when not partitioned
    key_column: str | None  # None for an expression or multi-column key
    key_type: str | None  # as format_type() prints it
    key_kind: KeyKind | None  # None: not a date/time key pgpart handles
    partitions: tuple[Partition, ...] = ()
    managed_by_partman: bool = False
    acl: tuple[str, ...] = ()  # the parent's grants as aclitem text, e.g. 'app=arwd/owner'
    templates: Templates = field(default_factory=Templates)  # newest siblings, for planning
    facts: ParentFacts = field(default_factory=ParentFacts)
    leftovers: tuple[Leftover, ...] = ()
    retention: RetentionFacts = field(default_factory=RetentionFacts)  # foreign, blockers, FKs
    # Functions of non-superusers run for rows moved out of DEFAULT (tables
    # with a DEFAULT partition; pgpart.core.row_code)
    row_code: tuple[RowCode, ...] = ()
    # An integer or uuid key: why its encoding was inferred, or why it is not
    # known (pgpart.core.bounds.choose_encoding); None otherwise.
    key_note: str | None = None
    # A key pgpart cannot read as time: whether now has a partition, as the
    # server computed it (pgpart.core.opaque_current); None: not asked, or cannot tell.
    current: OpaqueCurrent | None = None

    @property
    def qualified(self) -> str:
        return display_name(self.schema, self.name)

    @property
    def is_time_range(self) -> bool:
        return self.strategy == "range" and self.key_kind is not None and self.key_kind.handled

    @property
    def default(self) -> Partition | None:
        # at most one, and the catalog sorts it last: found at once from the end
        return next((p for p in reversed(self.partitions) if p.is_default), None)

    @property
    def ranged(self) -> tuple[Partition, ...]:
        """Non-default partitions with readable bounds, ordered by lower bound."""
        return tuple(p for p in self.partitions if p.bound is not None)


@record
class PartmanSettings:
    """One row of pg_partman's part_config, as text (what `init` carries over)."""

    parent_table: str
    partition_interval: str
    premake: int | None
    retention: str | None
    retention_keep_table: bool | None
    # How an integer key holds time ('none', 'seconds', 'milliseconds', ...),
    # and the function that encodes a uuid's (pg_partman 5); None: no such column.
    epoch: str | None = None
    time_encoder: str | None = None


@record
class Snapshot:
    server_version: int
    in_recovery: bool
    search_path: tuple[str, ...]  # the schemas of the search path bare names resolve through
    tables: tuple[PartitionedTable, ...]
    # Relation names already used per schema, so new partition names never collide.
    taken_names: dict[str, frozenset[str]] = field(default_factory=dict)
    login: Login = field(default_factory=Login)
    timezone: str | None = None  # the TimeZone a session starts with (database/role/server)
    partman_error: str | None = None  # pg_partman is installed but its part_config unreadable
    partman: tuple[PartmanSettings, ...] = ()  # part_config's rows
    marks: tuple[MarkedTable, ...] = ()  # tables pgpart marked for work in progress
    # The server's clock (now() when the snapshot was read, aware): a writing
    # run never removes what this moment keeps, whatever --now says.
    server_now: datetime | None = None
    replication: Replication = field(default_factory=Replication)  # subscriptions, publications

    def find(self, oid: int) -> PartitionedTable | None:
        return next((t for t in self.tables if t.oid == oid), None)
