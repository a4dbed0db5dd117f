"""The create step (a settle, pgpart.core.relocation): a new partition made
as a faithful sibling (LIKE the parent + what the newest sibling has,
pgpart.db.ddl.sibling) and attached, the DEFAULT's rows of its range
relocated into it; the pieces of it that a drain (pgpart.db.ddl.relocate) runs
apart; and the catalog queries that tell, after a failure, whether a
concurrent run made this very partition.

Lock rules: https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.plan import CreatePartition, StorageTemplate, TableRef
from pgpart.core.siblings import SiblingTemplate
from pgpart.db.ddl import sibling as sibling_ddl
from pgpart.db.ddl.literals import BOUND_RE, SQL_TYPES, bound, bound_text, ident, show
from pgpart.db.ddl.locking import prologue
from pgpart.db.ddl.settle import (
    legacy_rows,
    locks,
    move_settings,
    relocates,
    settle_locks,
    stash_rows,
    unstash_rows,
)
from pgpart.db.ddl.step import DdlOptions, Guard, Outcome, Step, Verdict


def columns_query(table: TableRef, version: int) -> sql.Composed:
    """The parent's columns a row copy must list: not dropped, not generated.

    Identity columns are included: their values are copied as they are."""
    generated = sql.SQL(" AND a.attgenerated = ''") if version >= 120000 else sql.SQL("")
    return sql.SQL(
        "SELECT a.attname::text FROM pg_catalog.pg_attribute a"
        " WHERE a.attrelid = {} AND a.attnum > 0 AND NOT a.attisdropped{}"
        " ORDER BY a.attnum"
    ).format(sql.Literal(table.oid), generated)


def create_step(a: CreatePartition, o: DdlOptions, columns: Sequence[str] | None) -> Step:
    """The settle: one transaction that creates and attaches the partition
    and, on a table with a DEFAULT partition, relocates the DEFAULT's rows
    of its range into it (pgpart.core.relocation)."""
    t = a.table
    new_name = display_name(a.partition_schema, a.partition)
    default = ident(*a.default_at) if a.default_partition else None
    move = relocates(a)
    if move and columns is None:
        raise ValueError("moving rows out of the default partition needs the column list")
    # No guard up front: the happy path is one round trip. If the name is
    # taken (CREATE fails, 42P07) or the range overlaps (ATTACH fails, 42P17),
    # the transaction rolls back and the executor asks conflict_checks(a)
    # whether a concurrent run already made this very partition (a skip).
    stmts = [*prologue(t, o), *move_settings(a, move)]
    stmts.extend(locks(a, default))
    guards: list[Guard] = []
    counted: list[int] = []
    if move and default is not None and columns is not None:
        guards.append(Guard(len(stmts), _COLUMN_OUTCOMES))
        stmts.append(_columns_guard(t, columns, o.version))
        counted.append(len(stmts))
        stmts.append(stash_rows(a, default, columns))
    stmts.extend(new_table(a, o, before_attach=False))
    if move and columns is not None:
        stmts.extend(legacy_rows(a, columns))
    stmts.extend(attach_needs(a))
    stmts.append(attach(a))
    if move and columns is not None:
        stmts.append(unstash_rows(a, columns))
    stmts.extend(finish_table(a))
    what = "create + relocate DEFAULT rows" if move else "create"
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"{what} {new_name} [{show(a.lower)}, {show(a.upper)}) of {t.qualified}",
        guards=tuple(guards),
        locks=tuple(settle_locks(a)),
        counted=tuple(counted),
    )


def new_table(a: CreatePartition, o: DdlOptions, *, before_attach: bool) -> list[sql.Composed]:
    """The new partition as a standalone table; ``before_attach``: with
    what ATTACH needs (else ``attach_needs`` adds it later)."""
    t = a.table
    parent = ident(t.schema, t.name)
    new = ident(a.partition_schema, a.partition)
    sibling = a.template
    names = dict(a.copy_names)
    stmts = [_create_table(parent, new, a.storage, sibling, o.version)]
    stmts.extend(sibling_ddl.children(sibling, a.partition_schema, new, names))
    stmts.extend(sibling_ddl.before_move(sibling, new, t.owner, t.acl, t.facts))
    if before_attach:
        stmts.extend(attach_needs(a))
    return stmts


def attach_needs(a: CreatePartition) -> list[sql.Composed]:
    """What ATTACH requires or adopts: the NOT VALID copies of the parent's
    constraints, the replica identity's constraint or index."""
    new = ident(a.partition_schema, a.partition)
    names = dict(a.copy_names)
    return sibling_ddl.after_move(a.template, a.partition_schema, new, names, part="attach")


