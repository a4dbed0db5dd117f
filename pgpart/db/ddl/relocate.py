"""The steps of a drain (pgpart.core.relocation): the new partition made
as a standalone, marked table; batches moving the DEFAULT's rows of its
range into it, one block range of the DEFAULT each; VACUUM of the DEFAULT;
the partition's own indexes built; the settle that attaches it; batches
rewriting the moved rows for subscribers (republish); the mark removed.

Pure, like pgpart.db.ddl: statements and steps; pgpart.db.relocate_run
runs them. Batches scan the DEFAULT by TID ranges (PostgreSQL 14+: a Tid
Range Scan reads just those blocks), so no batch reads again what an
earlier one left behind. https://www.postgresql.org/docs/current/datatype-oid.html
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.marks import MARK_CONSTRAINT, Mark, MarkKind, Phase
from pgpart.core.plan import CreatePartition
from pgpart.db.ddl import sibling as sibling_ddl
from pgpart.db.ddl.create import _COLUMN_OUTCOMES, _columns_guard, _create_table, attach
from pgpart.db.ddl.literals import bound, ident, show
from pgpart.db.ddl.locking import advisory_target, as_role, prologue
from pgpart.db.ddl.marks import add_mark, drop_mark, set_mark
from pgpart.db.ddl.settle import (
    legacy_rows,
    locks,
    move_settings,
    settle_locks,
    stash_rows,
    unstash_rows,
)
from pgpart.db.ddl.step import DdlOptions, Guard, LockTarget, Outcome, Step, Verdict

# Another run took it further meanwhile: the runner reads the state again.
_IN_TRANSIT = (
    Outcome("not_in_transit", Verdict.SKIP, "{detail} is no longer the marked standalone table"),
)
_REPUBLISHING = (
    Outcome("not_republishing", Verdict.SKIP, "{detail} is no longer the marked partition"),
)
_ABSENT = (Outcome("exists", Verdict.SKIP, "{detail} was made meanwhile (another run)"),)
_RESTORE = {"O": "ENABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}


def transit(a: CreatePartition) -> sql.Identifier:
    return ident(a.partition_schema, a.partition)


def transit_name(a: CreatePartition) -> str:
    return display_name(a.partition_schema, a.partition)


def first_mark(a: CreatePartition, since: datetime) -> Mark:
    return Mark(MarkKind.RELOCATING, a.table.oid, a.table.qualified, a.lower, a.upper, since)


def _bound_check(a: CreatePartition) -> sql.Composed:
    t = a.table
    k = sql.Identifier(t.key_column)
    return sql.SQL("{k} IS NOT NULL AND {k} >= {lo} AND {k} < {hi}").format(
        k=k, lo=bound(a.lower, t.key_kind), hi=bound(a.upper, t.key_kind)
    )


def create_transit_step(a: CreatePartition, o: DdlOptions, mark: Mark) -> Step:
    """The partition as a standalone table, LIKE the parent with its indexes
    (ATTACH adopts them), what it copies from the sibling, and the mark: a
    CHECK on its range, added while empty (instant), that lets ATTACH skip
    scanning it later."""
    t = a.table
    new = transit(a)
    # Checked under the advisory lock: an overlapping run that made it first
    # is found, and the runner reads the state again (and drains into it).
    stmts = [*prologue(t, o), _absent_guard(a)]
    guard = Guard(len(stmts) - 1, _ABSENT)
    stmts.append(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(t.owner)))
    stmts.append(
        _create_table(ident(t.schema, t.name), new, a.storage, a.template, o.version, indexes=True)
    )
    stmts.extend(sibling_ddl.before_move(a.template, new, t.owner, t.acl, t.facts))
    stmts.extend(add_mark(new, transit_name(a), mark, _bound_check(a)))
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"create {transit_name(a)} for rows in transit {_span(a)} of {t.qualified}",
        guards=(guard,),
        locks=(advisory_target(t),),
    )


def batch_move(a: CreatePartition, columns: Sequence[str], first: int, end: int) -> sql.Composed:
    """Rows of the range in blocks [first, end) of the DEFAULT, into the
    standalone partition: one statement, so exactly the rows deleted are
    the rows inserted."""
    t = a.table
    default = ident(*a.default_at)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    k = sql.Identifier(t.key_column)
    return sql.SQL(
        "WITH moved AS (DELETE FROM ONLY {d} WHERE ctid >= {b0}::tid AND ctid < {b1}::tid"
        " AND {k} >= {lo} AND {k} < {hi} RETURNING {c})"
        " INSERT INTO {new} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM moved"
    ).format(
        d=default,
        b0=sql.Literal(f"({first},0)"),
        b1=sql.Literal(f"({end},0)"),
        k=k,
        lo=bound(a.lower, t.key_kind),
        hi=bound(a.upper, t.key_kind),
        c=cols,
        new=transit(a),
    )


def drain_step(
    a: CreatePartition, o: DdlOptions, columns: Sequence[str], first: int, end: int
) -> Step:
    t = a.table
    stmts = [*prologue(t, o), *move_settings(a, True)]
    stmts.append(batch_move(a, columns, first, end))
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"move rows {_span(a)} out of DEFAULT into {transit_name(a)}",
        locks=(advisory_target(t),),
        counted=(len(stmts) - 1,),
    )


def compact_step(a: CreatePartition, o: DdlOptions, columns: Sequence[str], keep: int) -> Step:
    """The DEFAULT's rows past its first ``keep`` blocks written again, where
    VACUUM freed room at its start: after a drain the application's newest
    rows sit at the end of an otherwise empty table, which VACUUM can then
    not shorten, and every later ATTACH would scan all of it. One statement:
    exactly the rows deleted are the rows inserted, in the same partition
    (subscribers and CDC see each leave and come back); with the move's
    settings, so nothing else notices."""
    t = a.table
    default = ident(*a.default_at)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    stmts = [*prologue(t, o), *move_settings(a, True)]
    stmts.append(
        sql.SQL(
            "WITH moved AS (DELETE FROM ONLY {d} WHERE ctid >= {b}::tid RETURNING {c})"
            " INSERT INTO {d} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM moved"
        ).format(d=default, b=sql.Literal(f"({keep},0)"), c=cols)
    )
    shown = display_name(*a.default_at)
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"compact {shown}: its rows past block {keep} written again at its start",
        locks=(advisory_target(t),),
    )


def vacuum_step(a: CreatePartition, o: DdlOptions) -> Step:
    """VACUUM the DEFAULT (not in a transaction block): it removes what the
    batches deleted and truncates the empty end of the table, so that the
    settle's scan of it is short. It waits for no one but other VACUUMs and
    DDL; its truncation gives way at once to any waiting query.
    https://www.postgresql.org/docs/current/sql-vacuum.html"""
    t = a.table
    default = ident(*a.default_at)
    return Step(
        statements=(
            sql.SQL("SELECT pg_catalog.set_config('lock_timeout', {}, false)").format(
                sql.Literal(f"{o.lock_timeout_ms}ms")
            ),
            as_role(t.owner, local=False),
            # INDEX_CLEANUP ON: with few dead rows left, VACUUM would otherwise
            # skip the indexes and keep their line pointers, and could not
            # truncate the emptied end of the table.
            sql.SQL("VACUUM (INDEX_CLEANUP ON) {}").format(default),
        ),
        in_transaction=False,
        description=f"vacuum {display_name(*a.default_at)}",
        cleanup=(sql.SQL("RESET ROLE"), sql.SQL("RESET lock_timeout")),
        locks=(
            LockTarget(
                display_name(*a.default_at),
                "SHARE UPDATE EXCLUSIVE",
            ),
        ),
    )


