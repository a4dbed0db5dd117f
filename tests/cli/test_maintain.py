"""The write path end to end through the CLI: the seed incident, idempotence,
dry run, retention, DEFAULT rows, naming continuity."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.cli_helpers import NOW, cli, daily_table, monthly_table


def partitions(conn, table: str) -> list[tuple[str, str]]:
    conn.execute("SET TimeZone = 'UTC'")
    rows: list[tuple[str, str]] = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass"
        " ORDER BY 2",
        (table,),
    ).fetchall()
    return rows


def test_seed_incident_end_to_end(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-3, -1))  # Aug..Sep: Oct is a hole, Nov missing
    with pytest.raises(psycopg.errors.CheckViolation):
        pg_conn.execute("INSERT INTO messages (created_at, body) VALUES (%s, 'hi')", (NOW,))

    assert cli(["check", "--dsn", pg_dsn, "--now", NOW]).code == 2

    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    assert "messages_2026_11" in run.stdout

    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES (%s, 'hi')", (NOW,))
    after = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    assert after.code == 1  # only the old October hole remains: a warning
    assert {p["code"] for p in after.json()["tables"][0]["problems"]} == {"gap"}
    pg_conn.execute(
        "CREATE TABLE messages_2026_10 PARTITION OF messages"
        " FOR VALUES FROM ('2026-10-01') TO ('2026-11-01')"
    )
    assert cli(["check", "--dsn", pg_dsn, "--now", NOW]).code == 0

    again = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    assert again.code == 0
    assert again.json()["actions"] == []
    quiet = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "-q"])
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, "", "")

    names = [n for n, _ in partitions(pg_conn, "messages")]
    # Current month through premake (3) ahead; the old October hole was not refilled
    # by maintain (it looks forward from the current period only) but by hand above.
    assert names == [
        "messages_2026_08",
        "messages_2026_09",
        "messages_2026_10",
        "messages_2026_11",
        "messages_2026_12",
        "messages_2027_01",
        "messages_2027_02",
    ]


def test_dry_run_changes_nothing_and_prints_sql(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-2, 0))
    before = partitions(pg_conn, "messages")
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "--dry-run"])
    assert run.code == 0, run.stderr
    assert "ATTACH PARTITION" in run.stdout
    assert "PARTITION OF" not in run.stdout
    assert "lock_timeout" in run.stdout
    assert partitions(pg_conn, "messages") == before
    js = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "--dry-run", "--format", "json"]).json()
    assert [a["partition"] for a in js["actions"]] == [
        "messages_2026_11",
        "messages_2026_12",
        "messages_2027_01",
        "messages_2027_02",
        None,  # then the parent is analyzed
    ]
    assert all(a["done"] is False and a["sql"] for a in js["actions"])


def test_naming_continues_other_tools_style(pg_conn, pg_dsn):
    monthly_table(pg_conn, "pm", months=range(-2, 0), suffix="p{y:04d}_{m:02d}")
    daily_table(pg_conn, "ps", days=range(-2, 0), suffix="{y:04d}{m:02d}{d:02d}")
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    assert [n for n, _ in partitions(pg_conn, "pm")][-1] == "pm_p2027_02"
    assert [n for n, _ in partitions(pg_conn, "ps")][-1] == "ps_20261125"


def test_default_rows_are_moved_not_lost(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-2, 0), default=True)
    pg_conn.execute(
        "INSERT INTO messages (created_at, body) SELECT '2026-11-01'::timestamptz + i * interval '1 hour', 'r' || i"
        " FROM generate_series(0, 999) i"
    )  # Nov 1 .. Dec 12: land in DEFAULT
    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES ('2031-01-01', 'stray')")
    before = pg_conn.execute(
        "SELECT count(*), sum(id), md5(string_agg(body, ',' ORDER BY id)) FROM messages"
    ).fetchone()
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    after = pg_conn.execute(
        "SELECT count(*), sum(id), md5(string_agg(body, ',' ORDER BY id)) FROM messages"
    ).fetchone()
    assert after == before
    left = pg_conn.execute("SELECT body FROM ONLY messages_default").fetchall()
    assert left == [("stray",)]  # far-future stray stays; no lone 2031 partition
    assert "messages_2031_01" not in [n for n, _ in partitions(pg_conn, "messages")]
    check = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--format", "json"]).json()
    assert {p["code"] for p in check["tables"][0]["problems"]} == {"default_has_rows"}


def test_retention_drops_only_wholly_expired(pg_conn, pg_dsn, tmp_path):
    monthly_table(pg_conn, months=range(-8, 4))
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text('[[table]]\nname = "messages"\ninterval = "monthly"\nretention = "3 months"\n')
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "--config", str(cfg)])
    assert run.code == 0, run.stdout + run.stderr
    names = [n for n, _ in partitions(pg_conn, "messages")]
    assert names[0] == "messages_2026_08"  # Aug ends after the 2026-08-22 cutoff: kept
    assert "messages_2026_07" not in names
    assert (
        pg_conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname = 'messages_2026_07'"
        ).fetchone()[0]
        == 0
    )


def test_drop_never_touches_current_or_later(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-3, 3))
    run = cli(
        ["drop", "messages", "--before", "2030-01-01", "--yes", "--dsn", pg_dsn, "--now", NOW]
    )
    assert run.code == 0, run.stdout + run.stderr
    names = [n for n, _ in partitions(pg_conn, "messages")]
    assert names == ["messages_2026_11", "messages_2026_12", "messages_2027_01"]


def test_drop_detach_keeps_tables(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-3, 2))
    run = cli(
        [
            "drop",
            "messages",
            "--older-than",
            "1 month",
            "--detach",
            "--yes",
            "--dsn",
            pg_dsn,
            "--now",
            NOW,
        ]
    )
    assert run.code == 0, run.stdout + run.stderr
    names = [n for n, _ in partitions(pg_conn, "messages")]
    assert names == ["messages_2026_10", "messages_2026_11", "messages_2026_12"]
    assert pg_conn.execute("SELECT to_regclass('messages_2026_08') IS NOT NULL").fetchone()[0]


def test_create_range_and_refuses_absurd(pg_conn, pg_dsn):
    daily_table(pg_conn, days=range(0, 1))
    run = cli(
        [
            "create",
            "events",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-04",
            "--dsn",
            pg_dsn,
            "--now",
            NOW,
            "--format",
            "json",
        ]
    )
    assert run.code == 0, run.stdout + run.stderr
    assert [a["partition"] for a in run.json()["actions"]] == [
        "events_2026_12_01",
        "events_2026_12_02",
        "events_2026_12_03",
        None,  # then the parent is analyzed
    ]
    absurd = cli(["create", "events", "--to", "9999-01-01", "--dsn", pg_dsn, "--now", NOW])
    assert absurd.code == 2
    assert "--force" in absurd.stdout + absurd.stderr


def test_interval_mismatch_blocks_ddl_other_tables_proceed(pg_conn, pg_dsn, tmp_path):
    # Monthly partitions lie ahead and nothing says the daily interval is a
    # change going forward (previous_interval): a typo must not change a layout.
    monthly_table(pg_conn, "a", months=range(-2, 2))
    monthly_table(pg_conn, "b", months=range(-2, 0))
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text('[[table]]\nname = "a"\ninterval = "daily"\n\n[[table]]\nname = "b"\n')
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "--config", str(cfg)])
    assert run.code == 2
    assert "interval_mismatch" in run.stdout
    assert len(partitions(pg_conn, "a")) == 4
    assert len(partitions(pg_conn, "b")) == 6


def test_unknown_interval_needs_config(pg_conn, pg_dsn):
    pg_conn.execute("CREATE TABLE fresh (t timestamptz) PARTITION BY RANGE (t)")
    run = cli(["maintain", "fresh", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 2
    assert "interval" in run.stdout
    ok = cli(["create", "fresh", "--interval", "daily", "--dsn", pg_dsn, "--now", NOW])
    assert ok.code == 0, ok.stdout + ok.stderr
    assert [n for n, _ in partitions(pg_conn, "fresh")][0] == "fresh_2026_11_22"
