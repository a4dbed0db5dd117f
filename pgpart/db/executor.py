"""Apply planned actions: short transactions, bounded lock waits, retries.

Each action runs as the steps ``pgpart.db.ddl`` composes for it. A lock that is
not granted within lock_timeout (or a deadlock) rolls the step back; the step
is retried with exponential backoff and full jitter until the action's time
budget is spent, then the action fails naming the lock and who holds it.

After an action fails, the later actions of the same table and the same kind
(creation, or retention: drop/detach/finalize) are not attempted: they would
meet the same lock or privilege problem, and creating later partitions past a
failed one would leave a gap in the middle of the table. Creation and
retention stay independent of each other, and other tables are unaffected.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.plan import Action, ArchivePartition, CreatePartition
from pgpart.db.connect import connect, scrub
from pgpart.db.ddl import (
    DdlOptions,
    Guard,
    Step,
    Verdict,
    render_sql,
    script,
    steps_for,
)
from pgpart.db.ddl_create import columns_query, conflict_checks
from pgpart.db.diagnosis import (
    Blocker,
    find_blocker,
    lock_message,
    overlapping,
    privilege_hint,
)
from pgpart.errors import ConnectError, PgpartError, primary_message

if TYPE_CHECKING:
    import psycopg

BACKOFF_START_S = 0.05
BACKOFF_CAP_S = 2.0


@dataclass(frozen=True, slots=True)
class ExecOptions:
    ddl: DdlOptions
    retry_for_s: float = 30.0  # time budget per action for retrying lock timeouts
    dry_run: bool = False
    log: Callable[[str], None] | None = None  # each statement sent, rendered
    progress: Callable[[Progress], None] | None = None  # lock waits, rows moved, results


@dataclass(frozen=True, slots=True)
class Progress:
    """What a long action is doing, for a progress display (``ExecOptions.progress``).

    kind "started": the action begins; "lock_wait": a lock was not granted
    (``relation``, ``holder``, ``attempt``);
    "rows_moved": ``rows`` moved out of DEFAULT so far in this attempt;
    "finished": the action's ``result`` (also when it failed or was not attempted).
    """

    kind: str
    action: Action
    relation: str | None = None
    holder: str | None = None
    attempt: int = 0
    rows: int = 0
    result: ActionResult | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: Action
    done: bool  # the action's end state holds (also when skipped)
    skipped: bool  # nothing to do any more (e.g. another pgpart created it meanwhile)
    error: str | None  # one line, what and where (failure.message)
    sql: tuple[str, ...]  # each step's statements as sent in its last attempt
    attempts: int
    seconds: float
    failure: Failure | None = None
    rows_moved: int = 0  # rows moved out of DEFAULT by the committed attempt


class FailureKind(str, Enum):
    LOCK = "lock"  # a lock (or deadlock) not resolved within the retry budget
    CONNECTION = "connection"  # no connection, lost or not regained
    PRIVILEGE = "privilege"  # SQLSTATE 42501
    REFUSED = "refused"  # a guard found the catalog not as planned
    SERVER = "server"  # any other error the server raised
    NOT_ATTEMPTED = "not_attempted"  # an earlier action of its kind on the table failed
    ARCHIVE = "archive"  # pg_dump, its verification, archive_dir or archive_command

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an action failed: classified from the SQLSTATE and the catalog."""

    kind: FailureKind
    message: str  # one line, what and where
    sqlstate: str | None = None
    relation: str | None = None  # the relation waited for, when known


