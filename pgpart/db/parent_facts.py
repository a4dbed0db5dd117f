"""What the parents' rows depend on beyond their partitions (pgpart.core.siblings.
ParentFacts): foreign keys to and from other tables, what would see rows move
out of the DEFAULT, row security, the owner's default privileges and right to
create in the schema. One query for every table, inside the snapshot's
transaction, with search_path set to pg_catalog (pgpart.db.templates.
deparse_settings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgpart.core.siblings import DefaultRowSecurity, MoveWatcher, ParentFacts

if TYPE_CHECKING:
    import psycopg

_FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}

# pg_constraint has no index on confrelid: the foreign keys referencing the
# parents are found in one pass, not one scan per parent.
_PARENTS_SQL = """
WITH referencing AS MATERIALIZED (
  SELECT k.conname, k.conrelid, k.confrelid, k.confdeltype FROM pg_constraint k
   WHERE k.confrelid = ANY(%(parents)s) AND k.contype = 'f' AND k.conparentid = 0)
SELECT p.oid, p.relrowsecurity,
       (SELECT coalesce(pg_catalog.array_agg(DISTINCT x.rel ORDER BY x.rel), '{}') FROM (
           SELECT k.confrelid::regclass::text AS rel FROM pg_constraint k
            WHERE k.conrelid = p.oid AND k.contype = 'f'
           UNION
           SELECT r.conrelid::regclass::text FROM referencing r WHERE r.confrelid = p.oid) x),
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
                  r.conname, r.conrelid::regclass::text, r.confdeltype::text)
                  ORDER BY r.conrelid::regclass::text, r.conname), '[]')
          FROM referencing r WHERE r.confrelid = p.oid),
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(g.tgname, g.tgenabled::text)
                  ORDER BY g.tgname), '[]')
          FROM pg_trigger g
         WHERE g.tgrelid = %(defaults)s[pg_catalog.array_position(%(parents)s, p.oid)]
           AND NOT g.tgisinternal AND g.tgenabled <> 'D' AND (g.tgtype::int & 8) <> 0),
       (SELECT coalesce(pg_catalog.array_agg(DISTINCT
                  CASE WHEN (x).grantee = 0 THEN ''
                       ELSE pg_catalog.pg_get_userbyid((x).grantee) END), '{}')
          FROM (SELECT pg_catalog.aclexplode(d.defaclacl) AS x FROM pg_default_acl d
                 WHERE d.defaclrole = p.relowner AND d.defaclobjtype = 'r'
                   AND d.defaclnamespace IN (0, p.relnamespace)) e
         WHERE (x).grantee <> p.relowner),
       has_schema_privilege(p.relowner, p.relnamespace, 'CREATE'),
       d.relrowsecurity, d.relforcerowsecurity,
       (SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.oid = p.relowner),
       pg_catalog.pg_has_role(p.relowner, d.relowner, 'USAGE'),
       (SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user),
       pg_catalog.pg_has_role(current_user, d.relowner, 'USAGE')
  FROM pg_class p
  LEFT JOIN pg_class d ON d.oid = (%(defaults)s)[pg_catalog.array_position(%(parents)s, p.oid)]
 WHERE p.oid = ANY(%(parents)s)
"""


def read_parent_facts(
    conn: psycopg.Connection[Any], parents: Sequence[tuple[int, int | None]]
) -> dict[int, ParentFacts]:
    """Facts per parent oid; ``parents`` pairs each with its DEFAULT's oid."""
    if not parents:
        return {}
    rows = conn.execute(
        _PARENTS_SQL,
        {"parents": [p for p, _ in parents], "defaults": [d or 0 for _, d in parents]},
    ).fetchall()
    out: dict[int, ParentFacts] = {}
    for oid, rls, neighbours, referencing, triggers, grantees, may_create, *security in rows:
        watchers = [
            MoveWatcher(f"foreign key {name} of {table} (ON DELETE {_FK_ACTIONS.get(a, a)})", "O")
            for name, table, a in referencing
        ]
        watchers += [
            MoveWatcher(f"trigger {name} on the DEFAULT partition", e) for name, e in triggers
        ]
        out[oid] = ParentFacts(
            fk_neighbours=tuple(neighbours),
            move_watchers=tuple(watchers),
            rls=bool(rls),
            default_acl_grantees=tuple(sorted(grantees)),
            owner_may_create=bool(may_create),
            default_security=_default_security(*security),
        )
    return out


def _default_security(
    enabled: bool | None,
    forced: bool | None,
    owner_bypasses: bool | None,
    owner_owns: bool | None,
    login_bypasses: bool | None,
    login_owns: bool | None,
) -> DefaultRowSecurity:
    if not enabled:  # no DEFAULT partition, or no row security on it
        return DefaultRowSecurity()
    return DefaultRowSecurity(
        enabled=True,
        forced=bool(forced),
        owner_bypasses=bool(owner_bypasses),
        owner_owns=bool(owner_owns),
        login_bypasses=bool(login_bypasses),
        login_owns=bool(login_owns),
    )