def attach(a: CreatePartition) -> sql.Composed:
    t = a.table
    return sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
        ident(t.schema, t.name),
        ident(a.partition_schema, a.partition),
        bound_text(a.lower, t.key_kind),
        bound_text(a.upper, t.key_kind),
    )


def finish_table(a: CreatePartition) -> list[sql.Composed]:
    """After the rows are in: the sibling's own constraints, indexes (built
    once), triggers (which never see the relocated rows), row security,
    replica identity; then publications."""
    new = ident(a.partition_schema, a.partition)
    sibling = a.template
    names = dict(a.copy_names)
    stmts = sibling_ddl.after_move(sibling, a.partition_schema, new, names, part="rest")
    if sibling is None:
        identity = _REPLICA_IDENTITY.get(a.storage.replica_identity)
        if identity is not None:
            stmts.append(sql.SQL("ALTER TABLE {} REPLICA IDENTITY {}").format(new, identity))
    stmts.extend(sibling_ddl.after_attach(sibling, new, a.table.owner))
    return stmts


def _create_table(
    parent: sql.Composable,
    new: sql.Composable,
    storage: StorageTemplate,
    sibling: SiblingTemplate | None,
    version: int,
    *,
    indexes: bool = False,
) -> sql.Composed:
    # LIKE + ATTACH instead of CREATE TABLE .. PARTITION OF, which takes ACCESS
    # EXCLUSIVE on the parent. What LIKE copies:
    #   DEFAULTS, GENERATED      direct inserts into the partition behave as via the parent
    #   CONSTRAINTS              ATTACH requires the parent's CHECK constraints
    #   STORAGE, COMPRESSION     per-column TOAST strategy and compression method
    #   STATISTICS, COMMENTS     extended statistics and comments, harmless and useful
    # and what it must not:
    #   IDENTITY  the partition would get a sequence of its own; rows routed
    #             through the parent take the parent's identity values anyway
    #   INDEXES   ATTACH attaches or builds the parent's partitioned indexes,
    #             after any rows were moved (one bulk build, not row by row)
    # What the parent does not hold (UNLOGGED, storage parameters, tablespace,
    # sub-partitioning) comes from the newest sibling: pgpart.db.sibling_ddl.
    # https://www.postgresql.org/docs/current/sql-createtable.html
    likes = [
        sql.SQL("INCLUDING DEFAULTS"),
        sql.SQL("INCLUDING CONSTRAINTS"),
        sql.SQL("INCLUDING STORAGE"),
        sql.SQL("INCLUDING COMMENTS"),
        sql.SQL("INCLUDING STATISTICS"),
    ]
    if version >= 120000:
        likes.append(sql.SQL("INCLUDING GENERATED"))
    if version >= 140000:
        likes.append(sql.SQL("INCLUDING COMPRESSION"))
    if indexes:
        # A drain: rows arrive while the table is standalone; ATTACH then
        # adopts these copies of the parent's indexes instead of building them.
        likes.append(sql.SQL("INCLUDING INDEXES"))
    including = sql.SQL(" ").join(likes)
    if sibling is not None:
        persistence, tail = sibling_ddl.table_suffix(sibling)
        return (
            sql.SQL("CREATE {}TABLE {} (LIKE {} {})").format(persistence, new, parent, including)
            + tail
        )
    stmt = sql.SQL("CREATE TABLE {} (LIKE {} {})").format(new, parent, including)
    if storage.reloptions:
        stmt += sql.SQL(" WITH ({})").format(
            sql.SQL(", ").join(reloption_sql(r) for r in storage.reloptions)
        )
    if storage.tablespace:
        stmt += sql.SQL(" TABLESPACE {}").format(sql.Identifier(storage.tablespace))
    return stmt


reloption_sql = sibling_ddl.reloption


_REPLICA_IDENTITY = {"f": sql.SQL("FULL"), "n": sql.SQL("NOTHING")}


_CREATE_OUTCOMES = (
    Outcome("covered", Verdict.SKIP, "already covered by partition {detail}"),
    Outcome("name_taken", Verdict.FAIL, "a relation named {detail} already exists"),
)
_COLUMN_OUTCOMES = (
    Outcome("columns_changed", Verdict.FAIL, "the columns of {detail} changed: run again"),
)


