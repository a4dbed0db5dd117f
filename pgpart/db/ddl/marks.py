"""Marks in the catalog: the statements that put, update and remove them,
and the query that reads them all in the catalog snapshot.

A mark is the comment of a CHECK constraint named ``MARK_CONSTRAINT`` on
the marked table (pgpart.core.marks holds its text and parser): a
constraint comment, so that the table's own comment stays the user's, and a
constraint, so that the mark goes with the table (renamed, moved to another
schema, dropped) and can carry a condition of its own (a relocation's bound,
which also lets ATTACH skip its scan of the table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.marks import MARK_CONSTRAINT, Mark, MarkedTable, mark_text, parse_mark

if TYPE_CHECKING:
    import psycopg

_MARKS_SQL = """
SELECT n.nspname::text, c.relname::text, c.oid, pg_catalog.pg_get_userbyid(c.relowner)::text,
       c.relkind::text, d.description,
       CASE WHEN c.relispartition THEN
         (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) END,
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, 0) END
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_description d
    ON d.classoid = 'pg_catalog.pg_constraint'::regclass AND d.objoid = k.oid AND d.objsubid = 0
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE k.conname = %(name)s AND k.contype = 'c'
"""


def read_marks(conn: psycopg.Connection[Any]) -> tuple[MarkedTable, ...]:
    """Every marked table of the database (the constraint name is indexed)."""
    out = []
    for schema, name, oid, owner, relkind, text, parent, bound in conn.execute(
        _MARKS_SQL, {"name": MARK_CONSTRAINT}
    ).fetchall():
        mark = parse_mark(text)
        if mark is not None:
            out.append(MarkedTable(schema, name, oid, owner, relkind, mark, parent, bound))
    return tuple(out)


def add_mark(
    table: sql.Identifier, shown: str, mark: Mark, condition: sql.Composable
) -> list[sql.Composed]:
    """Mark ``table`` (``shown``: its display name) with a CHECK on ``condition``."""
    return [
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({})").format(
            table, sql.Identifier(MARK_CONSTRAINT), condition
        ),
        set_mark(table, shown, mark),
    ]


def set_mark(table: sql.Identifier, shown: str, mark: Mark) -> sql.Composed:
    return sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
        sql.Identifier(MARK_CONSTRAINT), table, sql.Literal(mark_text(mark, shown))
    )


def drop_mark(table: sql.Identifier) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
        table, sql.Identifier(MARK_CONSTRAINT)
    )


def mark_state(table: sql.Identifier) -> sql.Composed:
    """One row: whether ``table`` exists, the parent it is attached to (or
    NULL), and its mark's comment (or NULL)."""
    text = sql.Literal(table.as_string(None))
    return sql.SQL(
        "SELECT c.oid IS NOT NULL,"
        " CASE WHEN c.relispartition THEN"
        "  (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) END,"
        " (SELECT d.description FROM pg_catalog.pg_constraint k"
        "   JOIN pg_catalog.pg_description d ON d.objoid = k.oid"
        "    AND d.classoid = 'pg_catalog.pg_constraint'::regclass AND d.objsubid = 0"
        "  WHERE k.conrelid = c.oid AND k.conname = {name})"
        " FROM (SELECT pg_catalog.to_regclass({text}) AS oid) r"
        " LEFT JOIN pg_catalog.pg_class c ON c.oid = r.oid"
    ).format(name=sql.Literal(MARK_CONSTRAINT), text=text)
