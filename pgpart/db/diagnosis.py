"""Why an action failed, from the catalog: who holds the lock pgpart waited
for, which partition overlaps, what membership the login role lacks; and
the Failure record a server error becomes.

Diagnosis only: every query here is best effort after a failure (the
message does without it when it fails), and none reads the server's words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgpart.core.identifiers import display_name, display_part, parse_qualified_name
from pgpart.core.plan import Action, CreatePartition
from pgpart.core.record import record
from pgpart.db.ddl.create import overlap_query
from pgpart.db.ddl.step import LockTarget, Step
from pgpart.db.results import Failure, FailureKind
from pgpart.errors import primary_message

if TYPE_CHECKING:
    import psycopg

QUERY_CHARS = 60


@record
class Blocker:
    target: LockTarget
    text: str  # e.g. 'held by pid 4242 (AccessShareLock): "SELECT ..."'


def server_failure(
    conn: psycopg.Connection[Any],
    exc: Exception,
    where: str,
    action: Action,
    *,
    committing: bool,
) -> Failure:
    """The failure ``exc`` raised while ``where``: classified by SQLSTATE and
    by the connection's state, worded with what the catalog tells.
    ``committing``: the attempt had sent its COMMIT."""
    import psycopg

    primary = primary_message(exc)
    sqlstate = exc.sqlstate if isinstance(exc, psycopg.Error) else None
    if conn.closed or conn.broken:
        note = " (it may or may not have committed)" if committing else ""
        line = f"{where}: lost the connection to the server: {primary}{note}"
        return Failure(FailureKind.CONNECTION, line, sqlstate)
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        line = f"{where}: {primary}{privilege_hint(conn, action)}"
        return Failure(FailureKind.PRIVILEGE, line, sqlstate)
    line = f"{where}: {primary}"
    overlap = (
        overlapping(conn, action)
        if isinstance(exc, psycopg.errors.InvalidObjectDefinition)
        else None
    )
    if overlap is not None:
        # ATTACH's own overlap check (the create step has no guard up front;
        # ddl.create.conflict_checks found no partition of exactly these bounds):
        # a partition made since pgpart read the catalog.
        line = (
            f"{where}: the range overlaps partition {overlap}"
            " (made since pgpart read the catalog); nothing was created"
        )
    elif refused_rows(exc, action):
        assert isinstance(action, CreatePartition)
        default = display_name(*action.default_at)
        line += (
            f" (a row of this range in the DEFAULT {default} breaks a constraint the new"
            " partition copies from its siblings; nothing was moved: correct or delete such"
            " rows, or drop that constraint from the partitions, then run again)"
        )
        return Failure(FailureKind.DATA, line, sqlstate)
    elif (
        isinstance(exc, psycopg.errors.CheckViolation)
        and isinstance(action, CreatePartition)
        and action.default_partition
    ):
        line += " (the default partition holds rows of this range: plan again to move them)"
    return Failure(FailureKind.SERVER, line, sqlstate)


def refused_rows(exc: BaseException, action: Action) -> bool:
    """A row moved out of the DEFAULT broke an integrity constraint (SQLSTATE
    class 23) of the relation it went into: the new partition's own NOT NULL,
    CHECK, unique or foreign key, which the DEFAULT lacks. (A CHECK violation
    reported on the DEFAULT itself is ATTACH finding rows of the range there.)"""
    import psycopg

    if not (isinstance(exc, psycopg.errors.IntegrityError) and isinstance(action, CreatePartition)):
        return False
    return action.default_partition is not None and (
        exc.diag.table_name != action.default_partition
    )


def overlapping(conn: psycopg.Connection[Any], action: Action) -> str | None:
    """A partition whose range overlaps the one being created, from the catalog."""
    import psycopg

    if not isinstance(action, CreatePartition):
        return None
    try:
        row = conn.execute(overlap_query(action)).fetchone()
    except psycopg.Error:
        return None
    return None if row is None else str(row[0])


def privilege_hint(conn: psycopg.Connection[Any], action: Action) -> str:
    """What the login role lacks, from the catalog: pgpart acts as the
    owner of what it changes, which needs membership of that role."""
    import psycopg

    owners = [action.table.owner]
    extra = getattr(action, "owner", None)
    if isinstance(extra, str) and extra not in owners:
        owners.append(extra)
    try:
        rows = conn.execute(
            "SELECT r, pg_catalog.pg_has_role(session_user, r, 'MEMBER')"
            " FROM pg_catalog.unnest(%s::text[]) AS r",
            (owners,),
        ).fetchall()
    except psycopg.Error:
        return ""
    missing = [str(r) for r, member in rows if not member]
    if not missing:
        return ""
    return (
        "; pgpart changes partitions as their owner: the login role must be"
        f' a member of role "{missing[0]}"'
    )


def find_blocker(conn: psycopg.Connection[Any], step: Step) -> Blocker | None:
    """Who holds (or waits ahead for) a lock conflicting with one the step
    needs, looking at its locks in the order it takes them."""
    return find_holder(conn, step.locks)


def find_holder(conn: psycopg.Connection[Any], targets: Sequence[LockTarget]) -> Blocker | None:
    """Who holds (or waits ahead for) a lock conflicting with one of
    ``targets``, looked at in their order."""
    import psycopg

    try:
        for target in targets:
            modes = list(_CONFLICTS[_MODE_NAMES[target.mode]])
            args: dict[str, Any]
            if target.partitions:
                found = _partition_holder(conn, target, modes)
                if found is not None:
                    return found
                continue
            if target.advisory_key is not None:
                query, args = (
                    _ADVISORY_HOLDERS,
                    {"hi": target.advisory_key >> 32, "lo": target.advisory_key & 0xFFFFFFFF},
                )
            else:
                query, args = _RELATION_HOLDERS, {"rel": regclass_text(target.relation)}
            rows = conn.execute(query, {**args, "modes": modes}).fetchall()
            if rows:
                return Blocker(target, "; ".join(_holder(*r) for r in rows))
    except psycopg.Error:
        return None  # diagnosis only: the failure message does without it
    return None


def _partition_holder(
    conn: psycopg.Connection[Any], target: LockTarget, modes: list[str]
) -> Blocker | None:
    """Who holds a lock conflicting with ``target`` on one of the partitions
    of its relation, named by that partition."""
    from dataclasses import replace

    rows = conn.execute(_PARTITION_HOLDERS, {"rel": target.relation, "modes": modes}).fetchall()
    if not rows:
        return None
    held = replace(target, relation=display_name(rows[0][0], rows[0][1]), partitions=False)
    return Blocker(held, "; ".join(_holder(*r[2:]) for r in rows if r[:2] == rows[0][:2]))


_PARTITION_HOLDERS = """
SELECT n.nspname::text, c.relname::text, l.pid, l.mode, l.granted, a.query,
       a.usesysid IS NULL OR pg_catalog.pg_has_role(a.usesysid, 'USAGE')
       OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'), session_user::text
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_locks l ON l.locktype = 'relation' AND l.relation = i.inhrelid
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE i.inhparent = pg_catalog.to_regclass(%(rel)s) AND l.mode = ANY(%(modes)s)
   AND l.pid <> pg_catalog.pg_backend_pid()
   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                      WHERE d.datname = pg_catalog.current_database())
 ORDER BY l.granted DESC, c.relname, l.pid LIMIT 3
