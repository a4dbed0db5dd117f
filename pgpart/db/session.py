"""The one connection of an executor run: opened lazily; after a loss,
reopened once."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from pgpart.db.connect import connect
from pgpart.errors import ConnectError

if TYPE_CHECKING:
    import psycopg


class Unavailable(Exception):
    """No connection, and no point trying again in this run."""


class Session:
    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self.conn: psycopg.Connection[Any] | None = None
        self.failure: str | None = None  # why there is no connection for the rest of the run
        self.lost: str | None = None  # why the last connection was lost

    def get(self) -> psycopg.Connection[Any]:
        if self.failure is not None:
            raise Unavailable(self.failure)
        if self.conn is None:
            try:
                conn = connect(self.dsn)
            except ConnectError as exc:
                reason = str(exc)
                if self.lost is not None:
                    reason = f"lost the connection ({self.lost}) and could not reconnect: {exc}"
                self.failure = reason
                raise Unavailable(reason) from None
            # Server-side prepared statements break behind transaction poolers.
            conn.prepare_threshold = None
            self.conn = conn
        return self.conn

    def drop(self, reason: str) -> None:
        self.lost = reason
        self.close()

    def close(self) -> None:
        import psycopg

        if self.conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):  # closing a dead connection
                self.conn.close()
            self.conn = None
