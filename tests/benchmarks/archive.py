"""Archive throughput and insert stall: pgpart's archive mode against plain pg_dump.

    python tests/benchmarks/archive.py [--mb 200] [--runs 3] [--bindir DIR] [--json out.json]

Starts its own throwaway PostgreSQL (devtools/devcluster), then, per run, builds
a monthly table whose one expired partition holds about --mb MB, and measures,
alternating the order from run to run:

  pg_dump   a plain ``pg_dump -Fc -t`` of that partition (the floor);
  archive   ``pgpart maintain`` with retention_mode = "archive": detach, dump,
            verify (TOC, row count, sha256), manifest, drop;
  drop      ``pgpart maintain`` with retention_mode = "drop" (no archive);

each with an inserter writing into the parent every 5 ms, whose worst and
99th-percentile insert latencies are the stall. The worst insert over a
6-second dump is not comparable with the worst over a 0.5-second drop: the
dump's own CPU and disk load slows inserts on a small machine whatever the
locks. So the stall is also measured under a plain pg_dump (no pgpart, no
lock on the parent at all), and the inserter's lock waits are taken from the
server (log_lock_waits with deadlock_timeout = 1 ms logs every wait over
1 ms): that column is what pgpart's locks cost the application.
Prints medians: seconds, MB/s and seconds per GB of table, the ratio to
pg_dump, the stall, and the longest lock wait of the inserter; then the
paired ratios (each run's archive over the same run's pg_dump, taken under
the same load), which are what to compare on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import psycopg
from dateutil.relativedelta import relativedelta

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "devtools"))  # not in the wheel
from devcluster import running_cluster

ROW_BYTES = 260  # about, per row of the payload below (heap)
MONTH = date.today().replace(day=1)


class Inserter:
    """Inserts one row into the parent every 5 ms; records each latency."""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.lat = dsn, []  # type: ignore[var-annotated]
        self.stop = threading.Event()
        self.pid = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as c:
            self.pid = c.info.backend_pid
            while not self.stop.is_set():
                t0 = time.perf_counter()
                c.execute("INSERT INTO bench (ts, v) VALUES (now(), 'live')")
                self.lat.append(time.perf_counter() - t0)
                time.sleep(0.005)

    def __enter__(self) -> Inserter:
        self.thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def stall(self) -> dict[str, float]:
        lat = sorted(self.lat)
        return {
            "max_insert_ms": lat[-1] * 1000,
            "p99_insert_ms": lat[int(len(lat) * 0.99)] * 1000,
        }


def build(dsn: str, mb: int) -> int:
    """The table, its expired partition filled; returns that partition's bytes."""
    old = MONTH - relativedelta(months=12)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS bench CASCADE")
        c.execute(
            "CREATE TABLE bench (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
            " v text) PARTITION BY RANGE (ts)"
        )
        for off in (-12, 0, 1, 2, 3, 4):
            lo = MONTH + relativedelta(months=off)
            hi = lo + relativedelta(months=1)
            c.execute(
                f"CREATE TABLE bench_{lo:%Y_%m} PARTITION OF bench FOR VALUES FROM ('{lo}') TO ('{hi}')"
            )
        rows = mb * 1_000_000 // ROW_BYTES
        c.execute(
            "INSERT INTO bench (ts, v) SELECT %s::timestamptz + (g %% 86400) * interval '1 second',"
            " md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || repeat('x', 100)"
            " || md5((g * 31)::text) FROM generate_series(1, %s) g",
            (old, rows),
        )
        c.execute("VACUUM ANALYZE bench")
        row = c.execute(f"SELECT pg_total_relation_size('bench_{old:%Y_%m}')").fetchone()
    assert row is not None
    return int(row[0])


_WAIT = re.compile(r"process (\d+) acquired \S+ on .* after ([\d.]+) ms")


def lock_wait_ms(log: Path, since: int, pid: int) -> float:
    """The longest lock wait of backend ``pid`` logged after offset ``since``."""
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    waits = [float(m.group(2)) for m in _WAIT.finditer(text) if int(m.group(1)) == pid]
    return max(waits, default=0.0)