def conflict_checks(a: CreatePartition) -> tuple[tuple[sql.Composed, Guard], ...]:
    """What to ask after creating ``a`` failed on a name or an overlap:
    queries with the verdicts their row means, in order.

    The first looks only at the relation of the new name (the same cost at
    10 or 10,000 partitions): this very partition made meanwhile by a
    concurrent run is a skip; another relation of that name a failure. The
    second reads every partition's bound, on this error path only: a
    partition of exactly these bounds under another name is a skip too.
    """
    guard = Guard(0, _CREATE_OUTCOMES)
    return ((_name_check(a), guard), (_covering_query(a), guard))


# The bound of partition ``c`` split into m[1], m[2] (see BOUND_RE).
_BOUND_MATCH = sql.SQL(
    "pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, 0), {})"
).format(sql.Literal(BOUND_RE))


def _has_bounds_of(a: CreatePartition) -> sql.Composed:
    """SQL: whether the bound matched into ``m`` is exactly [a.lower, a.upper)."""
    lo, hi = _matched_bounds(a)
    kind = a.table.key_kind
    return sql.SQL("{lo} = {a_lo} AND {hi} = {a_hi}").format(
        lo=lo, hi=hi, a_lo=bound(a.lower, kind), a_hi=bound(a.upper, kind)
    )


def _matched_bounds(a: CreatePartition) -> tuple[sql.Composed, sql.Composed]:
    """The two ends of the bound matched into ``m``, as the key's type (NULL
    for MINVALUE/MAXVALUE). Compared end by end: a uuid has no range type."""
    typ, q = SQL_TYPES[a.table.key_kind], sql.Literal("'")
    return (
        sql.SQL("nullif(pg_catalog.btrim(m[1], {}), 'MINVALUE')::{}").format(q, typ),
        sql.SQL("nullif(pg_catalog.btrim(m[2], {}), 'MAXVALUE')::{}").format(q, typ),
    )


def _name_check(a: CreatePartition) -> sql.Composed:
    """No row, or one row (covered|name_taken, relation)."""
    t = a.table
    return sql.SQL(
        "SELECT CASE WHEN i.inhparent = {oid} AND {same}"
        " THEN 'covered' ELSE 'name_taken' END,"
        " c.relnamespace::regnamespace::text || '.' || quote_ident(c.relname)"
        " FROM pg_catalog.pg_class c"
        " LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid,"
        " {match} AS m"
        " WHERE c.oid = to_regclass({qualified})"
    ).format(
        oid=sql.Literal(t.oid),
        same=_has_bounds_of(a),
        match=_BOUND_MATCH,
        qualified=sql.Literal(ident(a.partition_schema, a.partition).as_string(None)),
    )


def _covering_query(a: CreatePartition) -> sql.Composed:
    """No row, or ('covered', the partition of ``a``'s parent whose bounds
    are exactly ``a``'s). Reads every partition's bound: O(n)."""
    return sql.SQL(
        "SELECT 'covered', part FROM ("
        "SELECT c.oid::regclass::text AS part, {match} AS m"
        " FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = {oid}) AS b"
        " WHERE m IS NOT NULL AND {same}"
    ).format(match=_BOUND_MATCH, oid=sql.Literal(a.table.oid), same=_has_bounds_of(a))


def overlap_query(a: CreatePartition) -> sql.Composed:
    """No row, or the name of a partition of ``a``'s parent whose range
    overlaps [a.lower, a.upper). Reads every partition's bound: O(n), only
    after ATTACH failed."""
    kind = a.table.key_kind
    lo, hi = _matched_bounds(a)
    return sql.SQL(
        "SELECT part FROM ("
        "SELECT c.oid::regclass::text AS part, {match} AS m"
        " FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = {oid}) AS b"
        " WHERE m IS NOT NULL AND coalesce({lo} < {a_hi}, true)"
        " AND coalesce({hi} > {a_lo}, true) LIMIT 1"
    ).format(
        match=_BOUND_MATCH,
        oid=sql.Literal(a.table.oid),
        lo=lo,
        hi=hi,
        a_lo=bound(a.lower, kind),
        a_hi=bound(a.upper, kind),
    )


def _columns_guard(t: TableRef, columns: Sequence[str], version: int) -> sql.Composed:
    # The column list was read before the transaction; once the parent is
    # locked (SHARE UPDATE EXCLUSIVE blocks ALTER TABLE .. ADD/DROP COLUMN) it
    # cannot change, so checking it here makes the copy complete.
    listed = sql.SQL("ARRAY[{}]::text[]").format(
        sql.SQL(", ").join(sql.Literal(c) for c in columns)
    )
    return sql.SQL(
        "SELECT 'columns_changed', {name} WHERE ARRAY({current}) IS DISTINCT FROM {listed}"
    ).format(name=sql.Literal(t.qualified), current=columns_query(t, version), listed=listed)
