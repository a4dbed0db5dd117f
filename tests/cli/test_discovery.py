"""Discovery lists every partitioned table; a domain over a time type is its base type."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support.cli_helpers import NOW, cli, monthly_table


def _report(pg_dsn: str, *args: str) -> dict[str, Any]:
    run = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--format", "json", *args])
    result: dict[str, Any] = run.json()
    result["code"] = run.code
    return result


def test_domain_over_timestamptz_is_handled(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute("CREATE DOMAIN moment AS timestamptz NOT NULL")
    pg_conn.execute("CREATE DOMAIN event_moment AS moment")  # a domain over a domain
    pg_conn.execute("CREATE TABLE ev (at event_moment, v int) PARTITION BY RANGE (at)")
    for lo, hi in (("2026-10-01", "2026-11-01"), ("2026-11-01", "2026-12-01")):
        pg_conn.execute(
            f"CREATE TABLE ev_{lo[:7].replace('-', '_')} PARTITION OF ev"
            f" FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
    report = _report(pg_dsn)
    [row] = report["tables"]
    assert row["interval"] == "monthly", row
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    names = {
        r[0]
        for r in pg_conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'ev'::regclass"
        ).fetchall()
    }
    assert {"ev_2026_12", "ev_2027_01", "ev_2027_02"} <= names
    pg_conn.execute("INSERT INTO ev VALUES ('2027-01-15', 1)")
    assert _report(pg_dsn)["code"] == 0


def test_discovery_lists_what_it_cannot_handle(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    monthly_table(pg_conn, "good")
    pg_conn.execute("CREATE TABLE by_id (id bigint) PARTITION BY RANGE (id)")
    pg_conn.execute(
        "CREATE TABLE by_expr (ts timestamp) PARTITION BY RANGE (date_trunc('day', ts))"
    )
    pg_conn.execute("CREATE TABLE by_list (region text) PARTITION BY LIST (region)")
    pg_conn.execute("CREATE TABLE empty_one (ts timestamptz) PARTITION BY RANGE (ts)")
    report = _report(pg_dsn)
    rows = {t["table"]: t for t in report["tables"]}
    assert set(rows) == {
        "public.good",
        "public.by_id",
        "public.by_expr",
        "public.by_list",
        "public.empty_one",
    }
    for name in ("public.by_id", "public.by_expr", "public.by_list"):
        [problem] = rows[name]["problems"]
        assert problem["code"] == "unsupported_key" and problem["severity"] == "info", problem
        assert rows[name]["status"] == "ok"
    assert {p["code"] for p in rows["public.empty_one"]["problems"]} >= {"unknown_interval"}
    # Listed, not judged: a hash- or id-partitioned table does not make check unknown.
    assert rows["public.good"]["status"] == "ok"
    # Named explicitly, the same table is a question pgpart cannot answer.
    named = _report(pg_dsn, "by_id")
    assert named["code"] == 3 and named["tables"][0]["status"] == "unknown"
    # maintain leaves the unsupported ones alone without failing on them.
    run = cli(["maintain", "good", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout


def test_sub_partitions_of_a_set_are_not_listed_on_their_own(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    pg_conn.execute("CREATE TABLE s (ts timestamptz NOT NULL, id int) PARTITION BY RANGE (ts)")
    pg_conn.execute(
        "CREATE TABLE s_2026_11 PARTITION OF s FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')"
        " PARTITION BY HASH (id)"
    )
    pg_conn.execute(
        "CREATE TABLE s_2026_11_h0 PARTITION OF s_2026_11 FOR VALUES WITH (MODULUS 1, REMAINDER 0)"
    )
    report = _report(pg_dsn)
    assert [t["table"] for t in report["tables"]] == ["public.s"]


def test_a_range_sub_partitioned_partition_belongs_to_its_parent(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """Discovery lists top-level tables only: a partition that is itself
    range-partitioned on the time key is not a table of its own, and maintain
    does not create partitions inside it."""
    monthly_table(pg_conn, "messages", months=range(-2, 0))
    pg_conn.execute(
        "CREATE TABLE messages_2026_11 PARTITION OF messages"
        " FOR VALUES FROM ('2026-11-01') TO ('2026-12-01') PARTITION BY RANGE (created_at)"
    )
    for day in (20, 21, 22, 23):
        pg_conn.execute(
            f"CREATE TABLE messages_2026_11_{day} PARTITION OF messages_2026_11"
            f" FOR VALUES FROM ('2026-11-{day}') TO ('2026-11-{day + 1}')"
        )
    report = _report(pg_dsn)
    assert [t["table"] for t in report["tables"]] == ["public.messages"], report
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    # The parent's own line: its newest partition cannot be reproduced (its
    # sub-partitions' bounds would need shifting), so nothing is created.
    assert "public.messages_2026_11:" not in run.stdout + run.stderr, run.stdout
    assert "public.messages: cannot_reproduce" in run.stdout, run.stdout
    inside = pg_conn.execute(
        "SELECT count(*) FROM pg_catalog.pg_inherits WHERE inhparent = 'messages_2026_11'::regclass"
    ).fetchone()
    assert inside == (4,)
