"""Turn a planned action into the SQL statements that carry it out.

Pure: no I/O. The executor sends exactly these statements and the dry run
prints them, so what a user reviews is what runs.

Lock rules this module relies on (PostgreSQL 12+, CONCURRENTLY 14+):
https://www.postgresql.org/docs/current/sql-altertable.html (ATTACH/DETACH)
https://www.postgresql.org/docs/current/ddl-partitioning.html#DDL-PARTITIONING-DECLARATIVE-MAINTENANCE
https://www.postgresql.org/docs/current/explicit-locking.html (conflict table)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from psycopg import sql

from pgpart.core.bounds import KeyKind, format_bound
from pgpart.core.identifiers import display_name
from pgpart.core.plan import (
    Action,
    CreatePartition,
    DetachPartition,
    DropLeftover,
    DropPartition,
    FinalizeDetach,
    StorageTemplate,
    TableRef,
)
from pgpart.core.siblings import LEFTOVER_MARK, Relocation, SiblingTemplate
from pgpart.db import sibling_ddl

# High 32 bits of every pgpart advisory lock key ('pgpt'); the low 32 bits are
# the parent's oid. pg_locks shows them as classid / objid (objsubid 1).
ADVISORY_CLASS = 0x70677074
BOUND_CONSTRAINT = "pgpart_attach_bound"
# What an unknown server version is assumed to be (the dry run without a server).
ASSUMED_VERSION = 170000


class Verdict(str, Enum):
    GO = "go"
    SKIP = "skip"  # nothing to do any more
    FAIL = "fail"
    PENDING = "pending"  # a concurrent detach is half done: run Step.on_pending instead


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str
    verdict: Verdict
    message: str  # may hold "{detail}", filled from the guard's second column


@dataclass(frozen=True, slots=True)
class Guard:
    """A query among a step's statements that decides whether the step goes on.

    It returns no row (go on) or one row ``(state, detail)``."""

    index: int  # position of the query in Step.statements
    outcomes: tuple[Outcome, ...]

    def decide(self, state: str, detail: str | None) -> tuple[Verdict, str]:
        for o in self.outcomes:
            if o.state == state:
                return o.verdict, o.message.replace("{detail}", detail or "?")
        return Verdict.FAIL, f"unexpected state {state!r} ({detail})"


@dataclass(frozen=True, slots=True)
class LockTarget:
    """A lock a step may wait for: named in lock-timeout messages."""

    relation: str  # display name, e.g. public.messages
    mode: str  # as LOCK TABLE spells it, e.g. "SHARE UPDATE EXCLUSIVE"
    advisory_key: int | None = None  # set for pgpart's advisory lock


@dataclass(frozen=True, slots=True)
class Step:
    statements: tuple[sql.Composable, ...]
    in_transaction: bool  # False only for DETACH ... CONCURRENTLY
    description: str
    guards: tuple[Guard, ...] = ()
    cleanup: tuple[sql.Composable, ...] = ()  # sent after a non-transactional step, always
    on_pending: tuple[Step, ...] = ()  # replaces this step when a guard says PENDING
    locks: tuple[LockTarget, ...] = ()
    # Statements sent again and again, in the same transaction, for as long
    # as one round affects ``repeat_rows`` rows (a batched move).
    repeats: tuple[int, ...] = ()
    repeat_rows: int = 0


@dataclass(frozen=True, slots=True)
class DdlOptions:
    lock_timeout_ms: int = 500
    statement_timeout_ms: int = 300_000
    server_version_num: int | None = None  # None: the executor fills it in from the server
    move_batch_rows: int = 100_000  # rows per statement when moving rows out of DEFAULT

    @property
    def version(self) -> int:
        return self.server_version_num or ASSUMED_VERSION


def render_sql(stmt: sql.Composable) -> str:
    """The statement as text, exactly as sent (no connection needed)."""
    return stmt.as_string(None)


def script(steps: Sequence[Step]) -> tuple[str, ...]:
    """Every statement of ``steps`` as the executor sends it, BEGIN/COMMIT included."""
    out: list[str] = []
    for step in steps:
        body = [render_sql(s) for s in (*step.statements, *step.cleanup)]
        for i in reversed(step.repeats):
            body.insert(i, f"-- repeated until it moves fewer than {step.repeat_rows} rows")
        out.extend(["BEGIN", *body, "COMMIT"] if step.in_transaction else body)
    return tuple(out)


def advisory_key(table: TableRef) -> int:
    return (ADVISORY_CLASS << 32) | table.oid


def steps_for(
    action: Action, options: DdlOptions, *, columns: Sequence[str] | None = None
) -> tuple[Step, ...]:
    """The steps of one action, run in order.

    ``columns`` (insertable columns of the parent, see ``columns_query``) is
    needed only for a CreatePartition that moves rows out of the default.
    """
    if isinstance(action, CreatePartition):
        return (_create(action, options, columns),)
    if isinstance(action, DropPartition):
        return _drop(action, options)
    if isinstance(action, DetachPartition):
        return (_detach(action, options),)
    if isinstance(action, FinalizeDetach):
        return (_finalize(action.table, action.partition_schema, action.partition, options),)
    if isinstance(action, DropLeftover):
        return (
            _drop_standalone(
                action.table, action.partition_schema, action.partition, options, action.owner
            ),
        )
    raise TypeError(f"unknown action {action!r}")


def columns_query(table: TableRef, version: int) -> sql.Composed:
    """The parent's columns a row copy must list: not dropped, not generated.

    Identity columns are included: their values are copied as they are."""
    generated = sql.SQL(" AND a.attgenerated = ''") if version >= 120000 else sql.SQL("")
    return sql.SQL(
        "SELECT a.attname::text FROM pg_catalog.pg_attribute a"
        " WHERE a.attrelid = {} AND a.attnum > 0 AND NOT a.attisdropped{}"
        " ORDER BY a.attnum"
    ).format(sql.Literal(table.oid), generated)


# ---------------------------------------------------------------- create


def _create(a: CreatePartition, o: DdlOptions, columns: Sequence[str] | None) -> Step:
    t = a.table
    parent = _ident(t.schema, t.name)
    new = _ident(t.schema, a.partition)
    new_name = display_name(t.schema, a.partition)
    lo, hi = (_bound(v, t.key_kind) for v in (a.lower, a.upper))
    default = (
        _ident(a.default_schema or t.schema, a.default_partition) if a.default_partition else None
    )
    move = a.move_rows and default is not None
    if move and columns is None:
        raise ValueError("moving rows out of the default partition needs the column list")
    key = sql.Identifier(t.key_column)

    # No guard up front: the happy path is one round trip. If the name is
    # taken (CREATE fails, 42P07) or the range overlaps (ATTACH fails, 42P17),
    # the transaction rolls back and the executor asks conflict_checks(a)
    # whether a concurrent run already made this very partition (a skip).
    stmts = [*_prologue(t, o)]
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
            parent, new, _bound_text(a.lower, t.key_kind), _bound_text(a.upper, t.key_kind)
        )
    )
    if move:
        stmts.append(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                new, sql.Identifier(BOUND_CONSTRAINT)
            )
        )
    stmts.extend(sibling_ddl.after_attach(sibling, new, t.owner))
    locks = [_advisory(t), LockTarget(t.qualified, "SHARE UPDATE EXCLUSIVE")]
    if a.default_partition:
        name = display_name(a.default_schema or t.schema, a.default_partition)
        locks.append(LockTarget(name, "ACCESS EXCLUSIVE"))
    locks.extend(_neighbour_locks(t))
    what = "create + move default rows" if move else "create"
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"{what} {new_name} [{_show(a.lower)}, {_show(a.upper)}) of {t.qualified}",
        guards=tuple(guards),
        locks=tuple(locks),
        repeats=tuple(repeats),
        repeat_rows=o.move_batch_rows,
    )


def _neighbour_locks(t: TableRef) -> list[LockTarget]:
    """ATTACH and DETACH also take SHARE ROW EXCLUSIVE on the tables on
    either side of the parent's foreign keys (to add or remove the cloned
    constraint and its triggers): a lock wait may be on one of those.
    https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION
    """
    return [LockTarget(rel, "SHARE ROW EXCLUSIVE") for rel in t.facts.fk_neighbours]


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
            sql.SQL(", ").join(_reloption(r) for r in storage.reloptions)
        )
    if storage.tablespace:
        stmt += sql.SQL(" TABLESPACE {}").format(sql.Identifier(storage.tablespace))
    return stmt


_reloption = sibling_ddl.reloption


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
_SQL_TYPES = {
    KeyKind.TIMESTAMPTZ: sql.SQL("timestamptz"),
    KeyKind.TIMESTAMP: sql.SQL("timestamp"),
    KeyKind.DATE: sql.SQL("date"),
}
# pg_get_expr() prints a range bound as FOR VALUES FROM (x) TO (y), each value
# quoted or MINVALUE/MAXVALUE, in the session's own DateStyle/TimeZone, which
# the cast back reads the same way.
_BOUND_RE = "^FOR VALUES FROM [(](.+)[)] TO [(](.+)[)]$"


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


# The bound of partition ``c`` split into m[1], m[2] (see _BOUND_RE).
_BOUND_MATCH = sql.SQL("regexp_match(pg_get_expr(c.relpartbound, 0), {})").format(
    sql.Literal(_BOUND_RE)
)


def _has_bounds_of(a: CreatePartition) -> sql.Composed:
    """SQL: whether the bound matched into ``m`` is exactly [a.lower, a.upper)."""
    kind = a.table.key_kind
    rng, typ = _RANGE_TYPES[kind], _SQL_TYPES[kind]
    return sql.SQL(
        "{rng}(nullif(btrim(m[1], {q}), 'MINVALUE')::{typ},"
        " nullif(btrim(m[2], {q}), 'MAXVALUE')::{typ}) = {rng}({lo}, {hi})"
    ).format(
        rng=rng, typ=typ, q=sql.Literal("'"), lo=_bound(a.lower, kind), hi=_bound(a.upper, kind)
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
        qualified=sql.Literal(_ident(t.schema, a.partition).as_string(None)),
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
    rng, typ = _RANGE_TYPES[kind], _SQL_TYPES[kind]
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
        lo=_bound(a.lower, kind),
        hi=_bound(a.upper, kind),
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


# ---------------------------------------------------------------- grants


@dataclass(frozen=True, slots=True)
class AclItem:
    grantee: str | None  # None: PUBLIC
    privileges: str  # letters as in aclitem, e.g. "arwd"
    grantable: str  # the letters held WITH GRANT OPTION
    grantor: str


def parse_aclitem(text: str) -> AclItem:
    """Parse aclitem text such as ``"my role"=r*w/owner`` (``=r/owner`` is PUBLIC).

    https://www.postgresql.org/docs/current/ddl-priv.html#PRIVILEGE-ABBREVS-TABLE
    """
    grantee, pos = _acl_name(text, 0)
    if pos >= len(text) or text[pos] != "=":
        raise ValueError(f"not an aclitem: {text!r}")
    slash = text.index("/", pos)
    privs = text[pos + 1 : slash]
    grantor, _ = _acl_name(text, slash + 1)
    plain = privs.replace("*", "")
    grantable = "".join(ch for i, ch in enumerate(privs) if privs[i + 1 : i + 2] == "*")
    return AclItem(grantee or None, plain, grantable, grantor)


def _acl_name(text: str, pos: int) -> tuple[str, int]:
    if pos < len(text) and text[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < len(text):
            if text[pos] == '"':
                if text[pos + 1 : pos + 2] == '"':
                    out.append('"')
                    pos += 2
                    continue
                return "".join(out), pos + 1
            out.append(text[pos])
            pos += 1
        raise ValueError(f"unterminated name in aclitem {text!r}")
    end = pos
    while end < len(text) and text[end] not in "=/":
        end += 1
    return text[pos:end], end


# ---------------------------------------------------------------- drop / detach


def _drop(a: DropPartition, o: DdlOptions) -> tuple[Step, ...]:
    t = a.table
    part = display_name(a.partition_schema, a.partition)
    owner = a.owner or t.owner
    drop_alone = _drop_standalone(t, a.partition_schema, a.partition, o, owner)
    if a.concurrently and o.version >= 140000:
        # Three steps, as PostgreSQL itself needs: the detach commits on its
        # own; the DROP then locks only the standalone table, never the
        # parent. The mark, committed first, lets `check` find the table
        # should the DROP never happen (detached_leftover).
        detach = _detach_concurrently(t, a.partition_schema, a.partition, o, f"drop {part}")
        return (_mark_for_drop(t, a.partition_schema, a.partition, o, owner), detach, drop_alone)
    # One transaction: a partition is either still attached or gone, never
    # detached-but-not-dropped. DROP of an attached partition takes ACCESS
    # EXCLUSIVE on the parent just as DETACH does; DETACH has already locked
    # the partition, so the DROP adds no wait, and the parent's lock is held
    # only for the extra milliseconds of the DROP.
    # https://www.postgresql.org/docs/current/ddl-partitioning.html#DDL-PARTITIONING-DECLARATIVE-MAINTENANCE
    parent = _ident(t.schema, t.name)
    target = _ident(a.partition_schema, a.partition)
    stmts = [
        *_prologue(t, o),
        _partition_guard(t, a.partition_schema, a.partition, o.version),
        _as_owner(t, local=True),
    ]
    if a.detach_first:
        stmts.append(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(parent, target))
    else:
        # DROP would lock the parent too; locking it first makes the order
        # (parent, then partition) explicit, as for every other pgpart step.
        stmts.append(sql.SQL("LOCK TABLE ONLY {} IN ACCESS EXCLUSIVE MODE").format(parent))
    stmts.append(_as_role(owner, local=True))
    stmts.append(sql.SQL("DROP TABLE {}").format(target))
    finalize = _finalize(t, a.partition_schema, a.partition, o)
    return (
        Step(
            statements=tuple(stmts),
            in_transaction=True,
            description=f"drop {part} of {t.qualified}",
            guards=(Guard(len(_prologue(t, o)), _DROP_OUTCOMES),),
            on_pending=(finalize, drop_alone),
            locks=(
                _advisory(t),
                LockTarget(t.qualified, "ACCESS EXCLUSIVE"),
                LockTarget(part, "ACCESS EXCLUSIVE"),
                *_neighbour_locks(t),
            ),
        ),
    )


def leftover_comment(t: TableRef) -> str:
    return f"{LEFTOVER_MARK}{t.qualified} (oid {t.oid}) for retention, to be dropped"


def _mark_for_drop(
    t: TableRef, schema: str, name: str, o: DdlOptions, owner: str, comment: str | None = None
) -> Step:
    stmts = (
        *_prologue(t, o),
        _partition_guard(t, schema, name, o.version),
        _as_role(owner, local=True),
        sql.SQL("COMMENT ON TABLE {} IS {}").format(
            _ident(schema, name), sql.Literal(comment or leftover_comment(t))
        ),
    )
    return Step(
        statements=stmts,
        in_transaction=True,
        description=f"mark {display_name(schema, name)} for drop",
        guards=(Guard(len(_prologue(t, o)), _MARK_OUTCOMES),),
        locks=(_advisory(t), LockTarget(display_name(schema, name), "SHARE UPDATE EXCLUSIVE")),
    )


def mark_step(t: TableRef, schema: str, name: str, o: DdlOptions, owner: str, comment: str) -> Step:
    """Mark a partition before detaching it (archive mode: the mark holds its bounds)."""
    return _mark_for_drop(t, schema, name, o, owner, comment)


def _detach(a: DetachPartition, o: DdlOptions) -> Step:
    t = a.table
    part = display_name(a.partition_schema, a.partition)
    if a.concurrently and o.version >= 140000:
        return _detach_concurrently(t, a.partition_schema, a.partition, o, f"detach {part}")
    stmts = (
        *_prologue(t, o),
        _partition_guard(t, a.partition_schema, a.partition, o.version),
        _as_owner(t, local=True),
        sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
            _ident(t.schema, t.name), _ident(a.partition_schema, a.partition)
        ),
    )
    return Step(
        statements=stmts,
        in_transaction=True,
        description=f"detach {part} from {t.qualified}",
        guards=(Guard(len(_prologue(t, o)), _DETACH_OUTCOMES),),
        on_pending=(_finalize(t, a.partition_schema, a.partition, o),),
        locks=(
            _advisory(t),
            LockTarget(t.qualified, "ACCESS EXCLUSIVE"),
            LockTarget(part, "ACCESS EXCLUSIVE"),
            *_neighbour_locks(t),
        ),
    )


def _detach_concurrently(t: TableRef, schema: str, name: str, o: DdlOptions, what: str) -> Step:
    # DETACH .. CONCURRENTLY cannot run in a transaction block, so SET LOCAL
    # and the transaction-scoped advisory lock are not available: the timeouts
    # are set for the session and reset afterwards. Its lock waits (including
    # its wait for older transactions between its two internal transactions)
    # obey lock_timeout; cut short there, it leaves the detach pending, which
    # the next attempt's guard sees and completes with FINALIZE.
    stmts = (
        sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{o.lock_timeout_ms}ms")),
        sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{o.statement_timeout_ms}ms")),
        _partition_guard(t, schema, name, o.version),
        _as_owner(t, local=False),
        sql.SQL("ALTER TABLE {} DETACH PARTITION {} CONCURRENTLY").format(
            _ident(t.schema, t.name), _ident(schema, name)
        ),
    )
    part = display_name(schema, name)
    return Step(
        statements=stmts,
        in_transaction=False,
        description=f"{what}: detach concurrently from {t.qualified}",
        guards=(Guard(2, _DETACH_OUTCOMES),),
        cleanup=(
            sql.SQL("RESET lock_timeout"),
            sql.SQL("RESET statement_timeout"),
            sql.SQL("RESET ROLE"),
        ),
        on_pending=(_finalize(t, schema, name, o),),
        locks=(
            LockTarget(t.qualified, "SHARE UPDATE EXCLUSIVE"),
            LockTarget(part, "SHARE UPDATE EXCLUSIVE"),
            *_neighbour_locks(t),
        ),
    )


def _drop_standalone(
    t: TableRef, schema: str, name: str, o: DdlOptions, owner: str | None = None
) -> Step:
    part = display_name(schema, name)
    stmts = (
        *_prologue(t, o),
        _partition_guard(t, schema, name, o.version),
        _as_role(owner or t.owner, local=True),
        sql.SQL("DROP TABLE {}").format(_ident(schema, name)),
    )
    step = Step(
        statements=stmts,
        in_transaction=True,
        description=f"drop {part} (detached from {t.qualified})",
        guards=(Guard(len(_prologue(t, o)), _STANDALONE_OUTCOMES),),
        locks=(_advisory(t), LockTarget(part, "ACCESS EXCLUSIVE")),
    )
    # Found pending (its detach was interrupted): finalize, then this again.
    return replace(step, on_pending=(_finalize(t, schema, name, o), step))


def _finalize(t: TableRef, schema: str, name: str, o: DdlOptions) -> Step:
    # FINALIZE may run in a transaction block (unlike CONCURRENTLY). It takes
    # SHARE UPDATE EXCLUSIVE on the parent, ACCESS EXCLUSIVE on the partition,
    # and waits for older snapshots; every one of those waits obeys lock_timeout.
    part = display_name(schema, name)
    stmts = (
        *_prologue(t, o),
        _partition_guard(t, schema, name, o.version),
        _as_owner(t, local=True),
        sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE").format(
            _ident(t.schema, t.name), _ident(schema, name)
        ),
    )
    return Step(
        statements=stmts,
        in_transaction=True,
        description=f"finalize the detach of {part} from {t.qualified}",
        guards=(Guard(len(_prologue(t, o)), _FINALIZE_OUTCOMES),),
        locks=(
            _advisory(t),
            LockTarget(t.qualified, "SHARE UPDATE EXCLUSIVE"),
            LockTarget(part, "ACCESS EXCLUSIVE"),
        ),
    )


def _partition_guard(t: TableRef, schema: str, name: str, version: int) -> sql.Composed:
    """Always one row: (state, detail) with state gone, detached, other_parent,
    pending or attached."""
    pending = sql.SQL("i.inhdetachpending") if version >= 140000 else sql.SQL("false")
    return sql.SQL(
        "SELECT CASE WHEN c.oid IS NULL THEN 'gone'"
        " WHEN i.inhparent IS NULL THEN 'detached'"
        " WHEN i.inhparent <> {oid} THEN 'other_parent'"
        " WHEN {pending} THEN 'pending'"
        " ELSE 'attached' END, {part} || coalesce(' of ' || i.inhparent::regclass::text, '')"
        " FROM (VALUES (1)) AS one(x)"
        " LEFT JOIN (pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = {schema})"
        " ON c.relname = {name}"
        " LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid"
    ).format(
        oid=sql.Literal(t.oid),
        pending=pending,
        part=sql.Literal(display_name(schema, name)),
        schema=sql.Literal(schema),
        name=sql.Literal(name),
    )


def _outcomes(**verdicts: Verdict) -> tuple[Outcome, ...]:
    messages = {
        "gone": "{detail} does not exist (already dropped)",
        "detached": "{detail} is no longer a partition",
        "other_parent": "{detail} is a partition of another table",
        "pending": "{detail} is pending a concurrent detach",
        "attached": "{detail} is still attached",
    }
    return tuple(Outcome(state, v, messages[state]) for state, v in verdicts.items())


S, G, F, P = Verdict.SKIP, Verdict.GO, Verdict.FAIL, Verdict.PENDING
_DROP_OUTCOMES = _outcomes(gone=S, detached=S, other_parent=F, pending=P, attached=G)
_DETACH_OUTCOMES = _outcomes(gone=S, detached=S, other_parent=F, pending=P, attached=G)
_FINALIZE_OUTCOMES = _outcomes(gone=S, detached=S, other_parent=F, pending=G, attached=S)
_STANDALONE_OUTCOMES = _outcomes(gone=S, detached=G, other_parent=F, pending=P, attached=F)
_MARK_OUTCOMES = _outcomes(gone=S, detached=G, other_parent=F, pending=G, attached=G)
del S, G, F, P


# ---------------------------------------------------------------- shared


def _prologue(t: TableRef, o: DdlOptions) -> tuple[sql.Composed, ...]:
    """Bounded waits, then pgpart's per-parent lock.

    The advisory lock is transaction-scoped, so it works behind a transaction
    pooler and can never be left behind; waiting for it, like for any
    heavyweight lock, is cut short by lock_timeout.
    https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
    """
    return (
        sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{o.lock_timeout_ms}ms")),
        sql.SQL("SET LOCAL statement_timeout = {}").format(
            sql.Literal(f"{o.statement_timeout_ms}ms")
        ),
        sql.SQL("SELECT pg_advisory_xact_lock({})").format(sql.Literal(advisory_key(t))),
    )


def _as_owner(t: TableRef, *, local: bool) -> sql.Composed:
    return _as_role(t.owner, local=local)


def _as_role(owner: str, *, local: bool) -> sql.Composed:
    """Become ``owner`` unless the current role already holds its privileges:
    DETACH needs the parent's ownership and DROP the partition's, which a
    NOINHERIT member of the owner role only has after SET ROLE (SET ROLE is
    checked against the login role, so pgpart can switch between owners). A
    superuser, or an inheriting member, keeps its own rights.
    https://www.postgresql.org/docs/current/sql-set-role.html
    """
    return sql.SQL(
        "SELECT set_config('role', {owner}, {local})"
        " WHERE NOT pg_catalog.pg_has_role(current_user, {owner}, 'USAGE')"
    ).format(owner=sql.Literal(owner), local=sql.Literal(local))


def _advisory(t: TableRef) -> LockTarget:
    return LockTarget(t.qualified, "EXCLUSIVE", advisory_key=advisory_key(t))


def _ident(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def _bound_text(value: datetime, kind: KeyKind) -> sql.Literal:
    return sql.Literal(format_bound(value, kind))


def _bound(value: datetime, kind: KeyKind) -> sql.Composed:
    return sql.SQL("{}::{}").format(_bound_text(value, kind), _SQL_TYPES[kind])


def _show(value: datetime) -> str:
    return value.isoformat(sep=" ")
