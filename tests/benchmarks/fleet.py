"""Fleet benchmarks: many databases in one run, measured side by side with one.

    python tests/benchmarks/fleet.py --runs 3           # starts its own PostgreSQL
    python tests/benchmarks/fleet.py --dsn "host=... user=postgres" --runs 3

f. lock waits: each database has a table that needs partitions and an
   application transaction holding SHARE on it until HOLD_S seconds after
   pgpart arrives (its session is seen waiting for the lock). `pgpart maintain` over 4 such databases with --jobs 4, against the
   same over one: the waits overlap, so 4 take about one wait, not four.
g. check over 20 databases (each TABLES x PARTS partitions, cloned from one
   template) with --jobs 4, against `check` of one of them.

Every figure is the wall time of the real command (`python -m pgpart ...` in a
new process, start-up included: that is what cron pays), runs alternating.
tests/test_fleet_perf.py runs the same cases with fewer runs and asserts the
ratios; the README's Performance section shows this script's output.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[2]
HOLD_S = 3.0
TABLES = 5
PARTS = 100  # per table: 500 partitions per database
FLEET = 20
JOBS = 4


def pgpart(args: Sequence[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PGPART_DSN", None)
    env.pop("PGPART_CONFIG", None)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pgpart", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    return time.monotonic() - start, done


def dsn_args(dsns: Sequence[str]) -> list[str]:
    return [a for d in dsns for a in ("--dsn", d)]


@dataclass
class Databases:
    admin_dsn: str
    prefix: str
    made: list[str]

    def create(self, name: str, template: str = "template0") -> str:
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        self.made.append(name)
        return make_conninfo(self.admin_dsn, dbname=name)

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            for name in reversed(self.made):
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self.made.clear()


def month_table(conn: psycopg.Connection[Any]) -> None:
    """public.messages: partitions for two past months only, so maintain creates."""
    first = date.today().replace(day=1)
    conn.execute(
        "CREATE TABLE messages (id bigint, created_at timestamptz NOT NULL, body text)"
        " PARTITION BY RANGE (created_at)"
    )
    for back in (2, 1):
        lo = (first - timedelta(days=31 * back)).replace(day=1)
        hi = (lo + timedelta(days=32)).replace(day=1)
        conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF messages FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(f"messages_{lo:%Y_%m}"), sql.Literal(str(lo)), sql.Literal(str(hi))
            )
        )


def daily_tables(conn: psycopg.Connection[Any], tables: int, parts: int) -> None:
    """``tables`` daily tables of ``parts`` partitions ending a week from today."""
    start = date.today() - timedelta(days=parts - 7)
    statements = []
    for t in range(tables):
        name = f"events{t}"
        statements.append(
            f"CREATE TABLE {name} (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);"
        )
        for p in range(parts):
            lo = start + timedelta(days=p)
            statements.append(
                f"CREATE TABLE {name}_{lo:%Y%m%d} PARTITION OF {name} "
                f"FOR VALUES FROM ('{lo}') TO ('{lo + timedelta(days=1)}');"
            )
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("\n".join(statements).encode())


class Holder:
    """An application transaction holding SHARE on public.messages until
    ``hold_s`` after pgpart arrives (its session waits for that lock): SHARE
    conflicts with the SHARE UPDATE EXCLUSIVE that creating a partition
    (CREATE .. LIKE + ATTACH) takes on the parent."""

    ARRIVAL = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'pgpart' AND wait_event_type = 'Lock'"
    )

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn = psycopg.connect(dsn)
        self.conn.execute("LOCK TABLE messages IN SHARE MODE")
        self.thread: threading.Thread | None = None
        self.arrived_after: float | None = None

    def start(self, hold_s: float) -> None:
        self.thread = threading.Thread(target=self._hold, args=(hold_s,), daemon=True)
        self.thread.start()

    def _hold(self, hold_s: float) -> None:
        start = time.monotonic()
        with psycopg.connect(self.dsn, autocommit=True) as watch:
            while time.monotonic() - start < 120:
                row = watch.execute(self.ARRIVAL).fetchone()
                if row and row[0]:
                    self.arrived_after = time.monotonic() - start
                    break
                time.sleep(0.01)
        time.sleep(hold_s)
        self.release()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


def lock_wait_run(db: Databases, members: int, hold_s: float = HOLD_S, jobs: int = JOBS) -> float:
    """Seconds `pgpart maintain --jobs 4` takes over ``members`` databases whose
    table an application keeps locked until ``hold_s`` after pgpart arrives."""
    dsns = []
    for _ in range(members):
        dsn = db.create(f"{db.prefix}_lock_{len(db.made)}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            month_table(conn)
        dsns.append(dsn)
    holders = [Holder(d) for d in dsns]
    try:
        for h in holders:
            h.start(hold_s)
        args = ["maintain", "-q", "--jobs", str(jobs)]
        seconds, done = pgpart([*args, *dsn_args(dsns)])
        if done.returncode != 0:
            raise RuntimeError(f"maintain failed ({done.returncode}): {done.stderr}")
    finally:
        for h in holders:
            h.join()
            h.release()
        if any(h.arrived_after is None for h in holders):
            raise RuntimeError("pgpart never waited for the application's lock")
        for name in db.made[-members:]:
            with psycopg.connect(db.admin_dsn, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        del db.made[-members:]
    return seconds


def check_fleet(db: Databases, fleet: int, tables: int, parts: int) -> list[str]:
    """``fleet`` databases cloned from one with ``tables`` x ``parts`` partitions."""
    template = f"{db.prefix}_tpl"
    tpl = db.create(template)
    with psycopg.connect(tpl, autocommit=True) as conn:
        daily_tables(conn, tables, parts)
    return [db.create(f"{db.prefix}_chk_{i}", template=template) for i in range(fleet)]


def check_run(dsns: Sequence[str], jobs: int = JOBS) -> float:
    seconds, done = pgpart(["check", "-q", "--jobs", str(jobs), *dsn_args(dsns)])
    if done.returncode != 0:
        raise RuntimeError(f"check failed ({done.returncode}): {done.stdout}{done.stderr}")
    return seconds


def side_by_side(
    runs: int, one: Callable[[], float], many: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Alternating runs, the starting side rotating."""
    a: list[float] = []
    b: list[float] = []
    for i in range(runs):
        if i % 2 == 0:
            a.append(one())
            b.append(many())
        else:
            b.append(many())
            a.append(one())
    return a, b


