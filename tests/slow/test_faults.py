"""`pgpart maintain` under faults: its backend terminated at many points, the
server restarted mid-run, a concurrent detach cut short.

Whatever the fault, the run that meets it fails cleanly (a non-zero exit, one
line per failure, no traceback), loses no row, leaves no gap, no overlap and no
half-made table; the next run converges and the one after plans nothing.

pgpart runs as a subprocess, exactly as cron runs it. Faults are injected at
moments observed on the server (pg_stat_activity, the catalog), never after a
blind sleep: each trigger is deterministic, and every poll has a deadline.

What is correct after a lost connection: the action that was running fails
("lost the connection to the server"), the later creations of the same table
are not attempted (a partition past a failed one would leave a gap), and the
other tables go on over a new connection (pgpart reconnects); the run exits 2.
A connection lost while planning, before anything was done, exits 3.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devcluster import Cluster, Server
from tests.support.cli_helpers import NOW, daily_table, monthly_table

POLL_S = 0.002
DEADLINE_S = 30.0

# events: daily, 301 partitions to create (today + 300 ahead); messages: monthly, 13.
CONFIG = """\
[defaults]
retry_for = "5s"
lock_timeout = "200ms"
# The 50,000 rows of FAT_DAY move in one settle whatever its estimate: these
# tests kill runs in the middle of a move (the budget has its own tests).
relocation = "lock"

[[table]]
name = "public.events"
interval = "daily"
premake = {premake}

