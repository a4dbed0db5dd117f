"""Every output format in one place: table (tabulate), json, csv, prometheus.

Renderers return text; the CLI decides where it goes (data to stdout).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from pgpart.core.plan import Action, CreatePartition, Plan, Status, TablePlan

if TYPE_CHECKING:
    from pgpart.db.executor import ActionResult
    from pgpart.db.stats import TableStats


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    PROMETHEUS = "prometheus"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _tabulate(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def _csv(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buf.getvalue()


def _dumps(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# --- check ------------------------------------------------------------------


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


def render_check(plan: Plan, fmt: Format, *, quiet: bool = False) -> str:
    tables = [t for t in plan.tables if not quiet or t.status is not Status.OK]
    if fmt is Format.JSON:
        if quiet and not tables:
            return ""
        return _dumps(check_json(Plan(plan.now, tuple(tables))) | {"status": plan.status.value})
    if fmt is Format.PROMETHEUS:
        return _check_prometheus(plan)  # scrapers want every series, quiet or not
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
            _short(t.covered_until),
            "" if t.default_rows is None else t.default_rows,
            "; ".join(f"{p.code}: {p.message}" for p in t.problems),
        ]
        for t in tables
    ]
    if fmt is Format.CSV:
        return _csv(rows, headers)
    if not tables:
        return ""
    summary = f"\n{plan.status.value.upper()}: " + _summary(plan.tables)
    return (
        _tabulate([r[:-1] for r in rows], headers[:-1])
        + "\n"
        + _problem_lines(tables)
        + summary
        + "\n"
    )


def _summary(tables: Sequence[TablePlan]) -> str:
    counts: dict[str, int] = {}
    for t in tables:
        counts[t.status.value] = counts.get(t.status.value, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items()) if tables else "no tables"


def _problem_lines(tables: Sequence[TablePlan]) -> str:
    lines = [
        f"  {p.severity.value.upper():8} {t.table}: {p.code}: {p.message}"
        for t in tables
        for p in t.problems
    ]
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


def _short(value: datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="minutes") if value else ""


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _metric(lines: list[str], name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")
    for labels, value in samples:
        text = (
            "+Inf"
            if math.isinf(value)
            else repr(float(value))
            if isinstance(value, float) and not value.is_integer()
            else str(int(value))
        )
        lines.append(f"{name}{{{labels}}} {text}" if labels else f"{name} {text}")


def _check_prometheus(plan: Plan) -> str:
    lines: list[str] = []
    now = plan.now
    tl = {t.table: f'table="{_label(t.table)}"' for t in plan.tables}
    _metric(
        lines,
        "pgpart_check_status",
        "Worst status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        [("", plan.status.rank)],
    )
    _metric(
        lines,
        "pgpart_check_timestamp_seconds",
        "When the check ran (Unix time).",
        [("", now.timestamp())],
    )
    _metric(
        lines,
        "pgpart_table_status",
        "Table status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        [(tl[t.table], t.status.rank) for t in plan.tables],
    )
    _metric(
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
            covered_now = not any(p.code == "missing_current" for p in t.problems)
            ahead.append((tl[t.table], math.inf if covered_now and t.partitions else 0))
        else:
            ahead.append((tl[t.table], max(0.0, (t.covered_until - now).total_seconds())))
    _metric(
        lines,
        "pgpart_table_coverage_ahead_seconds",
        "Seconds from now until the partitions covering now end (0: now is not covered).",
        ahead,
    )
    _metric(
        lines,
        "pgpart_table_default_rows",
        "Rows seen in the DEFAULT partition.",
        [(tl[t.table], t.default_rows) for t in plan.tables if t.default_rows is not None],
    )
    _metric(
        lines,
        "pgpart_table_problem",
        "One sample per problem found (1).",
        [
            (f'{tl[t.table]},code="{_label(p.code)}",severity="{p.severity.value}"', 1)
            for t in plan.tables
            for p in t.problems
        ],
    )
    return "\n".join(lines) + "\n"


# --- stats ------------------------------------------------------------------


def stats_json(stats: Sequence[TableStats]) -> dict[str, Any]:
    return {
        "tables": [
            {
                "table": s.table,
                "total_rows": s.total_rows,
                "total_bytes": s.total_bytes,
                **({"archives": s.archives.as_json()} if s.archives else {}),
                "partitions": [
                    {
                        "name": p.name,
                        "from": iso(p.lower),
                        "to": iso(p.upper),
                        "rows": p.rows,
                        "rows_exact": p.rows_exact,
                        "bytes": p.bytes,
                        "is_default": p.is_default,
                        "pending_detach": p.pending_detach,
                    }
                    for p in s.partitions
                ],
            }
            for s in stats
        ]
    }


def render_stats(stats: Sequence[TableStats], fmt: Format) -> str:
    if fmt is Format.JSON:
        return _dumps(stats_json(stats))
    if fmt is Format.PROMETHEUS:
        return _stats_prometheus(stats)
    headers = ["table", "partition", "from", "to", "rows", "bytes", "size"]
    if fmt is Format.CSV:
        rows = [
            [
                s.table,
                p.name,
                "DEFAULT" if p.is_default else iso(p.lower) or "MINVALUE",
                "" if p.is_default else iso(p.upper) or "MAXVALUE",
                "" if p.rows is None else p.rows,
                "" if p.bytes is None else p.bytes,
                "",
            ]
            for s in stats
            for p in s.partitions
        ]
        return _csv([r[:-1] for r in rows], headers[:-1])
    out = []
    for s in stats:
        rows = [
            [
                p.name + (" (detach pending)" if p.pending_detach else ""),
                "DEFAULT" if p.is_default else _short(p.lower) or "MINVALUE",
                "" if p.is_default else _short(p.upper) or "MAXVALUE",
                _rows(p.rows, p.rows_exact),
                _human(p.bytes),
            ]
            for p in s.partitions
        ]
        total = s.total_rows
        rows.append(
            [
                "total",
                "",
                "",
                _rows(total, all(p.rows_exact for p in s.partitions))
                if total is not None
                else f"~{s.known_rows:,}+ (some never analyzed)",
                _human(s.total_bytes),
            ]
        )
        out.append(f"{s.table}\n" + _tabulate(rows, ["partition", "from", "to", "rows", "size"]))
        if s.archives:
            out[-1] += f"\n{s.archives.line()}"
    return "\n\n".join(out) + "\n" if out else ""


def _rows(rows: int | None, exact: bool) -> str:
    if rows is None:
        return "unknown (never analyzed)"
    return f"{rows:,}" if exact else f"~{rows:,}"


def _human(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def _stats_prometheus(stats: Sequence[TableStats]) -> str:
    lines: list[str] = []

    def labels(s: TableStats, name: str) -> str:
        return f'table="{_label(s.table)}",partition="{_label(name)}"'

    _metric(
        lines,
        "pgpart_table_rows",
        "Rows (estimate unless --exact) of the whole table.",
        [(f'table="{_label(s.table)}"', s.known_rows) for s in stats],
    )
    _metric(
        lines,
        "pgpart_table_bytes",
        "Total bytes of all partitions, indexes and TOAST included.",
        [(f'table="{_label(s.table)}"', s.total_bytes) for s in stats],
    )
    _metric(
        lines,
        "pgpart_partition_rows",
        "Rows per partition (estimate unless --exact).",
        [(labels(s, p.name), p.rows) for s in stats for p in s.partitions if p.rows is not None],
    )
    _metric(
        lines,
        "pgpart_partition_bytes",
        "Bytes per partition, indexes and TOAST included.",
        [(labels(s, p.name), p.bytes) for s in stats for p in s.partitions if p.bytes is not None],
    )
    return "\n".join(lines) + "\n"


# --- create / maintain / drop -------------------------------------------------


def _bounds(action: Action) -> tuple[str | None, str | None]:
    if isinstance(action, CreatePartition):
        return iso(action.lower), iso(action.upper)
    lower = getattr(action, "lower", None)
    upper = getattr(action, "upper", None)
    return iso(lower), iso(upper)


def _describe(action: Action) -> str:
    if isinstance(action, CreatePartition) and action.move_rows:
        return "create (+ move DEFAULT rows)"
    return action.action


def results_json(results: Sequence[ActionResult], plan: Plan) -> dict[str, Any]:
    return {
        "status": "failed" if any(r.error for r in results) or _blocked(plan) else "ok",
        "actions": [
            {
                "table": r.action.table.qualified,
                "action": r.action.action,
                "partition": r.action.partition,
                "from": _bounds(r.action)[0],
                "to": _bounds(r.action)[1],
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


def _blocked(plan: Plan) -> bool:
    return any(t.blocked for t in plan.tables)


def render_results(
    results: Sequence[ActionResult], plan: Plan, fmt: Format, *, quiet: bool, dry_run: bool
) -> str:
    failed = any(r.error for r in results) or _blocked(plan)
    if quiet and not failed:
        return ""
    if fmt is Format.JSON:
        return _dumps(results_json(results, plan))
    if dry_run:
        return _dry_run_script(results, plan)
    rows = _result_rows([r for r in results if not quiet or r.error])
    out = ""
    if rows:
        out += (
            _tabulate(rows, ["table", "action", "partition", "from", "to", "result", "error"])
            + "\n"
        )
    problems = _problem_lines([t for t in plan.tables if t.problems and (t.blocked or not quiet)])
    if problems:
        # The problems were judged from the catalog as it was before the run.
        out += ("\nfound before this run:\n" + problems) if rows else problems
    if not rows and not quiet and not _blocked(plan):
        out += "nothing to do: every table is covered\n"
    return out


def _result_rows(results: Sequence[ActionResult]) -> list[list[str]]:
    """One row per action; consecutive actions of one table that failed with
    the same message (e.g. "not attempted: an earlier create action ...
    failed") share one row ("N actions"), not a screenful of cron mail."""
    rows: list[list[str]] = []
    i = 0
    while i < len(results):
        first = last = results[i]
        n = 1
        while (
            first.error
            and i + n < len(results)
            and results[i + n].error == first.error
            and results[i + n].action.table == first.action.table
        ):
            last = results[i + n]
            n += 1
        rows.append(
            [
                first.action.table.qualified,
                f"{n} actions" if n > 1 else _describe(first.action),
                f"{first.action.partition} .. {last.action.partition}"
                if n > 1
                else first.action.partition,
                _short(_dt(first.action, "lower")),
                _short(_dt(last.action, "upper")),
                "failed"
                if first.error
                else "skipped (already there)"
                if first.skipped
                else "done"
                if first.done
                else "not run",
                first.error or "",
            ]
        )
        i += n
    return rows


def _dt(action: Action, attr: str) -> datetime | None:
    value = getattr(action, attr, None)
    return value if isinstance(value, datetime) else None


def _dry_run_script(results: Sequence[ActionResult], plan: Plan) -> str:
    lines = [f"-- pgpart dry run at {plan.now.isoformat()}: nothing was changed"]
    for r in results:
        lower, upper = _bounds(r.action)
        lines.append(
            f"\n-- {r.action.table.qualified}: {_describe(r.action)} {r.action.partition}"
            + (f" [{lower}, {upper})" if upper else "")
        )
        lines.extend(s if s.rstrip().endswith(";") else s + ";" for s in r.sql)
    blocked = _problem_lines([t for t in plan.tables if t.problems])
    if blocked:
        lines.append("\n-- problems:" + blocked.replace("\n  ", "\n--   ").rstrip())
    if not results:
        lines.append("-- nothing to do")
    return "\n".join(lines) + "\n"
