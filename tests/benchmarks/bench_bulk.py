"""Bulk creation: 10 tables x 100 daily partitions, ms per partition.

    python tests/benchmarks/bench_bulk.py [--runs 3]

Contenders, alternating per run, each on fresh tables: pgpart maintain (one
process, premake 99 via a config), pg_partman 4.7 create_parent(p_premake :=
99), and the floor: a server-side DO block doing CREATE TABLE (LIKE) + ATTACH.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from pgpart.devcluster import running_cluster

TABLES, PARTS = 10, 100

DO_BLOCK = """DO $$ DECLARE d date := current_date; BEGIN
FOR i IN 0..{n} LOOP
  EXECUTE format('CREATE TABLE %I (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', '{t}_' || i);
  EXECUTE format('ALTER TABLE {t} ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', '{t}_' || i, d + i, d + i + 1);
END LOOP; END $$"""


def fresh(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        for t in range(TABLES):
            c.execute(f"DROP TABLE IF EXISTS b{t} CASCADE")
            if c.execute("SELECT to_regclass('partman.part_config')").fetchone()[0]:
                c.execute(
                    "DELETE FROM partman.part_config WHERE parent_table = %s", (f"public.b{t}",)
                )
                c.execute(f"DROP TABLE IF EXISTS partman.template_public_b{t}")
            c.execute(
                f"CREATE TABLE b{t} (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
                f" v text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with running_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        dsn = cluster.dsn
        cfg = Path(tmp) / "pgpart.toml"
        cfg.write_text(
            "".join(
                f'[[table]]\nname = "b{t}"\ninterval = "daily"\npremake = {PARTS - 1}\n\n'
                for t in range(TABLES)
            )
        )
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE SCHEMA IF NOT EXISTS partman")
            c.execute("CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman")

        def pgpart() -> None:
            cmd = [
                sys.executable,
                "-m",
                "pgpart",
                "maintain",
                "--dsn",
                dsn,
                "--config",
                str(cfg),
                "-q",
            ]
            subprocess.run(cmd, check=True)

        def partman() -> None:
            with psycopg.connect(dsn, autocommit=True) as c:
                for t in range(TABLES):
                    c.execute(
                        "SELECT partman.create_parent(%s, 'ts', 'native', 'daily',"
                        " p_premake := %s, p_start_partition := current_date::text)",
                        (f"public.b{t}", PARTS - 1),
                    )

        def do_block() -> None:
            with psycopg.connect(dsn, autocommit=True) as c:
                for t in range(TABLES):
                    c.execute(DO_BLOCK.format(n=PARTS - 1, t=f"b{t}"))

        contenders = {
            "pgpart maintain": pgpart,
            "pg_partman create_parent": partman,
            "DO block (floor)": do_block,
        }
        times: dict[str, list[float]] = {k: [] for k in contenders}
        counts: dict[str, int] = {}
        for _ in range(args.runs):
            for key, fn in contenders.items():
                fresh(dsn)
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
                with psycopg.connect(dsn) as c:
                    counts[key] = c.execute(
                        "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent"
                        " WHERE p.relname ~ '^b[0-9]+$'"
                    ).fetchone()[0]
        floor = statistics.median(times["DO block (floor)"]) / counts["DO block (floor)"]
        print("| contender | partitions made | ms per partition (median) | ratio to DO block |")
        print("|---|---|---|---|")
        for key, ts in times.items():
            per = statistics.median(ts) / counts[key]
            print(f"| {key} | {counts[key]} | {per * 1000:.2f} | {per / floor:.2f} |")


if __name__ == "__main__":
    main()
