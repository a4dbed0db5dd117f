"""What pgpart is to do with one table: its policy, every layer of
configuration merged. Pure records: pgpart.config parses pgpart.toml, the
environment and the flags into them; the planner plans with them and puts
what the executor needs (lock_timeout, retry_for, ...) in each TablePlan.

The field defaults are the built-in defaults, those of a run without any
configuration."""

from __future__ import annotations

from enum import Enum
from zoneinfo import ZoneInfo

from pgpart.core.durations import Duration
from pgpart.core.encoding import KeyEncoding
from pgpart.core.interval import Interval
from pgpart.core.record import record
from pgpart.core.relocation import Strategy

# How long archive_command may run: a hung upload must not hang cron forever.
ARCHIVE_TIMEOUT = Duration(microseconds=3_600_000_000)
_UTC = ZoneInfo("UTC")
_NONE = Duration()
_LOCK_TIMEOUT = Duration(microseconds=500_000)
_STATEMENT_TIMEOUT = Duration(microseconds=5 * 60 * 1_000_000)
_RETRY_FOR = Duration(microseconds=30 * 1_000_000)


class RetentionMode(str, Enum):
    DROP = "drop"
    DETACH = "detach"
    ARCHIVE = "archive"  # pg_dump, verify, archive_command, then drop (pgpart.db.archive)


@record
class Execution:
    """How the executor runs one table's actions, in its units: the table's
    policy as the planner resolved it, carried in the table's plan."""

    lock_timeout_ms: int = 500  # of each statement: the longest others queue behind it
    statement_timeout_ms: int = 300_000
    retry_for_s: float = 30.0  # an action's time for retrying lock waits
    move_batch_rows: int = 100_000  # rows per statement when moving rows out of DEFAULT


@record
class TablePolicy:
    """The effective policy for one table, every layer of configuration merged."""

    name: str | None = None  # as written in the config; None for the policy of unlisted tables
    interval: Interval | None = None  # None: infer from the existing bounds
    premake: int = 3
    retention: Duration | None = None  # None: keep every partition
    retention_mode: RetentionMode = RetentionMode.DROP
    timezone: ZoneInfo = _UTC
    naming: str | None = None  # None: continue the existing names
    warn_ahead: Duration | None = None  # None: by interval, see effective_warn_ahead
    critical_ahead: Duration = _NONE
    lock_timeout: Duration = _LOCK_TIMEOUT
    # Keys whose value came from the file, the environment or a flag rather
    # than from the built-in defaults ("configured interval" vs "inferred").
    configured_keys: frozenset[str] = frozenset()
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
    # The limits of each run ([defaults] and [[database]] only: the same for
    # every table of a database).
    statement_timeout: Duration = _STATEMENT_TIMEOUT
    retry_for: Duration = _RETRY_FOR  # retrying lock timeouts
    max_new_partitions: int = 500  # per table and run, unless forced
    move_batch_rows: int = 100_000  # rows per batch when moving rows out of DEFAULT

    def execution(self) -> Execution:
        return Execution(
            lock_timeout_ms=self.lock_timeout.milliseconds(),
            statement_timeout_ms=self.statement_timeout.milliseconds(),
            retry_for_s=self.retry_for.milliseconds() / 1000,
            move_batch_rows=self.move_batch_rows,
        )

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
