"""Retention steps: drop, detach (concurrently where possible), archive's
detach and drop, finish an interrupted detach, drop a verified leftover,
clear a mark left on an attached partition; the right owner for each
statement. The marks that let `check` find a partition detached but not
dropped are pgpart.db.ddl.retention_marks's.

Lock rules: https://www.postgresql.org/docs/current/ddl-partitioning.html#DDL-PARTITIONING-DECLARATIVE-MAINTENANCE
"""

from __future__ import annotations

from dataclasses import replace

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.plan import (
    ArchivePartition,
    DetachPartition,
    DropLeftover,
    DropPartition,
    TableRef,
    UnmarkPartition,
)
from pgpart.db.ddl.literals import ident
from pgpart.db.ddl.locking import advisory_target, as_owner, as_role, neighbour_locks, prologue
from pgpart.db.ddl.retention_marks import (
    Marking,
    claim_step,
    detach_and_mark_step,
    drop_marked_step,
    finalize_and_mark_step,
    intent_step,
    kind_for,
    marking,
    relabel_step,
    table_state,
    unmark_step,
    verdicts,
    verify_step,
)
from pgpart.db.ddl.step import DdlOptions, Guard, LockTarget, Step, Verdict, outcomes


def drop_steps(a: DropPartition, o: DdlOptions) -> tuple[Step, ...]:
    t = a.table
    part = display_name(a.partition_schema, a.partition)
    owner = a.owner or t.owner
    m = marking(t, a.partition_schema, a.partition, a.oid, owner, a.lower, a.upper, kind_for(False))
    drop_alone = drop_marked_step(t, a.partition_schema, a.partition, a.oid, owner, (m.claim,), o)
    if a.concurrently and o.version >= 140000:
        # Four steps, as PostgreSQL itself needs: the detach commits on its
        # own; the DROP then locks only the standalone table, never the
        # parent. The intent before it and the claim after it (marks, see
        # pgpart.db.ddl.retention_marks) let `check` find the table should the
        # DROP never happen (detached_leftover); only the claim, put once
        # this run's own detach succeeded, lets a later run drop it.
        detach = replace(
            _detach_concurrently(t, a.partition_schema, a.partition, o, f"drop {part}"),
            on_pending=(finalize_and_mark_step(m, o),),
        )
        # Found pending (an earlier detach cut short): finalize with the claim, drop.
        intent = replace(intent_step(m, o), on_pending=(finalize_and_mark_step(m, o), drop_alone))
        return (intent, detach, claim_step(m, o), drop_alone)
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
        table_state(t, a.partition_schema, a.partition, a.oid, o.version),
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
    return (
        Step(
            statements=tuple(stmts),
            in_transaction=True,
            description=f"drop {part} of {t.qualified}",
            guards=(Guard(len(prologue(t, o)), _PLAIN_DROP),),
            on_pending=(finalize_and_mark_step(m, o), drop_alone),
            locks=(
                advisory_target(t),
                LockTarget(t.qualified, "ACCESS EXCLUSIVE"),
                LockTarget(part, "ACCESS EXCLUSIVE"),
                *neighbour_locks(t),
            ),
        ),
    )


def archive_detach_steps(a: ArchivePartition, m: Marking, o: DdlOptions) -> tuple[Step, ...]:
    """Detach a partition to archive it, marked as retention marks (``m``,
    of kind ARCHIVING: archive_marking); for a leftover of an earlier pgpart
    (its mark in the table's comment), the mark moved to its constraint."""
    if a.detached:
        legacy = not a.note.startswith("{")
        return (relabel_step(m, a.note, o) if legacy else verify_step(m, a.note, o),)
    if a.concurrently and o.version >= 140000:
        detach = replace(
            _detach_concurrently(a.table, a.partition_schema, a.partition, o, f"archive {m.shown}"),
            on_pending=(finalize_and_mark_step(m, o),),
        )
        intent = replace(intent_step(m, o), on_pending=(finalize_and_mark_step(m, o),))
        return (intent, detach, claim_step(m, o))
    return (detach_and_mark_step(m, o, neighbour_locks(a.table)),)


def archive_drop_step(a: ArchivePartition, m: Marking, o: DdlOptions) -> Step:
    """The archived table's DROP, while it is still the table pgpart detached
    (or, a leftover, verified) with that mark."""
    expect = (m.claim, a.note) if a.detached and a.note.startswith("{") else (m.claim,)
    return drop_marked_step(a.table, a.partition_schema, a.partition, a.oid, a.owner, expect, o)


def archive_marking(a: ArchivePartition) -> Marking:
    """The mark of one archive, composed once for all its steps."""
    assert a.upper is not None  # planned only with known bounds
    return marking(
        a.table, a.partition_schema, a.partition, a.oid, a.owner, a.lower, a.upper, kind_for(True)
    )


def leftover_step(a: DropLeftover, o: DdlOptions) -> Step:
    return drop_marked_step(a.table, a.partition_schema, a.partition, a.oid, a.owner, (a.note,), o)


def unmark(a: UnmarkPartition, o: DdlOptions) -> Step:
    return unmark_step(
        a.table, a.partition_schema, a.partition, a.oid, a.owner, a.note, a.legacy, o
    )


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
_DETACH_OUTCOMES = outcomes(gone=S, detached=S, other_parent=F, pending=P, attached=G)
_FINALIZE_OUTCOMES = outcomes(gone=S, detached=S, other_parent=F, pending=G, attached=S)
_PLAIN_DROP = verdicts(gone=S, detached=S, pending=P, attached=G)
del S, G, F, P
