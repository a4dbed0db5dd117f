"""Insert stall while maintenance runs behind a long reader: pgpart vs plain DDL vs pg_partman.

    python tests/benchmarks/bench_write.py [--runs 3] [--reader 2.5]

For each run and contender (alternating): a fresh monthly table holding only
the current month (plus 3 old months for the drop scenario); a session inserts
a row every 5 ms and records each insert's latency; a reader opens a
transaction that reads the parent and holds it for READER seconds; then the
contender's maintenance starts. Reports max/p99 insert latency in the window
and how long the maintenance took. pg_partman needs the
postgresql-15-partman package.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date

import psycopg
from dateutil.relativedelta import relativedelta

from pgpart.devcluster import running_cluster

MONTH = date.today().replace(day=1)


def setup(dsn: str, name: str, partman: bool = False) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
        if c.execute("SELECT to_regclass('partman.part_config')").fetchone()[0]:
            c.execute(
                "DELETE FROM partman.part_config WHERE parent_table = %s", (f"public.{name}",)
            )
        c.execute(
            f"CREATE TABLE {name} (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
            f" v text) PARTITION BY RANGE (ts)"
        )
        if partman:
            c.execute("CREATE SCHEMA IF NOT EXISTS partman")
            c.execute("CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman")
            c.execute(
                "DELETE FROM partman.part_config WHERE parent_table = %s", (f"public.{name}",)
            )
            c.execute(f"DROP TABLE IF EXISTS partman.template_public_{name}")
            c.execute(
                "SELECT partman.create_parent(%s, 'ts', 'native', 'monthly', p_premake := 1)",
                (f"public.{name}",),
            )
            c.execute(
                "UPDATE partman.part_config SET premake = 4, infinite_time_partitions = true"
                " WHERE parent_table = %s",
                (f"public.{name}",),
            )
            return
        for off in range(-3, 1):
            lo = MONTH + relativedelta(months=off)
            hi = lo + relativedelta(months=1)
            c.execute(
                f"CREATE TABLE {name}_{lo:%Y_%m} PARTITION OF {name} FOR VALUES FROM ('{lo}') TO ('{hi}')"
            )


def window(
    dsn: str, name: str, reader_s: float, maintenance: Callable[[], bool]
) -> dict[str, float]:
    latencies: list[float] = []
    stop = threading.Event()

    def inserter() -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                c.execute(f"INSERT INTO {name} (ts, v) VALUES (now(), 'x')")
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.005)

    def reader() -> None:
        with psycopg.connect(dsn) as c:
            c.execute(f"SELECT count(*) FROM {name}")
            time.sleep(reader_s)
            c.rollback()

    ins = threading.Thread(target=inserter)
    rd = threading.Thread(target=reader)
    ins.start()
    time.sleep(0.2)
    rd.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    ok = maintenance()
    took = time.perf_counter() - t0
    rd.join()
    time.sleep(0.2)
    stop.set()
    ins.join()
    lat = sorted(latencies)
    return {
        "max_ms": lat[-1] * 1000,
        "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
        "took_s": took,
        "ok": float(ok),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reader", type=float, default=2.5)
    args = parser.parse_args()
    with running_cluster() as cluster:
        dsn = cluster.dsn

        def psql(sql: str) -> bool:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(sql)
            return True

        def pgpart(*cmd: str) -> Callable[[], bool]:
            return lambda: (
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pgpart",
                        *cmd,
                        "--dsn",
                        dsn,
                        "--lock-timeout",
                        "200ms",
                        "-q",
                    ]
                ).returncode
                == 0
            )

        ahead = [MONTH + relativedelta(months=i) for i in (1, 2, 3, 4)]
        plain_create = "; ".join(
            f"CREATE TABLE t_{lo:%Y_%m} PARTITION OF t FOR VALUES FROM ('{lo}') TO ('{hi}')"
            for lo, hi in itertools.pairwise(ahead)
        )
        old = [MONTH + relativedelta(months=i) for i in (-3, -2, -1)]
        plain_drop = "; ".join(f"DROP TABLE t_{lo:%Y_%m}" for lo in old)
        scenarios = {
            "create 3 ahead": {
                "pgpart maintain": (lambda: setup(dsn, "t"), pgpart("maintain", "t")),
                "CREATE TABLE .. PARTITION OF": (
                    lambda: setup(dsn, "t"),
                    lambda: psql(plain_create),
                ),
                "pg_partman run_maintenance": (
                    lambda: setup(dsn, "t", partman=True),
                    lambda: psql("SELECT partman.run_maintenance('public.t')"),
                ),
            },
            "drop 3 old": {
                "pgpart drop": (
                    lambda: setup(dsn, "t"),
                    pgpart("drop", "t", "--before", str(MONTH), "--yes"),
                ),
                "DROP TABLE": (lambda: setup(dsn, "t"), lambda: psql(plain_drop)),
            },
        }
        print(
            "| scenario | contender | max insert ms (median of runs) | p99 ms | maintenance s | succeeded |"
        )
        print("|---|---|---|---|---|---|")
        for scen, contenders in scenarios.items():
            results: dict[str, list[dict[str, float]]] = {k: [] for k in contenders}
            for _ in range(args.runs):
                for key, (prepare, run) in contenders.items():
                    prepare()
                    results[key].append(window(dsn, "t", args.reader, run))
            for key, rs in results.items():
                med = {
                    m: statistics.median(r[m] for r in rs) for m in ("max_ms", "p99_ms", "took_s")
                }
                ok = sum(int(r["ok"]) for r in rs)
                print(
                    f"| {scen} | {key} | {med['max_ms']:.0f} | {med['p99_ms']:.0f} | {med['took_s']:.2f} | {ok}/{len(rs)} |"
                )


if __name__ == "__main__":
    main()
