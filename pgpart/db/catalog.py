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
ACCESS EXCLUSIVE; pgpart.db.sizes reads them beside the snapshot.)

The records are built from the rows by pgpart.db.snapshot_rows; TABLE
arguments are resolved to oids by pgpart.db.resolve.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.bounds import KeyKind
from pgpart.core.locked import Locked
from pgpart.core.restore_mark import CONSTRAINT as RESTORED_CONSTRAINT
from pgpart.core.retention_facts import RetentionFacts
from pgpart.core.siblings import ParentFacts, Templates
from pgpart.core.snapshot import (
    Login,
    Partition,
    PartitionedTable,
    Snapshot,
)
from pgpart.db.ddl.marks import read_marks
from pgpart.db.encoded_keys import EncodingLookup, configured_encoding
from pgpart.db.partman_config import read_partman_config
from pgpart.db.sizes import IDENTITY_SQL, Connector, SizeRead
from pgpart.db.snapshot_rows import build_tables

if TYPE_CHECKING:
    import psycopg

    from pgpart.db.search_path import SearchPath


# Discovery lists top-level partitioned tables only: a partition that is itself
# partitioned (by range on the same key, or by hash or list) belongs to its
# parent's line, as one of its partitions; named by oid, any relation is read.
_TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner), c.relkind::text,
       CASE pt.partstrat WHEN 'r' THEN 'range' WHEN 'l' THEN 'list' WHEN 'h' THEN 'hash' END,
       CASE WHEN pt.partnatts = 1 THEN a.attname END,
       CASE WHEN pt.partnatts = 1 THEN pg_catalog.format_type(a.atttypid, a.atttypmod) END,
       CASE WHEN pt.partnatts = 1 THEN (
         -- a domain (over a domain ...) over a time type is read as its base type
         WITH RECURSIVE d(typ, base) AS (
           SELECT t.oid, t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid
           UNION ALL
           SELECT t.oid, t.typbasetype FROM pg_catalog.pg_type t JOIN d ON t.oid = d.base)
         SELECT typ::regtype::text FROM d WHERE base = 0) END,
       coalesce(c.relacl::text[], '{}'::text[])
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = c.oid
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
 WHERE (c.relkind = 'p' AND %(discover)s AND NOT c.relispartition)
    OR c.oid = ANY(%(oids)s)
 ORDER BY n.nspname, c.relname
