"""Benchmark runner: pgpart against pg_partman, pg-partsmith and plain SQL floors.

    python tests/benchmarks/run.py [--runs 5] [--smoke] [--json out.json] [--only a,b,...]
                                   [--baseline DIR]

Starts its own throwaway PostgreSQL (devtools/devcluster: running_cluster),
installs the peers it needs (pg_partman: the Debian package when its extension
files are missing and we are root; pg-partsmith: from PyPI into its own venv,
--partsmith-venv, default /tmp/partsmith-venv), then runs every scenario for
every contender in alternation: each run visits every contender once, the
starting contender rotating from run to run. Prints one Markdown table per
scenario (medians, min-max, ratio to pgpart) and writes every sample to JSON.

Scenarios:
  a  insert stall while maintenance creates 3 partitions ahead / drops 3 old
     ones, behind a reader holding ACCESS SHARE on the parent
  b  bulk creation, TABLES x PARTS daily partitions
  c  check / stats over TABLES x PARTS partitions (floor: psql on the catalog)
  d  moving ROWS rows out of a DEFAULT partition, with a live inserter
  e  CLI start-up (--version vs python -c pass)

--baseline DIR adds, to a (create), b, c and e, this same pgpart from another checkout
(e.g. `git worktree add --detach /tmp/old <commit>`), run side by side in the
same alternation: both then start as `python -m pgpart` from a compiled copy
of their checkout's package (the installed console script would import only
one). pgpart always runs with bytecode written and read, as installed, even
when PYTHONDONTWRITEBYTECODE is set.

--smoke runs every scenario once at tiny sizes and exits non-zero when a
contender crashed in a way that means this runner rotted (a harness exception,
a usage/configuration error from a CLI, a pgpart traceback). A contender that
fails to do the job is a result, not a crash; a peer that cannot be installed
is reported as unavailable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from dateutil.relativedelta import relativedelta
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "devtools"))  # not in the wheel
from devcluster import running_cluster

PG_MAJOR = 15
PARTMAN_PACKAGE = f"postgresql-{PG_MAJOR}-partman"
PARTSMITH_SPEC = "pg-partsmith[cli]"
TODAY = date.today()
MONTH = TODAY.replace(day=1)
CLI_TIMEOUT_S = 600

# Sizes: (full, smoke)
SIZES = {
    "reader_s": (4.0, 0.5),
    "bulk_tables": (10, 2),
    "bulk_parts": (100, 5),
    "read_tables": (50, 2),
    "read_parts": (200, 5),
    "move_rows": (1_000_000, 10_000),
    "startup_runs": (20, 2),
}


class Rot(Exception):
    """The runner itself is broken: a harness error, a CLI usage error."""


@dataclass
class Sample:
    ok: bool
    metrics: dict[str, float] = field(default_factory=dict)
    detail: str = ""
    run: int = -1  # which run of the alternation: samples of one run are a pair


@dataclass
class Contender:
    name: str
    setup: Callable[[], Any] | None
    run: Callable[[Any], Sample]
    available: str | None = None  # reason when unavailable


@dataclass
class Result:
    scenario: str
    contenders: list[str]
    samples: dict[str, list[Sample]]
    unavailable: dict[str, str]
    crashes: dict[str, list[str]]


# --- helpers ------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sql(dsn: str, *stmts: str, params: Sequence[Any] | None = None) -> Any:
    """Run statements in autocommit; return the first row of the last one, if any."""
    row = None
    with psycopg.connect(dsn, autocommit=True) as c:
        for s in stmts:
            cur = c.execute(s, params) if params is not None else c.execute(s)
            row = cur.fetchone() if cur.description else None
    return row


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


@dataclass
class Cli:
    """How to run one tool, and how to tell its usage errors (rot) from failures."""

    name: str
    argv: list[str]
    rot_codes: frozenset[int]
    traceback_is_rot: bool
    env: dict[str, str] | None = None  # None: this process's environment
    cwd: str | None = None

    def __call__(self, *args: str, ok_codes: Sequence[int] = (0,)) -> tuple[Sample, float]:
        t0 = time.perf_counter()
        try:
            res = subprocess.run(
                [*self.argv, *args],
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
            )
        except subprocess.TimeoutExpired:
            return Sample(False, detail=f"timed out after {CLI_TIMEOUT_S}s"), CLI_TIMEOUT_S
        took = time.perf_counter() - t0
        err = res.stderr.strip()
        usage = "No such option" in err or "Usage:" in err or "Missing argument" in err
        if res.returncode in self.rot_codes or usage:
            raise Rot(f"{self.name} {' '.join(args[:2])}: exit {res.returncode}: {err[-800:]}")
        if "Traceback (most recent call last)" in err and self.traceback_is_rot:
            raise Rot(f"{self.name} {' '.join(args[:2])}: traceback: {err[-1500:]}")
        ok = res.returncode in ok_codes
        detail = "" if ok else f"exit {res.returncode}: {(err or res.stdout.strip())[-300:]}"
        return Sample(ok, detail=detail), took


def console_script(name: str, module: str) -> list[str]:
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


def bytecode_env() -> dict[str, str]:
    """This environment, minus PYTHONDONTWRITEBYTECODE: with it every start
    compiles pgpart's ~60 modules from source (100+ ms) where an installed copy
    loads bytecode, which would be measured instead of pgpart."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def pgpart_from(checkout: str, name: str, tmp: Path) -> Cli:
    """pgpart as imported from a compiled copy of ``checkout``'s package (as
    installed; the checkout itself is left alone), started from ``tmp``:
    `python -m` puts the working directory first on sys.path."""
    copy = tmp / f"pgpart-{len(list(tmp.glob('pgpart-*')))}"
    shutil.copytree(
        Path(checkout) / "pgpart", copy / "pgpart", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {**bytecode_env(), "PYTHONPATH": str(copy)}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(copy / "pgpart")], env=env, check=True
    )
    return Cli(name, [sys.executable, "-m", "pgpart"], frozenset({3}), True, env, str(tmp))