def build_step(a: CreatePartition, o: DdlOptions) -> Step | None:
    """The partition's own constraints and indexes, built once on the moved
    rows while it is still standalone (no one waits for it)."""
    t = a.table
    names = dict(a.copy_names)
    built = sibling_ddl.after_move(
        a.template, a.partition_schema, transit(a), names, part="build", like_indexes=True
    )
    if not built:
        return None
    stmts = [
        *prologue(t, o),
        sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(t.owner)),
        transit_guard(a),
        *built,
    ]
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"build the indexes of {transit_name(a)}",
        guards=(Guard(len(stmts) - len(built) - 1, _IN_TRANSIT),),
        locks=(advisory_target(t),),
    )


def drain_settle_step(
    a: CreatePartition, o: DdlOptions, columns: Sequence[str], after: Mark | None
) -> Step:
    """The settle of a drained partition: writers blocked at the parent, the
    rows that reached the DEFAULT since taken aside, ATTACH (no scan of the
    partition: its mark's CHECK proves the range; a short one of the
    vacuumed DEFAULT), those rows back through the parent, then what the
    partition copies; ``after``: its mark from now on (None: unmarked)."""
    t = a.table
    default = ident(*a.default_at)
    new = transit(a)
    names = dict(a.copy_names)
    stmts = [*prologue(t, o), *move_settings(a, True), *locks(a, default)]
    guard = Guard(len(stmts), _IN_TRANSIT)
    stmts.append(transit_guard(a))
    columns_guard = Guard(len(stmts), _COLUMN_OUTCOMES)
    stmts.append(_columns_guard(t, columns, o.version))
    counted = (len(stmts),)
    stmts.append(stash_rows(a, default, columns))
    stmts.extend(legacy_rows(a, columns))
    stmts.extend(
        sibling_ddl.after_move(
            a.template, a.partition_schema, new, names, part="attach", like_indexes=True
        )
    )
    stmts.append(attach(a))
    stmts.append(unstash_rows(a, columns))
    stmts.extend(_finish(a))
    stmts.append(set_mark(new, transit_name(a), after) if after else drop_mark(new))
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"attach {transit_name(a)} {_span(a)} to {t.qualified}",
        guards=(guard, columns_guard),
        locks=tuple(settle_locks(a)),
        counted=counted,
    )


