"""What retention needs from the catalog beyond the partitions' bounds, read
in the catalog snapshot's transaction (pgpart.db.catalog): the tables its
marks are on (leftovers, and marks left on attached partitions), what
would keep a past partition from being removed, which of them are foreign
tables, and the foreign keys of other partitioned tables referencing each
table. The records are pgpart.core.retention_facts' and Leftover.

A query per kind of fact, whatever the number of tables and partitions
(10,000 partitions: some 20 ms on the development machine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgpart.core.bounds import KeyKind
from pgpart.core.identifiers import display_part
from pgpart.core.leftovers import bounds_from_checks, legacy_parent, mark_agrees, marked_bounds
from pgpart.core.marks import MARK_CONSTRAINT, MarkKind, parse_retention_mark
from pgpart.core.retention_facts import (
    Blocker,
    BlockerKind,
    ForeignKeyLink,
    RetentionFacts,
    StaleMark,
)
from pgpart.core.siblings import LEFTOVER_MARK
from pgpart.core.snapshot import Leftover, PartitionedTable

if TYPE_CHECKING:
    import psycopg

# Retention's marks: a CHECK constraint named MARK_CONSTRAINT with a comment;
# for a standalone table, the constraint's definition and the table's
# validated CHECKs (the one DETACH ... CONCURRENTLY added among them).
_MARKED_SQL = """
SELECT n.nspname::text, c.relname::text, c.oid, pg_catalog.pg_get_userbyid(c.relowner)::text,
       d.description,
       CASE WHEN c.relispartition THEN
         (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) END,
       pg_catalog.pg_get_constraintdef(k.oid),
       CASE WHEN NOT c.relispartition THEN
         ARRAY(SELECT pg_catalog.pg_get_constraintdef(v.oid) FROM pg_catalog.pg_constraint v
                WHERE v.conrelid = c.oid AND v.contype = 'c' AND v.convalidated
                ORDER BY v.conname) END
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_description d
    ON d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objoid = k.oid
   AND d.objsubid = 0
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE k.conname = %(name)s AND k.contype = 'c'
"""

# An earlier pgpart's mark: the table's own comment. For a standalone table
# its validated CHECKs too: the one DETACH ... CONCURRENTLY added says the
# bounds the table had as a partition.
_LEGACY_SQL = """
SELECT n.nspname::text, c.relname::text, c.oid, pg_catalog.pg_get_userbyid(c.relowner)::text,
       d.description,
       CASE WHEN c.relispartition THEN
         (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) END,
       CASE WHEN NOT c.relispartition THEN
         ARRAY(SELECT pg_catalog.pg_get_constraintdef(k.oid) FROM pg_catalog.pg_constraint k
                WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.convalidated
                ORDER BY k.conname) END
  FROM pg_catalog.pg_description d
  JOIN pg_catalog.pg_class c ON c.oid = d.objoid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0
   AND d.description LIKE %(mark)s
"""

# What removing a partition would run into (pgpart.core.retention_facts):
# objects depending on it or on its row type in the normal way (DROP would
# need CASCADE), less its own (a CHECK depends on its columns both ways: it
# goes with the table) and a partitioned table's foreign key (DETACH checks
# its rows itself), sequences it owns (and who uses them), rules on it; and
# which partitions are foreign tables or partitioned. The partitions of the
# tables in %(parents)s, and the tables in %(extra)s (archive mode asks for
# one partition at the moment it archives it, with the same query). Each
# part starts from the few catalog rows that can matter (normal
# dependencies, sequences, rules, foreign tables) and keeps those of these
# partitions: the cost does not grow with a lookup per partition.
BLOCKERS_SQL = """
WITH part AS MATERIALIZED (
  SELECT i.inhrelid AS oid FROM pg_catalog.pg_inherits i WHERE i.inhparent = ANY(%(parents)s)
  UNION ALL
  SELECT e.oid FROM pg_catalog.unnest(%(extra)s::pg_catalog.oid[]) AS e(oid)
), normal AS MATERIALIZED (
  SELECT d.refobjid AS part, d.classid, d.objid FROM pg_catalog.pg_depend d
   WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype = 'n'
  UNION ALL
  SELECT (SELECT t.typrelid FROM pg_catalog.pg_type t WHERE t.oid = d.refobjid), d.classid, d.objid
    FROM pg_catalog.pg_depend d
   WHERE d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.deptype = 'n'
), dependent AS (
  -- per row (few: normal dependencies are rare), not joined: the planner
  -- would hash all of pg_depend for it
  SELECT DISTINCT x.part, x.classid, x.objid
    FROM normal x JOIN part ON part.oid = x.part
   WHERE NOT (x.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND x.objid = x.part)
     AND NOT coalesce((SELECT k.conparentid <> 0 FROM pg_catalog.pg_constraint k
                        WHERE x.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
                          AND k.oid = x.objid), false)
     AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_depend a
           WHERE a.classid = x.classid AND a.objid = x.objid
             AND a.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
             AND a.refobjid = x.part AND a.deptype IN ('a', 'i', 'P', 'S')) = 0
), kinds AS MATERIALIZED (
  SELECT c.oid, c.relkind FROM pg_catalog.pg_class c WHERE c.relkind IN ('S', 'f', 'p')
), owned AS (
  SELECT o.refobjid AS part, s.oid AS seq
    FROM kinds s JOIN pg_catalog.pg_depend o
      ON o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objid = s.oid
     AND o.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.deptype IN ('a', 'i')
    JOIN part ON part.oid = o.refobjid
   WHERE s.relkind = 'S'
)
SELECT x.part, 'depends',
       CASE WHEN x.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN
         (SELECT CASE WHEN r.rulename = '_RETURN' THEN 'view ' || r.ev_class::pg_catalog.regclass
                      ELSE 'rule ' || pg_catalog.quote_ident(r.rulename) || ' on '
                           || r.ev_class::pg_catalog.regclass END
            FROM pg_catalog.pg_rewrite r WHERE r.oid = x.objid)
       ELSE pg_catalog.pg_describe_object(x.classid, x.objid, 0) END,
       NULL::text, NULL::text, NULL::oid
  FROM dependent x
