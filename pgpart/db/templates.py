"""Read sibling templates from the catalog: one query per run, whatever the
number of tables (called inside the snapshot transaction; the parents'
facts are read by pgpart.db.parent_facts).

Definitions are deparsed by the server itself (pg_get_indexdef,
pg_get_constraintdef, pg_get_triggerdef, pg_get_expr) with search_path set
to pg_catalog alone, so every name they print outside pg_catalog is
schema-qualified and means the same thing whatever the search_path of the
session that replays them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgpart.core.identifiers import display_name
from pgpart.core.locked import LockHolder
from pgpart.core.siblings import (
    CloneState,
    ColumnSetting,
    ConstraintCopy,
    IndexCopy,
    PolicyCopy,
    PublicationCopy,
    SiblingTemplate,
    SubPartition,
    SubPartitioning,
    TriggerCopy,
)

if TYPE_CHECKING:
    import psycopg

_POLICY_COMMANDS = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}
# The login role may act as a role (own what it owns): inherit its
# privileges, or SET ROLE to it (PostgreSQL 16 split the SET option out).
_CAN_ACT_AS = {
    True: "(pg_catalog.pg_has_role(current_user, {r}, 'USAGE')"
    " OR pg_catalog.pg_has_role(current_user, {r}, 'SET'))",
    False: "pg_catalog.pg_has_role(current_user, {r}, 'MEMBER')",
}


def can_act_as(role_expr: str, version: int) -> str:
    return _CAN_ACT_AS[version >= 160000].format(r=role_expr)


# A sibling's copies of the parent's row triggers (13+: tgparentid) whose
# enabled state is not the one ATTACH gives the new partition's copies: the
# parent's from 15 on, ORIGIN before that.
_CLONE_STATES = """
(SELECT coalesce(pg_catalog.json_agg(
          pg_catalog.json_build_array(g.tgname, g.tgenabled::text) ORDER BY g.tgname), '[]')
   FROM pg_trigger g JOIN pg_trigger pt ON pt.oid = g.tgparentid
  WHERE g.tgrelid = c.oid AND g.tgenabled <> {attached})"""

# What the sibling sets on a column that LIKE the parent would not give:
# NOT NULL, a default (generated and identity columns aside: defaults hold no
# column reference, so they deparse with no relation and lock none), a comment.
_COLUMNS = """
(SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
          a.attname, a.attstattarget, a.attoptions, a.attacl::text[],
          x.not_null, x.own_default, v.dflt, x.own_comment, v.cmt, {not_null_valid})
          ORDER BY a.attnum), '[]')
   FROM pg_attribute a
   LEFT JOIN pg_attribute pa ON pa.attrelid = par.oid AND pa.attname = a.attname
   CROSS JOIN LATERAL (SELECT
     (SELECT pg_catalog.pg_get_expr(d.adbin, 0) FROM pg_attrdef d
       WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.attgenerated = ''),
     (SELECT pg_catalog.pg_get_expr(d.adbin, 0) FROM pg_attrdef d
       WHERE d.adrelid = pa.attrelid AND d.adnum = pa.attnum AND pa.attgenerated = ''),
     (SELECT ds.description FROM pg_description ds WHERE ds.objoid = a.attrelid
         AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = a.attnum),
     (SELECT ds.description FROM pg_description ds WHERE ds.objoid = pa.attrelid
         AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = pa.attnum)
   ) v(dflt, parent_dflt, cmt, parent_cmt)
   CROSS JOIN LATERAL (SELECT
     a.attnotnull AND NOT coalesce(pa.attnotnull, false),
     a.attgenerated = '' AND a.attidentity = '' AND v.dflt IS DISTINCT FROM v.parent_dflt,
     v.cmt IS DISTINCT FROM v.parent_cmt) x(not_null, own_default, own_comment)
  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    AND (a.attstattarget >= 0 OR a.attoptions IS NOT NULL OR a.attacl IS NOT NULL
         OR x.not_null OR x.own_default OR x.own_comment))"""


def _templates_sql(version: int) -> str:
    not_clone = "AND g.tgparentid = 0" if version >= 130000 else ""
    clone_states = (
        _CLONE_STATES.format(attached="pt.tgenabled" if version >= 150000 else "'O'")
        if version >= 130000
        else "'[]'::json"
    )
    # 18+: a NOT NULL may be NOT VALID (attnotnull is true all the same)
    columns = _COLUMNS.format(
        not_null_valid="NOT EXISTS (SELECT 1 FROM pg_constraint nn WHERE nn.conrelid = c.oid"
        " AND nn.contype = 'n' AND nn.conkey[1] = a.attnum AND NOT nn.convalidated)"
        if version >= 180000
        else "true"
    )
    pub_extra = (
        "(SELECT coalesce(pg_catalog.array_agg(a.attname::text ORDER BY a.attnum), '{}')"
        "   FROM pg_attribute a WHERE a.attrelid = pr.prrelid AND a.attnum = ANY(pr.prattrs)),"
        " pg_catalog.pg_get_expr(pr.prqual, pr.prrelid)"
        if version >= 150000
        else "'{}'::text[], NULL::text"
    )
    superuser = "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    pub_allowed = (
        f"{superuser} OR ({can_act_as('pb.pubowner', version)}"
        " AND pg_catalog.pg_has_role(pb.pubowner, (SELECT parent.relowner FROM pg_inherits ih"
        "   JOIN pg_class parent ON parent.oid = ih.inhparent WHERE ih.inhrelid = c.oid),"
        " 'USAGE'))"
    )
    return f"""
SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner), c.relkind::text,
       c.relpersistence = 'u', coalesce(c.reloptions, '{{}}'),
       coalesce((SELECT tc.reloptions FROM pg_class tc WHERE tc.oid = c.reltoastrelid), '{{}}'),
       (SELECT ts.spcname FROM pg_tablespace ts WHERE ts.oid = c.reltablespace),
       c.relreplident::text, c.relrowsecurity, c.relforcerowsecurity,
       c.relacl::text[],
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
                  ic.relname, pg_catalog.quote_ident(ic.relname), i.indisunique,
                  CASE WHEN i.indisreplident OR NOT (ic.relispartition OR x.backs)
                       THEN pg_catalog.pg_get_indexdef(i.indexrelid) END,
                  its.spcname, i.indisreplident, ic.relispartition, x.backs)
                  ORDER BY ic.relname), '[]')
          FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
          LEFT JOIN pg_tablespace its ON its.oid = ic.reltablespace
          CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM pg_constraint k
                               WHERE k.conindid = i.indexrelid AND k.conrelid = c.oid)) x(backs)
         WHERE i.indrelid = c.oid),
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
                  k.conname, k.contype::text,
                  CASE WHEN NOT x.inherited OR NOT k.convalidated
                         OR EXISTS (SELECT 1 FROM pg_index ri
                                     WHERE ri.indexrelid = k.conindid AND ri.indisreplident)
                       THEN pg_catalog.pg_get_constraintdef(k.oid) END,
                  k.convalidated, x.inherited) ORDER BY k.conname), '[]')
          FROM pg_constraint k
          CROSS JOIN LATERAL (SELECT k.coninhcount > 0 OR k.conparentid <> 0) x(inherited)
         WHERE k.conrelid = c.oid AND k.contype IN ('c', 'x', 'u', 'p', 'f')),
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
                  g.tgname, pg_catalog.pg_get_triggerdef(g.oid), g.tgenabled::text)
                  ORDER BY g.tgname), '[]')
          FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal {not_clone}),
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
                  p.polname, p.polpermissive, p.polcmd::text,
                  (SELECT pg_catalog.array_agg(
                            CASE WHEN r = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(r) END
                            ORDER BY 1)
                     FROM pg_catalog.unnest(p.polroles) r),
                  pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                  pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
                  ORDER BY p.polname), '[]')
          FROM pg_policy p WHERE p.polrelid = c.oid),
       {columns},
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
       -- only a sub-partitioned sibling has a key and children (CASE: the
       -- subqueries are not run for the others)
       CASE WHEN c.relkind = 'p' THEN
         (SELECT coalesce(pg_catalog.array_agg(a.attname::text ORDER BY k.ord), '{{}}')
            FROM pg_partitioned_table pt,
                 pg_catalog.unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attnum = k.attnum
           WHERE pt.partrelid = c.oid AND a.attrelid = c.oid) ELSE '{{}}' END,
       CASE WHEN c.relkind = 'p' THEN
         (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
                    s.relname, pg_catalog.pg_get_expr(s.relpartbound, 0), s.relpersistence = 'u',
                    s.relkind::text) ORDER BY s.relname), '[]')
            FROM pg_inherits h JOIN pg_class s ON s.oid = h.inhrelid
           WHERE h.inhparent = c.oid) ELSE '[]' END,
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
                  pb.pubname, pg_catalog.pg_get_userbyid(pb.pubowner), {pub_allowed}, {superuser},
                  {pub_extra}) ORDER BY pb.pubname), '[]')
          FROM pg_publication_rel pr JOIN pg_publication pb ON pb.oid = pr.prpubid
         WHERE pr.prrelid = c.oid),
       {clone_states},
       (SELECT ds.description FROM pg_description ds WHERE ds.objoid = c.oid
           AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = 0),
       has_schema_privilege(par.owner, c.relnamespace, 'CREATE')
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL (SELECT ih.inhparent, pc.relowner FROM pg_inherits ih
                        JOIN pg_class pc ON pc.oid = ih.inhparent
                       WHERE ih.inhrelid = c.oid) par(oid, owner)
 WHERE c.oid = ANY(%(oids)s) AND c.relispartition
