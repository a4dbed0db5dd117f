"""The create step (a settle, pgpart.core.relocation): a new partition made
as a faithful sibling (LIKE the parent + what the newest sibling has,
pgpart.db.sibling_ddl) and attached, the DEFAULT's rows of its range
relocated into it; the pieces of it that a drain (pgpart.db.relocate) runs
apart; and the catalog queries that tell, after a failure, whether a
concurrent run made this very partition.

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
    """The settle: one transaction that creates and attaches the partition
    and, on a table with a DEFAULT partition, relocates the DEFAULT's rows
    of its range into it (pgpart.core.relocation)."""
    t = a.table
    new_name = display_name(a.partition_schema, a.partition)
    default = (
        ident(a.default_schema or t.schema, a.default_partition) if a.default_partition else None
    )
    move = relocates(a)
    if move and columns is None:
        raise ValueError("moving rows out of the default partition needs the column list")
    # No guard up front: the happy path is one round trip. If the name is
    # taken (CREATE fails, 42P07) or the range overlaps (ATTACH fails, 42P17),
    # the transaction rolls back and the executor asks conflict_checks(a)
    # whether a concurrent run already made this very partition (a skip).
    stmts = [*prologue(t, o), *_move_settings(a, move)]
    stmts.extend(_locks(a, default))
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


def relocates(a: CreatePartition) -> bool:
    """Whether the create takes rows out of the DEFAULT. Rows of the range
    may reach it until the settle blocks writers: the settle takes whatever
    is there then, unless the move is refused (then the probe found none)."""
    stash = a.relocating.stash if a.relocating is not None else a.move_rows
    return a.default_partition is not None and (a.move_rows or stash)


def _move_settings(a: CreatePartition, move: bool) -> list[sql.Composed]:
    """What the session needs to relocate rows, then the owner's role."""
    out: list[sql.Composed] = []
    if move:
        # A policy that would hide rows from the owner (FORCE ROW LEVEL
        # SECURITY) makes the DELETE fail instead of leaving rows behind.
        # https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-ROW-SECURITY
        out.append(sql.Composed([sql.SQL("SET LOCAL row_security = off")]))
    if move and a.relocation is Relocation.REPLICA_ROLE:
        # Relocation, not deletion: with the replica role no foreign-key
        # action and no ordinary trigger or rule fires for the moved rows.
        # Set before SET ROLE: only the login role (a superuser, or one
        # granted SET on the parameter) may set it; it ends with the transaction.
        # https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-SESSION-REPLICATION-ROLE
        out.append(sql.Composed([sql.SQL("SET LOCAL session_replication_role = replica")]))
    # Everything from here runs as the parent's owner: the partition is born
    # with the right owner (and so are the objects made with it: TOAST table,
    # extended statistics, the indexes ATTACH builds), and ATTACH's ownership
    # check on both tables holds even for a NOINHERIT member of the owner role.
    # https://www.postgresql.org/docs/current/sql-set-role.html
    out.append(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(a.table.owner)))
    return out


def _locks(a: CreatePartition, default: sql.Identifier | None) -> list[sql.Composed]:
    # Parent first, then the default: the order ATTACH itself locks them in,
    # so pgpart never waits in the opposite order of another session. ONLY:
    # LOCK TABLE would otherwise lock every partition.
    # https://www.postgresql.org/docs/current/sql-lock.html
    parent = ident(a.table.schema, a.table.name)
    if default is None:
        # What ATTACH takes on the parent: no conflict with reads or writes.
        return [sql.SQL("LOCK TABLE ONLY {} IN SHARE UPDATE EXCLUSIVE MODE").format(parent)]
    # With a DEFAULT, writers must wait before their rows are routed: an
    # insert routed to the DEFAULT before the ATTACH would then meet the
    # DEFAULT's narrowed constraint and fail. SHARE ROW EXCLUSIVE conflicts
    # with the ROW EXCLUSIVE every INSERT, UPDATE and DELETE takes on the
    # parent first, not with reads; after the commit they route anew.
    only = sql.SQL("") if _partitioned_default(a) else sql.SQL("ONLY ")
    return [
        sql.SQL("LOCK TABLE ONLY {} IN SHARE ROW EXCLUSIVE MODE").format(parent),
        # ATTACH takes ACCESS EXCLUSIVE on the default anyway (to scan it);
        # taking it now avoids upgrading a weaker lock later.
        sql.SQL("LOCK TABLE {}{} IN ACCESS EXCLUSIVE MODE").format(only, default),
    ]


