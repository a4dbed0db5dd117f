"""pg_dump and pg_restore: finding them, running them, reading what they wrote.

They are looked for in ``pg_bin`` when it is set (and only there), else on
PATH, else in ``pg_config --bindir``; the first whose major version is at
least the server's is used: pg_dump refuses to dump a newer server, and
checking first means nothing is detached for a dump that cannot be made.
https://www.postgresql.org/docs/current/app-pgdump.html (Notes)

They connect with the parameters of pgpart's own session; the password, if
any, travels in PGPASSWORD, never on a command line that ps would show.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgpart.archive_files import ArchiveError

if TYPE_CHECKING:
    import psycopg

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_cache: dict[tuple[str | None, int], Tools] = {}


@dataclass(frozen=True, slots=True)
class Tools:
    pg_dump: Path
    pg_restore: Path
    major: int
    version: str  # as pg_dump --version prints it


def find_tools(pg_bin: str | None, server_major: int) -> Tools:
    key = (pg_bin, server_major)
    if key not in _cache:
        _cache[key] = _find(pg_bin, server_major)
    return _cache[key]


def _find(pg_bin: str | None, server_major: int) -> Tools:
    if pg_bin:
        where = [Path(pg_bin).expanduser()]
    else:
        where = []
        on_path = shutil.which("pg_dump")
        if on_path:
            where.append(Path(on_path).parent)
        bindir = _pg_config_bindir()
        if bindir is not None and bindir not in where:
            where.append(bindir)
    seen: list[str] = []
    for directory in where:
        dump, restore = directory / "pg_dump", directory / "pg_restore"
        if not (_runnable(dump) and _runnable(restore)):
            seen.append(f"no pg_dump and pg_restore in {directory}")
            continue
        major, text = _version(dump)
        if major >= server_major:
            return Tools(dump, restore, major, text)
        seen.append(f"{dump} is {text or 'of an unknown version'}")
    source = "pg_bin" if pg_bin else "PATH and pg_config --bindir"
    found = "; ".join(seen) or "none found"
    raise ArchiveError(
        f"no pg_dump/pg_restore of PostgreSQL {server_major} or later in {source} ({found}):"
        f" install the client of the server's version, or set pg_bin; nothing was detached"
    )


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out) if out else None


def _version(exe: Path) -> tuple[int, str]:
    try:
        out = subprocess.run(
            [str(exe), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 0, ""
    found = _VERSION.search(out)
    return (int(found.group(1)), out) if found else (0, out)


# --- running them -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Client:
    """How a client program reaches the server pgpart is connected to."""

    conninfo: str
    env: dict[str, str]


_CLIENT_KEYS = frozenset(
    (
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "passfile",
        "connect_timeout",
        "options",
        "application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "sslmode",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "requirepeer",
        "krbsrvname",
        "gsslib",
        "gssencmode",
        "channel_binding",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "target_session_attrs",
    )
)


def client_for(conn: psycopg.Connection[Any]) -> Client:
    from psycopg.conninfo import make_conninfo

    # Only what every pg_dump since PostgreSQL 13 understands: the session's
    # libpq may be newer and report options (sslcertmode...) an older one rejects.
    params = {k: v for k, v in conn.info.get_parameters().items() if k in _CLIENT_KEYS}
    params.setdefault("application_name", "pgpart")
    params.setdefault("dbname", conn.info.dbname)
    env = dict(os.environ)
    password = conn.info.password
    if password:
        env["PGPASSWORD"] = password
    return Client(make_conninfo("", **params), env)


def table_pattern(schema: str, name: str) -> str:
    """A -t pattern matching exactly this table: double quotes make every
    character literal (case, '.', '*', '?'), a quote is written twice."""

    def quoted(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    return f"{quoted(schema)}.{quoted(name)}"


def dump_command(
    tools: Tools, schema: str, name: str, out: Path, lock_ms: int, *, role: str | None = None
) -> list[str]:
    return [
        str(tools.pg_dump),
        "--format=custom",
        "--no-password",
        "--strict-names",
        f"--lock-wait-timeout={lock_ms}",
        *([f"--role={role}"] if role else []),
        f"--table={table_pattern(schema, name)}",
        f"--file={out}",
    ]


def run_dump(tools: Tools, client: Client, command: Sequence[str]) -> None:
    """pg_dump (it streams to the file itself); exit 0 or ArchiveError."""
    _run([*command, f"--dbname={client.conninfo}"], client.env, "pg_dump")


def _run(args: Sequence[str], env: dict[str, str] | None, what: str) -> str:
    try:
        done = subprocess.run(
            list(args), env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
    except OSError as exc:
        raise ArchiveError(f"{what} could not run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise ArchiveError(f"{what} failed ({_exit(done.returncode)}): {_last_line(done.stderr)}")
    return done.stdout


def _exit(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit {code}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _toc_name(text: str) -> str:
    # pg_restore --list prints names with line breaks turned into spaces.
    return text.replace("\r", " ").replace("\n", " ")


def verify_dump(tools: Tools, dump: Path, schema: str, name: str) -> int:
    """The dump lists the table and its data (pg_restore --list); returns
    the rows its data section holds (COPY lines, counted as they stream)."""
    what = "verification failed: pg_restore --list"
    listing = _run([str(tools.pg_restore), "--list", str(dump)], None, what)
    tag = f" {_toc_name(schema)} {_toc_name(name)} "
    kinds = {"TABLE", "TABLE DATA"}
    found = {k for k in kinds for line in listing.splitlines() if f" {k}{tag}" in f"{line} "}
    if found != kinds:
        missing = " and ".join(sorted(kinds - found))
        raise ArchiveError(f"verification failed: the dump {dump} lists no {missing} of {name}")
    return count_rows(tools, dump)


def count_rows(tools: Tools, dump: Path) -> int:
    """Rows in the dump's COPY data (one line each: COPY escapes newlines)."""
    args = [str(tools.pg_restore), "--data-only", "--file=-", str(dump)]
    # stderr goes to a file: a pipe could fill up while stdout is read.
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
            )
        except OSError as exc:
            raise ArchiveError(f"pg_restore could not run: {exc.strerror or exc}") from None
        rows, blocks, inside = _count_copy_lines(proc)
        errors.seek(0)
        err = errors.read().decode(errors="replace")
    code = proc.returncode
    if code != 0:
        raise ArchiveError(
            f"verification failed: pg_restore --data-only failed ({_exit(code)}): {_last_line(err)}"
        )
    if blocks != 1 or inside:
        raise ArchiveError(f"verification failed: the dump {dump} holds {blocks} data sections")
    return rows


def _count_copy_lines(proc: subprocess.Popen[bytes]) -> tuple[int, int, bool]:
    """(rows, COPY sections, whether the last one is unterminated); waits for proc."""
    rows, blocks, inside = 0, 0, False
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if inside:
                if line == b"\\.\n":
                    inside = False
                else:
                    rows += 1
            elif line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                inside, blocks = True, blocks + 1
    except BaseException:  # Ctrl-C: stop pg_restore too
        proc.kill()
        raise
    finally:
        proc.wait()
    return rows, blocks, inside


def run_archive_command(template: str, dump: Path, manifest: Path) -> None:
    """archive_command with {path} and {manifest} (shell-quoted); exit 0 or ArchiveError."""
    command = template.replace("{path}", shlex.quote(str(dump))).replace(
        "{manifest}", shlex.quote(str(manifest))
    )
    try:
        done = subprocess.run(
            command, shell=True, stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
    except OSError as exc:
        raise ArchiveError(f"archive_command could not run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise ArchiveError(
            f"archive_command failed ({_exit(done.returncode)}):"
            f" {_last_line(done.stderr or done.stdout)}"
        )
