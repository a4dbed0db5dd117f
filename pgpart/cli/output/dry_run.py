"""`--dry-run`: the summary and the plan as SQL comments, then every statement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgpart.cli.output.actions import bounds, describe, dt, moves, partition_shown, runs
from pgpart.cli.output.check import problem_lines
from pgpart.cli.output.common import compact, sql_comment, wrap_line
from pgpart.cli.output.tally import Tally
from pgpart.core.plan import Plan

if TYPE_CHECKING:
    from pgpart.db.results import ActionResult


def dry_run_script(results: Sequence[ActionResult], plan: Plan, width: int | None = None) -> str:
    """The summary and the plan first, then every statement (as SQL comments
    and statements, so the output can be reviewed and even run by hand).

    What is not a statement goes through sql_comment (names are shown by
    display_part, whatever they hold): a name can never end a comment."""
    head = [f"pgpart dry run at {plan.now.isoformat()}: nothing was changed"]
    head.append(Tally.of(results).line(dry_run=True))
    narrower = None if width is None else width - 3
    for line in grouped(results):
        head.extend(wrap_line(line, narrower, "", "  ").split("\n"))
    problems = problem_lines([t for t in plan.tables if t.problems], narrower)
    if problems:
        head.extend(["", "problems:", *problems.strip("\n").split("\n")])
    if not results:
        head.append("nothing to do")
    lines = [sql_comment("\n".join(head))]
    for r in results:
        lower, upper = bounds(r.action)
        lines.append("")
        lines.append(
            sql_comment(
                f"{r.action.table.qualified}: {describe(r.action)} {partition_shown(r.action)}"
                + (f" [{lower}, {upper})" if upper else "")
            )
        )
        lines.extend(s if s.rstrip().endswith(";") else s + ";" for s in r.sql)
    return "\n".join(lines) + "\n"


def grouped(results: Sequence[ActionResult]) -> list[str]:
    """One line per run of consecutive actions of one kind on one table:
    how many, which partitions, what range (a summary of 200 statements)."""
    lines: list[str] = []
    for group in runs(results, lambda r: None):
        first, last, n = group[0], group[-1], len(group)
        names = (
            partition_shown(first.action)
            if n == 1
            else f"{partition_shown(first.action)} .. {partition_shown(last.action)}"
        )
        lower, upper = dt(first.action, "lower"), dt(last.action, "upper")
        span = f" [{compact(lower) or 'MINVALUE'}, {compact(upper)})" if upper else ""
        moving = [partition_shown(r.action) for r in group if moves(r)]
        moving_note = f"; moving DEFAULT rows into {', '.join(moving)}" if moving else ""
        lines.append(
            f"{first.action.table.qualified}: {first.action.action} {n}: {names}{span}{moving_note}"
        )
    return lines