def settle_locks(a: CreatePartition) -> list[LockTarget]:
    t = a.table
    locks = [advisory_target(t)]
    if a.default_partition:
        name = display_name(a.default_schema or t.schema, a.default_partition)
        locks += [
            LockTarget(t.qualified, "SHARE ROW EXCLUSIVE"),
            LockTarget(name, "ACCESS EXCLUSIVE"),
        ]
    else:
        locks.append(LockTarget(t.qualified, "SHARE UPDATE EXCLUSIVE"))
    locks.extend(neighbour_locks(t))
    return locks


def _partitioned_default(a: CreatePartition) -> bool:
    return a.relocating is not None and a.relocating.default_partitioned


STASH = sql.Identifier("pg_temp", "pgpart_stash")


def stash_rows(a: CreatePartition, default: sql.Composable, columns: Sequence[str]) -> sql.Composed:
    """Take the DEFAULT's rows of the range aside, into a temporary table
    (never published, never decoded; gone at COMMIT): exactly the rows
    deleted are the rows kept, whatever triggers or rules exist."""
    t = a.table
    cols = _cols(columns)
    only = sql.SQL("") if _partitioned_default(a) else sql.SQL("ONLY ")
    return sql.SQL(
        "CREATE TEMPORARY TABLE {stash} ON COMMIT DROP AS WITH moved AS ("
        "DELETE FROM {only}{d} WHERE {k} >= {lo} AND {k} < {hi} RETURNING {c})"
        " SELECT {c} FROM moved"
    ).format(
        stash=STASH,
        only=only,
        d=default,
        k=sql.Identifier(t.key_column),
        lo=bound(a.lower, t.key_kind),
        hi=bound(a.upper, t.key_kind),
        c=cols,
    )


def unstash_rows(a: CreatePartition, columns: Sequence[str]) -> sql.Composed:
    """Put the rows taken aside back through the parent, now that the
    partition is attached: logical decoding sees them leave the DEFAULT and
    arrive in the partition, in the same transaction, whichever way a
    publication publishes partitions. Generated columns are left out
    (recomputed); OVERRIDING SYSTEM VALUE keeps identity values."""
    t = a.table
    cols = _cols(columns)
    stmt = sql.SQL("INSERT INTO {p} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM {stash}").format(
        p=ident(t.schema, t.name), c=cols, stash=STASH
    )
    legacy = _not_valid_checks(a)
    if legacy is not None:
        stmt += sql.SQL(" WHERE ({}) IS NOT FALSE").format(legacy)
    return stmt


def legacy_rows(a: CreatePartition, columns: Sequence[str]) -> list[sql.Composed]:
    """Rows that fail a NOT VALID CHECK of the parent (written before it
    existed) go into the partition before ATTACH, while it lacks that
    constraint: after the ATTACH they would be refused. They alone reach
    subscribers of the parent late (docs/relocation.md)."""
    legacy = _not_valid_checks(a)
    if legacy is None:
        return []
    cols = _cols(columns)
    return [
        sql.SQL(
            "INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM {stash} WHERE NOT ({e})"
        ).format(t=ident(a.partition_schema, a.partition), c=cols, stash=STASH, e=legacy)
    ]


def _not_valid_checks(a: CreatePartition) -> sql.Composable | None:
    """The conjunction of the parent's NOT VALID CHECK constraints (as the
    server deparsed them), or None when there is none."""
    if a.template is None:
        return None
    exprs = []
    for c in a.template.not_valid_inherited:
        text = c.definition
        if not (text.startswith("CHECK ") and text.endswith(" NOT VALID")):
            continue
        exprs.append(sql.SQL(text[len("CHECK ") : -len(" NOT VALID")]))
    return sql.SQL(" AND ").join(exprs) if exprs else None


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


def _cols(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


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
