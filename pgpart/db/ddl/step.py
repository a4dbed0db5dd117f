"""What every statement builder of pgpart.db.ddl produces: a Step (the
statements of one short transaction, or of none for what cannot run in
one), the guards that decide whether it goes on, the locks it may wait
for, the options they are built with; and a step as the text the dry run
prints. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from enum import Enum

from psycopg import sql

from pgpart.core.record import record

# What an unknown server version is assumed to be (the dry run without a server).
ASSUMED_VERSION = 170000


class Verdict(str, Enum):
    GO = "go"
    SKIP = "skip"  # nothing to do any more
    FAIL = "fail"
    PENDING = "pending"  # a concurrent detach is half done: run Step.on_pending instead


@record
class Outcome:
    state: str
    verdict: Verdict
    message: str  # may hold "{detail}", filled from the guard's second column


@record
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


@record
class LockTarget:
    """A lock a step may wait for: named in lock-timeout messages."""

    relation: str  # display name, e.g. public.messages
    mode: str  # as LOCK TABLE spells it, e.g. "SHARE UPDATE EXCLUSIVE"
    advisory_key: int | None = None  # set for pgpart's advisory lock
    partitions: bool = False  # the lock is on each partition of ``relation`` (ANALYZE's sample)


@record
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


class LockWait(sql.Composed):
    """``SET LOCAL lock_timeout``: how long each lock the rest of the
    transaction asks for may be waited for (``ms``). A type of its own, so
    that ``probing`` finds it in any step."""

    def __init__(self, ms: int) -> None:
        super().__init__([sql.SQL("SET LOCAL lock_timeout = "), sql.Literal(f"{ms}ms")])
        self.ms = ms


def probing(step: Step, brief_ms: int) -> Step:
    """``step`` as an early attempt sends it: every lock waited for
    ``brief_ms`` at most. A lock request that waits stops the sessions
    queued behind it, and the locks the step already holds stop others (the
    settle's SHARE ROW EXCLUSIVE, every writer of the table): a brief wait
    still lets the transactions that end soon through, ahead of those that
    come after, and an attempt a long one stops rolls back soon, to spend
    its backoff holding nothing (pgpart.db.retry)."""
    stmts = tuple(
        LockWait(brief_ms) if isinstance(s, LockWait) and s.ms > brief_ms else s
        for s in step.statements
    )
    return step if stmts == step.statements else replace(step, statements=stmts)


@record
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


def outcomes(**verdicts: Verdict) -> tuple[Outcome, ...]:
    messages = {
        "gone": "{detail} does not exist (already dropped)",
        "detached": "{detail} is no longer a partition",
        "other_parent": "{detail} is a partition of another table",
        "pending": "{detail} is pending a concurrent detach",
        "attached": "{detail} is still attached",
    }
    return tuple(Outcome(state, v, messages[state]) for state, v in verdicts.items())