UNION ALL
SELECT o.part, 'sequence_used', o.seq::pg_catalog.regclass::text,
       pg_catalog.pg_describe_object(u.classid, u.objid, 0),
       (SELECT a.attname::text FROM pg_catalog.pg_attrdef ad
          JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
         WHERE u.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND ad.oid = u.objid),
       (SELECT ad.adrelid FROM pg_catalog.pg_attrdef ad
         WHERE u.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND ad.oid = u.objid)
  FROM owned o JOIN pg_catalog.pg_depend u
    ON u.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND u.refobjid = o.seq
   AND u.deptype = 'n'
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attrdef ad
                    WHERE u.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                      AND ad.oid = u.objid AND ad.adrelid = o.part)
UNION ALL
SELECT o.part, 'sequence_owned', o.seq::pg_catalog.regclass::text, NULL, NULL, NULL FROM owned o
UNION ALL
SELECT r.ev_class, 'rule', pg_catalog.quote_ident(r.rulename), NULL, NULL, NULL
  FROM pg_catalog.pg_rewrite r JOIN part ON part.oid = r.ev_class
 WHERE r.rulename <> '_RETURN'
UNION ALL
SELECT k.oid, CASE k.relkind WHEN 'f' THEN 'foreign' ELSE 'partitioned' END,
       NULL, NULL, NULL, NULL
  FROM kinds k JOIN part ON part.oid = k.oid
 WHERE k.relkind IN ('f', 'p')
"""

# Foreign keys of partitioned tables referencing the tables (found from the
# referenced side: pg_depend's index, not a scan of pg_constraint); the
# per-partition copies of a key are left out.
_REFERENCED_SQL = """
SELECT DISTINCT d.refobjid, k.conname::text, k.conrelid, k.conrelid::pg_catalog.regclass::text
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_constraint k ON k.oid = d.objid AND k.contype = 'f' AND k.conparentid = 0
  JOIN pg_catalog.pg_class r ON r.oid = k.conrelid AND r.relkind = 'p'
 WHERE d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refobjid = ANY(%(parents)s) AND d.deptype = 'n'
   AND k.confrelid = d.refobjid AND k.conrelid <> k.confrelid
"""


@dataclass(slots=True)
class _Found:
    leftovers: list[Leftover] = field(default_factory=list)
    stale: list[StaleMark] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    foreign: set[int] = field(default_factory=set)
    referenced_by: list[ForeignKeyLink] = field(default_factory=list)

    def facts(self) -> RetentionFacts:
        return RetentionFacts(
            frozenset(self.foreign),
            tuple(self.blockers),
            tuple(self.referenced_by),
            tuple(self.stale),
        )


def read_retention(
    conn: psycopg.Connection[Any],
    tables: Sequence[PartitionedTable],
    blocked: Sequence[PartitionedTable] | None = None,
) -> dict[int, tuple[tuple[Leftover, ...], RetentionFacts]]:
    """Per parent oid: its leftovers and its retention facts. What keeps a
    partition from going (the costliest query: 45 ms at 10,000 partitions)
    is read for the partitions of ``blocked`` only (None: of every table):
    a table whose partitions this run's retention cannot remove needs none."""
    by_oid = {t.oid: t for t in tables}
    found = {oid: _Found() for oid in by_oid}
    _marked(conn, by_oid, found)
    _legacy(conn, by_oid, found)
    _blockers(conn, tables if blocked is None else blocked, found)
    if found:
        for parent, name, referencing, shown in conn.execute(
            _REFERENCED_SQL, {"parents": list(found)}
        ).fetchall():
            found[parent].referenced_by.append(ForeignKeyLink(name, referencing, shown))
    return {oid: (tuple(f.leftovers), f.facts()) for oid, f in found.items()}


