"""The test harness itself: the throwaway cluster and the per-test databases."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devcluster import (
    ENV_DSN,
    ENV_PGBIN,
    Cluster,
    ClusterError,
    Server,
    default_parent,
    find_bindir,
    server_for_dsn,
    start_cluster,
)

REPO = Path(__file__).resolve().parents[2]
# `python -m devcluster` in a child: devtools/ (not in the wheel) and this checkout.
DEVCLUSTER_PATH = os.pathsep.join([str(REPO / "devtools"), str(REPO)])


def _uids_of(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no Uid line for pid {pid}")


def _gone_or_zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


@pytest.fixture
def reachable_tmp() -> Iterator[Path]:
    """A temp dir the server's OS user can traverse (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="pgpart-test-", dir=default_parent()))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_server_answers(pg_conn: psycopg.Connection, pg_server: Server) -> None:
    row = pg_conn.execute("SELECT version()").fetchone()
    assert row is not None and str(row[0]).startswith("PostgreSQL ")
    assert pg_conn.info.server_version == pg_server.version_num


def test_server_does_not_run_as_root(
    pg_cluster_control: Cluster, pg_conn: psycopg.Connection
) -> None:
    expected = (
        pwd.getpwnam(pg_cluster_control.os_user).pw_uid if os.geteuid() == 0 else os.geteuid()
    )
    assert expected != 0
    row = pg_conn.execute("SELECT pg_backend_pid(), current_setting('data_directory')").fetchone()
    assert row is not None
    backend_pid, data_directory = int(row[0]), Path(str(row[1]))
    postmaster_pid = int((data_directory / "postmaster.pid").read_text().split()[0])
    assert _uids_of(backend_pid) == [expected] * 4
    assert _uids_of(postmaster_pid) == [expected] * 4
    assert data_directory.stat().st_uid == expected
    assert data_directory == pg_cluster_control.datadir


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_gets_a_fresh_database(pg_conn: psycopg.Connection, attempt: int) -> None:
    # Whichever instance runs second would see the first one's table if the
    # database were shared.
    row = pg_conn.execute("SELECT to_regclass('public.leftover')").fetchone()
    assert row == (None,)
    pg_conn.execute("CREATE TABLE leftover (attempt int)")
    pg_conn.execute("INSERT INTO leftover VALUES (%s)", (attempt,))
    tables = pg_conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    ).fetchone()
    assert tables == (1,)


