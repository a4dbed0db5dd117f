"""An application writing while pgpart works: sessions inserting a row every
few milliseconds, each into its own kind of range, counting failed
statements, recording the slowest one and every row they wrote (its id and
key), so that a test can check that every row is where it belongs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql


@dataclass
class Writer:
    """One application session inserting rows whose key is ``start`` plus a
    growing offset (``step`` each), through the parent table."""

    dsn: str
    table: str
    label: str
    start: datetime
    step: timedelta = timedelta(seconds=1)
    pause_s: float = 0.003
    written: list[tuple[int, datetime]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    worst_s: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        query = sql.SQL("INSERT INTO {} (ts, payload) VALUES (%s, %s) RETURNING id").format(
            sql.Identifier(*self.table.split("."))
        )
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            n = 0
            while not self.stop.is_set():
                key = self.start + n * self.step
                t0 = time.monotonic()
                try:
                    row = conn.execute(query, (key, f"{self.label} {n}")).fetchone()
                except psycopg.Error as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}".strip())
                else:
                    assert row is not None
                    self.written.append((int(row[0]), key))
                self.worst_s = max(self.worst_s, time.monotonic() - t0)
                n += 1
                time.sleep(self.pause_s)


@contextmanager
def writing(writers: Sequence[Writer]) -> Iterator[Sequence[Writer]]:
    threads = [threading.Thread(target=w.run, daemon=True) for w in writers]
    for t in threads:
        t.start()
    time.sleep(0.2)  # every session connected and writing
    try:
        yield writers
    finally:
        for w in writers:
            w.stop.set()
        for t in threads:
            t.join(30)


def misplaced(conn: psycopg.Connection[Any], table: str, writers: Sequence[Writer]) -> list[str]:
    """Rows the writers wrote that are missing, duplicated, or in a partition
    whose range does not hold their key (the DEFAULT holds what no other does)."""
    ids = [i for w in writers for i, _ in w.written]
    rows = conn.execute(
        sql.SQL(
            "SELECT t.id, t.ts, t.tableoid::regclass::text, pg_get_expr(c.relpartbound, c.oid)"
            " FROM {} t JOIN pg_class c ON c.oid = t.tableoid WHERE t.id = ANY(%s)"
        ).format(sql.Identifier(*table.split("."))),
        (ids,),
    ).fetchall()
    seen: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        seen.setdefault(row[0], []).append(row)
    wrong = []
    for w in writers:
        for i, key in w.written:
            found = seen.get(i, [])
            if len(found) != 1:
                wrong.append(f"{w.label} row {i}: found {len(found)} times")
                continue
            _, ts, part, bound = found[0]
            if ts != key:
                wrong.append(f"{w.label} row {i}: key {ts} != {key}")
            elif bound != "DEFAULT" and not _in_bound(conn, ts, bound):
                wrong.append(f"{w.label} row {i} ({ts}) is in {part} {bound}")
    return wrong


def _in_bound(conn: psycopg.Connection[Any], ts: datetime, bound: str) -> bool:
    lo, hi = bound.removeprefix("FOR VALUES FROM (").removesuffix(")").split(") TO (")
    row = conn.execute(
        "SELECT %s >= (%s)::timestamptz AND %s < (%s)::timestamptz",
        (ts, lo.strip("'"), ts, hi.strip("'")),
    ).fetchone()
    return bool(row and row[0])


def summary(writers: Sequence[Writer]) -> str:
    return "; ".join(
        f"{w.label}: {len(w.written)} rows, {len(w.failures)} failed, worst {w.worst_s * 1000:.0f} ms"
        for w in writers
    )
