"""The records configuration produces: each table's policy, the run's settings,
the fleet's databases, and the command-line overrides that feed them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from zoneinfo import ZoneInfo

from pgpart.core.calendar import Interval
from pgpart.core.durations import Duration
from pgpart.core.encoding import KeyEncoding
from pgpart.core.identifiers import parse_table_name
from pgpart.core.relocation import Strategy

# How long archive_command may run: a hung upload must not hang cron forever.
ARCHIVE_TIMEOUT = Duration(microseconds=3_600_000_000)


class RetentionMode(str, Enum):
    DROP = "drop"
    DETACH = "detach"
    ARCHIVE = "archive"  # pg_dump, verify, archive_command, then drop (pgpart.db.archive)


@dataclass(frozen=True, slots=True)
class TablePolicy:
    """The effective policy for one table, every layer of configuration merged."""

    name: str | None  # as written in the config; None for the policy of unlisted tables
    interval: Interval | None  # None: infer from the existing bounds
    premake: int
    retention: Duration | None
    retention_mode: RetentionMode
    timezone: ZoneInfo
    naming: str | None
    warn_ahead: Duration | None  # None: by interval, see effective_warn_ahead
    critical_ahead: Duration
    lock_timeout: Duration
    # Keys whose value came from the file, the environment or a flag rather
    # than from the built-in defaults ("configured interval" vs "inferred").
    configured_keys: frozenset[str]
    # The interval the existing partitions follow, stated: then a different
    # `interval` takes effect going forward even while they lie ahead.
    previous_interval: Interval | None = None
    # retention_mode = "archive": where dumps go, what uploads them, which pg_dump.
    archive_dir: str | None = None
    archive_command: str | None = None
    archive_timeout: Duration = ARCHIVE_TIMEOUT  # archive_command is killed past it
    pg_bin: str | None = None
    # ANALYZE the parent after a run changed its partitions (--no-analyze: no).
    analyze: bool = True
    # Rows out of DEFAULT: settle within relocation_max_wait (None: the
    # lock_timeout), beyond it what the user chose (pgpart.core.relocation).
    relocation: Strategy = Strategy.AUTO
    relocation_max_wait: Duration | None = None
    # How an integer or uuid key encodes time (None: inferred from its bounds).
    key_encoding: KeyEncoding | None = None

    def relocation_budget_s(self) -> float:
        wait = self.relocation_max_wait or self.lock_timeout
        return wait.milliseconds() / 1000

    def effective_warn_ahead(self, interval: Interval) -> Duration:
        """warn_ahead, or the default that suits a daily cron with premake 3."""
        if self.warn_ahead is not None:
            return self.warn_ahead
        if interval.unit.elapsed:  # two periods: 2 hours for hourly partitions
            return Duration(microseconds=2 * int(interval.elapsed.total_seconds()) * 1_000_000)
        return Duration(days=2)


@dataclass(frozen=True, slots=True)
class Settings:
    dsn: str | None  # None: libpq defaults (PGHOST, PGSERVICE, ...)
    config_path: Path | None  # the file actually read
    defaults: TablePolicy  # for tables the config does not list (name None)
    tables: tuple[TablePolicy, ...]
    statement_timeout: Duration
    retry_for: Duration  # total time to keep retrying after a lock timeout
    max_new_partitions: int  # per table and run, unless forced
    move_batch_rows: int  # rows per batch when moving rows out of DEFAULT
    databases: tuple[Database, ...] = ()  # the [[database]] blocks (a fleet)

    def policy_for(
        self, schema: str, table: str, search_path_schemas: Sequence[str] = ("public",)
    ) -> TablePolicy:
        """The configured policy for schema.table, else the defaults.

        A "schema.table" entry matches exactly; a bare name matches a table of
        that name in any of search_path_schemas (pass only the schema the name
        resolves to when that is known). Names compare the way PostgreSQL
        reads them: unquoted parts folded to lower case.
        """
        bare: TablePolicy | None = None
        for policy in self.tables:
            if policy.name is None:
                continue
            want_schema, want_table = parse_table_name(policy.name)
            if want_table != table:
                continue
            if want_schema == schema:
                return policy
            if want_schema is None and bare is None and schema in search_path_schemas:
                bare = policy
        return bare if bare is not None else self.defaults


@dataclass(frozen=True, slots=True)
class Database:
    """One [[database]] block: where it is, and its settings, every layer merged."""

    name: str
    dsn: str | None  # exactly one of dsn and service
    service: str | None
    tables: tuple[str, ...]  # its TABLE arguments when none are given; () for the default
    line: int | None  # of its [[database]] header, for messages
    settings: Settings  # [defaults] < this block < [[table]] < environment < flags


@dataclass(frozen=True, slots=True)
class Overrides:
    """Values from command-line flags; None means the flag was not given."""

    dsn: str | None = None
    config: Path | None = None
    lock_timeout: str | None = None
    timezone: str | None = None
    premake: int | None = None
    # create --interval. Applied to every policy: the CLI passes it only for
    # the table named on the command line.
    interval: str | None = None
    relocation: str | None = None  # --relocation: every table's choice
