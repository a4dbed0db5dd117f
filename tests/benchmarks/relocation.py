"""Benchmark: moving rows out of a DEFAULT partition while an application writes.

    PYTHONPATH=$PWD:$PWD/devtools python tests/benchmarks/relocation.py \\
        [--sizes 100000,1000000,3000000] [--strategies lock,drain] [--json out.json] [--smoke]
    PYTHONPATH=$PWD:$PWD/devtools python tests/benchmarks/relocation.py --constants

Starts its own throwaway PostgreSQL (devtools/devcluster). For each DEFAULT
size and each way of moving the rows (pgpart's ``--relocation lock`` and
``drain``, and pg_partman's ``partition_data_proc`` where pg_partman is
installed), it fills a daily table's DEFAULT with that many rows of one day
and runs the move while four application sessions insert a row every 3 ms
(into the day being moved, into a covered day, and into a day only the
DEFAULT takes, as tests/db/test_relocation_apps.py does). It reports the
application's worst wait and failed statements, how long the rows were
invisible where that applies, the run's time and the rows moved per second.

``--constants`` measures what pgpart's estimates rest on
(pgpart/core/relocation.py): a sequential scan's cost per page and per live
tuple, and a settle's cost per row moved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from devcluster import running_cluster
from tests.support.app_sessions import Writer, misplaced, writing

NOW = "2026-11-22T12:00:00+00:00"
DAY = datetime(2026, 11, 23, tzinfo=timezone.utc)
LOCK_TIMEOUT_MS = 500


@dataclass
class Row:
    contender: str
    rows: int
    seconds: float
    rows_per_s: float
    worst_wait_ms: float
    failed: int
    misplaced: int
    exit: int | str


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table(conn: psycopg.Connection[Any], rows: int, day: datetime, partman: bool) -> None:
    conn.execute("DROP TABLE IF EXISTS ev CASCADE")
    if conn.execute("SELECT to_regclass('partman.part_config')").fetchone() != (None,):
        # else pgpart would leave a table pg_partman lists alone (managed_elsewhere)
        conn.execute("DELETE FROM partman.part_config WHERE parent_table = 'public.ev'")
    conn.execute(
        "CREATE TABLE ev (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
        " payload text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)"
    )
    if partman:
        conn.execute(
            "SELECT partman.create_parent('public.ev', 'ts', 'native', 'daily', p_premake := 1)"
        )
    else:
        for back in (2, 1):
            lo = day - timedelta(days=back)
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF ev FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(f"ev_{lo:%Y_%m_%d}"),
                    sql.Literal(lo.isoformat()),
                    sql.Literal((lo + timedelta(days=1)).isoformat()),
                )
            )
        conn.execute("CREATE TABLE ev_default PARTITION OF ev DEFAULT")
    conn.execute(
        "INSERT INTO ev (ts, payload) SELECT %s::timestamptz + (i %% 86000) * interval '1 s',"
        " md5(i::text) FROM generate_series(1, %s) i",
        (day, rows),
    )
    conn.execute("VACUUM ANALYZE ev")


def writers(dsn: str, day: datetime) -> list[Writer]:
    return [
        Writer(dsn, "public.ev", "moved day 1", day + timedelta(hours=1)),
        Writer(dsn, "public.ev", "moved day 2", day + timedelta(hours=13)),
        Writer(dsn, "public.ev", "covered", day - timedelta(hours=12)),
        Writer(dsn, "public.ev", "DEFAULT only", day + timedelta(days=200)),
    ]


def pgpart(dsn: str, strategy: str, workdir: Path) -> tuple[int, str]:
    config = workdir / "pgpart.toml"
    config.write_text('[[table]]\nname = "public.ev"\ninterval = "daily"\npremake = 1\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGPART_")}
    res = subprocess.run(
        [
            sys.executable, "-m", "pgpart", "maintain", "--dsn", dsn, "--config", str(config),
            "--now", NOW, "--lock-timeout", f"{LOCK_TIMEOUT_MS}ms", "--relocation", strategy, "-q",
        ],
        capture_output=True, text=True, env=env, cwd=workdir,
    )  # fmt: skip
    return res.returncode, (res.stdout + res.stderr).strip()[-300:]


def partman(dsn: str) -> tuple[int, str]:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "CALL partman.partition_data_proc('public.ev', p_interval := '1 day',"
                " p_wait := 0, p_quiet := true)"
            )
    except psycopg.Error as exc:
        return 1, str(exc).strip()
    return 0, ""


def one(dsn: str, contender: str, rows: int, workdir: Path) -> Row:
    is_partman = contender.startswith("pg_partman")
    # pg_partman plans from the real clock: a day beyond its premake, so the rows sit in DEFAULT
    day = (
        datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        + timedelta(days=10)
        if is_partman
        else DAY
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        table(conn, rows, day, is_partman)
    apps = [] if contender.endswith("(alone)") else writers(dsn, day)
    t0 = time.monotonic()
    with writing(apps):
        code, said = partman(dsn) if is_partman else pgpart(dsn, contender.split()[-1], workdir)
    took = time.monotonic() - t0
    with psycopg.connect(dsn, autocommit=True) as conn:
        wrong = misplaced(conn, "public.ev", apps)
    return Row(
        contender=contender,
        rows=rows,
        seconds=round(took, 2),
        rows_per_s=round(rows / took),
        worst_wait_ms=round(max((w.worst_s for w in apps), default=0) * 1000),
        failed=sum(len(w.failures) for w in apps),
        misplaced=len(wrong),
        exit=code if code == 0 else f"{code}: {' '.join(said.split())[:160]}",
    )


def constants(dsn: str) -> dict[str, float]:
    """Per page and per tuple of a sequential scan, per row of a settle."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS k")
        c.execute("CREATE TABLE k (id bigint, ts timestamptz, payload text)")
        c.execute("INSERT INTO k SELECT i, now(), md5(i::text) FROM generate_series(1, 1000000) i")
        c.execute("VACUUM ANALYZE k")
        row = c.execute("SELECT relpages FROM pg_class WHERE relname = 'k'").fetchone()
        assert row is not None
        pages = row[0]

        def scan() -> float:
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                c.execute("SELECT count(*) FROM k WHERE ts < '2000-01-01'")
                times.append(time.perf_counter() - t0)
            return statistics.median(times)

        full = scan()
        c.execute("DELETE FROM k WHERE id % 100 <> 0")
        c.execute("VACUUM k")
        empty = scan()
        per_page = empty / pages
        per_tuple = (full - empty) / 990_000
        c.execute("DROP TABLE k")
        table(c, 300_000, DAY, False)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        code, said = pgpart(dsn, "lock", Path(scratch))
    move = (time.perf_counter() - t0 - 0.6) / 300_000  # minus the CLI's start and planning
    assert code == 0, said
    return {"scan_us_per_page": per_page * 1e6, "scan_us_per_tuple": per_tuple * 1e6,
            "settle_us_per_row": move * 1e6}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,3000000")
    parser.add_argument("--strategies", default="lock,drain")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--smoke", action="store_true", help="one tiny size")
    parser.add_argument("--constants", action="store_true")
    args = parser.parse_args(argv)
    sizes = [20_000] if args.smoke else [int(s) for s in args.sizes.split(",")]
    with running_cluster(settings={"autovacuum": False}) as cluster:
        dsn = cluster.dsn
        if args.constants:
            print(json.dumps(constants(dsn), indent=2))
            return 0
        contenders = [f"pgpart --relocation {s}" for s in args.strategies.split(",")]
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute("CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman")
            contenders.append("pg_partman partition_data_proc")
            # It fails when the application writes into the day it moves: alone, its speed.
            contenders.append("pg_partman partition_data_proc (alone)")
        except psycopg.Error as exc:
            log(f"pg_partman unavailable: {str(exc).strip()}")
        results = []
        with tempfile.TemporaryDirectory() as scratch:
            for rows in sizes:
                for contender in contenders:
                    log(f"{contender}, {rows:,} rows ...")
                    results.append(one(dsn, contender, rows, Path(scratch)))
    print(
        "| contender | DEFAULT rows | seconds | rows/s | worst app wait (ms) | failed statements"
        " | misplaced rows | exit |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.contender} | {r.rows:,} | {r.seconds} | {r.rows_per_s:,} | {r.worst_wait_ms}"
            f" | {r.failed} | {r.misplaced} | {r.exit} |"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    rotted = [r for r in results if not isinstance(r.exit, int) and "Traceback" in r.exit]
    return 1 if rotted else 0


if __name__ == "__main__":
    raise SystemExit(main())
