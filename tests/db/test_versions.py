"""Running the suite on several PostgreSQL majors: finding them, and what must agree.

.ci/run runs the whole suite on PostgreSQL 15 (Debian), 16 and 18 (PyPI
wheels, see devtools/devcluster: WHEELS); these tests check the harness that
makes that possible.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from devcluster import (
    ENV_PGBIN,
    ENV_PGROOT,
    WHEELS,
    Cluster,
    ClusterError,
    Server,
    bindir_for,
    find_bindir,
    server_major,
    timezone_dir,
)
from devcluster.binaries import open_to_all

REPO = Path(__file__).resolve().parents[2]
# `python -m devcluster` in a child: devtools/ (not in the wheel) and this checkout.
DEVCLUSTER_PATH = os.pathsep.join([str(REPO / "devtools"), str(REPO)])

# Zones whose rules changed often, or whose future tzdata predicts.
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Africa/Casablanca",
    "Africa/Cairo",
    "Asia/Gaza",
    "America/Mexico_City",
]


def test_session_server_is_the_chosen_binaries(pg_cluster_control: Cluster) -> None:
    cluster = pg_cluster_control
    assert server_major(cluster.bindir) == cluster.version_num // 10000
    if os.environ.get(ENV_PGBIN):
        assert cluster.bindir == Path(os.environ[ENV_PGBIN]).resolve()


def _offset(moment: datetime, tz: ZoneInfo) -> timedelta:
    offset = moment.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def test_zone_rules_agree_with_the_server(pg_conn: psycopg.Connection) -> None:
    """pgpart computes bounds with Python's zoneinfo, the server with its own files.

    If this fails, the calendar tests compare two tzdata releases, not pgpart's
    arithmetic: see _use_the_servers_zone_rules in tests/conftest.py.
    """
    start = datetime(1970, 1, 1, tzinfo=timezone.utc)
    instants = [start + timedelta(hours=61 * i) for i in range(11_000)]  # to 2046
    for zone in ZONES:
        pg_conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
        rows = pg_conn.execute(
            "SELECT extract(timezone FROM t)::int FROM unnest(%s::timestamptz[]) t", (instants,)
        ).fetchall()
        tz = ZoneInfo(zone)
        ours = [int(_offset(t, tz).total_seconds()) for t in instants]
        theirs = [r[0] for r in rows]
        differ = [t for t, a, b in zip(instants, ours, theirs, strict=True) if a != b]
        assert not differ, (
            f"{zone}: Python's zoneinfo ({os.environ.get('PYTHONTZPATH') or 'system tzdata'}) "
            f"and the server disagree at {len(differ)} instants, first {differ[0]}"
        )


def test_timezone_dir_of_the_session_server(pg_cluster_control: Cluster) -> None:
    tzdir = timezone_dir(pg_cluster_control.bindir)
    if tzdir is None:
        return  # the server reads the system's zone files, as Python does
    assert (tzdir / "Europe" / "Berlin").is_file()
    assert os.environ.get("PYTHONTZPATH") == os.fspath(tzdir)


def test_bindir_for_the_session_major(pg_server: Server) -> None:
    major = pg_server.version_num // 10000
    try:
        found = bindir_for(major, install=False)
    except ClusterError as exc:
        if major in WHEELS:
            pytest.skip(f"the session's server is not where bindir_for installs it: {exc}")
        raise
    assert server_major(found) == major


def test_bindir_for_an_absent_major_says_how_to_get_it() -> None:
    with pytest.raises(ClusterError) as info:
        bindir_for(9)
    message = str(info.value)
    assert "apt-get install postgresql-9" in message
    assert ", ".join(str(m) for m in sorted(WHEELS)) in message


def test_bindir_for_a_missing_wheel_without_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PGROOT, str(tmp_path))
    major = min(WHEELS)
    with pytest.raises(ClusterError, match=f"installs {WHEELS[major].requirement}"):
        bindir_for(major, install=False)
    assert list(tmp_path.iterdir()) == []


def test_bindir_for_refuses_to_install_over_something_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PGROOT, str(tmp_path))
    major = min(WHEELS)
    (tmp_path / f"pg{major}").mkdir()
    (tmp_path / f"pg{major}" / "mine").write_text("keep")
    with pytest.raises(ClusterError, match="exists but holds no"):
        bindir_for(major)
    assert (tmp_path / f"pg{major}" / "mine").read_text() == "keep"


def test_open_to_all(tmp_path: Path) -> None:
    top = tmp_path / "t"
    (top / "bin").mkdir(parents=True)
    prog = top / "bin" / "postgres"
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o700)
    data = top / "data.txt"
    data.write_text("x")
    data.chmod(0o600)
    (top / "bin").chmod(0o700)
    top.chmod(0o700)
    open_to_all(top)
    assert stat.S_IMODE(top.stat().st_mode) == 0o755
    assert stat.S_IMODE((top / "bin").stat().st_mode) == 0o755
    assert stat.S_IMODE(prog.stat().st_mode) == 0o755
    assert stat.S_IMODE(data.stat().st_mode) == 0o644


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devcluster", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": DEVCLUSTER_PATH, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def test_cli_bindir_without_major_is_the_default() -> None:
    res = _cli("bindir")
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()) == find_bindir()


def test_cli_bindir_no_install(tmp_path: Path) -> None:
    major = min(WHEELS)
    res = _cli("bindir", str(major), "--no-install", env={ENV_PGROOT: str(tmp_path)})
    assert res.returncode == 1
    assert res.stdout == ""
    assert f"PostgreSQL {major} is not installed in {tmp_path / f'pg{major}'}" in res.stderr
