"""Issue 20: the application keeps writing while pgpart moves rows out of
the DEFAULT partition: no insert fails, no wait grows with the table.

The table: ``ev``, daily, partitions for the three days up to today
(NOW = 2026-11-22), a DEFAULT holding N rows dated tomorrow. While `pgpart
maintain` runs (a real process), application sessions insert a row every
few milliseconds through the parent: into tomorrow (the range being
repaired, routed to the DEFAULT until its partition exists), into today (a
covered range), and far ahead (a range only the DEFAULT takes). Every test
counts failed statements, measures the worst wait and checks that every
row, old and new, is exactly once where it belongs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.app_sessions import Writer, misplaced, summary, writing
from tests.support.cli_helpers import NOW

LOCK_TIMEOUT_MS = 300
# About the lock timeout: one attempt's wait for each of the two locks a
# settle takes, plus the settle itself (within the budget) and the noise of
# a machine shared with other tests.
MAX_WAIT_S = 3 * LOCK_TIMEOUT_MS / 1000 + 0.6
TOMORROW = datetime(2026, 11, 23, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Done:
    code: int
    stdout: str
    stderr: str
    seconds: float


def build(conn: psycopg.Connection[Any], rows: int) -> tuple[int, int]:
    """The table, N rows dated tomorrow in its DEFAULT; (count, checksum)."""
    conn.execute(
        "CREATE TABLE ev (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
        " payload text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)"
    )
    for day in (20, 21, 22):
        conn.execute(
            f"CREATE TABLE ev_2026_11_{day} PARTITION OF ev"
            f" FOR VALUES FROM ('2026-11-{day}') TO ('2026-11-{day + 1}')"
        )
    conn.execute("CREATE TABLE ev_default PARTITION OF ev DEFAULT")
    conn.execute(
        "INSERT INTO ev (ts, payload) SELECT '2026-11-21'::timestamptz + i * interval '1 min',"
        " 'old ' || i FROM generate_series(1, 2000) i"
    )
    conn.execute(
        "INSERT INTO ev (ts, payload) SELECT '2026-11-23'::timestamptz"
        " + (i %% 86000) * interval '1 second', md5(i::text) FROM generate_series(1, %s) i",
        (rows,),
    )
    conn.execute("VACUUM ANALYZE ev_default")
    return checksum(conn)


def checksum(conn: psycopg.Connection[Any], where: str = "true") -> tuple[int, int]:
    row = conn.execute(
        f"SELECT count(*), coalesce(sum(hashtext(e::text)), 0) FROM ev e WHERE {where}"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def maintain(dsn: str, tmp_path: Path, *extra: str) -> Done:
    config = tmp_path / "pgpart.toml"
    config.write_text('[[table]]\nname = "public.ev"\ninterval = "daily"\npremake = 3\n')
    cmd = [sys.executable, "-m", "pgpart", "maintain", "--dsn", dsn, "--config", str(config)]
    cmd += ["--now", NOW, "--lock-timeout", f"{LOCK_TIMEOUT_MS}ms", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGPART_")}
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    return Done(res.returncode, res.stdout, res.stderr, time.monotonic() - t0)


def writers(dsn: str) -> list[Writer]:
    return [
        Writer(dsn, "public.ev", "tomorrow 1", TOMORROW + timedelta(hours=1)),
        Writer(dsn, "public.ev", "tomorrow 2", TOMORROW + timedelta(hours=13)),
        Writer(dsn, "public.ev", "today", datetime(2026, 11, 22, 1, tzinfo=timezone.utc)),
        Writer(dsn, "public.ev", "far ahead", datetime(2027, 6, 1, tzinfo=timezone.utc)),
    ]


def partitions(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'ev'::regclass ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def assert_whole(conn: psycopg.Connection[Any], before: tuple[int, int], apps: Any) -> None:
    """The rows before the run are all still there, and so is every row the
    application wrote, each once and where its key belongs."""
    assert checksum(conn, "payload NOT LIKE '% %' OR payload LIKE 'old %'") == before
    wrong = misplaced(conn, "public.ev", apps)
    assert not wrong, wrong[:5]


def test_a_settle_within_the_budget_fails_no_insert(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    before = build(pg_conn, 20_000)
    with writing(writers(pg_dsn)) as apps:
        run = maintain(pg_dsn, tmp_path)
    print(f"\nsettle, 20,000 rows: {summary(apps)}")
    assert run.code == 0, run.stdout + run.stderr
    assert all(not w.failures for w in apps), [w.failures[:2] for w in apps]
    assert max(w.worst_s for w in apps) < MAX_WAIT_S, summary(apps)
    assert "ev_2026_11_23" in partitions(pg_conn)
    assert pg_conn.execute(
        "SELECT count(*) FROM ONLY ev_default WHERE ts < '2026-11-26'"
    ).fetchone() == (0,)
    assert_whole(pg_conn, before, apps)


def test_over_the_budget_pgpart_asks_before_it_starts(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    before = build(pg_conn, 100_000)
    check = subprocess.run(
        [sys.executable, "-m", "pgpart", "check", "ev", "--dsn", pg_dsn, "--now", NOW],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PGPART_")},
    )
    assert "relocation_needs_choice" in check.stdout + check.stderr, check.stdout
    run = maintain(pg_dsn, tmp_path)
    out = run.stdout + run.stderr
    assert run.code == 2, out
    assert "Traceback" not in out
    assert "relocation_needs_choice" in out
    for said in ("100,000 rows", "lock:", "drain:", "--relocation lock|drain"):
        assert said in out, (said, out)
    assert "ev_2026_11_23" not in partitions(pg_conn)
    assert checksum(pg_conn) == before


def test_lock_waits_as_long_as_it_said_and_fails_no_insert(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    before = build(pg_conn, 100_000)
    with writing(writers(pg_dsn)) as apps:
        run = maintain(pg_dsn, tmp_path, "--relocation", "lock")
    print(f"\nlock, 100,000 rows: {summary(apps)}")
    assert run.code == 0, run.stdout + run.stderr
    assert "writers of public.ev wait about" in run.stderr, run.stderr
    assert all(not w.failures for w in apps), [w.failures[:2] for w in apps]
    assert_whole(pg_conn, before, apps)


def leftovers(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """Constraints pgpart adds for a while, and tables not in the partition tree."""
    return [
        (str(a), str(b))
        for a, b in conn.execute(
            "SELECT conrelid::regclass::text, conname::text FROM pg_constraint"
            " WHERE conname LIKE 'pgpart%'"
            " UNION ALL SELECT c.oid::regclass::text, 'table' FROM pg_class c"
            " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')"
            " AND NOT c.relispartition AND c.relname <> 'ev'"
        ).fetchall()
    ]


@pytest.mark.parametrize("rows", [100_000])  # more: tests/slow/test_relocation_apps_slow.py
def test_drain_fails_no_insert_and_no_wait_grows_with_the_default(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, rows: int
) -> None:
    before = build(pg_conn, rows)
    with writing(writers(pg_dsn)) as apps:
        run = maintain(pg_dsn, tmp_path, "--relocation", "drain")
    print(f"\ndrain, {rows:,} rows, {run.seconds:.1f} s: {summary(apps)}")
    assert run.code == 0, run.stdout + run.stderr
    assert all(not w.failures for w in apps), [w.failures[:2] for w in apps]
    assert max(w.worst_s for w in apps) < MAX_WAIT_S, summary(apps)
    assert f"rows moved {rows:,}" in run.stdout.replace(",", "") or "rows moved" in run.stdout
    assert pg_conn.execute(
        "SELECT count(*) FROM ONLY ev_default WHERE ts < '2026-11-26'"
    ).fetchone() == (0,)
    assert_whole(pg_conn, before, apps)
    assert leftovers(pg_conn) == []


def test_the_dry_run_shows_a_drain_and_changes_nothing(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    before = build(pg_conn, 100_000)
    pg_conn.execute("CREATE PUBLICATION pub FOR TABLE ev")
    run = maintain(pg_dsn, tmp_path, "--relocation", "drain", "--dry-run")
    assert run.code == 0, run.stdout + run.stderr
    text = run.stdout
    order = [
        'CREATE TABLE "public"."ev_2026_11_23" (LIKE',
        'ADD CONSTRAINT "pgpart_mark" CHECK',
        "-- repeated for each",
        'WITH moved AS (DELETE FROM ONLY "public"."ev_default" WHERE ctid >=',
        'VACUUM (INDEX_CLEANUP ON) "public"."ev_default"',
        'LOCK TABLE ONLY "public"."ev" IN SHARE ROW EXCLUSIVE MODE',
        'ATTACH PARTITION "public"."ev_2026_11_23"',
        "-- the database has publications or logical slots",
        'DROP CONSTRAINT IF EXISTS "pgpart_mark"',
    ]
    at = [text.find(s) for s in order]
    assert -1 not in at and at == sorted(at), list(zip(order, at, strict=True))
    assert "ev_2026_11_23" not in partitions(pg_conn)
    assert checksum(pg_conn) == before and leftovers(pg_conn) == []


def test_a_drain_shortens_a_default_whose_newest_rows_sit_at_its_end(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """After a drain the DEFAULT is empty but for the rows the application
    added meanwhile, at its end: VACUUM cannot shorten it, and the settle's
    ATTACH would scan every emptied page (over the budget: the run failed
    with "the DEFAULT is still N MB after VACUUM"). The drain writes those
    rows again at the DEFAULT's start, and VACUUM then truncates it."""
    before = build(pg_conn, 400_000)
    # Rows no partition will take, written after the others: at the end.
    pg_conn.execute(
        "INSERT INTO ev (ts, payload) SELECT '2027-06-01'::timestamptz + i * interval '1 s',"
        " 'stray' FROM generate_series(1, 100) i"
    )
    strays = checksum(pg_conn, "ts >= '2027-06-01'")
    before = checksum(pg_conn)
    run = maintain(pg_dsn, tmp_path, "--relocation", "drain", "--lock-timeout", "60ms")
    assert run.code == 0, run.stdout + run.stderr
    assert checksum(pg_conn) == before
    assert checksum(pg_conn, "ts >= '2027-06-01'") == strays
    row = pg_conn.execute(
        "SELECT pg_relation_size('ev_default') / 8192, (SELECT count(*) FROM ONLY ev_default)"
    ).fetchone()
    assert row is not None and row[1] == 100  # the strays stay
    assert row[0] < 200, row  # 400,000 rows took about 3,400 blocks
    assert leftovers(pg_conn) == []
