"""archive_command: the shell command that ships an archive (an upload),
run with {path} and {manifest}, which must exit 0 within its time limit.

A hung command must not hang cron for ever: past its timeout the whole
process group is killed (the shell and whatever it started: aws, ssh...),
and the archive counts as failed; the partition stays detached and marked,
and the next maintain runs the command again (it must be safe to run twice).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
from pathlib import Path

from pgpart.db.archive.tools import exit_text, read_last
from pgpart.errors import ArchiveError

# How long archive_command may run before it is killed (seconds), unless the
# config's archive_timeout says otherwise; None waits for ever.
ARCHIVE_TIMEOUT_S = 3600.0


def run_archive_command(
    template: str, dump: Path, manifest: Path, timeout_s: float | None = ARCHIVE_TIMEOUT_S
) -> None:
    """archive_command with {path} and {manifest} (shell-quoted); exit 0 or
    ArchiveError. Past ``timeout_s`` its whole process group is killed (the
    shell and whatever it started: aws, ssh...), not only the shell."""
    command = template.replace("{path}", shlex.quote(str(dump))).replace(
        "{manifest}", shlex.quote(str(manifest))
    )
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                command,
                shell=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, killed as one
            )
        except OSError as exc:
            raise ArchiveError(f"archive_command could not run: {exc.strerror or exc}") from None
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ArchiveError(
                f"archive_command timed out after {describe_timeout(timeout_s)} and was killed"
                f" with its process group: {read_last(err, out)}"
            ) from None
        except BaseException:  # Ctrl-C: the command goes with pgpart
            _kill_group(proc)
            raise
        if code != 0:
            raise ArchiveError(f"archive_command failed ({exit_text(code)}): {read_last(err, out)}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def describe_timeout(seconds: float | None) -> str:
    if seconds is None:
        return "no time limit"
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"
