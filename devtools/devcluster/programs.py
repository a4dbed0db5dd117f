"""Running server programs (initdb, pg_ctl, pg_basebackup) as the cluster's OS user."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from devcluster.common import ClusterError
from devcluster.osuser import OsUser

_STOP_MODES = ("smart", "fast", "immediate")


def child_env() -> dict[str, str]:
    # PGDATA, PGPORT, PGHOST... of the caller must not leak into initdb/pg_ctl.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


def run_program(
    args: Sequence[str | os.PathLike[str]], user: OsUser, cwd: Path, timeout: float = 120
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
                env=child_env(),
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


def check_mode(mode: str) -> None:
    if mode not in _STOP_MODES:
        raise ValueError(f"mode must be one of {', '.join(_STOP_MODES)}, not {mode!r}")


def tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])


def failure(what: str, res: subprocess.CompletedProcess[str], logfile: Path | None) -> str:
    msg = f"{what} failed (exit {res.returncode}):\n{res.stdout.strip()}"
    if logfile is not None:
        msg += f"\n--- tail of {logfile} ---\n{tail(logfile, 30)}"
    return msg
