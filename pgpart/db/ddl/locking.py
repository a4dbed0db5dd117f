"""The locks every step takes first: bounded waits (lock_timeout,
statement_timeout), pgpart's advisory lock per parent table, the role that
may change what the step changes; and the locks a step may wait for on
the tables around the parent.

https://www.postgresql.org/docs/current/explicit-locking.html (conflict table)
"""

from __future__ import annotations

from psycopg import sql

from pgpart.core.plan import TableRef
from pgpart.db.ddl.step import DdlOptions, LockTarget, LockWait

# High 32 bits of every pgpart advisory lock key ('pgpt'); the low 32 bits are
# the parent's oid. pg_locks shows them as classid / objid (objsubid 1).
ADVISORY_CLASS = 0x70677074


def advisory_key(table: TableRef) -> int:
    return (ADVISORY_CLASS << 32) | table.oid


def prologue(t: TableRef, o: DdlOptions) -> tuple[sql.Composable, ...]:
    """Bounded waits, then pgpart's per-parent lock.

    The advisory lock is transaction-scoped, so it works behind a transaction
    pooler and can never be left behind; waiting for it, like for any
    heavyweight lock, is cut short by lock_timeout.
    https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
    """
    return (
        *limits(o),
        sql.SQL("SELECT pg_catalog.pg_advisory_xact_lock({})").format(sql.Literal(advisory_key(t))),
    )


def limits(o: DdlOptions) -> tuple[sql.Composable, ...]:
    """The transaction's bounded waits: each lock (retry shortens it for
    early attempts) and each statement."""
    return (
        LockWait(o.lock_timeout_ms),
        sql.SQL("SET LOCAL statement_timeout = {}").format(
            sql.Literal(f"{o.statement_timeout_ms}ms")
        ),
    )


def as_owner(t: TableRef, *, local: bool) -> sql.Composed:
    return as_role(t.owner, local=local)


def as_role(owner: str, *, local: bool) -> sql.Composed:
    """Become ``owner`` unless the current role already holds its privileges:
    DETACH needs the parent's ownership and DROP the partition's, which a
    NOINHERIT member of the owner role only has after SET ROLE (SET ROLE is
    checked against the login role, so pgpart can switch between owners). A
    superuser, or an inheriting member, keeps its own rights.
    https://www.postgresql.org/docs/current/sql-set-role.html
    """
    return sql.SQL(
        "SELECT pg_catalog.set_config('role', {owner}, {local})"
        " WHERE NOT pg_catalog.pg_has_role(current_user, {owner}, 'USAGE')"
    ).format(owner=sql.Literal(owner), local=sql.Literal(local))


def advisory_target(t: TableRef) -> LockTarget:
    return LockTarget(t.qualified, "EXCLUSIVE", advisory_key=advisory_key(t))


def neighbour_locks(t: TableRef) -> list[LockTarget]:
    """ATTACH and DETACH also take SHARE ROW EXCLUSIVE on the tables on
    either side of the parent's foreign keys (to add or remove the cloned
    constraint and its triggers): a lock wait may be on one of those.
    https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION
    """
    return [LockTarget(rel, "SHARE ROW EXCLUSIVE") for rel in t.facts.fk_neighbours]
