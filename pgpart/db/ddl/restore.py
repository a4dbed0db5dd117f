"""The steps ``pgpart restore`` takes once pg_restore brought a table back:
mark it as kept until a date, then attach it to its parent. Pure: they run
as every action's steps do (pgpart.db.step_sender), their lock waits
retried within the table's retry_for (pgpart.db.retry), bounded by its
lock_timeout and statement_timeout.

The mark (what it means, and how the planner reads it:
pgpart.core.restore_mark) is a constraint, not the table's comment, which
the archive brought back as it was: ``CHECK (true) NOT VALID`` validates
nothing and scans nothing, and its comment holds the date. A mark the dump
itself carried (the partition had been restored once before, then expired
and was archived again) is replaced.

ATTACH takes SHARE UPDATE EXCLUSIVE on the parent and ACCESS EXCLUSIVE on
the table attached and on the DEFAULT partition (scanned unless its
constraints exclude the range); pgpart's advisory lock on the parent first,
so that no run of pgpart changes its partitions meanwhile.
https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.record import record
from pgpart.core.restore_mark import CONSTRAINT, note
from pgpart.db.ddl.locking import ADVISORY_CLASS, limits
from pgpart.db.ddl.step import DdlOptions, LockTarget, Step


@record
class Parent:
    """The partitioned table an archive was detached from, as it is now."""

    oid: int
    schema: str
    name: str
    owner: str
    may_become: bool  # the login role is not its owner and may SET ROLE to it
    default: str | None = None  # its DEFAULT partition's display name, if it has one

    @property
    def display(self) -> str:
        return display_name(self.schema, self.name)


@record
class Mark:
    source: str  # the manifest's file name
    restored_at: datetime
    until: datetime
    drop_comment: bool  # the table's comment is an older pgpart's mark: cleared


def mark_step(schema: str, name: str, mark: Mark, role: str | None, options: DdlOptions) -> Step:
    """The restored table kept until ``mark.until``, as ``role`` when given."""
    table, constraint = sql.Identifier(schema, name), sql.Identifier(CONSTRAINT)
    text = note(mark.source, mark.restored_at, mark.until)
    statements = [
        *limits(options),
        *_as(role),
        sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(table, constraint),
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (true) NOT VALID").format(
            table, constraint
        ),
        sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
            constraint, table, sql.Literal(text)
        ),
    ]
    if mark.drop_comment:
        statements.append(sql.SQL("COMMENT ON TABLE {} IS NULL").format(table))
    shown = display_name(schema, name)
    return Step(
        statements=tuple(statements),
        in_transaction=True,
        description=f"marking {shown} as kept until {mark.until.isoformat()}",
        locks=(LockTarget(shown, "ACCESS EXCLUSIVE"),),
    )


def attach_step(
    parent: Parent,
    schema: str,
    name: str,
    bounds: tuple[str, str],
    role: str | None,
    options: DdlOptions,
) -> Step:
    """ATTACH the restored table for its recorded bounds (as PostgreSQL reads them)."""
    key = (ADVISORY_CLASS << 32) | parent.oid
    shown = display_name(schema, name)
    locks = [
        LockTarget(parent.display, "EXCLUSIVE", advisory_key=key),
        LockTarget(parent.display, "SHARE UPDATE EXCLUSIVE"),
        LockTarget(shown, "ACCESS EXCLUSIVE"),
    ]
    if parent.default is not None:
        locks.append(LockTarget(parent.default, "ACCESS EXCLUSIVE"))
    return Step(
        statements=(
            *limits(options),
            sql.SQL("SELECT pg_catalog.pg_advisory_xact_lock({})").format(sql.Literal(key)),
            *_as(role),
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(parent.schema, parent.name),
                sql.Identifier(schema, name),
                sql.Literal(bounds[0]),
                sql.Literal(bounds[1]),
            ),
        ),
        in_transaction=True,
        description=f"attaching {shown} to {parent.display}",
        locks=tuple(locks),
    )


def _as(role: str | None) -> tuple[sql.Composed, ...]:
    """The role pg_restore ran as (the parent's owner), when it was not the login role."""
    if role is None:
        return ()
    return (sql.SQL("SELECT pg_catalog.set_config('role', {}, true)").format(sql.Literal(role)),)
