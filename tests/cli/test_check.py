"""`pgpart check` end to end on a real server: exit codes, problems, formats."""

from __future__ import annotations

from typing import Any

from tests.support.cli_helpers import NOW, cli, daily_table, monthly_table


def check(dsn: str, *args: str) -> tuple[int, dict[str, Any]]:
    run = cli(["check", "--dsn", dsn, "--now", NOW, "--format", "json", *args])
    assert run.stderr == "", run.stderr
    return run.code, run.json()


def codes(report: dict[str, Any], table: str | None = None) -> set[str]:
    return {
        p["code"]
        for t in report["tables"]
        if table is None or t["table"] == table
        for p in t["problems"]
    }


def test_healthy_monthly_table_is_ok(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-2, 4))
    code, report = check(pg_dsn)
    assert code == 0
    assert report["status"] == "ok"
    [t] = report["tables"]
    assert t["table"] == "public.messages"
    assert t["interval"] == "monthly"
    assert t["partitions"] == 6
    assert t["covered_from"] == "2026-09-01T00:00:00+00:00"
    assert t["covered_until"] == "2027-03-01T00:00:00+00:00"
    assert t["default_rows"] == 0
    assert t["problems"] == []


def test_missing_current_is_critical(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-4, -1))
    code, report = check(pg_dsn)
    assert code == 2
    assert report["status"] == "critical"
    assert "missing_current" in codes(report)
    [problem] = [p for p in report["tables"][0]["problems"] if p["code"] == "missing_current"]
    assert problem["severity"] == "critical"
    assert "inserts are failing" in problem["message"]


def test_short_runway_is_a_warning(pg_conn, pg_dsn):
    # Daily partitions through tomorrow only: less than the 2-day default.
    daily_table(pg_conn, days=range(-2, 2))
    code, report = check(pg_dsn)
    assert code == 1
    assert codes(report) == {"insufficient_ahead"}
    assert report["tables"][0]["covered_until"] == "2026-11-24T00:00:00+00:00"


def test_gap_is_reported(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-3, 4))
    pg_conn.execute("DROP TABLE messages_2026_09")
    code, report = check(pg_dsn)
    assert code == 1
    assert "gap" in codes(report)
    [gap] = [p for p in report["tables"][0]["problems"] if p["code"] == "gap"]
    assert "2026-09-01" in gap["message"] and "2026-10-01" in gap["message"]


def test_default_rows_are_described_by_period(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(0, 4), default=True)
    pg_conn.execute(
        "INSERT INTO messages (created_at, body) VALUES"
        " ('2026-08-03 10:00+00', 'a'), ('2026-08-20 10:00+00', 'b'), ('2031-01-05 00:00+00', 'stray')"
    )
    code, report = check(pg_dsn)
    assert code == 1
    [t] = report["tables"]
    assert t["default_rows"] == 3
    [p] = [p for p in t["problems"] if p["code"] == "default_has_rows"]
    assert "2026-08 (2)" in p["message"]
    assert "2031-01 (1)" in p["message"]
    assert "far-future" in p["message"]


