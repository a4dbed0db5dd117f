"""'Did you mean ...?' for TABLE arguments that name no table.

Read only when some argument is unknown: one catalog query for the names of
the database's tables (partitions left out: there can be thousands, and a
TABLE argument names a parent), compared with difflib.
"""

from __future__ import annotations

from dataclasses import replace
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from pgpart.core.identifiers import display_name, parse_qualified_name
from pgpart.core.plan import Plan, ProblemCode, TablePlan

if TYPE_CHECKING:
    import psycopg

_TABLES = (
    "SELECT n.nspname, c.relname, c.relkind = 'p' FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('p', 'r') AND NOT c.relispartition"
    " AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
)


def similar_tables(
    argument: str, tables: list[tuple[str, str, bool]], *, limit: int = 3
) -> list[str]:
    """The tables whose name is close to ``argument`` (partitioned ones first)."""
    try:
        wanted = parse_qualified_name(argument)
    except ValueError:
        return []
    by_name: dict[str, list[str]] = {}
    for schema, name, _ in sorted(tables, key=lambda t: not t[2]):
        key = f"{schema}.{name}" if wanted.schema is not None else name
        by_name.setdefault(key.lower(), []).append(display_name(schema, name))
    text = f"{wanted.schema}.{wanted.name}" if wanted.schema is not None else wanted.name
    close = get_close_matches(text.lower(), list(by_name), n=limit, cutoff=0.6)
    found = [shown for key in close for shown in by_name[key]]
    return found[:limit]


def with_suggestions(conn: psycopg.Connection[Any], plan: Plan) -> Plan:
    """The plan, its unknown_table problems ending with "did you mean ...?"."""
    unknown = [
        t for t in plan.tables if any(p.code is ProblemCode.UNKNOWN_TABLE for p in t.problems)
    ]
    if not unknown:
        return plan
    import psycopg

    try:
        rows = [(str(s), str(n), bool(p)) for s, n, p in conn.execute(_TABLES).fetchall()]
    except psycopg.Error:
        return plan  # a hint only: the error stands without it
    return replace(plan, tables=tuple(_suggest(t, rows) for t in plan.tables))


def _suggest(table: TablePlan, rows: list[tuple[str, str, bool]]) -> TablePlan:
    problems = []
    for p in table.problems:
        if p.code is ProblemCode.UNKNOWN_TABLE:
            close = similar_tables(table.table, rows)
            if close:
                p = replace(p, message=f"{p.message} (did you mean {' or '.join(close)}?)")
        problems.append(p)
    return replace(table, problems=tuple(problems))
