"""After pg_restore: the restored table's parent, pgpart's own short
transactions on it (as the parent's owner where the login role must SET
ROLE to act as it), and the ATTACH that makes it a partition again."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.db.ddl import ADVISORY_CLASS
from pgpart.errors import primary_message

if TYPE_CHECKING:
    import psycopg

    from pgpart.config import Settings
    from pgpart.db.archive_manifest import Manifest

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Parent:
    oid: int
    schema: str
    name: str
    owner: str
    may_become: bool  # the login role is not its owner and may SET ROLE to it

    @property
    def display(self) -> str:
        return display_name(self.schema, self.name)


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
        " AND pg_catalog.pg_has_role(current_user, c.relowner, %(option)s)"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %(schema)s AND c.relname = %(name)s AND c.relkind = 'p'",
        {"schema": schema, "name": name, "option": option},
    ).fetchone()
    if row is None:
        return None
    return Parent(int(row[0]), str(row[1]), str(row[2]), str(row[3]), bool(row[4]))


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


def attach(
    conn: psycopg.Connection[Any],
    settings: Settings,
    schema: str,
    name: str,
    m: Manifest,
    parent: Parent | None,
    log: Log | None,
) -> str | None:
    """Attach the restored table; None when done, else why not (it stays a
    plain table, kept until its date all the same)."""
    import psycopg
    from psycopg import errors

    if parent is None:
        return "its parent table no longer exists (or is not partitioned)"
    if not m.from_bound or not m.to_bound:
        return "the archive does not record its bounds"
    deadline = time.monotonic() + settings.retry_for.milliseconds() / 1000
    lock_ms = settings.defaults.lock_timeout.milliseconds()
    key = (ADVISORY_CLASS << 32) | parent.oid
    statements = [
        sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{lock_ms}ms")),
        sql.SQL("SELECT pg_catalog.pg_advisory_xact_lock({})").format(sql.Literal(key)),
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(parent.schema, parent.name),
            sql.Identifier(schema, name),
            sql.Literal(m.from_bound),
            sql.Literal(m.to_bound),
        ),
    ]
    role = parent.owner if parent.may_become else None
    attempt = 0
    while True:
        attempt += 1
        try:
            in_own_transaction(conn, statements, role, log)
            return None
        except (errors.LockNotAvailable, errors.DeadlockDetected):
            if time.monotonic() >= deadline:
                return f"lock timeout on {parent.display} after {attempt} attempts"
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
        except psycopg.Error as exc:
            return _why(exc)


def _why(exc: Exception) -> str:
    from psycopg import errors

    primary = primary_message(exc)
    if isinstance(exc, errors.InvalidObjectDefinition):
        return f"its range is taken by another partition ({primary})"
    if isinstance(exc, errors.CheckViolation):
        return f"the DEFAULT partition holds rows of its range ({primary})"
    return primary