def pgpart_contenders(env: Env, name: str, run: Callable[[Cli], Sample]) -> list[Contender]:
    """The pgpart contender, and the --baseline checkout's next to it."""
    out = [Contender(name, None, lambda _: run(env.pgpart))]
    if env.baseline is not None:
        base = env.baseline
        out.append(Contender(f"{name} ({base.name})", None, lambda _: run(base)))
    return out


def partman_available(dsn: str) -> str | None:
    control = Path(f"/usr/share/postgresql/{PG_MAJOR}/extension/pg_partman.control")
    if not control.exists():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            return f"{control} missing and cannot install {PARTMAN_PACKAGE} (not root)"
        log(f"installing {PARTMAN_PACKAGE}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        res = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PARTMAN_PACKAGE],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if res.returncode != 0 or not control.exists():
            return f"apt-get install {PARTMAN_PACKAGE} failed: {res.stderr.strip()[-300:]}"
    try:
        sql(
            dsn,
            "CREATE SCHEMA IF NOT EXISTS partman",
            "CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman",
        )
    except psycopg.Error as exc:
        return f"CREATE EXTENSION pg_partman failed: {exc}"
    return None


def partsmith_install(venv: Path, allow_install: bool) -> tuple[list[str] | None, str]:
    exe = venv / "bin" / "pg-partsmith"
    if not exe.exists():
        if not allow_install:
            return None, f"{exe} missing (--no-install)"
        log(f"installing {PARTSMITH_SPEC} into {venv}")
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True
            )
            res = subprocess.run(
                [
                    str(venv / "bin" / "pip"),
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    PARTSMITH_SPEC,
                ],
                capture_output=True,
                text=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            return None, f"cannot create {venv}: {exc}"
        if res.returncode != 0 or not exe.exists():
            tail = (res.stderr.strip().splitlines() or ["?"])[-1]
            return None, f"pip install {PARTSMITH_SPEC} failed: {tail[-200:]}"
    res = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    if res.returncode != 0:
        return None, f"{exe} --version failed: {res.stderr.strip()[-200:]}"
    return [str(exe)], res.stdout.strip()


def dsn_url(dsn: str) -> str:
    p = conninfo_to_dict(dsn)
    return f"postgresql://{p.get('user', 'postgres')}@{p['host']}:{p['port']}/{p.get('dbname', 'postgres')}"


def parts_query(parent: str) -> str:
    """Partitions of parent with their lower bound (NULL for DEFAULT)."""
    return f"""
    SELECT c.relname, (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = '{parent}'::regclass"""


def count_parts(dsn: str, parent: str, where: str = "true") -> int:
    return int(
        sql(dsn, f"SELECT count(*) FROM ({parts_query(parent)}) p(name, lo) WHERE {where}")[0]
    )


def scalar(c: psycopg.Connection[Any], query: str) -> Any:
    """The first column of the one row ``query`` returns."""
    row = c.execute(query).fetchone()
    assert row is not None, query
    return row[0]


def forget_partman(c: psycopg.Connection[Any], table: str) -> None:
    if scalar(c, "SELECT to_regclass('partman.part_config')"):
        c.execute("DELETE FROM partman.part_config WHERE parent_table = %s", (f"public.{table}",))
        c.execute(f"DROP TABLE IF EXISTS partman.template_public_{table}")


def drop_all_tables(dsn: str) -> None:
    """Everything in schema public (and partman's registrations of it)."""
    with psycopg.connect(dsn, autocommit=True) as c:
        if scalar(c, "SELECT to_regclass('partman.part_config')"):
            c.execute("DELETE FROM partman.part_config")
            for (t,) in c.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'partman'::regnamespace"
                " AND relname LIKE 'template\\_%' AND relkind IN ('r', 'p')"
            ).fetchall():
                c.execute(f'DROP TABLE IF EXISTS partman."{t}"')
        # one partitioned table at a time: a single DROP SCHEMA over 10,000
        # partitions runs out of max_locks_per_transaction
        for (t,) in c.execute(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            " WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition"
        ).fetchall():
            c.execute(f'DROP TABLE IF EXISTS public."{t}" CASCADE')
        c.execute("DROP SCHEMA public CASCADE")
        c.execute("CREATE SCHEMA public")


# --- the insert-latency window (a, d) -------------------------------------------


class Inserter:
    """A session inserting one row every 5 ms; records (start, latency)."""

    def __init__(self, dsn: str, stmt: str) -> None:
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.dsn, self.stmt = dsn, stmt
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as c:
                while not self.stop.is_set():
                    t0 = time.perf_counter()
                    c.execute(self.stmt)
                    self.samples.append((t0, time.perf_counter() - t0))
                    time.sleep(0.005)
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> Inserter:
        self.thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=CLI_TIMEOUT_S)

    def stats(self, since: float) -> dict[str, float]:
        if self.error is not None:
            raise Rot(f"inserter failed: {self.error!r}")
        lat = sorted(lat for t0, lat in self.samples if t0 >= since)
        if not lat:
            raise Rot("inserter recorded nothing in the window")
        return {
            "max_insert_ms": lat[-1] * 1000,
            "p99_insert_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
            "inserts": float(len(lat)),
        }


def stall_window(
    dsn: str, table: str, reader_s: float, maintenance: Callable[[], Sample]
) -> Sample:
    """Inserter running; a reader holds ACCESS SHARE on table for reader_s; then maintenance."""
    holding = threading.Event()
    reader_err: list[BaseException] = []

    def reader() -> None:
        try:
            with psycopg.connect(dsn) as c:
                c.execute(f"SELECT count(*) FROM {table}")
                holding.set()
                c.execute("SELECT pg_sleep(%s)", (reader_s,))
                c.rollback()
        except BaseException as exc:
            reader_err.append(exc)
            holding.set()

    with Inserter(dsn, f"INSERT INTO {table} (ts, v) VALUES (now(), 'live')") as ins:
        rd = threading.Thread(target=reader, daemon=True)
        since = time.perf_counter()
        rd.start()
        holding.wait(30)
        time.sleep(0.05)
        t0 = time.perf_counter()
        sample = maintenance()
        took = time.perf_counter() - t0
        rd.join(timeout=reader_s + 60)
        time.sleep(0.2)
    if reader_err:
        raise Rot(f"reader failed: {reader_err[0]!r}")
    sample.metrics.update(ins.stats(since))
    sample.metrics["maintenance_s"] = took
    return sample


