"""`pgpart maintain` against a lock held longer than its whole retry budget.

The table whose lock is held fails cleanly (exit 2, one line naming the
relation, the lock pgpart waited for and the holder's pid), the other tables
of the same run are done, and an application inserting all along is never
stalled much longer than pgpart's lock_timeout.

The budget is bounded from the CLI: ``retry_for`` in the config's
``[defaults]`` (1 s here) and ``--lock-timeout 100ms``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support.cli_helpers import NOW, daily_table
from tests.support.helpers_db import Inserter, inserting

LOCK_TIMEOUT_MS = 100
RETRY_FOR_S = 1.0
# An insert may wait behind one attempt of pgpart's (lock_timeout), plus the
# scheduling noise of a shared CI machine.
MAX_STALL_S = 1.0

CONFIG = f"""\
[defaults]
retry_for = "{RETRY_FOR_S:g}s"
premake = 3

[[table]]
name = "public.events"
interval = "daily"

[[table]]
name = "public.other"
interval = "daily"
"""


@dataclass(frozen=True)
class Done:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def actions(self) -> list[dict[str, Any]]:
        """The DDL actions (the ANALYZE after them: test_analyze)."""
        return [a for a in json.loads(self.stdout)["actions"] if a["action"] != "analyze"]


def _maintain(dsn: str, tmp_path: Path) -> Done:
    config = tmp_path / "pgpart.toml"
    config.write_text(CONFIG)
    cmd = [
        sys.executable,
        "-m",
        "pgpart",
        "maintain",
        "--dsn",
        dsn,
        "--config",
        str(config),
        "--now",
        NOW,
        "--lock-timeout",
        f"{LOCK_TIMEOUT_MS}ms",
        "--format",
        "json",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGPART_")}
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    return Done(res.returncode, res.stdout, res.stderr, time.monotonic() - t0)


@contextmanager
def _holding(dsn: str, *statements: str) -> Iterator[int]:
    """A session that ran ``statements`` in a transaction it keeps open until
    the block ends; yields its pid."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        for stmt in statements:
            conn.execute(stmt.encode())
        try:
            yield int(row[0])
        finally:
            conn.rollback()


def _tables(conn: psycopg.Connection[Any], *, default: bool) -> None:
    daily_table(conn, "events", days=range(-2, 0))
    if default:
        conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    daily_table(conn, "other", days=range(-1, 0))


