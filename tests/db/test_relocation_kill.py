"""Issue 20: a run killed at any point loses nothing, and the next run
finishes the work.

`pgpart maintain --relocation drain -v` (a real process) relocates 60,000
DEFAULT rows of tomorrow in batches of 5,000 (the database has a
publication, so the moved rows are republished too) and is killed with
SIGKILL when its log shows it reaching one step of the procedure: making
the standalone partition, a batch, VACUUM, the ATTACH, a republish batch,
removing the mark; or, under a settle, taking the rows aside. After the
kill every row is still somewhere (the parent, or the marked table in
transit), `check` says what is in progress, and the next `maintain`
finishes: the rows are exactly those of before, in their partition, and
no constraint or table of pgpart's is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.db.test_relocation_apps import build, checksum, leftovers, partitions
from tests.support.cli_helpers import NOW

CONFIG = """\
[defaults]
move_batch_rows = 5000

[[table]]
name = "public.ev"
interval = "daily"
premake = 3
"""
NEW = '"public"."ev_2026_11_23"'
POINTS = {
    "transit": (f"CREATE TABLE {NEW} (LIKE", 1),
    "batch": ('WITH moved AS (DELETE FROM ONLY "public"."ev_default"', 3),
    "vacuum": ('VACUUM (INDEX_CLEANUP ON) "public"."ev_default"', 1),
    "attach": (f"ATTACH PARTITION {NEW}", 1),
    "republish": (f"LOCK TABLE {NEW} IN SHARE ROW EXCLUSIVE MODE", 2),
    "unmark": (f'ALTER TABLE {NEW} DROP CONSTRAINT IF EXISTS "pgpart_mark"', 1),
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PGPART_")}


def _command(dsn: str, tmp_path: Path, *extra: str) -> list[str]:
    config = tmp_path / "pgpart.toml"
    config.write_text(CONFIG)
    return [
        sys.executable, "-m", "pgpart", "maintain", "--dsn", dsn, "--config", str(config),
        "--now", NOW, "--lock-timeout", "300ms", *extra,
    ]  # fmt: skip


def killed_at(dsn: str, tmp_path: Path, marker: str, nth: int, *extra: str) -> bool:
    """Run maintain until its log shows ``marker`` the ``nth`` time, then
    SIGKILL it; whether it was killed (else it finished first)."""
    proc = subprocess.Popen(
        _command(dsn, tmp_path, "-v", *extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert proc.stderr is not None
    seen = 0
    for line in proc.stderr:
        if marker in line:
            seen += 1
            if seen == nth:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(30)
                return True
    proc.wait(60)
    return False


def settle_down(conn: psycopg.Connection[Any]) -> None:
    """Wait for the killed run's server sessions to end (and roll back)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgpart'"
            " AND pid <> pg_backend_pid()"
        ).fetchone()
        if row == (0,):
            return
        time.sleep(0.05)
    raise AssertionError("the killed run's sessions did not end")


def every_row(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """The table's rows plus those in transit in the standalone table."""
    table = conn.execute("SELECT to_regclass('public.ev_2026_11_23')").fetchone()
    standalone = (
        table is not None and table[0] is not None and "ev_2026_11_23" not in partitions(conn)
    )
    extra = " UNION ALL SELECT * FROM public.ev_2026_11_23" if standalone else ""
    row = conn.execute(
        f"SELECT count(*), coalesce(sum(hashtext(e::text)), 0) FROM (SELECT * FROM ev{extra}) e"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.mark.parametrize("point", [*POINTS, "settle"])
def test_killed_anywhere_the_next_run_finishes(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, point: str
) -> None:
    before = build(pg_conn, 60_000)
    pg_conn.execute("CREATE PUBLICATION pub FOR TABLE ev")  # the moved rows get republished
    if point == "settle":
        marker, nth, extra = "CREATE TEMPORARY TABLE", 1, ("--relocation", "lock")
    else:
        (marker, nth), extra = POINTS[point], ("--relocation", "drain")
    assert killed_at(pg_dsn, tmp_path, marker, nth, *extra), f"never reached {marker}"
    settle_down(pg_conn)
    assert every_row(pg_conn) == before

    check = subprocess.run(
        [sys.executable, "-m", "pgpart", "check", "ev", "--dsn", pg_dsn, "--now", NOW],
        capture_output=True, text=True, env=_env(),
    )  # fmt: skip
    assert "Traceback" not in check.stdout + check.stderr
    in_transit = pg_conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE conname = 'pgpart_mark'"
    ).fetchone()
    if in_transit != (0,):
        assert "relocation_in_progress" in check.stdout, check.stdout

    again = subprocess.run(
        _command(pg_dsn, tmp_path, *extra),
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert checksum(pg_conn) == before
    assert "ev_2026_11_23" in partitions(pg_conn)
    assert pg_conn.execute(
        "SELECT count(*) FROM ONLY ev_default WHERE ts < '2026-11-26'"
    ).fetchone() == (0,)
    assert leftovers(pg_conn) == []


def test_two_runs_draining_at_once_both_finish(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """Overlapping crons: batches take turns (the per-table advisory lock);
    the run that finds the partition attached by the other goes on from
    there (republish, or nothing left) instead of failing."""
    before = build(pg_conn, 60_000)
    pg_conn.execute("CREATE PUBLICATION pub FOR TABLE ev")
    runs = [
        subprocess.Popen(
            _command(pg_dsn, tmp_path, "--relocation", "drain"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], "\n=====\n".join(outputs)
    assert checksum(pg_conn) == before
    assert "ev_2026_11_23" in partitions(pg_conn)
    assert leftovers(pg_conn) == []