# --- scenario a: insert stall during create-ahead and drop-old ---------------------


def month(off: int) -> date:
    return MONTH + relativedelta(months=off)


def make_monthly(dsn: str, table: str, months: range, default: bool = False) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        forget_partman(c, table)
        c.execute(
            f"CREATE TABLE {table} (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
            f" v text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)"
        )
        for off in months:
            lo, hi = month(off), month(off + 1)
            c.execute(
                f"CREATE TABLE {table}_{lo:%Y_%m} PARTITION OF {table}"
                f" FOR VALUES FROM ('{lo}') TO ('{hi}')"
            )
        if default:
            c.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")


def make_partman_monthly(dsn: str, table: str, start: date, premake: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        forget_partman(c, table)
        c.execute(
            f"CREATE TABLE {table} (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
            f" v text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)"
        )
        c.execute(
            "SELECT partman.create_parent(%s, 'ts', 'native', 'monthly',"
            " p_premake := %s, p_start_partition := %s)",
            (f"public.{table}", premake, str(start)),
        )


def orphans(dsn: str) -> int:
    """Plain tables in public that are not attached partitions (detached, not dropped)."""
    return int(
        sql(
            dsn,
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relkind = 'r' AND NOT relispartition",
        )[0]
    )


ROT_ERRORS = (
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedColumn,
    psycopg.errors.SyntaxError,
    psycopg.OperationalError,
)


def psql_sample(dsn: str, *stmts: str) -> Sample:
    """Run SQL as a contender: a server-side failure is a result; our own mistake is rot."""
    try:
        sql(dsn, *stmts)
    except ROT_ERRORS as exc:
        raise Rot(f"{type(exc).__name__}: {exc}") from exc
    except psycopg.Error as exc:  # lock timeout, the peer's RAISE: a result
        return Sample(False, detail=f"{type(exc).__name__}: {str(exc).strip()}")
    return Sample(True)


def scenario_a(env: Env) -> list[Result]:
    dsn, reader_s = env.dsn, env.size("reader_s")
    tbl = "t"
    pgpart, smith = env.pgpart, env.partsmith

    def smith_yaml(create_ahead: int, retention: int, drop_now: bool) -> str:
        doc: dict[str, Any] = {
            "defaults": {
                "partition_column": "ts",
                "granularity": "month",
                "create_ahead_count": create_ahead,
                "retention_count": retention,
            },
            "tables": [{"table_name": tbl}],
            "runtime": {"drop_allow_unmanaged": True},
        }
        if drop_now:
            doc["defaults"]["lifecycle"] = {
                "creation": {"kind": "create_ahead", "count": create_ahead},
                "retention": {"kind": "keep_newest", "count": retention},
                "drop": {"kind": "drop_after", "grace": 0},
            }
        return env.write(f"a-{create_ahead}-{retention}.json", json.dumps(doc))

    # create 3 ahead: every setup holds months -3..0; partman's also 1 ahead (its premake 1)
    def created_ok(before: int) -> Callable[[Sample], Sample]:
        def check(s: Sample) -> Sample:
            made = count_parts(dsn, tbl, f"lo > '{MONTH}'") - before
            s.metrics["partitions_made"] = made
            if s.ok and made != 3:
                s.ok, s.detail = False, f"made {made} partitions, expected 3"
            return s

        return check

    def window(run: Callable[[], Sample], verify: Callable[[Sample], Sample]) -> Sample:
        return verify(stall_window(dsn, tbl, reader_s, run))

    def plain_setup() -> int:
        make_monthly(dsn, tbl, range(-3, 1))
        return count_parts(dsn, tbl, f"lo > '{MONTH}'")

    def partman_setup_create() -> int:
        make_partman_monthly(dsn, tbl, month(-3), premake=1)
        ahead = count_parts(dsn, tbl, f"lo > '{MONTH}'")
        # 4.7's run_maintenance makes premake + 1 ahead of the current month: ask for 3 more
        sql(
            dsn,
            "UPDATE partman.part_config SET premake = %s, infinite_time_partitions = true"
            " WHERE parent_table = %s",
            params=(ahead + 2, f"public.{tbl}"),
        )
        return ahead

    plain_create = [
        f"CREATE TABLE {tbl}_{month(i):%Y_%m} PARTITION OF {tbl}"
        f" FOR VALUES FROM ('{month(i)}') TO ('{month(i + 1)}')"
        for i in (1, 2, 3)
    ]

    def pgpart_create(cli: Cli, before: int) -> Sample:
        return window(lambda: cli("maintain", tbl, "--dsn", dsn, "-q")[0], created_ok(before))

    clis = [("pgpart maintain", pgpart)]
    if env.baseline is not None:
        clis.append((f"pgpart maintain ({env.baseline.name})", env.baseline))
    create = [Contender(name, plain_setup, partial(pgpart_create, cli)) for name, cli in clis] + [
        Contender(
            "pg_partman run_maintenance (premake)",
            partman_setup_create,
            lambda before: window(
                lambda: psql_sample(dsn, f"SELECT partman.run_maintenance('public.{tbl}')"),
                created_ok(before),
            ),
            env.partman_missing,
        ),
        Contender(
            "pg-partsmith apply",
            plain_setup,
            lambda before: window(
                lambda: smith("apply", "-c", smith_yaml(4, 1000, False), "--dsn", env.url)[0],
                created_ok(before),
            ),
            env.partsmith_missing,
        ),
        Contender(
            "CREATE TABLE .. PARTITION OF",
            plain_setup,
            lambda before: window(lambda: psql_sample(dsn, *plain_create), created_ok(before)),
        ),
    ]

    # drop 3 old: months -3..-1 must be gone (not merely detached)
    def dropped_ok(s: Sample) -> Sample:
        left = count_parts(dsn, tbl, f"lo < '{MONTH}'")
        orphan = orphans(dsn)
        s.metrics["old_left"], s.metrics["orphans"] = left, orphan
        if s.ok and (left or orphan):
            s.ok, s.detail = False, f"{left} old partitions still attached, {orphan} detached left"
        return s

    def partman_setup_drop() -> None:
        make_partman_monthly(dsn, tbl, month(-3), premake=1)
        sql(
            dsn,
            "UPDATE partman.part_config SET retention = '1 second', retention_keep_table = false"
            " WHERE parent_table = %s",
            params=(f"public.{tbl}",),
        )

    def plain_drop_setup() -> None:
        make_monthly(dsn, tbl, range(-3, 1))

    drop = [
        Contender(
            "pgpart drop",
            plain_drop_setup,
            lambda _: window(
                lambda: pgpart("drop", tbl, "--before", str(MONTH), "--yes", "--dsn", dsn, "-q")[0],
                dropped_ok,
            ),
        ),
        Contender(
            "pg_partman run_maintenance (retention)",
            partman_setup_drop,
            lambda _: window(
                lambda: psql_sample(dsn, f"SELECT partman.run_maintenance('public.{tbl}')"),
                dropped_ok,
            ),
            env.partman_missing,
        ),
        Contender(
            "pg-partsmith apply --allow-destructive",
            plain_drop_setup,
            lambda _: window(
                lambda: smith(
                    "apply", "-c", smith_yaml(1, 1, True), "--dsn", env.url, "--allow-destructive"
                )[0],
                dropped_ok,
            ),
            env.partsmith_missing,
        ),
        Contender(
            "DROP TABLE",
            plain_drop_setup,
            lambda _: window(
                lambda: psql_sample(
                    dsn, *(f"DROP TABLE {tbl}_{month(i):%Y_%m}" for i in (-3, -2, -1))
                ),
                dropped_ok,
            ),
        ),
    ]
    return [
        env.compare("a. create 3 ahead", create),
        env.compare("a. drop 3 old", drop),
    ]


# --- scenario b: bulk creation ----------------------------------------------------

DO_BLOCK = """DO $$ DECLARE d date := current_date; BEGIN
FOR i IN 0..{n} LOOP
  EXECUTE format('CREATE TABLE %I (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', '{t}_' || i);
  EXECUTE format('ALTER TABLE {t} ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', '{t}_' || i, d + i, d + i + 1);
END LOOP; END $$"""


def scenario_b(env: Env) -> list[Result]:
    dsn = env.dsn
    tables, parts = int(env.size("bulk_tables")), int(env.size("bulk_parts"))
    names = [f"b{t}" for t in range(tables)]
    cfg = env.write(
        "bulk.toml",
        "".join(
            f'[[table]]\nname = "{n}"\ninterval = "daily"\npremake = {parts - 1}\n\n' for n in names
        ),
    )
    smith_cfg = env.write(
        "bulk.json",
        json.dumps(
            {
                "defaults": {
                    "partition_column": "ts",
                    "granularity": "day",
                    "create_ahead_count": parts,
                    "retention_count": 100_000,
                },
                "tables": [{"table_name": n} for n in names],
            }
        ),
    )

    py_client = python_client(env)

    def fresh() -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            for n in names:
                c.execute(f"DROP TABLE IF EXISTS {n} CASCADE")
                forget_partman(c, n)
                c.execute(
                    f"CREATE TABLE {n} (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
                    f" v text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)"
                )

    def timed(fn: Callable[[], Sample]) -> Sample:
        t0 = time.perf_counter()
        s = fn()
        took = time.perf_counter() - t0
        made = sum(count_parts(dsn, n, "lo IS NOT NULL") for n in names)
        s.metrics.update(seconds=took, partitions=made, ms_per_partition=took * 1000 / max(made, 1))
        if s.ok and made < tables * parts:
            s.ok, s.detail = False, f"made {made} partitions, expected {tables * parts}"
        return s

    def partman() -> Sample:
        with psycopg.connect(dsn, autocommit=True) as c:
            for n in names:
                c.execute(
                    "SELECT partman.create_parent(%s, 'ts', 'native', 'daily',"
                    " p_premake := %s, p_start_partition := current_date::text)",
                    (f"public.{n}", parts - 1),
                )
        return Sample(True)

    def do_block() -> Sample:
        with psycopg.connect(dsn, autocommit=True) as c:
            for n in names:
                c.execute(DO_BLOCK.format(n=parts - 1, t=n))
        return Sample(True)

    contenders = [
        replace(c, setup=fresh)
        for c in pgpart_contenders(
            env,
            "pgpart maintain",
            lambda cli: timed(lambda: cli("maintain", "--dsn", dsn, "--config", cfg, "-q")[0]),
        )
    ] + [
        Contender("pg_partman create_parent", fresh, lambda _: timed(partman), env.partman_missing),
        Contender(
            "pg-partsmith apply",
            fresh,
            lambda _: timed(lambda: env.partsmith("apply", "-c", smith_cfg, "--dsn", env.url)[0]),
            env.partsmith_missing,
        ),
        Contender("DO block CREATE (LIKE) + ATTACH (floor)", fresh, lambda _: timed(do_block)),
        Contender(
            f"python + psycopg DO blocks {PY_FLOOR}",
            fresh,
            lambda _: timed(
                lambda: py_client(dsn, *(DO_BLOCK.format(n=parts - 1, t=n) for n in names))[0]
            ),
        ),
    ]
    return [
        env.compare(f"b. bulk creation, {tables} tables x {parts} daily partitions", contenders)
    ]


# --- scenario c: read path at scale -------------------------------------------------

CATALOG_SQL = """
SELECT i.inhparent, n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_partitioned_table p ON p.partrelid = i.inhparent
"""
STATS_SQL = CATALOG_SQL.replace("c.reltuples", "c.reltuples, pg_total_relation_size(c.oid)")

# A Python client's floor: this interpreter started, psycopg imported, one
# connection, the statements sent and their rows fetched; nothing else. What
# pgpart pays beyond psql before doing any work of its own.
PY_CLIENT = """
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as c:
    for stmt in sys.argv[2:]:
        cur = c.execute(stmt)
        if cur.description:
            cur.fetchall()
"""
PY_FLOOR = "(a Python client's floor)"


def python_client(env: Env) -> Cli:
    """PY_CLIENT run as pgpart runs: this interpreter, bytecode on, from tmp."""
    return Cli(
        "python client", [sys.executable, "-c", PY_CLIENT], frozenset(), True, bytecode_env(),
        str(env.tmp),
    )  # fmt: skip


def scenario_c(env: Env) -> list[Result]:
    dsn = env.dsn
    tables, parts = int(env.size("read_tables")), int(env.size("read_parts"))
    drop_all_tables(dsn)
    log(f"c: building {tables} x {parts} daily partitions (+ DEFAULT each)")
    with psycopg.connect(dsn, autocommit=True) as c:
        for t in range(tables):
            c.execute(
                f"CREATE TABLE r{t} (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
                f" v int, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)"
            )
            c.execute(
                f"""DO $$ DECLARE d date := current_date - {parts // 2}; BEGIN
                FOR i IN 0..{parts - 1} LOOP
                  EXECUTE format('CREATE TABLE r{t}_p%s PARTITION OF r{t} FOR VALUES FROM (%L) TO (%L)',
                                 to_char(d + i, 'YYYYMMDD'), d + i, d + i + 1);
                END LOOP; END $$"""
            )
            c.execute(f"CREATE TABLE r{t}_default PARTITION OF r{t} DEFAULT")
            if not env.partman_missing:
                # what create_parent would have recorded for this set
                c.execute(
                    "INSERT INTO partman.part_config (parent_table, control, partition_type,"
                    " partition_interval, premake, datetime_string)"
                    " VALUES (%s, 'ts', 'native', '1 day', %s, 'YYYYMMDD')",
                    (f"public.r{t}", parts // 2 - 1),
                )
        c.execute("ANALYZE")
    smith_cfg = env.write(
        "read.json",
        json.dumps(
            {
                "defaults": {
                    "partition_column": "ts",
                    "granularity": "day",
                    "create_ahead_count": parts // 2 - 1,
                    "retention_count": 100_000,
                },
                "tables": [{"table_name": f"r{t}"} for t in range(tables)],
            }
        ),
    )
    psql = [str(Path(env.bindir) / "psql"), "-X", "-q", "-d", dsn, "-c"]
    psql_cli = Cli("psql", psql, frozenset({1, 2, 3}), False)
    py_client = python_client(env)

    def timed(call: Callable[[], tuple[Sample, float]]) -> Callable[[Any], Sample]:
        def run(_: Any) -> Sample:
            s, took = call()
            s.metrics["ms"] = took * 1000
            return s

        return run

    n = tables * parts
    check = [
        *pgpart_contenders(
            env,
            "pgpart check",
            lambda cli: timed(lambda: cli("check", "--dsn", dsn, "-q", ok_codes=(0, 1)))(None),
        ),
        Contender(
            "pg_partman check_default()",
            None,
            timed(lambda: psql_cli("SELECT * FROM partman.check_default(p_exact_count := false)")),
            env.partman_missing,
        ),
        Contender(
            "pg-partsmith plan --check",
            None,
            timed(
                lambda: env.partsmith(
                    "plan",
                    "--check",
                    "-c",
                    smith_cfg,
                    "--dsn",
                    env.url,
                    "-o",
                    "json",
                    ok_codes=(0, 2),
                )
            ),
            env.partsmith_missing,
        ),
        Contender("psql catalog rows (floor)", None, timed(lambda: psql_cli(CATALOG_SQL))),
        Contender(
            f"python + psycopg catalog rows {PY_FLOOR}",
            None,
            timed(lambda: py_client(dsn, CATALOG_SQL)),
        ),
    ]
    stats = [
        *pgpart_contenders(
            env,
            "pgpart stats",
            lambda cli: timed(lambda: cli("stats", "--dsn", dsn, "--format", "json"))(None),
        ),
        Contender(
            "pg_partman show_partitions() x tables",
            None,
            timed(
                lambda: psql_cli(
                    "SELECT p.parent_table, s.* FROM partman.part_config p,"
                    " LATERAL partman.show_partitions(p.parent_table, p_include_default := true) s"
                )
            ),
            env.partman_missing,
        ),
        Contender(
            "pg-partsmith inspect",
            None,
            timed(
                lambda: env.partsmith("inspect", "-c", smith_cfg, "--dsn", env.url, "-o", "json")
            ),
            env.partsmith_missing,
        ),
        Contender("psql catalog rows + sizes (floor)", None, timed(lambda: psql_cli(STATS_SQL))),
    ]
    return [
        env.compare(f"c. check, {tables} tables x {parts} partitions ({n})", check),
        env.compare(f"c. stats, {tables} tables x {parts} partitions ({n})", stats),
    ]


# --- scenario d: moving rows out of DEFAULT ---------------------------------------------


def scenario_d(env: Env) -> list[Result]:
    dsn, rows = env.dsn, int(env.size("move_rows"))
    tbl = "m"
    lo, hi = month(-4), MONTH
    fill = (
        f"INSERT INTO {tbl} (ts, v) SELECT timestamptz '{lo}' + (timestamptz '{hi}' - timestamptz '{lo}')"
        f" * (g::float8 / {rows}), 'x' FROM generate_series(0, {rows - 1}) g"
    )
    smith_cfg = env.write(
        "move.json",
        json.dumps(
            {
                "defaults": {
                    "partition_column": "ts",
                    "granularity": "month",
                    "create_ahead_count": 2,
                    "retention_count": 1000,
                },
                "tables": [{"table_name": tbl}],
            }
        ),
    )

    def settle() -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(fill)
            c.execute(f"VACUUM ANALYZE {tbl}")
            c.execute("CHECKPOINT")
            moved = scalar(c, f"SELECT count(*) FROM ONLY {tbl}_default")
        if moved != rows:
            raise Rot(f"setup put {moved} rows in {tbl}_default, expected {rows}")

    def plain_setup() -> None:
        make_monthly(dsn, tbl, range(0, 2), default=True)
        settle()

    def partman_setup() -> None:
        make_partman_monthly(dsn, tbl, MONTH, premake=1)
        settle()

    def window(run: Callable[[], Sample]) -> Sample:
        with Inserter(dsn, f"INSERT INTO {tbl} (ts, v) VALUES (now(), 'live')") as ins:
            t0 = time.perf_counter()
            s = run()
            took = time.perf_counter() - t0
            time.sleep(0.1)
        s.metrics.update(ins.stats(t0))
        left, total = sql(
            dsn,
            f"SELECT (SELECT count(*) FROM ONLY {tbl}_default),"
            f" (SELECT count(*) FROM {tbl} WHERE v = 'x')",
        )
        s.metrics.update(seconds=took, rows_per_s=(rows - left) / took, default_left=left)
        if s.ok and (left or total != rows):
            s.ok, s.detail = False, f"{left} rows left in DEFAULT, {total} of {rows} visible"
        return s

    contenders = [
        Contender(
            "pgpart create (moves DEFAULT rows)",
            plain_setup,
            lambda _: window(
                lambda: env.pgpart(
                    "create",
                    tbl,
                    "--from",
                    str(lo),
                    "--to",
                    str(hi),
                    "--interval",
                    "monthly",
                    # one transaction per partition, whatever the wait (docs/relocation.md)
                    "--relocation",
                    "lock",
                    "--dsn",
                    dsn,
                    "-q",
                )[0]
            ),
        ),
        Contender(
            "pg_partman partition_data_proc",
            partman_setup,
            lambda _: window(
                lambda: psql_sample(
                    dsn,
                    f"CALL partman.partition_data_proc('public.{tbl}', p_wait := 0, p_quiet := true)",
                )
            ),
            env.partman_missing,
        ),
        Contender(
            "pg-partsmith backfill",
            plain_setup,
            lambda _: window(
                lambda: env.partsmith("backfill", "-c", smith_cfg, "--dsn", env.url)[0]
            ),
            env.partsmith_missing,
        ),
    ]
    return [env.compare(f"d. move {rows:,} rows out of DEFAULT (4 monthly partitions)", contenders)]


# --- scenario e: start-up ---------------------------------------------------------------


def scenario_e(env: Env) -> list[Result]:
    py = Cli("python", [sys.executable], frozenset(), False)

    def timed(call: Callable[[], tuple[Sample, float]]) -> Callable[[Any], Sample]:
        def run(_: Any) -> Sample:
            s, took = call()
            s.metrics["ms"] = took * 1000
            return s

        return run

    contenders = [
        *pgpart_contenders(
            env, "pgpart --version", lambda cli: timed(lambda: cli("--version"))(None)
        ),
        Contender(
            "pg-partsmith --version",
            None,
            timed(lambda: env.partsmith("--version")),
            env.partsmith_missing,
        ),
        Contender("python -c pass (floor)", None, timed(lambda: py("-c", "pass"))),
    ]
    runs = (
        int(env.size("startup_runs"))
        if env.smoke
        else max(int(env.size("startup_runs")), 4 * env.runs)
    )
    return [env.compare("e. CLI start-up", contenders, runs=runs)]


# --- the harness ------------------------------------------------------------------------


class Env:
    def __init__(self, args: argparse.Namespace, dsn: str, bindir: str, tmp: Path) -> None:
        self.args, self.dsn, self.bindir, self.tmp = args, dsn, bindir, tmp
        self.url = dsn_url(dsn)
        self.smoke: bool = args.smoke
        self.runs: int = 1 if args.smoke else args.runs
        self.pgpart = Cli(
            "pgpart", console_script("pgpart", "pgpart"), frozenset({3}), True, bytecode_env()
        )
        self.baseline: Cli | None = None
        if args.baseline:
            # side by side: both the same way, each from its own checkout
            self.pgpart = pgpart_from(str(Path(__file__).parents[2]), "pgpart", tmp)
            self.baseline = pgpart_from(args.baseline, Path(args.baseline).name, tmp)
        self.partman_missing = partman_available(dsn)
        argv, what = partsmith_install(Path(args.partsmith_venv), not args.no_install)
        self.partsmith_missing = None if argv else what
        self.partsmith_version = what if argv else None
        # 4: configuration, 64: usage (its --help); 1 "unexpected" is its own failure
        self.partsmith = Cli("pg-partsmith", argv or ["false"], frozenset({4, 64}), False)
        for name, why in (
            ("pg_partman", self.partman_missing),
            ("pg-partsmith", self.partsmith_missing),
        ):
            log(f"{name}: {'available' if why is None else 'UNAVAILABLE: ' + why}")

    def size(self, key: str) -> float:
        full, smoke = SIZES[key]
        override = getattr(self.args, key, None)
        if override is not None:
            return float(override)
        return smoke if self.smoke else full

    def write(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def compare(
        self, scenario: str, contenders: list[Contender], runs: int | None = None
    ) -> Result:
        runs = self.runs if runs is None else runs
        live = [c for c in contenders if c.available is None]
        res = Result(
            scenario,
            [c.name for c in contenders],
            {c.name: [] for c in contenders},
            {c.name: c.available for c in contenders if c.available is not None},
            {c.name: [] for c in contenders},
        )
        log(f"{scenario}: {runs} run(s) x {len(live)} contender(s)")
        for i in range(runs):
            order = live[i % len(live) :] + live[: i % len(live)] if live else []
            for c in order:
                try:
                    state = c.setup() if c.setup else None
                    sample = c.run(state)
                except Exception as exc:  # the harness or a CLI usage error: rot
                    msg = f"{type(exc).__name__}: {exc}"
                    if not isinstance(exc, Rot):
                        msg += "\n" + traceback.format_exc(limit=4)
                    log(f"CRASH {scenario} / {c.name}: {msg}")
                    res.crashes[c.name].append(msg)
                    continue
                sample.run = i
                res.samples[c.name].append(sample)
                if not sample.ok:
                    log(f"{scenario} / {c.name}: did not succeed: {sample.detail}")
        return res


# --- reporting ------------------------------------------------------------------------

# per scenario letter: (metric, header, format, lower is better); the first is the ratio's
COLUMNS: dict[str, list[tuple[str, str, str, bool]]] = {
    "a": [
        ("max_insert_ms", "max insert ms", "{:.0f}", True),
        ("p99_insert_ms", "p99 insert ms", "{:.1f}", False),
        ("maintenance_s", "maintenance s", "{:.2f}", True),
    ],
    "b": [
        ("ms_per_partition", "ms per partition", "{:.2f}", True),
        ("partitions", "partitions made", "{:.0f}", False),
    ],
    "c": [("ms", "ms", "{:.0f}", True)],
    "d": [
        ("rows_per_s", "rows/s", "{:,.0f}", True),
        ("max_insert_ms", "max insert ms (other partition)", "{:.0f}", True),
        ("p99_insert_ms", "p99 insert ms", "{:.1f}", False),
    ],
    "e": [("ms", "ms", "{:.0f}", True)],
}


def paired(res: Result, name: str, ref: str, key: str, *, any_ref: bool = False) -> list[float]:
    """Per-run ratios ``name / ref`` of metric ``key``: the two ran in the same
    run of the alternation, one after the other, under the same load.
    ``any_ref``: also the reference's runs that measured ``key`` but did not
    do the whole job (pg_partman making 2 of the 3 partitions asked for in a:
    its inserts' stall was measured all the same)."""
    mine = {s.run: s.metrics[key] for s in res.samples.get(name, []) if s.ok and key in s.metrics}
    theirs = {
        s.run: s.metrics[key]
        for s in res.samples.get(ref, [])
        if (s.ok or any_ref) and key in s.metrics
    }
    return [mine[r] / theirs[r] for r in sorted(mine.keys() & theirs.keys()) if theirs[r]]


def floor_of(res: Result) -> str | None:
    return next((n for n in res.contenders if "(floor)" in n and n not in res.unavailable), None)


def ratio_text(xs: Sequence[float]) -> str:
    return f"{median(xs):.2f}x ({min(xs):.2f}-{max(xs):.2f})" if xs else "-"


def render(res: Result) -> str:
    cols = COLUMNS[res.scenario[0]]
    lines = [f"#### {res.scenario}", ""]
    head = ["contender"]
    for _, h, _f, spread in cols:
        head += [f"{h} (median)", "min-max"] if spread else [f"{h} (median)"]
    head += [f"{cols[0][1]}: ratio to pgpart", "succeeded"]
    floor = floor_of(res)
    if floor is not None:
        head.append("paired ratio to the floor (median, min-max)")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    base_name = res.contenders[0]
    base = [s.metrics[cols[0][0]] for s in res.samples[base_name] if cols[0][0] in s.metrics]
    for name in res.contenders:
        row = [name]
        if name in res.unavailable:
            row += ["unavailable"] + [""] * (len(head) - 2)
            lines.append("| " + " | ".join(row) + " |")
            continue
        samples = res.samples[name]
        for key, _h, fmt, spread in cols:
            xs = [s.metrics[key] for s in samples if key in s.metrics]
            row.append(fmt.format(median(xs)) if xs else "-")
            if spread:
                row.append(f"{fmt.format(min(xs))}-{fmt.format(max(xs))}" if xs else "-")
        xs = [s.metrics[cols[0][0]] for s in samples if cols[0][0] in s.metrics]
        row.append(f"{median(xs) / median(base):.2f}" if xs and base and median(base) else "-")
        crashed = len(res.crashes[name])
        ok = sum(s.ok for s in samples)
        row.append(f"{ok}/{len(samples) + crashed}" + (f" ({crashed} crashed)" if crashed else ""))
        if floor is not None:
            row.append("" if name == floor else ratio_text(paired(res, name, floor, cols[0][0])))
        lines.append("| " + " | ".join(row) + " |")
    notes = []
    for name in res.contenders:
        if name in res.unavailable:
            notes.append(f"- {name}: unavailable: {res.unavailable[name]}")
        fails = sorted({s.detail for s in res.samples.get(name, []) if not s.ok and s.detail})
        for d in fails[:2]:
            notes.append(f"- {name} failed: {d.replace(chr(10), ' ')[:300]}")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


# The figures pgpart is held to: (scenario letter, words in the scenario's
# title, pgpart's contender, the reference contender, metric, goal).
GOALS: list[tuple[str, str, str, str, str, str]] = [
    ("a", "create", "pgpart maintain", "pg_partman run_maintenance (premake)", "max_insert_ms",
     "creation stall <= pg_partman's"),
    ("b", "bulk", "pgpart maintain", "DO block CREATE (LIKE) + ATTACH (floor)", "ms_per_partition",
     "<= 1.5x the floor"),
    ("b", "bulk", "pgpart maintain", "pg_partman create_parent", "ms_per_partition",
     "<= 1.0x pg_partman"),
    ("b", "bulk", "pgpart maintain", f"python + psycopg DO blocks {PY_FLOOR}", "ms_per_partition",
     "(reference)"),
    ("b", "bulk", f"python + psycopg DO blocks {PY_FLOOR}", "DO block CREATE (LIKE) + ATTACH (floor)",
     "ms_per_partition", "(reference: the start of a Python process)"),
    ("c", "check", "pgpart check", "psql catalog rows (floor)", "ms", "<= 1.5x"),
    ("c", "check", "pgpart check", f"python + psycopg catalog rows {PY_FLOOR}", "ms",
     "(reference)"),
    ("c", "check", f"python + psycopg catalog rows {PY_FLOOR}", "psql catalog rows (floor)", "ms",
     "(reference: what any Python client pays)"),
    ("c", "stats", "pgpart stats", "psql catalog rows + sizes (floor)", "ms", "<= 1.2x"),
    ("e", "start-up", "pgpart --version", "python -c pass (floor)", "ms", "<= 3x"),
]  # fmt: skip


def goals(results: Sequence[Result], baseline: str | None) -> str:
    """One table of the paired ratios pgpart is held to (and the --baseline
    checkout's, measured in the same runs)."""
    head = ["figure", "contender", "vs", "paired ratio (median, min-max)", "goal"]
    if baseline:
        head.insert(4, f"{baseline}: paired ratio")
    lines = ["#### paired ratios", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for letter, words, name, ref, key, goal in GOALS:
        for res in results:
            if res.scenario[0] != letter or words not in res.scenario or ref not in res.contenders:
                continue
            any_ref = letter == "a"
            ratio = ratio_text(paired(res, name, ref, key, any_ref=any_ref))
            row = [res.scenario, name, ref, ratio]
            if baseline:
                theirs = paired(res, f"{name} ({baseline})", ref, key, any_ref=any_ref)
                row.append(ratio_text(theirs) if name.startswith("pgpart") else "")
            lines.append("| " + " | ".join([*row, goal]) + " |")
    return "\n".join(lines) + "\n"


def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def cleanup(dsn: str) -> list[Result]:
    drop_all_tables(dsn)
    return []


SCENARIOS = {"a": scenario_a, "b": scenario_b, "c": scenario_c, "d": scenario_d, "e": scenario_e}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=5, help="runs per contender (default 5)")
    p.add_argument("--smoke", action="store_true", help="each scenario once, tiny sizes")
    p.add_argument("--json", type=Path, help="write every sample here")
    p.add_argument("--only", default="abcde", help="scenarios to run, e.g. 'ab' (default all)")
    p.add_argument("--partsmith-venv", default="/tmp/partsmith-venv")
    p.add_argument(
        "--no-install", action="store_true", help="install no peer; missing = unavailable"
    )
    p.add_argument(
        "--reader-s", dest="reader_s", type=float, help="override the reader's hold time"
    )
    p.add_argument(
        "--move-rows", dest="move_rows", type=int, help="override scenario d's row count"
    )
    p.add_argument(
        "--baseline",
        metavar="DIR",
        help="another pgpart checkout to run side by side in a, b, c and e (e.g. an older commit)",
    )
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    chosen = [s for s in args.only.replace(",", "") if s in SCENARIOS]
    started = time.perf_counter()
    results: list[Result] = []
    with running_cluster() as cluster, tempfile.TemporaryDirectory(prefix="pgpart-bench-") as tmp:
        env = Env(args, cluster.dsn, str(cluster.bindir), Path(tmp))
        pg_version = sql(cluster.dsn, "SELECT version()")[0]
        for key in chosen:
            for step in (partial(SCENARIOS[key], env), partial(cleanup, cluster.dsn)):
                try:
                    results += step()
                except Exception as exc:
                    log(f"CRASH scenario {key}: {exc!r}\n{traceback.format_exc(limit=6)}")
                    results.append(Result(f"{key}. (crashed)", [], {}, {}, {"runner": [repr(exc)]}))
    info = machine()
    cmd = "python tests/benchmarks/run.py" + (" --smoke" if args.smoke else f" --runs {args.runs}")
    if args.only != "abcde":
        cmd += f" --only {args.only}"
    if args.baseline:
        cmd += f" --baseline {args.baseline}"
    out = [
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, "
        f"{pg_version.split(' on ')[0]}, Python {info['python']}; "
        f"pg_partman {'unavailable' if env.partman_missing else '4.7'}, "
        f"{env.partsmith_version or 'pg-partsmith unavailable'}.",
        f"Command: `{cmd}` ({'smoke sizes, ' if args.smoke else ''}{env.runs} run(s) per contender,"
        " contenders alternating, starting contender rotating per run).",
        "",
    ]
    out += [render(r) + "\n" for r in results if r.contenders]
    out += [goals(results, env.baseline.name if env.baseline else None)]
    print("\n".join(out))
    crashes = {f"{r.scenario} / {n}": m for r in results for n, m in r.crashes.items() if m}
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": cmd,
                    "machine": {**info, "postgresql": pg_version},
                    "smoke": args.smoke,
                    "runs": env.runs,
                    "elapsed_s": time.perf_counter() - started,
                    "scenarios": [
                        {
                            "scenario": r.scenario,
                            "contenders": {
                                n: {
                                    "unavailable": r.unavailable.get(n),
                                    "crashes": r.crashes.get(n, []),
                                    "samples": [
                                        {"ok": s.ok, "run": s.run, "detail": s.detail, **s.metrics}
                                        for s in r.samples.get(n, [])
                                    ],
                                }
                                for n in r.contenders
                            },
                        }
                        for r in results
                    ],
                    "crashes": crashes,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    log(f"done in {time.perf_counter() - started:.0f}s")
    if crashes:
        log(f"{len(crashes)} contender(s) crashed: the runner needs fixing")
        for k, m in crashes.items():
            log(f"  {k}: {m[0][:500]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
