"""The result of create, maintain and drop: the table of actions, errors,
what was not changed, the summary and the state the run left (or JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pgpart.cli.output.actions import bounds, dt, outcome, partition_shown, raw_bounds, runs
from pgpart.cli.output.check import check_json, problem_list
from pgpart.cli.output.common import Format, compact, dumps, fits, sql_comment, tabulate, wrap_line
from pgpart.cli.output.dry_run import dry_run_script
from pgpart.cli.output.report import (
    Report,
    labelled,
    over_databases,
    prefixed,
    summary,
    verdict,
    with_database,
)
from pgpart.cli.output.tally import Tally, tally_json
from pgpart.core.plan import CreatePartition, Plan, TablePlan
from pgpart.core.record import record
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
                "outcome": r.outcome.value,
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


@record
class Run:
    """One database's writing run, as the output shows it."""

    results: Sequence[ActionResult]
    plan: Plan
    after: Plan | None = None  # the check the run left (None: not read)
    standby: bool = False  # a hot standby: maintain did nothing there (said on stderr)


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
    """The result of create/maintain/drop on one database. ``after``: a
    check of the tables once the run is over (the state it left), shown
    after the summary; ``interrupted``: Ctrl-C stopped the run after these results."""
    one = Report(None, Run(results, plan, after))
    return render_runs(
        [one], fmt, quiet=quiet, dry_run=dry_run, width=width, interrupted=interrupted
    )


def render_runs(
    reports: Sequence[Report[Run]],
    fmt: Format,
    *,
    quiet: bool,
    dry_run: bool,
    width: int | None = None,
    interrupted: bool = False,
) -> str:
    """The result of create/maintain/drop over the databases of a run."""
    many = labelled(reports)
    if not many and all(r.value is None or r.value.standby for r in reports):
        return ""  # its one database is a standby, or failed: said on stderr
    runs = [(r.database, r.value) for r in reports if r.value is not None]
    failed = any(r.value is None for r in reports) or any(_failed(run) for _, run in runs)
    if quiet and not (failed or interrupted):
        return ""
    if fmt is Format.JSON:
        data = _runs_json(reports, dry_run) if many else _run_json(runs[0][1], dry_run)
        if interrupted:
            data["status"] = "interrupted"
        return dumps(data)
    if quiet:
        return ""  # the CLI says what went wrong on stderr, once
    if dry_run:
        return _dry_run(reports, width)
    return _runs_table(reports, width, interrupted)


def _failed(run: Run) -> bool:
    return any(r.fails_run for r in run.results) or any_blocked(run.plan)


def _run_json(run: Run, dry_run: bool) -> dict[str, Any]:
    data = results_json(run.results, run.plan)
    data["summary"] = tally_json(Tally.of(run.results), dry_run)
    if run.after is not None:
        data["check_after"] = check_json(run.after)
    return data


def _runs_json(reports: Sequence[Report[Run]], dry_run: bool) -> dict[str, Any]:
    """The document of many databases: the one of one database, each object
    with its "database", and a "databases" list."""
    docs = [(r, results_json(r.value.results, r.value.plan)) for r in reports if r.value]
    failed = any(r.value is None for r in reports) or any(d["status"] == "failed" for _, d in docs)
    data: dict[str, Any] = {
        "status": "failed" if failed else "ok",
        "actions": [with_database(a, r.database) for r, d in docs for a in d["actions"]],
        "tables": [with_database(t, r.database) for r, d in docs for t in d["tables"]],
        "summary": tally_json(Tally.of([x for r, _ in docs for x in _results(r)]), dry_run),
    }
    afters = [Report(r.database, r.value.after) for r, _ in docs if r.value and r.value.after]
    if afters:
        data["check_after"] = {
            "status": verdict(afters).value,
            "now": check_json(_plan(afters[0]))["now"],
            "tables": [
                with_database(t, a.database) for a in afters for t in check_json(_plan(a))["tables"]
            ],
        }
    status = {r.database: d["status"] for r, d in docs}
    data["databases"] = [
        {
            "database": r.database,
            "status": status.get(r.database, "failed"),
            "error": r.error,
            "standby": r.value is not None and r.value.standby,
            "summary": tally_json(Tally.of(_results(r)), dry_run),
        }
        for r in reports
    ]
    return data


def _results(report: Report[Run]) -> Sequence[ActionResult]:
    return report.value.results if report.value is not None else ()


def _plan(report: Report[Plan]) -> Plan:
    assert report.value is not None
    return report.value


def _dry_run(reports: Sequence[Report[Run]], width: int | None) -> str:
    """The script of one database; with many, each after a comment naming it."""
    if not labelled(reports):
        run = reports[0].value
        assert run is not None
        return dry_run_script(run.results, run.plan, width)
    scripts = [
        sql_comment(f"database {r.database}")
        + "\n"
        + dry_run_script(r.value.results, r.value.plan, width)
        if r.value is not None
        else sql_comment(f"database {r.database}: {r.error}") + "\n"
        for r in reports
    ]
    return "\n".join(scripts)


