"""The stderr lines of a writing run on one database: tables refused,
actions failed, work withheld, problems that blocked a table (with -q).
Stdout has the details; pgpart.cli.write_run says each line once (after the
database's name among many, the password masked)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pgpart.cli.problem_codes import (
    LACKING_CODES,
    NOTICE_CODES,
    WITHHOLDING_CODES,
    has_bad_config,
    is_refused,
)

if TYPE_CHECKING:
    from pgpart.core.plan import Plan, Problem, TablePlan
    from pgpart.db.results import ActionResult


def without_refused(planned: Plan) -> Plan:
    """The plan minus the tables refused (said once on stderr instead)."""
    from pgpart.core.plan import Plan

    kept = tuple(t for t in planned.tables if not is_refused(t))
    return Plan(planned.now, kept, planned.server_version)


def problem_line(table: TablePlan, problem: Problem) -> str:
    """'TABLE: CODE: MESSAGE'."""
    return f"{table.table}: {problem.code}: {problem.message}"


def failure_lines(results: Sequence[ActionResult]) -> list[str]:
    """Per table whose actions failed: its first real failure (not a 'not
    attempted'), and how many more actions were not done; then each ANALYZE
    that failed, as a warning."""
    from pgpart.db.results import FailureKind

    by_table: dict[str, list[ActionResult]] = {}
    for r in results:
        if r.fails_run:
            by_table.setdefault(r.action.table.qualified, []).append(r)
    # An ANALYZE that failed, unless the table's line already says what went wrong.
    warnings = [
        f"{r.action.table.qualified}: warning: {r.error}"
        for r in results
        if r.error and not r.fails_run and r.action.table.qualified not in by_table
    ]
    lines = []
    for table, failed in by_table.items():
        first = next(
            (r for r in failed if r.failure and r.failure.kind is not FailureKind.NOT_ATTEMPTED),
            failed[0],
        )
        more = len(failed) - 1
        line = f"{table}: {first.error}"
        if more:
            line += f" ({more} more action{'s' if more > 1 else ''} not done)"
        lines.append(line)
    return lines + warnings


def withheld_lines(tables: Iterable[TablePlan], *, quiet: bool = False) -> list[str]:
    """One line per problem for which work was deliberately left undone
    (with -q, blocked_lines has those), and per thing new partitions will
    lack although they are made (a publication pgpart may not change)."""
    lines = []
    for table in tables:
        for p in table.problems:
            withheld = table.blocked and not quiet and p.code in WITHHOLDING_CODES
            lacks = not table.blocked and table.actions and p.code in LACKING_CODES
            if withheld or lacks:
                lines.append(problem_line(table, p))
    return lines


def blocked_lines(tables: Iterable[TablePlan]) -> list[str]:
    """With -q (stdout is silent), every problem of each table pgpart did not
    change as asked: blocked, or a config value refused while planning."""
    return [
        problem_line(table, problem)
        for table in tables
        if _not_as_asked(table)
        for problem in table.problems
    ]


def _not_as_asked(table: TablePlan) -> bool:
    return not is_refused(table) and (table.blocked or has_bad_config([table]))


def notice_lines(tables: Iterable[TablePlan], *, quiet: bool) -> list[str]:
    """What a run says whatever -q says (NOTICE_CODES), unless blocked_lines
    already has it."""
    return [
        problem_line(table, p)
        for table in tables
        if not (quiet and _not_as_asked(table))
        for p in table.problems
        if p.code in NOTICE_CODES
    ]


def run_lines(
    planned: Plan, results: Sequence[ActionResult], *, quiet: bool, echoed: bool = False
) -> list[str]:
    """What a writing run on one database says on stderr, alone or as a fleet
    member: the tables refused, (with -q) what kept a table from being changed
    as asked, the actions failed, the work withheld. ``echoed``: stdout's
    report, on the same terminal, already shows the failures and the work
    withheld (each is then said once)."""
    refused = [p.message for t in planned.tables if is_refused(t) for p in t.problems]
    blocked = blocked_lines(planned.tables) if quiet else []
    if echoed:
        return [*refused, *blocked]
    withheld = withheld_lines(planned.tables, quiet=quiet)
    notices = notice_lines(planned.tables, quiet=quiet)
    return [*refused, *blocked, *failure_lines(results), *withheld, *notices]
