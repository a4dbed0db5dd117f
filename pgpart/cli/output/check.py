"""`pgpart check` as table, CSV, JSON or Prometheus text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pgpart.cli.output.common import (
    Format,
    compact,
    dumps,
    fits,
    iso,
    short,
    tabulate,
    to_csv,
    wrap_line,
)
from pgpart.cli.output.prometheus import label, metric
from pgpart.cli.output.report import Report, closing, labelled, prefixed, verdict, with_database
from pgpart.cli.problem_codes import MISSING_CURRENT_CODE
from pgpart.core.plan import Plan, Status, TablePlan


def check_json(plan: Plan) -> dict[str, Any]:
    return {
        "status": plan.status.value,
        "now": iso(plan.now),
        "tables": [
            {
                "table": t.table,
                "status": t.status.value,
                "interval": t.interval,
                "interval_source": t.interval_source,
                "partitions": t.partitions,
                "covered_from": iso(t.covered_from),
                "covered_until": iso(t.covered_until),
                "default_rows": t.default_rows,
                "problems": [
                    {"severity": p.severity.value, "code": p.code, "message": p.message}
                    for p in t.problems
                ],
            }
            for t in plan.tables
        ],
    }


def render_check(plan: Plan, fmt: Format, *, quiet: bool = False, width: int | None = None) -> str:
    """One database's check (the library's and the tests' entry)."""
    return render_checks([Report(None, plan)], fmt, quiet=quiet, width=width)


def render_checks(
    reports: Sequence[Report[Plan]],
    fmt: Format,
    *,
    quiet: bool = False,
    width: int | None = None,
    now: datetime | None = None,
) -> str:
    """check over the databases of a run, in one format (``now``: the
    moment checked, for the document of many databases)."""
    shown = [(r, _shown(r, quiet)) for r in reports]
    if fmt is Format.JSON:
        return _check_json_text(shown, quiet, now)
    if fmt is Format.PROMETHEUS:
        return check_prometheus(reports)  # scrapers want every series, quiet or not
    many = labelled(reports)
    rows = [[*([r.database] if many else []), *_row(t)] for r, tables in shown for t in tables]
    rows += [
        [r.database, "", "UNKNOWN", "", "", "", r.error or ""] for r in reports if r.value is None
    ]
    if fmt is Format.CSV:
        return to_csv(rows, [*(["database"] if many else []), *_CSV_HEADERS])
    if not rows:
        return ""
    problems = [line for r, tables in shown for line in problem_list(tables, width, r.database)]
    problems += [
        wrap_line(f"{'UNKNOWN':8} {r.database}: {r.error}", width)
        for r in reports
        if r.value is None
    ]
    text = _check_table(shown, width, many) + "\n"
    if problems:
        text += "\n" + "\n".join(problems) + "\n"
    return text + "\n" + closing(reports) + "\n"


_CSV_HEADERS = [
    "table",
    "status",
    "interval",
    "partitions",
    "covered until",
    "default rows",
    "problems",
]
_HEADERS = ["table", "status", "interval", "parts", "covered until", "default rows"]


def _shown(report: Report[Plan], quiet: bool) -> list[TablePlan]:
    """The tables of a database the output lists (with -q: those not OK)."""
    if report.value is None:
        return []
    return [t for t in report.value.tables if not quiet or t.status is not Status.OK]


def _row(t: TablePlan) -> list[object]:
    return [
        t.table,
        t.status.value.upper(),
        t.interval or "?",
        t.partitions,
        short(t.covered_until),
        "" if t.default_rows is None else t.default_rows,
        "; ".join(f"{p.code}: {p.message}" for p in t.problems),
    ]


def _table_cells(t: TablePlan) -> list[object]:
    """A table's cells in the terminal's table (its CSV row, shorter)."""
    row = _row(t)
    return [*row[:4], compact(t.covered_until), row[5]]


def _check_table(
    shown: Sequence[tuple[Report[Plan], list[TablePlan]]], width: int | None, many: bool
) -> str:
    """The tables of every database: one table (a first database column
    with many), or, when that cannot fit the width, one per database."""
    if not many:
        cells = [_table_cells(t) for _, tables in shown for t in tables]
        return tabulate(cells, _HEADERS, width, wrap=(0,))
    rows = [[r.database, *_table_cells(t)] for r, tables in shown for t in tables]
    rows += [[r.database, "", "UNKNOWN", "", "", "", ""] for r, _ in shown if r.value is None]
    text = tabulate(rows, ["database", *_HEADERS], width, wrap=(1, 0))
    if fits(text, width):
        return text
    sections = [
        f"database {r.database}\n"
        + tabulate([_table_cells(t) for t in tables], _HEADERS, width, wrap=(0,))
        for r, tables in shown
        if tables
    ]
    return "\n\n".join(sections)


