"""`pgpart stats` and `pgpart init` end to end."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

from tests.support.cli_helpers import cli, daily_table, monthly_table


def test_stats_estimates_exact_counts_and_default(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(0, 2), default=True)
    pg_conn.execute(
        "INSERT INTO messages (created_at, body) SELECT '2026-11-05'::timestamptz + i * interval '1 minute', 'x'"
        " FROM generate_series(1, 100) i"
    )
    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES ('2020-01-01', 'old')")
    # Never analyzed: the estimate is unknown, not 0.
    run = cli(["stats", "--dsn", pg_dsn, "--format", "json"])
    assert run.code == 0, run.stderr
    [t] = run.json()["tables"]
    parts = {p["name"]: p for p in t["partitions"]}
    assert parts["public.messages_2026_11"]["rows"] is None
    assert t["total_rows"] is None
    assert parts["public.messages_default"]["is_default"] is True
    assert parts["public.messages_default"]["from"] is None
    assert parts["public.messages_2026_11"]["from"] == "2026-11-01T00:00:00+00:00"
    assert all(p["bytes"] > 0 for p in t["partitions"])
    assert t["total_bytes"] == sum(p["bytes"] for p in t["partitions"])

    exact = cli(["stats", "--dsn", pg_dsn, "--exact", "--format", "json"]).json()["tables"][0]
    parts = {p["name"]: p for p in exact["partitions"]}
    assert parts["public.messages_2026_11"]["rows"] == 100
    assert parts["public.messages_2026_12"]["rows"] == 0
    assert parts["public.messages_default"]["rows"] == 1
    assert exact["total_rows"] == 101
    exact_table = cli(["stats", "--dsn", pg_dsn, "--exact"]).stdout
    total_line = next(line for line in exact_table.splitlines() if line.startswith("total"))
    assert "101" in total_line and "~" not in total_line  # exact counts: no estimate mark

    pg_conn.execute("ANALYZE messages")
    est = cli(["stats", "--dsn", pg_dsn, "--format", "json"]).json()["tables"][0]
    parts = {p["name"]: p for p in est["partitions"]}
    assert parts["public.messages_2026_11"]["rows"] == 100

    table = cli(["stats", "--dsn", pg_dsn])
    assert "public.messages_default" in table.stdout and "DEFAULT" in table.stdout
    assert "total" in table.stdout
    prom = cli(["stats", "--dsn", pg_dsn, "--format", "prometheus"]).stdout
    assert (
        'pgpart_partition_rows{table="public.messages",partition="public.messages_2026_11"} 100'
        in prom
    )


def test_stats_unknown_table_exits_3(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    run = cli(["stats", "--dsn", pg_dsn, "messages", "missing_table"])
    assert run.code == 3
    assert "missing_table" in run.stderr
    assert "public.messages" in run.stdout


def test_init_writes_config_that_loads(pg_conn, pg_dsn, tmp_path):
    monthly_table(pg_conn)
    daily_table(pg_conn)
    pg_conn.execute("CREATE TABLE empty_one (t timestamptz) PARTITION BY RANGE (t)")
    out = tmp_path / "pgpart.toml"
    run = cli(["init", "--dsn", pg_dsn, "--output", str(out)])
    assert run.code == 0, run.stderr
    assert "empty_one" in run.stderr  # skipped: nothing to infer the interval from
    data = tomllib.loads(out.read_text())
    tables = {t["name"]: t for t in data["table"]}
    assert tables["public.messages"]["interval"] == "monthly"
    assert tables["public.events"]["interval"] == "daily"
    assert "public.empty_one" not in tables
    # The written file is a valid config for every command.
    check = cli(["check", "--dsn", pg_dsn, "--config", str(out), "--now", "2026-11-22T12:00Z"])
    assert check.code in (0, 1), check.stderr
    again = cli(["init", "--dsn", pg_dsn, "--output", str(out)])
    assert again.code == 3 and "--force" in again.stderr
    forced = cli(["init", "--dsn", pg_dsn, "--output", str(out), "--force"])
    assert forced.code == 0
    stdout = cli(["init", "--dsn", pg_dsn, "--output", "-"])
    assert stdout.code == 0 and 'name = "public.messages"' in stdout.stdout


def test_verbose_logs_the_catalog_queries_and_quiet_stats_prints_nothing(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    for command in ("check", "stats"):
        run = cli([command, "--dsn", pg_dsn, "-v", "-q"])
        logged = [line for line in run.stderr.splitlines() if line.startswith("pgpart: sql: ")]
        assert any("pg_get_expr(c.relpartbound, 0)" in line for line in logged), run.stderr
        if command == "stats":  # the sizes too, read on connections of their own
            assert any("pg_total_relation_size" in line for line in logged), run.stderr
    quiet = cli(["stats", "--dsn", pg_dsn, "-q"])
    assert quiet.code == 0 and quiet.stdout == "" and quiet.stderr == ""