def config(tmp: Path, mode: str, bindir: Path) -> Path:
    path = tmp / f"{mode}.toml"
    path.write_text(
        '[[table]]\nname = "public.bench"\ninterval = "monthly"\nretention = "6 months"\n'
        f'retention_mode = "{mode}"\narchive_dir = "{tmp / "archive"}"\npg_bin = "{bindir}"\n'
    )
    return path


def pgpart(dsn: str, cfg: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pgpart", "maintain", "-q", "--dsn", dsn, "--config", str(cfg)],
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"pgpart maintain failed: {done.stderr}")
    return took


def plain_dump(dsn: str, bindir: Path, tmp: Path) -> float:
    old = MONTH - relativedelta(months=12)
    out = tmp / "plain.dump"
    t0 = time.perf_counter()
    subprocess.run(
        [str(bindir / "pg_dump"), "-Fc", "-t", f"public.bench_{old:%Y_%m}", "-f", str(out), dsn],
        check=True,
    )
    took = time.perf_counter() - t0
    out.unlink()
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bindir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    samples: dict[str, list[dict[str, float]]] = {"pg_dump": [], "archive": [], "drop": []}
    with running_cluster(bindir=args.bindir) as cluster, tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        dsn = cluster.dsn
        bindir = cluster.bindir
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("ALTER SYSTEM SET log_lock_waits = on")
            c.execute("ALTER SYSTEM SET deadlock_timeout = '1ms'")
            c.execute("SELECT pg_reload_conf()")
        for run in range(args.runs):
            order = ["pg_dump", "archive", "drop"]
            order = order[run % 3 :] + order[: run % 3]
            for what in order:
                size = build(dsn, args.mb)
                since = cluster.logfile.stat().st_size
                with Inserter(dsn) as ins:
                    if what == "pg_dump":
                        took = plain_dump(dsn, bindir, tmp)
                    else:
                        took = pgpart(dsn, config(tmp, what, bindir))
                waited = lock_wait_ms(cluster.logfile, since, ins.pid)
                samples[what].append({"s": took, "bytes": size, **ins.stall(), "lock_ms": waited})
                for f in (tmp / "archive").glob("*"):
                    f.unlink()
                print(f"run {run + 1} {what}: {took:.2f} s", file=sys.stderr)
        version = cluster.version_num
    floor = statistics.median(s["s"] for s in samples["pg_dump"])
    print(f"\nPostgreSQL {version}, expired partition ~{args.mb} MB, {args.runs} runs, medians\n")
    print(
        "| contender | seconds | MB/s | s per GB | vs pg_dump"
        " | max insert ms | p99 insert ms | inserter's longest lock wait ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for what, got in samples.items():
        s = statistics.median(x["s"] for x in got)
        mbytes = statistics.median(x["bytes"] for x in got) / 1e6
        stall = [statistics.median(x[k] for x in got) for k in ("max_insert_ms", "p99_insert_ms")]
        lock = max(x["lock_ms"] for x in got)
        print(
            f"| {what} | {s:.2f} | {mbytes / s:.1f} | {s / mbytes * 1000:.1f} |"
            f" {s / floor:.2f}x | {stall[0]:.1f} | {stall[1]:.1f} | {lock:.1f} |"
        )
    print("\npaired: each run's seconds over that run's pg_dump (median, min-max)")
    for what in ("archive", "drop"):
        pairs = [x["s"] / f["s"] for x, f in zip(samples[what], samples["pg_dump"], strict=True)]
        print(f"  {what}: {statistics.median(pairs):.2f}x ({min(pairs):.2f}-{max(pairs):.2f})")
    print("\nper run (seconds):")
    for what, got in samples.items():
        print(f"  {what}: " + " ".join(f"{x['s']:.2f}" for x in got))
    if args.json:
        args.json.write_text(json.dumps({"version": version, "samples": samples}, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    main()
