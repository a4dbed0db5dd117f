"""What applying an action came to: its result, its failure, the progress
events of a run, and the options a run and each action are given. Records
only, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from pgpart.core.record import record

if TYPE_CHECKING:
    from pgpart.core.plan import Action
    from pgpart.core.policy import Execution
    from pgpart.db.ddl.step import DdlOptions


# How the error of an action skipped after an earlier one failed begins.
NOT_ATTEMPTED = "not attempted: "


class FailureKind(str, Enum):
    LOCK = "lock"  # a lock (or deadlock) not resolved within the retry budget
    CONNECTION = "connection"  # no connection, lost or not regained
    PRIVILEGE = "privilege"  # SQLSTATE 42501
    REFUSED = "refused"  # a guard found the catalog not as planned
    SERVER = "server"  # any other error the server raised
    NOT_ATTEMPTED = "not_attempted"  # an earlier action of its kind on the table failed
    ARCHIVE = "archive"  # pg_dump, its verification, archive_dir or archive_command
    # rows of the DEFAULT a new partition's own constraints refuse: that range
    # waits for them to be fixed, the table's later ranges do not
    DATA = "data"

    def __str__(self) -> str:
        return self.value


@record
class Failure:
    """Why an action failed: classified from the SQLSTATE and the catalog."""

    kind: FailureKind
    message: str  # one line, what and where
    sqlstate: str | None = None
    relation: str | None = None  # the relation waited for, when known


class ActionFailed(Exception):
    """An action stopped on ``failure``; the runner turns it into its result."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class Outcome(str, Enum):
    """Where an action ended, one of five: the one way a result is told
    (``ActionResult.done``, ``skipped`` and ``error`` are read from it)."""

    DONE = "done"  # its end state holds, pgpart made it so
    SKIPPED = "skipped"  # its end state already held (e.g. another run made it)
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"  # an earlier action of its kind on the table failed
    NOT_RUN = "not_run"  # dry run, or a preview before confirmation

    def __str__(self) -> str:
        return self.value


_FAILURES = (Outcome.FAILED, Outcome.NOT_ATTEMPTED)


@record
class ActionResult:
    """What applying one action came to. ``outcome`` says it; a failed (or
    not attempted) action has its ``failure``, and only such an action has one."""

    action: Action
    outcome: Outcome
    sql: tuple[str, ...] = ()  # each step's statements as sent in its last attempt
    attempts: int = 0
    seconds: float = 0.0
    failure: Failure | None = None
    rows_moved: int = 0  # rows moved out of DEFAULT by the committed attempt

    def __post_init__(self) -> None:
        if (self.failure is not None) != (self.outcome in _FAILURES):
            raise ValueError(
                f"a {self.outcome} result {'needs' if self.failure is None else 'has no'} failure"
            )

    @classmethod
    def failed(
        cls,
        action: Action,
        failure: Failure,
        sql: tuple[str, ...] = (),
        attempts: int = 0,
        seconds: float = 0.0,
    ) -> ActionResult:
        kind = (
            Outcome.NOT_ATTEMPTED if failure.kind is FailureKind.NOT_ATTEMPTED else Outcome.FAILED
        )
        return cls(action, kind, sql, attempts, seconds, failure)

    @property
    def done(self) -> bool:
        """The action's end state holds (also when it already did)."""
        return self.outcome in (Outcome.DONE, Outcome.SKIPPED)

    @property
    def skipped(self) -> bool:
        """Nothing to do any more (e.g. another pgpart created it meanwhile)."""
        return self.outcome is Outcome.SKIPPED

    @property
    def error(self) -> str | None:
        """The failure's one line, what and where."""
        return self.failure.message if self.failure is not None else None

    @property
    def fails_run(self) -> bool:
        """It failed, and that fails the run: an ANALYZE that failed is a
        warning (the partitions are as planned; the next run analyzes)."""
        from pgpart.core.plan import AnalyzeTable

        return self.failure is not None and not isinstance(self.action, AnalyzeTable)


def not_attempted(action: Action, why: Failure) -> ActionResult:
    return ActionResult.failed(action, why)


class ProgressKind(str, Enum):
    STARTED = "started"  # the action begins
    LOCK_WAIT = "lock_wait"  # a lock was not granted: relation, holder, attempt
    ROWS_MOVED = "rows_moved"  # rows moved out of DEFAULT so far in this attempt
    RELOCATING = "relocating"  # a relocation's phase: rows done, rows left, seconds left
    NOTICE = "notice"  # a line to say before long work (e.g. the wait a relocation costs)
    FINISHED = "finished"  # result (also when it failed or was not attempted)

    def __str__(self) -> str:
        return self.value


@record
class Progress:
    """What a long action is doing, for a progress display (``ExecOptions.progress``)."""

    kind: ProgressKind
    action: Action
    relation: str | None = None
    holder: str | None = None
    attempt: int = 0
    rows: int = 0
    result: ActionResult | None = None
    text: str | None = None  # NOTICE: the line; RELOCATING: the phase
    rows_left: int | None = None  # RELOCATING: rows still to move (an estimate)
    seconds_left: float | None = None  # RELOCATING: expected time to the end


@record
class ExecOptions:
    """How pgpart.db.executor runs a plan: what the whole run shares. How
    each table's actions run (lock_timeout, retry_for, ...) is in its
    TablePlan's ``execution``."""

    dry_run: bool = False
    log: Callable[[str], None] | None = None  # each statement sent, rendered
    progress: Callable[[Progress], None] | None = None  # lock waits, rows moved, results
    server_version_num: int | None = None  # None: the executor asks the server

    def for_table(self, execution: Execution) -> ActionOptions:
        from pgpart.db.ddl.step import DdlOptions

        ddl = DdlOptions(
            lock_timeout_ms=execution.lock_timeout_ms,
            statement_timeout_ms=execution.statement_timeout_ms,
            server_version_num=self.server_version_num,
            move_batch_rows=execution.move_batch_rows,
        )
        return ActionOptions(ddl, execution.retry_for_s, self.dry_run, self.log, self.progress)


@record
class ActionOptions:
    """How one action runs: its table's execution and the run's options."""

    ddl: DdlOptions
    retry_for_s: float = 30.0  # time budget per action for retrying lock timeouts
    dry_run: bool = False
    log: Callable[[str], None] | None = None
    progress: Callable[[Progress], None] | None = None
