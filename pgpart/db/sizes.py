"""Partition sizes, read beside the catalog snapshot on connections of their own.

pg_total_relation_size() opens every partition and asks the file system for
each of its files (indexes and TOAST included): at 10,000 partitions that is
some 400 ms of server time, five times everything else `stats` reads. Read in
the snapshot's own query it runs alone, and everything else waits for it.
Here it starts as soon as the parents are known, split over SIZE_READERS
connections (each server backend takes its share of the partitions), while
the snapshot's connection reads the bounds and the rest.

Sizes are file sizes, not rows: no transaction makes them consistent, so
reading them outside the snapshot's transaction changes nothing they mean.
The readers check that they reached the same server and database as the
snapshot (a library caller's connection may not come from its settings);
if a reader cannot connect (max_connections, a role's connection limit),
fails, or reaches another database, the sizes are read on the snapshot's
own connection, as they would have been without them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pgpart.errors import PgpartError

if TYPE_CHECKING:
    import psycopg

SIZE_READERS = 2

Connector = Callable[[], "psycopg.Connection[Any]"]

# The partitions of the parents (their direct children, as the snapshot's
# query reads them), one share per reader by oid.
_SIZES_SQL = """
SELECT c.oid, pg_catalog.pg_total_relation_size(c.oid)
  FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = ANY(%(parents)s::oid[]) AND c.oid::int8 %% %(shares)s = %(share)s
"""

# Which server and database a connection reached.
IDENTITY_SQL = "pg_catalog.current_database()::text, pg_catalog.pg_postmaster_start_time()::text"


class SizeRead:
    """The sizes of the partitions of ``parents``, being read (see module)."""

    def __init__(self, connect: Connector, parents: Sequence[int], identity: tuple[str, str]):
        self._parents = list(parents)
        self._identity = identity
        self._sizes: dict[int, int] = {}
        self._failed = False
        self._lock = threading.Lock()
        self._conns: list[psycopg.Connection[Any]] = []
        self._threads = [
            threading.Thread(target=self._read, args=(connect, share), daemon=True)
            for share in range(SIZE_READERS)
        ]
        for t in self._threads:
            t.start()

    def result(self, conn: psycopg.Connection[Any]) -> dict[int, int]:
        """Sizes by partition oid, once every reader is done; read on
        ``conn`` (the snapshot's) when a reader could not do its share."""
        try:
            for t in self._threads:
                t.join()
        except BaseException:  # Ctrl-C while they run: stop their queries too
            for c in list(self._conns):
                with contextlib.suppress(Exception):
                    c.cancel_safe(timeout=2.0)
            raise
        if self._failed:
            return read_sizes(conn, self._parents)
        return self._sizes

    def _read(self, connect: Connector, share: int) -> None:
        import psycopg

        try:
            with connect() as conn:
                with self._lock:
                    self._conns.append(conn)
                row = conn.execute(f"SELECT {IDENTITY_SQL}").fetchone()
                if row is None or (str(row[0]), str(row[1])) != self._identity:
                    self._failed = True
                    return
                rows = conn.execute(
                    _SIZES_SQL,
                    {"parents": self._parents, "shares": SIZE_READERS, "share": share},
                ).fetchall()
        except (psycopg.Error, PgpartError, OSError):
            self._failed = True  # the snapshot's connection reads them instead
            return
        with self._lock:
            self._sizes.update((int(oid), int(size)) for oid, size in rows)


def read_sizes(conn: psycopg.Connection[Any], parents: Sequence[int]) -> dict[int, int]:
    """The sizes on one connection (one share: all of them)."""
    rows = conn.execute(_SIZES_SQL, {"parents": list(parents), "shares": 1, "share": 0}).fetchall()
    return {int(oid): int(size) for oid, size in rows}