"""


# The deparsing functions (pg_get_indexdef, pg_get_constraintdef,
# pg_get_triggerdef, pg_get_expr with a relation) take ACCESS SHARE on the
# relation: behind a migration's ACCESS EXCLUSIVE (held, or queued ahead of
# pgpart) they would wait for its whole life. Relations so locked are left
# out and their holders returned (create and maintain wait for them, see
# pgpart.db.snapshot_read; check reports them); the rest is read under a short
# lock_timeout, for a lock taken between the look and the read.
TEMPLATE_LOCK_TIMEOUT = "1s"


def deparse_settings(conn: psycopg.Connection[Any]) -> None:
    """For the rest of the transaction: pg_catalog alone on the search_path,
    so that every other name is printed schema-qualified and the copies mean
    what the originals mean; and the short lock_timeout of the reads below."""
    conn.execute(
        "SELECT pg_catalog.set_config('search_path', 'pg_catalog', true),"
        " pg_catalog.set_config('lock_timeout', %s, true)",
        (TEMPLATE_LOCK_TIMEOUT,),
    )


# Per partition, one holder of (or waiter for) ACCESS EXCLUSIVE on it, its
# indexes or its sub-partitions: the granted one first. pg_locks shows a
# prepared transaction's locks with no pid. The query only where the login
# role may see it (pg_stat_activity hides the state of others' sessions).
_LOCKED_SQL = """
SELECT DISTINCT ON (s.oid) s.oid, l.relation, n.nspname::text, r.relname::text,
       l.pid, l.mode, l.granted,
       (SELECT CASE WHEN a.state IS NOT NULL THEN a.query END
          FROM pg_catalog.pg_stat_activity a WHERE a.pid = l.pid)
  FROM pg_catalog.unnest(%(oids)s::oid[]) AS s(oid)
  JOIN pg_catalog.pg_locks l ON l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
   AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                      WHERE d.datname = pg_catalog.current_database())
   AND (l.relation = s.oid
        OR l.relation IN (SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid = s.oid)
        OR l.relation IN (SELECT h.inhrelid FROM pg_catalog.pg_inherits h
                           WHERE h.inhparent = s.oid))
  JOIN pg_catalog.pg_class r ON r.oid = l.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
 ORDER BY s.oid, l.granted DESC, l.relation = s.oid DESC, l.pid
