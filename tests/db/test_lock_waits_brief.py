"""Early attempts wait for each lock briefly: what queues behind pgpart waits little.

A lock request that waits stops every session queued behind it, and the
locks a transaction already holds stop others: the settle (a new partition
on a table with a DEFAULT) holds SHARE ROW EXCLUSIVE on the parent, every
writer of the table, while it waits for the DEFAULT; retention on such a
table asks ACCESS EXCLUSIVE on the parent. Behind a report reading the whole
table, each attempt held the table's inserts for its whole lock_timeout
(500 ms), attempt after attempt. While an action's retry budget is young,
each lock is now waited for 50 ms at most: transactions that end sooner are
waited for, ahead of later ones, and an attempt a long one stops rolls back
and spends its backoff holding nothing. (NOWAIT was tried first: readers
overlapping without a pause never let it through.)
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.cli.test_oncall import partitions
from tests.support.cli_helpers import NOW, cli, monthly_table
from tests.support.helpers_db import holding, inserting

READ_S = 1.5  # the report over the whole table, DEFAULT included


def test_a_report_on_the_default_does_not_stall_inserts_while_maintain_waits(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    monthly_table(pg_conn, months=range(-2, 1), default=True)
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\nlock_timeout = "500ms"\nretry_for = "30s"\n')
    report = sql.SQL("SELECT count(*) FROM messages")  # locks every partition, DEFAULT too
    into_november = sql.SQL(
        "INSERT INTO messages (created_at, body) VALUES ('2026-11-22 12:00+00', 'live')"
    )
    with inserting(pg_dsn, into_november) as app, holding(pg_dsn, report, READ_S):
        run = cli(["maintain", "--dsn", pg_dsn, "--config", str(config), "--now", NOW])
    out = run.stdout + run.stderr
    assert run.code == 0, out
    made = [p for p in partitions(pg_conn, "messages") if p != "messages_default"]
    assert made[-3:] == [
        "messages_2026_12",
        "messages_2027_01",
        "messages_2027_02",
    ], out
    # Waiting behind the report held the writers 500 ms per attempt before.
    assert app.max_latency_s < 0.25, (app.max_latency_s, app.count)
    assert app.count > 100


def _reading(dsn: str, stop: threading.Event, done: list[int]) -> None:
    """A dashboard: short transactions over the whole table, back to back."""
    with psycopg.connect(dsn) as conn:
        while not stop.is_set():
            conn.execute("SELECT count(*) FROM messages")
            conn.execute("SELECT pg_sleep(0.03)")
            conn.commit()
            done[0] += 1


def test_readers_that_never_pause_do_not_starve_the_settle(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """Three readers, staggered, keep the DEFAULT locked all the time, each
    for 30 ms: the settle's brief wait queues ahead of the next ones and gets
    through at its first attempts, well inside half its budget."""
    monthly_table(pg_conn, months=range(-2, 1), default=True)
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\nlock_timeout = "500ms"\nretry_for = "30s"\n')
    stop, done = threading.Event(), [0]
    readers = [threading.Thread(target=_reading, args=(pg_dsn, stop, done)) for _ in range(3)]
    for r in readers:
        r.start()
        time.sleep(0.01)
    try:
        start = time.monotonic()
        run = cli(["maintain", "--dsn", pg_dsn, "--config", str(config), "--now", NOW])
        took = time.monotonic() - start
    finally:
        stop.set()
        for r in readers:
            r.join(10)
    assert run.code == 0, run.stdout + run.stderr
    made = [p for p in partitions(pg_conn, "messages") if p != "messages_default"]
    assert made[-3:] == ["messages_2026_12", "messages_2027_01", "messages_2027_02"]
    assert took < 10, took  # three partitions; not half of a 30 s budget each
    assert done[0] > 10


def test_retention_behind_a_report_stalls_inserts_briefly(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """With a DEFAULT, an expired partition is detached without CONCURRENTLY:
    ACCESS EXCLUSIVE on the parent, whose request, queued behind a report,
    stops every insert behind it. Early attempts wait for it 50 ms at most,
    where they waited the whole lock_timeout (500 ms)."""
    monthly_table(pg_conn, months=range(-4, 1), default=True)
    config = tmp_path / "pgpart.toml"
    config.write_text(
        '[defaults]\nlock_timeout = "500ms"\nretry_for = "30s"\n\n'
        '[[table]]\nname = "public.messages"\nretention = "2 months"\npremake = 0\n'
    )
    into_november = sql.SQL(
        "INSERT INTO messages (created_at, body) VALUES ('2026-11-22 12:00+00', 'live')"
    )
    report = sql.SQL("SELECT count(*) FROM messages")
    with inserting(pg_dsn, into_november) as app, holding(pg_dsn, report, READ_S):
        run = cli(["maintain", "--dsn", pg_dsn, "--config", str(config), "--now", NOW])
    out = run.stdout + run.stderr
    assert run.code == 0, out
    kept = [p for p in partitions(pg_conn, "messages") if p != "messages_default"]
    assert kept == ["messages_2026_09", "messages_2026_10", "messages_2026_11"], out
    assert app.max_latency_s < 0.25, (app.max_latency_s, app.count)
