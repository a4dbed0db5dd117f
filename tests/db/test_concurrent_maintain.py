"""Four `pgpart maintain` processes at once (cron + engineers): no errors,
one end state, no row lost."""

from __future__ import annotations

import subprocess
import sys

from tests.support.cli_helpers import NOW, daily_table, monthly_table


def test_four_maintain_processes_at_once(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-2, 0), default=True)
    daily_table(pg_conn, days=range(-2, 0))
    pg_conn.execute(
        "INSERT INTO messages (created_at, body) SELECT '2026-11-01'::timestamptz"
        " + i * interval '10 minutes', 'r' || i FROM generate_series(0, 4999) i"
    )
    before = pg_conn.execute("SELECT count(*), sum(id) FROM messages").fetchone()
    cmd = [
        sys.executable,
        "-m",
        "pgpart",
        "maintain",
        "--dsn",
        pg_dsn,
        "--now",
        NOW,
        "--lock-timeout",
        "100ms",
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out + err
        assert "already exists" not in out + err
    assert pg_conn.execute("SELECT count(*), sum(id) FROM messages").fetchone() == before
    names = pg_conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'messages'::regclass ORDER BY 1"
    ).fetchall()
    assert [n for (n,) in names] == [
        "messages_2026_09",
        "messages_2026_10",
        "messages_2026_11",
        "messages_2026_12",
        "messages_2027_01",
        "messages_2027_02",
        "messages_default",
    ]
    # No stray unattached table was left behind by a losing process.
    stray = pg_conn.execute(
        "SELECT count(*) FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE 'messages_%'"
        " AND NOT c.relispartition"
    ).fetchone()[0]
    assert stray == 0
    assert pg_conn.execute("SELECT count(*) FROM ONLY messages_default").fetchone()[0] == 0
    # A fifth run afterwards plans nothing.
    again = subprocess.run([*cmd, "--format", "json"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and '"actions": []' in again.stdout
