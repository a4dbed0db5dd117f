"""Waiting out the partitions other sessions hold, for create and maintain.

The catalog read never waits: a sibling held in ACCESS EXCLUSIVE (a short
migration, a LOCK TABLE) is left unread and named (pgpart.db.templates).
A writing command that needs it (the newest sibling of a table it must
create partitions for) waits for it as its DDL waits for a lock: attempts
of the table's lock_timeout, an exponential backoff with full jitter in
between, within ``retry_for`` per table (pgpart.db.retry); then reads the
catalog again, so that what it copies is what the migration left. A lock
that outlasts the budget fails that table's creation, naming the relation
and who holds it.

Each attempt asks for ACCESS SHARE on the relation held, as reading its
definition would: pg_relation_size() opens it with that lock and needs no
privilege; the lock is released at once.
https://www.postgresql.org/docs/current/explicit-locking.html
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pgpart.core.locked import Locked
from pgpart.core.plan import Plan, ProblemCode
from pgpart.core.record import record
from pgpart.db.ddl.step import LockTarget
from pgpart.db.diagnosis import find_holder
from pgpart.db.retry import RetryBudget, backoff_delay

if TYPE_CHECKING:
    import psycopg

    from pgpart.core.request import Target
    from pgpart.core.snapshot import PartitionedTable


@record
class ReadWait:
    """One lock wait while reading what new partitions copy (for a progress line)."""

    table: str
    relation: str  # the relation waited for
    holder: str | None  # e.g. 'held by pid 4242 (AccessExclusiveLock): "ALTER ..."'
    attempt: int


OnWait = Callable[[ReadWait], None]


@record
class Waited:
    """A table's waits that outlasted its budget."""

    attempts: int
    seconds: float


class LockWaits:
    """The lock waits of one planning run: a retry budget per table."""

    def __init__(self, conn: psycopg.Connection[Any], on_wait: OnWait | None = None) -> None:
        self.conn = conn
        self.on_wait = on_wait
        self.budgets: dict[int, RetryBudget] = {}
        self.spent: dict[int, Waited] = {}

    def due(self, planned: Plan, targets: Sequence[Target]) -> list[tuple[Target, Locked]]:
        """The tables whose creation the lock on their newest sibling withheld,
        still within their budget."""
        withheld = {
            t.oid
            for t in planned.tables
            if t.blocked and any(p.code is ProblemCode.LOCKED for p in t.problems)
        }
        out = []
        for target in targets:
            table = target.table
            if table is None or table.oid not in withheld or table.oid in self.spent:
                continue
            locked = table.templates.locked
            if locked is not None and locked.newest:
                out.append((target, locked))
        return out

    def wait(self, target: Target, locked: Locked) -> bool:
        """Wait until the relation held is free (True) or the table's budget
        is spent (False)."""
        assert target.table is not None
        oid = target.table.oid
        retry_for_s = target.policy.retry_for.milliseconds() / 1000
        budget = self.budgets.setdefault(oid, RetryBudget(retry_for_s))
        timeout_ms = target.policy.lock_timeout.milliseconds()
        waits = 0
        while True:
            if budget.attempts and budget.remaining() <= 0:
                self.spent[oid] = Waited(budget.attempts, budget.elapsed())
                return False
            budget.attempts += 1
            started = time.monotonic()
            if _granted(self.conn, locked.relation_oid, timeout_ms):
                return True
            budget.spend(time.monotonic() - started)
            waits += 1
            if self.on_wait is not None:
                blocker = find_holder(self.conn, [LockTarget(locked.relation, "ACCESS SHARE")])
                holder = blocker.text if blocker is not None else None
                self.on_wait(ReadWait(target.table.qualified, locked.relation, holder, waits))
            remaining = budget.remaining()
            if remaining > 0:
                pause = min(backoff_delay(waits), remaining)
                time.sleep(pause)
                budget.spend(pause)

    def annotated(self, targets: Sequence[Target]) -> list[Target]:
        """``targets`` whose lock outlasted the budget: their Locked says how long."""
        if not self.spent:
            return list(targets)
        return [self._annotated(t) for t in targets]

    def _annotated(self, target: Target) -> Target:
        table = target.table
        if table is None or table.oid not in self.spent or table.templates.locked is None:
            return target
        waited = self.spent[table.oid]
        locked = replace(table.templates.locked, attempts=waited.attempts, seconds=waited.seconds)
        return replace(target, table=_with_locked(table, locked))


def _with_locked(table: PartitionedTable, locked: Locked) -> PartitionedTable:
    return replace(table, templates=replace(table.templates, locked=locked))


def _granted(conn: psycopg.Connection[Any], oid: int, timeout_ms: int) -> bool:
    """One attempt: ACCESS SHARE on ``oid`` within ``timeout_ms``."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute(
                "SELECT pg_catalog.set_config('lock_timeout', %s, true)", (f"{timeout_ms}ms",)
            )
            conn.execute("SELECT pg_catalog.pg_relation_size(%s::oid::regclass)", (oid,))
    except psycopg.errors.LockNotAvailable:
        return False
    return True
