"""Bad input: one clear line on stderr, the right exit code, no traceback,
never a password."""

from __future__ import annotations

import socket

import pytest

from tests.support.cli_helpers import NOW, cli, monthly_table


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_one_clean_line(run, code: int) -> str:
    assert run.code == code, (run.code, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("pgpart: ")
    line: str = lines[0]
    return line


@pytest.mark.parametrize("command", [["check"], ["stats"], ["maintain"], ["init", "-o", "-"]])
def test_closed_port(command):
    run = cli([*command, "--dsn", f"host=127.0.0.1 port={free_port()} connect_timeout=3"])
    line = assert_one_clean_line(run, 3)
    assert "cannot connect" in line


def test_unknown_host():
    run = cli(["check", "--dsn", "host=no-such-host.invalid connect_timeout=3"])
    assert "cannot connect" in assert_one_clean_line(run, 3)


def test_bad_dsn_syntax():
    run = cli(["check", "--dsn", "host=x port"])
    assert "invalid DSN" in assert_one_clean_line(run, 3)


def test_wrong_password_is_never_echoed(pg_conn, pg_server):
    secret = "Sup3r-S3cret-Pa55"
    # Roles are cluster-wide: unique per run, and dropped whatever happens,
    # so that a second run against the same PGPART_TEST_DSN server passes.
    user = f"pw_user_{pg_conn.info.backend_pid}"
    pg_conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD 'right-password'")
    try:
        host, port = _host_port(pg_server.admin_dsn)
        dbname = pg_conn.info.dbname
        for dsn in (
            f"host={host} port={port} dbname={dbname} user={user} password={secret}",
            f"postgresql://{user}:{secret}@{host}:{port}/{dbname}",
        ):
            for args in (["check"], ["check", "-v"], ["maintain", "-v"], ["stats", "-f", "json"]):
                run = cli([*args, "--dsn", dsn])
                line = assert_one_clean_line(run, 3)
                assert "password authentication failed" in line
                assert secret not in run.stdout + run.stderr
    finally:
        pg_conn.execute(f"DROP ROLE {user}")


def _host_port(dsn: str) -> tuple[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    return str(params.get("host", "127.0.0.1")), str(params.get("port", "5432"))


def test_unknown_table_exit_3(pg_conn, pg_dsn):
    run = cli(["create", "no_such_table", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 3
    assert "no_such_table" in run.stdout + run.stderr
    assert "nothing to do" not in run.stdout


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[[table]]\nname = 'messages'\nintervl = 'daily'\n", "did you mean 'interval'"),
        ("[defaults]\npremake = -1\n", "premake"),
        ("[defaults]\npremake = '3'\n", "premake"),
        ("[[table]]\nname = 'messages'\ninterval = 'fortnightly'\n", "fortnightly"),
        ("[defaults]\ntimezone = 'Mars/Olympus'\n", "Mars/Olympus"),
        ("[[table]]\nname = 'messages'\nretention = '90 dayz'\n", "90 dayz"),
        ("[defaults\npremake = 3\n", "line 1"),
    ],
)
def test_bad_config(pg_dsn, tmp_path, toml, needle):
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text(toml)
    run = cli(["check", "--dsn", pg_dsn, "--config", str(cfg)])
    line = assert_one_clean_line(run, 3)
    assert str(cfg.name) in line
    assert needle in line


def test_missing_config_file(pg_dsn, tmp_path):
    run = cli(["check", "--dsn", pg_dsn, "--config", str(tmp_path / "nope.toml")])
    assert "nope.toml" in assert_one_clean_line(run, 3)


def test_bad_lock_timeout_env(pg_dsn):
    run = cli(["maintain", "--dsn", pg_dsn], env={"PGPART_LOCK_TIMEOUT": "soon"})
    assert "PGPART_LOCK_TIMEOUT" in assert_one_clean_line(run, 3)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from", "2027-01-01", "--to", "2026-01-01"], "is not before"),
        (["--from", "2026-02-30"], "--from"),
        (["--to", "next tuesday"], "--to"),
        (["--interval", "fortnightly"], "--interval"),
    ],
)
def test_bad_create_arguments(pg_conn, pg_dsn, args, needle):
    monthly_table(pg_conn)
    run = cli(["create", "messages", "--dsn", pg_dsn, *args])
    assert needle in assert_one_clean_line(run, 3)


def test_drop_needs_a_terminal_or_yes(pg_conn, pg_dsn):
    monthly_table(pg_conn, months=range(-6, 3))
    run = cli(["drop", "messages", "--older-than", "2 months", "--dsn", pg_dsn, "--now", NOW])
    assert "--yes" in assert_one_clean_line(run, 3)
    assert (
        pg_conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass"
        ).fetchone()[0]
        == 9
    )


@pytest.mark.parametrize(
    "args",
    [["--older-than", "soon"], ["--older-than", "-3 days"], ["--before", "yesterday-ish"], []],
)
def test_bad_drop_arguments(pg_conn, pg_dsn, args):
    monthly_table(pg_conn)
    run = cli(["drop", "messages", "--dsn", pg_dsn, "--yes", *args])
    assert_one_clean_line(run, 3)


def test_version_is_fast_path():
    run = cli(["--version"])
    assert run.code == 0
    assert run.stdout.startswith("pgpart ")