def test_database_is_dropped_after_the_test(pg_server: Server, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    name = str(row[0])
    assert name.startswith("t")
    with psycopg.connect(pg_server.admin_dsn) as admin:
        all_dbs = {r[0] for r in admin.execute("SELECT datname FROM pg_database")}
    assert name in all_dbs
    # No database from an earlier test of this session is still there.
    prefix = name.split("_", 1)[0] + "_"
    assert [d for d in all_dbs if d.startswith(prefix)] == [name]


def test_password_auth_over_tcp(
    pg_cluster_control: Cluster,
    pg_conn: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    role = f"pgpart_pw_{os.getpid()}"
    dbname = pg_conn.info.dbname
    pg_conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 's3cret'")
    try:
        good = pg_cluster_control.dsn_for(dbname, user=role, password="s3cret")
        with psycopg.connect(good) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        bad = pg_cluster_control.dsn_for(dbname, user=role, password="wrong")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(bad)
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(pg_cluster_control.dsn_for(dbname, user=role))
    finally:
        pg_conn.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart(pg_cluster_control: Cluster, pg_dsn: str, mode: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as before:
        started = before.execute("SELECT pg_postmaster_start_time()").fetchone()
        pg_cluster_control.restart(mode)
        with pytest.raises(psycopg.OperationalError):
            before.execute("SELECT 1")
    with psycopg.connect(pg_dsn, autocommit=True) as after:
        restarted = after.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert started is not None and restarted is not None
    assert restarted[0] > started[0]


def test_stop_and_start(pg_cluster_control: Cluster, pg_dsn: str) -> None:
    pg_cluster_control.stop()
    assert not pg_cluster_control.is_running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_dsn, connect_timeout=5)
    pg_cluster_control.stop()  # stopping a stopped server is a no-op
    pg_cluster_control.start()
    assert pg_cluster_control.is_running()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_restart_rejects_unknown_mode(pg_cluster_control: Cluster) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        pg_cluster_control.restart("sudden")


def _fake_bindir(path: Path, programs: tuple[str, ...] = ("initdb", "pg_ctl", "postgres")) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in programs:
        prog = path / name
        prog.write_text("#!/bin/sh\nexit 1\n")
        prog.chmod(0o755)
    return path


def test_find_bindir_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = _fake_bindir(tmp_path / "bin")
    monkeypatch.setenv(ENV_PGBIN, str(bindir))
    assert find_bindir() == bindir.resolve()


def test_find_bindir_explicit_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = _fake_bindir(tmp_path / "bin")
    monkeypatch.setenv(ENV_PGBIN, str(tmp_path / "bogus"))
    assert find_bindir(bindir) == bindir.resolve()
    assert find_bindir(str(bindir)) == bindir.resolve()


def test_find_bindir_bogus_env_is_a_helpful_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PGBIN, str(tmp_path / "bogus"))
    with pytest.raises(ClusterError) as info:
        find_bindir()
    message = str(info.value)
    assert str(tmp_path / "bogus") in message
    assert "install PostgreSQL" in message
    assert ENV_PGBIN in message
    assert ENV_DSN in message


def test_find_bindir_names_the_missing_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = _fake_bindir(tmp_path / "bin", ("initdb", "postgres"))
    monkeypatch.setenv(ENV_PGBIN, str(bindir))
    with pytest.raises(ClusterError, match="lacks pg_ctl"):
        find_bindir()


def test_find_bindir_default_finds_the_session_binaries(
    pg_cluster_control: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.environ.get(ENV_PGBIN):
        assert find_bindir() == pg_cluster_control.bindir
    monkeypatch.delenv(ENV_PGBIN, raising=False)
    found = find_bindir()
    assert all((found / p).is_file() for p in ("initdb", "pg_ctl", "postgres"))


def test_failed_start_reports_the_log_and_leaves_nothing(
    pg_cluster_control: Cluster, reachable_tmp: Path
) -> None:
    basedir = reachable_tmp / "cluster"
    with pytest.raises(ClusterError) as info:
        start_cluster(basedir, pg_cluster_control.bindir, settings={"shared_buffers": "bogus"})
    assert 'invalid value for parameter "shared_buffers"' in str(info.value)
    assert not basedir.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_unreachable_binaries_are_a_helpful_error(
    reachable_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Like a wheel's binaries under /root/.pyenv: fine for root, out of reach for the server.
    private = reachable_tmp / "private"
    bindir = _fake_bindir(private / "bin")
    private.chmod(0o700)
    monkeypatch.delenv(ENV_PGBIN, raising=False)
    with pytest.raises(ClusterError, match=f"cannot enter {private}, on the way to"):
        start_cluster(reachable_tmp / "cluster", bindir)
    assert not (reachable_tmp / "cluster").exists()


def test_start_refuses_a_non_empty_dir(reachable_tmp: Path) -> None:
    (reachable_tmp / "something").write_text("x")
    with pytest.raises(ClusterError, match="not an empty directory"):
        start_cluster(reachable_tmp)
    assert (reachable_tmp / "something").exists()


def test_server_for_dsn(pg_server: Server) -> None:
    server = server_for_dsn(pg_server.admin_dsn)
    assert server.version_num == pg_server.version_num
    assert server.cluster is None


def test_server_for_dsn_error_hides_the_password() -> None:
    with pytest.raises(ClusterError) as info:
        server_for_dsn("host=127.0.0.1 port=1 user=nobody password=hunter2 connect_timeout=2")
    assert "hunter2" not in str(info.value)
    assert "port=1" in str(info.value)


def test_cli_start_and_stop(pg_cluster_control: Cluster, reachable_tmp: Path) -> None:
    # Long enough that the unix socket cannot live inside it (sun_path is 108 bytes).
    basedir = reachable_tmp / ("d" * 100)
    env = {**os.environ, "PYTHONPATH": DEVCLUSTER_PATH, ENV_PGBIN: str(pg_cluster_control.bindir)}
    started = subprocess.run(
        [sys.executable, "-m", "devcluster", "start", str(basedir)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    dsn = started.stdout.strip()
    state = json.loads((basedir / "devcluster.json").read_text())
    sockdir = Path(state["sockdir"])
    try:
        assert not sockdir.is_relative_to(basedir)
        postmaster_pid = int((basedir / "data" / "postmaster.pid").read_text().split()[0])
        # The server outlived the command that started it.
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_setting('port')::int").fetchone() == (
                state["port"],
            )
    finally:
        stopped = subprocess.run(
            [sys.executable, "-m", "devcluster", "stop", str(basedir)],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
    assert stopped.returncode == 0, stopped.stderr
    assert not basedir.exists()
    assert not sockdir.exists()
    deadline = time.monotonic() + 10
    while not _gone_or_zombie(postmaster_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone_or_zombie(postmaster_pid)