"""


def locked_siblings(conn: psycopg.Connection[Any], oids: Sequence[int]) -> dict[int, LockHolder]:
    """The partitions of ``oids`` that reading would wait for, with who holds them."""
    rows = conn.execute(_LOCKED_SQL, {"oids": list(oids)}).fetchall()
    return {
        oid: LockHolder(rel, display_name(schema, name), pid, mode, granted, query)
        for oid, rel, schema, name, pid, mode, granted, query in rows
    }


def read_templates(
    conn: psycopg.Connection[Any], oids: Sequence[int], version: int
) -> tuple[dict[int, SiblingTemplate], dict[int, LockHolder | None]]:
    """The template of each partition in ``oids`` (after deparse_settings),
    and the others: locked, with their holder (None: not visible any more)."""
    if not oids:
        return {}, {}
    locked: dict[int, LockHolder | None] = dict(locked_siblings(conn, oids))
    wanted = [o for o in oids if o not in locked]
    templates = _read_unlocked(conn, wanted, version)
    if templates is None:
        # Locked since the look at pg_locks: look again, read the rest once more.
        found = locked_siblings(conn, wanted)
        locked.update(found)
        wanted = [o for o in wanted if o not in found]
        templates = _read_unlocked(conn, wanted, version) if found else None
        if templates is None:
            return {}, {**dict.fromkeys(wanted), **locked}
    return templates, locked


def _read_unlocked(
    conn: psycopg.Connection[Any], oids: Sequence[int], version: int
) -> dict[int, SiblingTemplate] | None:
    """None: a lock was not granted within TEMPLATE_LOCK_TIMEOUT."""
    import psycopg

    if not oids:
        return {}
    try:
        with conn.transaction():
            rows = conn.execute(_templates_sql(version), {"oids": list(oids)}).fetchall()
    except psycopg.errors.LockNotAvailable:
        return None
    return {row[0]: _template(row) for row in rows}


def _template(row: Sequence[Any]) -> SiblingTemplate:
    (
        _oid, schema, name, owner, relkind, unlogged, relopts, toastopts, spc, replident,
        rls, force, acl, qualified, indexes, constraints, triggers, policies, columns,
        partkey, keycols, children, publications, clones, comment, may_create,
    ) = row  # fmt: skip
    unreadable: list[str] = []
    index_copies = []
    for iname, iquoted, unique, idef, ispc, ident, attached, backs_constraint in indexes:
        # Deparsed only when a copy is made from it (local_indexes, the
        # replica identity): ATTACH or its constraint brings the others, and
        # pg_get_indexdef is most of this query's cost.
        using = "" if idef is None else _index_using(idef, iquoted, qualified, unique)
        if using is None:
            unreadable.append(f"the definition of index {iname}")
            continue
        index_copies.append(
            IndexCopy(iname, unique, using, ispc, ident, attached, backs_constraint)
        )
    trigger_copies = []
    for tname, tdef, enabled in triggers:
        marker = f" ON {qualified} "
        at = tdef.find(marker)
        if at < 0:
            unreadable.append(f"the definition of trigger {tname}")
            continue
        trigger_copies.append(TriggerCopy(tname, tdef[:at], tdef[at + len(marker) :], enabled))
    sub = None
    if partkey is not None:
        sub = SubPartitioning(
            key=partkey,
            key_columns=tuple(keycols or ()),
            children=tuple(SubPartition(n, b, u) for n, b, u, _k in children),
            nested=any(k == "p" for _n, _b, _u, k in children),
        )
    return SiblingTemplate(
        schema=schema,
        name=name,
        owner=owner,
        relkind=relkind,
        unlogged=bool(unlogged),
        reloptions=tuple(relopts),
        toast_reloptions=tuple(toastopts),
        tablespace=spc,
        replica_identity=replident,
        rls=bool(rls),
        force_rls=bool(force),
        acl=tuple(acl) if acl is not None else None,
        indexes=tuple(index_copies),
        constraints=tuple(ConstraintCopy(n, k, d or "", v, i) for n, k, d, v, i in constraints),
        triggers=tuple(trigger_copies),
        policies=tuple(
            PolicyCopy(n, bool(perm), _POLICY_COMMANDS.get(cmd, "ALL"), tuple(roles or ()), q, w)
            for n, perm, cmd, roles, q, w in policies
        ),
        columns=tuple(_column(*c) for c in columns),
        subpartitioning=sub,
        publications=tuple(
            PublicationCopy(n, None if su else o, bool(ok), tuple(cols or ()), flt)
            for n, o, ok, su, cols, flt in publications
        ),
        unreadable=tuple(unreadable),
        clone_states=tuple(CloneState(n, e) for n, e in clones),
        comment=comment,
        owner_may_create=bool(may_create),
    )


def _column(
    name: str,
    statistics: int | None,
    options: Sequence[str] | None,
    acl: Sequence[str] | None,
    not_null: bool,
    own_default: bool,
    default: str | None,
    own_comment: bool,
    comment: str | None,
    not_null_valid: bool,
) -> ColumnSetting:
    return ColumnSetting(
        name,
        statistics if statistics is not None and statistics >= 0 else None,
        tuple(options or ()),
        tuple(acl or ()),
        not_null=bool(not_null),
        not_null_valid=bool(not_null_valid),
        own_default=bool(own_default),
        default=default,
        own_comment=bool(own_comment),
        comment=comment,
    )


def _index_using(definition: str, quoted_index: str, qualified: str, unique: bool) -> str | None:
    """The part of pg_catalog.pg_get_indexdef()'s text from USING on, or None when the
    text does not start as PostgreSQL prints it (then pgpart cannot copy it)."""
    head = f"CREATE {'UNIQUE ' if unique else ''}INDEX {quoted_index} ON "
    for table in (f"{qualified} ", f"ONLY {qualified} "):
        prefix = head + table
        if definition.startswith(prefix + "USING "):
            return definition[len(prefix) :]
    return None
