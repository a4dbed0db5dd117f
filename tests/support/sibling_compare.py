"""What a partition is, read from the catalog with our own SQL, to compare a
new partition with the sibling it must be made like (docs/new-partitions.md).

Independent of pgpart's own catalog code on purpose: these helpers are the
yardstick pgpart's output is measured with.

- ``describe_partition(conn, "schema.name") -> PartitionFacts``: everything a
  new partition must copy from its newest sibling, with the partition's own
  name (and the names of its indexes) normalized away so that two partitions
  made alike compare equal. A sub-partitioned partition's children are
  described too (bound, and their own facts), so that a child of a new
  partition is as secure and as indexed as the sibling's child.
- ``assert_faithful(conn, new, sibling)``: compares every field, naming the
  ones that differ; and checks the owner is the parent's owner.
- ``table_checksum(conn, table)``: (row count, md5 of the rows in order) for
  "no row changed" assertions.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.support.cli_helpers import TODAY, month_start

PLACEHOLDER = "<PARTITION>"


@dataclass(frozen=True)
class PartitionFacts:
    relkind: str
    persistence: str
    reloptions: tuple[str, ...]
    toast_reloptions: tuple[str, ...]
    tablespace: str | None
    replica_identity: str
    replica_identity_index: str | None
    rls_enabled: bool
    rls_forced: bool
    # (name, cmd, permissive, roles, qual, with_check)
    policies: tuple[tuple[Any, ...], ...]
    acl: tuple[str, ...]
    # (normalized definition, tablespace, attached to a parent index)
    indexes: tuple[tuple[Any, ...], ...]
    # (contype, normalized definition, validated, local, inherited)
    constraints: tuple[tuple[Any, ...], ...]
    # (normalized definition, enabled state, cloned from the parent)
    triggers: tuple[tuple[Any, ...], ...]
    # (column, statistics target, attoptions, storage, NOT NULL, default, comment,
    #  the NOT NULL is valid)
    columns: tuple[tuple[Any, ...], ...]
    partition_key: str | None
    # (bound, PartitionFacts of the child)
    children: tuple[tuple[str, PartitionFacts], ...]
    publications: tuple[str, ...]
    comment: str | None  # COMMENT ON TABLE
    owner: str  # compared with the parent's owner, not with the sibling's


def _split(qualified: str) -> tuple[str, str]:
    schema, _, name = qualified.rpartition(".")
    return (schema or "public").strip('"'), name.strip('"')


def _oid(conn: psycopg.Connection[Any], qualified: str) -> int:
    schema, name = _split(qualified)
    row = conn.execute(
        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    assert row is not None, f"{qualified} does not exist"
    return int(row[0])


def _normalizer(schema: str, name: str) -> Callable[[str | None], str | None]:
    forms = sorted(
        {
            f'"{schema}"."{name}"',
            f"{schema}.{name}",
            f'{schema}."{name}"',
            f'"{name}"',
            name,
        },
        key=len,
        reverse=True,
    )
    pattern = re.compile(
        "|".join(r"(?<![\w.\"])" + re.escape(f) + (r"\b" if f[-1] != '"' else "") for f in forms)
    )

    def normalize(text: str | None) -> str | None:
        if text is None:
            return None
        return pattern.sub(PLACEHOLDER, text)

    return normalize


_INDEX_NAME = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+|\"(?:[^\"]|\"\")+\") ON ")


def _index_def(definition: str, normalize: Any) -> str:
    text = _INDEX_NAME.sub(lambda m: f"CREATE {m.group(1) or ''}INDEX ON ", definition)
    return str(normalize(text))


def describe_partition(conn: psycopg.Connection[Any], qualified: str) -> PartitionFacts:
    oid = _oid(conn, qualified)
    schema, name = _split(qualified)
    normalize = _normalizer(schema, name)
    version = conn.info.server_version

    row = conn.execute(
        "SELECT c.relkind::text, c.relpersistence::text,"
        " coalesce((SELECT array_agg(o ORDER BY o) FROM unnest(c.reloptions) o), '{}'),"
        " coalesce((SELECT array_agg(o ORDER BY o) FROM unnest(t.reloptions) o), '{}'),"
        " ts.spcname::text, c.relreplident::text, c.relrowsecurity, c.relforcerowsecurity,"
        " coalesce((SELECT array_agg(a::text ORDER BY a::text)"
        "           FROM unnest(coalesce(c.relacl, acldefault('r', c.relowner))) a), '{}'),"
        " pg_get_userbyid(c.relowner)::text,"
        " CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END"
        " FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid"
        " LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace"
        " WHERE c.oid = %s",
        (oid,),
    ).fetchone()
    assert row is not None
    (
        relkind,
        persistence,
        reloptions,
        toast_reloptions,
        tablespace,
        replident,
        rls,
        force,
        acl,
        owner,
        partkey,
    ) = row

    replident_index = None
    idx = conn.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s AND indisreplident",
        (oid,),
    ).fetchone()
    if idx is not None:
        replident_index = _index_def(idx[0], normalize)

    policies = tuple(
        (r[0], r[1], r[2], tuple(sorted(r[3])), normalize(r[4]), normalize(r[5]))
        for r in conn.execute(
            "SELECT polname::text, polcmd::text, polpermissive,"
            " ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END"
            "       FROM unnest(polroles) r),"
            " pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)"
            " FROM pg_policy WHERE polrelid = %s ORDER BY polname",
            (oid,),
        ).fetchall()
    )

    indexes = tuple(
        sorted(
            (_index_def(r[0], normalize), r[1], r[2])
            for r in conn.execute(
                "SELECT pg_get_indexdef(i.indexrelid), ts.spcname::text,"
                " EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)"
                " FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
                " LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace"
                " WHERE i.indrelid = %s",
                (oid,),
            ).fetchall()
        )
    )

    constraints = tuple(
        sorted(
            (r[0], normalize(r[1]), r[2], r[3], r[4])
            for r in conn.execute(
                "SELECT contype::text, pg_get_constraintdef(oid), convalidated, conislocal,"
                " coninhcount > 0 FROM pg_constraint WHERE conrelid = %s"
                " AND contype IN ('c', 'x', 'u', 'p', 'f')",
                (oid,),
            ).fetchall()
        )
    )

    parentid = "t.tgparentid <> 0" if version >= 130000 else "false"
    triggers = tuple(
        sorted(
            (normalize(r[0]), r[1], r[2])
            for r in conn.execute(
                f"SELECT pg_get_triggerdef(t.oid), t.tgenabled::text, {parentid}"
                " FROM pg_trigger t WHERE t.tgrelid = %s"
                f" AND (NOT t.tgisinternal OR {parentid}) AND t.tgconstraint = 0",
                (oid,),
            ).fetchall()
        )
    )

    stat = "attstattarget" if version < 170000 else "coalesce(attstattarget, -1)"
    # 18+: a NOT NULL may be NOT VALID, and attnotnull is true all the same
    not_null_valid = (
        "NOT EXISTS (SELECT 1 FROM pg_constraint n WHERE n.conrelid = attrelid"
        " AND n.contype = 'n' AND n.conkey[1] = attnum AND NOT n.convalidated)"
        if version >= 180000
        else "true"
    )
    columns = tuple(
        (r[0], r[1], tuple(sorted(r[2] or ())), r[3], r[4], normalize(r[5]), r[6], r[7])
        for r in conn.execute(
            f"SELECT attname::text, {stat}, attoptions, attstorage::text, attnotnull,"
            " pg_get_expr(d.adbin, d.adrelid), col_description(attrelid, attnum),"
            f" {not_null_valid}"
            " FROM pg_attribute LEFT JOIN pg_attrdef d ON d.adrelid = attrelid AND d.adnum = attnum"
            " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attname",
            (oid,),
        ).fetchall()
    )
    [(comment,)] = conn.execute("SELECT obj_description(%s, 'pg_class')", (oid,)).fetchall()

    children: list[tuple[str, PartitionFacts]] = []
    for child_schema, child_name, bound in conn.execute(
        "SELECT n.nspname::text, c.relname::text, pg_get_expr(c.relpartbound, c.oid)"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.inhparent = %s",
        (oid,),
    ).fetchall():
        children.append((bound, describe_partition(conn, f"{child_schema}.{child_name}")))
    children.sort(key=lambda c: c[0])

    publications = tuple(
        r[0]
        for r in conn.execute(
            "SELECT p.pubname::text FROM pg_publication_rel r"
            " JOIN pg_publication p ON p.oid = r.prpubid WHERE r.prrelid = %s ORDER BY 1",
            (oid,),
        ).fetchall()
    )

    return PartitionFacts(
        relkind=relkind,
        persistence=persistence,
        reloptions=tuple(reloptions),
        toast_reloptions=tuple(toast_reloptions),
        tablespace=tablespace,
        replica_identity=replident,
        replica_identity_index=replident_index,
        rls_enabled=rls,
        rls_forced=force,
        policies=policies,
        acl=tuple(acl),
        indexes=indexes,
        constraints=constraints,
        triggers=triggers,
        columns=columns,
        partition_key=partkey,
        children=tuple(children),
        publications=publications,
        comment=comment,
        owner=owner,
    )


def differences(new: PartitionFacts, sibling: PartitionFacts, where: str = "") -> list[str]:
    """Every field that differs, as 'field: new=... sibling=...' lines."""
    out: list[str] = []
    for f in fields(PartitionFacts):
        if f.name == "owner":
            continue
        a, b = getattr(new, f.name), getattr(sibling, f.name)
        if f.name == "children":
            if len(a) != len(b):
                out.append(f"{where}children: new has {len(a)}, sibling has {len(b)}")
                continue
            for (bound_a, child_a), (bound_b, child_b) in zip(a, b, strict=True):
                if bound_a != bound_b:
                    out.append(f"{where}child bound: new={bound_a!r} sibling={bound_b!r}")
                out.extend(differences(child_a, child_b, f"{where}child {bound_b}: "))
            continue
        if a != b:
            out.append(f"{where}{f.name}: new={a!r} sibling={b!r}")
    return out


def parent_owner(conn: psycopg.Connection[Any], qualified: str) -> str:
    row = conn.execute(
        "SELECT pg_get_userbyid(p.relowner)::text FROM pg_inherits i"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = %s",
        (_oid(conn, qualified),),
    ).fetchone()
    assert row is not None, f"{qualified} is not a partition"
    return str(row[0])


def assert_faithful(
    conn: psycopg.Connection[Any], new: str, sibling: str, *, ignore: tuple[str, ...] = ()
) -> PartitionFacts:
    """The new partition is made like the sibling, and owned by the parent's owner."""
    got, want = describe_partition(conn, new), describe_partition(conn, sibling)
    diff = [d for d in differences(got, want) if d.split(":")[0] not in ignore]
    assert not diff, f"{new} is not made like {sibling}:\n  " + "\n  ".join(diff)
    owner = parent_owner(conn, new)
    assert got.owner == owner, f"{new} is owned by {got.owner}, the parent by {owner}"
    return got


