"""Issue 21: replicas and CDC stay whole when rows leave the DEFAULT.

Two clusters (tests/support/replication_helpers.py, tests/support/relocation_clusters.py). On the publisher: ``app.ev``,
daily, its partitions and its DEFAULT in schema ``parts`` (NOW =
2026-11-22: the 20th to the 22nd exist), the DEFAULT holding 5,000 rows of
tomorrow and 100 far ahead. Each test publishes it one way, lets the
subscriber copy it, runs `pgpart maintain` (which relocates tomorrow's
rows into a new partition), and then compares what the subscriber holds
with what it should hold, count and checksum, and reads the subscriber's
server log for errors. A test_decoding slot plays the CDC consumer: it must
see each moved row leave the DEFAULT and arrive in the new partition.

In leaf mode (and with a schema publication) the subscriber has the leaf
tables by name: the test makes the new partitions' tables beforehand and
refreshes the subscription afterwards, as its DBA would.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.cli_helpers import NOW, cli
from tests.support.relocation_clusters import (
    Logical,
    Pair,
    ServerLog,
    column,
    decoded,
    digest,
    logical_databases,
    refresh,
    subscribe,
    wait_synced,
)
from tests.support.replication_helpers import replication_pair  # noqa: F401  (the session's clusters)

COLUMNS = "id bigint NOT NULL, ts timestamptz NOT NULL, v int, payload text"
NEW_DAYS = ("2026_11_23", "2026_11_24", "2026_11_25")
OLD_DAYS = ("2026_11_20", "2026_11_21", "2026_11_22")


def build_publisher(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE SCHEMA app; CREATE SCHEMA parts")
    conn.execute(
        "CREATE TABLE app.ev (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
        " v int, payload text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)"
    )
    for day in OLD_DAYS:
        lo = day.replace("_", "-")
        conn.execute(
            f"CREATE TABLE parts.ev_{day} PARTITION OF app.ev"
            f" FOR VALUES FROM ('{lo}') TO ('{lo}'::date + 1)"
        )
    conn.execute("CREATE TABLE parts.ev_default PARTITION OF app.ev DEFAULT")
    conn.execute(
        "INSERT INTO app.ev (ts, v, payload) SELECT '2026-11-20'::timestamptz"
        " + i * interval '1 min', i, 'old ' || i FROM generate_series(1, 3000) i"
    )
    conn.execute(
        "INSERT INTO app.ev (ts, v, payload) SELECT '2026-11-23'::timestamptz"
        " + i * interval '10 s', i, md5(i::text) FROM generate_series(1, 5000) i"
    )
    conn.execute(
        "INSERT INTO app.ev (ts, v, payload) SELECT '2027-06-01'::timestamptz"
        " + i * interval '1 h', i, 'far ' || i FROM generate_series(1, 100) i"
    )


def leaf_tables(conn: psycopg.Connection[Any], names: tuple[str, ...]) -> None:
    """The subscriber's copies of the publisher's leaf tables (plain tables)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS parts")
    for name in names:
        conn.execute(f"CREATE TABLE parts.{name} ({COLUMNS}, PRIMARY KEY (id, ts))")


DRAIN = """\
[defaults]
relocation = "drain"
relocation_max_wait = "50ms"
move_batch_rows = 1000
"""


def maintain(db: Logical, config: Path | None = None) -> None:
    args = ["maintain", "app.ev", "--dsn", db.pub_dsn, "--now", NOW]
    if config is not None:
        config.write_text(DRAIN)
        args += ["--config", str(config)]
    run = cli(args)
    assert run.code == 0, run.stdout + run.stderr
    with db.pub() as conn:
        assert conn.execute(
            "SELECT count(*) FROM ONLY parts.ev_default WHERE ts < '2027-01-01'"
        ).fetchone() == (0,)
        found = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid"
            " WHERE i.inhparent = 'app.ev'::regclass"
            " AND c.relnamespace = 'parts'::regnamespace AND c.relname LIKE 'ev_2026_11_2_'"
            " AND c.relname > 'ev_2026_11_22'"
        ).fetchone()
        assert found == (3,), "new partitions go where their siblings are (schema parts)"


def cdc_slot(db: Logical) -> bool:
    """A test_decoding slot; False where the server has no test_decoding
    (the PostgreSQL 16 wheel the tests may use ships no contrib modules)."""
    with db.pub() as conn:
        try:
            conn.execute("SELECT pg_create_logical_replication_slot('cdc', 'test_decoding')")
        except psycopg.errors.UndefinedFile:
            return False
    return True


def assert_cdc_saw_a_move(db: Logical) -> None:
    """Each moved row left the DEFAULT and arrived in tomorrow's partition."""
    with db.pub() as conn:
        changes = decoded(conn, "cdc")
        moved = {str(r[0]) for r in conn.execute("SELECT id FROM parts.ev_2026_11_23").fetchall()}
    left = Counter(column(c, "id") for c in changes if c.op == "DELETE")
    arrived = Counter(column(c, "id") for c in changes if c.op == "INSERT")
    tables = {(c.table, c.op) for c in changes}
    assert tables == {("parts.ev_default", "DELETE"), ("parts.ev_2026_11_23", "INSERT")}, tables
    assert set(left) == set(arrived) == moved and len(moved) == 5000
    assert max(left.values()) == max(arrived.values()) == 1


