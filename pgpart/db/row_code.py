"""Reading, for tables with a DEFAULT partition, the functions of roles other
than superusers that PostgreSQL would run for rows moved into a new
partition (pgpart.core.row_code says why these and not others).

From pg_depend: what the parent's and the newest sibling's CHECK
constraints, the parent's generated columns and the indexes of both depend
on: functions, the functions of operators, and the CHECK constraints of
domains they cast to (themselves followed the same way). One query for all
tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgpart.core.row_code import RowCode, RowCodeKind

if TYPE_CHECKING:
    import psycopg

_ROW_CODE_SQL = """
WITH RECURSIVE rels(parent, rel) AS (
  SELECT * FROM ROWS FROM (pg_catalog.unnest(%(parents)s::oid[]),
                           pg_catalog.unnest(%(rels)s::oid[]))
),
exprs(parent, classid, objid, kind, what) AS (
  SELECT r.parent, 'pg_catalog.pg_constraint'::regclass, k.oid, 'check',
         'CHECK constraint ' || pg_catalog.quote_ident(k.conname) || ' of '
         || k.conrelid::regclass::text
    FROM rels r JOIN pg_catalog.pg_constraint k ON k.conrelid = r.rel AND k.contype = 'c'
   WHERE r.rel = r.parent OR k.conislocal  -- a sibling's own, not the parent's copies
  UNION ALL
  SELECT r.parent, 'pg_catalog.pg_attrdef'::regclass, d.oid, 'generated',
         'generated column ' || pg_catalog.quote_ident(a.attname) || ' of '
         || d.adrelid::regclass::text
    FROM rels r JOIN pg_catalog.pg_attrdef d ON d.adrelid = r.rel
    JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
   WHERE r.rel = r.parent AND a.attgenerated <> ''
  UNION ALL
  SELECT r.parent, 'pg_catalog.pg_class'::regclass, i.indexrelid, 'index',
         'index ' || i.indexrelid::regclass::text
    FROM rels r JOIN pg_catalog.pg_index i ON i.indrelid = r.rel
),
deps(parent, kind, what, refclassid, refobjid, depth) AS (
  SELECT e.parent, e.kind, e.what, d.refclassid, d.refobjid, 0
    FROM exprs e JOIN pg_catalog.pg_depend d ON d.classid = e.classid AND d.objid = e.objid
  UNION ALL
  SELECT x.parent, x.kind, x.what, d.refclassid, d.refobjid, x.depth + 1
    FROM deps x
    JOIN pg_catalog.pg_constraint k
      ON x.refclassid = 'pg_catalog.pg_type'::regclass AND k.contypid = x.refobjid
    JOIN pg_catalog.pg_depend d
      ON d.classid = 'pg_catalog.pg_constraint'::regclass AND d.objid = k.oid
   WHERE x.depth < 8
)
SELECT DISTINCT x.parent, p.oid::regprocedure::text, o.rolname::text, x.kind, x.what
  FROM deps x
  JOIN pg_catalog.pg_proc p ON p.oid = CASE
         WHEN x.refclassid = 'pg_catalog.pg_proc'::regclass THEN x.refobjid
         WHEN x.refclassid = 'pg_catalog.pg_operator'::regclass
         THEN (SELECT op.oprcode::oid FROM pg_catalog.pg_operator op WHERE op.oid = x.refobjid)
       END
  JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
 WHERE NOT o.rolsuper
 ORDER BY 1, 4, 5, 2
"""


def read_row_code(
    conn: psycopg.Connection[Any], pairs: Sequence[tuple[int, int | None]]
) -> dict[int, tuple[RowCode, ...]]:
    """{parent oid: its row code} for (parent, newest sibling or None) pairs."""
    if not pairs:
        return {}
    parents = [p for p, _ in pairs] + [p for p, s in pairs if s is not None]
    rels = [p for p, _ in pairs] + [s for _, s in pairs if s is not None]
    found: dict[int, list[RowCode]] = {}
    for parent, function, owner, kind, where in conn.execute(
        _ROW_CODE_SQL, {"parents": parents, "rels": rels}
    ).fetchall():
        found.setdefault(parent, []).append(
            RowCode(str(function), str(owner), RowCodeKind(kind), str(where))
        )
    return {p: tuple(codes) for p, codes in found.items()}
