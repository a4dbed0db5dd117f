"""One attempt of one step: its statements sent in as few round trips as
its guards allow, the guards' verdicts, and the rollback when one says no.

Retrying the attempt is pgpart.db.retry's job; this module only sends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.db.ddl.step import Guard, Step, Verdict, render_sql

if TYPE_CHECKING:
    import psycopg


class StepSender:
    """Sends steps on one connection; ``log`` sees each statement as sent,
    ``on_rows`` the rows moved out of DEFAULT so far in the attempt."""

    def __init__(
        self,
        log: Callable[[str], None] | None = None,
        on_rows: Callable[[int], None] | None = None,
    ) -> None:
        self._log_to = log
        self._on_rows = on_rows
        self.committing = False  # the current attempt got as far as its COMMIT
        self.moved = 0  # rows moved out of DEFAULT by the current attempt

    def attempt(
        self, conn: psycopg.Connection[Any], step: Step, out: list[str]
    ) -> tuple[Verdict, str]:
        """Run ``step`` once, appending each statement sent to ``out``."""
        import psycopg

        self.committing = False
        self.moved = 0
        if not step.in_transaction:
            try:
                return self._statements(conn, step, out)
            finally:
                if not conn.closed and not conn.broken:
                    for stmt in step.cleanup:
                        self._send(conn, stmt, out)
        try:
            verdict, message = self._statements(conn, step, out)
        except psycopg.Error:
            if _rollback(conn):
                # The error came before COMMIT, which the server then skipped.
                self.committing = False
                self.log("ROLLBACK", out)
            raise
        if verdict is not Verdict.GO:
            self.log("ROLLBACK", out)
            _rollback(conn)
        return verdict, message

    def log(self, text: str, out: list[str]) -> None:
        out.append(text)
        if self._log_to is not None:
            self._log_to(text)

    def _statements(
        self, conn: psycopg.Connection[Any], step: Step, out: list[str]
    ) -> tuple[Verdict, str]:
        """Send the step's statements; the first guard that does not say GO
        stops it (the caller rolls back).

        Outside a transaction, each statement goes alone: a multi-statement
        message would be an implicit transaction block, which DETACH ...
        CONCURRENTLY refuses.
        """
        guards: dict[int, Guard] = {g.index: g for g in step.guards}
        if step.in_transaction:
            return self._transaction(conn, step, guards, out)
        for i, stmt in enumerate(step.statements):
            cur = self._send(conn, stmt, out)
            verdict, message = _verdict(cur, guards.get(i))
            if verdict is not Verdict.GO:
                return verdict, message
        return Verdict.GO, ""

    def _transaction(
        self,
        conn: psycopg.Connection[Any],
        step: Step,
        guards: dict[int, Guard],
        out: list[str],
    ) -> tuple[Verdict, str]:
        """BEGIN travels with the statements up to the first guard, COMMIT
        with those after the last one, each message one simple query whose
        results are read up to the guard's, the message's last. Statements
        are still logged one by one."""
        self.log("BEGIN", out)
        batch = ["BEGIN"]
        for i, stmt in enumerate(step.statements):
            text = render_sql(stmt)  # once: the same text is logged and sent
            self.log(text, out)
            if i in step.repeats:
                if batch:
                    _send_batch(conn, batch)
                    batch = []
                self._repeat(conn, text, step.repeat_rows)
                continue
            if i in step.counted:
                batch.append(text)
                self._count(_send_batch(conn, batch).rowcount)
                batch = []
                continue
            batch.append(text)
            guard = guards.get(i)
            if guard is None:
                continue
            cur = _send_batch(conn, batch)
            batch = []
            verdict, reason = _verdict(cur, guard)
            if verdict is not Verdict.GO:
                return verdict, reason
        self.log("COMMIT", out)
        batch.append("COMMIT")
        self.committing = True
        _send_batch(conn, batch)
        return Verdict.GO, ""

    def _count(self, rows: int) -> None:
        self.moved += max(rows, 0)
        if self._on_rows is not None and rows > 0:
            self._on_rows(self.moved)

    def _repeat(self, conn: psycopg.Connection[Any], text: str, rows: int) -> None:
        """Send ``text`` until one round affects fewer than ``rows`` rows."""
        query = text.encode(conn.info.encoding)
        while True:
            count = conn.execute(query).rowcount
            self.moved += max(count, 0)
            if self._on_rows is not None and count > 0:
                self._on_rows(self.moved)
            if not count >= rows > 0:
                break

    def _send(
        self, conn: psycopg.Connection[Any], stmt: sql.Composable, out: list[str]
    ) -> psycopg.Cursor[Any]:
        self.log(render_sql(stmt), out)
        return conn.execute(sql.Composed([stmt]))


def decide(cur: psycopg.Cursor[Any], guard: Guard) -> tuple[Verdict, str] | None:
    """The guard's verdict on the query's row (state, detail); None: no row."""
    row = cur.fetchone()
    if row is None:
        return None
    return guard.decide(str(row[0]), None if row[1] is None else str(row[1]))


def _verdict(cur: psycopg.Cursor[Any], guard: Guard | None) -> tuple[Verdict, str]:
    decided = decide(cur, guard) if guard is not None else None
    return decided or (Verdict.GO, "")


def _send_batch(conn: psycopg.Connection[Any], stmts: list[str]) -> psycopg.Cursor[Any]:
    cur = conn.execute(";\n".join(stmts).encode(conn.info.encoding))
    while cur.nextset():  # to the last statement's result: the guard's
        pass
    return cur


def _rollback(conn: psycopg.Connection[Any]) -> bool:
    """End an open transaction; whether there was one to end."""
    import psycopg
    from psycopg import pq

    if conn.closed or conn.broken or conn.info.transaction_status == pq.TransactionStatus.IDLE:
        return False
    with contextlib.suppress(psycopg.Error):  # a broken connection is reported by the caller
        conn.execute("ROLLBACK")
    return True