def assert_cdc_ends_where_the_publisher_is(db: Logical) -> None:
    """A drain: the moved rows left the DEFAULT, arrived in the partition
    while it was a table of its own, and were rewritten once attached;
    replaying the changes per table gives the publisher's tables."""
    with db.pub() as conn:
        changes = decoded(conn, "cdc")
        moved = {str(r[0]) for r in conn.execute("SELECT id FROM parts.ev_2026_11_23").fetchall()}
    held: dict[str, Counter[str]] = {}
    for c in changes:
        ids = held.setdefault(c.table, Counter())
        ids[column(c, "id")] += 1 if c.op == "INSERT" else -1
    assert {t for t, _ in held.items()} == {"parts.ev_default", "parts.ev_2026_11_23"}
    assert set(held["parts.ev_default"].values()) == {-1}
    assert set(held["parts.ev_default"]) == moved and len(moved) == 5000
    assert {i for i, n in held["parts.ev_2026_11_23"].items() if n} == moved
    assert set(held["parts.ev_2026_11_23"].values()) == {1}
    rewritten = {column(c, "id") for c in changes if c.op == "DELETE" and "11_23" in c.table}
    assert rewritten == moved, "republished once attached"


def assert_same(db: Logical, published: str, subscribed: str, log: ServerLog) -> None:
    wait_synced(db)
    with db.pub() as pub, db.sub() as sub:
        want, got = digest(pub, published), digest(sub, subscribed)
    assert got == want, f"subscriber {got} != publisher {want}"
    assert log.errors() == []


@pytest.fixture
def pair(replication_pair: Pair) -> Pair:  # noqa: F811
    return replication_pair


ALL = "SELECT id, ts, v, payload FROM app.ev"
LEAVES = " UNION ALL ".join(
    f"SELECT id, ts, v, payload FROM parts.ev_{d}" for d in (*OLD_DAYS, *NEW_DAYS, "default")
)


@pytest.mark.parametrize("how", ["settle", "drain"])
def test_root_mode(pair: Pair, how: str, tmp_path: Path) -> None:
    with logical_databases(pair, f"root {how}") as db:
        with db.pub() as conn:
            build_publisher(conn)
            conn.execute(
                "CREATE PUBLICATION p FOR TABLE app.ev WITH (publish_via_partition_root = true)"
            )
        with db.sub() as conn:
            conn.execute(
                f"CREATE SCHEMA app; CREATE TABLE app.ev ({COLUMNS}, PRIMARY KEY (id, ts))"
            )
        subscribe(db, "p")
        log = ServerLog(pair.subscriber)
        cdc = cdc_slot(db)
        maintain(db, tmp_path / "pgpart.toml" if how == "drain" else None)
        assert_same(db, ALL, ALL, log)
        if not cdc:
            pytest.skip("the subscriber agrees; no test_decoding on this server for the CDC part")
        if how == "settle":
            assert_cdc_saw_a_move(db)
        else:
            assert_cdc_ends_where_the_publisher_is(db)


@pytest.mark.parametrize(
    ("shape", "how"), [("leaf", "settle"), ("schema", "settle"), ("leaf", "drain")]
)
def test_leaf_tables(pair: Pair, shape: str, how: str, tmp_path: Path) -> None:
    with logical_databases(pair, f"{shape} {how}") as db:
        with db.pub() as conn:
            build_publisher(conn)
            conn.execute(
                "CREATE PUBLICATION p FOR TABLES IN SCHEMA parts"
                if shape == "schema"
                else "CREATE PUBLICATION p FOR TABLE app.ev"
                " WITH (publish_via_partition_root = false)"
            )
        with db.sub() as conn:
            leaf_tables(conn, tuple(f"ev_{d}" for d in (*OLD_DAYS, "default")))
        subscribe(db, "p")
        with db.sub() as conn:
            leaf_tables(conn, tuple(f"ev_{d}" for d in NEW_DAYS))
        log = ServerLog(pair.subscriber)
        maintain(db, tmp_path / "pgpart.toml" if how == "drain" else None)
        refresh(db)
        assert_same(db, ALL, LEAVES, log)


def test_column_list_and_row_filter(pair: Pair) -> None:
    with logical_databases(pair, "filtered") as db:
        with db.pub() as conn:
            build_publisher(conn)
            conn.execute(
                "CREATE PUBLICATION p FOR TABLE app.ev (id, ts, v) WHERE (id % 2 = 0)"
                " WITH (publish_via_partition_root = true)"
            )
        with db.sub() as conn:
            conn.execute(
                "CREATE SCHEMA app;"
                " CREATE TABLE app.ev (id bigint, ts timestamptz, v int, PRIMARY KEY (id, ts))"
            )
        subscribe(db, "p")
        log = ServerLog(pair.subscriber)
        maintain(db)
        assert_same(
            db, "SELECT id, ts, v FROM app.ev WHERE id % 2 = 0", "SELECT id, ts, v FROM app.ev", log
        )
