"""The records configuration produces besides each table's policy (which is
the core's, pgpart.core.policy): the run's settings, the fleet's databases,
and the command-line overrides that feed them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pgpart.core.durations import Duration
from pgpart.core.identifiers import parse_table_name
from pgpart.core.policy import TablePolicy
from pgpart.core.record import record


@record
class Settings:
    dsn: str | None  # None: libpq defaults (PGHOST, PGSERVICE, ...)
    config_path: Path | None  # the file actually read
    defaults: TablePolicy  # for tables the config does not list (name None)
    tables: tuple[TablePolicy, ...]
    databases: tuple[Database, ...] = ()  # the [[database]] blocks (a fleet)

    # The limits of each run: set in [defaults] (or a [[database]] block) only,
    # so every table's policy holds the same values as the defaults.

    @property
    def statement_timeout(self) -> Duration:
        return self.defaults.statement_timeout

    @property
    def retry_for(self) -> Duration:
        """Total time to keep retrying after a lock timeout."""
        return self.defaults.retry_for

    @property
    def max_new_partitions(self) -> int:
        return self.defaults.max_new_partitions

    @property
    def move_batch_rows(self) -> int:
        return self.defaults.move_batch_rows

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


@record
class Database:
    """One [[database]] block: where it is, and its settings, every layer merged."""

    name: str
    dsn: str | None  # exactly one of dsn and service
    service: str | None
    tables: tuple[str, ...]  # its TABLE arguments when none are given; () for the default
    line: int | None  # of its [[database]] header, for messages
    settings: Settings  # [defaults] < this block < [[table]] < environment < flags


@record
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
