"""Every output format in one place: table (tabulate), json, csv, prometheus.

Renderers return text; the CLI decides where it goes (data to stdout).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, TextIO

from pgpart.core.plan import Action, CreatePartition, Plan, Status, TablePlan

if TYPE_CHECKING:
    from pgpart.db.executor import ActionResult
    from pgpart.db.stats import PartitionStats, TableStats


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    PROMETHEUS = "prometheus"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _tabulate(
    rows: Sequence[Sequence[Any]],
    headers: Sequence[str],
    width: int | None = None,
    wrap: Sequence[int] = (),
) -> str:
    """A tabulate table; wider than ``width``, the ``wrap`` columns are
    wrapped, in that order of preference, until it fits (or they cannot be
    narrower). Columns are two spaces apart, headers unpadded."""
    import tabulate as tab

    def render(cells: Sequence[Sequence[Any]]) -> str:
        saved = tab.MIN_PADDING
        tab.MIN_PADDING = 0  # headers as wide as their text, not two more
        try:
            return tab.tabulate(cells, headers=headers, tablefmt="simple", disable_numparse=True)
        finally:
            tab.MIN_PADDING = saved

    text = render(rows)
    if width is None or not rows or not wrap:
        return text
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    for column in wrap:
        excess = max(len(line) for line in text.splitlines()) - width
        if excess <= 0:
            break
        current = max(_cell_width(r[column]) for r in cells)
        target = max(MIN_WRAP, len(headers[column]), current - excess)
        if target >= current:
            continue
        for r in cells:
            r[column] = _wrap_cell(r[column], target)
        text = render(cells)
    return text


MIN_WRAP = 13  # a wrapped column never gets narrower ("2026-11-01 .." fits)


def _wrap_cell(cell: str, target: int) -> str:
    """A cell in lines of at most ``target``: a span "a .. b" breaks after
    "..", then whatever is still longer is wrapped (a long name is split)."""
    if _cell_width(cell) <= target:
        return cell
    if " .. " in cell and "\n" not in cell:
        head, tail = cell.split(" .. ", 1)
        cell = f"{head} ..\n{tail}"
    lines: list[str] = []
    for line in cell.split("\n"):
        lines.extend(textwrap.wrap(line, target, break_on_hyphens=False) or [""])
    return "\n".join(lines)


def _fits(text: str, width: int | None) -> bool:
    return width is None or max(len(line) for line in text.splitlines()) <= width


def _cell_width(cell: str) -> int:
    return max((len(line) for line in cell.split("\n")), default=0)


def terminal_width(stream: TextIO) -> int | None:
    """Columns to fit: $COLUMNS, else the terminal's width; None (no limit)
    when the stream is not a terminal, so piped output is never cut."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError, AttributeError):  # no fileno (a test's StringIO)
        return None
    return None


def wrap_line(text: str, width: int | None, indent: str = "  ", hang: str = "    ") -> str:
    """One message as lines of at most ``width`` (whole when width is None)."""
    if width is None or len(indent) + len(text) <= width:
        return indent + text
    return textwrap.fill(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=hang,
        break_long_words=False,
        break_on_hyphens=False,
    )


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


def render_check(plan: Plan, fmt: Format, *, quiet: bool = False, width: int | None = None) -> str:
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
    shown = [[*r[:4], _compact(t.covered_until), r[5]] for r, t in zip(rows, tables, strict=True)]
    return (
        _tabulate(
            shown,
            ["table", "status", "interval", "parts", "covered until", "default rows"],
            width,
            wrap=(0,),
        )
        + "\n"
        + _problem_lines(tables, width)
        + summary
        + "\n"
    )


def _summary(tables: Sequence[TablePlan]) -> str:
    counts: dict[str, int] = {}
    for t in tables:
        counts[t.status.value] = counts.get(t.status.value, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items()) if tables else "no tables"


def _problem_lines(tables: Sequence[TablePlan], width: int | None = None) -> str:
    """Problems below the table, one message each, wrapped to ``width``."""
    lines = [
        wrap_line(f"{p.severity.value.upper():8} {t.table}: {p.code}: {p.message}", width)
        for t in tables
        for p in t.problems
    ]
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