def _partitions(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", (table,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def _assert_failed_on_lock(run: Done, *, relation: str, mode: str, held_mode: str, pid: int) -> str:
    """events failed its first creation on the lock, its later ones were not
    attempted, other was done; the message says what, where and who."""
    assert run.code == 2, run
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    actions = run.actions()
    events = [a for a in actions if a["table"] == "public.events"]
    other = [a for a in actions if a["table"] == "public.other"]
    assert len(events) == 4 and len(other) == 4
    first, *rest = events
    error = first["error"]
    assert error is not None and not first["done"]
    assert "\n" not in error
    assert f"lock timeout on {relation} after " in error, error
    assert f"(waiting for {mode}; " in error, error
    assert f"held by pid {pid} ({held_mode})" in error, error
    # The budget, plus at most one last attempt and the diagnosis.
    assert RETRY_FOR_S <= first["seconds"] < RETRY_FOR_S + 1.0, first
    assert first["attempts"] > 2
    for a in rest:
        assert a["error"] == "not attempted: an earlier create action on public.events failed"
    for a in other:
        assert a["done"] and a["error"] is None, a
    return str(error)


def _report(label: str, error: str, *inserters: tuple[str, Inserter]) -> None:
    print(f"\n{label}: {error}")
    for name, ins in inserters:
        print(
            f"  {name}: {ins.count} inserts, max latency {ins.max_latency_s * 1000:.0f} ms"
            f" (lock_timeout {LOCK_TIMEOUT_MS} ms)"
        )


# ---------------------------------------------------------------- the parent


@pytest.mark.parametrize(
    ("mode", "held_mode"),
    [
        # What VACUUM, ANALYZE or CREATE INDEX CONCURRENTLY hold: it conflicts with
        # ATTACH's lock on the parent, but not with the application's inserts.
        ("SHARE UPDATE EXCLUSIVE", "ShareUpdateExclusiveLock"),
        # A migration's lock on the parent alone (ONLY): inserts into the table
        # wait for the migration itself, so the application writes to another one.
        ("ACCESS EXCLUSIVE", "AccessExclusiveLock"),
    ],
)
def test_a_lock_on_the_parent_fails_that_table_only(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, mode: str, held_mode: str
) -> None:
    _tables(pg_conn, default=False)
    # Through the parent to an existing partition; or, when the parent itself is
    # locked against writes, into the other table.
    target = "other_2026_11_21" if mode == "ACCESS EXCLUSIVE" else "events"
    insert = sql.SQL("INSERT INTO {} (ts, v) VALUES ('2026-11-21 10:00', 1)").format(
        sql.Identifier(target)
    )
    with (
        inserting(pg_dsn, insert) as inserter,
        _holding(pg_dsn, f"LOCK TABLE ONLY events IN {mode} MODE") as pid,
    ):
        run = _maintain(pg_dsn, tmp_path)
    error = _assert_failed_on_lock(
        run, relation="public.events", mode="SHARE UPDATE EXCLUSIVE", held_mode=held_mode, pid=pid
    )
    _report(f"parent held in {mode}", error, (f"inserts into {target}", inserter))
    assert inserter.max_latency_s < MAX_STALL_S
    assert _partitions(pg_conn, "events") == 2
    assert _partitions(pg_conn, "other") == 5
    # Once the lock is gone, the next run does the rest.
    again = _maintain(pg_dsn, tmp_path)
    assert again.code == 0 and all(a["done"] for a in again.actions()), again
    assert _partitions(pg_conn, "events") == 6


# ---------------------------------------------------------------- the DEFAULT partition


def test_a_lock_on_the_default_while_rows_must_move(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    _tables(pg_conn, default=True)
    pg_conn.execute(
        "INSERT INTO events (ts, v) SELECT '2026-11-22'::timestamptz + i * interval '7 min', i"
        " FROM generate_series(0, 2000) i"
    )
    before = pg_conn.execute("SELECT count(*), sum(hashtext(e::text)) FROM events e").fetchone()
    # Rows the application writes into the DEFAULT (far ahead of every partition):
    # they queue behind pgpart's ACCESS EXCLUSIVE request while it waits.
    to_default = sql.SQL("INSERT INTO events (ts, v) VALUES ('2030-01-01', -1)")
    # Rows routed to an existing partition: they never touch the DEFAULT.
    to_partition = sql.SQL("INSERT INTO events (ts, v) VALUES ('2026-11-21 10:00', -2)")
    with (
        inserting(pg_dsn, to_default) as into_default,
        inserting(pg_dsn, to_partition) as into_partition,
        # A long report reading the DEFAULT partition: ACCESS SHARE on it.
        _holding(pg_dsn, "SELECT count(*) FROM events_default") as pid,
    ):
        run = _maintain(pg_dsn, tmp_path)
    error = _assert_failed_on_lock(
        run,
        relation="public.events_default",
        mode="ACCESS EXCLUSIVE",
        held_mode="AccessShareLock",
        pid=pid,
    )
    assert run.actions()[0]["move_rows"]
    _report(
        "DEFAULT held in ACCESS SHARE",
        error,
        ("inserts routed to DEFAULT", into_default),
        ("inserts routed to a partition", into_partition),
    )
    assert into_default.max_latency_s < MAX_STALL_S
    assert into_partition.max_latency_s < MAX_STALL_S
    assert _partitions(pg_conn, "events") == 3
    assert _partitions(pg_conn, "other") == 5
    assert (
        pg_conn.execute(
            "SELECT count(*), sum(hashtext(e::text)) FROM events e WHERE v >= 0"
        ).fetchone()
        == before
    )
    again = _maintain(pg_dsn, tmp_path)
    assert again.code == 0 and all(a["done"] for a in again.actions()), again
    assert pg_conn.execute(
        "SELECT count(*) FROM ONLY events_default WHERE ts < '2026-11-26'"
    ).fetchone() == (0,)
    assert (
        pg_conn.execute(
            "SELECT count(*), sum(hashtext(e::text)) FROM events e WHERE v >= 0"
        ).fetchone()
        == before
    )


# ---------------------------------------------------------------- the whole tree


def test_a_migration_locking_the_whole_table_does_not_hang_pgpart(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    _tables(pg_conn, default=False)
    hold_s = RETRY_FOR_S + 3.0
    released = threading.Event()
    pid: list[int] = []

    def migration() -> None:
        # LOCK TABLE without ONLY: the parent and every partition, as ALTER TABLE does.
        with _holding(pg_dsn, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE") as holder:
            pid.append(holder)
            released.wait(hold_s)

    thread = threading.Thread(target=migration, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not pid and time.monotonic() < deadline:
        time.sleep(0.005)
    assert pid
    insert = sql.SQL("INSERT INTO other (ts, v) VALUES ('2026-11-21 10:00', 1)")
    try:
        with inserting(pg_dsn, insert) as inserter:
            run = _maintain(pg_dsn, tmp_path)
    finally:
        released.set()
        thread.join(10)
    print(f"\nwhole table locked: exit {run.code} after {run.seconds:.1f} s")
    assert run.seconds < hold_s - 1.0, "pgpart waited for the migration"
    # The newest partition is locked too, so what new partitions copy from it
    # cannot be read: events waits for it within its retry budget, then its
    # creation fails naming the holder; other is done.
    assert run.code == 2, run
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    actions = run.actions()
    assert [a for a in actions if a["table"] == "public.events"] == []
    assert all(a["done"] for a in actions if a["table"] == "public.other")
    assert "public.events: locked: lock timeout on public.events_" in run.stderr, run.stderr
    assert f"held by pid {pid[0]} (AccessExclusiveLock)" in run.stderr, run.stderr
    assert inserter.max_latency_s < MAX_STALL_S