def _finish(a: CreatePartition) -> list[sql.Composed]:
    new = transit(a)
    names = dict(a.copy_names)
    stmts = sibling_ddl.after_move(a.template, a.partition_schema, new, names, part="finish")
    stmts.extend(sibling_ddl.after_attach(a.template, new, a.table.owner))
    return stmts


def size_query(relation: sql.Identifier) -> sql.Composed:
    """The relation's size in blocks (its main fork)."""
    return sql.SQL(
        "SELECT (pg_catalog.pg_relation_size(pg_catalog.to_regclass({}))"
        " / pg_catalog.current_setting('block_size')::bigint)::bigint"
    ).format(sql.Literal(relation.as_string(None)))


def republish_step(
    a: CreatePartition, o: DdlOptions, columns: Sequence[str], first: int, end: int, mark: Mark
) -> Step:
    """Rewrite the rows in blocks [first, end) of the attached partition in
    place (delete and insert again, one statement), so that subscribers and
    logical decoding see them arrive in the partition; writers of the
    partition wait for the batch (SHARE ROW EXCLUSIVE: readers do not), so
    that none updates a row while it is rewritten. The partition's own
    triggers are off for the batch, and the mark records how far it got."""
    t = a.table
    new = transit(a)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    stmts = [*prologue(t, o), *move_settings(a, True)]
    stmts.append(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(new))
    guard = Guard(len(stmts), _REPUBLISHING)
    stmts.append(_attached_guard(a))
    triggers = [g for g in (a.template.triggers if a.template else ()) if g.enabled != "D"]
    for g in triggers:
        stmts.append(
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(new, sql.Identifier(g.name))
        )
    counted = (len(stmts),)
    stmts.append(
        sql.SQL(
            "WITH moved AS (DELETE FROM {new} WHERE ctid >= {b0}::tid AND ctid < {b1}::tid"
            " RETURNING {c}) INSERT INTO {new} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM moved"
        ).format(new=new, b0=sql.Literal(f"({first},0)"), b1=sql.Literal(f"({end},0)"), c=cols)
    )
    for g in triggers:
        stmts.append(
            sql.SQL("ALTER TABLE {} {} TRIGGER {}").format(
                new, sql.SQL(_RESTORE[g.enabled]), sql.Identifier(g.name)
            )
        )
    stmts.append(
        set_mark(
            new,
            transit_name(a),
            mark.at(Phase.REPUBLISHING, next_block=end, end_block=mark.end_block),
        )
    )
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"republish the rows of {transit_name(a)} {_span(a)}",
        guards=(guard,),
        locks=(advisory_target(t), LockTarget(transit_name(a), "SHARE ROW EXCLUSIVE")),
        counted=counted,
    )


def unmark_step(a: CreatePartition, o: DdlOptions) -> Step:
    t = a.table
    new = transit(a)
    stmts = [
        *prologue(t, o),
        sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(t.owner)),
        drop_mark(new),
    ]
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"unmark {transit_name(a)}",
        locks=(advisory_target(t), LockTarget(transit_name(a), "ACCESS EXCLUSIVE")),
    )


def _absent_guard(a: CreatePartition) -> sql.Composed:
    """No row while no relation has the partition's name. Read from pg_class
    by this statement's snapshot, not through to_regclass: the name cache of
    a session that looked the name up before waiting for the advisory lock
    may still hold "absent" from before another run made it."""
    return sql.SQL(
        "SELECT 'exists', {shown} FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = {schema} AND c.relname = {name}"
    ).format(
        shown=sql.Literal(transit_name(a)),
        schema=sql.Literal(a.partition_schema),
        name=sql.Literal(a.partition),
    )


def transit_guard(a: CreatePartition) -> sql.Composed:
    """No row while the partition is the marked standalone table."""
    return sql.SQL(
        "SELECT 'not_in_transit', {shown} WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k"
        " JOIN pg_catalog.pg_class c ON c.oid = k.conrelid"
        " WHERE k.conrelid = pg_catalog.to_regclass({name}) AND k.conname = {mark}"
        " AND NOT c.relispartition)"
    ).format(
        shown=sql.Literal(transit_name(a)),
        name=sql.Literal(transit(a).as_string(None)),
        mark=sql.Literal(MARK_CONSTRAINT),
    )


def _attached_guard(a: CreatePartition) -> sql.Composed:
    """No row while the partition is a marked partition of its parent."""
    return sql.SQL(
        "SELECT 'not_republishing', {shown} WHERE NOT EXISTS ("
        "SELECT FROM pg_catalog.pg_constraint k"
        " JOIN pg_catalog.pg_inherits i ON i.inhrelid = k.conrelid"
        " WHERE k.conrelid = pg_catalog.to_regclass({name}) AND k.conname = {mark}"
        " AND i.inhparent = {parent})"
    ).format(
        shown=sql.Literal(transit_name(a)),
        name=sql.Literal(transit(a).as_string(None)),
        mark=sql.Literal(MARK_CONSTRAINT),
        parent=sql.Literal(a.table.oid),
    )


def _span(a: CreatePartition) -> str:
    return f"[{show(a.lower)}, {show(a.upper)})"