def _short(value: datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="minutes") if value else ""


def _compact(value: datetime | None) -> str:
    """A moment as short as it can be said exactly: the date alone at
    midnight UTC (or a naive midnight), else minutes and offset."""
    if value is None:
        return ""
    if value.time() == time(0) and value.utcoffset() in (None, UTC_OFFSET):
        return value.date().isoformat()
    return _short(value)


UTC_OFFSET = timedelta(0)


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


def render_stats(stats: Sequence[TableStats], fmt: Format, *, width: int | None = None) -> str:
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
                "DEFAULT" if p.is_default else _compact(p.lower) or "MINVALUE",
                "" if p.is_default else _compact(p.upper) or "MAXVALUE",
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
                else f"~{s.known_rows:,}+",
                _human(s.total_bytes),
            ]
        )
        text = f"{s.table}\n" + _tabulate(
            rows, ["partition", "from", "to", "rows", "size"], width, wrap=(0,)
        )
        never = [p.name for p in s.partitions if p.rows is None]
        if never:
            text += "\n" + wrap_line(
                f"rows unknown: {len(never)} partition(s) never analyzed (or vacuumed):"
                f" run `pgpart stats --exact {s.table}` to count them, or"
                f" `ANALYZE {s.table};` to refresh the estimates",
                width,
            )
        if s.archives:
            text += f"\n{s.archives.line()}"
        out.append(text)
    return "\n\n".join(out) + "\n" if out else ""


def _rows(rows: int | None, exact: bool) -> str:
    if rows is None:
        return "unknown"
    return f"{rows:,}" if exact else f"~{rows:,}"


def _partition_name(action: Action) -> str:
    from pgpart.core.identifiers import display_name

    schema = getattr(action, "partition_schema", None) or action.table.schema
    return display_name(schema, action.partition)


def render_drop_preview(
    actions: Sequence[Action], stats: Sequence[PartitionStats | None], verb: str, width: int | None
) -> str:
    """The confirmation's list: each partition with its range, estimated
    rows and size, and the total of what is about to go."""
    rows = []
    total_rows = total_bytes = 0
    unknown = False
    for action, p in zip(actions, stats, strict=True):
        if p is None or p.rows is None:
            unknown = True
        else:
            total_rows += p.rows
        total_bytes += (p.bytes or 0) if p is not None else 0
        rows.append(
            [
                _partition_name(action),
                _range(action),
                "unknown" if p is None else _rows(p.rows, p.rows_exact),
                "" if p is None else _human(p.bytes),
            ]
        )
    rows.append(
        [
            f"total: {len(actions)} partition(s)",
            "",
            "unknown"
            if unknown and not total_rows
            else f"~{total_rows:,}" + ("+" if unknown else ""),
            _human(total_bytes),
        ]
    )
    note = (
        wrap_line("rows unknown: never analyzed (ANALYZE the table for estimates)", width) + "\n"
        if unknown
        else ""
    )
    return (
        f"pgpart is about to {verb}:\n"
        + _tabulate(rows, ["partition", "range", "rows (estimate)", "size"], width, wrap=(0,))
        + "\n"
        + note
    )


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


