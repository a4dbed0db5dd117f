"""libpq's connection service file (pg_service.conf), read the way libpq finds it.

pgpart connects to a service by handing ``service=NAME`` to libpq, which
reads the file itself; this module only reads it to check that a name
exists before anything runs (an unknown name is a usage error, exit 3) and to
know the password a service holds, so that it is masked like a DSN's.

Where libpq looks (PostgreSQL docs, "The Connection Service File", libpq's
``parseServiceInfo``): the user's file, ``$PGSERVICEFILE`` or else
``~/.pg_service.conf``; then, for a name not found there, the system-wide
``pg_service.conf`` in ``$PGSYSCONFDIR`` or else libpq's compiled-in
sysconfdir (``pg_config --sysconfdir``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pgpart.core.record import record
from pgpart.db.pg_config import pg_config
from pgpart.errors import ConfigError

SYSTEM_FILE = "pg_service.conf"
USER_FILE = ".pg_service.conf"


@record
class Service:
    name: str
    path: Path  # the file it was found in
    line: int  # of its [name] header
    params: Mapping[str, str]  # keyword -> value, as written


def service_files(environ: Mapping[str, str]) -> list[Path]:
    """The files libpq would read, in its order (existing or not)."""
    files: list[Path] = []
    user = environ.get("PGSERVICEFILE")
    if user:
        files.append(Path(user).expanduser())
    else:
        home = environ.get("HOME") or os.path.expanduser("~")
        files.append(Path(home) / USER_FILE)
    sysconf = environ.get("PGSYSCONFDIR") or pg_config("--sysconfdir", timeout_s=10)
    if sysconf:
        files.append(Path(sysconf) / SYSTEM_FILE)
    return files


def parse(text: str, path: Path) -> dict[str, Service]:
    """Sections of a service file; the first of two sections with one name wins
    (libpq stops at the first match)."""
    found: dict[str, Service] = {}
    name: str | None = None
    line_of = 0
    params: dict[str, str] = {}

    def close() -> None:
        if name is not None and name not in found:
            found[name] = Service(name, path, line_of, dict(params))

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            close()
            if not line.endswith("]"):
                raise ConfigError(f"{path}:{number}: syntax error in service file")
            name, line_of, params = line[1:-1].strip(), number, {}
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: syntax error in service file (no '=')")
        if name is not None:
            params[key.strip()] = value.strip()
    close()
    return found


def _read(path: Path) -> dict[str, Service]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the service file: {exc.strerror or exc}") from None
    return parse(text, path)


def find(names: list[str], environ: Mapping[str, str], origin: str = "--service") -> list[Service]:
    """Each named service, or a ConfigError naming the flag and the files searched."""
    files = service_files(environ)
    contents = [_read(f) for f in files]
    out: list[Service] = []
    for name in names:
        match = next((c[name] for c in contents if name in c), None)
        if match is None:
            looked = ", ".join(str(f) for f in files)
            known = sorted({n for c in contents for n in c})
            hint = f" (known: {', '.join(known)})" if known else ""
            raise ConfigError(f"{origin} {name}: no such service in {looked}{hint}")
        out.append(match)
    return out
