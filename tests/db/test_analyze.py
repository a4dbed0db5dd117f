"""Issue 20, part 2: after a run changed a table's partitions, its parent is
analyzed (autovacuum never analyzes a partitioned parent).

The parent gets its statistics of the table as a whole (pg_statistic rows
with stainherit, pg_class.reltuples, last_analyze); --no-analyze and
``analyze = false`` turn it off; a run that changed nothing analyzes
nothing; a failed ANALYZE is a warning that rolls nothing back; the
application keeps inserting and reading meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgpart.config import Overrides, load_settings
from pgpart.core.durations import Duration
from pgpart.core.plan import AnalyzeTable, CreatePartition
from pgpart.core.planner import Mode
from pgpart.core.snapshot import Leftover
from tests.support.cli_helpers import NOW, cli, daily_table
from tests.support.helpers_db import holding
from tests.unit.test_planner_unit import monthly, plan_one, table, utc

OLDEST = "public.events_2026_11_17"


def test_the_planner_appends_one_analyze_after_a_table_s_changes(tmp_path: Path) -> None:
    policy = load_settings(Overrides(), {}, tmp_path).defaults
    t = table(*monthly(range(-2, 1)))
    *creates, last = plan_one(t, policy, analyze=True).actions
    assert len(creates) == 3 and all(isinstance(a, CreatePartition) for a in creates)
    assert last == AnalyzeTable(creates[0].table)
    # --no-analyze, analyze = false, check, nothing to do: no ANALYZE
    assert plan_one(t, policy, analyze=False).actions == tuple(creates)
    assert plan_one(t, replace(policy, analyze=False), analyze=True).actions == tuple(creates)
    assert plan_one(t, policy, Mode.CHECK, analyze=True).actions == ()
    assert plan_one(table(*monthly(range(-2, 4))), policy, analyze=True).actions == ()
    # a leftover's drop changes no rows of the table: nothing to analyze for it
    jan = Leftover("public", "events_2026_01", "app", "", 7, None, utc(2026, 1), utc(2026, 2))
    left = table(*monthly(range(-2, 4)), leftovers=(jan,))
    kept = replace(policy, retention=Duration(months=6))
    assert [a.action for a in plan_one(left, kept, analyze=True).actions] == ["drop_leftover"]


def _events(conn: psycopg.Connection[Any], rows_per_day: int = 200) -> int:
    """events: daily partitions Nov 17..21 with rows, and a DEFAULT holding
    rows of Nov 22 and 23 (maintain moves them into the partitions it makes).
    Returns the number of rows."""
    daily_table(conn, "events", days=range(-5, 0))
    conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    conn.execute(
        "INSERT INTO events (ts, v) SELECT timestamptz '2026-11-17' + g * %s::interval, g"
        " FROM generate_series(0, %s) g",
        (f"{86400 // rows_per_day} seconds", 7 * rows_per_day - 1),
    )
    return 7 * rows_per_day


@dataclass(frozen=True)
class ParentStats:
    inherited: int  # pg_statistic rows of the table as a whole
    reltuples: float
    analyzed: bool  # pg_stat_user_tables.last_analyze is set


def _parent_stats(conn: psycopg.Connection[Any]) -> ParentStats:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT (SELECT count(*) FROM pg_statistic WHERE starelid = 'events'::regclass"
        "         AND stainherit),"
        " (SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass),"
        " (SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables"
        "   WHERE relid = 'events'::regclass)"
    ).fetchone()
    assert row is not None
    return ParentStats(int(row[0]), float(row[1]), bool(row[2]))


def _manual_analyses(conn: psycopg.Connection[Any], table: str) -> int:
    """ANALYZE commands run on ``table`` (autovacuum's are counted apart)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT analyze_count FROM pg_stat_user_tables WHERE relid = %s::regclass", (table,)
    ).fetchone()
    assert row is not None
    return int(row[0])


