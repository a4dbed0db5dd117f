"""Ask the server whether now has a partition in tables whose key pgpart
cannot read as time (an expression, several columns): what routing would
do with a row whose date and time columns hold now (pgpart.core.opaque_current
says what this covers and what not).

Read-only, inside the catalog's snapshot: each table is asked under its own
savepoint, so a key that cannot be computed this way (it needs another
column) leaves the others unaffected. The key's expression is the server's
own deparsed text, evaluated only when everything it calls is PostgreSQL's
(objects below FirstNormalObjectId, 16384, are built in): no function,
operator, type or operator class of a user's runs with pgpart's role.
pg_get_partkeydef() reads the system caches only: no lock on the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.opaque_current import OpaqueCurrent
from pgpart.core.snapshot import PartitionedTable

if TYPE_CHECKING:
    import psycopg

# Per table: its key as the server prints it, how many columns it has, the
# type its first column is compared as (a built-in one, else NULL), whether
# the key uses only built-in objects, and its date/time columns.
_KEYS_SQL = """
SELECT pt.partrelid, pg_catalog.pg_get_partkeydef(pt.partrelid), pt.partnatts,
       CASE WHEN opc.opcintype < 16384 THEN pg_catalog.format_type(opc.opcintype, NULL) END,
       NOT EXISTS (
         SELECT FROM pg_catalog.pg_depend d
          WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
            AND d.objid = pt.partrelid AND d.objsubid = 0 AND d.refobjid >= 16384
            AND d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass,
                                 'pg_catalog.pg_operator'::pg_catalog.regclass,
                                 'pg_catalog.pg_type'::pg_catalog.regclass,
                                 'pg_catalog.pg_opclass'::pg_catalog.regclass,
                                 'pg_catalog.pg_collation'::pg_catalog.regclass)),
       ARRAY(SELECT pg_catalog.json_build_array(a.attname, a.atttypid::regtype::text)::text
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = pt.partrelid AND a.attnum > 0 AND NOT a.attisdropped
                AND a.atttypid IN ('pg_catalog.timestamptz'::pg_catalog.regtype,
                                   'pg_catalog.timestamp'::pg_catalog.regtype,
                                   'pg_catalog.date'::pg_catalog.regtype)
              ORDER BY a.attnum)
  FROM pg_catalog.pg_partitioned_table pt
  JOIN pg_catalog.pg_opclass opc ON opc.oid = pt.partclass[0]
 WHERE pt.partrelid = ANY(%(oids)s) AND pt.partstrat = 'r'
"""


def candidates(tables: Sequence[PartitionedTable]) -> list[PartitionedTable]:
    """Range-partitioned tables pgpart cannot read, with partitions to judge."""
    return [
        t
        for t in tables
        if t.relkind == "p"
        and t.strategy == "range"
        and not t.is_time_range
        and any(not p.is_default for p in t.partitions)
    ]


def read_opaque_current(
    conn: psycopg.Connection[Any],
    tables: Sequence[PartitionedTable],
    now: datetime,
    zone: str | None,
) -> dict[int, OpaqueCurrent]:
    """Per parent oid, what the server says about now; tables it cannot
    tell about are left out."""
    import json

    import psycopg

    by_oid = {t.oid: t for t in candidates(tables)}
    if not by_oid:
        return {}
    out: dict[int, OpaqueCurrent] = {}
    rows = conn.execute(_KEYS_SQL, {"oids": list(by_oid)}).fetchall()
    for oid, keydef, columns, key_type, builtin, time_columns in rows:
        first = _first_key(keydef or "")
        table = by_oid[oid]
        times = [json.loads(c) for c in time_columns]
        if first is None or key_type is None or not builtin or not times:
            continue
        los, his = _first_bounds(table)
        query = _query(first, key_type, times, inclusive=columns > 1)
        params = {"now": now, "zone": zone or "UTC", "los": los, "his": his}
        try:
            with conn.transaction():
                found = conn.execute(query, params).fetchone()
        except psycopg.Error:
            continue  # the key needs more than the date/time columns: cannot tell
        if found is None or found[0] is None:
            continue
        out[oid] = OpaqueCurrent(
            key=first,
            value=str(found[0]),
            covered=bool(found[1]),
            columns=int(columns),
            when=now.isoformat(sep=" ", timespec="minutes"),
            has_default=table.default is not None,
        )
    return out


def _query(
    key: str, key_type: str, times: Sequence[Sequence[str]], *, inclusive: bool
) -> sql.Composed:
    """(key of the row of now as text, whether a partition takes it)."""
    now = sql.SQL("%(now)s::timestamptz")
    local = sql.SQL("({} AT TIME ZONE %(zone)s)").format(now)
    values = {"timestamp with time zone": now, "timestamp without time zone": local}
    cols = sql.SQL(", ").join(
        sql.SQL("{}::{} AS {}").format(values.get(typ, local), sql.SQL(typ), sql.Identifier(name))
        for name, typ in times
    )
    typ = sql.SQL(key_type)
    return sql.SQL(
        "SELECT x.k::text, EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest(%(los)s::text[]),"
        " pg_catalog.unnest(%(his)s::text[])) AS b(lo, hi)"
        " WHERE (b.lo IS NULL OR x.k >= b.lo::{typ}) AND (b.hi IS NULL OR x.k {op} b.hi::{typ}))"
        " FROM (SELECT ({key})::{typ} AS k FROM (SELECT {cols}) AS r) AS x"
    ).format(typ=typ, op=sql.SQL("<=" if inclusive else "<"), key=sql.SQL(key), cols=cols)


def _first_key(keydef: str) -> str | None:
    """The first column or expression of ``RANGE (a, (b + 1))``."""
    if not keydef.startswith("RANGE (") or not keydef.endswith(")"):
        return None
    items = _split(keydef[len("RANGE (") : -1])
    return items[0] if items else None


def _first_bounds(table: PartitionedTable) -> tuple[list[str | None], list[str | None]]:
    """The first value of each partition's FROM and TO (None: MINVALUE/MAXVALUE)."""
    los: list[str | None] = []
    his: list[str | None] = []
    for p in table.partitions:
        text = p.bound_text or ""
        if not (text.startswith("FOR VALUES FROM (") and ") TO (" in text):
            continue
        head, tail = text[len("FOR VALUES FROM (") : -1].split(") TO (", 1)
        lo, hi = _split(head), _split(tail)
        if lo and hi:
            los.append(_value(lo[0]))
            his.append(_value(hi[0]))
    return los, his


def _value(item: str) -> str | None:
    if item in ("MINVALUE", "MAXVALUE"):
        return None
    if len(item) >= 2 and item[0] == item[-1] == "'":
        return item[1:-1].replace("''", "'")
    return item


def _split(text: str) -> list[str]:
    """Top-level comma-separated items of SQL text (quotes and parentheses kept)."""
    items, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""  # a doubled quote closes and reopens: same result
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return [i for i in items if i]
