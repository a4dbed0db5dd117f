"""Fleet benchmarks: many databases in one run, measured side by side with one.

    python tests/benchmarks/fleet.py --runs 3           # starts its own PostgreSQL
    python tests/benchmarks/fleet.py --dsn "host=... user=postgres" --runs 3

f. lock waits: each database has a table that needs partitions and an
   application transaction holding SHARE on it until HOLD_S seconds after
   pgpart arrives (its session is seen waiting for the lock). `pgpart maintain` over 4 such databases with --jobs 4, against the
   same over one: the waits overlap, so 4 take about one wait, not four.
g. check over 20 databases (each TABLES x PARTS partitions, cloned from one
   template) with --jobs 4, against `check` of one of them.
h. check over 100 databases (each H_TABLES x H_PARTS partitions) with
   --jobs 8, against its floor: a shell loop running one psql per database
   that reads the same catalog rows; the ratio is paired (pgpart and the loop
   run one after the other in each run). --baseline DIR runs another
   checkout's pgpart in the same runs.

Every figure is the wall time of the real command (`python -m pgpart ...` in a
new process, start-up included: that is what cron pays), runs alternating.
tests/slow/test_fleet_perf.py runs the same cases with fewer runs and asserts the
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
H_FLEET = 100
H_TABLES = 5
H_PARTS = 20
H_JOBS = 8
CATALOG_SQL = (
    "SELECT i.inhparent, n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples"
    " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " JOIN pg_partitioned_table p ON p.partrelid = i.inhparent"
)


def pgpart(
    args: Sequence[str], root: Path = ROOT
) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode read and written, as installed
    env.pop("PGPART_DSN", None)
    env.pop("PGPART_CONFIG", None)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pgpart", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
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


def check_fleet(db: Databases, fleet: int, tables: int, parts: int, name: str = "chk") -> list[str]:
    """``fleet`` databases cloned from one with ``tables`` x ``parts`` partitions."""
    template = f"{db.prefix}_{name}_tpl"
    tpl = db.create(template)
    with psycopg.connect(tpl, autocommit=True) as conn:
        daily_tables(conn, tables, parts)
    return [db.create(f"{db.prefix}_{name}_{i}", template=template) for i in range(fleet)]


def check_run(dsns: Sequence[str], jobs: int = JOBS, root: Path = ROOT) -> float:
    seconds, done = pgpart(["check", "-q", "--jobs", str(jobs), *dsn_args(dsns)], root)
    if done.returncode != 0:
        raise RuntimeError(f"check failed ({done.returncode}): {done.stdout}{done.stderr}")
    return seconds


def psql_loop(dsns: Sequence[str], listing: Path) -> float:
    """A shell loop running one psql per database, reading the catalog rows."""
    listing.write_text("".join(d + "\n" for d in dsns), encoding="utf-8")
    script = 'while read -r d; do psql -X -q -d "$d" -c "$1" > /dev/null || exit 1; done < "$2"'
    start = time.monotonic()
    subprocess.run(["bash", "-c", script, "loop", CATALOG_SQL, str(listing)], check=True)
    return time.monotonic() - start


def paired_table(title: str, floor: list[float], rows: list[tuple[str, list[float]]]) -> str:
    """Each row's median, and its per-run ratios to the floor (median, min-max)."""
    out = [
        f"### {title}",
        "",
        "| run | s (median) | min-max | paired ratio to the floor (median, min-max) |",
        "|---|---|---|---|",
    ]
    for name, xs in rows:
        ratios = [a / b for a, b in zip(xs, floor, strict=True)]
        out.append(
            f"| {name} | {statistics.median(xs):.2f} | {min(xs):.2f}-{max(xs):.2f} |"
            + (
                f" {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |"
                if xs is not floor
                else " |"
            )
        )
    return "\n".join(out)


def fleet_floor(db: Databases, runs: int, baseline: Path | None) -> str:
    """h: check over H_FLEET databases with --jobs H_JOBS against a psql loop."""
    dsns = check_fleet(db, H_FLEET, H_TABLES, H_PARTS, name="h")
    listing = Path(f"/tmp/{db.prefix}_h.txt")
    sides: list[tuple[str, Callable[[], float]]] = [
        (f"pgpart check --jobs {H_JOBS}", lambda: check_run(dsns, H_JOBS)),
        ("psql per database, in a shell loop (floor)", lambda: psql_loop(dsns, listing)),
    ]
    if baseline is not None:
        sides.append(
            (
                f"pgpart check --jobs {H_JOBS} ({baseline.name})",
                lambda: check_run(dsns, H_JOBS, baseline),
            )
        )
    got: dict[str, list[float]] = {name: [] for name, _ in sides}
    for i in range(runs):
        for name, run in sides[i % len(sides) :] + sides[: i % len(sides)]:
            got[name].append(run())
    listing.unlink(missing_ok=True)
    floor = got[sides[1][0]]
    return paired_table(
        f"h. fleet: check, {H_FLEET} databases x {H_TABLES * H_PARTS} partitions each",
        floor,
        [(name, got[name]) for name, _ in sides],
    )


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
    parser.add_argument("--only", default="fgh", help="scenarios to run (default fgh)")
    parser.add_argument(
        "--baseline", type=Path, help="another pgpart checkout to run side by side in h"
    )
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
        if "h" in args.only:
            print(fleet_floor(db, args.runs, args.baseline))
            print()
        if "f" in args.only:
            lock_waits(db, args.runs)
        if "g" in args.only:
            many_checks(db, args.runs)
    finally:
        db.drop_all()
        if cluster is not None:
            destroy_cluster(cluster)
    return 0


def lock_waits(db: Databases, runs: int) -> None:
    """f: maintain over 4 locked databases against one."""
    one, four = side_by_side(runs, lambda: lock_wait_run(db, 1), lambda: lock_wait_run(db, 4))
    serial = [lock_wait_run(db, 4, jobs=1) for _ in range(runs)]
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


def many_checks(db: Databases, runs: int) -> None:
    """g: check over FLEET databases against one."""
    dsns = check_fleet(db, FLEET, TABLES, PARTS)
    single, fleet = side_by_side(runs, lambda: check_run(dsns[:1]), lambda: check_run(dsns))
    one_by_one = [check_run(dsns, jobs=1) for _ in range(runs)]
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
    print()


if __name__ == "__main__":
    sys.exit(main())
