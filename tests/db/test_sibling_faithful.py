"""Issue 10, part 1: a new partition is a faithful sibling (docs/new-partitions.md).

Each test builds a production-like monthly table (August..November 2026, NOW
= 2026-11-22, premake 3), with one per-partition feature a DBA set on the
existing partitions, runs ``pgpart maintain`` through the CLI, and asserts:

- exit 0, and December 2026 .. February 2027 now exist;
- every new partition is made like the newest pre-existing one
  (tests/support/sibling_compare.py: catalog facts read with our own SQL);
- the feature works for data (a unique index rejects a duplicate, a trigger
  sets its value, an UPDATE on a published table succeeds, a tenant sees only
  its rows...), and the table's rows are unchanged;
- a second ``maintain`` plans nothing.

Plus ``check``'s ``sibling_drift`` and ``cannot_reproduce``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from tests.support.cli_helpers import NOW, Run, cli
from tests.support.sibling_compare import (
    Roles,
    assert_faithful,
    build_monthly,
    describe_partition,
    new_partitions,
    partitions_of,
    roles_fixture,  # noqa: F401  (the roles fixture)
    table_checksum,
)

NEWEST = "public.messages_2026_11"
EXPECTED_NEW = ["public.messages_2026_12", "public.messages_2027_01", "public.messages_2027_02"]


def maintain(dsn: str, *tables: str, extra: tuple[str, ...] = ()) -> Run:
    return cli(["maintain", *tables, "--dsn", dsn, "--now", NOW, *extra])


def check_json(dsn: str, *tables: str) -> tuple[int, dict[str, Any]]:
    run = cli(["check", *tables, "--dsn", dsn, "--now", NOW, "-f", "json"])
    assert "Traceback" not in run.stderr, run.stderr
    return run.code, run.json()


def problems(report: dict[str, Any], table: str) -> list[dict[str, Any]]:
    [entry] = [t for t in report["tables"] if t["table"] == table]
    return list(entry["problems"])


def seed(conn: psycopg.Connection[Any], table: str = "messages") -> None:
    """A few rows in every existing month (the table's data, to be kept)."""
    conn.execute(
        f"INSERT INTO {table} (id, created_at, tenant, body)"
        " SELECT g, timestamptz '2026-08-01 00:00+00' + (g * interval '7 hours'),"
        " 'tenant' || (g % 3), 'row ' || g FROM generate_series(1, 400) g"
    )


def maintain_and_compare(
    conn: psycopg.Connection[Any],
    dsn: str,
    *,
    sibling: str = NEWEST,
    table: str = "messages",
    ignore: tuple[str, ...] = (),
    check_clean: bool = True,
) -> list[str]:
    """maintain; exit 0; the three new months made like the sibling; data kept;
    a second maintain plans nothing. Returns the new partitions."""
    before = partitions_of(conn, table)
    rows = table_checksum(conn, table)
    run = maintain(dsn, table)
    assert run.code == 0, run.stdout + run.stderr
    after = partitions_of(conn, table)
    created = new_partitions(before, after)
    assert created == [p.replace("messages", table, 1) for p in EXPECTED_NEW], created
    for new in created:
        assert_faithful(conn, new, sibling, ignore=ignore)
    assert table_checksum(conn, table) == rows
    assert_plans_nothing(conn, dsn, table)
    if check_clean:  # made alike, the newest partitions agree: nothing to report
        _, report = check_json(dsn, table)
        codes = {p["code"] for p in problems(report, f"public.{table}")}
        assert not codes & {"sibling_drift", "cannot_reproduce"}, report
    return created


def assert_plans_nothing(conn: psycopg.Connection[Any], dsn: str, table: str = "messages") -> None:
    before = partitions_of(conn, table)
    facts = {p: describe_partition(conn, p) for p in before}
    dry = cli(["maintain", table, "--dsn", dsn, "--now", NOW, "--dry-run", "-f", "json"])
    assert dry.code == 0, dry.stdout + dry.stderr
    planned = [a for a in dry.json()["actions"] if a["action"] not in ("skip", "none")]
    assert planned == [], planned
    again = maintain(dsn, table)
    assert again.code == 0, again.stdout + again.stderr
    assert partitions_of(conn, table) == before
    assert {p: describe_partition(conn, p) for p in before} == facts


# -- sub-partitioning ------------------------------------------------------------


def test_hash_subpartitions_are_reproduced(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    def children(part: str, lo: Any, hi: Any) -> None:
        for r in range(4):
            pg_conn.execute(
                f"CREATE TABLE {part}_h{r} PARTITION OF {part}"
                f" FOR VALUES WITH (MODULUS 4, REMAINDER {r})"
            )

    build_monthly(pg_conn, partition_by="HASH (id)", each=children)
    seed(pg_conn)
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        facts = describe_partition(pg_conn, new)
        assert facts.relkind == "p" and facts.partition_key == "HASH (id)"
        assert [b for b, _ in facts.children] == [
            f"FOR VALUES WITH (modulus 4, remainder {r})" for r in range(4)
        ]
    # rows route into the new sub-partitions, all four of them
    pg_conn.execute(
        "INSERT INTO messages (id, created_at, body)"
        " SELECT g, '2026-12-15', 'dec' FROM generate_series(10001, 10100) g"
    )
    per_child = pg_conn.execute(
        "SELECT count(DISTINCT tableoid) FROM messages WHERE created_at = '2026-12-15'"
    ).fetchone()
    assert per_child == (4,)


def test_list_subpartitions_with_default_are_reproduced(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    def children(part: str, lo: Any, hi: Any) -> None:
        pg_conn.execute(
            f"CREATE TABLE {part}_eu PARTITION OF {part} FOR VALUES IN ('tenant0', 'tenant1')"
        )
        pg_conn.execute(f"CREATE TABLE {part}_us PARTITION OF {part} FOR VALUES IN ('tenant2')")
        pg_conn.execute(f"CREATE TABLE {part}_other PARTITION OF {part} DEFAULT")

    build_monthly(pg_conn, primary_key=None, partition_by="LIST (tenant)", each=children)
    seed(pg_conn)
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        facts = describe_partition(pg_conn, new)
        assert facts.relkind == "p" and facts.partition_key == "LIST (tenant)"
        assert sorted(b for b, _ in facts.children) == [
            "DEFAULT",
            "FOR VALUES IN ('tenant0', 'tenant1')",
            "FOR VALUES IN ('tenant2')",
        ]
    pg_conn.execute("INSERT INTO messages (id, created_at, tenant) VALUES (1, '2027-01-02', 'zz')")
    [(where,)] = pg_conn.execute(
        "SELECT tableoid::regclass::text FROM messages WHERE created_at = '2027-01-02'"
    ).fetchall()
    assert where != "messages_2027_01" and where.startswith("messages_2027_01")  # its DEFAULT child


# -- indexes, constraints, triggers ---------------------------------------------


def test_indexes_only_on_partitions_are_reproduced(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    def indexes(part: str, lo: Any, hi: Any) -> None:
        pg_conn.execute(f"CREATE UNIQUE INDEX {part}_body_uq ON {part} (body)")
        pg_conn.execute(f"CREATE INDEX {part}_open ON {part} (created_at) WHERE tenant IS NULL")
        pg_conn.execute(f"CREATE INDEX {part}_lower ON {part} (lower(body))")
        pg_conn.execute(f"CREATE INDEX {part}_incl ON {part} (tenant) INCLUDE (body)")
        pg_conn.execute(f"CREATE INDEX {part}_pattern ON {part} (body text_pattern_ops)")

    build_monthly(pg_conn, each=indexes)
    seed(pg_conn)
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        local = [i for i in describe_partition(pg_conn, new).indexes if not i[2]]
        assert len(local) == 5, local
    # the unique index of the partitions holds on the new one too
    pg_conn.execute("INSERT INTO messages (id, created_at, body) VALUES (1, '2026-12-02', 'same')")
    with pytest.raises(errors.UniqueViolation):
        pg_conn.execute(
            "INSERT INTO messages (id, created_at, body) VALUES (2, '2026-12-03', 'same')"
        )


def test_not_valid_check_with_a_legacy_row_in_default(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build_monthly(pg_conn, default=True)
    seed(pg_conn)
    # legacy rows written before the rule existed, one of them in a month to come
    pg_conn.execute(
        "INSERT INTO messages (id, created_at, body) VALUES"
        " (900, '2026-12-05', ''), (901, '2026-12-06', 'fine'), (902, '2027-01-09', 'ok')"
    )
    pg_conn.execute(
        "ALTER TABLE messages ADD CONSTRAINT body_not_empty CHECK (body <> '') NOT VALID"
    )
    rows = table_checksum(pg_conn, "messages")

    # compared below: a copy on a partition that received no legacy row may be
    # validated (it holds nothing unchecked); every other fact is compared
    created = maintain_and_compare(pg_conn, pg_dsn, ignore=("constraints",), check_clean=False)
    sibling = describe_partition(pg_conn, NEWEST).constraints
    for new in created:
        got = describe_partition(pg_conn, new).constraints
        assert [c[:1] + c[3:] for c in got] == [c[:1] + c[3:] for c in sibling], new
        assert [c[1].removesuffix(" NOT VALID") for c in got] == [
            c[1].removesuffix(" NOT VALID") for c in sibling
        ]
    assert table_checksum(pg_conn, "messages") == rows
    assert pg_conn.execute("SELECT count(*) FROM messages_default").fetchone() == (0,)
    assert pg_conn.execute(
        "SELECT tableoid::regclass::text FROM messages WHERE id = 900"
    ).fetchone() == ("messages_2026_12",)
    # still NOT VALID, on the parent and on the partition holding the legacy row
    validity = dict(
        pg_conn.execute(
            "SELECT conrelid::regclass::text, convalidated FROM pg_constraint"
            " WHERE conname = 'body_not_empty'"
        ).fetchall()
    )
    assert validity["messages"] is False
    assert validity["messages_2026_12"] is False
    assert set(validity) >= {p.split(".")[1] for p in created}
    # and still enforced for new rows
    with pytest.raises(errors.CheckViolation):
        pg_conn.execute("INSERT INTO messages (id, created_at, body) VALUES (3, '2027-01-03', '')")


def test_before_insert_trigger_on_partitions_only(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    pg_conn.execute(
        "CREATE FUNCTION stamp_tenant() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN NEW.tenant := coalesce(NEW.tenant, 'stamped:' || TG_TABLE_NAME); RETURN NEW;"
        " END $$"
    )

    def trigger(part: str, lo: Any, hi: Any) -> None:
        pg_conn.execute(
            f"CREATE TRIGGER stamp BEFORE INSERT ON {part}"
            " FOR EACH ROW EXECUTE FUNCTION stamp_tenant()"
        )

    build_monthly(pg_conn, each=trigger)
    seed(pg_conn)
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        assert any("BEFORE INSERT" in t[0] for t in describe_partition(pg_conn, new).triggers)
    pg_conn.execute("INSERT INTO messages (id, created_at) VALUES (100007, '2027-02-10')")
    assert pg_conn.execute("SELECT tenant FROM messages WHERE id = 100007").fetchone() == (
        "stamped:messages_2027_02",
    )


def test_trigger_enabled_states_are_reproduced(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    pg_conn.execute("CREATE TABLE seen (part text, trig text)")
    pg_conn.execute(
        "CREATE FUNCTION note() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN INSERT INTO seen VALUES (TG_TABLE_NAME, TG_NAME); RETURN NEW; END $$"
    )

    def triggers(part: str, lo: Any, hi: Any) -> None:
        for name, state in (
            ("t_origin", None),
            ("t_always", "ENABLE ALWAYS"),
            ("t_replica", "ENABLE REPLICA"),
            ("t_disabled", "DISABLE"),
        ):
            pg_conn.execute(
                f"CREATE TRIGGER {name} AFTER INSERT ON {part} FOR EACH ROW EXECUTE FUNCTION note()"
            )
            if state:
                pg_conn.execute(f"ALTER TABLE {part} {state} TRIGGER {name}")

    build_monthly(pg_conn, each=triggers)
    seed(pg_conn)
    pg_conn.execute("TRUNCATE seen")
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        states = sorted(t[1] for t in describe_partition(pg_conn, new).triggers)
        assert states == ["A", "D", "O", "R"]
    pg_conn.execute("INSERT INTO messages (id, created_at) VALUES (5, '2027-01-05')")
    fired = sorted(r[1] for r in pg_conn.execute("SELECT * FROM seen").fetchall())
    assert fired == ["t_always", "t_origin"]


# -- replication -------------------------------------------------------------------


def test_replica_identity_using_index_with_published_parent(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    def identity(part: str, lo: Any, hi: Any) -> None:
        pg_conn.execute(f"CREATE UNIQUE INDEX {part}_id ON {part} (id)")
        pg_conn.execute(f"ALTER TABLE {part} REPLICA IDENTITY USING INDEX {part}_id")

    build_monthly(pg_conn, primary_key=None, each=identity)
    seed(pg_conn)
    pg_conn.execute("CREATE PUBLICATION app_pub FOR TABLE messages")
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        facts = describe_partition(pg_conn, new)
        assert facts.replica_identity == "i"
        assert facts.replica_identity_index == (
            "CREATE UNIQUE INDEX ON <PARTITION> USING btree (id)"
        )
    # the outage of the issue: UPDATE of a row in a new partition of a published table
    pg_conn.execute(
        "INSERT INTO messages (id, created_at, body) VALUES (100077, '2026-12-24', 'x')"
    )
    pg_conn.execute("UPDATE messages SET body = 'y' WHERE id = 100077")
    pg_conn.execute("DELETE FROM messages WHERE id = 100077")


def test_publication_listing_partitions_one_by_one(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    names = build_monthly(pg_conn)
    seed(pg_conn)
    pg_conn.execute(f"CREATE PUBLICATION by_partition FOR TABLE {', '.join(names)}")
    pg_conn.execute("CREATE PUBLICATION just_one FOR TABLE messages_2026_08")  # not every one
    created = maintain_and_compare(pg_conn, pg_dsn, check_clean=False)
    for new in created:
        assert describe_partition(pg_conn, new).publications == ("by_partition",)


# -- row-level security and privileges ---------------------------------------------


@pytest.mark.parametrize("where", ["parent_only", "partitions_no_grants", "partitions_with_grants"])
def test_rls_tenant_never_reads_other_tenants_rows(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles, where: str
) -> None:
    tenant_a, tenant_b = roles.make("tenant_a"), roles.make("tenant_b")
    policy = "CREATE POLICY tenant_rows ON {} USING (tenant = current_user)"

    def secure(part: str, lo: Any, hi: Any) -> None:
        if where == "parent_only":
            return
        pg_conn.execute(f"ALTER TABLE {part} ENABLE ROW LEVEL SECURITY")
        pg_conn.execute(f"ALTER TABLE {part} FORCE ROW LEVEL SECURITY")
        pg_conn.execute(policy.format(part))
        pg_conn.execute(
            f"CREATE POLICY tenant_insert ON {part} AS RESTRICTIVE FOR INSERT"
            " WITH CHECK (tenant = current_user)"
        )
        if where == "partitions_with_grants":
            roles.sql("GRANT SELECT, INSERT ON {} TO {}, {}", part, tenant_a, tenant_b)

    build_monthly(pg_conn, each=secure)
    pg_conn.execute("ALTER TABLE messages ENABLE ROW LEVEL SECURITY")
    pg_conn.execute(policy.format("messages"))
    roles.sql("GRANT SELECT, INSERT ON messages TO {}, {}", tenant_a, tenant_b)
    seed(pg_conn)

    created = maintain_and_compare(pg_conn, pg_dsn)
    for n, new in enumerate([*created, NEWEST]):
        pg_conn.execute(
            sql.SQL(
                "INSERT INTO messages (id, created_at, tenant, body) VALUES"
                " (100000 + {n}, {lo}::timestamptz + interval '1 day', {a}, 'a'),"
                " (200000 + {n}, {lo}::timestamptz + interval '1 day', {b}, 'b')"
            ).format(
                n=sql.Literal(n),
                lo=sql.Literal(_lower(pg_conn, new)),
                a=sql.Literal(tenant_a),
                b=sql.Literal(tenant_b),
            )
        )

    def as_tenant_a(table: str) -> list[str] | str:
        pg_conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(tenant_a)))
        try:
            return sorted({r[0] for r in pg_conn.execute(f"SELECT tenant FROM {table}")})
        except errors.InsufficientPrivilege:
            return "permission denied"
        finally:
            pg_conn.execute("RESET ROLE")

    sibling_sees = as_tenant_a(NEWEST)
    assert sibling_sees in ("permission denied", [tenant_a])  # the schema is as intended
    for new in created:
        sees = as_tenant_a(new)
        assert sees != [tenant_a, tenant_b] and tenant_b not in sees, (new, sees)
        assert sees == sibling_sees, (new, sees, sibling_sees)  # never broader than the sibling
    # through the parent, tenant a sees its own rows of the new months
    assert as_tenant_a("messages") == [tenant_a]


def _lower(conn: psycopg.Connection[Any], partition: str) -> str:
    row = conn.execute(
        "SELECT (regexp_match(pg_get_expr(relpartbound, oid), 'FROM \\(''([^'']+)''\\)'))[1]"
        " FROM pg_class WHERE oid = %s::regclass",
        (partition,),
    ).fetchone()
    assert row is not None and row[0] is not None, partition
    return str(row[0])


# -- storage -------------------------------------------------------------------------


def test_unlogged_partitions(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    build_monthly(pg_conn, each=lambda p, lo, hi: pg_conn.execute(f"ALTER TABLE {p} SET UNLOGGED"))
    seed(pg_conn)
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        assert describe_partition(pg_conn, new).persistence == "u"


def test_storage_and_toast_parameters(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    def storage(part: str, lo: Any, hi: Any) -> None:
        pg_conn.execute(
            f"ALTER TABLE {part} SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02,"
            " toast_tuple_target = 4000, toast.autovacuum_enabled = false,"
            " toast.autovacuum_vacuum_cost_delay = 5)"
        )

    build_monthly(pg_conn, each=storage)
    seed(pg_conn)
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        facts = describe_partition(pg_conn, new)
        assert facts.toast_reloptions == (
            "autovacuum_enabled=false",
            "autovacuum_vacuum_cost_delay=5",
        )
        assert "toast_tuple_target=4000" in facts.reloptions


def test_statistics_targets_and_attribute_options(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    def stats(part: str, lo: Any, hi: Any) -> None:
        pg_conn.execute(f"ALTER TABLE {part} ALTER COLUMN tenant SET STATISTICS 1000")
        pg_conn.execute(f"ALTER TABLE {part} ALTER COLUMN tenant SET (n_distinct = -0.5)")
        pg_conn.execute(f"ALTER TABLE {part} ALTER COLUMN body SET STATISTICS 0")

    build_monthly(pg_conn, each=stats)
    seed(pg_conn)
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        columns = {c[0]: c for c in describe_partition(pg_conn, new).columns}
        assert columns["tenant"][1:3] == (1000, ("n_distinct=-0.5",))
        assert columns["body"][1] == 0


def test_tablespaces_of_partitions_and_their_indexes(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, pg_server: Any
) -> None:
    """Partitions in their own tablespace, a partition-only index in it too
    (an index's tablespace is not its table's by default)."""
    cluster = pg_server.cluster
    if cluster is None:
        pytest.skip("needs the suite's own cluster: a tablespace is a directory on its host")
    tag = uuid.uuid4().hex[:8]
    location = Path(cluster.basedir) / f"ts_{tag}"
    location.mkdir()
    if os.geteuid() == 0:
        shutil.chown(location, cluster.os_user, cluster.os_user)
    space = f"parts_{tag}"  # cluster-wide: dropped below, whatever happens
    pg_conn.execute(f"CREATE TABLESPACE {space} LOCATION '{location}'")
    try:

        def place(part: str, lo: Any, hi: Any) -> None:
            pg_conn.execute(f"ALTER TABLE {part} SET TABLESPACE {space}")
            pg_conn.execute(f"CREATE INDEX {part}_body ON {part} (body) TABLESPACE {space}")

        build_monthly(pg_conn, each=place)
        seed(pg_conn)
        created = maintain_and_compare(pg_conn, pg_dsn)
        for new in created:
            facts = describe_partition(pg_conn, new)
            assert facts.tablespace == space
            assert ("CREATE INDEX ON <PARTITION> USING btree (body)", space, False) in facts.indexes
    finally:
        pg_conn.execute("DROP TABLE IF EXISTS messages CASCADE")
        pg_conn.execute(f"DROP TABLESPACE IF EXISTS {space}")
        shutil.rmtree(location, ignore_errors=True)


# -- check: sibling_drift, cannot_reproduce ---------------------------------------


def test_sibling_drift_is_reported(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    def index(part: str, lo: Any, hi: Any) -> None:
        if part != "messages_2026_11":  # the newest lacks what the others have
            pg_conn.execute(f"CREATE INDEX {part}_lower ON {part} (lower(body))")

    build_monthly(pg_conn, each=index)
    seed(pg_conn)
    code, report = check_json(pg_dsn, "messages")
    drift = [p for p in problems(report, "public.messages") if p["code"] == "sibling_drift"]
    assert drift, report
    assert code in (1, 2) and report["status"] != "ok"
    assert drift[0]["severity"] in ("warning", "critical")
    assert "messages_2026_11" in drift[0]["message"], drift[0]["message"]

    # with the newest made like the others, the drift is gone
    pg_conn.execute("CREATE INDEX messages_2026_11_lower ON messages_2026_11 (lower(body))")
    _, report = check_json(pg_dsn, "messages")
    assert not [p for p in problems(report, "public.messages") if p["code"] == "sibling_drift"]


def test_range_subpartitioning_on_the_time_key(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """Each month split in two by its own created_at: pgpart may shift the
    children's bounds (if it does it cleanly) or refuse the table; it must never
    make a plain partition next to sub-partitioned ones and call that OK."""

    def halves(part: str, lo: Any, hi: Any) -> None:
        mid = lo.replace(day=16)
        pg_conn.execute(
            f"CREATE TABLE {part}_a PARTITION OF {part} FOR VALUES FROM ('{lo}') TO ('{mid}')"
        )
        pg_conn.execute(
            f"CREATE TABLE {part}_b PARTITION OF {part} FOR VALUES FROM ('{mid}') TO ('{hi}')"
        )

    build_monthly(pg_conn, partition_by="RANGE (created_at)", each=halves)
    seed(pg_conn)
    build_monthly(pg_conn, "plain")  # another table, to be maintained regardless
    rows = table_checksum(pg_conn, "messages")
    before = partitions_of(pg_conn, "messages")

    code, report = check_json(pg_dsn, "messages", "plain")
    refused = [p for p in problems(report, "public.messages") if p["code"] == "cannot_reproduce"]
    run = maintain(pg_dsn, "messages", "plain")
    after = partitions_of(pg_conn, "messages")
    created = new_partitions(before, after)
    assert table_checksum(pg_conn, "messages") == rows
    # the other table is done either way
    assert new_partitions({}, partitions_of(pg_conn, "plain"))[-3:] == [
        "public.plain_2026_12",
        "public.plain_2027_01",
        "public.plain_2027_02",
    ]
    if refused:
        assert code == 2 or report["status"] in ("warning", "critical")
        assert run.code == 2, run.stdout + run.stderr
        assert "cannot_reproduce" in run.stdout + run.stderr
        assert "public.messages" in run.stdout + run.stderr
        assert created == []
    else:  # reproduced: sub-partitioned alike, children covering the new month
        assert run.code == 0, run.stdout + run.stderr
        assert created == EXPECTED_NEW, created
        for new in created:
            facts = describe_partition(pg_conn, new)
            assert facts.relkind == "p" and facts.partition_key == "RANGE (created_at)"
            lo = _lower(pg_conn, new)[:10]
            assert [b for b, _ in facts.children][0].startswith(f"FOR VALUES FROM ('{lo}")
            assert len(facts.children) == 2
            assert_faithful(pg_conn, new, NEWEST, ignore=("children", "child bound"))
        assert_plans_nothing(pg_conn, pg_dsn)


# -- as a non-superuser member of the owner role ---------------------------------


def _owned_by(conn: psycopg.Connection[Any], roles: Roles, owner: str) -> None:
    for (name,) in conn.execute(
        "SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind IN ('r', 'p') AND relname LIKE 'messages%'"
    ).fetchall():
        roles.sql("ALTER TABLE {} OWNER TO {}", name, owner)


def test_member_of_owner_makes_faithful_siblings_of_a_production_schema(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    """Everything at once, run by a LOGIN member of the owner role: indexes,
    a BEFORE trigger, RLS with policies and per-partition grants, UNLOGGED,
    storage and TOAST parameters, statistics targets, REPLICA IDENTITY."""
    owner, tenant_a, tenant_b = roles.make("app_owner"), roles.make("ta"), roles.make("tb")
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    pg_conn.execute(
        "CREATE FUNCTION stamp_tenant() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN NEW.tenant := coalesce(NEW.tenant, current_user); RETURN NEW; END $$"
    )

    def production(part: str, lo: Any, hi: Any) -> None:
        for stmt in (
            f"CREATE UNIQUE INDEX {part}_id ON {part} (id)",
            f"CREATE INDEX {part}_lower ON {part} (lower(body)) WHERE body IS NOT NULL",
            f"ALTER TABLE {part} REPLICA IDENTITY USING INDEX {part}_id",
            f"CREATE TRIGGER stamp BEFORE INSERT ON {part} FOR EACH ROW"
            " EXECUTE FUNCTION stamp_tenant()",
            f"ALTER TABLE {part} ENABLE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_rows ON {part} USING (tenant = current_user)",
            f"ALTER TABLE {part} SET UNLOGGED",
            f"ALTER TABLE {part} SET (fillfactor = 70, toast.autovacuum_enabled = false)",
            f"ALTER TABLE {part} ALTER COLUMN tenant SET STATISTICS 800",
        ):
            pg_conn.execute(stmt)
        roles.sql("GRANT SELECT ON {} TO {}, {}", part, tenant_a, tenant_b)

    build_monthly(pg_conn, primary_key=None, each=production)
    pg_conn.execute("ALTER TABLE messages ENABLE ROW LEVEL SECURITY")
    pg_conn.execute("CREATE POLICY tenant_rows ON messages USING (tenant = current_user)")
    roles.sql("GRANT SELECT ON messages TO {}, {}", tenant_a, tenant_b)
    seed(pg_conn)
    _owned_by(pg_conn, roles, owner)
    runner = roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)

    created = maintain_and_compare(pg_conn, roles.dsn_for(runner))
    for new in created:
        assert describe_partition(pg_conn, new).owner == owner
    pg_conn.execute(
        f"INSERT INTO messages (id, created_at, tenant) VALUES"
        f" (100001, '2026-12-02', '{tenant_a}'), (100002, '2026-12-03', '{tenant_b}')"
    )
    pg_conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(tenant_a)))
    try:
        seen = pg_conn.execute("SELECT tenant FROM messages_2026_12").fetchall()
    finally:
        pg_conn.execute("RESET ROLE")
    assert seen == [(tenant_a,)]


def test_publication_the_runner_does_not_own_is_named(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    """A publication listing every partition, owned by someone else: the new
    partitions are made (membership is not security) and the run warns naming
    the publication; check says so too."""
    owner = roles.make("app_owner")
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    names = build_monthly(pg_conn)
    seed(pg_conn)
    pg_conn.execute(f"CREATE PUBLICATION by_partition FOR TABLE {', '.join(names)}")
    _owned_by(pg_conn, roles, owner)
    runner = roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)
    dsn = roles.dsn_for(runner)

    code, report = check_json(dsn, "messages")
    named = [p for p in problems(report, "public.messages") if "by_partition" in p["message"]]
    assert named and named[0]["code"] == "cannot_reproduce", report
    assert code in (1, 2) and named[0]["severity"] in ("warning", "critical")
    rows = table_checksum(pg_conn, "messages")
    before = partitions_of(pg_conn, "messages")
    run = maintain(dsn, "messages")
    out = run.stdout + run.stderr
    assert run.code == 0, out
    assert "by_partition" in out, out
    created = new_partitions(before, partitions_of(pg_conn, "messages"))
    assert created == EXPECTED_NEW
    for new in created:  # everything else is made like the sibling
        assert_faithful(pg_conn, new, NEWEST, ignore=("publications",))
    assert table_checksum(pg_conn, "messages") == rows