def _marked(
    conn: psycopg.Connection[Any], tables: dict[int, PartitionedTable], found: dict[int, _Found]
) -> None:
    rows = conn.execute(_MARKED_SQL, {"name": MARK_CONSTRAINT}).fetchall()
    for schema, name, oid, owner, text, attached_to, mark_check, checks in rows:
        mark = parse_retention_mark(text)
        if mark is None:
            continue  # a relocation's mark, or not pgpart's
        if attached_to is not None:
            if attached_to in found:
                found[attached_to].stale.append(StaleMark(schema, name, oid, owner, text, False))
            continue
        table = tables.get(mark.parent_oid)
        if table is None or mark.parent_oid not in found:
            continue
        agrees = bool(table.key_column and table.key_kind) and mark_agrees(
            mark.lower, mark.upper, mark_check, checks or (), table.key_column or "",
            table.key_kind or KeyKind.TIMESTAMPTZ,
        )  # fmt: skip
        archive = mark.kind is MarkKind.ARCHIVING
        upper = mark.upper if agrees else None  # None: its range cannot be trusted
        found[mark.parent_oid].leftovers.append(
            Leftover(schema, name, owner, text, oid, mark, mark.lower, upper, archive)
        )


def _legacy(
    conn: psycopg.Connection[Any], tables: dict[int, PartitionedTable], found: dict[int, _Found]
) -> None:
    rows = conn.execute(_LEGACY_SQL, {"mark": LEFTOVER_MARK.replace("%", "") + "%"}).fetchall()
    for schema, name, oid, owner, text, attached_to, checks in rows:
        parent = legacy_parent(text)
        if parent is None:
            continue  # a comment that merely begins like one
        if attached_to is not None:
            if attached_to in found and attached_to == parent:
                found[attached_to].stale.append(StaleMark(schema, name, oid, owner, text, True))
            continue
        table = tables.get(parent)
        if table is None:
            continue
        archive = " for archive " in text
        lower, upper = marked_bounds(text) if archive else (None, None)
        if upper is None and table.key_column and table.key_kind:
            lower, upper = bounds_from_checks(checks or (), table.key_column, table.key_kind)
        found[table.oid].leftovers.append(
            Leftover(schema, name, owner, text, oid, None, lower, upper, archive=archive)
        )


def _blockers(
    conn: psycopg.Connection[Any], tables: Sequence[PartitionedTable], found: dict[int, _Found]
) -> None:
    if not tables:
        return
    parent_of = {p.oid: t.oid for t in tables for p in t.partitions}
    foreign, blockers = read_blockers(
        conn, [t.oid for t in tables], (), parent_of, {t.oid: t for t in tables}
    )
    for oid in foreign:
        found[parent_of[oid]].foreign.add(oid)
    for blocker in blockers:
        found[parent_of[blocker.partition_oid]].blockers.append(blocker)


def read_blockers(
    conn: psycopg.Connection[Any],
    parents: Sequence[int],
    extra: Sequence[int],
    parent_of: dict[int, int],
    tables: dict[int, PartitionedTable],
) -> tuple[set[int], list[Blocker]]:
    """For the partitions of ``parents`` and the tables ``extra``: which are
    foreign tables, and what would keep each from being removed, one blocker
    per obstacle (a sequence used by many defaults is named once, by the
    parent's when it is one of them). ``parent_of``: the parent of each
    partition named in the fix; ``tables``: the parents by oid."""
    rows = conn.execute(BLOCKERS_SQL, {"parents": list(parents), "extra": list(extra)}).fetchall()
    foreign: set[int] = set()
    out: dict[tuple[int, str, str], Blocker] = {}
    for part, kind, what, user, column, user_rel in rows:
        if part not in parent_of:
            continue  # a partition the snapshot did not read (made since)
        if kind == "foreign":
            foreign.add(part)
            continue
        key = (part, kind, what or "")
        parent = tables.get(parent_of[part])
        by_parent = parent is not None and user_rel == parent.oid
        if key in out and not by_parent:
            continue
        out[key] = _describe(part, BlockerKind(kind), what or "?", user, column, parent, by_parent)
    return foreign, list(out.values())


def _describe(
    part: int,
    kind: BlockerKind,
    what: str,
    user: str | None,
    column: str | None,
    parent: PartitionedTable | None,
    by_parent: bool,
) -> Blocker:
    if kind is BlockerKind.DEPENDS:
        return Blocker(
            part,
            kind,
            f"{what} depends on it",
            f"drop or change {what} so that it no longer depends on {{partition}}",
        )
    if kind is BlockerKind.SEQUENCE_USED:
        owner_to = (
            f"{parent.qualified}.{display_part(column)}"
            if by_parent and parent is not None and column
            else "NONE"
        )
        return Blocker(
            part,
            kind,
            f"it owns the sequence {what}, which the {user} uses",
            f"ALTER SEQUENCE {what} OWNED BY {owner_to}",
        )
    if kind is BlockerKind.SEQUENCE_OWNED:
        return Blocker(
            part, kind, f"it owns the sequence {what}", f"ALTER SEQUENCE {what} OWNED BY NONE"
        )
    if kind is BlockerKind.PARTITIONED:
        return Blocker(
            part, kind, "it is itself partitioned", "use retention_mode = drop or detach for it"
        )
    return Blocker(part, kind, f"it has the rule {what}", f"DROP RULE {what} ON {{partition}}")
