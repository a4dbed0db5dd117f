"""One report for many databases: the single-database renderers, wrapped.

Each member is rendered by pgpart.cli.output exactly as it would be alone; this
module only adds the database: a ``database`` key in every JSON object, a
``database`` label on every Prometheus sample (families merged, so each
metric keeps one HELP/TYPE header), a first ``database`` column in CSV and
in tables. A member that failed appears as a row or an entry of its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pgpart.cli.output import (
    Format,
    check_json,
    render_check,
    render_results,
    render_stats,
    results_json,
    stats_json,
)
from pgpart.cli.output.common import dumps, sql_comment
from pgpart.cli.output.prometheus import label
from pgpart.core.plan import Plan, Status

if TYPE_CHECKING:
    from pgpart.cli.fleet_members import Outcome
    from pgpart.db.results import ActionResult
    from pgpart.db.stats import TableStats

T = TypeVar("T")

CheckOutcomes = Sequence["Outcome[Plan]"]
StatsOutcomes = Sequence["Outcome[list[TableStats]]"]
WriteOutcomes = Sequence["Outcome[tuple[list[ActionResult], Plan]]"]

_STATUS_BY_CODE = {0: "ok", 1: "warning", 2: "critical", 3: "unknown"}


# --- pieces --------------------------------------------------------------------


def labelled(value: Any, name: str) -> Any:
    """``value`` with ``"database": name`` first in every JSON object inside it."""
    if isinstance(value, dict):
        return {"database": name, **{k: labelled(v, name) for k, v in value.items()}}
    if isinstance(value, list):
        return [labelled(v, name) for v in value]
    return value


def merge_prometheus(parts: Sequence[tuple[str, str]]) -> str:
    """Exposition texts of several databases as one: a ``database`` label on
    every sample, each metric family once (HELP, TYPE, then all its samples)."""
    headers: dict[str, list[str]] = {}
    samples: dict[str, list[str]] = {}
    for name, text in parts:
        database = f'database="{label(name)}"'
        for line in text.splitlines():
            if not line:
                continue
            if line.startswith("# "):
                metric = line.split(" ", 3)[2]
                kept = headers.setdefault(metric, [])
                if line not in kept:
                    kept.append(line)
                samples.setdefault(metric, [])
                continue
            metric, brace, rest = line.partition("{")
            if brace:
                samples.setdefault(metric, []).append(f"{metric}{{{database},{rest}")
            else:
                metric, _, value = line.partition(" ")
                samples.setdefault(metric, []).append(f"{metric}{{{database}}} {value}")
    lines: list[str] = []
    for metric, found in samples.items():
        lines += headers.get(metric, [])
        lines += found
    return "\n".join(lines) + "\n"


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _write_csv(rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _tabulate(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def _short(text: str | None) -> str:
    if not text:
        return ""
    return datetime.fromisoformat(text).isoformat(sep=" ", timespec="minutes")


def _databases(outcomes: Sequence[Outcome[T]], status: Callable[[T], str]) -> list[dict[str, Any]]:
    return [
        {
            "database": o.member.name,
            "status": _STATUS_BY_CODE.get(o.code, "unknown")
            if o.value is None
            else status(o.value),
            "error": o.error,
        }
        for o in outcomes
    ]


def _fleet_status(outcomes: CheckOutcomes) -> Status:
    from pgpart.cli.exit_codes import check_exit_code, worst

    codes = [check_exit_code(o.value.status) if o.value is not None else o.code for o in outcomes]
    return Status(_STATUS_BY_CODE.get(worst(codes), "unknown"))


# --- check ---------------------------------------------------------------------


def render_check_fleet(outcomes: CheckOutcomes, fmt: Format, now: datetime, quiet: bool) -> str:
    ok = [(o.member.name, o.value) for o in outcomes if o.value is not None]
    failed = [o for o in outcomes if o.failed]
    if fmt is Format.PROMETHEUS:
        parts = [(name, render_check(plan, fmt)) for name, plan in ok]
        header = render_check(Plan(now, ()), fmt).split("\n")[:2]  # HELP/TYPE of the status
        parts += [
            (o.member.name, "\n".join([*header, f"pgpart_check_status {o.code}"])) for o in failed
        ]
        return merge_prometheus(parts)
    if fmt is Format.JSON:
        return _check_json_fleet(outcomes, now, quiet)
    headers, rows = _check_rows(ok, failed, now, quiet)
    if fmt is Format.CSV:
        return _write_csv([headers, *rows])
    if not rows:
        return ""
    text = _tabulate([r[:-1] for r in rows], headers[:-1]) + "\n"
    problems = _check_problem_lines(ok, failed, quiet)
    if problems:
        text += "\n" + "\n".join(problems) + "\n"
    return text + _check_summary(outcomes)


def _check_json_fleet(outcomes: CheckOutcomes, now: datetime, quiet: bool) -> str:
    tables = [
        labelled(t, o.member.name)
        for o in outcomes
        if o.value is not None
        for t in check_json(o.value)["tables"]
        if not quiet or t["status"] != "ok"
    ]
    if quiet and not tables and not any(o.failed for o in outcomes):
        return ""
    return dumps(
        {
            "status": _fleet_status(outcomes).value,
            "now": now.isoformat(),
            "tables": tables,
            "databases": _databases(outcomes, lambda p: p.status.value),
        }
    )


def _check_rows(
    ok: Sequence[tuple[str, Plan]], failed: CheckOutcomes, now: datetime, quiet: bool
) -> tuple[list[str], list[list[str]]]:
    """The CSV columns with a first "database", and a row per table (per
    database that failed)."""
    rows: list[list[str]] = []
    headers: list[str] = []
    for name, plan in ok:
        header, *body = _csv_rows(render_check(plan, Format.CSV, quiet=quiet))
        headers = header
        rows += [[name, *r] for r in body]
    if not headers:
        headers = _csv_rows(render_check(Plan(now, ()), Format.CSV))[0]
    rows += [[o.member.name, "", "UNKNOWN", "", "", "", "", o.error or ""] for o in failed]
    return ["database", *headers], rows


def _check_problem_lines(
    ok: Sequence[tuple[str, Plan]], failed: CheckOutcomes, quiet: bool
) -> list[str]:
    problems = [
        f"  {p.severity.value.upper():8} {name}: {t.table}: {p.code}: {p.message}"
        for name, plan in ok
        for t in plan.tables
        if not quiet or t.status is not Status.OK
        for p in t.problems
    ]
    return problems + [f"  {'UNKNOWN':8} {o.member.name}: {o.error}" for o in failed]


def _check_summary(outcomes: CheckOutcomes) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        for t in o.value.tables if o.value is not None else ():
            counts[t.status.value] = counts.get(t.status.value, 0) + 1
    by_status = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no tables"
    failed = sum(1 for o in outcomes if o.failed)
    return (
        f"\n{_fleet_status(outcomes).value.upper()}: {len(outcomes)} databases"
        + (f" ({failed} not checked)" if failed else "")
        + f"; tables: {by_status}\n"
    )


# --- stats -----------------------------------------------------------------------


def render_stats_fleet(outcomes: StatsOutcomes, fmt: Format) -> str:
    ok = [(o.member.name, o.value) for o in outcomes if o.value is not None]
    if fmt is Format.PROMETHEUS:
        return merge_prometheus([(name, render_stats(stats, fmt)) for name, stats in ok])
    if fmt is Format.JSON:
        return dumps(
            {
                "tables": [
                    labelled(t, name) for name, stats in ok for t in stats_json(stats)["tables"]
                ],
                "databases": _databases(outcomes, lambda _: "ok"),
            }
        )
    if fmt is Format.CSV:
        rows: list[list[str]] = []
        headers = _csv_rows(render_stats([], Format.CSV))[0]
        for name, stats in ok:
            rows += [[name, *r] for r in _csv_rows(render_stats(stats, Format.CSV))[1:]]
        return _write_csv([["database", *headers], *rows])
    blocks = []
    for name, stats in ok:
        for s in stats:
            title, _, table = render_stats([s], fmt).partition("\n")
            blocks.append(f"database {name}: {title}\n{table.rstrip()}")
    return "\n\n".join(blocks) + "\n" if blocks else ""


# --- create / maintain / drop --------------------------------------------------------


def _result(action: dict[str, Any]) -> str:
    analyze = action["action"] == "analyze"  # a failure of it is a warning
    if action["error"]:
        return "failed (a warning)" if analyze else "failed"
    if action["skipped"]:
        return "not needed" if analyze else "skipped (already there)"
    return "done" if action["done"] else "not run"


def render_results_fleet(
    outcomes: WriteOutcomes, fmt: Format, *, quiet: bool, dry_run: bool
) -> str:
    ok = [(o.member.name, o.value) for o in outcomes if o.value is not None]
    failed = [o for o in outcomes if o.failed]
    docs = [(name, results_json(results, plan)) for name, (results, plan) in ok]
    any_failed = bool(failed) or any(d["status"] == "failed" for _, d in docs)
    if quiet and not any_failed:
        return ""
    if fmt is Format.JSON:
        return _results_json_fleet(outcomes, docs, any_failed)
    if dry_run:
        scripts = [
            sql_comment(f"database {name}")
            + "\n"
            + render_results(results, plan, fmt, quiet=False, dry_run=True)
            for name, (results, plan) in ok
        ]
        scripts += [sql_comment(f"database {o.member.name}: {o.error}") + "\n" for o in failed]
        return "\n".join(scripts)
    return _results_table_fleet(docs, failed, quiet)


Document = dict[str, Any]  # results_json of one database


def _results_json_fleet(
    outcomes: WriteOutcomes, docs: Sequence[tuple[str, Document]], any_failed: bool
) -> str:
    return dumps(
        {
            "status": "failed" if any_failed else "ok",
            "actions": [labelled(a, name) for name, d in docs for a in d["actions"]],
            "tables": [labelled(t, name) for name, d in docs for t in d["tables"]],
            "databases": [
                {
                    "database": o.member.name,
                    "status": "failed" if o.failed else dict(docs)[o.member.name]["status"],
                    "error": o.error,
                }
                for o in outcomes
            ],
        }
    )


def _results_table_fleet(
    docs: Sequence[tuple[str, Document]], failed: WriteOutcomes, quiet: bool
) -> str:
    rows = [
        [
            name,
            a["table"],
            a["action"],
            a["partition"],
            _short(a["from"]),
            _short(a["to"]),
            _result(a),
            a["error"] or "",
        ]
        for name, d in docs
        for a in d["actions"]
        if not quiet or a["error"]
    ]
    rows += [[o.member.name, "", "", "", "", "", "failed", o.error or ""] for o in failed]
    out = ""
    if rows:
        headers = ["database", "table", "action", "partition", "from", "to", "result", "error"]
        out += _tabulate(rows, headers) + "\n"
    problems = [
        f"  {p['severity'].upper():8} {name}: {t['table']}: {p['code']}: {p['message']}"
        for name, d in docs
        for t in d["tables"]
        if t["blocked"] or not quiet
        for p in t["problems"]
    ]
    if problems:
        out += ("\nfound before this run:\n" if rows else "") + "\n".join(problems) + "\n"
    if not rows and not problems and not quiet:
        out += "nothing to do: every table of every database is covered\n"
    return out
