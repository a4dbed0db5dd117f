"""The slow half of tests/db/test_analyze.py: the application never waits behind
the ANALYZE of a parent with a million rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from tests.db.test_analyze import (
    _events,
    _parent_stats,
)
from tests.support.cli_helpers import NOW, cli
from tests.support.helpers_db import inserting


@dataclass
class Reader:
    """Reads a few rows of the table every few ms; records the slowest read."""

    dsn: str
    max_latency_s: float = 0.0
    count: int = 0
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop.is_set():
                    t0 = time.monotonic()
                    conn.execute(
                        "SELECT count(*) FROM events WHERE ts >= '2026-11-18 10:00'"
                        " AND ts < '2026-11-18 10:05'"
                    ).fetchone()
                    self.max_latency_s = max(self.max_latency_s, time.monotonic() - t0)
                    self.count += 1
                    time.sleep(0.003)
        except BaseException as exc:  # reported by the test
            self.error = exc


@contextmanager
def reading(dsn: str) -> Iterator[Reader]:
    reader = Reader(dsn)
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    try:
        yield reader
    finally:
        reader.stop.set()
        thread.join(10)
    assert reader.error is None, reader.error
    assert reader.count > 0


def test_the_application_never_waits_behind_the_analyze(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    _events(pg_conn, rows_per_day=150_000)  # 1,050,000 rows: the ANALYZE takes a while
    insert = sql.SQL("INSERT INTO events (ts, v) VALUES ('2026-11-19 10:00', -1)")
    with inserting(pg_dsn, insert) as inserter, reading(pg_dsn) as reader:
        time.sleep(0.2)
        run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
        time.sleep(0.2)
    assert run.code == 0, run.stdout + run.stderr
    analyze = run.json()["actions"][-1]
    assert analyze["action"] == "analyze" and analyze["done"], analyze
    print(
        f"\nANALYZE took {analyze['seconds'] * 1000:.0f} ms;"
        f" slowest insert {inserter.max_latency_s * 1000:.1f} ms ({inserter.count}),"
        f" slowest read {reader.max_latency_s * 1000:.1f} ms ({reader.count})"
    )
    assert inserter.max_latency_s < 0.25 and reader.max_latency_s < 0.25
    assert _parent_stats(pg_conn).inherited > 0