@dataclass(frozen=True, slots=True)
class Tally:
    """What a writing run did (or, dry, would do): the closing summary."""

    created: int = 0
    dropped: int = 0
    detached: int = 0
    finalized: int = 0
    rows_moved: int = 0
    moves: int = 0  # creations that move rows out of DEFAULT
    failed: int = 0  # failed, or not attempted after a failure
    skipped: int = 0  # already there (a concurrent run made it)

    @classmethod
    def of(cls, results: Sequence[ActionResult]) -> Tally:
        counts = {"create": 0, "drop": 0, "detach": 0, "finalize_detach": 0}
        failed = skipped = moved = moves = 0
        for r in results:
            if r.error:
                failed += 1
                continue
            if r.skipped:
                skipped += 1
                continue
            counts[r.action.action] = counts.get(r.action.action, 0) + 1
            moved += r.rows_moved
            moves += isinstance(r.action, CreatePartition) and r.action.move_rows
        return cls(
            counts["create"],
            counts["drop"],
            counts["detach"],
            counts["finalize_detach"],
            moved,
            moves,
            failed,
            skipped,
        )

    def line(self, *, dry_run: bool) -> str:
        if dry_run:
            parts = [f"would create {self.created}", f"drop {self.dropped}"]
            if self.detached:
                parts.append(f"detach {self.detached}")
            if self.finalized:
                parts.append(f"finish {self.finalized} interrupted detach(es)")
            if self.moves:
                parts.append(f"move DEFAULT rows into {self.moves}")
            return "dry run: " + ", ".join(parts) + "; nothing was changed"
        parts = [f"created {self.created}", f"dropped {self.dropped}"]
        if self.detached:
            parts.append(f"detached {self.detached}")
        if self.finalized:
            parts.append(f"finished {self.finalized} interrupted detach(es)")
        parts.append(f"rows moved {self.rows_moved:,}")
        if self.skipped:
            parts.append(f"already there {self.skipped}")
        parts.append(f"failed {self.failed}")
        return ", ".join(parts)


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
    failed = any(r.error for r in results) or _blocked(plan)
    if quiet and not (failed or interrupted):
        return ""
    if fmt is Format.JSON:
        data = results_json(results, plan)
        data["summary"] = _tally_json(Tally.of(results), dry_run)
        if after is not None:
            data["check_after"] = check_json(after)
        if interrupted:
            data["status"] = "interrupted"
        return _dumps(data)
    if quiet:
        return ""  # the CLI says what went wrong on stderr, once
    if dry_run:
        return _dry_run_script(results, plan, width)
    out = ""
    rows = _result_rows(results)
    if rows:
        out += _result_table(rows, width) + "\n"
        errors = _error_lines(results, width)
        if errors:
            out += "\n" + errors
    blocked = _problem_lines([t for t in plan.tables if t.blocked and t.problems], width)
    if blocked:
        out += "\nnot changed:" + blocked
    if not results and not _blocked(plan) and not interrupted:
        out += "nothing to do\n"
    out += (
        "\n"
        + Tally.of(results).line(dry_run=False)
        + (" (interrupted: the rest was not attempted)" if interrupted else "")
        + "\n"
    )
    if after is not None:
        out += _state_after(after, width)
    return out


def _tally_json(tally: Tally, dry_run: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "created": tally.created,
        "dropped": tally.dropped,
        "detached": tally.detached,
        "finalized": tally.finalized,
        "rows_moved": tally.rows_moved,
        "failed": tally.failed,
        "skipped": tally.skipped,
    }


def _state_after(after: Plan, width: int | None) -> str:
    """The check status the run left, with whatever is still wrong."""
    problems = _problem_lines([t for t in after.tables if t.problems], width)
    return f"check now: {after.status.value.upper()} ({_summary(after.tables)})\n" + problems


def _error_lines(results: Sequence[ActionResult], width: int | None) -> str:
    """Each distinct error once, below the table, wrapped to the width."""
    seen: list[tuple[str, str]] = []
    for r in results:
        if r.error and (r.action.table.qualified, r.error) not in seen:
            seen.append((r.action.table.qualified, r.error))
    lines = [wrap_line(f"FAILED   {table}: {error}", width) for table, error in seen]
    return ("\n".join(lines) + "\n") if lines else ""


def _range(action: Action) -> str:
    lower, upper = _dt(action, "lower"), _dt(action, "upper")
    if lower is None and upper is None:
        return ""
    return f"{_compact(lower) or 'MINVALUE'} .. {_compact(upper)}"