def execute(
    dsn: str | None,
    actions: Sequence[Action],
    options: ExecOptions,
    *,
    lock_timeouts_ms: Mapping[int, int] | None = None,
) -> list[ActionResult]:
    """Run ``actions`` in order; one result per action, never an exception
    for an expected failure (lock timeout, privilege, lost connection)."""
    session = _Session(dsn)
    failed: dict[tuple[int, str], Failure] = {}
    results: list[ActionResult] = []
    try:
        for action in actions:
            group = (action.table.oid, _group(action))
            if session.failure is not None or group in failed:
                why = (
                    Failure(FailureKind.CONNECTION, session.failure)
                    if session.failure is not None
                    else failed[group]
                )
                result = _not_attempted(action, why)
                results.append(result)
                if options.progress is not None:
                    options.progress(Progress("finished", action, result=result))
                continue
            ddl = options.ddl
            if lock_timeouts_ms and action.table.oid in lock_timeouts_ms:
                ddl = replace(ddl, lock_timeout_ms=lock_timeouts_ms[action.table.oid])
            run = _ActionRun(session, action, replace(options, ddl=ddl))
            # An archive is not held: its dump may take minutes, and Ctrl-C at
            # any point leaves the rows in the (marked) detached table.
            held_back = not isinstance(action, (CreatePartition, ArchivePartition))
            with _HeldInterrupt(held_back) as held:
                if options.progress is not None:
                    options.progress(Progress("started", action))
                run.held = held
                result = run.run()
            if result.error is not None:
                failed[group] = Failure(
                    FailureKind.NOT_ATTEMPTED,
                    f"{NOT_ATTEMPTED}an earlier {group[1]} action"
                    f" on {action.table.qualified} failed",
                )
            results.append(result)
            if options.progress is not None:
                options.progress(Progress("finished", action, result=result))
            if held.pending:
                raise KeyboardInterrupt  # held back until the action was whole
    finally:
        session.close()
    return results


# How the error of an action skipped after an earlier one failed begins.
NOT_ATTEMPTED = "not attempted: "


def _group(action: Action) -> str:
    return "create" if isinstance(action, CreatePartition) else "retention"


def _not_attempted(action: Action, why: Failure) -> ActionResult:
    return ActionResult(action, False, False, why.message, (), 0, 0.0, why)


class _HeldInterrupt:
    """Ctrl-C held back while a retention action runs: it is not one
    transaction (DETACH ... CONCURRENTLY commits on its own, then DROP), and
    interrupted in between it would leave a partition pending detach or
    detached and not dropped. The interrupt is raised once the action is
    over, or at once while the action still waits for its first lock (then
    nothing of it was done). Creations are single transactions: Ctrl-C rolls
    them back, so they are not held. Only the main thread can handle signals."""

    def __init__(self, active: bool) -> None:
        self.active = active and threading.current_thread() is threading.main_thread()
        self.pending = False
        self._previous: Any = None

    def __enter__(self) -> _HeldInterrupt:
        if self.active:
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.pending = True

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.signal(signal.SIGINT, self._previous)


class _Unavailable(Exception):
    """No connection, and no point trying again in this run."""


