"""One read-only snapshot of the database's partitioned tables.

Every range-partitioned table and every partition with its real bounds are
read in two queries, whatever their number: cost must not grow with a round
trip per table. Nothing here locks a partition: pg_class and pg_inherits
are read directly, and bounds are deparsed with pg_get_expr(relpartbound, 0):
given the partition's oid instead of 0, pg_get_expr opens the relation and
so waits behind anyone holding ACCESS EXCLUSIVE on it (a migration, VACUUM
FULL); a bound holds only constants, so no relation is needed to print it.
(`stats` sizes are the exception: pg_total_relation_size() opens each
relation with AccessShareLock, the weakest lock, which conflicts only with
ACCESS EXCLUSIVE.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pgpart.bounds import BoundError, KeyKind, RangeBound, parse_range_bound
from pgpart.names import QualifiedName, display_name

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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

    @property
    def qualified(self) -> str:
        return display_name(self.schema, self.name)

    @property
    def is_time_range(self) -> bool:
        return self.strategy == "range" and self.key_kind is not None

    @property
    def default(self) -> Partition | None:
        return next((p for p in self.partitions if p.is_default), None)

    @property
    def ranged(self) -> tuple[Partition, ...]:
        """Non-default partitions with readable bounds, ordered by lower bound."""
        return tuple(p for p in self.partitions if p.bound is not None)


@dataclass(frozen=True, slots=True)
class PartmanSettings:
    """One row of pg_partman's part_config, as text (what `init` carries over)."""

    parent_table: str
    partition_interval: str
    premake: int | None
    retention: str | None
    retention_keep_table: bool | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    server_version: int
    in_recovery: bool
    search_path: tuple[str, ...]
    tables: tuple[PartitionedTable, ...]
    # Relation names already used per schema, so new partition names never collide.
    taken_names: dict[str, frozenset[str]] = field(default_factory=dict)
    timezone: str | None = None  # the TimeZone a session starts with (database/role/server)
    partman_error: str | None = None  # pg_partman is installed but its part_config unreadable
    partman: tuple[PartmanSettings, ...] = ()  # part_config's rows

    def find(self, oid: int) -> PartitionedTable | None:
        return next((t for t in self.tables if t.oid == oid), None)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A TABLE argument and what it names: an oid, or None when unknown."""

    argument: str
    oid: int | None


_TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, pg_get_userbyid(c.relowner), c.relkind::text,
       CASE pt.partstrat WHEN 'r' THEN 'range' WHEN 'l' THEN 'list' WHEN 'h' THEN 'hash' END,
       CASE WHEN pt.partnatts = 1 THEN a.attname END,
       CASE WHEN pt.partnatts = 1 THEN format_type(a.atttypid, a.atttypmod) END,
       CASE WHEN pt.partnatts = 1 THEN (
         -- a domain (over a domain ...) over a time type is read as its base type
         WITH RECURSIVE d(typ, base) AS (
           SELECT t.oid, t.typbasetype FROM pg_type t WHERE t.oid = a.atttypid
           UNION ALL
           SELECT t.oid, t.typbasetype FROM pg_type t JOIN d ON t.oid = d.base)
         SELECT typ::regtype::text FROM d WHERE base = 0) END,
       coalesce(c.relacl::text[], '{}'::text[])
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
 WHERE (c.relkind = 'p' AND (%(discover)s OR c.oid = ANY(%(oids)s)))
    OR c.oid = ANY(%(oids)s)
 ORDER BY n.nspname, c.relname
"""

# pg_inherits.inhdetachpending exists from PostgreSQL 14.
_PARTITIONS_SQL = """
SELECT i.inhparent, n.nspname, c.relname, pg_get_expr(c.relpartbound, 0),
       c.reltuples::float8, {pending}, coalesce(c.reloptions, '{{}}'::text[]),
       t.spcname, c.relreplident::text, {size}
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
 WHERE i.inhparent = ANY(%(parents)s)
"""

_TAKEN_SQL = """
SELECT n.nspname, array_agg(c.relname::text)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY(%(schemas)s)
 GROUP BY n.nspname
"""


def session_settings(conn: psycopg.Connection[Any]) -> None:
    """Pin the settings bounds are printed with, for this transaction only."""
    conn.execute(
        "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true)"
    )


def resolve_tables(conn: psycopg.Connection[Any], names: Sequence[str]) -> list[Resolved]:
    """Resolve TABLE arguments as PostgreSQL would (quoting rules; a bare name
    through the effective search_path), from the catalog rather than through
    regclass: to_regclass raises "permission denied for schema" for a schema
    the role may not use, which would abort the whole run instead of that
    one table. (Such a table then reads as unknown.)"""
    from pgpart.names import parse_qualified_name

    parsed: list[QualifiedName | None] = []
    for text in names:
        try:
            parsed.append(parse_qualified_name(text))
        except ValueError:
            parsed.append(None)
    rows = conn.execute(
        "SELECT (SELECT c.oid FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE c.relname = u.rel AND CASE WHEN u.sch IS NULL"
        "   THEN n.nspname = ANY(current_schemas(true)) ELSE n.nspname = u.sch END"
        "  ORDER BY array_position(current_schemas(true), n.nspname::text) LIMIT 1)"
        " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS u(sch, rel, i) ORDER BY i",
        ([q.schema if q else None for q in parsed], [q.name if q else None for q in parsed]),
    ).fetchall()
    return [Resolved(arg, row[0]) for arg, row in zip(names, rows, strict=True)]


