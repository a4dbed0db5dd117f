"""Issue 10, part 4: a lock wait names the relation actually waited for.

ATTACH PARTITION also locks (SHARE ROW EXCLUSIVE) the tables the parent's
foreign keys reference and the tables whose foreign keys reference the parent.
When another session holds one of those in an open transaction, maintain must
fail (exit 2, after a short --lock-timeout and a small retry budget) naming
that table -- not the parent -- and the holder's pid and query, and leave
nothing half-done.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.cli_helpers import NOW, cli
from tests.support.sibling_compare import build_monthly, partitions_of, table_checksum


def build(conn: psycopg.Connection[Any], locked: str) -> str:
    """messages (monthly, Aug..Nov 2026) with a FK to ``ref``, and ``inbox``
    with a FK to messages. Returns the qualified name of the table to lock."""
    conn.execute("CREATE TABLE ref (id int PRIMARY KEY, name text)")
    conn.execute("INSERT INTO ref SELECT g, 'r' || g FROM generate_series(1, 10) g")
    build_monthly(
        conn,
        columns="id bigint NOT NULL, created_at timestamptz NOT NULL,"
        " ref_id int REFERENCES ref (id), body text",
    )
    conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-08-01 00:00+00' + g * interval '5 hours',"
        " g % 10 + 1, 'b' || g FROM generate_series(1, 500) g"
    )
    conn.execute(
        "CREATE TABLE inbox (msg_id bigint, msg_at timestamptz,"
        " FOREIGN KEY (msg_id, msg_at) REFERENCES messages (id, created_at))"
    )
    conn.execute("INSERT INTO inbox SELECT id, created_at FROM messages WHERE id % 7 = 0")
    return {"referenced": "public.ref", "referencing": "public.inbox"}[locked]


@pytest.mark.parametrize("locked", ["referenced", "referencing"])
def test_lock_timeout_names_the_table_waited_for_and_its_holder(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, locked: str
) -> None:
    table = build(pg_conn, locked)
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\nretry_for = "1s"\n')
    before = partitions_of(pg_conn, "messages")
    rows = {t: table_checksum(pg_conn, t) for t in ("messages", "ref", "inbox")}
    maintain = ["maintain", "messages", "--dsn", pg_dsn, "--config", str(config)]
    maintain += ["--lock-timeout", "100ms", "--now", NOW]

    with psycopg.connect(pg_dsn, application_name="holder") as holder:
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # kept: no commit
        row = holder.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = row[0]
        holder.execute(f"SELECT 'still holding {table}'")  # the holder's last query
        run = cli(maintain)
        holder.rollback()

    out = run.stdout + run.stderr
    assert run.code == 2, out
    assert "Traceback" not in out
    assert "lock timeout" in out.lower(), out
    # the relation actually waited for, and who holds it
    assert re.search(rf"\b{re.escape(table)}\b", out), out
    assert re.search(rf"\bpid {pid}\b", out), out
    assert f"still holding {table}" in out, out  # the holder's query
    assert "no conflicting lock visible" not in out, out
    assert not re.search(r"lock timeout on public\.messages\b", out), out  # not the parent
    # nothing half-done: no partition made, no row anywhere changed
    assert partitions_of(pg_conn, "messages") == before
    assert {t: table_checksum(pg_conn, t) for t in rows} == rows

    # with the holder gone, the same run succeeds
    again = cli(maintain)
    assert again.code == 0, again.stdout + again.stderr
    assert len(partitions_of(pg_conn, "messages")) == len(before) + 3
    assert {t: table_checksum(pg_conn, t) for t in rows} == rows


def test_a_locked_newest_partition_is_reported_by_check_and_waited_for_by_maintain(
    pg_conn, pg_dsn, tmp_path
) -> None:
    """A migration holding ACCESS EXCLUSIVE on the whole table (LOCK TABLE
    without ONLY locks every partition): reading what new partitions copy
    would wait for it. check answers at once (locked, information); maintain
    waits within its retry budget, then fails naming the holder."""
    import time

    build_monthly(pg_conn)
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\nretry_for = "1s"\n')
    with psycopg.connect(pg_dsn) as locker:
        locker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        pid = locker.info.backend_pid
        start = time.monotonic()
        check = cli(["check", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
        maintain = ["maintain", "--dsn", pg_dsn, "--now", NOW, "--lock-timeout", "50ms"]
        run = cli([*maintain, "--config", str(config)])
        took = time.monotonic() - start
    assert took < 10, took
    problems = {p["code"]: p for p in check.json()["tables"][0]["problems"]}
    assert problems["locked"]["severity"] == "info"
    assert f"held by pid {pid} (AccessExclusiveLock)" in problems["locked"]["message"]
    assert "cannot_reproduce" not in problems
    assert run.code == 2, run.stdout + run.stderr
    assert f"held by pid {pid} (AccessExclusiveLock)" in run.stderr
    assert "lock timeout on public.messages_" in run.stderr