def table_checksum(conn: psycopg.Connection[Any], table: str) -> tuple[int, str | None]:
    """(rows, md5 of every row's text in order): equal before and after means no
    row was added, removed or changed (whatever partition it sits in)."""
    row = conn.execute(
        f"SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM {table} t"
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


# -- roles (cluster-wide: every role made is dropped at the end of its test) --

PASSWORD = "s1bling-" + uuid.uuid4().hex[:8]


class Roles:
    """Roles for one test, named uniquely (database name + random suffix) and
    dropped, with everything they own or were granted, when the test ends."""

    def __init__(self, conn: psycopg.Connection[Any], dsn: str) -> None:
        self.conn, self.dsn = conn, dsn
        self.names: list[str] = []
        self.tag = uuid.uuid4().hex[:6]

    def make(self, base: str, options: str = "NOLOGIN") -> str:
        name = f"{base}_{self.tag}_{len(self.names)}"
        self.names.append(name)
        self.conn.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(name)))
        return name

    def login(self, base: str, inherit: str = "INHERIT") -> str:
        name = f"{base}_{self.tag}_{len(self.names)}"
        self.names.append(name)
        self.conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN " + inherit + " PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(PASSWORD)
            )
        )
        return name

    def dsn_for(self, role: str) -> str:
        return make_conninfo(self.dsn, user=role, password=PASSWORD)

    def sql(self, template: str, *idents: str) -> None:
        self.conn.execute(sql.SQL(template).format(*(sql.Identifier(i) for i in idents)))

    def drop_all(self) -> None:
        self.conn.execute("RESET ROLE")
        for name in reversed(self.names):
            exists = self.conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)
            ).fetchone()
            if not exists:
                continue
            # parameter privileges are cluster-wide: DROP OWNED in this database
            # does not remove them
            if self.conn.info.server_version >= 150000:
                self.sql("REVOKE ALL ON PARAMETER session_replication_role FROM {}", name)
            self.sql("DROP OWNED BY {} CASCADE", name)
            self.sql("DROP ROLE {}", name)


