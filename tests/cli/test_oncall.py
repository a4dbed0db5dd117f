"""The on-call engineer's tool (issue 12): durations that cannot be misread,
exit codes exactly as the README's table says, Ctrl-C, the drop prompt,
progress on a terminal, output that fits 80 columns.

Behaviour that depends on a terminal runs the real CLI in a subprocess on a
pseudo-terminal (``pty``); the rest goes through the in-process runner.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.cli_helpers import NOW, cli, daily_table, monthly_table

ROOT = Path(__file__).resolve().parents[2]


def partitions(conn: Any, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY 1",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pgpart.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- 1. durations that cannot be misread -------------------------------------------


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["drop", "messages", "--older-than", "6m", "--yes"], "--older-than: '6m'"),
        (["maintain", "--lock-timeout", "5m"], "'5m'"),
    ],
)
def test_a_bare_m_is_refused_on_the_command_line(pg_conn, pg_dsn, args, where):
    monthly_table(pg_conn)
    run = cli([*args, "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 3, run
    assert where in run.stderr
    assert "ambiguous (minutes or months?)" in run.stderr and "min" in run.stderr
    assert run.stderr.count("\n") == 1 and run.stdout == ""
    assert len(partitions(pg_conn, "messages")) == 6


def test_a_bare_m_is_refused_in_the_config_and_the_environment(pg_conn, pg_dsn, tmp_path):
    monthly_table(pg_conn)
    config = write_config(
        tmp_path, '[[table]]\nname = "public.messages"\ninterval = "monthly"\nretention = "6m"\n'
    )
    run = cli(["maintain", "--dsn", pg_dsn, "--config", config, "--now", NOW])
    assert run.code == 3
    assert run.stderr == (
        f"pgpart: {config}:4: [[table]] \"public.messages\": retention: invalid duration: '6m':"
        " the unit 'm' is ambiguous (minutes or months?): write '6min' for minutes or '6mon'"
        " for months\n"
    )
    env = cli(["check", "--dsn", pg_dsn, "--now", NOW], env={"PGPART_LOCK_TIMEOUT": "1m"})
    assert env.code == 3 and "ambiguous" in env.stderr
    assert len(partitions(pg_conn, "messages")) == 6


def test_drop_older_than_shorter_than_one_interval_is_refused_unless_forced(pg_conn, pg_dsn):
    monthly_table(pg_conn)  # Sep .. Feb around NOW (2026-11-22)
    before = partitions(pg_conn, "messages")
    run = cli(["drop", "messages", "--older-than", "6 min", "--yes", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 3, run
    assert run.stderr == (
        "pgpart: --older-than 6min is shorter than one monthly partition: refused, it would"
        " drop every partition before the current one; pass --force if you mean it\n"
    )
    assert partitions(pg_conn, "messages") == before
    forced = cli(
        [
            "drop",
            "messages",
            "--older-than",
            "6 min",
            "--yes",
            "--force",
            "--dsn",
            pg_dsn,
            "--now",
            NOW,
        ]
    )
    assert forced.code == 0, forced
    assert "created 0, dropped 2, rows moved 0, failed 0" in forced.stdout
    assert partitions(pg_conn, "messages") == [p for p in before if p >= "messages_2026_11"]


def test_maintain_creates_but_refuses_a_retention_shorter_than_one_interval(
    pg_conn, pg_dsn, tmp_path
):
    monthly_table(pg_conn, months=range(-3, 1))  # Aug .. Nov: maintain has creating to do
    config = write_config(
        tmp_path,
        '[[table]]\nname = "public.messages"\ninterval = "monthly"\nretention = "6 min"\n',
    )
    check = cli(["check", "--dsn", pg_dsn, "--config", config, "--now", NOW, "-f", "json"])
    assert check.code == 3
    problem = {p["code"]: p for p in check.json()["tables"][0]["problems"]}["retention_too_short"]
    # spelled so that no one can misread it, with the fix
    assert problem["message"].startswith("retention 6min is shorter than one monthly partition")
    assert "`retention`" in problem["message"] and "pgpart maintain --force" in problem["message"]
    assert "retention_overdue" not in {p["code"] for p in check.json()["tables"][0]["problems"]}

    create = cli(["create", "messages", "--dry-run", "--dsn", pg_dsn, "--config", config])
    assert create.code == 0, create  # create applies no retention: nothing to refuse
    assert "retention_too_short" not in create.stdout

    run = cli(["maintain", "--dsn", pg_dsn, "--config", config, "--now", NOW])
    assert run.code == 3, run
    names = partitions(pg_conn, "messages")
    assert names[0] == "messages_2026_08"  # nothing dropped
    assert "messages_2027_02" in names  # but the premake horizon is there
    assert "created 3, dropped 0, rows moved 0, failed 0" in run.stdout
    assert "retention_too_short" in run.stdout

    forced = cli(["maintain", "--force", "--dsn", pg_dsn, "--config", config, "--now", NOW])
    assert forced.code == 0, forced
    assert partitions(pg_conn, "messages")[0] == "messages_2026_11"


def test_a_retention_of_one_interval_or_more_is_applied(pg_conn, pg_dsn, tmp_path):
    monthly_table(pg_conn, months=range(-3, 4))
    config = write_config(
        tmp_path,
        '[[table]]\nname = "public.messages"\ninterval = "monthly"\nretention = "1 mon"\n',
    )
    run = cli(["maintain", "--dsn", pg_dsn, "--config", config, "--now", NOW])
    assert run.code == 0, run
    assert partitions(pg_conn, "messages")[0] == "messages_2026_10"


# --- 2. exit codes ------------------------------------------------------------------


def test_no_command_is_a_usage_error():
    run = cli([])
    assert run.code == 3
    assert "Commands:" in run.stderr and run.stdout == ""


def test_help_is_ok():
    run = cli(["--help"])
    assert run.code == 0 and "Commands:" in run.stdout


def test_every_exit_code_of_the_readme_table_is_tested():
    """The README's table and this module agree: each code has its test here
    (130 and the prompt's 0 below, on a pseudo-terminal)."""
    from pgpart.errors import ExitCode

    assert {int(c) for c in ExitCode} == {0, 1, 2, 3, 130}


def test_check_exit_codes_0_1_2_3(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-1, 3))
    assert cli(["check", "--dsn", pg_dsn, "--now", NOW]).code == 0
    warn = cli(["check", "--dsn", pg_dsn, "--now", "2027-01-31T12:00:00Z"])
    assert warn.code == 1, warn
    assert cli(["check", "--dsn", pg_dsn, "--now", "2027-02-01T00:00:00Z"]).code == 2
    assert cli(["check", "nope", "--dsn", pg_dsn, "--now", NOW]).code == 3


