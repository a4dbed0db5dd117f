"""The create step: a new partition made as a faithful sibling (LIKE the
parent + what the newest sibling has, pgpart.db.sibling_ddl), DEFAULT rows
relocated into it, then ATTACH; and the catalog queries that tell, after a
failure, whether a concurrent run made this very partition.

Lock rules: https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from pgpart.core.bounds import KeyKind
from pgpart.core.identifiers import display_name
from pgpart.core.plan import CreatePartition, StorageTemplate, TableRef
from pgpart.core.siblings import Relocation, SiblingTemplate
from pgpart.db import sibling_ddl
from pgpart.db.ddl import (
    BOUND_CONSTRAINT,
    BOUND_RE,
    SQL_TYPES,
    DdlOptions,
    Guard,
    LockTarget,
    Outcome,
    Step,
    Verdict,
    advisory_target,
    bound,
    bound_text,
    ident,
    neighbour_locks,
    prologue,
    show,
)


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
    t = a.table
    parent = ident(t.schema, t.name)
    new = ident(t.schema, a.partition)
    new_name = display_name(t.schema, a.partition)
    lo, hi = (bound(v, t.key_kind) for v in (a.lower, a.upper))
    default = (
        ident(a.default_schema or t.schema, a.default_partition) if a.default_partition else None
    )
    move = a.move_rows and default is not None
    if move and columns is None:
        raise ValueError("moving rows out of the default partition needs the column list")
    key = sql.Identifier(t.key_column)

    # No guard up front: the happy path is one round trip. If the name is
    # taken (CREATE fails, 42P07) or the range overlaps (ATTACH fails, 42P17),
    # the transaction rolls back and the executor asks conflict_checks(a)
    # whether a concurrent run already made this very partition (a skip).
    stmts = [*prologue(t, o)]
    repeats: list[int] = []
    guards: list[Guard] = []
    sibling = a.template
    names = dict(a.copy_names)
    if move and a.relocation is Relocation.REPLICA_ROLE:
        # Relocation, not deletion: with the replica role no foreign-key
        # action and no ordinary trigger fires for the moved rows. Set before
        # SET ROLE: only the login role (a superuser, or one granted SET on
        # the parameter) may set it; it ends with the transaction.
        # https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-SESSION-REPLICATION-ROLE
        stmts.append(sql.Composed([sql.SQL("SET LOCAL session_replication_role = replica")]))
    # Everything from here runs as the parent's owner: the partition is born
    # with the right owner (and so are the objects made with it: TOAST table,
    # extended statistics, the indexes ATTACH builds), and ATTACH's ownership
    # check on both tables holds even for a NOINHERIT member of the owner role.
    # https://www.postgresql.org/docs/current/sql-set-role.html
    stmts.append(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(t.owner)))
    # Parent first, then the default: the order ATTACH itself locks them in, so
    # pgpart never waits in the opposite order of another session. SHARE UPDATE
    # EXCLUSIVE is what ATTACH takes on the parent; it does not conflict with
    # reads or writes. ONLY: LOCK TABLE would otherwise lock every partition.
    # https://www.postgresql.org/docs/current/sql-lock.html
    stmts.append(sql.SQL("LOCK TABLE ONLY {} IN SHARE UPDATE EXCLUSIVE MODE").format(parent))
    if move and default is not None:
        # ATTACH takes ACCESS EXCLUSIVE on the default anyway (to scan it);
        # taking it now avoids upgrading a weaker lock later, and no row can
        # reach the default for this range between the move and the ATTACH.
        stmts.append(sql.SQL("LOCK TABLE ONLY {} IN ACCESS EXCLUSIVE MODE").format(default))
    stmts.append(_create_table(parent, new, a.storage, sibling, o.version))
    stmts.extend(sibling_ddl.children(sibling, t.schema, new, names))
    check = sql.SQL("{k} IS NOT NULL AND {k} >= {lo} AND {k} < {hi}").format(k=key, lo=lo, hi=hi)
    if move:
        # Added while the table is empty (instant), this CHECK is checked per
        # moved row and lets ATTACH skip its validation scan of the new table.
        # https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION
        stmts.append(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({})").format(
                new, sql.Identifier(BOUND_CONSTRAINT), check
            )
        )
    stmts.extend(sibling_ddl.before_move(sibling, new, t.owner, t.acl, t.facts))
    if sibling is None:
        identity = _REPLICA_IDENTITY.get(a.storage.replica_identity)
        if identity is not None:
            stmts.append(sql.SQL("ALTER TABLE {} REPLICA IDENTITY {}").format(new, identity))
    if move and default is not None and columns is not None:
        guards.append(Guard(len(stmts), _COLUMN_OUTCOMES))
        stmts.append(_columns_guard(t, columns, o.version))
        repeats.append(len(stmts))
        stmts.append(_move_rows(default, new, key, lo, hi, columns, o.move_batch_rows))
    stmts.extend(sibling_ddl.after_move(sibling, t.schema, new, names))
    stmts.append(
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
            parent, new, bound_text(a.lower, t.key_kind), bound_text(a.upper, t.key_kind)
        )
    )
    if move:
        stmts.append(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                new, sql.Identifier(BOUND_CONSTRAINT)
            )
        )
    stmts.extend(sibling_ddl.after_attach(sibling, new, t.owner))
    locks = [advisory_target(t), LockTarget(t.qualified, "SHARE UPDATE EXCLUSIVE")]
    if a.default_partition:
        name = display_name(a.default_schema or t.schema, a.default_partition)
        locks.append(LockTarget(name, "ACCESS EXCLUSIVE"))
    locks.extend(neighbour_locks(t))
    what = "create + move default rows" if move else "create"
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"{what} {new_name} [{show(a.lower)}, {show(a.upper)}) of {t.qualified}",
        guards=tuple(guards),
        locks=tuple(locks),
        repeats=tuple(repeats),
        repeat_rows=o.move_batch_rows,
    )


def _create_table(
    parent: sql.Composable,
    new: sql.Composable,
    storage: StorageTemplate,
    sibling: SiblingTemplate | None,
    version: int,
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


def _move_rows(
    default: sql.Composable,
    new: sql.Composable,
    key: sql.Composable,
    lo: sql.Composable,
    hi: sql.Composable,
    columns: Sequence[str],
    batch: int,
) -> sql.Composed:
    # One statement per batch: exactly the rows deleted are the rows inserted,
    # whatever row security or triggers do. The executor repeats it, in the
    # same transaction, until a batch comes up short: each statement stays
    # within statement_timeout and memory, and no row is ever visible in both
    # or neither place. Generated columns are left out (recomputed);
    # OVERRIDING SYSTEM VALUE keeps identity values should the target ever
    # have an identity column (it has none: LIKE omits INCLUDING IDENTITY).
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    return sql.SQL(
        "WITH moved AS (DELETE FROM {d} WHERE ctid = ANY(ARRAY("
        "SELECT ctid FROM {d} WHERE {k} >= {lo} AND {k} < {hi} LIMIT {n})) RETURNING {c})"
        " INSERT INTO {new} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM moved"
    ).format(d=default, k=key, lo=lo, hi=hi, n=sql.Literal(batch), c=cols, new=new)


_CREATE_OUTCOMES = (
    Outcome("covered", Verdict.SKIP, "already covered by partition {detail}"),
    Outcome("name_taken", Verdict.FAIL, "a relation named {detail} already exists"),
)
_COLUMN_OUTCOMES = (
    Outcome("columns_changed", Verdict.FAIL, "the columns of {detail} changed: run again"),
)

_RANGE_TYPES = {
    KeyKind.TIMESTAMPTZ: sql.SQL("tstzrange"),
    KeyKind.TIMESTAMP: sql.SQL("tsrange"),
    KeyKind.DATE: sql.SQL("daterange"),
}


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
_BOUND_MATCH = sql.SQL("regexp_match(pg_get_expr(c.relpartbound, 0), {})").format(
    sql.Literal(BOUND_RE)
)


def _has_bounds_of(a: CreatePartition) -> sql.Composed:
    """SQL: whether the bound matched into ``m`` is exactly [a.lower, a.upper)."""
    kind = a.table.key_kind
    rng, typ = _RANGE_TYPES[kind], SQL_TYPES[kind]
    return sql.SQL(
        "{rng}(nullif(btrim(m[1], {q}), 'MINVALUE')::{typ},"
        " nullif(btrim(m[2], {q}), 'MAXVALUE')::{typ}) = {rng}({lo}, {hi})"
    ).format(rng=rng, typ=typ, q=sql.Literal("'"), lo=bound(a.lower, kind), hi=bound(a.upper, kind))


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
        qualified=sql.Literal(ident(t.schema, a.partition).as_string(None)),
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
    rng, typ = _RANGE_TYPES[kind], SQL_TYPES[kind]
    return sql.SQL(
        "SELECT part FROM ("
        "SELECT c.oid::regclass::text AS part, {match} AS m"
        " FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = {oid}) AS b"
        " WHERE m IS NOT NULL AND {rng}(nullif(btrim(m[1], {q}), 'MINVALUE')::{typ},"
        " nullif(btrim(m[2], {q}), 'MAXVALUE')::{typ}) && {rng}({lo}, {hi}) LIMIT 1"
    ).format(
        match=_BOUND_MATCH,
        oid=sql.Literal(a.table.oid),
        rng=rng,
        typ=typ,
        q=sql.Literal("'"),
        lo=bound(a.lower, kind),
        hi=bound(a.upper, kind),
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