def read_snapshot(
    conn: psycopg.Connection[Any],
    *,
    oids: Iterable[int] = (),
    discover: bool = True,
    with_sizes: bool = False,
    with_taken_names: bool = True,
) -> Snapshot:
    """Read partitioned tables (all of them when ``discover``) plus ``oids``."""
    with conn.transaction():
        # One snapshot for every query below: under READ COMMITTED a partition
        # committed by a concurrent run between two of them would be seen by
        # one (its name taken) and not the other (its range uncovered).
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        session_settings(conn)
        row = conn.execute(
            "SELECT current_setting('server_version_num')::int, pg_is_in_recovery(),"
            " current_schemas(false)::text[],"
            " (SELECT extnamespace::regnamespace::text FROM pg_extension"
            "   WHERE extname = 'pg_partman'),"
            " (SELECT reset_val FROM pg_settings WHERE name = 'TimeZone')"
        ).fetchone()
        assert row is not None
        version, in_recovery, search_path, partman_schema, session_zone = row
        oid_list = sorted(set(oids))
        table_rows = conn.execute(_TABLES_SQL, {"discover": discover, "oids": oid_list}).fetchall()
        parents = [r[0] for r in table_rows if r[4] == "p"]
        sql = _PARTITIONS_SQL.format(
            pending="i.inhdetachpending" if version >= 140000 else "false",
            size="pg_total_relation_size(c.oid)" if with_sizes else "NULL::bigint",
        )
        part_rows = conn.execute(sql, {"parents": parents}).fetchall() if parents else []
        partman, partman_error = (
            _partman_config(conn, partman_schema) if partman_schema else ((), None)
        )
        managed = {p.parent_table for p in partman}
        schemas = sorted({r[1] for r in table_rows})
        taken = (
            {
                s: frozenset(names)
                for s, names in conn.execute(_TAKEN_SQL, {"schemas": schemas}).fetchall()
            }
            if with_taken_names
            else {}
        )

    kinds = {r[0]: KeyKind.from_regtype(r[8]) if r[8] else None for r in table_rows}
    by_parent: dict[int, list[Partition]] = {}
    for parent, schema, name, expr, reltuples, pending, relopts, spc, replident, size in part_rows:
        kind = kinds.get(parent)
        bound: RangeBound | None = None
        error: str | None = None
        if kind is not None:
            try:
                bound = parse_range_bound(expr, kind)
            except BoundError as exc:
                error = str(exc)
        elif expr != "DEFAULT":
            error = f"bound not on a time key: {expr}"
        by_parent.setdefault(parent, []).append(
            Partition(
                schema=schema,
                name=name,
                bound=bound,
                rows_estimate=None if reltuples < 0 else int(reltuples),
                bytes=size,
                pending_detach=bool(pending),
                reloptions=tuple(relopts),
                tablespace=spc,
                replica_identity=replident,
                bound_error=error,
            )
        )

    tables = []
    for oid, schema, name, owner, relkind, strategy, keycol, keytype, _regtype, acl in table_rows:
        parts = sorted(by_parent.get(oid, []), key=_partition_order)
        tables.append(
            PartitionedTable(
                oid=oid,
                schema=schema,
                name=name,
                owner=owner,
                relkind=relkind,
                strategy=strategy,
                key_column=keycol,
                key_type=keytype,
                key_kind=kinds[oid],
                partitions=tuple(parts),
                managed_by_partman=display_name(schema, name) in managed
                or f"{schema}.{name}" in managed,
                acl=tuple(acl),
            )
        )
    return Snapshot(
        server_version=version,
        in_recovery=in_recovery,
        search_path=tuple(search_path),
        tables=tuple(tables),
        taken_names=taken,
        timezone=session_zone,
        partman_error=partman_error,
        partman=partman,
    )


def _partition_order(p: Partition) -> tuple[int, datetime | str]:
    if p.bound is None:
        return (2, p.name)  # default and unreadable ones last
    if p.bound.lower is None:
        return (0, p.name)
    return (1, p.bound.lower.replace(tzinfo=None))


def _partman_config(
    conn: psycopg.Connection[Any], schema: str
) -> tuple[tuple[PartmanSettings, ...], str | None]:
    """pg_partman's part_config (columns common to pg_partman 4 and 5); or why
    it could not be read (then any table may be managed: the planner fails
    closed)."""
    import psycopg
    from psycopg import sql

    query = sql.SQL(
        "SELECT parent_table, partition_interval, premake, retention, retention_keep_table"
        " FROM {}.part_config"
    ).format(sql.Identifier(schema))
    try:
        with conn.transaction():
            rows = conn.execute(query).fetchall()
    except psycopg.Error as exc:  # e.g. no privilege on part_config
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return (), f"cannot read {schema}.part_config: {reason}"
    return tuple(PartmanSettings(str(r[0]), str(r[1]), r[2], r[3], r[4]) for r in rows), None
