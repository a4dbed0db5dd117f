"""Opening connections: application_name, and no password ever shown."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pgpart.errors import ConnectError

if TYPE_CHECKING:
    import psycopg

APPLICATION_NAME = "pgpart"

_URI_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)")
_KW_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def mask_dsn(text: str) -> str:
    """Hide passwords in anything that may contain a DSN."""
    text = _URI_PASSWORD.sub(r"\1***\3", text)
    return _KW_PASSWORD.sub(r"\1***", text)


def _password_of(dsn: str | None) -> str | None:
    if not dsn:
        return None
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        value = conninfo_to_dict(dsn).get("password")
    except (psycopg.Error, UnicodeError):
        # Malformed (ProgrammingError), or not encodable (a lone surrogate):
        # masking by pattern still applies.
        return None
    return str(value) if value else None


_URI_USERINFO = re.compile(r"postgres(?:ql)?://([^@/?#]*)@", re.IGNORECASE)
_URI_QUERY_PASSWORD = re.compile(r"[?&]password=([^&#]*)", re.IGNORECASE)


def _written_passwords(dsn: str) -> set[str]:
    """The password as written in the DSN, parseable or not.

    libpq quotes pieces of a malformed DSN in its errors (``invalid
    percent-encoded token: "s3cret%zz"``), where the parsed password
    (there is none) cannot be matched.
    """
    from urllib.parse import unquote

    found: set[str] = set()
    userinfo = _URI_USERINFO.match(dsn.strip())
    if userinfo and ":" in userinfo.group(1):
        found.add(userinfo.group(1).split(":", 1)[1])
    found.update(m.group(1) for m in _URI_QUERY_PASSWORD.finditer(dsn))
    for match in _KW_PASSWORD.finditer(dsn):
        value = match.group(2)
        found.add(value)
        if len(value) >= 2 and value[0] == value[-1] == "'":
            found.add(value[1:-1])
            found.add(re.sub(r"\\(.)", r"\1", value[1:-1]))
    found |= {unquote(v) for v in found}
    return {v for v in found if v}


SHORT_PASSWORD = 4


def scrub(message: str, dsn: str | None) -> str:
    """Mask DSN passwords, and the literal password wherever it appears."""
    message = mask_dsn(message)
    passwords = set(_written_passwords(dsn)) if dsn else set()
    password = _password_of(dsn)
    if password:
        passwords.add(password)
    for value in sorted(passwords, key=len, reverse=True):  # longest first
        if len(value) >= SHORT_PASSWORD:
            message = message.replace(value, "***")
        else:
            # A very short password would turn every word containing it into
            # noise ('pe***mission'); masked where it stands alone instead.
            message = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "***", message)
    return message


def connect(dsn: str | None, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """Connect with application_name=pgpart unless the DSN sets one, and
    pgpart's own settings pinned in the startup packet (pgpart.db.startup):
    the database's and the role's settings never apply to its statements."""
    import os

    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from pgpart.db.startup import pinned_options, their_options

    try:
        params = conninfo_to_dict(dsn or "")
    except psycopg.ProgrammingError as exc:
        raise ConnectError(f"invalid DSN: {scrub(str(exc), dsn)}") from None
    extra: dict[str, Any] = {"options": pinned_options(their_options(params, os.environ))}
    if "application_name" not in params:
        extra["application_name"] = APPLICATION_NAME
    if "client_encoding" not in params:
        extra["client_encoding"] = "UTF8"
    params.setdefault("connect_timeout", 10)
    try:
        conn = psycopg.connect(make_conninfo("", **{**params, **extra}), autocommit=autocommit)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        hint = connection_hint(reason, params, given=bool(dsn and dsn.strip()))
        raise ConnectError(f"cannot connect: {scrub(reason, dsn)}{hint}") from None
    _check_pinned(conn)
    return conn


def _check_pinned(conn: psycopg.Connection[Any]) -> None:
    """Refuse a session whose startup settings did not take: a connection
    pooler or proxy that drops libpq's ``options`` would leave the
    database's search_path in force."""
    import psycopg

    try:
        row = conn.execute("SELECT pg_catalog.current_setting('search_path')").fetchone()
        if not conn.autocommit:
            conn.rollback()  # leave no transaction open behind the caller
    except psycopg.Error as exc:
        conn.close()
        raise ConnectError(f"cannot connect: {' '.join(str(exc).split())}") from None
    if row is not None and row[0] == "":
        return
    conn.close()
    found = row[0] if row else None
    raise ConnectError(
        f"the session did not keep pgpart's startup settings (search_path is {found!r},"
        " not empty): a connection pooler or proxy that ignores libpq's options parameter"
        " cannot protect pgpart from the database's settings; connect pgpart to PostgreSQL"
        " directly"
    )


def connection_hint(reason: str, params: dict[str, Any], *, given: bool) -> str:
    """What the usual mistake behind a connection error is, and its fix."""
    port = re.search(r'invalid integer value "([^"]*)" for connection option "port"', reason)
    if port or "Servname not supported" in reason:
        return (
            "; the port must be a number: write host=HOST port=5432"
            " (or postgresql://HOST:5432/DBNAME)"
        )
    host = str(params.get("host") or "")
    if re.search(r":\d+$", host) and "," not in host and not host.startswith("/"):
        name, number = host.rsplit(":", 1)
        return f"; host= takes no port: write host={name} port={number}"
    if not given and not any(k in params for k in ("host", "hostaddr", "service")):
        return (
            "; no DSN was given: pass --dsn 'host=... dbname=... user=...' or set PGPART_DSN"
            " (else libpq's PGHOST, PGDATABASE, PGUSER, PGSERVICE apply)"
        )
    return ""
