"""pg_dump and pg_restore: finding them, their connection and command line,
and what a program that ended said.

They are looked for in ``pg_bin`` when it is set (and only there), else on
PATH, else in ``pg_config --bindir``; the first whose major version is at
least the server's is used: pg_dump refuses to dump a newer server, and
checking first means nothing is detached for a dump that cannot be made.
https://www.postgresql.org/docs/current/app-pgdump.html (Notes)

They connect with the parameters of pgpart's own session; the password, if
any, travels in PGPASSWORD, never on a command line that ps would show.
Running a dump into its file, verified on the way, is
:mod:`pgpart.db.archive.dump_stream`'s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pgpart.core.record import record
from pgpart.db.pg_config import pg_config
from pgpart.errors import ArchiveError

if TYPE_CHECKING:
    import psycopg

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_cache: dict[tuple[str | None, int], Tools] = {}


@record
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
        bindir = pg_config("--bindir", timeout_s=30)
        if bindir is not None and Path(bindir) not in where:
            where.append(Path(bindir))
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


def _version(exe: Path) -> tuple[int, str]:
    try:
        out = subprocess.run(
            [str(exe), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 0, ""
    found = _VERSION.search(out)
    return (int(found.group(1)), out) if found else (0, out)


# --- how they run: the connection, the command line ---------------------------


@record
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
    tools: Tools, schema: str, name: str, lock_ms: int, *, role: str | None = None
) -> list[str]:
    """pg_dump of one table, custom format, to stdout (see dump_stream.stream_dump)."""
    return [
        str(tools.pg_dump),
        "--format=custom",
        "--no-password",
        "--strict-names",
        f"--lock-wait-timeout={lock_ms}",
        *([f"--role={role}"] if role else []),
        f"--table={table_pattern(schema, name)}",
    ]


# --- what they said -----------------------------------------------------------


def read_last(*files: IO[bytes]) -> str:
    """The last line written to the first of ``files`` that has one."""
    for f in files:
        f.seek(0)
        line = _last_line(f.read().decode(errors="replace"))
        if line != "no message":
            return line
    return "no message"


def exit_text(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit {code}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
