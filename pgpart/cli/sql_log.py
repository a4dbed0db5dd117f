"""`-v`: every SQL statement pgpart sends, logged on stderr."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import psycopg


def logger(verbose: bool, member: str | None = None) -> Callable[[str], None] | None:
    """With -v, how statements are logged (after a fleet member's name)."""
    if not verbose:
        return None
    prefix = f"pgpart: sql: {member}: " if member else "pgpart: sql: "
    return lambda line: typer.echo(f"{prefix}{line}", err=True)


def log_queries(conn: psycopg.Connection[Any], verbose: bool, member: str | None = None) -> None:
    """With -v, log every query pgpart sends on ``conn`` (catalog reads too)."""
    maybe = logger(verbose, member)
    if maybe is None:
        return
    log: Callable[[str], None] = maybe
    import psycopg

    class LoggingCursor(psycopg.Cursor[Any]):
        # query and params as psycopg types them: their aliases differ between 3.2 and 3.3
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            text = query if isinstance(query, str) else query.as_string(self)
            log(" ".join(text.split()))
            return super().execute(query, params, **kwargs)

    conn.cursor_factory = LoggingCursor
