"""A running throwaway cluster: its record, control (start, restart, stop),
removal, and loading it back from its state file."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from devcluster.common import (
    ENV_DSN,
    LOG_FILE,
    START_TIMEOUT_S,
    STATE_FILE,
    SUPERUSER,
    ClusterError,
)
from devcluster.osuser import user_named
from devcluster.programs import check_mode, failure, run_program, tail


@dataclass(frozen=True, slots=True)
class Cluster:
    bindir: Path
    datadir: Path
    sockdir: Path
    port: int
    os_user: str
    version_num: int  # server_version_num, e.g. 150018
    basedir: Path  # everything of the cluster lives here; destroy_cluster removes it

    @property
    def dsn(self) -> str:
        """Superuser DSN over TCP (trusted, no password)."""
        return self.dsn_for("postgres")

    @property
    def logfile(self) -> Path:
        return self.basedir / LOG_FILE

    def dsn_for(self, dbname: str, user: str = SUPERUSER, password: str | None = None) -> str:
        return make_conninfo(
            "", host="127.0.0.1", port=str(self.port), dbname=dbname, user=user, password=password
        )

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.logfile, lines)

    def is_running(self) -> bool:
        res = pg_ctl(self, "status")
        return res.returncode == 0

    def start(self) -> None:
        """Start the server again after stop(); waits until it accepts connections."""
        res = pg_ctl(self, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(self.logfile))
        if res.returncode != 0:
            raise ClusterError(failure("pg_ctl start", res, self.logfile))

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m MODE``; waits until the server accepts connections again."""
        check_mode(mode)
        res = pg_ctl(
            self, "restart", "-m", mode, "-w", "-t", str(START_TIMEOUT_S), "-l", str(self.logfile)
        )
        if res.returncode != 0:
            raise ClusterError(failure(f"pg_ctl restart -m {mode}", res, self.logfile))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; a server that is not running is left as it is."""
        check_mode(mode)
        if not self.is_running():
            return
        res = pg_ctl(self, "stop", "-m", mode, "-w", "-t", str(START_TIMEOUT_S))
        if res.returncode != 0 and self.is_running():
            raise ClusterError(failure(f"pg_ctl stop -m {mode}", res, self.logfile))


@dataclass(frozen=True, slots=True)
class Server:
    """The server a test session runs against: one we started, or $PGPART_TEST_DSN."""

    admin_dsn: str
    version_num: int
    cluster: Cluster | None  # None: an external server we must not restart or stop


def pg_ctl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return run_program(
        [cluster.bindir / "pg_ctl", *args, "-D", str(cluster.datadir)],
        user_named(cluster.os_user),
        cwd=cluster.basedir,
        timeout=START_TIMEOUT_S + 30,
    )


def _postmaster_pid(datadir: Path) -> int | None:
    try:
        first = (datadir / "postmaster.pid").read_text(encoding="utf-8").split("\n", 1)[0]
        return int(first)
    except (OSError, ValueError):
        return None


def kill(cluster: Cluster) -> None:
    """Immediate shutdown; SIGKILL if pg_ctl cannot do it."""
    res = pg_ctl(cluster, "stop", "-m", "immediate", "-w", "-t", "10")
    if res.returncode == 0:
        return
    pid = _postmaster_pid(cluster.datadir)
    if pid is None:
        return  # never started, or already gone
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise ClusterError(f"postmaster {pid} of {cluster.datadir} survives SIGKILL")


def remove_dirs(base: Path, sockdir: Path, *, remove_base: bool) -> None:
    if not sockdir.is_relative_to(base):
        shutil.rmtree(sockdir, ignore_errors=True)
    if remove_base:
        shutil.rmtree(base, ignore_errors=True)
    elif base.is_dir():
        for child in base.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def destroy_cluster(cluster: Cluster) -> None:
    """Stop the server (immediate) and remove its directory. Idempotent."""
    if cluster.datadir.exists():
        kill(cluster)
    remove_dirs(cluster.basedir, cluster.sockdir, remove_base=True)


def load_cluster(basedir: Path) -> Cluster:
    """The cluster that ``start`` (or start_cluster) made in basedir, from its state file."""
    path = Path(basedir) / STATE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Cluster(
            bindir=Path(raw["bindir"]),
            datadir=Path(raw["datadir"]),
            sockdir=Path(raw["sockdir"]),
            port=int(raw["port"]),
            os_user=str(raw["os_user"]),
            version_num=int(raw["version_num"]),
            basedir=Path(raw["basedir"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterError(f"{path}: not a devcluster state file ({exc})") from exc


def server_for_dsn(dsn: str) -> Server:
    """A Server for an already running PostgreSQL (no cluster control)."""
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            version = conn.info.server_version
    except psycopg.OperationalError as exc:
        params = conninfo_to_dict(dsn)
        where = f"host={params.get('host', '')} port={params.get('port', '')}"
        raise ClusterError(f"cannot connect to {ENV_DSN} server ({where}): {exc}") from exc
    return Server(admin_dsn=dsn, version_num=version, cluster=None)