def test_a_failed_writing_command_exits_2(pg_conn, pg_dsn, tmp_path):
    monthly_table(pg_conn, months=range(-1, 1))
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\nretry_for = "1s"\n')  # not the default 30 s of retries
    with psycopg.connect(pg_dsn) as locker:
        # ONLY: the partitions stay readable (a lock on them is another test's)
        locker.execute("LOCK TABLE ONLY messages IN ACCESS EXCLUSIVE MODE")
        run = cli(
            ["maintain", "--dsn", pg_dsn, "--now", NOW, "--lock-timeout", "20ms", "-q"],
            env={"PGPART_CONFIG": str(config), "COLUMNS": "80"},
        )
    assert run.code == 2, run
    assert run.stdout == ""
    # -q: the failure is said once, on stderr
    assert run.stderr.count("lock timeout on public.messages") == 1, run.stderr


# --- Ctrl-C, the drop prompt and progress: a real process on a terminal ---------------


class Term:
    """pgpart in a subprocess whose stdin, stdout and stderr are a pty."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80", **(env or {})}
        full_env.pop("PGPART_CONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgpart", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            cwd=ROOT,
        )
        os.close(slave)
        self.output = ""

    def read_until(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.output):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} in {self.output!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"no {pattern!r} before the end: {self.output!r}")
                self.output += chunk.decode("utf-8", "replace")
        return self.output

    def write(self, text: str) -> None:
        os.write(self.master, text.encode())

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        while True:  # the rest of the output
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.output += chunk.decode("utf-8", "replace")
        os.close(self.master)
        return code


@contextmanager
def term(args: list[str], env: dict[str, str] | None = None) -> Iterator[Term]:
    t = Term(args, env)
    try:
        yield t
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait()


def test_drop_prompt_lists_what_goes_and_no_drops_nothing_exit_0(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    pg_conn.execute(
        "INSERT INTO messages (created_at, body) SELECT '2026-09-10'::timestamptz, 'x'"
        " FROM generate_series(1, 1000)"
    )
    pg_conn.execute("ANALYZE messages")
    before = partitions(pg_conn, "messages")
    with term(["drop", "messages", "--older-than", "1 month", "--dsn", pg_dsn, "--now", NOW]) as t:
        t.read_until(r"\[y/N\]: ")
        t.write("n\n")
        code = t.wait()
    assert code == 0, t.output
    out = t.output.replace("\r\n", "\n")
    assert "public.messages_2026_09" in out and "2026-09-01 .. 2026-10-01" in out
    assert "~1,000" in out and "kB" in out  # rows and size of what would go
    assert "total: 1 partition(s)" in out
    assert "Drop these 1 partition(s)? [y/N]" in out
    assert "pgpart: not confirmed: nothing dropped" in out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert partitions(pg_conn, "messages") == before


def test_ctrl_c_at_the_drop_prompt_exits_130(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    before = partitions(pg_conn, "messages")
    with term(["drop", "messages", "--older-than", "1 month", "--dsn", pg_dsn, "--now", NOW]) as t:
        t.read_until(r"\[y/N\]: ")
        t.interrupt()
        code = t.wait()
    assert code == 130, t.output
    assert "interrupted (Ctrl-C): nothing dropped" in t.output
    assert "Aborted" not in t.output and "Traceback" not in t.output
    assert partitions(pg_conn, "messages") == before


def test_yes_at_the_drop_prompt_drops(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    with term(["drop", "messages", "--older-than", "1 month", "--dsn", pg_dsn, "--now", NOW]) as t:
        t.read_until(r"\[y/N\]: ")
        t.write("y\n")
        code = t.wait()
    assert code == 0, t.output
    assert "dropped 1" in t.output
    assert "messages_2026_09" not in partitions(pg_conn, "messages")


def test_ctrl_c_during_a_lock_wait_exits_130_and_changes_nothing(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-1, 1))
    before = partitions(pg_conn, "messages")
    with psycopg.connect(pg_dsn) as locker:
        locker.execute("LOCK TABLE ONLY messages IN ACCESS EXCLUSIVE MODE")
        holder = locker.info.backend_pid
        with term(["maintain", "--dsn", pg_dsn, "--now", NOW]) as t:
            # progress on the terminal: relation, holder pid, attempt n
            t.read_until(
                rf"waiting for a lock on public.messages held by pid {holder}, attempt \d+"
            )
            t.interrupt()
            code = t.wait()
        locker.rollback()
    assert code == 130, t.output
    out = t.output
    assert "pgpart: interrupted (Ctrl-C) during create messages_2026_12 of public.messages" in out
    assert "rolled back" in out and "0 action(s) finished before" in out
    assert "created 0, dropped 0, rows moved 0, failed 0 (interrupted" in out
    assert "Traceback" not in out and "psycopg" not in out and "canceling statement" not in out
    assert partitions(pg_conn, "messages") == before
    left = pg_conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgpart'"
    ).fetchone()
    assert left == (0,)


def test_ctrl_c_during_a_row_move_exits_130_and_loses_no_row(pg_conn, pg_dsn, tmp_path):
    daily_table(pg_conn, days=range(-3, 1))
    pg_conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    pg_conn.execute(
        "INSERT INTO events (ts, v) SELECT '2026-11-23 00:00+00'::timestamptz"
        " + (i % 86400) * interval '1 second', i FROM generate_series(1, 400000) i"
    )
    config = write_config(tmp_path, "[defaults]\nmove_batch_rows = 200\n")
    before = partitions(pg_conn, "events")
    command = ["maintain", "--dsn", pg_dsn, "--config", config, "--now", NOW]
    with term([*command, "--relocation", "drain"]) as t:
        t.read_until(r"drain: [0-9,]+ rows done")
        t.interrupt()
        code = t.wait(60)
    assert code == 130, t.output
    assert "interrupted (Ctrl-C) during create events_2026_11_23 of public.events" in t.output
    assert "Traceback" not in t.output and "psycopg" not in t.output
    assert partitions(pg_conn, "events") == before  # not attached: the rows are in transit
    rows = pg_conn.execute(
        "SELECT count(*), sum(v) FROM (SELECT v FROM ONLY events_default"
        " UNION ALL SELECT v FROM events_2026_11_23) r"
    ).fetchone()
    assert rows == (400000, 400000 * 400001 // 2)


def test_progress_is_not_shown_without_a_terminal_or_with_q(pg_conn, pg_dsn, tmp_path):
    daily_table(pg_conn, days=range(-3, 1))
    pg_conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    pg_conn.execute(
        "INSERT INTO events (ts, v) SELECT '2026-11-23 00:00+00', i FROM generate_series(1, 5000) i"
    )
    config = write_config(tmp_path, "[defaults]\nmove_batch_rows = 1000\n")
    run = cli(["maintain", "--dsn", pg_dsn, "--config", config, "--now", NOW])
    assert run.code == 0, run
    assert run.stderr == ""  # cron: no progress
    assert "done, 5,000 rows moved" in run.stdout
    assert "rows moved 5,000" in run.stdout
    with term(["maintain", "-q", "--dsn", pg_dsn, "--config", config, "--now", NOW]) as t:
        code = t.wait()
    assert code == 0 and t.output == ""


# --- hot standby: see tests/cli/test_standby.py ------------------------------------------


# --- 3. hints that name the fix ------------------------------------------------------


def test_unknown_interval_names_the_fix_each_command_has(pg_conn, pg_dsn):
    pg_conn.execute("CREATE TABLE audit_log (at timestamptz NOT NULL) PARTITION BY RANGE (at)")
    maintain = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    problems = {p["code"]: p["message"] for p in maintain.json()["tables"][0]["problems"]}
    message = problems["unknown_interval"]
    assert "--interval" not in message  # maintain has no such flag
    assert '`interval` in its [[table]] entry of pgpart.toml (name = "public.audit_log"' in message
    create = cli(["create", "audit_log", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    problems = {p["code"]: p["message"] for p in create.json()["tables"][0]["problems"]}
    message = problems["unknown_interval"]
    assert "pass --interval (e.g. `pgpart create public.audit_log --interval daily`)" in message


def test_default_rows_outside_the_window_get_the_create_command_that_moves_them(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-1, 4), default=True)  # Oct .. Feb
    pg_conn.execute(
        "INSERT INTO messages (created_at, body) VALUES ('2026-08-15', 'old'), ('2026-09-02', 'old')"
    )
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run
    assert "nothing to do" in run.stdout
    fix = "`pgpart create public.messages --from 2026-08-01 --to 2026-10-01`"
    assert "check now: WARNING" in run.stdout and fix in run.stdout.replace("\n    ", " ")
    create = cli(
        [
            "create",
            "public.messages",
            "--from",
            "2026-08-01",
            "--to",
            "2026-10-01",
            "--dsn",
            pg_dsn,
            "--now",
            NOW,
        ]
    )
    assert create.code == 0, create
    assert "rows moved 2" in create.stdout and "check now: OK" in create.stdout


@pytest.mark.parametrize(
    ("dsn", "hint"),
    [
        (
            "host=127.0.0.1:5999 connect_timeout=3",
            "host= takes no port: write host=127.0.0.1 port=5999",
        ),
        ("postgresql://127.0.0.1:notaport/db", "the port must be a number"),
        ("host=127.0.0.1 port=abc", "the port must be a number"),
    ],
)
def test_connection_mistakes_are_explained(dsn, hint):
    run = cli(["check", "--dsn", dsn])
    assert run.code == 3
    assert run.stderr.startswith("pgpart: cannot connect: ") and hint in run.stderr
    assert run.stderr.count("\n") == 1


def test_no_dsn_names_dsn_and_pgpart_dsn(tmp_path):
    env = {"PGPART_DSN": "", "PGHOST": str(tmp_path), "PGPORT": "5999", "PGSERVICE": ""}
    run = cli(["check"], env=env)
    assert run.code == 3
    assert "no DSN was given: pass --dsn" in run.stderr and "PGPART_DSN" in run.stderr


def test_stats_on_never_analyzed_partitions_suggests_exact_or_analyze(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    run = cli(["stats", "messages", "--dsn", pg_dsn], env={"COLUMNS": "80"})
    assert run.code == 0
    text = run.stdout.replace("\n    ", " ")
    assert "`pgpart stats --exact public.messages`" in text
    assert "`ANALYZE public.messages;`" in text
    assert all(len(line) <= 80 for line in run.stdout.splitlines()), run.stdout


# --- 5. width --------------------------------------------------------------------------


def test_check_and_maintain_fit_80_columns_and_wide_or_a_pipe_prints_whole_lines(pg_conn, pg_dsn):
    monthly_table(pg_conn, "livechat_messages_archive", months=range(-3, 0), default=True)
    pg_conn.execute("INSERT INTO livechat_messages_archive (created_at) VALUES ('2026-11-05')")
    narrow = cli(["check", "--dsn", pg_dsn, "--now", NOW], env={"COLUMNS": "80"})
    assert narrow.code == 2
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines()), narrow.stdout
    assert "missing_current" in narrow.stdout
    piped = cli(["check", "--dsn", pg_dsn, "--now", NOW])  # not a terminal, no COLUMNS
    assert any(len(line) > 80 for line in piped.stdout.splitlines())
    wide = cli(["check", "--wide", "--dsn", pg_dsn, "--now", NOW], env={"COLUMNS": "80"})
    assert wide.stdout == piped.stdout
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW], env={"COLUMNS": "80"})
    assert run.code == 0, run
    assert all(len(line) <= 80 for line in run.stdout.splitlines()), run.stdout
    assert "created 4, dropped 0, rows moved 1, failed 0" in run.stdout
    assert run.stdout.rstrip().endswith("check now: OK (1 ok)")


# --- 6. init and no config agree ----------------------------------------------------------


def test_init_writes_the_defaults_a_run_without_config_uses(pg_conn, pg_dsn, tmp_path):
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

    daily_table(pg_conn)
    monthly_table(pg_conn)
    out = tmp_path / "pgpart.toml"
    run = cli(["init", "--dsn", pg_dsn, "-o", str(out)])
    assert run.code == 0, run
    data = tomllib.loads(out.read_text())
    assert data["defaults"]["premake"] == 3
    assert all("premake" not in t for t in data["table"])  # no per-interval surprises
    with_config = cli(
        ["maintain", "--dry-run", "--dsn", pg_dsn, "--config", str(out), "--now", NOW]
    )
    without = cli(
        ["maintain", "--dry-run", "--dsn", pg_dsn, "--now", NOW], env={"PGPART_CONFIG": ""}
    )
    assert with_config.code == without.code == 0
    summary = [line for line in with_config.stdout.splitlines() if "would create" in line]
    assert summary == [line for line in without.stdout.splitlines() if "would create" in line]


def test_init_of_a_table_it_cannot_describe_exits_3_and_writes_nothing(pg_conn, pg_dsn, tmp_path):
    pg_conn.execute("CREATE TABLE empty_one (t timestamptz) PARTITION BY RANGE (t)")
    out = tmp_path / "pgpart.toml"
    run = cli(["init", "empty_one", "--dsn", pg_dsn, "-o", str(out)])
    assert run.code == 3, run
    assert "no partitions to infer the interval from" in run.stderr
    assert run.stderr.rstrip().endswith("pgpart: nothing written")
    assert not out.exists()


def test_a_misspelt_table_gets_a_did_you_mean_from_the_catalog(pg_conn, pg_dsn):
    monthly_table(pg_conn)
    daily_table(pg_conn)
    pg_conn.execute("CREATE TABLE plain_table (x int)")
    run = cli(["maintain", "mesages", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 3
    assert run.stderr == "pgpart: table mesages does not exist (did you mean public.messages?)\n"
    check = cli(["check", "publik.events", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert check.code == 3
    message = check.json()["tables"][0]["problems"][0]["message"]
    assert message == "table publik.events does not exist (did you mean public.events?)"
    stats = cli(["stats", "evnts", "--dsn", pg_dsn])
    assert stats.code == 3 and "(did you mean public.events?)" in stats.stderr
    nothing = cli(["check", "zzzzzz", "--dsn", pg_dsn, "--now", NOW])
    assert "did you mean" not in nothing.stdout  # no guess is better than a wild one


# --- 4. output that says what was done and what is left --------------------------------


def test_dry_run_prints_the_summary_first_and_the_sql_after(pg_conn, pg_dsn):
    daily_table(pg_conn, days=range(-3, 0))
    run = cli(["maintain", "--dry-run", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run
    lines = run.stdout.splitlines()
    assert lines[1] == "-- dry run: would create 4, drop 0; nothing was changed"
    assert lines[2] == (
        "-- public.events: create 4: events_2026_11_22 .. events_2026_11_25"
        " [2026-11-22, 2026-11-26)"
    )
    first_sql = next(i for i, line in enumerate(lines) if line == "BEGIN;")
    assert first_sql > 2 and "CREATE TABLE" in run.stdout
    assert pg_conn.execute("SELECT count(*) FROM pg_inherits").fetchone() == (3,)


def test_json_of_a_writing_command_has_the_summary_and_the_state_it_left(pg_conn, pg_dsn):
    daily_table(pg_conn, days=range(-3, 0))
    data = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "-f", "json"]).json()
    assert data["status"] == "ok"
    assert data["summary"] == {
        "dry_run": False,
        "created": 4,
        "dropped": 0,
        "detached": 0,
        "archived": 0,
        "finalized": 0,
        "rows_moved": 0,
        "failed": 0,
        "skipped": 0,
        "analyzed": 1,
        "not_analyzed": 0,
    }
    assert data["check_after"]["status"] == "ok"
    assert [a["done"] for a in data["actions"]] == [True] * 5  # 4 creates, then the analyze


def test_ctrl_c_while_a_drop_waits_for_its_lock_leaves_the_partition_attached(pg_conn, pg_dsn):
    """A drop (DETACH CONCURRENTLY, then DROP) is not one transaction: Ctrl-C is
    held back while it runs, but acted on at once while it still waits for its
    first lock (nothing of it done yet)."""
    monthly_table(pg_conn)  # no DEFAULT partition: the detach is CONCURRENTLY
    before = partitions(pg_conn, "messages")
    with psycopg.connect(pg_dsn) as locker:
        locker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        args = ["drop", "messages", "--older-than", "1 month", "--yes", "--dsn", pg_dsn]
        with term([*args, "--now", NOW]) as t:
            # the first lock the drop waits for: the partition's, to mark it
            t.read_until(
                r"waiting for a lock on public.messages(_2026_09)? held by pid \d+, attempt \d+"
            )
            t.interrupt()
            code = t.wait()
        locker.rollback()
    assert code == 130, t.output
    assert "interrupted (Ctrl-C) during drop messages_2026_09 of public.messages" in t.output
    assert partitions(pg_conn, "messages") == before
    pending = pg_conn.execute("SELECT count(*) FROM pg_inherits WHERE inhdetachpending").fetchone()
    assert pending == (0,)


def test_ctrl_c_during_a_drop_lets_it_finish_whole_then_stops(pg_conn, pg_dsn):
    """Ctrl-C arriving once a drop has begun: that partition is dropped whole
    (never left pending detach or detached), the next one is not touched."""
    from datetime import datetime, timezone
    from pathlib import Path as _Path

    from pgpart import Mode, Overrides, Request, apply, load_settings, open_connection, plan_changes
    from pgpart.core.durations import Duration

    monthly_table(pg_conn, months=range(-4, 2))  # Jul .. Dec
    settings = load_settings(Overrides(dsn=pg_dsn), {}, _Path("/nonexistent"))
    now = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    with open_connection(settings) as conn:
        plan = plan_changes(
            conn,
            settings,
            ["messages"],
            now,
            Request(Mode.DROP, drop_older_than=Duration(months=1), analyze=False),
        )
    assert [a.partition for a in plan.actions] == [
        "messages_2026_07",
        "messages_2026_08",
        "messages_2026_09",
    ]
    events = []

    def progress(event):
        events.append((event.kind, event.action.partition))
        if event.kind == "started" and len(events) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as the first drop begins

    with pytest.raises(KeyboardInterrupt):
        apply(settings, plan, progress=progress)
    assert events == [("started", "messages_2026_07"), ("finished", "messages_2026_07")]
    names = partitions(pg_conn, "messages")
    assert names[:2] == ["messages_2026_08", "messages_2026_09"]
    assert pg_conn.execute("SELECT to_regclass('messages_2026_07')").fetchone() == (None,)
    pending = pg_conn.execute("SELECT count(*) FROM pg_inherits WHERE inhdetachpending").fetchone()
    assert pending == (0,)


# --- 7. --help -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "stats", "init", "create", "maintain", "drop"])
def test_help_has_examples_and_named_metavars(command):
    run = cli([command, "--help"], env={"COLUMNS": "100"})
    assert run.code == 0
    examples = [line for line in run.stdout.splitlines() if line.strip().startswith("pgpart ")]
    assert 2 <= len(examples) <= 3, run.stdout
    assert "<str>" not in run.stdout and "<file>" not in run.stdout
    assert "--dsn DSN" in run.stdout


def test_drop_help_says_one_of_older_than_or_before_is_required():
    run = cli(["drop", "--help"], env={"COLUMNS": "100"})
    assert "Exactly one of --older-than DURATION or --before DATE is required." in run.stdout
    assert "--older-than DURATION" in run.stdout and "--before DATE" in run.stdout
    create = cli(["create", "--help"], env={"COLUMNS": "100"})
    assert "--from DATE" in create.stdout and "--to DATE" in create.stdout


@pytest.mark.parametrize(
    ("older_than", "refused"),
    [("27 days", True), ("28 days", False), ("30 days", False), ("4 weeks", False)],
)
def test_shorter_than_one_interval_means_shorter_than_every_month(
    pg_conn, pg_dsn, older_than, refused
):
    """Whatever the current month: '28 days' is as long as a February, not a typo."""
    monthly_table(pg_conn)
    for now in ("2026-12-15T12:00:00Z", "2027-02-15T12:00:00Z", NOW):
        args = ["drop", "messages", "--older-than", older_than, "--dry-run", "--now", now]
        run = cli([*args, "--dsn", pg_dsn])
        assert run.code == (3 if refused else 0), (now, run)
        said = "is shorter than one monthly partition: refused" in run.stderr
        assert said is refused, (now, run)
