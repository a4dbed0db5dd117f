"""What relocating rows out of each DEFAULT partition depends on, in one
query for every table (pgpart.core.relocation.DefaultFacts): its size, an
index leading with the key, whether it is itself partitioned, whether it
holds no page at all (every leaf a permanent heap of size 0), what would
see the move (the parent's INSERT triggers and rules, the DEFAULT's DELETE
rules), FORCE ROW LEVEL SECURITY, the owner's right to a temporary table,
and the database's publications and logical slots.

Trigger and rule types: pg_trigger.tgtype bits (ROW 1, INSERT 4, DELETE 8),
pg_rewrite.ev_type ('3' INSERT, '4' DELETE); both have the enabled states
that session_replication_role acts on (O, D, R, A).
https://www.postgresql.org/docs/current/catalog-pg-trigger.html
https://www.postgresql.org/docs/current/catalog-pg-rewrite.html
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgpart.core.relocation import DefaultFacts, Publications
from pgpart.core.siblings import MoveWatcher
from pgpart.core.snapshot import PartitionedTable

if TYPE_CHECKING:
    import psycopg

_FACTS_SQL = """
SELECT p.oid, d.relkind = 'p',
       (SELECT coalesce(pg_catalog.sum(pg_catalog.pg_relation_size(x.relid)), 0)::bigint
          FROM pg_catalog.pg_partition_tree(d.oid) x WHERE x.isleaf),
       (SELECT coalesce(pg_catalog.sum(greatest(l.reltuples, 0)), 0)::bigint
          FROM pg_catalog.pg_partition_tree(d.oid) x
          JOIN pg_catalog.pg_class l ON l.oid = x.relid WHERE x.isleaf),
       EXISTS (SELECT FROM pg_catalog.pg_index i
                 JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                 JOIN pg_catalog.pg_am am ON am.oid = ic.relam
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = d.oid AND a.attnum = i.indkey[0]
                WHERE i.indrelid = d.oid AND i.indisvalid AND i.indpred IS NULL
                  AND am.amname = 'btree' AND a.attname = u.key),
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
                  'trigger ' || pg_catalog.quote_ident(g.tgname) || ' on ' || u.shown
                  || ' (fires on '
                  || CASE WHEN (g.tgtype::int & 4) <> 0 THEN 'INSERT' ELSE 'DELETE' END || ')',
                  g.tgenabled::text) ORDER BY g.tgname), '[]')
          FROM pg_catalog.pg_trigger g
         WHERE g.tgrelid = p.oid AND NOT g.tgisinternal AND g.tgenabled <> 'D'
           AND (g.tgtype::int & 12) <> 0),
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
                  'rule ' || pg_catalog.quote_ident(r.rulename) || ' on '
                  || CASE r.ev_class WHEN p.oid THEN u.shown ELSE u.shown_default END
                  || CASE r.ev_type WHEN '3' THEN ' (ON INSERT)' ELSE ' (ON DELETE)' END,
                  r.ev_enabled::text) ORDER BY r.rulename), '[]')
          FROM pg_catalog.pg_rewrite r
         WHERE r.ev_enabled <> 'D' AND ((r.ev_class = p.oid AND r.ev_type = '3')
                                         OR (r.ev_class = d.oid AND r.ev_type = '4'))),
       ARRAY(SELECT CASE x.oid WHEN p.oid THEN u.shown ELSE u.shown_default END
               FROM pg_catalog.pg_class x
              WHERE x.oid IN (p.oid, d.oid) AND x.relrowsecurity AND x.relforcerowsecurity
              ORDER BY x.oid = d.oid DESC),
       NOT pg_catalog.has_database_privilege(p.relowner, pg_catalog.current_database(), 'TEMP'),
       NOT EXISTS (SELECT FROM pg_catalog.pg_partition_tree(d.oid) x
                     JOIN pg_catalog.pg_class l ON l.oid = x.relid
                    WHERE x.isleaf AND (l.relkind <> 'r' OR l.relpersistence <> 'p'))
  FROM ROWS FROM (pg_catalog.unnest(%(parents)s::oid[]), pg_catalog.unnest(%(defaults)s::oid[]),
                 pg_catalog.unnest(%(keys)s::text[]), pg_catalog.unnest(%(shown)s::text[]),
                 pg_catalog.unnest(%(shown_defaults)s::text[]))
       AS u(p, d, key, shown, shown_default)
  JOIN pg_catalog.pg_class p ON p.oid = u.p
  JOIN pg_catalog.pg_class d ON d.oid = u.d
"""

_PUBLICATIONS_SQL = """
SELECT EXISTS (SELECT FROM pg_catalog.pg_publication)
       OR EXISTS (SELECT FROM pg_catalog.pg_replication_slots
                   WHERE slot_type = 'logical' AND database = pg_catalog.current_database()),
       ARRAY(SELECT pubname::text FROM pg_catalog.pg_publication WHERE puballtables ORDER BY 1),
       {schemas}
"""
# FOR TABLES IN SCHEMA is PostgreSQL 15+.
_SCHEMAS_15 = """ARRAY(SELECT pg_catalog.json_build_array(b.pubname, n.nspname)::text
         FROM pg_catalog.pg_publication_namespace pn
         JOIN pg_catalog.pg_publication b ON b.oid = pn.pnpubid
         JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid ORDER BY 1)"""


def read_facts(
    conn: psycopg.Connection[Any], tables: Sequence[PartitionedTable]
) -> dict[int, DefaultFacts]:
    """DefaultFacts per parent oid, for the tables that have a DEFAULT."""
    import json

    with_default = [t for t in tables if t.default is not None and t.key_column]
    if not with_default:
        return {}
    version = conn.info.server_version
    pubs_row = conn.execute(
        _PUBLICATIONS_SQL.format(schemas=_SCHEMAS_15 if version >= 150000 else "'{}'::text[]")
    ).fetchone()
    assert pubs_row is not None
    publications = Publications(
        any=bool(pubs_row[0]),
        all_tables=tuple(pubs_row[1]),
        schemas=tuple((str(p), str(s)) for p, s in (json.loads(x) for x in pubs_row[2])),
    )
    rows = conn.execute(
        _FACTS_SQL,
        {
            "parents": [t.oid for t in with_default],
            "defaults": [t.default.oid for t in with_default if t.default is not None],
            "keys": [t.key_column for t in with_default],
            "shown": [t.qualified for t in with_default],
            "shown_defaults": [t.default.qualified for t in with_default if t.default is not None],
        },
    ).fetchall()
    out: dict[int, DefaultFacts] = {}
    for (
        oid, partitioned, size, tuples, indexed, triggers, rules, forced, temp_denied, heap_only,
    ) in rows:  # fmt: skip
        watchers = tuple(MoveWatcher(what, enabled) for what, enabled in [*triggers, *rules])
        out[oid] = DefaultFacts(
            bytes=int(size),
            no_pages=bool(heap_only) and int(size) == 0,
            rows_estimate=int(tuples),
            key_indexed=bool(indexed) and not partitioned,
            partitioned=bool(partitioned),
            watchers=watchers,
            force_rls=tuple(forced),
            temp_denied=bool(temp_denied),
            publications=publications,
        )
    return out
