"""The statements that mark a restored partition as kept until a date (what
the mark means, and how the planner reads it: pgpart.core.restore_mark).

A constraint carries the mark, not the table's comment, which the archive
brought back as it was: ``CHECK (true) NOT VALID`` validates nothing and
scans nothing, and its comment holds the date. A mark the dump itself
carried (the partition had been restored once before, then expired and was
archived again) is replaced.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from pgpart.core.restore_mark import CONSTRAINT, note


def mark_statements(
    schema: str, name: str, *, source: str, restored_at: datetime, until: datetime
) -> list[sql.Composed]:
    table, mark = sql.Identifier(schema, name), sql.Identifier(CONSTRAINT)
    return [
        sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(table, mark),
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (true) NOT VALID").format(table, mark),
        sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
            mark, table, sql.Literal(note(source, restored_at, until))
        ),
    ]