def _result_rows(results: Sequence[ActionResult]) -> list[list[str]]:
    """One row per run of consecutive actions of one kind on one table with
    the same outcome: "create (30)  events_2026_11_29 .. events_2026_12_28",
    not a screenful of rows (or of cron mail) for a month of daily partitions."""
    rows: list[list[str]] = []
    i = 0
    while i < len(results):
        first = results[i]
        n = 1
        while (
            i + n < len(results)
            and results[i + n].action.table == first.action.table
            and results[i + n].action.action == first.action.action
            and results[i + n].error == first.error
            and _outcome(results[i + n]) == _outcome(first)
        ):
            n += 1
        group = results[i : i + n]
        last = group[-1]
        lower, upper = _dt(first.action, "lower"), _dt(last.action, "upper")
        moved = sum(r.rows_moved for r in group)
        outcome = _outcome(first)
        rows.append(
            [
                first.action.table.qualified,
                f"{first.action.action} ({n})" if n > 1 else first.action.action,
                f"{first.action.partition} .. {last.action.partition}"
                if n > 1
                else first.action.partition,
                f"{_compact(lower) or 'MINVALUE'} .. {_compact(upper)}" if lower or upper else "",
                f"{outcome}, {moved:,} rows moved" if moved else outcome,
            ]
        )
        i += n
    return rows


def _result_table(rows: list[list[str]], width: int | None) -> str:
    """One table; where even its wrapped form is too wide, one per table
    (the table's name as a heading instead of a column)."""
    headers = ["table", "action", "partitions", "range", "result"]
    text = _tabulate(rows, headers, width, (2, 3))
    if _fits(text, width):
        return text
    sections = []
    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r[1:] for r in rows if r[0] == name]
        sections.append(name + "\n" + _tabulate(mine, headers[1:], width, (1, 2, 3)))
    return "\n\n".join(sections)


def _outcome(r: ActionResult) -> str:
    if r.error:
        return "not attempted" if r.error.startswith("not attempted") else "failed"
    if r.skipped:
        return "already there"
    return "done" if r.done else "not run"


def _dt(action: Action, attr: str) -> datetime | None:
    value = getattr(action, attr, None)
    return value if isinstance(value, datetime) else None


def _dry_run_script(results: Sequence[ActionResult], plan: Plan, width: int | None = None) -> str:
    """The summary and the plan first, then every statement (as SQL comments
    and statements, so the output can be reviewed and even run by hand)."""
    head = [f"-- pgpart dry run at {plan.now.isoformat()}: nothing was changed"]
    head.append("-- " + Tally.of(results).line(dry_run=True))
    narrower = None if width is None else width - 3
    for line in _grouped(results):
        head.extend("-- " + part for part in wrap_line(line, narrower, "", "  ").splitlines())
    problems = _problem_lines([t for t in plan.tables if t.problems], narrower)
    if problems:
        head.append("--\n-- problems:")
        head.extend("-- " + line for line in problems.strip("\n").splitlines())
    if not results:
        head.append("-- nothing to do")
    lines = head
    for r in results:
        lower, upper = _bounds(r.action)
        lines.append(
            f"\n-- {r.action.table.qualified}: {_describe(r.action)} {r.action.partition}"
            + (f" [{lower}, {upper})" if upper else "")
        )
        lines.extend(s if s.rstrip().endswith(";") else s + ";" for s in r.sql)
    return "\n".join(lines) + "\n"


def _grouped(results: Sequence[ActionResult]) -> list[str]:
    """One line per run of consecutive actions of one kind on one table:
    how many, which partitions, what range (a summary of 200 statements)."""
    lines: list[str] = []
    i = 0
    while i < len(results):
        first = results[i]
        n = 1
        while (
            i + n < len(results)
            and results[i + n].action.table == first.action.table
            and results[i + n].action.action == first.action.action
        ):
            n += 1
        group = results[i : i + n]
        last = group[-1]
        names = (
            first.action.partition
            if n == 1
            else f"{first.action.partition} .. {last.action.partition}"
        )
        lower, upper = _dt(first.action, "lower"), _dt(last.action, "upper")
        span = f" [{_compact(lower) or 'MINVALUE'}, {_compact(upper)})" if upper else ""
        moving = [r.action.partition for r in group if _moves(r)]
        moves = f"; moving DEFAULT rows into {', '.join(moving)}" if moving else ""
        lines.append(
            f"{first.action.table.qualified}: {first.action.action} {n}: {names}{span}{moves}"
        )
        i += n
    return lines


def _moves(r: ActionResult) -> bool:
    return isinstance(r.action, CreatePartition) and r.action.move_rows
