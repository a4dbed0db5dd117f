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
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from psycopg import sql

from pgpart.core.bounds import KeyKind, format_bound
from pgpart.core.plan import (
    Action,
    AnalyzeTable,
    CreatePartition,
    DetachPartition,
    DropLeftover,
    DropPartition,
    FinalizeDetach,
    RefreshSubscription,
    TableRef,
    UnmarkPartition,
)

# High 32 bits of every pgpart advisory lock key ('pgpt'); the low 32 bits are
# the parent's oid. pg_locks shows them as classid / objid (objsubid 1).
ADVISORY_CLASS = 0x70677074
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
    partitions: bool = False  # the lock is on each partition of ``relation`` (ANALYZE's sample)


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
    # Statements whose row count is rows relocated out of DEFAULT.
    counted: tuple[int, ...] = ()
    # DETACH .. CONCURRENTLY: the parent's oid. PostgreSQL lets one partition
    # per table be pending a concurrent detach; another's is waited out.
    detach_parent_oid: int | None = None


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
    from pgpart.db.ddl_create import create_step
    from pgpart.db.ddl_retention import (
        detach_step,
        drop_steps,
        finalize_step,
        leftover_step,
        unmark,
    )
    from pgpart.db.ddl_subscription import refresh_step

    if isinstance(action, CreatePartition):
        return (create_step(action, options, columns),)
    if isinstance(action, DropPartition):
        return drop_steps(action, options)
    if isinstance(action, DetachPartition):
        return (detach_step(action, options),)
    if isinstance(action, FinalizeDetach):
        return (finalize_step(action.table, action.partition_schema, action.partition, options),)
    if isinstance(action, AnalyzeTable):
        from pgpart.db.ddl_analyze import analyze_step

        return (analyze_step(action, options),)
    if isinstance(action, RefreshSubscription):
        return (refresh_step(action, options),)
    if isinstance(action, DropLeftover):
        return (leftover_step(action, options),)
    if isinstance(action, UnmarkPartition):
        return (unmark(action, options),)
    raise TypeError(f"unknown action {action!r}")


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


def outcomes(**verdicts: Verdict) -> tuple[Outcome, ...]:
    messages = {
        "gone": "{detail} does not exist (already dropped)",
        "detached": "{detail} is no longer a partition",
        "other_parent": "{detail} is a partition of another table",
        "pending": "{detail} is pending a concurrent detach",
        "attached": "{detail} is still attached",
    }
    return tuple(Outcome(state, v, messages[state]) for state, v in verdicts.items())


def prologue(t: TableRef, o: DdlOptions) -> tuple[sql.Composed, ...]:
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
        sql.SQL("SELECT pg_catalog.pg_advisory_xact_lock({})").format(sql.Literal(advisory_key(t))),
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


def ident(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def bound_text(value: datetime, kind: KeyKind) -> sql.Literal:
    """A bound as ATTACH's FOR VALUES reads it: a date/time or uuid as a
    quoted literal, an integer epoch as a number."""
    if kind.encoded and kind.sql_type != "uuid":
        return sql.Literal(kind.key_value(value))
    return sql.Literal(format_bound(value, kind))


def bound(value: datetime, kind: KeyKind) -> sql.Composed:
    """A bound as a constant of the key's type (``'...'::timestamptz``,
    ``1764547200000::bigint``, ``'...'::uuid``): compared with the column
    as it is, so the planner prunes by it."""
    return sql.SQL("{}::{}").format(bound_text(value, kind), SQL_TYPES[kind])


def show(value: datetime) -> str:
    return value.isoformat(sep=" ")


SQL_TYPES = {kind: sql.SQL(kind.sql_type) for kind in KeyKind}
# pg_get_expr() prints a range bound as FOR VALUES FROM (x) TO (y), each value
# quoted or MINVALUE/MAXVALUE, in the session's own DateStyle/TimeZone, which
# the cast back reads the same way.
BOUND_RE = "^FOR VALUES FROM [(](.+)[)] TO [(](.+)[)]$"


def neighbour_locks(t: TableRef) -> list[LockTarget]:
    """ATTACH and DETACH also take SHARE ROW EXCLUSIVE on the tables on
    either side of the parent's foreign keys (to add or remove the cloned
    constraint and its triggers): a lock wait may be on one of those.
    https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION
    """
    return [LockTarget(rel, "SHARE ROW EXCLUSIVE") for rel in t.facts.fk_neighbours]
