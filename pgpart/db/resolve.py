"""TABLE arguments resolved to the tables they name, as PostgreSQL would."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgpart.core.identifiers import QualifiedName
from pgpart.core.record import record

if TYPE_CHECKING:
    import psycopg

    from pgpart.db.search_path import SearchPath


@record
class Resolved:
    """A TABLE argument and what it names: an oid, or None when unknown."""

    argument: str
    oid: int | None


def resolve_tables(
    conn: psycopg.Connection[Any], names: Sequence[str], path: SearchPath | None = None
) -> list[Resolved]:
    """Resolve TABLE arguments as PostgreSQL would (quoting rules; a bare name
    through the search path the session would have had: pgpart.db.search_path),
    from the catalog rather than through regclass: to_regclass raises
    "permission denied for schema" for a schema the role may not use, which
    would abort the whole run instead of that one table. (Such a table then
    reads as unknown.)"""
    from pgpart.core.identifiers import parse_qualified_name
    from pgpart.db.search_path import search_path

    parsed: list[QualifiedName | None] = []
    for text in names:
        try:
            parsed.append(parse_qualified_name(text))
        except ValueError:
            parsed.append(None)
    searched = list((path or search_path(conn)).searched)
    rows = conn.execute(
        "SELECT (SELECT c.oid FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE c.relname = u.rel AND CASE WHEN u.sch IS NULL"
        "   THEN n.nspname = ANY(%(path)s::text[]) ELSE n.nspname = u.sch END"
        "  ORDER BY pg_catalog.array_position(%(path)s::text[], n.nspname::text) LIMIT 1)"
        " FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]),"
        "  pg_catalog.unnest(%(names)s::text[])) WITH ORDINALITY AS u(sch, rel, i) ORDER BY i",
        {
            "path": searched,
            "schemas": [q.schema if q else None for q in parsed],
            "names": [q.name if q else None for q in parsed],
        },
    ).fetchall()
    return [Resolved(arg, row[0]) for arg, row in zip(names, rows, strict=True)]
