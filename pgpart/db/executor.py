"""Apply planned actions: short transactions, bounded lock waits, retries.

Each action runs as the steps ``pgpart.db.ddl`` composes for it
(pgpart.db.action_run). A lock that is not granted within lock_timeout (or a
deadlock) rolls the step back; the step is retried with exponential backoff
and full jitter until the action's time budget is spent, then the action
fails naming the lock and who holds it (pgpart.db.retry).

After an action fails, the later actions of the same table and the same kind
(creation, or retention: drop/detach/finalize) are not attempted: they would
meet the same lock or privilege problem, and creating later partitions past a
failed one would leave a gap in the middle of the table. Except when rows of
the DEFAULT broke the new partition's own constraints (FailureKind.DATA):
that range waits in the DEFAULT, as when the plan refuses to move its rows,
and the later ones are made. Creation and
retention stay independent of each other, and other tables are unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgpart.core.plan import (
    Action,
    AnalyzeTable,
    ArchivePartition,
    CreatePartition,
    RefreshSubscription,
    TablePlan,
)
from pgpart.db.action_run import ActionRun
from pgpart.db.held_interrupt import HeldInterrupt
from pgpart.db.results import (
    NOT_ATTEMPTED,
    ActionOptions,
    ActionResult,
    ExecOptions,
    Failure,
    FailureKind,
    Outcome,
    Progress,
    ProgressKind,
    not_attempted,
)
from pgpart.db.retry import BACKOFF_CAP_S, BACKOFF_START_S
from pgpart.db.session import Session

# Importable from here as before; their home is pgpart.db.results (and retry).
__all__ = [
    "BACKOFF_CAP_S",
    "BACKOFF_START_S",
    "NOT_ATTEMPTED",
    "ActionOptions",
    "ActionResult",
    "ExecOptions",
    "Failure",
    "FailureKind",
    "Outcome",
    "Progress",
    "ProgressKind",
    "execute",
]


def execute(
    dsn: str | None, tables: Sequence[TablePlan], options: ExecOptions
) -> list[ActionResult]:
    """Run the tables' actions in order, each as its table's ``execution``
    says (lock_timeout, retry_for, ...); one result per action, never an
    exception for an expected failure (lock timeout, privilege, lost
    connection)."""
    actions = [(a, options.for_table(t.execution)) for t in tables for a in t.actions]
    session = Session(dsn)
    failed: dict[tuple[int, str], Failure] = {}
    changed: set[int] = set()  # tables an action of this run changed
    # Tables this call has actions for that change partitions: an ANALYZE of
    # a table whose changes ran in an earlier call (a fleet's stages) runs.
    changing = {a.table.oid for a, _ in actions if _changes_partitions(a)}
    results: list[ActionResult] = []

    def finished(result: ActionResult) -> None:
        results.append(result)
        if options.progress is not None:
            options.progress(Progress(ProgressKind.FINISHED, result.action, result=result))

    try:
        for action, own in actions:
            group = (action.table.oid, _group(action))
            if session.failure is not None:
                finished(not_attempted(action, Failure(FailureKind.CONNECTION, session.failure)))
                continue
            if group in failed:
                finished(not_attempted(action, failed[group]))
                continue
            if _unchanged(action, changing - changed, options):  # nothing to analyze again
                finished(ActionResult(action, Outcome.SKIPPED))
                continue
            # An archive is not held: its dump may take minutes, and Ctrl-C at
            # any point leaves the rows in the (marked) detached table.
            held_back = not isinstance(action, (CreatePartition, ArchivePartition, AnalyzeTable))
            with HeldInterrupt(held_back) as held:
                run = ActionRun(session, action, own, held)
                if options.progress is not None:
                    options.progress(Progress(ProgressKind.STARTED, action))
                result = run.run()
            if result.failure is not None and result.failure.kind is not FailureKind.DATA:
                failed[group] = Failure(
                    FailureKind.NOT_ATTEMPTED,
                    f"{NOT_ATTEMPTED}an earlier {group[1]} action"
                    f" on {action.table.qualified} failed",
                )
            if result.outcome is Outcome.DONE:
                changed.add(action.table.oid)
            finished(result)
            if held.pending:
                raise KeyboardInterrupt  # held back until the action was whole
    finally:
        session.close()
    return results


def _unchanged(action: Action, unchanged: set[int], options: ExecOptions) -> bool:
    """An ANALYZE of a table whose changing actions in this call changed nothing."""
    analyze = isinstance(action, AnalyzeTable) and not options.dry_run
    return analyze and action.table.oid in unchanged


def _changes_partitions(action: Action) -> bool:
    return not isinstance(action, (AnalyzeTable, RefreshSubscription))


def _group(action: Action) -> str:
    if isinstance(action, AnalyzeTable):
        return "analyze"
    if isinstance(action, RefreshSubscription):
        return "refresh"  # a refresh that fails stops neither creation nor retention
    return "create" if isinstance(action, CreatePartition) else "retention"
