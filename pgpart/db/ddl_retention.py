"""Retention steps: drop, detach (concurrently where possible), finish an
interrupted detach, drop a leftover; the right owner for each statement, and
the mark that lets `check` find a partition detached but not dropped.

Lock rules: https://www.postgresql.org/docs/current/ddl-partitioning.html#DDL-PARTITIONING-DECLARATIVE-MAINTENANCE
"""

from __future__ import annotations

from dataclasses import replace

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.plan import DetachPartition, DropPartition, TableRef
from pgpart.core.siblings import LEFTOVER_MARK
from pgpart.db.ddl import (
    DdlOptions,
    Guard,
    LockTarget,
    Step,
    Verdict,
    advisory_target,
    as_owner,
    as_role,
    ident,
    neighbour_locks,
    outcomes,
    prologue,
)


def drop_steps(a: DropPartition, o: DdlOptions) -> tuple[Step, ...]:
    t = a.table
    part = display_name(a.partition_schema, a.partition)
    owner = a.owner or t.owner
    drop_alone = drop_standalone_step(t, a.partition_schema, a.partition, o, owner)
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
    parent = ident(t.schema, t.name)
    target = ident(a.partition_schema, a.partition)
    stmts = [
        *prologue(t, o),
        partition_guard(t, a.partition_schema, a.partition, o.version),
        as_owner(t, local=True),
    ]
    if a.detach_first:
        stmts.append(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(parent, target))
    else:
        # DROP would lock the parent too; locking it first makes the order
        # (parent, then partition) explicit, as for every other pgpart step.
        stmts.append(sql.SQL("LOCK TABLE ONLY {} IN ACCESS EXCLUSIVE MODE").format(parent))
    stmts.append(as_role(owner, local=True))
    stmts.append(sql.SQL("DROP TABLE {}").format(target))
    finalize = finalize_step(t, a.partition_schema, a.partition, o)
    return (
        Step(
            statements=tuple(stmts),
            in_transaction=True,
            description=f"drop {part} of {t.qualified}",
            guards=(Guard(len(prologue(t, o)), _DROP_OUTCOMES),),
            on_pending=(finalize, drop_alone),
            locks=(
                advisory_target(t),
                LockTarget(t.qualified, "ACCESS EXCLUSIVE"),
                LockTarget(part, "ACCESS EXCLUSIVE"),
                *neighbour_locks(t),
            ),
        ),
    )


def leftover_comment(t: TableRef) -> str:
    return f"{LEFTOVER_MARK}{t.qualified} (oid {t.oid}) for retention, to be dropped"


def _mark_for_drop(
    t: TableRef, schema: str, name: str, o: DdlOptions, owner: str, comment: str | None = None
) -> Step:
    stmts = (
        *prologue(t, o),
        partition_guard(t, schema, name, o.version),
        as_role(owner, local=True),
        sql.SQL("COMMENT ON TABLE {} IS {}").format(
            ident(schema, name), sql.Literal(comment or leftover_comment(t))
        ),
    )
    return Step(
        statements=stmts,
        in_transaction=True,
        description=f"mark {display_name(schema, name)} for drop",
        guards=(Guard(len(prologue(t, o)), _MARK_OUTCOMES),),
        locks=(
            advisory_target(t),
            LockTarget(display_name(schema, name), "SHARE UPDATE EXCLUSIVE"),
        ),
    )


def mark_step(t: TableRef, schema: str, name: str, o: DdlOptions, owner: str, comment: str) -> Step:
    """Mark a partition before detaching it (archive mode: the mark holds its bounds)."""
    return _mark_for_drop(t, schema, name, o, owner, comment)


