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
    from psycopg.conninfo import conninfo_to_dict

    try:
        value = conninfo_to_dict(dsn).get("password")
    except Exception:  # malformed DSN: masking by pattern still applies
        return None
    return str(value) if value else None


def scrub(message: str, dsn: str | None) -> str:
    """Mask DSN passwords, and the literal password wherever it appears."""
    message = mask_dsn(message)
    password = _password_of(dsn)
    if password:
        message = message.replace(password, "***")
    return message


def connect(dsn: str | None, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """Connect with application_name=pgpart unless the DSN sets one."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn or "")
    except psycopg.ProgrammingError as exc:
        raise ConnectError(f"invalid DSN: {scrub(str(exc), dsn)}") from None
    extra: dict[str, Any] = {}
    if "application_name" not in params:
        extra["application_name"] = APPLICATION_NAME
    params.setdefault("connect_timeout", 10)
    try:
        return psycopg.connect(make_conninfo("", **{**params, **extra}), autocommit=autocommit)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        raise ConnectError(f"cannot connect: {scrub(reason, dsn)}") from None
