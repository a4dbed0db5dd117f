"""The slow half of tests/db/test_retention_marks.py: maintain -v killed with
SIGKILL between each of retention's steps; nothing is ever left unreported, and
the next run finishes what it may."""

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

from tests.db.test_retention_marks import (
    EXPIRED,
    LEGAL_HOLD,
    build,
    check,
    comment,
    config,
    leftover_reports,
    maintain,
    rows,
    state,
)
from tests.support.cli_helpers import NOW

# --- killed between the steps --------------------------------------------------------------

JULY = '"public"."messages_2026_07"'
# Where maintain -v is killed: the statement its log shows (written just
# before it is sent). The claim's comment says "phase": "detached".
POINTS = {
    "intent": f'ALTER TABLE {JULY} ADD CONSTRAINT "pgpart_mark"',
    "before_detach": "SET lock_timeout",
    "detach": f"DETACH PARTITION {JULY} CONCURRENTLY",
    "after_detach": "RESET lock_timeout",
    "claim": '"phase": "detached"',
    "drop": f"DROP TABLE {JULY}",
}


def killed_at(dsn: str, cfg: Path, marker: str, nth: int, cwd: Path) -> bool:
    """Run maintain -v until its log shows ``marker`` the ``nth`` time, then
    SIGKILL it; whether it was killed (else it finished first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGPART_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgpart", "maintain", "--dsn", dsn, "--config", str(cfg),
         "--now", NOW, "-v"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
    )  # fmt: skip
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
    """Wait for the killed run's sessions to end (and roll back)."""
    for _ in range(200):
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgpart'"
        ).fetchone()
        if row is not None and row[0] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the killed run's sessions did not end")


def nothing_unreported(conn: psycopg.Connection[Any], dsn: str, cfg: Path) -> dict[str, str]:
    """Every expired partition is attached (pending: reported), gone, or
    standalone and reported as detached_leftover; its rows are intact."""
    states = {name: state(conn, name) for name in EXPIRED}
    problems = check(dsn, cfg)
    for name, where in states.items():
        if where == "standalone":
            assert leftover_reports(problems, name), (name, problems)
        if where == "pending":
            assert any(p["code"] == "pending_detach" and name in p["message"] for p in problems)
        if where != "gone":
            assert rows(conn, name) == (100 if name == EXPIRED[0] else 247)
        if where != "gone" and name == EXPIRED[0]:
            assert comment(conn, name) == LEGAL_HOLD
    return states


@pytest.mark.parametrize("point", list(POINTS))
def test_killed_between_the_steps_leaves_nothing_unreported(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, point: str
) -> None:
    build(pg_conn)
    cfg = config(tmp_path)
    assert killed_at(pg_dsn, cfg, POINTS[point], 1, tmp_path), f"never reached {point}"
    settle_down(pg_conn)
    at_kill = nothing_unreported(pg_conn, pg_dsn, cfg)
    # The next run finishes what it may; what it may not (a table it did not
    # see itself detach) stays, reported.
    run = maintain(pg_dsn, cfg)
    assert "Traceback" not in run.stderr
    after = nothing_unreported(pg_conn, pg_dsn, cfg)
    # SIGKILL lands a few statements after the marker is read, further on a
    # busy machine: a killed run that had begun on the next partition too
    # leaves it as the later points leave the first.
    if at_kill[EXPIRED[1]] == "attached":
        assert after[EXPIRED[1]] == "gone", (point, after, run.stdout, run.stderr)
    else:
        assert after[EXPIRED[1]] in ("gone", "standalone"), (point, at_kill, after)
    # Killed before the detach (July still attached when the kill landed:
    # it lands a few statements after the marker, further on a busy
    # machine), or after the claim: the next run finishes July.
    before_detach = point in ("intent", "before_detach") and at_kill[EXPIRED[0]] == "attached"
    if before_detach or point == "drop":
        assert after[EXPIRED[0]] == "gone", (point, at_kill, after, run.stdout, run.stderr)
        if after[EXPIRED[1]] == "gone":  # else that one is reported, as it must be
            assert run.code == 0, run.stdout + run.stderr
    else:
        assert after[EXPIRED[0]] in ("gone", "standalone"), (point, at_kill, after)