[[table]]
name = "public.messages"
interval = "monthly"
premake = 12
"""

# A day whose 50,000 rows wait in the DEFAULT partition: moving them takes long
# enough to be interrupted in the middle.
FAT_DAY = "2026-11-24"


# ---------------------------------------------------------------- running pgpart

# pg_stat_activity.query of a pgpart session that is applying actions (each
# create sends one of these; planning never does).
EXECUTING = (
    "query LIKE ANY (ARRAY['%attisdropped%', '%pg_advisory_xact_lock%',"
    " '%LOCK TABLE%', '%ATTACH PARTITION%'])"
)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PGPART_")}


def _pgpart_cmd(dsn: str, config: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pgpart",
        *args,
        "--dsn",
        dsn,
        "--config",
        str(config),
        "--now",
        NOW,
    ]


@dataclass(frozen=True)
class Done:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def actions(self) -> list[dict[str, Any]]:
        """The DDL actions (the ANALYZE after them: test_analyze)."""
        return [a for a in self.json()["actions"] if a["action"] != "analyze"]


def _pgpart(dsn: str, config: Path, *args: str) -> Done:
    res = subprocess.run(
        _pgpart_cmd(dsn, config, *args),
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        cwd=config.parent,
    )
    return Done(res.returncode, res.stdout, res.stderr)


def _wait_for(
    what: str, probe: Callable[[], bool], proc: subprocess.Popen[str] | None = None
) -> None:
    """Poll until ``probe()`` holds; fail (not hang) at the deadline or when
    ``proc`` ends first."""
    deadline = time.monotonic() + DEADLINE_S
    while not probe():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"pgpart ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def _pgpart_backends(admin: psycopg.Connection[Any], condition: str = "true") -> list[int]:
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgpart'"
        " AND datname = current_database() AND " + condition
    ).fetchall()
    return [r[0] for r in rows]


def _terminate_pgpart(admin: psycopg.Connection[Any]) -> list[int]:
    """pg_terminate_backend() on every pgpart session of this database; waits
    until they are gone."""
    # In the select list, not the WHERE clause, where the planner could call it
    # on rows the other conditions have not filtered out yet.
    rows = admin.execute(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'pgpart' AND datname = current_database()"
    ).fetchall()
    pids = [pid for pid, ok in rows if ok]
    _wait_for(
        "the terminated backends to exit",
        lambda: (
            not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchall()
        ),
    )
    return pids


def _finish(proc: subprocess.Popen[str]) -> Done:
    out, err = proc.communicate(timeout=120)
    return Done(proc.returncode, out, err)


def _start(dsn: str, config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _pgpart_cmd(dsn, config, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=config.parent,
    )


# ---------------------------------------------------------------- the tables


def _build(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(
        "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
        " body text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts);"
        " CREATE TABLE events_2026_11_20 PARTITION OF events"
        "  FOR VALUES FROM ('2026-11-20') TO ('2026-11-21');"
        " CREATE TABLE events_2026_11_21 PARTITION OF events"
        "  FOR VALUES FROM ('2026-11-21') TO ('2026-11-22');"
        " CREATE TABLE events_default PARTITION OF events DEFAULT;"
        # ~30 rows a day from before the first partition to past the horizon:
        # rows outside the ranges pgpart creates must stay in DEFAULT.
        " INSERT INTO events (ts, body) SELECT '2026-11-19'::timestamptz"
        "  + i * interval '47 min', 'e' || i FROM generate_series(0, 10500) i;"
        f" INSERT INTO events (ts, body) SELECT '{FAT_DAY}'::timestamptz"
        "  + (i * 1.7) * interval '1 s', repeat('x', i % 50) FROM generate_series(0, 49999) i"
    )
    monthly_table(conn, months=range(-2, 0), default=True)
    conn.execute(
        "INSERT INTO messages (created_at, body) SELECT '2026-10-15'::timestamptz"
        " + i * interval '3 h', 'm' || i FROM generate_series(0, 4000) i"
    )
    conn.execute("ANALYZE")


def _sums(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]]:
    out = {}
    for table in ("events", "messages"):
        row = conn.execute(
            f"SELECT count(*), coalesce(sum(hashtext(t::text)), 0) FROM {table} t"
        ).fetchone()
        assert row is not None
        out[table] = (row[0], row[1])
    return out


Bounds = dict[str, tuple[datetime, datetime]]


def _bounds(conn: psycopg.Connection[Any], table: str) -> Bounds:
    """Partition name -> [from, to), read back from pg_get_expr(relpartbound)."""
    rows = conn.execute(
        "SELECT c.relname::text, b[1]::timestamptz, b[2]::timestamptz"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,"
        " regexp_match(pg_get_expr(c.relpartbound, c.oid),"
        "  $$^FOR VALUES FROM \\('([^']*)'\\) TO \\('([^']*)'\\)$$) AS b"
        " WHERE i.inhparent = %s::regclass AND b IS NOT NULL",
        (table,),
    ).fetchall()
    return {name: (lo, hi) for name, lo, hi in rows}


def _planned(dsn: str, config: Path) -> dict[str, Bounds]:
    """Every partition the plan makes, per table, from a dry run."""
    dry = _pgpart(dsn, config, "maintain", "--dry-run", "--format", "json")
    assert dry.code == 0, dry.stdout + dry.stderr
    out: dict[str, Bounds] = {}
    for a in dry.actions():
        assert a["action"] == "create", a
        out.setdefault(a["table"], {})[a["partition"]] = (
            datetime.fromisoformat(a["from"]),
            datetime.fromisoformat(a["to"]),
        )
    return out


def _check_state(
    conn: psycopg.Connection[Any],
    before: dict[str, tuple[int, int]],
    planned: dict[str, Bounds],
    *,
    converged: bool = False,
) -> dict[str, int]:
    """What must hold after any run, interrupted or not; with ``converged``,
    also that every planned partition exists. Returns partitions per table."""
    assert _sums(conn) == before, "rows lost, duplicated or changed"
    counts = {}
    for table, key in (("events", "ts"), ("messages", "created_at")):
        bounds = _bounds(conn, table)
        ranges = sorted(bounds.values())
        for (lo1, hi1), (lo2, hi2) in itertools.pairwise(ranges):
            assert lo1 < hi1 and lo2 < hi2
            assert hi1 <= lo2, f"{table}: overlapping partitions {lo1}..{hi1} and {lo2}..{hi2}"
            # Creation stops at the first failure: what exists is contiguous.
            assert hi1 == lo2, f"{table}: a gap between {hi1} and {lo2}"
        for name, rng in bounds.items():
            want = planned[f"public.{table}"].get(name)
            assert want is None or want == rng, f"{name}: bounds {rng}, planned {want}"
        if converged:
            missing = set(planned[f"public.{table}"]) - set(bounds)
            assert not missing, f"{table}: planned partitions missing: {sorted(missing)}"
        # No row of a range a partition now covers is left in DEFAULT.
        row = conn.execute(
            f"SELECT count(*) FROM ONLY {table}_default WHERE {key} >= %s AND {key} < %s",
            (ranges[0][0], ranges[-1][1]),
        ).fetchone()
        assert row == (0,)
        # ATTACH attached (or built) the primary key's index on every partition.
        row = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass",
            (f"{table}_pkey",),
        ).fetchone()
        assert row == (len(bounds) + 1,), f"{table}: a partition without its primary key index"
        counts[table] = len(bounds)
    # No half-made table: every table in the schema is a parent or attached.
    stray = conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind = 'r' AND NOT relispartition"
    ).fetchall()
    assert stray == [], f"tables left unattached: {stray}"
    assert (
        conn.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint WHERE conname = 'pgpart_attach_bound'"
        ).fetchall()
        == []
    ), "a temporary bound constraint was left behind"
    pending = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhdetachpending").fetchone()
    assert pending == (0,)
    return counts


def _assert_interrupted(run: Done, *failed_tables: str) -> list[dict[str, Any]]:
    """Exit 2, no traceback; in each of ``failed_tables`` (default: events) one
    action lost its connection and the table's later creations were not
    attempted; every other table was done. Returns the failed actions."""
    failed_tables = failed_tables or ("public.events",)
    assert run.code == 2, f"exit {run.code}\n{run.stdout}\n{run.stderr}"
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    actions = run.actions()
    failed = [a for a in actions if a["error"] and not a["error"].startswith("not attempted")]
    assert [a["table"] for a in failed] == list(failed_tables), [a["error"] for a in failed]
    for bad in failed:
        assert "lost the connection to the server" in bad["error"], bad["error"]
        assert bad["partition"] in bad["error"] and "\n" not in bad["error"]
        mine = [a for a in actions if a["table"] == bad["table"]]
        at = mine.index(bad)
        assert all(a["done"] and not a["error"] for a in mine[:at])
        for a in mine[at + 1 :]:
            assert not a["done"]
            assert a["error"] == f"not attempted: an earlier create action on {bad['table']} failed"
    for a in actions:
        if a["table"] not in failed_tables:
            assert a["done"] and a["error"] is None, a
    return failed


def _write_config(tmp_path: Path, premake: int) -> Path:
    config = tmp_path / "pgpart.toml"
    config.write_text(CONFIG.format(premake=premake))
    return config


def _converge(
    conn: psycopg.Connection[Any],
    dsn: str,
    config: Path,
    before: dict[str, tuple[int, int]],
    planned: dict[str, Bounds],
) -> None:
    """A run with no fault finishes the job; the next one plans nothing."""
    rerun = _pgpart(dsn, config, "maintain", "--format", "json")
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    assert all(a["done"] and a["error"] is None for a in rerun.actions())
    counts = _check_state(conn, before, planned, converged=True)
    assert counts == {"events": 2 + len(planned["public.events"]), "messages": 2 + 13}
    # Rows outside every range stayed where they were.
    row = conn.execute("SELECT count(*) FROM ONLY events_default").fetchone()
    assert row is not None and row[0] > 0
    third = _pgpart(dsn, config, "maintain", "--format", "json")
    assert third.code == 0 and third.actions() == [], third.stdout + third.stderr


# ---------------------------------------------------------------- the tests


def test_maintain_killed_again_and_again_converges(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    _build(pg_conn)
    config = _write_config(tmp_path, premake=300)
    before = _sums(pg_conn)
    planned = _planned(pg_dsn, config)
    total = 2 + len(planned["public.events"])
    assert len(planned["public.events"]) == 301 and len(planned["public.messages"]) == 13
    admin = pg_conn
    log: list[str] = []

    def events_partitions() -> int:
        row = admin.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
        ).fetchone()
        assert row is not None
        return int(row[0]) - 1  # the DEFAULT

    # 1. While planning. To hold pgpart there, a session locks pg_inherits,
    # which the catalog read needs (any lock planning waits for would do: on
    # PostgreSQL 15.18 an ACCESS EXCLUSIVE on any partition does, see
    # test_contention.py).
    with psycopg.connect(pg_dsn) as locker:
        locker.execute("LOCK TABLE pg_catalog.pg_inherits IN ACCESS EXCLUSIVE MODE")
        proc = _start(pg_dsn, config, "maintain", "--format", "json")
        _wait_for(
            "pgpart to wait for a lock while planning",
            lambda: bool(_pgpart_backends(admin, "wait_event_type = 'Lock'")),
            proc,
        )
        assert _terminate_pgpart(admin)
        locker.rollback()
    run = _finish(proc)
    assert run.code == 3, run
    assert run.stdout == ""
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(
        "pgpart: lost the connection to the server:"
        " terminating connection due to administrator command"
    ), line
    assert _check_state(pg_conn, before, planned) == {"events": 2, "messages": 2}
    log.append(f"planning: exit {run.code}: {run.stderr.strip()}")

    # 2. In the middle of moving the 50,000 rows of FAT_DAY out of DEFAULT.
    # pgpart reconnects and goes on with messages, whose parent another session
    # holds in SHARE UPDATE EXCLUSIVE (as VACUUM or CREATE INDEX CONCURRENTLY
    # do): the new session is killed too, while it waits for that lock.
    fat = f"events_{FAT_DAY.replace('-', '_')}"
    with psycopg.connect(pg_dsn) as locker:
        locker.execute("LOCK TABLE ONLY messages IN SHARE UPDATE EXCLUSIVE MODE")
        proc = _start(pg_dsn, config, "maintain", "--format", "json")
        _wait_for(
            f"pgpart to move the rows of {fat}",
            lambda: bool(
                _pgpart_backends(
                    admin,
                    "state = 'active' AND query LIKE '%pgpart_stash%WITH moved AS%'"
                    f" AND query LIKE '%>= ''{FAT_DAY}%'",  # the stash of FAT_DAY's range
                )
            ),
            proc,
        )
        _terminate_pgpart(admin)
        _wait_for(
            "pgpart to reconnect and wait for the lock on messages",
            lambda: bool(
                _pgpart_backends(
                    admin, "wait_event_type = 'Lock' AND query LIKE '%LOCK TABLE%messages%'"
                )
            ),
            proc,
        )
        _terminate_pgpart(admin)
        locker.rollback()
    run = _finish(proc)
    moving, waiting = _assert_interrupted(run, "public.events", "public.messages")
    assert moving["partition"] == fat and waiting["partition"] == "messages_2026_11"
    assert _check_state(pg_conn, before, planned) == {"events": 4, "messages": 2}
    log.append(f"moving rows: exit {run.code}: {moving['error']}")
    log.append(f"reconnected, then waiting for a lock: exit {run.code}: {waiting['error']}")

    # 3. While it waits out a lock on the parent of events; messages, next,
    # is done over a new connection.
    with psycopg.connect(pg_dsn) as locker:
        locker.execute("LOCK TABLE ONLY events IN SHARE UPDATE EXCLUSIVE MODE")
        proc = _start(pg_dsn, config, "maintain", "--format", "json")
        _wait_for(
            "pgpart to wait for the lock on events",
            lambda: bool(
                _pgpart_backends(admin, "wait_event_type = 'Lock' AND query LIKE '%LOCK TABLE%'")
            ),
            proc,
        )
        _terminate_pgpart(admin)
        locker.rollback()
    run = _finish(proc)
    (bad,) = _assert_interrupted(run)
    assert bad["partition"] == fat
    assert _check_state(pg_conn, before, planned) == {"events": 4, "messages": 15}
    log.append(f"waiting for a lock: exit {run.code}: {bad['error']}")

    # 4. At various moments after the creations started, wherever pgpart is
    # then (a statement, a commit, between two actions); never later than 20
    # partitions before the end, so that there is always something to cut.
    for delay in (0.0, 0.05, 0.2, 0.5):
        proc = _start(pg_dsn, config, "maintain", "--format", "json")
        _wait_for(
            "pgpart to start creating",
            lambda: bool(_pgpart_backends(admin, EXECUTING)),
            proc,
        )
        fire = time.monotonic() + delay

        def fired(fire: float = fire) -> bool:
            return time.monotonic() >= fire or events_partitions() >= total - 20

        _wait_for(f"{delay} s to pass", fired, proc)
        seen = events_partitions()
        _terminate_pgpart(admin)
        # pgpart goes on creating between the count above and the kill (one
        # short transaction each, a few ms apart on a loaded machine): what
        # the kill may not do is let anything be created after it.
        at_kill = events_partitions()
        run = _finish(proc)
        (bad,) = _assert_interrupted(run)
        counts = _check_state(pg_conn, before, planned)
        assert seen <= at_kill == counts["events"], (delay, seen, at_kill, counts)
        log.append(
            f"after {delay} s ({counts['events']} partitions): exit {run.code}: {bad['error']}"
        )

    # 5. No fault: the job is finished, and the next run has nothing to do.
    _converge(pg_conn, pg_dsn, config, before, planned)
    print("\n".join(log))


def test_server_restart_in_the_middle_of_maintain(
    pg_cluster_control: Cluster, pg_dsn: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        _build(conn)
        config = _write_config(tmp_path, premake=150)
        before = _sums(conn)
        planned = _planned(pg_dsn, config)

        def events_partitions() -> int:
            row = conn.execute(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
            ).fetchone()
            assert row is not None
            return int(row[0]) - 1

        # Table format, -q: what cron would mail.
        proc = _start(pg_dsn, config, "maintain", "-q")
        _wait_for("40 partitions", lambda: events_partitions() >= 40, proc)
    pg_cluster_control.restart("fast")
    run = _finish(proc)
    assert run.code == 2, run
    assert "Traceback" not in run.stderr
    # -q: nothing on stdout; each failing table once on stderr (cron mail).
    assert run.stdout == ""
    failed = run.stderr.splitlines()
    # The action in flight lost its connection, and the table's later creations
    # were not attempted (counted on the same line); messages either reconnected
    # (done: not shown with -q) or found the server still restarting.
    assert failed and failed[0].startswith("pgpart: public.events: "), run.stderr
    assert "lost the connection to the server" in failed[0], run.stderr
    assert re.search(r"\(\d+ more actions not done\)$", failed[0]), failed[0]
    for line in failed[1:]:
        assert line.startswith("pgpart: public.messages: ") and "could not reconnect" in line, line
    print(f"\nrestart: exit {run.code}: {failed[0]}")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        _check_state(conn, before, planned)
        _converge(conn, pg_dsn, config, before, planned)


# ---------------------------------------------------------------- pending detach

RETENTION_CONFIG = """\
[defaults]
retry_for = "5s"
lock_timeout = "30s"

