"""After pg_restore: the restored table's parent, the mark and the ATTACH
that make it a partition again (pgpart.db.ddl.restore's steps, run as every
action's are: bounded lock waits, retried within the table's retry_for),
and pgpart's own short reads of it (as the parent's owner where the login
role must SET ROLE to act as it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.db.ddl.restore import Mark, Parent, attach_step, mark_step
from pgpart.db.ddl.step import DdlOptions
from pgpart.db.results import ActionFailed
from pgpart.db.retry import run_step
from pgpart.errors import primary_message

if TYPE_CHECKING:
    import psycopg

    from pgpart.core.policy import Execution
    from pgpart.db.archive.manifest import Manifest

Log = Callable[[str], None]

__all__ = ["Log", "Parent", "attach", "find_parent", "in_own_transaction", "mark"]


def find_parent(
    conn: psycopg.Connection[Any], schema: str | None, name: str | None
) -> Parent | None:
    """The partitioned table the archive was detached from, if it is there."""
    if schema is None or name is None:
        return None
    # SET ROLE needs membership; PostgreSQL 16 split it out as the SET option.
    option = "SET" if conn.info.server_version >= 160000 else "MEMBER"
    row = conn.execute(
        "SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner),"
        " c.relowner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)"
        " AND pg_catalog.pg_has_role(current_user, c.relowner, %(option)s),"
        " dn.nspname, d.relname"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = c.oid"
        " LEFT JOIN pg_catalog.pg_class d ON d.oid = pt.partdefid"
        " LEFT JOIN pg_catalog.pg_namespace dn ON dn.oid = d.relnamespace"
        " WHERE n.nspname = %(schema)s AND c.relname = %(name)s AND c.relkind = 'p'",
        {"schema": schema, "name": name, "option": option},
    ).fetchone()
    if row is None:
        return None
    default = display_name(str(row[5]), str(row[6])) if row[6] else None
    return Parent(int(row[0]), str(row[1]), str(row[2]), str(row[3]), bool(row[4]), default)


def in_own_transaction(
    conn: psycopg.Connection[Any],
    statements: Sequence[sql.Composed],
    role: str | None,
    log: Log | None,
) -> tuple[Any, ...] | None:
    """``statements`` in one transaction, as ``role`` when given; the first
    row of the last one that returns rows."""
    last = None
    with conn.transaction():
        if role:
            conn.execute("SELECT pg_catalog.set_config('role', %s, true)", (role,))
        for stmt in statements:
            if log:
                log(stmt.as_string(None))
            cur = conn.execute(stmt)
            if cur.description is not None:
                last = cur.fetchone()
    return last


def _options(execution: Execution, conn: psycopg.Connection[Any]) -> DdlOptions:
    return DdlOptions(
        lock_timeout_ms=execution.lock_timeout_ms,
        statement_timeout_ms=execution.statement_timeout_ms,
        server_version_num=conn.info.server_version,
    )


def mark(
    conn: psycopg.Connection[Any],
    execution: Execution,
    schema: str,
    name: str,
    kept: Mark,
    role: str | None,
    log: Log | None,
) -> None:
    """Mark the restored table as kept; raises ActionFailed when its lock
    waits outlast retry_for, psycopg.Error for any other error."""
    step = mark_step(schema, name, kept, role, _options(execution, conn))
    run_step(conn, step, execution.retry_for_s, log)


def attach(
    conn: psycopg.Connection[Any],
    execution: Execution,
    schema: str,
    name: str,
    m: Manifest,
    parent: Parent | None,
    log: Log | None,
) -> str | None:
    """Attach the restored table; None when done, else why not (it stays a
    plain table, kept until its date all the same)."""
    import psycopg

    if parent is None:
        return "its parent table no longer exists (or is not partitioned)"
    if not m.from_bound or not m.to_bound:
        return "the archive does not record its bounds"
    role = parent.owner if parent.may_become else None
    bounds = (m.from_bound, m.to_bound)
    step = attach_step(parent, schema, name, bounds, role, _options(execution, conn))
    try:
        run_step(conn, step, execution.retry_for_s, log)
    except ActionFailed as exc:  # the lock waits outlasted retry_for: who holds it
        return exc.failure.message
    except psycopg.Error as exc:
        return _why(exc)
    return None


def _why(exc: Exception) -> str:
    from psycopg import errors

    primary = primary_message(exc)
    if isinstance(exc, errors.InvalidObjectDefinition):
        return f"its range is taken by another partition ({primary})"
    if isinstance(exc, errors.CheckViolation):
        return f"the DEFAULT partition holds rows of its range ({primary})"
    return primary
