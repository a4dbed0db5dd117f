"""Names and partition bounds as SQL text: an identifier, a bound as a
constant of the key's type, a bound as ATTACH's FOR VALUES reads it."""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from pgpart.core.bounds import KeyKind, format_bound


def ident(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def bound_text(value: datetime, kind: KeyKind) -> sql.Literal:
    """A bound as ATTACH's FOR VALUES reads it: a date/time or uuid as a
    quoted literal, an integer epoch as a number."""
    if kind.encoded and kind.sql_type != "uuid":
        return sql.Literal(kind.key_value(value))
    return sql.Literal(format_bound(value, kind))


def bound(value: datetime, kind: KeyKind) -> sql.Composed:
    """A bound as a constant of the key's type (``'...'::timestamptz``,
    ``1764547200000::bigint``, ``'...'::uuid``): compared with the column
    as it is, so the planner prunes by it."""
    return sql.SQL("{}::{}").format(bound_text(value, kind), SQL_TYPES[kind])


def show(value: datetime) -> str:
    return value.isoformat(sep=" ")


SQL_TYPES = {kind: sql.SQL(kind.sql_type) for kind in KeyKind}

# pg_get_expr() prints a range bound as FOR VALUES FROM (x) TO (y), each value
# quoted or MINVALUE/MAXVALUE, in the session's own DateStyle/TimeZone, which
# the cast back reads the same way.
BOUND_RE = "^FOR VALUES FROM [(](.+)[)] TO [(](.+)[)]$"