def detach_step(a: DetachPartition, o: DdlOptions) -> Step:
    t = a.table
    part = display_name(a.partition_schema, a.partition)
    if a.concurrently and o.version >= 140000:
        return _detach_concurrently(t, a.partition_schema, a.partition, o, f"detach {part}")
    stmts = (
        *prologue(t, o),
        partition_guard(t, a.partition_schema, a.partition, o.version),
        as_owner(t, local=True),
        sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
            ident(t.schema, t.name), ident(a.partition_schema, a.partition)
        ),
    )
    return Step(
        statements=stmts,
        in_transaction=True,
        description=f"detach {part} from {t.qualified}",
        guards=(Guard(len(prologue(t, o)), _DETACH_OUTCOMES),),
        on_pending=(finalize_step(t, a.partition_schema, a.partition, o),),
        locks=(
            advisory_target(t),
            LockTarget(t.qualified, "ACCESS EXCLUSIVE"),
            LockTarget(part, "ACCESS EXCLUSIVE"),
            *neighbour_locks(t),
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
        partition_guard(t, schema, name, o.version),
        as_owner(t, local=False),
        sql.SQL("ALTER TABLE {} DETACH PARTITION {} CONCURRENTLY").format(
            ident(t.schema, t.name), ident(schema, name)
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
        on_pending=(finalize_step(t, schema, name, o),),
        locks=(
            LockTarget(t.qualified, "SHARE UPDATE EXCLUSIVE"),
            LockTarget(part, "SHARE UPDATE EXCLUSIVE"),
            *neighbour_locks(t),
        ),
        detach_parent_oid=t.oid,
    )


def drop_standalone_step(
    t: TableRef, schema: str, name: str, o: DdlOptions, owner: str | None = None
) -> Step:
    part = display_name(schema, name)
    stmts = (
        *prologue(t, o),
        partition_guard(t, schema, name, o.version),
        as_role(owner or t.owner, local=True),
        sql.SQL("DROP TABLE {}").format(ident(schema, name)),
    )
    step = Step(
        statements=stmts,
        in_transaction=True,
        description=f"drop {part} (detached from {t.qualified})",
        guards=(Guard(len(prologue(t, o)), _STANDALONE_OUTCOMES),),
        locks=(advisory_target(t), LockTarget(part, "ACCESS EXCLUSIVE")),
    )
    # Found pending (its detach was interrupted): finalize, then this again.
    return replace(step, on_pending=(finalize_step(t, schema, name, o), step))


def finalize_step(t: TableRef, schema: str, name: str, o: DdlOptions) -> Step:
    # FINALIZE may run in a transaction block (unlike CONCURRENTLY). It takes
    # SHARE UPDATE EXCLUSIVE on the parent, ACCESS EXCLUSIVE on the partition,
    # and waits for older snapshots; every one of those waits obeys lock_timeout.
    part = display_name(schema, name)
    stmts = (
        *prologue(t, o),
        partition_guard(t, schema, name, o.version),
        as_owner(t, local=True),
        sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE").format(
            ident(t.schema, t.name), ident(schema, name)
        ),
    )
    return Step(
        statements=stmts,
        in_transaction=True,
        description=f"finalize the detach of {part} from {t.qualified}",
        guards=(Guard(len(prologue(t, o)), _FINALIZE_OUTCOMES),),
        locks=(
            advisory_target(t),
            LockTarget(t.qualified, "SHARE UPDATE EXCLUSIVE"),
            LockTarget(part, "ACCESS EXCLUSIVE"),
        ),
    )


def partition_guard(t: TableRef, schema: str, name: str, version: int) -> sql.Composed:
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


S, G, F, P = Verdict.SKIP, Verdict.GO, Verdict.FAIL, Verdict.PENDING
_DROP_OUTCOMES = outcomes(gone=S, detached=S, other_parent=F, pending=P, attached=G)
_DETACH_OUTCOMES = outcomes(gone=S, detached=S, other_parent=F, pending=P, attached=G)
_FINALIZE_OUTCOMES = outcomes(gone=S, detached=S, other_parent=F, pending=G, attached=S)
_STANDALONE_OUTCOMES = outcomes(gone=S, detached=G, other_parent=F, pending=P, attached=F)
_MARK_OUTCOMES = outcomes(gone=S, detached=G, other_parent=F, pending=G, attached=G)
del S, G, F, P