def _check_json_text(
    shown: Sequence[tuple[Report[Plan], list[TablePlan]]], quiet: bool, now: datetime | None
) -> str:
    reports = [r for r, _ in shown]
    if not labelled(reports):
        plan = reports[0].value if reports else None
        tables = shown[0][1] if shown else []
        if plan is None or (quiet and not tables):
            return ""
        return dumps(check_json(Plan(plan.now, tuple(tables))) | {"status": plan.status.value})
    listed = [
        with_database(doc, r.database)
        for r, tables in shown
        if r.value is not None
        for doc in check_json(Plan(r.value.now, tuple(tables)))["tables"]
    ]
    failed = [r for r in reports if r.value is None]
    if quiet and not listed and not failed:
        return ""
    moment = now or next((r.value.now for r in reports if r.value is not None), None)
    return dumps(
        {
            "status": verdict(reports).value,
            "now": iso(moment),
            "tables": listed,
            "databases": [
                {
                    "database": r.database,
                    "status": r.value.status.value if r.value is not None else "unknown",
                    "error": r.error,
                }
                for r in reports
            ],
        }
    )


def problem_lines(
    tables: Sequence[TablePlan], width: int | None = None, database: str | None = None
) -> str:
    """Problems below the table, one message each, wrapped to ``width``."""
    lines = problem_list(tables, width, database)
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


def problem_list(
    tables: Sequence[TablePlan], width: int | None = None, database: str | None = None
) -> list[str]:
    """Each problem as its line (after its database's name, with many)."""
    return [
        wrap_line(
            f"{p.severity.value.upper():8} {prefixed(database, t.table)}: {p.code}: {p.message}",
            width,
        )
        for t in tables
        for p in t.problems
    ]


def check_prometheus(reports: Sequence[Report[Plan]]) -> str:
    """Every series of every database (a ``database`` label on each sample
    with many; a database that failed has its status, 3, and nothing else)."""
    lines: list[str] = []
    checked = [(_database_label(r), r.value) for r in reports if r.value is not None]
    tables = [
        (_labels(db, f'table="{label(t.table)}"'), t, plan.now)
        for db, plan in checked
        for t in plan.tables
    ]
    metric(
        lines,
        "pgpart_check_status",
        "Worst status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        [
            (_database_label(r), (r.value.status if r.value is not None else Status.UNKNOWN).rank)
            for r in reports
        ],
    )
    metric(
        lines,
        "pgpart_check_timestamp_seconds",
        "When the check ran (Unix time).",
        [(db, plan.now.timestamp()) for db, plan in checked],
    )
    metric(
        lines,
        "pgpart_table_status",
        "Table status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        [(tl, t.status.rank) for tl, t, _ in tables],
    )
    metric(
        lines,
        "pgpart_table_partitions",
        "Partitions routing rows (default excluded).",
        [(tl, t.partitions) for tl, t, _ in tables],
    )
    metric(
        lines,
        "pgpart_table_coverage_ahead_seconds",
        "Seconds from now until the partitions covering now end (0: now is not covered).",
        [(tl, _ahead(t, now)) for tl, t, now in tables if t.status is not Status.UNKNOWN],
    )
    metric(
        lines,
        "pgpart_table_default_rows",
        "Rows seen in the DEFAULT partition.",
        [(tl, t.default_rows) for tl, t, _ in tables if t.default_rows is not None],
    )
    metric(
        lines,
        "pgpart_table_problem",
        "One sample per problem found (1).",
        [
            (f'{tl},code="{label(p.code)}",severity="{p.severity.value}"', 1)
            for tl, t, _ in tables
            for p in t.problems
        ],
    )
    return "\n".join(lines) + "\n"


def _ahead(t: TablePlan, now: datetime) -> float:
    if t.covered_until is None:
        covered_now = not any(p.code == MISSING_CURRENT_CODE for p in t.problems)
        return math.inf if covered_now and t.partitions else 0
    return max(0.0, (t.covered_until - now).total_seconds())


def _database_label(report: Report[Plan]) -> str:
    return "" if report.database is None else f'database="{label(report.database)}"'


def _labels(*parts: str) -> str:
    return ",".join(p for p in parts if p)