def test_unknown_not_partitioned_and_unsupported_tables(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    pg_conn.execute("CREATE TABLE plain (id int)")
    pg_conn.execute("CREATE TABLE by_list (k text) PARTITION BY LIST (k)")
    pg_conn.execute("CREATE TABLE by_hash (k int) PARTITION BY HASH (k)")
    pg_conn.execute("CREATE TABLE by_int (k int) PARTITION BY RANGE (k)")
    code, report = check(pg_dsn, "messages", "plain", "by_list", "by_hash", "by_int", "nope")
    assert code == 3
    by_table = {t["table"]: t for t in report["tables"]}
    assert by_table["public.messages"]["status"] == "ok"
    assert codes(report, "public.plain") == {"not_partitioned"}
    assert codes(report, "public.by_list") == {"unsupported_key"}
    assert codes(report, "public.by_hash") == {"unsupported_key"}
    assert codes(report, "public.by_int") == {"unsupported_key"}
    assert codes(report, "nope") == {"unknown_table"}
    assert all(by_table[n]["status"] == "unknown" for n in ("public.plain", "nope"))


def test_sql_in_a_table_name_is_only_a_name(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    code, report = check(pg_dsn, "messages; DROP TABLE messages")
    assert code == 3
    assert codes(report) == {"unknown_table"}
    assert pg_conn.execute("SELECT to_regclass('messages') IS NOT NULL").fetchone()[0]


def test_discovery_lists_non_time_tables_without_judging_them(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    pg_conn.execute("CREATE TABLE by_int (k int) PARTITION BY RANGE (k)")
    code, report = check(pg_dsn)
    assert code == 0  # listed with the reason, never skipped silently; not a failure
    assert [t["table"] for t in report["tables"]] == ["public.by_int", "public.messages"]
    [problem] = report["tables"][0]["problems"]
    assert (problem["code"], problem["severity"]) == ("unsupported_key", "info")


def test_other_tools_partition_names_read_by_bounds(pg_conn, pg_dsn):
    monthly_table(pg_conn, "partman_style", suffix="p{y:04d}_{m:02d}")
    daily_table(pg_conn, "pgslice_style", days=range(-2, 6), suffix="{y:04d}{m:02d}{d:02d}")
    pg_conn.execute("CREATE TABLE odd (t timestamptz) PARTITION BY RANGE (t)")
    pg_conn.execute(
        "CREATE TABLE odd_old_stuff PARTITION OF odd FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')"
    )
    pg_conn.execute(
        "CREATE TABLE whatever PARTITION OF odd FOR VALUES FROM ('2026-12-01') TO ('2027-01-01')"
    )
    pg_conn.execute(
        "CREATE TABLE odd_tail PARTITION OF odd FOR VALUES FROM ('2027-01-01') TO (MAXVALUE)"
    )
    code, report = check(pg_dsn)
    by_table = {t["table"]: t for t in report["tables"]}
    assert by_table["public.partman_style"]["interval"] == "monthly"
    assert by_table["public.partman_style"]["status"] == "ok"
    assert by_table["public.pgslice_style"]["interval"] == "daily"
    assert by_table["public.pgslice_style"]["status"] == "ok"
    # MAXVALUE covers everything ahead: nothing can run out.
    assert by_table["public.odd"]["status"] == "ok"
    assert by_table["public.odd"]["covered_until"] is None
    assert code == 0


def test_quoted_mixed_case_names_and_schema_with_spaces(pg_conn, pg_dsn):
    monthly_table(pg_conn, "Event Log", schema="My Schema")
    code, report = check(pg_dsn, '"My Schema"."Event Log"')
    assert code == 0
    assert report["tables"][0]["table"] == '"My Schema"."Event Log"'


def test_bounds_do_not_shift_with_client_time_zone(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    run = cli(
        [
            "check",
            "--dsn",
            pg_dsn + " options='-c TimeZone=Asia/Kolkata'",
            "--now",
            NOW,
            "--format",
            "json",
        ]
    )
    assert run.code == 0
    assert run.json()["tables"][0]["covered_until"] == "2027-03-01T00:00:00+00:00"


def test_interval_mismatch_with_config(pg_conn, pg_dsn, tmp_path):
    monthly_table(pg_conn)
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text('[[table]]\nname = "public.messages"\ninterval = "daily"\n')
    code, report = check(pg_dsn, "--config", str(cfg))
    assert code == 1
    assert "interval_mismatch" in codes(report)


def test_retention_overdue(pg_conn, pg_dsn, tmp_path):
    monthly_table(pg_conn, months=range(-8, 4))
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text('[[table]]\nname = "messages"\nretention = "3 months"\n')
    code, report = check(pg_dsn, "--config", str(cfg))
    assert code == 1
    [p] = [p for p in report["tables"][0]["problems"] if p["code"] == "retention_overdue"]
    # Partitions ending on or before 2026-08-22 lie wholly outside 3 months: Mar..Jul = 5.
    assert p["message"].startswith("5 partition(s)")


def test_table_format_and_quiet(pg_conn, pg_dsn):
    monthly_table(pg_conn, "good")
    monthly_table(pg_conn, "bad", months=range(-4, -1))
    run = cli(["check", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 2
    assert "public.good" in run.stdout and "public.bad" in run.stdout
    assert "CRITICAL" in run.stdout and "missing_current" in run.stdout
    quiet = cli(["check", "--dsn", pg_dsn, "--now", NOW, "-q"])
    assert quiet.code == 2
    assert "public.bad" in quiet.stdout and "public.good" not in quiet.stdout
    pg_conn.execute("DROP TABLE bad")
    silent = cli(["check", "--dsn", pg_dsn, "--now", NOW, "-q"])
    assert (silent.code, silent.stdout, silent.stderr) == (0, "", "")


def test_prometheus_and_csv(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    prom = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--format", "prometheus"])
    assert prom.code == 0
    lines = prom.stdout.splitlines()
    assert 'pgpart_table_status{table="public.messages"} 0' in lines
    assert 'pgpart_table_partitions{table="public.messages"} 6' in lines
    ahead = [ln for ln in lines if ln.startswith("pgpart_table_coverage_ahead_seconds{")]
    # 2027-03-01 minus 2026-11-22 12:00 UTC
    assert ahead == ['pgpart_table_coverage_ahead_seconds{table="public.messages"} 8510400']
    assert "# TYPE pgpart_check_status gauge" in lines
    csv_run = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--format", "csv"])
    header, row = csv_run.stdout.splitlines()[:2]
    assert header.startswith("table,status,interval")
    assert row.startswith("public.messages,OK,monthly,6,")


def test_pg_partman_managed_table(pg_conn, pg_dsn):
    """A table pg_partman 4.x created and maintains: read by bounds, and flagged."""
    available = pg_conn.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_partman'"
    ).fetchone()[0]
    assert available, "pg_partman is needed for this test: apt-get install postgresql-15-partman"
    pg_conn.execute("CREATE SCHEMA partman")
    pg_conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
    pg_conn.execute(
        "CREATE TABLE pm (id int, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at)"
    )
    pg_conn.execute(
        "SELECT partman.create_parent('public.pm', 'created_at', 'native', 'monthly',"
        " p_start_partition := '2026-09-01')"
    )
    names = [
        r[0]
        for r in pg_conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'pm'::regclass ORDER BY 1"
        ).fetchall()
    ]
    assert "pm_p2026_11" in names
    code, report = check(pg_dsn)
    [t] = report["tables"]
    assert t["interval"] == "monthly"
    assert "managed_elsewhere" in codes(report)
    assert "missing_current" not in codes(report)
    assert code == 0  # monitored; that pg_partman maintains it is information
    # maintain makes no change to a table another tool maintains, and says so.
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0
    assert "managed_elsewhere" in run.stdout
    after = pg_conn.execute(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'pm'::regclass"
    ).fetchone()[0]
    assert after == len(names)
