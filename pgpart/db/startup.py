"""What every session pins before its first statement, in the startup packet.

A database owner may ``ALTER DATABASE ... SET`` any ordinary setting, and
whoever administers a role may ``ALTER ROLE ... SET``; PostgreSQL applies
those when a session starts. pgpart sends its own values in libpq's
``options`` instead (a client's startup options outrank both), so no
statement pgpart runs ever sees them:

- ``search_path`` empty, as pg_dump has it: an unqualified function,
  operator or type then resolves to pg_catalog only, never to an object
  planted in a schema placed before it (``SET search_path = evil,
  pg_catalog``);
- ``role`` none: ``ALTER DATABASE ... SET role = x`` would make a
  superuser's session act as x, and code of x that fires during the run
  could ``SET ROLE`` to the superuser. (The user's own options may
  still choose a role: they are theirs.)
- ``row_security`` off, as pg_dump has it: a query that a row-level
  security policy would filter fails instead of silently reading part of
  the rows, and no policy expression (code of the table's owner) runs as
  pgpart's login;
- ``standard_conforming_strings`` on, ``DateStyle`` ISO, ``IntervalStyle``
  postgres, ``array_nulls`` on and ``default_transaction_isolation`` read
  committed: the forms in which pgpart writes literals, reads dates and
  intervals, passes arrays, and expects its transactions to behave;
- ``client_encoding`` UTF8 (libpq's own parameter), unless the DSN sets it.

https://www.postgresql.org/docs/current/config-setting.html#CONFIG-SETTING-SHELL
https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-OPTIONS
"""

from __future__ import annotations

from collections.abc import Mapping

PINNED: tuple[tuple[str, str], ...] = (
    ("search_path", ""),
    ("role", "none"),
    ("row_security", "off"),
    ("standard_conforming_strings", "on"),
    ("datestyle", "ISO, YMD"),
    ("intervalstyle", "postgres"),
    ("array_nulls", "on"),
    ("default_transaction_isolation", "read committed"),
)
# The user's own options may set these; pgpart's value applies otherwise.
USER_MAY_SET = frozenset({"role"})

_SPACES = " \t\n\r\f\v"  # what the server's pg_split_opts splits on (isspace)


def split_options(text: str) -> list[str]:
    """The words of an ``options`` string as the server splits them:
    whitespace separates, a backslash takes the next character literally."""
    words: list[str] = []
    word: list[str] | None = None
    chars = iter(text)
    for ch in chars:
        if ch in _SPACES:
            if word is not None:
                words.append("".join(word))
                word = None
            continue
        if word is None:
            word = []
        if ch == "\\":
            ch = next(chars, "")
        word.append(ch)
    if word is not None:
        words.append("".join(word))
    return words


def option_settings(text: str) -> dict[str, str]:
    """The settings an ``options`` string makes (``-c name=value``,
    ``-cname=value``, ``--name=value``), names folded as PostgreSQL folds
    them; the last of two wins."""
    found: dict[str, str] = {}
    words = split_options(text)
    i = 0
    while i < len(words):
        word = words[i]
        pair: str | None = None
        if word == "-c" and i + 1 < len(words):
            pair = words[i + 1]
            i += 1
        elif word[:2] in ("-c", "--") and len(word) > 2:
            pair = word[2:]
        i += 1
        if pair is not None and "=" in pair:
            name, value = pair.split("=", 1)
            found[name.replace("-", "_").lower()] = value
    return found


def _escape(value: str) -> str:
    out = []
    for ch in value:
        if ch in _SPACES or ch == "\\":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def pinned_options(theirs: str) -> str:
    """``theirs`` (the options the user's DSN, service or PGOPTIONS give),
    then pgpart's pins, which therefore win."""
    pins = _pins(set(option_settings(theirs)) & USER_MAY_SET)
    base = theirs.rstrip(_SPACES)
    if (len(base) - len(base.rstrip("\\"))) % 2:
        base = base[:-1]  # a last lone backslash would escape the space after it
    return f"{base} {pins}" if base else pins


def _pins(left_to_user: set[str] | frozenset[str]) -> str:
    return " ".join(
        f"-c {name}={_escape(value)}" for name, value in PINNED if name not in left_to_user
    )


def their_options(params: Mapping[str, object], environ: Mapping[str, str]) -> str:
    """The ``options`` libpq would send without pgpart: the DSN's, else the
    service's (``service=`` or PGSERVICE), else PGOPTIONS. pgpart passes
    ``options`` itself, which would otherwise hide the last two."""
    if "options" in params:
        return str(params["options"] or "")
    service = str(params.get("service") or environ.get("PGSERVICE") or "")
    if service:
        from pgpart.db.pgservice import find
        from pgpart.errors import ConfigError

        try:
            found = find([service], environ)[0]
        except ConfigError:
            found = None  # libpq says so when it connects
        if found is not None and "options" in found.params:
            return found.params["options"]
    return environ.get("PGOPTIONS", "")


def user_settings(sent: str) -> dict[str, str]:
    """The settings the user's own options asked for, from the options string
    a pgpart session sent (its pins removed from the end)."""
    for pins in (_pins(frozenset()), _pins(USER_MAY_SET)):
        if sent.endswith(pins):
            return option_settings(sent[: -len(pins)])
    return option_settings(sent)
