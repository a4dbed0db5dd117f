"""Issue 20, part 1: a lock another session holds is waited out, not refused.

A short migration (here a LOCK TABLE held 2 s) on the newest partition, or
on the parent, while maintain runs: maintain waits for it, within the
table's lock_timeout per attempt and the retry budget, and creates what it
should (exit 0). A lock held longer than the budget fails the table clearly
(exit 2), naming the relation and the holder's pid, while the other tables
are done. check never waits: it says the table is `locked` (information)
and goes on with the rest. Ctrl-C during the wait exits 130, nothing done.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.cli.test_oncall import partitions, term
from tests.support.cli_helpers import NOW, cli, monthly_table
from tests.support.helpers_db import holding

HOLD_S = 2.0
NEWEST = "public.messages_2026_11"


def _config(tmp_path: Path, lock_timeout: str, retry_for: str = "30s") -> str:
    path = tmp_path / "pgpart.toml"
    path.write_text(f'[defaults]\nlock_timeout = "{lock_timeout}"\nretry_for = "{retry_for}"\n')
    return str(path)


def _maintain(dsn: str, config: str, *extra: str) -> list[str]:
    return ["maintain", *extra, "--dsn", dsn, "--config", config, "--now", NOW]


def _table(conn: psycopg.Connection[Any]) -> None:
    """messages, Sep..Nov 2026, with a per-partition index on the newest:
    maintain must create Dec, Jan and Feb like messages_2026_11."""
    monthly_table(conn, months=range(-2, 1))
    conn.execute("CREATE INDEX messages_2026_11_body ON messages_2026_11 (body)")


LOCKS = {
    "newest partition": f"LOCK TABLE {NEWEST} IN ACCESS EXCLUSIVE MODE",
    # without ONLY: the parent and every partition, as ALTER TABLE does
    "whole table": "LOCK TABLE messages IN ACCESS EXCLUSIVE MODE",
    "parent only": "LOCK TABLE ONLY messages IN ACCESS EXCLUSIVE MODE",
}


@pytest.mark.parametrize(
    ("locked", "lock_timeout", "retry_for"),
    [
        ("newest partition", "3s", "30s"),  # one attempt outlasts the lock
        ("whole table", "200ms", "10s"),  # attempts and backoff outlast it
        # the other combinations: tests/slow/test_lock_waits_slow.py
    ],
)
def test_maintain_waits_out_a_short_migration_and_creates_what_it_should(
    pg_conn: psycopg.Connection[Any],
    pg_dsn: str,
    tmp_path: Path,
    locked: str,
    lock_timeout: str,
    retry_for: str,
) -> None:
    _table(pg_conn)
    config = _config(tmp_path, lock_timeout, retry_for)
    start = time.monotonic()
    with holding(pg_dsn, sql.SQL(LOCKS[locked]), HOLD_S):
        run = cli(_maintain(pg_dsn, config, "-f", "json"))
    took = time.monotonic() - start
    assert run.code == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    made = [a["partition"] for a in run.json()["actions"] if a["action"] == "create"]
    assert made == ["messages_2026_12", "messages_2027_01", "messages_2027_02"], run.stdout
    assert all(a["done"] for a in run.json()["actions"]), run.stdout
    assert took >= HOLD_S - 0.5, took  # it waited for the holder
    names = partitions(pg_conn, "messages")
    assert names[-3:] == made
    # made like the newest, read once the migration was over
    indexed = pg_conn.execute(
        "SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'messages_2027_0%' AND indexdef"
        " LIKE '%(body)'"
    ).fetchone()
    assert indexed == (2,)


def test_a_lock_held_past_the_budget_fails_the_table_naming_relation_and_pid(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    _table(pg_conn)
    monthly_table(pg_conn, "other", months=range(-1, 1))
    config = _config(tmp_path, "100ms", "1s")
    before = partitions(pg_conn, "messages")
    with psycopg.connect(pg_dsn) as holder:
        holder.execute(f"LOCK TABLE {NEWEST} IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        holder.execute("SELECT 'a long migration'")
        start = time.monotonic()
        run = cli(_maintain(pg_dsn, config))
        took = time.monotonic() - start
        holder.rollback()
    out = run.stdout + run.stderr
    assert run.code == 2, out
    assert "Traceback" not in out
    line = next((x for x in run.stderr.splitlines() if "lock timeout on" in x), "")
    assert re.search(
        rf"public\.messages: locked: lock timeout on {re.escape(NEWEST)} after \d+ attempts"
        rf" over \d+\.\d s \(waiting for ACCESS SHARE, .*held by pid {pid} \(AccessExclusiveLock\)",
        line,
    ), run.stderr
    assert "a long migration" in line
    assert 1.0 <= took < 8, took  # the budget, then the other table's work
    assert partitions(pg_conn, "messages") == before  # nothing made from an unread sibling
    assert len(partitions(pg_conn, "other")) == 5  # the other table is done


def test_check_does_not_wait_and_reports_the_lock_as_information(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    # a gap (no October): a finding that stays computed while the newest is locked
    monthly_table(pg_conn, months=range(-2, 1))
    pg_conn.execute("DROP TABLE messages_2026_10")
    pg_conn.execute("CREATE INDEX messages_2026_11_body ON messages_2026_11 (body)")
    with psycopg.connect(pg_dsn) as holder:
        holder.execute(f"LOCK TABLE {NEWEST} IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        holder.execute("SELECT 'migrating the newest partition'")
        start = time.monotonic()
        run = cli(["check", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
        took = time.monotonic() - start
        holder.rollback()
    assert took < 3, took  # no lock wait (1 s would be the read's own bound)
    table = run.json()["tables"][0]
    problems = {p["code"]: p for p in table["problems"]}
    assert set(problems) == {"gap", "locked"}, problems
    locked = problems["locked"]
    assert locked["severity"] == "info"
    assert NEWEST in locked["message"] and f"pid {pid}" in locked["message"]
    assert "migrating the newest partition" in locked["message"]
    assert run.code == 1 and table["status"] == "warning"  # the gap's, not the lock's


def test_ctrl_c_while_waiting_for_a_held_partition_exits_130(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    _table(pg_conn)
    before = partitions(pg_conn, "messages")
    with psycopg.connect(pg_dsn) as holder:
        holder.execute(f"LOCK TABLE {NEWEST} IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        with term(["maintain", "--dsn", pg_dsn, "--now", NOW, "--lock-timeout", "200ms"]) as t:
            # progress on the terminal: the relation waited for, its holder, attempt n
            t.read_until(rf"waiting for a lock on {NEWEST} held by pid {pid}, attempt \d+")
            t.interrupt()
            code = t.wait()
        holder.rollback()
    assert code == 130, t.output
    assert "interrupted (Ctrl-C): nothing was changed" in t.output
    assert "Traceback" not in t.output and "psycopg" not in t.output
    assert partitions(pg_conn, "messages") == before
    left = pg_conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgpart'"
    ).fetchone()
    assert left == (0,)
