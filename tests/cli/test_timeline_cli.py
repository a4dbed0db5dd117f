"""check --timeline end to end: the seed incident on a real server, the
terminal's own width on a pseudo-terminal, ASCII under LANG=C, the fleet,
-q, and the formats it refuses. Exit codes are check's.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import psycopg

from tests.support.cli_helpers import NOW, cli, daily_table, monthly_table
from tests.support.fleet_helpers import UNREACHABLE, Databases, databases

__all__ = ["databases"]  # the fixture, used by name

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SEED_CONFIG = str(EXAMPLES / "pgpart.toml")
UTF8 = {"LC_ALL": "C.UTF-8"}


def seed(conn: Any) -> None:
    """examples/schema.sql: this month's partitions missing, rows in api_logs' DEFAULT."""
    conn.execute((EXAMPLES / "schema.sql").read_text(encoding="utf-8"))


def line_of(text: str, table: str) -> str:
    """The table's line (its name without "public." when names were shortened)."""
    names = (table + " ", table.removeprefix("public.") + " ")
    (line,) = [x for x in text.splitlines() if x.startswith(names)]
    return line


def now_columns(text: str) -> list[int]:
    """Where each scale marks now, in order."""
    mark = "▼" if "▼" in text else "v"
    return [x.rindex(mark) for x in text.splitlines() if x.startswith("now ")]


def since_covered(bar: str, column: int) -> set[str]:
    """What the bar shows from its last covered column before ``column`` through it."""
    head = bar[: column + 1]
    return set(head[head.rindex("█") + 1 :])


def test_the_seed_incident_in_one_look(pg_conn, pg_dsn):
    seed(pg_conn)
    args = ["check", "--timeline", "--dsn", pg_dsn, "--config", SEED_CONFIG]
    run = cli(args, env={"COLUMNS": "80", **UTF8})
    assert run.code == 2, run  # check's verdict: CRITICAL
    assert run.code == cli(["check", "--dsn", pg_dsn, "--config", SEED_CONFIG]).code
    lines = run.stdout.splitlines()
    assert all(len(x) <= 80 for x in lines), run.stdout
    assert lines[0].startswith("monthly, UTC")
    monthly, daily = now_columns(run.stdout)
    # Covered until this month (this day), then no partition (inserts fail), or
    # the rows that went to the DEFAULT instead.
    for table in ("public.messages", "public.livechat_messages"):
        assert since_covered(line_of(run.stdout, table), monthly) == {"░"}
    assert since_covered(line_of(run.stdout, "public.events"), daily) == {"░"}
    api_logs = line_of(run.stdout, "public.api_logs")
    assert since_covered(api_logs, monthly) == {"▚"} and api_logs.endswith(" in DEFAULT")
    assert all("CRITICAL" in line_of(run.stdout, t) for t in ("public.messages", "public.events"))
    # the horizon: messages keeps 3 months ahead, livechat_messages 6
    assert len(line_of(run.stdout, "public.livechat_messages")) > len(
        line_of(run.stdout, "public.messages")
    )
    assert "▚ rows in DEFAULT" in run.stdout
    assert lines[-1] == "CRITICAL: 4 critical"
    assert run.stderr == ""

    fixed = cli(["maintain", "-q", "--dsn", pg_dsn, "--config", SEED_CONFIG])
    assert fixed.code == 0, fixed
    after = cli(args, env={"COLUMNS": "80", **UTF8})
    assert after.code == 0
    assert "░" not in after.stdout and "▚" not in after.stdout
    assert after.stdout.splitlines()[-1] == "OK: 4 ok"
    assert cli([*args, "-q"], env=UTF8).stdout == ""


def test_ascii_when_the_locale_is_c(pg_conn, pg_dsn):
    seed(pg_conn)
    args = ["check", "--timeline", "--dsn", pg_dsn, "--config", SEED_CONFIG]
    run = cli(args, env={"COLUMNS": "80", "LC_ALL": "C"})
    assert run.code == 2
    assert run.stdout.isascii(), run.stdout
    assert line_of(run.stdout, "public.api_logs")[now_columns(run.stdout)[0]] == "D"


