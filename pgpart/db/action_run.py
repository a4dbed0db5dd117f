"""Running one action: its steps in order, each retried on lock waits, the
guards' verdicts (skip, refuse, pending), the archive's own sequence, and
the result it comes to. The dry run renders the same steps instead."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pgpart.core.identifiers import display_part
from pgpart.core.plan import Action, ArchivePartition, CreatePartition
from pgpart.core.relocation import Method, seconds_text
from pgpart.db.connect import scrub
from pgpart.db.ddl.actions import steps_for
from pgpart.db.ddl.create import columns_query, conflict_checks
from pgpart.db.ddl.settle import relocates
from pgpart.db.ddl.step import DdlOptions, Step, Verdict, script
from pgpart.db.diagnosis import Blocker, server_failure
from pgpart.db.held_interrupt import HeldInterrupt
from pgpart.db.results import (
    ActionFailed,
    ActionResult,
    Failure,
    FailureKind,
    Outcome,
    Progress,
    ProgressKind,
)
from pgpart.db.retry import RetryBudget, until_granted
from pgpart.db.session import Session, Unavailable
from pgpart.db.step_sender import StepSender, decide
from pgpart.errors import PgpartError, primary_message

if TYPE_CHECKING:
    import psycopg

    from pgpart.db.results import ActionOptions


class ActionRun:
    def __init__(
        self,
        session: Session,
        action: Action,
        options: ActionOptions,
        held: HeldInterrupt,
    ) -> None:
        self.session = session
        self.action = action
        self.options = options
        self.held = held  # Ctrl-C held back (see HeldInterrupt)
        self.sent: list[str] = []
        self.budget = RetryBudget(options.retry_for_s)
        self.started = time.monotonic()  # the result's seconds: the whole action's
        self.sender = StepSender(options.log, self._rows_moved)
        self.did_something = False  # a step of this action took effect
        self.drained = 0  # rows a drain moved out of DEFAULT (over all its steps)

    def run(self) -> ActionResult:
        try:
            if isinstance(self.action, ArchivePartition):
                return self._archive()
            if _drains(self.action):
                return self._drain()
            self._announce()
            if self.options.dry_run:
                steps = self._steps(None)
                return self._result(done=False, sql=script(steps))
            conn = self.session.get()
            done, skipped = self._run_steps(conn, list(self._steps(conn)))
            return self._result(done=done, skipped=skipped)
        except Unavailable as exc:
            return self._result(failure=Failure(FailureKind.CONNECTION, str(exc)))
        except ActionFailed as exc:
            message = scrub(exc.failure.message, self.session.dsn)
            return self._result(failure=replace(exc.failure, message=message))
        except PgpartError as exc:  # pgpart.db.archive: pg_dump, files, archive_command
            message = scrub(exc.message, self.session.dsn)
            return self._result(failure=Failure(FailureKind.ARCHIVE, message))

    def _archive(self) -> ActionResult:
        """Detach, dump, verify, send, drop: pgpart.db.archive runs the steps here."""
        from pgpart.db.archive.run import QueryFailed, run_archive

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
                note=lambda text: self.sender.log(text, self.sent),
            )
        except QueryFailed as exc:
            raise self._failed(conn, exc.cause, exc.where) from None
        if outcome.script is not None:
            return self._result(sql=outcome.script)
        return self._result(done=True, skipped=outcome.skipped)

    def _drain(self) -> ActionResult:
        """A drain runs its own sequence of steps (pgpart.db.relocate_run)."""
        from pgpart.db.relocate_run import Drain, drain_script

        assert isinstance(self.action, CreatePartition)
        conn = self.session.get()
        ddl = self.options.ddl
        if ddl.server_version_num is None:
            ddl = replace(ddl, server_version_num=conn.info.server_version)
            self.options = replace(self.options, ddl=ddl)
        columns = self._columns(conn, ddl)
        if self.options.dry_run:
            return self._result(sql=drain_script(self.action, ddl, columns))
        drain = Drain(self.action, ddl, columns, self._drain_step, self.options.progress)
        try:
            drain.run(conn)
        finally:
            self.drained = drain.moved
        return self._result(done=True)

    def _drain_step(self, step: Step) -> int | None:
        """One step of a drain: its own time for lock waits (a drain runs
        for minutes); its rows counted, None when a guard said skip."""
        self.budget = RetryBudget(self.options.retry_for_s, attempts=self.budget.attempts)
        _, skipped = self._run_steps(self.session.get(), [step])
        return None if skipped else self.sender.moved

    def _announce(self) -> None:
        """Before a settle the user chose beyond the budget: how long writers wait."""
        a = self.action
        if self.options.progress is None or self.options.dry_run:
            return
        if not isinstance(a, CreatePartition):
            return
        r = a.relocating
        if r is None or r.method is not Method.SETTLE or r.estimate.seconds <= r.budget_s:
            return
        text = (
            f"{a.table.qualified}: relocation = lock: moving about {r.estimate.rows:,} rows out of"
            f" the DEFAULT into {a.partition} makes writers of {a.table.qualified} wait about"
            f" {seconds_text(r.estimate.seconds)} (relocation_max_wait {seconds_text(r.budget_s)})"
        )
        self.options.progress(Progress(ProgressKind.NOTICE, a, text=text))
        self.options.progress(
            Progress(
                ProgressKind.RELOCATING,
                a,
                text="settle (writers wait)",
                rows_left=r.estimate.rows,
                seconds_left=r.estimate.seconds,
            )
        )

    def _result(
        self,
        *,
        done: bool = False,
        skipped: bool = False,
        failure: Failure | None = None,
        sql: tuple[str, ...] | None = None,
    ) -> ActionResult:
        sent = tuple(self.sent) if sql is None else sql
        attempts, seconds = self.budget.attempts, time.monotonic() - self.started
        if failure is not None:
            return ActionResult.failed(self.action, failure, sent, attempts, seconds)
        outcome = Outcome.SKIPPED if skipped else Outcome.DONE if done else Outcome.NOT_RUN
        moved = self.drained or (self.sender.moved if done else 0)
        return ActionResult(self.action, outcome, sent, attempts, seconds, rows_moved=moved)

    def _steps(self, conn: psycopg.Connection[Any] | None) -> tuple[Step, ...]:
        ddl = self.options.ddl
        needs_columns = isinstance(self.action, CreatePartition) and relocates(self.action)
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
                f" (to move rows into {display_part(self.action.partition or '?')})"
            )
            raise self._failed(conn, exc, where) from None
        return [str(r[0]) for r in rows]

    def _run_steps(self, conn: psycopg.Connection[Any], queue: list[Step]) -> tuple[bool, bool]:
        """Run the steps; (done, skipped)."""
        did_something = False
        while queue:
            step = queue.pop(0)
            verdict, message = self._run_step(conn, step)
            if verdict is Verdict.GO:
                did_something = self.did_something = True
            elif verdict is Verdict.SKIP:
                return True, not did_something
            elif verdict is Verdict.PENDING and step.on_pending:
                queue[:0] = step.on_pending
            else:
                failure = Failure(FailureKind.REFUSED, f"{step.description}: {message}")
                raise ActionFailed(failure)
        return True, False

    def _run_step(self, conn: psycopg.Connection[Any], step: Step) -> tuple[Verdict, str]:
        import psycopg

        try:
            return until_granted(
                conn,
                step,
                lambda sent, out: self.sender.attempt(conn, sent, out),
                self.budget,
                self.sent,
                on_wait=lambda blocker, waits: self._lock_wait(step, blocker, waits),
                give_up_now=self._interrupt_pending,
            )
        except psycopg.Error as exc:
            conflict = self._conflict(conn, exc)
            if conflict is not None:
                return conflict
            raise self._failed(conn, exc, step.description) from None

    def _interrupt_pending(self) -> bool:
        """Ctrl-C came while nothing of the action took effect yet."""
        return self.held.pending and not self.did_something

    def _conflict(
        self, conn: psycopg.Connection[Any], exc: Exception
    ) -> tuple[Verdict, str] | None:
        """After CREATE found the name taken (42P07) or ATTACH an overlap
        (42P17): the verdict of ddl.create.conflict_checks, e.g. a skip when a
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
                decided = decide(conn.execute(query), guard)
                if decided is not None:
                    return decided
        except psycopg.Error:
            return None
        return None

    def _failed(self, conn: psycopg.Connection[Any], exc: Exception, where: str) -> ActionFailed:
        failure = server_failure(conn, exc, where, self.action, committing=self.sender.committing)
        if failure.kind is FailureKind.CONNECTION:
            self.session.drop(primary_message(exc))
        return ActionFailed(failure)

    def _rows_moved(self, rows: int) -> None:
        if self.options.progress is not None:
            self.options.progress(Progress(ProgressKind.ROWS_MOVED, self.action, rows=rows))

    def _lock_wait(self, step: Step, blocker: Blocker | None, waits: int) -> None:
        if self.options.progress is None:
            return
        if blocker is None:
            relation = next((t.relation for t in step.locks if t.advisory_key is None), None)
            event = Progress(ProgressKind.LOCK_WAIT, self.action, relation=relation, attempt=waits)
        else:
            event = Progress(
                ProgressKind.LOCK_WAIT,
                self.action,
                relation=blocker.target.relation,
                holder=blocker.text,
                attempt=waits,
            )
        self.options.progress(event)


def _drains(action: Action) -> bool:
    return (
        isinstance(action, CreatePartition)
        and action.relocating is not None
        and action.relocating.method is Method.DRAIN
    )