def table(title: str, rows: list[tuple[str, list[float]]]) -> str:
    base = statistics.median(rows[0][1])
    out = [
        f"### {title}",
        "",
        "| run | s (median) | min-max | ratio to one database |",
        "|---|---|---|---|",
    ]
    for name, xs in rows:
        med = statistics.median(xs)
        out.append(f"| {name} | {med:.2f} | {min(xs):.2f}-{max(xs):.2f} | {med / base:.2f} |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="superuser DSN of a server to use (else a throwaway one)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    cluster = None
    dsn = args.dsn
    if dsn is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "devtools"))
        from devcluster import destroy_cluster, start_cluster

        cluster = start_cluster()
        dsn = cluster.dsn
    db = Databases(dsn, f"pgpart_fleet_bench_{os.getpid()}", [])
    try:
        one, four = side_by_side(
            args.runs, lambda: lock_wait_run(db, 1), lambda: lock_wait_run(db, 4)
        )
        serial = [lock_wait_run(db, 4, jobs=1) for _ in range(args.runs)]
        print(
            table(
                f"f. fleet: maintain, each database's table locked by an application "
                f"until {HOLD_S:.0f} s after pgpart arrives",
                [
                    ("1 database", one),
                    (f"4 databases, --jobs {JOBS}", four),
                    ("4 databases, --jobs 1", serial),
                ],
            )
        )
        print()
        dsns = check_fleet(db, FLEET, TABLES, PARTS)
        single, fleet = side_by_side(
            args.runs, lambda: check_run(dsns[:1]), lambda: check_run(dsns)
        )
        one_by_one = [check_run(dsns, jobs=1) for _ in range(args.runs)]
        print(
            table(
                f"g. fleet: check, {FLEET} databases x {TABLES * PARTS} partitions each",
                [
                    ("1 database", single),
                    (f"{FLEET} databases, --jobs {JOBS}", fleet),
                    (f"{FLEET} databases, --jobs 1", one_by_one),
                ],
            )
        )
    finally:
        db.drop_all()
        if cluster is not None:
            destroy_cluster(cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
