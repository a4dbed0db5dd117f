"""The result of create, maintain and drop: the table of actions, errors,
what was not changed, the summary and the state the run left (or JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pgpart.cli.output.actions import bounds, dt, outcome, partition_shown, raw_bounds, runs
from pgpart.cli.output.check import check_json, problem_lines, summary
from pgpart.cli.output.common import Format, compact, dumps, fits, tabulate, wrap_line
from pgpart.cli.output.dry_run import dry_run_script
from pgpart.cli.output.tally import Tally, tally_json
from pgpart.core.plan import CreatePartition, Plan, TablePlan
from pgpart.core.wording import counted

if TYPE_CHECKING:
    from pgpart.db.results import ActionResult


def results_json(results: Sequence[ActionResult], plan: Plan) -> dict[str, Any]:
    return {
        "status": "failed" if any(r.fails_run for r in results) or any_blocked(plan) else "ok",
        "actions": [
            {
                "table": r.action.table.qualified,
                "action": r.action.action,
                "partition": r.action.partition,
                "from": bounds(r.action)[0],
                "to": bounds(r.action)[1],
                **raw_bounds(r.action),
                "move_rows": isinstance(r.action, CreatePartition) and r.action.move_rows,
                "sql": list(r.sql),
                "done": r.done,
                "skipped": r.skipped,
                "error": r.error,
                "attempts": r.attempts,
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
        "tables": [
            {
                "table": t.table,
                "status": t.status.value,
                "blocked": t.blocked,
                "problems": [
                    {"severity": p.severity.value, "code": p.code, "message": p.message}
                    for p in t.problems
                ],
            }
            for t in plan.tables
        ],
    }


def any_blocked(plan: Plan) -> bool:
    return any(t.blocked for t in plan.tables)


def render_results(
    results: Sequence[ActionResult],
    plan: Plan,
    fmt: Format,
    *,
    quiet: bool,
    dry_run: bool,
    width: int | None = None,
    after: Plan | None = None,
    interrupted: bool = False,
) -> str:
    """The result of create/maintain/drop. ``after``: a check of the tables
    once the run is over (the state it left), shown after the summary;
    ``interrupted``: Ctrl-C stopped the run after these results."""
    failed = any(r.fails_run for r in results) or any_blocked(plan)
    if quiet and not (failed or interrupted):
        return ""
    if fmt is Format.JSON:
        data = results_json(results, plan)
        data["summary"] = tally_json(Tally.of(results), dry_run)
        if after is not None:
            data["check_after"] = check_json(after)
        if interrupted:
            data["status"] = "interrupted"
        return dumps(data)
    if quiet:
        return ""  # the CLI says what went wrong on stderr, once
    if dry_run:
        return dry_run_script(results, plan, width)
    out = ""
    rows = result_rows(results)
    if rows:
        out += result_table(rows, width) + "\n"
        errors = error_lines(results, width)
        if errors:
            out += "\n" + errors
    held = [t for t in plan.tables if t.blocked and t.problems]
    blocked = problem_lines(held, width)
    if blocked:
        out += ("\n" if out else "") + "not changed:" + blocked
    if not results and not any_blocked(plan) and not interrupted:
        out += "nothing to do\n"
    out += (
        "\n"
        + Tally.of(results).line(dry_run=False)
        + (" (interrupted: the rest was not attempted)" if interrupted else "")
        + "\n"
    )
    if after is not None:
        out += state_after(after, width, said=held)
    return out


def state_after(after: Plan, width: int | None, said: Sequence[TablePlan] = ()) -> str:
    """The check status the run left, with whatever is still wrong, less the
    problems ``said`` already (the tables the run did not change)."""
    told = {(t.table, p.code, p.message) for t in said for p in t.problems}

    def untold(t: TablePlan) -> TablePlan:
        kept = tuple(p for p in t.problems if (t.table, p.code, p.message) not in told)
        return replace(t, problems=kept)

    left = [untold(t) for t in after.tables]
    repeated = sum(len(t.problems) for t in after.tables) - sum(len(t.problems) for t in left)
    note = f"; {counted(repeated, 'problem')} shown above" if repeated else ""
    problems = problem_lines([t for t in left if t.problems], width)
    return f"check now: {after.status.value.upper()} ({summary(after.tables)}{note})\n" + problems


def error_lines(results: Sequence[ActionResult], width: int | None) -> str:
    """Each distinct error once, below the table, wrapped to the width."""
    seen: list[tuple[str, str, str]] = []
    for r in results:
        label = "FAILED  " if r.fails_run else "WARNING "
        if r.error and (label, r.action.table.qualified, r.error) not in seen:
            seen.append((label, r.action.table.qualified, r.error))
    lines = [wrap_line(f"{label} {table}: {error}", width) for label, table, error in seen]
    return ("\n".join(lines) + "\n") if lines else ""


def result_rows(results: Sequence[ActionResult]) -> list[list[str]]:
    """One row per run of consecutive actions of one kind on one table with
    the same outcome: "create (30)  events_2026_11_29 .. events_2026_12_28",
    not a screenful of rows (or of cron mail) for a month of daily partitions."""
    rows: list[list[str]] = []
    for group in runs(results, lambda r: (r.error, outcome(r))):
        first, last, n = group[0], group[-1], len(group)
        lower, upper = dt(first.action, "lower"), dt(last.action, "upper")
        moved = sum(r.rows_moved for r in group)
        result = outcome(first)
        rows.append(
            [
                first.action.table.qualified,
                f"{first.action.action} ({n})" if n > 1 else first.action.action,
                f"{partition_shown(first.action)} .. {partition_shown(last.action)}"
                if n > 1
                else partition_shown(first.action),
                f"{compact(lower) or 'MINVALUE'} .. {compact(upper)}" if lower or upper else "",
                f"{result}, {counted(moved, 'row')} moved" if moved else result,
            ]
        )
    return rows


def result_table(rows: list[list[str]], width: int | None) -> str:
    """One table; where even its wrapped form is too wide, one per table
    (the table's name as a heading instead of a column)."""
    headers = ["table", "action", "partitions", "range", "result"]
    text = tabulate(rows, headers, width, (2, 3), split_words=False)
    if fits(text, width):
        return text
    sections = []
    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r[1:] for r in rows if r[0] == name]
        sections.append(name + "\n" + tabulate(mine, headers[1:], width, (1, 2, 3)))
    return "\n\n".join(sections)