"""

# pg_inherits.inhdetachpending exists from PostgreSQL 14.
#
# Bounds arrive typed. A bound of one quoted value on each side with a
# four-digit year, as pg_get_expr prints a date or time constant (TimeZone
# and DateStyle are pinned: session_settings), is cast by the server: as
# timestamptz for the parents of kind 1 in %(kinds)s, as timestamp (date
# keys too) for those of kind 2. Anything else (DEFAULT, MINVALUE/MAXVALUE,
# infinity, BC or five-digit years, a key pgpart does not handle: kind 0) is
# NULL there and is read from its text (pgpart.core.bounds), which says what
# it cannot interpret. Each level is computed once per row (OFFSET 0 keeps
# PostgreSQL from folding it into the next, which would deparse every bound
# again). The parents' kinds are joined, not looked up in arrays per row.
# The restore mark (a comment on a constraint of that name: a table's
# constraint names are unique) is joined, found once by its name's index,
# rather than looked up per partition (10,000 lookups: 45 ms of 185 here).
_PARTITIONS_SQL = sql.SQL("""
SELECT b.inhparent, b.nspname, b.relname, b.expr,
       CASE WHEN b.typed = 1 THEN b.lo::timestamptz END,
       CASE WHEN b.typed = 1 THEN b.hi::timestamptz END,
       CASE WHEN b.typed = 2 THEN b.lo::timestamp END,
       CASE WHEN b.typed = 2 THEN b.hi::timestamp END,
       b.reltuples, b.pending, b.relopts, b.spcname, b.replident, b.size, b.owner, b.oid,
       b.restored
  FROM (SELECT s.*, CASE WHEN s.expr LIKE 'FOR VALUES FROM (''____-%%'') TO (''____-%%'')'
                          AND s.expr NOT LIKE '%% BC''%%'
                     THEN s.kind END AS typed,
               pg_catalog.split_part(s.expr, '''', 2) AS lo,
               pg_catalog.split_part(s.expr, '''', 4) AS hi
          FROM (SELECT k.parent AS inhparent, k.kind, n.nspname, c.relname,
                       pg_catalog.pg_get_expr(c.relpartbound, 0) AS expr,
                       c.reltuples::float8 AS reltuples, {pending} AS pending,
                       coalesce(c.reloptions, '{{}}'::text[]) AS relopts, t.spcname,
                       c.relreplident::text AS replident, {size} AS size,
                       pg_catalog.pg_get_userbyid(c.relowner) AS owner, c.oid,
                       r.description AS restored
                  FROM ROWS FROM (pg_catalog.unnest(%(parents)s::oid[]),
                                  pg_catalog.unnest(%(kinds)s::int[])) AS k(parent, kind)
                  JOIN pg_catalog.pg_inherits i ON i.inhparent = k.parent
                  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  LEFT JOIN pg_catalog.pg_tablespace t ON t.oid = c.reltablespace
                  LEFT JOIN (SELECT m.conrelid, d.description
                               FROM pg_catalog.pg_constraint m
                               JOIN pg_catalog.pg_description d ON d.objoid = m.oid
                                AND d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
                                AND d.objsubid = 0
                              WHERE m.conname = %(restored)s AND m.contype = 'c') r
                    ON r.conrelid = c.oid
                OFFSET 0) s
        OFFSET 0) b
""")

# How _PARTITIONS_SQL casts a parent's bounds: 1 as timestamptz, 2 as timestamp.
_TYPED: dict[KeyKind | None, int] = {KeyKind.TIMESTAMPTZ: 1, KeyKind.TIMESTAMP: 2, KeyKind.DATE: 2}

_TAKEN_SQL = """
SELECT n.nspname, pg_catalog.array_agg(c.relname::text)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY(%(schemas)s)
 GROUP BY n.nspname
"""

# How many of the newest partitions are read as templates: the newest is
# copied, the ones before it tell whether it is typical (sibling_drift).
TEMPLATE_SIBLINGS = 3


def session_settings(conn: psycopg.Connection[Any], lock_timeout: str | None = None) -> None:
    """Pin the settings bounds are printed with, for this transaction only
    (and its ``lock_timeout``, when given: one round trip for both).

    JIT off: catalog queries over thousands of partitions look expensive to
    the planner, which then spends 100+ ms compiling what runs in a few."""
    conn.execute(
        "SELECT pg_catalog.set_config('TimeZone', 'UTC', true),"
        " pg_catalog.set_config('DateStyle', 'ISO, YMD', true),"
        " pg_catalog.set_config('jit', 'off', true)"
        + (", pg_catalog.set_config('lock_timeout', %s, true)" if lock_timeout is not None else ""),
        (lock_timeout,) if lock_timeout is not None else None,
    )


def read_snapshot(
    conn: psycopg.Connection[Any],
    *,
    oids: Iterable[int] = (),
    discover: bool = True,
    with_sizes: bool = False,
    with_taken_names: bool = True,
    with_templates: bool = True,
    path: SearchPath | None = None,
    key_encodings: EncodingLookup | None = None,
    now: datetime | None = None,
    removable: Callable[[str, str, Sequence[str]], bool] | None = None,
    sizes_from: Connector | None = None,
) -> Snapshot:
    """Read partitioned tables (all of them when ``discover``) plus ``oids``;
    ``with_templates``: also what new partitions copy (pgpart.db.templates);
    ``path``: the search path bare names resolve through (else worked out);
    ``key_encodings``: the configured encoding of an integer or uuid key
    (schema, table, search path), else inferred from its bounds; ``now``:
    also ask, for keys pgpart cannot read as time, whether a partition takes
    the rows of that moment (pgpart.db.opaque_keys); ``removable`` (schema,
    table, search path): whether this run's retention may remove partitions
    of that table, the only ones whose removal blockers are read (else every
    table's); ``sizes_from``: connections to read the sizes on, beside this
    one (pgpart.db.sizes; else they are read in the partitions query)."""
    from pgpart.db.search_path import search_path

    with _no_gc_passes(), conn.transaction():
        # One snapshot for every query below: under READ COMMITTED a partition
        # committed by a concurrent run between two of them would be seen by
        # one (its name taken) and not the other (its range uncovered).
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        session_settings(conn)
        row = conn.execute(
            "SELECT pg_catalog.current_setting('server_version_num')::int,"
            " pg_catalog.pg_is_in_recovery(),"
            " (SELECT extnamespace::regnamespace::text FROM pg_catalog.pg_extension"
            "   WHERE extname = 'pg_partman'),"
            " (SELECT reset_val FROM pg_catalog.pg_settings WHERE name = 'TimeZone'),"
            f" pg_catalog.now(), {IDENTITY_SQL}"
        ).fetchone()
        assert row is not None
        version, in_recovery, partman_schema, session_zone, server_now, *identity = row
        listed = (path or search_path(conn)).listed
        oid_list = sorted(set(oids))
        table_rows = conn.execute(_TABLES_SQL, {"discover": discover, "oids": oid_list}).fetchall()
        parents = [r[0] for r in table_rows if r[4] == "p"]
        kinds = {r[0]: KeyKind.from_regtype(r[8]) if r[8] else None for r in table_rows}
        beside = (
            SizeRead(sizes_from, parents, (str(identity[0]), str(identity[1])))
            if with_sizes and sizes_from is not None and parents
            else None
        )
        in_query = with_sizes and beside is None
        query = _PARTITIONS_SQL.format(
            pending=sql.SQL("i.inhdetachpending" if version >= 140000 else "false"),
            size=sql.SQL(
                "pg_catalog.pg_total_relation_size(c.oid)" if in_query else "NULL::bigint"
            ),
        )
        # Binary results: the typed bounds come as the server's integers, not
        # printed by it to be parsed again here.
        params = {
            "parents": parents,
            "kinds": [_TYPED.get(kinds[oid], 0) for oid in parents],
            "restored": RESTORED_CONSTRAINT,
        }
        part_rows = conn.cursor(binary=True).execute(query, params).fetchall() if parents else []
        partman, partman_error = (
            read_partman_config(conn, partman_schema) if partman_schema else ((), None)
        )
        managed = {p.parent_table for p in partman}
        owners = {r[3] for r in table_rows} | {r[-3] for r in part_rows}  # parents, partitions
        login = _login(conn, version, owners)
        # New partitions go where their newest sibling is: names taken there too.
        schemas = sorted({r[1] for r in table_rows} | {r[1] for r in part_rows})
        taken = (
            {
                s: frozenset(names)
                for s, names in conn.execute(_TAKEN_SQL, {"schemas": schemas}).fetchall()
            }
            if with_taken_names
            else {}
        )

        configured = {
            r[0]: configured_encoding(r[1], r[2], listed, key_encodings, partman)
            for r in table_rows
            if (k := kinds[r[0]]) is not None and k.encoded
        }
        sizes = beside.result(conn) if beside is not None else None
        tables = build_tables(table_rows, part_rows, kinds, managed, configured, sizes)
        if now is not None:
            from pgpart.db.opaque_keys import read_opaque_current

            currents = read_opaque_current(conn, tables, now, session_zone)
            tables = [replace(t, current=currents.get(t.oid)) for t in tables]
        if with_templates:
            blocked = None
            if removable is not None:
                blocked = {t.oid for t in tables if removable(t.schema, t.name, listed)}
            tables = _with_templates(conn, tables, version, blocked)
        marks = read_marks(conn) if with_templates else ()
        from pgpart.db.replication import read_replication

        replication = read_replication(conn, version)
    return Snapshot(
        server_version=version,
        in_recovery=in_recovery,
        search_path=listed,
        tables=tuple(tables),
        taken_names=taken,
        login=login,
        timezone=session_zone,
        partman_error=partman_error,
        partman=partman,
        marks=marks,
        server_now=server_now,
        replication=replication,
    )


@contextmanager
def _no_gc_passes() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the snapshot is built.

    Reading 10,000 partitions makes some 100,000 objects that all outlive the
    read (rows, bounds, datetimes, records): each collection pass the
    allocations trigger walks that growing heap again and finds nothing, and
    at 10,000 partitions those passes were about half of the read's Python
    time. Nothing here makes reference cycles; the collector resumes after."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _with_templates(
    conn: psycopg.Connection[Any],
    tables: list[PartitionedTable],
    version: int,
    blocked: set[int] | None = None,
) -> list[PartitionedTable]:
    """``tables`` with their newest siblings' templates, the parents' facts,
    and what retention needs (pgpart.db.retention_read: the leftovers of
    interrupted retention, what keeps a partition from going: read for the
    tables in ``blocked`` only, when it is given)."""
    from pgpart.db.parent_facts import read_parent_facts
    from pgpart.db.retention_read import read_retention
    from pgpart.db.row_code import read_row_code
    from pgpart.db.templates import deparse_settings, read_templates

    usable = [t for t in tables if t.relkind == "p" and t.is_time_range]
    siblings = {t.oid: _newest_siblings(t) for t in usable}
    deparse_settings(conn)
    templates, held = read_templates(conn, [p.oid for ps in siblings.values() for p in ps], version)
    facts = read_parent_facts(conn, [(t.oid, d.oid if (d := t.default) else None) for t in usable])
    row_code = read_row_code(
        conn,
        [(t.oid, s[0].oid if (s := siblings[t.oid]) else None) for t in usable if t.default],
    )
    retention = read_retention(
        conn, usable, None if blocked is None else [t for t in usable if t.oid in blocked]
    )
    out = []
    for t in tables:
        mine = siblings.get(t.oid, [])
        locked = next(
            (
                Locked(p.qualified, held[p.oid], newest=i == 0, oid=p.oid)
                for i, p in enumerate(mine)
                if p.oid in held
            ),
            None,
        )
        chosen = [templates[p.oid] for p in mine if p.oid in templates]
        if locked is not None and locked.newest:
            chosen = []  # the newest is the template: an older one will not do
        kept = Templates(chosen[0], tuple(chosen[1:])) if chosen else Templates()
        out.append(
            replace(
                t,
                templates=replace(kept, locked=locked),
                facts=facts.get(t.oid, ParentFacts()),
                leftovers=retention[t.oid][0] if t.oid in retention else (),
                retention=retention[t.oid][1] if t.oid in retention else RetentionFacts(),
                row_code=row_code.get(t.oid, ()),
            )
        )
    return out


def _newest_siblings(table: PartitionedTable) -> list[Partition]:
    """The newest partitions bounded on both sides, newest first.

    ``table.partitions`` is in bound order (pgpart.db.snapshot_rows.partition_order), so this walks
    back from the end and stops at the third: a table with 10,000 partitions
    costs what one with three does."""
    newest: list[Partition] = []
    for p in reversed(table.partitions):
        b = p.bound
        if b is None or p.pending_detach or b.lower is None or b.upper is None:
            continue
        newest.append(p)
        if len(newest) == TEMPLATE_SIBLINGS:
            break
    return newest


def _login(conn: psycopg.Connection[Any], version: int, owners: set[str]) -> Login:
    from pgpart.db.templates import can_act_as

    srr = (
        "pg_catalog.has_parameter_privilege('session_replication_role', 'SET')"
        if version >= 150000
        else "false"
    )
    query = sql.SQL(
        "SELECT current_user::text, r.rolsuper, r.rolsuper OR {srr},"
        " ARRAY(SELECT o.rolname::text FROM pg_catalog.pg_roles o"
        "  WHERE o.rolname = ANY(%(owners)s) AND {acts})"
        " FROM pg_catalog.pg_roles r WHERE r.rolname = current_user"
    ).format(srr=sql.SQL(srr), acts=sql.SQL(can_act_as("o.oid", version)))
    row = conn.execute(query, {"owners": sorted(o for o in owners if o)}).fetchone()
    if row is None:
        return Login()
    name, superuser, srr_ok, acts = row
    return Login(name, bool(superuser), bool(srr_ok), frozenset(acts))
