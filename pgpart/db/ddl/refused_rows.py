"""Rows of the DEFAULT that a drain's table in transit would refuse: its own
NOT NULL and CHECK constraints (copied from the newest sibling), which the
DEFAULT may lack. Found before any row moves, and, when one arrives during
the drain, the rows already moved are given back, so that no row waits in a
table the application cannot see for a fix nobody is making.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from pgpart.core.plan import CreatePartition
from pgpart.db.ddl.literals import bound, ident
from pgpart.db.ddl.locking import advisory_target, prologue
from pgpart.db.ddl.relocate import transit, transit_guard, transit_name
from pgpart.db.ddl.settle import cols, move_settings
from pgpart.db.ddl.step import DdlOptions, Guard, LockTarget, Outcome, Step, Verdict

# (label, condition every row must meet) of the newest sibling (what the
# drain adds to the table in transit once the rows are in: NOT NULL, CHECKs)
# and of the table in transit itself; a CHECK lets NULL pass, as
# PostgreSQL's does. The expressions are deparsed with the session's empty
# search_path: every name in them is schema-qualified.
CONSTRAINTS_SQL = """
SELECT DISTINCT ON (1) label, condition FROM (
SELECT 'NOT NULL ' || pg_catalog.quote_ident(a.attname) AS label,
       pg_catalog.quote_ident(a.attname) || ' IS NOT NULL' AS condition
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = ANY(%(rels)s::pg_catalog.regclass[]) AND a.attnum > 0
   AND NOT a.attisdropped AND a.attnotnull
UNION ALL
SELECT 'CHECK ' || pg_catalog.quote_ident(k.conname),
       'COALESCE((' || pg_catalog.pg_get_expr(k.conbin, k.conrelid) || '), true)'
  FROM pg_catalog.pg_constraint k
 WHERE k.conrelid = ANY(%(rels)s::pg_catalog.regclass[]) AND k.contype = 'c'
) c ORDER BY 1
"""


def constraint_relations(a: CreatePartition) -> list[str]:
    """The relations whose constraints the moved rows must meet."""
    found = [transit(a).as_string(None)]
    if a.template is not None:
        found.append(ident(a.template.schema, a.template.name).as_string(None))
    return found


def refused_count_query(a: CreatePartition, conditions: Sequence[str]) -> sql.Composed:
    """One scan of the DEFAULT's rows of the range: per condition, how many
    rows break it (the conditions are the catalog's own deparsed text)."""
    t = a.table
    k = sql.Identifier(t.key_column)
    counts = sql.SQL(", ").join(
        sql.SQL("pg_catalog.count(*) FILTER (WHERE NOT ({}))").format(sql.SQL(c))
        for c in conditions
    )
    only = sql.SQL("") if a.relocating and a.relocating.default_partitioned else sql.SQL("ONLY ")
    return sql.SQL("SELECT {counts} FROM {only}{d} WHERE {k} >= {lo} AND {k} < {hi}").format(
        counts=counts,
        only=only,
        d=ident(*a.default_at),
        k=k,
        lo=bound(a.lower, t.key_kind),
        hi=bound(a.upper, t.key_kind),
    )


_IN_TRANSIT = (
    Outcome(
        "not_in_transit",
        Verdict.FAIL,
        "{detail} is no longer the marked standalone table: its rows are not given back",
    ),
)


def give_back_step(a: CreatePartition, o: DdlOptions, columns: Sequence[str]) -> Step:
    """The rows in transit back into the DEFAULT, and the table in transit
    dropped: one statement moves them (exactly the rows deleted are the rows
    inserted), with the move's settings, so nothing else notices; refused if
    the table is no longer the marked standalone table by then."""
    t = a.table
    new = transit(a)
    stmts = [*prologue(t, o), transit_guard(a)]
    guard = Guard(len(stmts) - 1, _IN_TRANSIT)
    stmts += move_settings(a, True)
    stmts.append(
        sql.SQL(
            "WITH back AS (DELETE FROM ONLY {new} RETURNING {c})"
            " INSERT INTO {d} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM back"
        ).format(new=new, c=cols(columns), d=ident(*a.default_at))
    )
    stmts.append(sql.SQL("DROP TABLE {}").format(new))
    return Step(
        statements=tuple(stmts),
        in_transaction=True,
        description=f"give the rows in {transit_name(a)} back to the DEFAULT and drop it",
        guards=(guard,),
        locks=(advisory_target(t), LockTarget(transit_name(a), "ACCESS EXCLUSIVE")),
        counted=(len(stmts) - 2,),
    )