"""


@record
class PendingDetach:
    """Another partition of the table, pending a concurrent detach."""

    partition: str  # display names
    parent: str


_PENDING_DETACH = """
SELECT n.nspname::text, c.relname::text, pn.nspname::text, p.relname::text
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
WHERE i.inhparent = %(parent)s AND i.inhdetachpending
"""


def pending_detach(conn: psycopg.Connection[Any], step: Step) -> PendingDetach | None:
    """Why a concurrent detach met SQLSTATE 55000, if it is PostgreSQL's
    one-pending-detach-per-table rule: the partition pending, from the
    catalog (pg_inherits.inhdetachpending), never from the message text."""
    import psycopg

    if step.detach_parent_oid is None:
        return None
    try:
        row = conn.execute(_PENDING_DETACH, {"parent": step.detach_parent_oid}).fetchone()
    except psycopg.Error:
        return None  # diagnosis only: the error stands as it is
    if row is None:
        return None
    return PendingDetach(display_name(row[0], row[1]), display_name(row[2], row[3]))


def pending_detach_message(step: Step, pending: PendingDetach, waits: int, elapsed: float) -> str:
    tries = f"after {waits} attempt{'s' if waits != 1 else ''} over {elapsed:.1f} s"
    return (
        f"{step.description}: {pending.partition} is pending detach from {pending.parent}"
        f" {tries} (PostgreSQL detaches one partition of a table concurrently at a time);"
        " if no session is detaching it any more, complete it with ALTER TABLE"
        f" {pending.parent} DETACH PARTITION {pending.partition} FINALIZE"
        " (pgpart maintain does)"
    )


def lock_message(what: str, step: Step, blocker: Blocker | None, waits: int, elapsed: float) -> str:
    """'lock timeout on REL after N attempts over S s (waiting for MODE; held by ...)'."""
    tries = f"after {waits} attempt{'s' if waits != 1 else ''} over {elapsed:.1f} s"
    if blocker is None:
        relation = next((t.relation for t in step.locks if t.advisory_key is None), "?")
        return (
            f"{what} on {relation} {tries} ({step.description};"
            " no conflicting lock visible any more)"
        )
    t = blocker.target
    lock = "pgpart's advisory lock" if t.advisory_key is not None else t.mode
    return f"{what} on {t.relation} {tries} (waiting for {lock}; {blocker.text})"


def regclass_text(display: str) -> str:
    """A display name as to_regclass reads it (which knows no U&"..." form)."""
    try:
        return parse_qualified_name(display).quoted()
    except ValueError:
        return display


def _holder(
    pid: int, mode: str, granted: bool, query: str | None, visible: bool | None, login: str
) -> str:
    state = "held" if granted else "queued ahead"
    if visible is False:
        # pg_stat_activity shows another role's query only to a member of
        # that role or of pg_read_all_stats.
        # https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW
        return (
            f"{state} by pid {pid} ({mode}), whose query pgpart's role may not see:"
            f" GRANT pg_read_all_stats TO {display_part(login)} shows it"
        )
    text = " ".join((query or "").split())
    if len(text) > QUERY_CHARS:
        text = text[: QUERY_CHARS - 3] + "..."
    return f'{state} by pid {pid} ({mode}): "{text}"'


_HOLDERS = (
    "SELECT l.pid, l.mode, l.granted, a.query,"
    " a.usesysid IS NULL OR pg_catalog.pg_has_role(a.usesysid, 'USAGE')"
    " OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'), session_user::text"
    " FROM pg_catalog.pg_locks l"
    " LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.pid <> pg_catalog.pg_backend_pid() AND l.mode = ANY(%(modes)s) AND "
)
_ORDER = " ORDER BY l.granted DESC, l.pid LIMIT 3"
_ADVISORY_HOLDERS = (
    _HOLDERS + "l.locktype = 'advisory' AND l.classid = %(hi)s::bigint::oid"
    " AND l.objid = %(lo)s::bigint::oid AND l.objsubid = 1" + _ORDER
)
_RELATION_HOLDERS = (
    _HOLDERS + "l.locktype = 'relation' AND l.relation = pg_catalog.to_regclass(%(rel)s)"
    " AND l.database = (SELECT oid FROM pg_catalog.pg_database"
    " WHERE datname = pg_catalog.current_database())" + _ORDER
)

_MODE_NAMES = {
    "ACCESS SHARE": "AccessShareLock",
    "ROW SHARE": "RowShareLock",
    "ROW EXCLUSIVE": "RowExclusiveLock",
    "SHARE UPDATE EXCLUSIVE": "ShareUpdateExclusiveLock",
    "SHARE": "ShareLock",
    "SHARE ROW EXCLUSIVE": "ShareRowExclusiveLock",
    "EXCLUSIVE": "ExclusiveLock",
    "ACCESS EXCLUSIVE": "AccessExclusiveLock",
}
_ALL = tuple(_MODE_NAMES.values())
# https://www.postgresql.org/docs/current/explicit-locking.html#TABLE-LOCK-COMPATIBILITY
_CONFLICTS: dict[str, tuple[str, ...]] = {
    "AccessShareLock": _ALL[7:],
    "RowShareLock": _ALL[6:],
    "RowExclusiveLock": _ALL[4:],
    "ShareUpdateExclusiveLock": _ALL[3:],
    "ShareLock": (_ALL[2], _ALL[3], *_ALL[5:]),
    "ShareRowExclusiveLock": _ALL[2:],
    "ExclusiveLock": _ALL[1:],
    "AccessExclusiveLock": _ALL,
}