def test_other_formats_are_refused(pg_conn, pg_dsn):
    for fmt in ("json", "csv", "prometheus"):
        run = cli(["check", "--timeline", "--format", fmt, "--dsn", pg_dsn])
        assert run.code == 3
        assert run.stdout == ""
        assert run.stderr == (
            f"pgpart: --timeline draws for a terminal: it goes with --format table, not {fmt}\n"
        )


def test_unsupported_and_unknown_tables_get_a_note(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    pg_conn.execute("CREATE TABLE listed (k int) PARTITION BY LIST (k)")
    run = cli(["check", "--timeline", "--dsn", pg_dsn, "--now", NOW], env={"COLUMNS": "80"})
    assert run.code == 0, run  # a discovered table pgpart cannot handle is skipped, said
    assert "public.listed" in run.stdout and "unsupported_key" in run.stdout
    named = cli(["check", "--timeline", "messages", "nosuch", "--dsn", pg_dsn, "--now", NOW])
    assert named.code == 3
    assert "unknown_table: table nosuch does not exist" in line_of(named.stdout, "nosuch")


def test_many_databases_one_block_each(databases: Databases) -> None:
    def seed(c: psycopg.Connection[Any], i: int) -> None:
        monthly_table(c, months=range(-2, 4))
        daily_table(c)

    ok = databases.make(1, seed)
    bad = databases.make(1, lambda c, i: monthly_table(c, months=range(-3, -1)))
    args = ["check", "--timeline", "--now", NOW]
    members = [a for d in ok + bad + [UNREACHABLE] for a in ("--dsn", d)]
    run = cli([*args, *members], env={"COLUMNS": "80", **UTF8})
    assert run.code == 2, run  # the worst: CRITICAL over the unreachable member's UNKNOWN
    blocks = [x for x in run.stdout.splitlines() if x.startswith("database ")]
    assert len(blocks) == 3 and blocks[2].startswith("database 127.0.0.1:1/gone: UNKNOWN: ")
    assert all(len(x) <= 80 for x in run.stdout.splitlines())
    assert run.stdout.splitlines()[-1] == (
        "CRITICAL: 3 databases (1 not checked); tables: 2 ok, 1 critical"
    )
    fine = ok + databases.make(1, lambda c, i: monthly_table(c, months=range(-2, 4)))
    quiet = cli([*args, "-q", *[a for d in fine for a in ("--dsn", d)]])
    assert (quiet.code, quiet.stdout) == (0, "")
    one = cli([*args, "--dsn", bad[0]], env={"COLUMNS": "80", **UTF8})
    assert one.code == 2 and one.stdout.startswith("monthly, UTC")


# --- a real terminal ---------------------------------------------------------------------


def on_terminal(args: list[str], columns: int, env: dict[str, str]) -> tuple[int, str]:
    """pgpart on a pseudo-terminal of ``columns`` x 24, as a user runs it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    full = dict(os.environ)
    for name in ("COLUMNS", "PGPART_CONFIG", "PGPART_DSN", "LC_ALL", "LC_CTYPE"):
        full.pop(name, None)
    full |= {"PYTHONPATH": str(ROOT), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgpart", *args], stdin=slave, stdout=slave, stderr=slave, env=full
    )
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output for 30 s: {out!r}")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            chunk = b""
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(30), out.decode("utf-8").replace("\r\n", "\n")


def test_a_real_terminal_of_72_columns(pg_conn, pg_dsn):
    seed(pg_conn)
    args = ["check", "--timeline", "--dsn", pg_dsn, "--config", SEED_CONFIG]
    code, out = on_terminal(args, 72, {"LANG": "C.UTF-8"})
    assert code == 2, out
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= 72 and max(len(x) for x in lines) > 60, out
    assert "█" in out and "░" in out and "▚" in out
    code, out = on_terminal(args, 72, {"LANG": "C"})
    assert code == 2 and out.isascii() and "#" in out, out