def _runs_table(reports: Sequence[Report[Run]], width: int | None, interrupted: bool) -> str:
    """The actions' table, the errors, what was not changed, the summary
    and the state the run left: each once, over every database."""
    many = labelled(reports)
    runs = [(r.database, r.value) for r in reports if r.value is not None]
    failed = [r for r in reports if r.value is None]
    results = [x for _, run in runs for x in run.results]
    out = ""
    rows = [
        [*([db or ""] if many else []), *row]
        for db, run in runs
        for row in result_rows(run.results)
    ]
    rows += [[r.database or "", "", "", "", "", "failed"] for r in failed]
    if rows:
        out += result_table(rows, width, many=many) + "\n"
        errors = [line for db, run in runs for line in error_list(run.results, width, db)]
        errors += [wrap_line(f"FAILED   {r.database}: {r.error}", width) for r in failed]
        if errors:
            out += "\n" + "\n".join(errors) + "\n"
    held = [(db, t) for db, run in runs for t in run.plan.tables if t.blocked and t.problems]
    blocked = [line for db, t in held for line in problem_list([t], width, db)]
    if blocked:
        out += ("\n" if out else "") + "not changed:\n" + "\n".join(blocked) + "\n"
    blocked_any = any(any_blocked(run.plan) for _, run in runs)
    if not results and not blocked_any and not failed and not interrupted:
        out += "nothing to do\n"
    out += "\n" + Tally.of(results).line(dry_run=False)
    if failed:
        out += f"; {counted(len(failed), 'database')} failed"
    out += (" (interrupted: the rest was not attempted)" if interrupted else "") + "\n"
    afters = [Report(db, run.after) for db, run in runs if not run.standby]
    if any(a.value is not None for a in afters):
        out += state_after(afters, width, said=held)
    return out


def state_after(
    afters: Sequence[Report[Plan]],
    width: int | None,
    said: Sequence[tuple[str | None, TablePlan]] = (),
) -> str:
    """The check status the run left, with whatever is still wrong, less the
    problems ``said`` already (the tables the run did not change). Over
    many databases, a database whose state could not be read is 'not checked'."""
    told = {(db, t.table, p.code, p.message) for db, t in said for p in t.problems}

    def untold(db: str | None, t: TablePlan) -> TablePlan:
        kept = tuple(p for p in t.problems if (db, t.table, p.code, p.message) not in told)
        return replace(t, problems=kept)

    plans = [a.value for a in afters]
    left = [
        (a.database, [untold(a.database, t) for t in a.value.tables]) for a in afters if a.value
    ]
    before = sum(len(t.problems) for p in plans if p is not None for t in p.tables)
    repeated = before - sum(len(t.problems) for _, tables in left for t in tables)
    note = f"; {counted(repeated, 'problem')} shown above" if repeated else ""
    problems = [
        line
        for db, tables in left
        for line in problem_list([t for t in tables if t.problems], width, db)
    ]
    if labelled(afters):
        head = f"{verdict(afters).value.upper()} ({over_databases(plans)}{note})"
    else:
        (plan,) = [p for p in plans if p is not None]
        head = f"{plan.status.value.upper()} ({summary(plan.tables)}{note})"
    return f"check now: {head}\n" + ("\n" + "\n".join(problems) + "\n" if problems else "")


def error_list(
    results: Sequence[ActionResult], width: int | None, database: str | None = None
) -> list[str]:
    """Each distinct error once, as its line (after its database's name, with many)."""
    seen: list[tuple[str, str, str]] = []
    for r in results:
        label = "FAILED  " if r.fails_run else "WARNING "
        if r.error and (label, r.action.table.qualified, r.error) not in seen:
            seen.append((label, r.action.table.qualified, r.error))
    return [
        wrap_line(f"{label} {prefixed(database, table)}: {error}", width)
        for label, table, error in seen
    ]


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


def result_table(rows: list[list[str]], width: int | None, *, many: bool = False) -> str:
    """One table (a first database column with many); where even its
    wrapped form is too wide, one per database (its name as a heading),
    then one per table (the table's name as a heading instead of a column)."""
    headers = ["table", "action", "partitions", "range", "result"]
    if many:
        text = tabulate(rows, ["database", *headers], width, (3, 4), split_words=False)
        if fits(text, width):
            return text
        sections = []
        for name in dict.fromkeys(r[0] for r in rows):
            mine = [r[1:] for r in rows if r[0] == name and r[1]]  # a failed database: below
            if mine:
                sections.append(f"database {name}\n" + result_table(mine, width))
        return "\n\n".join(sections)
    text = tabulate(rows, headers, width, (2, 3), split_words=False)
    if fits(text, width):
        return text
    sections = []
    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r[1:] for r in rows if r[0] == name]
        sections.append(name + "\n" + tabulate(mine, headers[1:], width, (1, 2, 3)))
    return "\n\n".join(sections)
