"""Read-path benchmark: start-up time and `check`/`stats` over 10,000 partitions.

    python tests/benchmarks/bench_read.py [--tables 50] [--partitions 200] [--runs 5]

Starts its own throwaway PostgreSQL, builds TABLES x PARTITIONS daily
partitions, then times, alternating contenders in each round:
  - `pgpart --version` vs `python -c pass` (start-up),
  - `pgpart check` vs `psql` reading the same catalog rows (the floor),
  - `pgpart stats` vs `psql` reading the same rows with pg_total_relation_size.
Prints medians and ratios (machines here are noisy: compare ratios, not
absolute times).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

from pgpart.devcluster import running_cluster

CATALOG_SQL = """
SELECT i.inhparent, n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_partitioned_table p ON p.partrelid = i.inhparent
"""
STATS_SQL = CATALOG_SQL.replace("c.reltuples", "c.reltuples, pg_total_relation_size(c.oid)")


def build(dsn: str, tables: int, parts: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in range(tables):
            conn.execute(
                f"CREATE TABLE t{t} (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)"
            )
            conn.execute(
                f"""DO $$ DECLARE d date := current_date - {parts // 2}; BEGIN
                FOR i IN 0..{parts - 1} LOOP
                  EXECUTE format('CREATE TABLE t{t}_%s PARTITION OF t{t} FOR VALUES FROM (%L) TO (%L)',
                                 to_char(d + i, 'YYYYMMDD'), d + i, d + i + 1);
                END LOOP; END $$"""
            )


def timed(cmd: Sequence[str]) -> float:
    start = time.perf_counter()
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if res.returncode not in (0, 1):
        raise SystemExit(f"{cmd[:3]} failed ({res.returncode}): {res.stderr}")
    return elapsed


def compare(name: str, contenders: dict[str, list[str]], runs: int) -> list[str]:
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(runs):
        for key, cmd in contenders.items():
            times[key].append(timed(cmd))
    base = statistics.median(times[list(contenders)[-1]])  # the floor comes last
    rows = []
    for key, ts in times.items():
        med = statistics.median(ts)
        rows.append(
            f"| {name} | {key} | {med * 1000:.0f} | {min(ts) * 1000:.0f}-{max(ts) * 1000:.0f}"
            f" | {med / base:.2f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--partitions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    pgpart = [sys.executable, "-m", "pgpart"]
    rows = [
        "| scenario | contender | median ms | min-max ms | ratio to floor |",
        "|---|---|---|---|---|",
    ]
    rows += compare(
        "start-up",
        {
            "pgpart --version": [*pgpart, "--version"],
            "python -c pass": [sys.executable, "-c", "pass"],
        },
        max(args.runs, 10),
    )
    with running_cluster() as cluster:
        build(cluster.dsn, args.tables, args.partitions)
        psql = str(Path(cluster.bindir) / "psql")
        n = args.tables * args.partitions
        rows += compare(
            f"check, {n} partitions",
            {
                "pgpart check": [*pgpart, "check", "--dsn", cluster.dsn, "-q"],
                "psql (catalog floor)": [psql, "-X", "-q", "-d", cluster.dsn, "-c", CATALOG_SQL],
            },
            args.runs,
        )
        rows += compare(
            f"stats, {n} partitions",
            {
                "pgpart stats": [*pgpart, "stats", "--dsn", cluster.dsn, "--format", "json"],
                "psql (with sizes)": [psql, "-X", "-q", "-d", cluster.dsn, "-c", STATS_SQL],
            },
            args.runs,
        )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