class _Session:
    """The one connection of a run: opened lazily; after a loss, reopened once."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self.conn: psycopg.Connection[Any] | None = None
        self.failure: str | None = None
        self.lost: str | None = None

    def get(self) -> psycopg.Connection[Any]:
        if self.failure is not None:
            raise _Unavailable(self.failure)
        if self.conn is None:
            try:
                conn = connect(self.dsn)
            except ConnectError as exc:
                reason = str(exc)
                if self.lost is not None:
                    reason = f"lost the connection ({self.lost}) and could not reconnect: {exc}"
                self.failure = reason
                raise _Unavailable(reason) from None
            # Server-side prepared statements break behind transaction poolers.
            conn.prepare_threshold = None
            self.conn = conn
        return self.conn

    def drop(self, reason: str) -> None:
        self.lost = reason
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection
                self.conn.close()
            self.conn = None


class _Failed(Exception):
    def __init__(
        self,
        message: str,
        kind: FailureKind = FailureKind.SERVER,
        sqlstate: str | None = None,
        relation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind, self.sqlstate, self.relation = kind, sqlstate, relation


class _ActionRun:
    def __init__(self, session: _Session, action: Action, options: ExecOptions) -> None:
        self.session = session
        self.action = action
        self.options = options
        self.sent: list[str] = []
        self.attempts = 0
        self.start = time.monotonic()
        self.committing = False  # the current attempt got as far as its COMMIT
        self.moved = 0  # rows moved out of DEFAULT by the current attempt
        self.held: _HeldInterrupt | None = None  # Ctrl-C held back (see _HeldInterrupt)
        self.did_something = False  # a step of this action took effect

    def run(self) -> ActionResult:
        try:
            if isinstance(self.action, ArchivePartition):
                return self._archive()
            if self.options.dry_run:
                steps = self._steps(None)
                return self._result(done=False, sql=script(steps))
            conn = self.session.get()
            done, skipped = self._run_steps(conn, list(self._steps(conn)))
            return self._result(done=done, skipped=skipped)
        except _Unavailable as exc:
            return self._result(failure=Failure(FailureKind.CONNECTION, str(exc)))
        except _Failed as exc:
            message = scrub(exc.message, self.session.dsn)
            return self._result(failure=Failure(exc.kind, message, exc.sqlstate, exc.relation))
        except PgpartError as exc:  # pgpart.db.archive: pg_dump, files, archive_command
            message = scrub(exc.message, self.session.dsn)
            return self._result(failure=Failure(FailureKind.ARCHIVE, message))

    def _archive(self) -> ActionResult:
        """Detach, dump, verify, send, drop: pgpart.db.archive runs the steps here."""
        from pgpart.db.archive import QueryFailed, run_archive

        assert isinstance(self.action, ArchivePartition)
        conn = self.session.get()
        ddl = self.options.ddl
        if ddl.server_version_num is None:
            ddl = replace(ddl, server_version_num=conn.info.server_version)
        try:
            outcome = run_archive(
                self.action,
                conn,
                ddl,
                dry_run=self.options.dry_run,
                run_steps=lambda steps: self._run_steps(conn, list(steps)),
                note=lambda text: self._log(text, self.sent),
            )
        except QueryFailed as exc:
            raise self._failed(conn, exc.cause, exc.where) from None
        if outcome.script is not None:
            return self._result(sql=outcome.script)
        return self._result(done=True, skipped=outcome.skipped)

    def _result(
        self,
        *,
        done: bool = False,
        skipped: bool = False,
        failure: Failure | None = None,
        sql: tuple[str, ...] | None = None,
    ) -> ActionResult:
        return ActionResult(
            action=self.action,
            done=done,
            skipped=skipped,
            error=failure.message if failure else None,
            sql=tuple(self.sent) if sql is None else sql,
            attempts=self.attempts,
            seconds=time.monotonic() - self.start,
            failure=failure,
            rows_moved=self.moved if done else 0,
        )

    def _steps(self, conn: psycopg.Connection[Any] | None) -> tuple[Step, ...]:
        ddl = self.options.ddl
        needs_columns = (
            isinstance(self.action, CreatePartition)
            and self.action.move_rows
            and self.action.default_partition is not None
        )
        if conn is None and needs_columns:
            # Even the dry run must print a runnable row copy: read the columns.
            conn = self.session.get()
        if conn is not None and ddl.server_version_num is None:
            ddl = replace(ddl, server_version_num=conn.info.server_version)
            self.options = replace(self.options, ddl=ddl)
        columns = None
        if needs_columns and conn is not None:
            columns = self._columns(conn, ddl)
        return steps_for(self.action, ddl, columns=columns)

    def _columns(self, conn: psycopg.Connection[Any], ddl: DdlOptions) -> list[str]:
        import psycopg

        try:
            rows = conn.execute(columns_query(self.action.table, ddl.version)).fetchall()
        except psycopg.Error as exc:
            where = (
                f"reading the columns of {self.action.table.qualified}"
                f" (to move rows into {self.action.partition})"
            )
            raise self._failed(conn, exc, where) from None
        return [str(r[0]) for r in rows]

    def _run_steps(self, conn: psycopg.Connection[Any], queue: list[Step]) -> tuple[bool, bool]:
        """Run the steps; (done, skipped)."""
        did_something = False
        while queue:
            step = queue.pop(0)
            verdict, message = self._with_retries(conn, step)
            if verdict is Verdict.GO:
                did_something = self.did_something = True
            elif verdict is Verdict.SKIP:
                return True, not did_something
            elif verdict is Verdict.PENDING and step.on_pending:
                queue[:0] = step.on_pending
            else:
                raise _Failed(f"{step.description}: {message}", FailureKind.REFUSED)
        return True, False

    def _with_retries(self, conn: psycopg.Connection[Any], step: Step) -> tuple[Verdict, str]:
        import psycopg
        from psycopg import errors

        deadline = self.start + self.options.retry_for_s
        blocker: Blocker | None = None
        waits = 0
        while True:
            self.attempts += 1
            statements: list[str] = []  # only the last attempt's go into the result
            try:
                outcome = self._attempt(conn, step, statements)
                self.sent.extend(statements)
                return outcome
            except (errors.LockNotAvailable, errors.DeadlockDetected) as exc:
                waits += 1
                if self.held is not None and self.held.pending and not self.did_something:
                    raise KeyboardInterrupt from None  # no lock granted: nothing done yet
                blocker = find_blocker(conn, step) or blocker
                if self.options.progress is not None:
                    self.options.progress(self._lock_progress(step, blocker, waits))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.sent.extend(statements)
                    raise _Failed(
                        lock_message(
                            "deadlock"
                            if isinstance(exc, errors.DeadlockDetected)
                            else "lock timeout",
                            step,
                            blocker,
                            waits,
                            time.monotonic() - self.start,
                        ),
                        FailureKind.LOCK,
                        exc.sqlstate,
                        blocker.target.relation if blocker else None,
                    ) from None
                delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_START_S * 2 ** (waits - 1)))
                time.sleep(min(delay, remaining))
            except psycopg.Error as exc:
                self.sent.extend(statements)
                conflict = self._conflict(conn, exc)
                if conflict is not None:
                    return conflict
                raise self._failed(conn, exc, step.description) from None

    def _attempt(
        self, conn: psycopg.Connection[Any], step: Step, out: list[str]
    ) -> tuple[Verdict, str]:
        import psycopg

        self.committing = False
        self.moved = 0
        if not step.in_transaction:
            try:
                return self._statements(conn, step, out)
            finally:
                if not conn.closed and not conn.broken:
                    for stmt in step.cleanup:
                        self._send(conn, stmt, out)
        try:
            verdict, message = self._statements(conn, step, out)
        except psycopg.Error:
            if self._rollback(conn):
                # The error came before COMMIT, which the server then skipped.
                self.committing = False
                self._log("ROLLBACK", out)
            raise
        if verdict is not Verdict.GO:
            self._log("ROLLBACK", out)
            self._rollback(conn)
        return verdict, message

    def _rollback(self, conn: psycopg.Connection[Any]) -> bool:
        """End an open transaction; whether there was one to end."""
        from psycopg import pq

        if conn.closed or conn.broken or conn.info.transaction_status == pq.TransactionStatus.IDLE:
            return False
        with contextlib.suppress(Exception):  # a broken connection is reported by the caller
            conn.execute("ROLLBACK")
        return True

    def _statements(
        self, conn: psycopg.Connection[Any], step: Step, out: list[str]
    ) -> tuple[Verdict, str]:
        """Send the step's statements; the first guard that does not say GO
        stops it (the caller rolls back).

        A transaction goes in as few round trips as its guards allow: BEGIN
        travels with the statements up to the first guard, COMMIT with those
        after the last one, each message one simple query whose results are
        read up to the guard's, the message's last. Statements are still
        logged one by one. Outside a transaction, each statement goes alone: a
        multi-statement message would be an implicit transaction block, which
        DETACH ... CONCURRENTLY refuses.
        """
        guards: dict[int, Guard] = {g.index: g for g in step.guards}
        if not step.in_transaction:
            for i, stmt in enumerate(step.statements):
                cur = self._send(conn, stmt, out)
                verdict, message = self._verdict(cur, guards.get(i))
                if verdict is not Verdict.GO:
                    return verdict, message
            return Verdict.GO, ""
        self._log("BEGIN", out)
        batch = ["BEGIN"]
        for i, stmt in enumerate(step.statements):
            text = render_sql(stmt)  # once: the same text is logged and sent
            self._log(text, out)
            if i in step.repeats:
                if batch:
                    self._send_batch(conn, batch)
                    batch = []
                self._repeat(conn, text, step.repeat_rows)
                continue
            batch.append(text)
            guard = guards.get(i)
            if guard is None:
                continue
            cur = self._send_batch(conn, batch)
            batch = []
            verdict, reason = self._verdict(cur, guard)
            if verdict is not Verdict.GO:
                return verdict, reason
        self._log("COMMIT", out)
        batch.append("COMMIT")
        self.committing = True
        self._send_batch(conn, batch)
        return Verdict.GO, ""

    def _repeat(self, conn: psycopg.Connection[Any], text: str, rows: int) -> None:
        """Send ``text`` until one round affects fewer than ``rows`` rows."""
        query = text.encode(conn.info.encoding)
        while True:
            count = conn.execute(query).rowcount
            self.moved += max(count, 0)
            if self.options.progress is not None and count > 0:
                self.options.progress(Progress("rows_moved", self.action, rows=self.moved))
            if not count >= rows > 0:
                break

    @staticmethod
    def _verdict(cur: psycopg.Cursor[Any], guard: Guard | None) -> tuple[Verdict, str]:
        decided = _decide(cur, guard) if guard is not None else None
        return decided or (Verdict.GO, "")

    def _send_batch(self, conn: psycopg.Connection[Any], stmts: list[str]) -> psycopg.Cursor[Any]:
        cur = conn.execute(";\n".join(stmts).encode(conn.info.encoding))
        while cur.nextset():  # to the last statement's result: the guard's
            pass
        return cur

    def _send(
        self, conn: psycopg.Connection[Any], stmt: sql.Composable, out: list[str]
    ) -> psycopg.Cursor[Any]:
        self._log(render_sql(stmt), out)
        return conn.execute(sql.Composed([stmt]))

    def _log(self, text: str, out: list[str]) -> None:
        out.append(text)
        if self.options.log is not None:
            self.options.log(text)

    # ------------------------------------------------------------ failures

    def _conflict(
        self, conn: psycopg.Connection[Any], exc: Exception
    ) -> tuple[Verdict, str] | None:
        """After CREATE found the name taken (42P07) or ATTACH an overlap
        (42P17): the verdict of ddl.conflict_checks, e.g. a skip when a
        concurrent run made this very partition. None: report the error."""
        import psycopg

        # By SQLSTATE only (servers speak other languages): 42P17 is also
        # raised for other definition errors, for which the checks find nothing.
        if not (
            isinstance(self.action, CreatePartition)
            and isinstance(
                exc, (psycopg.errors.DuplicateTable, psycopg.errors.InvalidObjectDefinition)
            )
            and not conn.closed
            and not conn.broken
        ):
            return None
        try:
            for query, guard in conflict_checks(self.action):
                decided = _decide(conn.execute(query), guard)
                if decided is not None:
                    return decided
        except psycopg.Error:
            return None
        return None

    def _failed(self, conn: psycopg.Connection[Any], exc: Exception, where: str) -> _Failed:
        import psycopg

        lost = conn.closed or conn.broken
        kind = (
            FailureKind.CONNECTION
            if lost
            else FailureKind.PRIVILEGE
            if isinstance(exc, psycopg.errors.InsufficientPrivilege)
            else FailureKind.SERVER
        )
        sqlstate = exc.sqlstate if isinstance(exc, psycopg.Error) else None
        return _Failed(self._error_line(conn, exc, where), kind, sqlstate)

    def _error_line(self, conn: psycopg.Connection[Any], exc: Exception, where: str) -> str:
        import psycopg

        primary = primary_message(exc)
        if conn.closed or conn.broken:
            self.session.drop(primary)
            note = " (it may or may not have committed)" if self.committing else ""
            return f"{where}: lost the connection to the server: {primary}{note}"
        line = f"{where}: {primary}"
        overlap = (
            overlapping(conn, self.action)
            if isinstance(exc, psycopg.errors.InvalidObjectDefinition)
            else None
        )
        if overlap is not None:
            # ATTACH's own overlap check (the create step has no guard up front;
            # ddl.conflict_checks found no partition of exactly these bounds):
            # a partition made since pgpart read the catalog.
            line = (
                f"{where}: the range overlaps partition {overlap}"
                " (made since pgpart read the catalog); nothing was created"
            )
        elif isinstance(exc, psycopg.errors.InsufficientPrivilege):
            line += privilege_hint(conn, self.action)
        elif (
            isinstance(exc, psycopg.errors.CheckViolation)
            and isinstance(self.action, CreatePartition)
            and self.action.default_partition
        ):
            line += " (the default partition holds rows of this range: plan again to move them)"
        return line

    def _lock_progress(self, step: Step, blocker: Blocker | None, waits: int) -> Progress:
        if blocker is None:
            relation = next((t.relation for t in step.locks if t.advisory_key is None), None)
            return Progress("lock_wait", self.action, relation=relation, attempt=waits)
        return Progress(
            "lock_wait",
            self.action,
            relation=blocker.target.relation,
            holder=blocker.text,
            attempt=waits,
        )


def _decide(cur: psycopg.Cursor[Any], guard: Guard) -> tuple[Verdict, str] | None:
    """The guard's verdict on the query's row (state, detail); None: no row."""
    row = cur.fetchone()
    if row is None:
        return None
    return guard.decide(str(row[0]), None if row[1] is None else str(row[1]))