[[table]]
name = "public.logs"
interval = "daily"
premake = 3
retention = "50 days"
retention_mode = "{mode}"
"""


def _interrupt_a_concurrent_detach(
    conn: psycopg.Connection[Any], dsn: str, tmp_path: Path, mode: str
) -> tuple[Path, tuple[int, int]]:
    """logs: daily, no DEFAULT (so retention detaches CONCURRENTLY), two
    partitions past the retention; maintain is killed while its detach of the
    first waits for a reader's snapshot. Returns the config and logs_2026_10_01's
    (count, checksum)."""
    daily_table(conn, "logs", days=range(-52, 4))  # 2026-10-01 .. 2026-11-25
    conn.execute(
        "INSERT INTO logs (ts, v) SELECT '2026-10-01'::timestamptz + i * interval '1 h', i"
        " FROM generate_series(0, 24 * 56 - 1) i"
    )
    old = conn.execute("SELECT count(*), sum(hashtext(t::text)) FROM logs_2026_10_01 t").fetchone()
    assert old is not None and old[0] == 24
    config = tmp_path / "pgpart.toml"
    config.write_text(RETENTION_CONFIG.format(mode=mode))
    # A report that started before the detach: its snapshot may still see the
    # partition attached, so the detach's second phase waits for it to end.
    # It reads the recent days only (the old partitions pruned, not locked):
    # retention's mark on the partition it detaches waits for no reader.
    with psycopg.connect(dsn) as reader:
        reader.execute("SELECT count(*) FROM logs WHERE ts >= '2026-11-01'")
        proc = _start(dsn, config, "maintain", "--format", "json")
        _wait_for(
            "the concurrent detach to wait for the reader",
            lambda: bool(
                _pgpart_backends(
                    conn, "wait_event_type = 'Lock' AND query LIKE '%DETACH PARTITION%CONCURRENTLY'"
                )
            ),
            proc,
        )
        _terminate_pgpart(conn)
        run = _finish(proc)
        assert run.code == 2, run
        assert "Traceback" not in run.stderr
        first, second = run.actions()
        assert first["partition"] == "logs_2026_10_01" and not first["done"]
        assert "lost the connection to the server" in first["error"], first
        assert second["error"] == "not attempted: an earlier retention action on public.logs failed"
        assert _pending(conn, "logs_2026_10_01") is True
        # check says so, while the reader is still there.
        check = _pgpart(dsn, config, "check", "--format", "json")
        assert check.code == 1, check
        (table,) = check.json()["tables"]
        codes = [p["code"] for p in table["problems"]]
        # logs_2026_10_02, not attempted, is still there too.
        assert codes == ["pending_detach", "retention_overdue"], table["problems"]
        assert "logs_2026_10_01" in table["problems"][0]["message"]
        # The next run's FINALIZE waits for the same reader, which now reads
        # the half-detached partition too: killed there too, the detach stays
        # pending.
        reader.execute("SELECT count(*) FROM logs_2026_10_01")
        proc = _start(dsn, config, "maintain", "--format", "json")
        _wait_for(
            "the finalize to wait for the reader",
            lambda: bool(
                _pgpart_backends(
                    conn, "wait_event_type = 'Lock' AND query LIKE '%DETACH PARTITION%FINALIZE%'"
                )
            ),
            proc,
        )
        _terminate_pgpart(conn)
        run = _finish(proc)
        assert run.code == 2, run
        finalize, second = run.actions()
        # In drop mode the expired half-detached partition is dropped: its drop
        # step finalizes first (the statement killed here), then drops.
        expected = "drop" if mode == "drop" else "finalize_detach"
        assert finalize["action"] == expected and not finalize["done"]
        assert "lost the connection to the server" in finalize["error"], finalize
        assert second["error"] == "not attempted: an earlier retention action on public.logs failed"
        assert _pending(conn, "logs_2026_10_01") is True
        reader.rollback()
    return config, (old[0], old[1])


def _pending(conn: psycopg.Connection[Any], name: str) -> bool | None:
    row = conn.execute(
        "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(%s)", (name,)
    ).fetchone()
    return None if row is None else bool(row[0])


def _partition_names(conn: psycopg.Connection[Any], parent: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY 1",
        (parent,),
    ).fetchall()
    return [r[0] for r in rows]


def _check_is_clean(dsn: str, config: Path) -> None:
    check = _pgpart(dsn, config, "check", "--format", "json")
    assert check.code == 0, check
    assert check.json()["tables"][0]["problems"] == []


def test_an_interrupted_concurrent_detach_is_reported_then_finished(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, pg_server: Server, tmp_path: Path
) -> None:
    assert pg_server.version_num >= 140000, "DETACH ... CONCURRENTLY needs PostgreSQL 14"
    config, old = _interrupt_a_concurrent_detach(pg_conn, pg_dsn, tmp_path, "detach")
    # The next maintain finishes the detach (FINALIZE) and detaches the second.
    run = _pgpart(pg_dsn, config, "maintain", "--format", "json")
    assert run.code == 0, run
    finalize, second = run.actions()
    assert finalize["action"] == "finalize_detach" and finalize["done"], finalize
    assert any(s.endswith("FINALIZE") for s in finalize["sql"])
    assert second["partition"] == "logs_2026_10_02" and second["done"], second
    assert _pending(pg_conn, "logs_2026_10_01") is None
    names = _partition_names(pg_conn, "logs")
    assert names[0] == "logs_2026_10_03" and len(names) == 54
    # Detached, not dropped: every row is still there.
    assert (
        pg_conn.execute("SELECT count(*), sum(hashtext(t::text)) FROM logs_2026_10_01 t").fetchone()
        == old
    )
    _check_is_clean(pg_dsn, config)
    third = _pgpart(pg_dsn, config, "maintain", "--format", "json")
    assert third.code == 0 and third.actions() == [], third


def test_an_interrupted_retention_drop_is_dropped_by_the_next_run(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, pg_server: Server, tmp_path: Path
) -> None:
    assert pg_server.version_num >= 140000, "DETACH ... CONCURRENTLY needs PostgreSQL 14"
    config, _ = _interrupt_a_concurrent_detach(pg_conn, pg_dsn, tmp_path, "drop")
    run = _pgpart(pg_dsn, config, "maintain", "--format", "json")
    assert run.code == 0, run
    assert _pending(pg_conn, "logs_2026_10_01") is None
    _check_is_clean(pg_dsn, config)
    third = _pgpart(pg_dsn, config, "maintain", "--format", "json")
    assert third.code == 0 and third.actions() == [], third
    assert _partition_names(pg_conn, "logs")[0] == "logs_2026_10_03"
    assert not pg_conn.execute(
        "SELECT relname FROM pg_class WHERE relname IN ('logs_2026_10_01', 'logs_2026_10_02')"
    ).fetchall(), "retention drop left a detached partition behind"
