"""`pgpart check` as table, CSV, JSON or Prometheus text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pgpart.cli.output.common import Format, compact, dumps, iso, short, tabulate, to_csv, wrap_line
from pgpart.cli.output.prometheus import label, metric
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
    tables = [t for t in plan.tables if not quiet or t.status is not Status.OK]
    if fmt is Format.JSON:
        if quiet and not tables:
            return ""
        return dumps(check_json(Plan(plan.now, tuple(tables))) | {"status": plan.status.value})
    if fmt is Format.PROMETHEUS:
        return check_prometheus(plan)  # scrapers want every series, quiet or not
    headers = [
        "table",
        "status",
        "interval",
        "partitions",
        "covered until",
        "default rows",
        "problems",
    ]
    rows = [
        [
            t.table,
            t.status.value.upper(),
            t.interval or "?",
            t.partitions,
            short(t.covered_until),
            "" if t.default_rows is None else t.default_rows,
            "; ".join(f"{p.code}: {p.message}" for p in t.problems),
        ]
        for t in tables
    ]
    if fmt is Format.CSV:
        return to_csv(rows, headers)
    if not tables:
        return ""
    closing = f"\n{plan.status.value.upper()}: " + summary(plan.tables)
    shown = [[*r[:4], compact(t.covered_until), r[5]] for r, t in zip(rows, tables, strict=True)]
    return (
        tabulate(
            shown,
            ["table", "status", "interval", "parts", "covered until", "default rows"],
            width,
            wrap=(0,),
        )
        + "\n"
        + problem_lines(tables, width)
        + closing
        + "\n"
    )


def summary(tables: Sequence[TablePlan]) -> str:
    counts: dict[str, int] = {}
    for t in tables:
        counts[t.status.value] = counts.get(t.status.value, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items()) if tables else "no tables"


def problem_lines(tables: Sequence[TablePlan], width: int | None = None) -> str:
    """Problems below the table, one message each, wrapped to ``width``."""
    lines = [
        wrap_line(f"{p.severity.value.upper():8} {t.table}: {p.code}: {p.message}", width)
        for t in tables
        for p in t.problems
    ]
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


def check_prometheus(plan: Plan) -> str:
    lines: list[str] = []
    now = plan.now
    tl = {t.table: f'table="{label(t.table)}"' for t in plan.tables}
    metric(
        lines,
        "pgpart_check_status",
        "Worst status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        [("", plan.status.rank)],
    )
    metric(
        lines,
        "pgpart_check_timestamp_seconds",
        "When the check ran (Unix time).",
        [("", now.timestamp())],
    )
    metric(
        lines,
        "pgpart_table_status",
        "Table status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        [(tl[t.table], t.status.rank) for t in plan.tables],
    )
    metric(
        lines,
        "pgpart_table_partitions",
        "Partitions routing rows (default excluded).",
        [(tl[t.table], t.partitions) for t in plan.tables],
    )
    ahead: list[tuple[str, float]] = []
    for t in plan.tables:
        if t.status is Status.UNKNOWN:
            continue
        if t.covered_until is None:
            covered_now = not any(p.code == MISSING_CURRENT_CODE for p in t.problems)
            ahead.append((tl[t.table], math.inf if covered_now and t.partitions else 0))
        else:
            ahead.append((tl[t.table], max(0.0, (t.covered_until - now).total_seconds())))
    metric(
        lines,
        "pgpart_table_coverage_ahead_seconds",
        "Seconds from now until the partitions covering now end (0: now is not covered).",
        ahead,
    )
    metric(
        lines,
        "pgpart_table_default_rows",
        "Rows seen in the DEFAULT partition.",
        [(tl[t.table], t.default_rows) for t in plan.tables if t.default_rows is not None],
    )
    metric(
        lines,
        "pgpart_table_problem",
        "One sample per problem found (1).",
        [
            (f'{tl[t.table]},code="{label(p.code)}",severity="{p.severity.value}"', 1)
            for t in plan.tables
            for p in t.problems
        ],
    )
    return "\n".join(lines) + "\n"
