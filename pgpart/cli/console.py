"""Where the command's text goes: data to stdout, one-line diagnostics to stderr
(how the process ends is pgpart.cli.exit_codes's)."""

from __future__ import annotations

import os
import sys
from typing import TextIO

import typer


def one_line(text: str) -> str:
    """Control characters (a newline in a table name...) escaped: one line, always."""
    text = text.strip()  # libpq ends some messages with a newline
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def say(message: str) -> None:
    typer.echo(f"pgpart: {one_line(message)}", err=True)


def emit(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


def effective_dsn(dsn: str | None) -> str | None:
    """The DSN whose password must never be shown: the flag's, else $PGPART_DSN's."""
    return dsn if dsn is not None else os.environ.get("PGPART_DSN") or None


def masked(text: str, dsn: str | None) -> str:
    """``text`` with the password of ``dsn`` (or of $PGPART_DSN) masked."""
    from pgpart.db.connect import scrub

    return scrub(text, effective_dsn(dsn))


def is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def stdout_width(wide: bool = False) -> int | None:
    """Columns stdout's tables must fit: None with --wide or when piped."""
    if wide:
        return None
    from pgpart.cli.output.common import terminal_width

    return terminal_width(sys.stdout)