COMMANDS = {
    "maintain": ["maintain"],
    "create": ["create", "events", "--to", "2026-11-24"],
    "drop": ["drop", "events", "--before", "2026-11-19", "--yes"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_run_that_changes_partitions_analyzes_the_parent(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, command: str
) -> None:
    total = _events(pg_conn)
    assert _parent_stats(pg_conn) == ParentStats(0, -1.0, False)
    run = cli([*COMMANDS[command], "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert run.code == 0, run.stdout + run.stderr
    actions = run.json()["actions"]
    *changes, analyze = actions
    assert changes and all(a["done"] and a["action"] != "analyze" for a in changes), actions
    assert analyze["action"] == "analyze" and analyze["table"] == "public.events"
    assert analyze["partition"] is None and analyze["from"] is None and analyze["to"] is None
    assert analyze["done"] and analyze["error"] is None, analyze
    assert 'ANALYZE "public"."events"' in " ".join(analyze["sql"]).replace("ONLY ", "")
    assert run.json()["summary"]["analyzed"] == 1
    stats = _parent_stats(pg_conn)
    assert stats.inherited > 0 and stats.analyzed
    dropped = 2 * total // 7 if command == "drop" else 0
    assert stats.reltuples == total - dropped


def test_postgresql_18_analyzes_only_the_parent_and_older_ones_every_partition(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    _events(pg_conn)
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert run.code == 0, run.stdout + run.stderr
    statement = next(a for a in run.json()["actions"] if a["action"] == "analyze")["sql"]
    only = pg_conn.info.server_version >= 180000
    assert ('ANALYZE ONLY "public"."events"' in statement) == only, statement
    assert ('ANALYZE "public"."events"' in statement) == (not only), statement
    # ANALYZE ONLY samples the whole table for the parent's statistics but
    # leaves each partition to autovacuum; before 18 each one is analyzed too.
    assert _manual_analyses(pg_conn, OLDEST) == (0 if only else 1)
    assert _parent_stats(pg_conn).inherited > 0


@pytest.mark.parametrize(
    ("flag", "config"),
    [
        (["--no-analyze"], ""),
        ([], "[defaults]\nanalyze = false\n"),
        ([], '[[table]]\nname = "public.events"\nanalyze = false\n'),
    ],
    ids=["flag", "defaults", "table"],
)
def test_no_analyze_and_the_analyze_key_turn_it_off(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, flag: list[str], config: str
) -> None:
    _events(pg_conn)
    path = tmp_path / "pgpart.toml"
    path.write_text(config)
    run = cli(
        ["maintain", *flag, "--dsn", pg_dsn, "--config", str(path), "--now", NOW, "-f", "json"]
    )
    assert run.code == 0, run.stdout + run.stderr
    assert [a for a in run.json()["actions"] if a["action"] == "analyze"] == []
    assert _parent_stats(pg_conn) == ParentStats(0, -1.0, False)


def test_the_dry_run_shows_the_analyze(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    _events(pg_conn)
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "--dry-run"])
    assert run.code == 0, run.stdout + run.stderr
    assert "-- public.events: analyze 1: (the parent)" in run.stdout
    assert "-- public.events: analyze (the parent)" in run.stdout
    assert "SET lock_timeout = '500ms';\n" in run.stdout
    assert "ANALYZE " in run.stdout and '"public"."events";' in run.stdout
    assert _parent_stats(pg_conn) == ParentStats(0, -1.0, False)


def test_a_run_that_changed_nothing_analyzes_nothing(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    _events(pg_conn)
    assert cli(["maintain", "--dsn", pg_dsn, "--now", NOW]).code == 0
    again = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert again.code == 0 and again.json()["actions"] == [], again.stdout
    # Every creation failed (a lock on the parent): nothing changed, nothing to analyze.
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\nretry_for = "300ms"\n')
    later = "2026-11-27T12:00:00+00:00"  # days later: partitions to create again
    args = ["--dsn", pg_dsn, "--config", str(config), "--now", later, "--lock-timeout", "100ms"]
    with psycopg.connect(pg_dsn) as holder:
        holder.execute("LOCK TABLE ONLY events IN SHARE UPDATE EXCLUSIVE MODE")
        run = cli(["maintain", *args, "-f", "json"])
        holder.rollback()
    assert run.code == 2, run.stdout + run.stderr
    analyze = run.json()["actions"][-1]
    assert analyze["action"] == "analyze" and analyze["done"] and analyze["skipped"]
    assert analyze["error"] is None and analyze["sql"] == [] and analyze["attempts"] == 0


def test_a_failed_analyze_is_a_warning_and_rolls_nothing_back(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """A migration holds the oldest partition (which ANALYZE samples and the
    creations do not touch) past the retry budget."""
    _events(pg_conn)
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\nretry_for = "1s"\n')
    args = ["--dsn", pg_dsn, "--config", str(config), "--now", NOW, "--lock-timeout", "100ms"]
    with psycopg.connect(pg_dsn) as holder:
        holder.execute(f"LOCK TABLE {OLDEST} IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        run = cli(["maintain", *args, "-f", "json"])
        text = cli(["maintain", "--no-analyze", *args])  # nothing left to do: no analyze
        holder.rollback()
    assert run.code == 0, run.stdout + run.stderr  # a warning, not a failure
    data = run.json()
    *creates, analyze = data["actions"]
    assert [a["action"] for a in creates] == ["create"] * 4 and all(a["done"] for a in creates)
    assert analyze["action"] == "analyze" and not analyze["done"], analyze
    assert f"lock timeout on {OLDEST} after " in analyze["error"], analyze
    assert f"held by pid {pid} (AccessExclusiveLock)" in analyze["error"], analyze
    assert data["status"] == "ok" and data["summary"]["not_analyzed"] == 1
    assert f"public.events: warning: lock timeout on {OLDEST}" in run.stderr, run.stderr
    # nothing rolled back: the partitions are there, the rows moved
    assert pg_conn.execute("SELECT count(*) FROM ONLY events_default").fetchone() == (0,)
    assert text.code == 0, text.stdout + text.stderr
    assert _parent_stats(pg_conn).inherited == 0


def test_analyze_takes_no_lock_that_blocks_reads_or_writes(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """While a session holds ROW EXCLUSIVE on the parent and every partition
    (an open transaction that inserted into each), the ANALYZE is granted."""
    _events(pg_conn)
    writes = "INSERT INTO events (ts, v) SELECT d, 0 FROM generate_series(" + (
        "timestamptz '2026-11-17', timestamptz '2026-11-21', interval '1 day') d"
    )
    with holding(pg_dsn, sql.SQL(writes), 3.0):
        run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert run.code == 0, run.stdout + run.stderr
    analyze = run.json()["actions"][-1]
    assert analyze["action"] == "analyze" and analyze["done"] and analyze["attempts"] == 1