@pytest.fixture(name="roles")
def roles_fixture(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> Iterator[Roles]:
    made = Roles(pg_conn, pg_dsn)
    try:
        yield made
    finally:
        made.drop_all()


# -- building tables -----------------------------------------------------------


def month(offset: int) -> date:
    return month_start(TODAY, offset)


def build_monthly(
    conn: psycopg.Connection[Any],
    name: str = "messages",
    *,
    columns: str = "id bigint NOT NULL, created_at timestamptz NOT NULL, tenant text, body text",
    primary_key: str | None = "id, created_at",
    months: range = range(-3, 1),
    default: bool = False,
    partition_by: str | None = None,
    each: Callable[[str, date, date], object] | None = None,
) -> list[str]:
    """A monthly RANGE (created_at) table, partitions ``<name>_YYYY_MM`` at the
    given offsets from November 2026 (UTC bounds); ``partition_by`` makes each
    partition itself partitioned; ``each(partition, lo, hi)`` runs per partition
    (to sub-partition it, index it...). Returns the partitions' names, oldest first."""
    conn.execute("SET TimeZone = 'UTC'")
    pk = f", PRIMARY KEY ({primary_key})" if primary_key else ""
    conn.execute(f"CREATE TABLE {name} ({columns}{pk}) PARTITION BY RANGE (created_at)")
    names = []
    for off in months:
        lo, hi = month(off), month(off + 1)
        part = f"{name}_{lo.year:04d}_{lo.month:02d}"
        sub = f" PARTITION BY {partition_by}" if partition_by else ""
        conn.execute(
            f"CREATE TABLE {part} PARTITION OF {name} FOR VALUES FROM ('{lo}') TO ('{hi}'){sub}"
        )
        if each is not None:
            each(part, lo, hi)
        names.append(part)
    if default:
        conn.execute(f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT")
    return names


def partitions_of(conn: psycopg.Connection[Any], parent: str) -> dict[str, str]:
    """{qualified partition: bound} of a table (DEFAULT included)."""
    return {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT format('%%s.%%s', n.nspname, c.relname), pg_get_expr(c.relpartbound, c.oid)"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE i.inhparent = %s::regclass ORDER BY 2",
            (parent,),
        ).fetchall()
    }


def new_partitions(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(set(after) - set(before))
