"""Building partitioned tables, actions and concurrent sessions for DDL tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import psycopg
from psycopg import sql

from pgpart.core.identifiers import parse_qualified_name
from pgpart.core.plan import (
    Action,
    CreatePartition,
    DetachPartition,
    DropPartition,
    Status,
    StorageTemplate,
    TablePlan,
    TableRef,
)
from pgpart.core.policy import Execution
from pgpart.db.catalog import read_snapshot
from pgpart.db.executor import ActionResult, ExecOptions, execute


def utc(y: int, m: int, d: int = 1) -> datetime:
    return datetime(y, m, d, tzinfo=timezone.utc)


def table_ref(conn: psycopg.Connection[Any], qualified: str) -> TableRef:
    """The parent as pgpart's catalog reader sees it."""
    quoted = parse_qualified_name(qualified).quoted()
    row = conn.execute("SELECT to_regclass(%s)::oid", (quoted,)).fetchone()
    assert row is not None and row[0] is not None, qualified
    (table,) = read_snapshot(conn, oids=[row[0]], discover=False).tables
    assert table.key_column is not None and table.key_kind is not None
    return TableRef(
        oid=table.oid,
        schema=table.schema,
        name=table.name,
        key_column=table.key_column,
        key_kind=table.key_kind,
        owner=table.owner,
        acl=table.acl,
    )


def create(
    ref: TableRef,
    partition: str,
    lower: datetime,
    upper: datetime,
    *,
    default: str | None = None,
    move: bool = False,
    storage: StorageTemplate | None = None,
) -> CreatePartition:
    return CreatePartition(
        table=ref,
        partition=partition,
        lower=lower,
        upper=upper,
        default_partition=default,
        default_schema=ref.schema if default else None,
        move_rows=move,
        storage=storage or StorageTemplate(),
    )


def drop(
    ref: TableRef, partition: str, *, concurrently: bool, detach_first: bool = True
) -> DropPartition:
    return DropPartition(
        table=ref,
        partition=partition,
        partition_schema=ref.schema,
        lower=None,
        upper=utc(2000, 1),
        detach_first=detach_first,
        concurrently=concurrently,
    )


def detach(ref: TableRef, partition: str, *, concurrently: bool) -> DetachPartition:
    return DetachPartition(
        table=ref,
        partition=partition,
        partition_schema=ref.schema,
        lower=None,
        upper=utc(2000, 1),
        concurrently=concurrently,
    )


def run(
    dsn: str | None,
    actions: list[Action],
    *,
    lock_timeout_ms: int = 100,
    retry_for_s: float = 10.0,
    statement_timeout_ms: int = 30_000,
    dry_run: bool = False,
    log: Any = None,
    move_batch_rows: int = 100_000,
) -> list[ActionResult]:
    """Run ``actions`` as the executor runs a plan of one table whose
    execution says these limits."""
    execution = Execution(
        lock_timeout_ms=lock_timeout_ms,
        statement_timeout_ms=statement_timeout_ms,
        retry_for_s=retry_for_s,
        move_batch_rows=move_batch_rows,
    )
    return execute(dsn, [planned(actions, execution)], ExecOptions(dry_run=dry_run, log=log))


def planned(actions: list[Action], execution: Execution | None = None) -> TablePlan:
    """A table's plan holding ``actions`` (whatever tables they are on)."""
    return TablePlan(
        table=actions[0].table.qualified if actions else "-",
        status=Status.OK,
        interval=None,
        interval_source=None,
        partitions=0,
        covered_from=None,
        covered_until=None,
        default_rows=None,
        actions=tuple(actions),
        execution=execution or Execution(),
    )


def partitions(conn: psycopg.Connection[Any], qualified: str) -> dict[str, str]:
    """Partition name -> bound expression, straight from the catalog."""
    quoted = parse_qualified_name(qualified).quoted()
    rows = conn.execute(
        "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
        (quoted,),
    ).fetchall()
    return dict(rows)


def relation_exists(conn: psycopg.Connection[Any], schema: str, name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    return row is not None and row[0] > 0


def make_table(
    conn: psycopg.Connection[Any],
    name: str = "events",
    *,
    key_type: str = "timestamptz",
    months: tuple[date, ...] = (date(2026, 1, 1),),
    default: bool = False,
) -> None:
    """A monthly range-partitioned table with one partition per month given."""
    ident = sql.Identifier(name)
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY, ts {} NOT NULL,"
            " payload text) PARTITION BY RANGE (ts)"
        ).format(ident, sql.SQL(key_type))
    )
    for start in months:
        nxt = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(f"{name}_{start:%Y_%m}"),
                ident,
                sql.Literal(start.isoformat()),
                sql.Literal(nxt.isoformat()),
            )
        )
    if default:
        conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
                sql.Identifier(f"{name}_default"), ident
            )
        )


@dataclass
class Holder:
    """A session holding a lock in an open transaction for a while."""

    dsn: str
    lock_sql: sql.SQL | sql.Composed
    hold_s: float
    extra_sql: str | None = None
    pid: int = 0
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                row = conn.execute("SELECT pg_backend_pid()").fetchone()
                assert row is not None
                self.pid = row[0]
                with conn.transaction():
                    conn.execute(self.lock_sql)
                    if self.extra_sql:
                        conn.execute(self.extra_sql.encode())
                    self.ready.set()
                    time.sleep(self.hold_s)
        except BaseException as exc:  # reported by the test through .error
            self.error = exc
            self.ready.set()


@contextmanager
def holding(
    dsn: str, lock_sql: sql.SQL | sql.Composed, hold_s: float, extra_sql: str | None = None
) -> Iterator[Holder]:
    holder = Holder(dsn, lock_sql, hold_s, extra_sql)
    thread = threading.Thread(target=holder.run, daemon=True)
    thread.start()
    assert holder.ready.wait(10)
    assert holder.error is None, holder.error
    try:
        yield holder
    finally:
        thread.join(hold_s + 10)
        assert holder.error is None, holder.error


@dataclass
class Inserter:
    """Inserts a row every few ms and records the slowest insert."""

    dsn: str
    insert_sql: sql.SQL | sql.Composed
    max_latency_s: float = 0.0
    count: int = 0
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop.is_set():
                    t0 = time.monotonic()
                    conn.execute(self.insert_sql)
                    self.max_latency_s = max(self.max_latency_s, time.monotonic() - t0)
                    self.count += 1
                    time.sleep(0.003)
        except BaseException as exc:
            self.error = exc


@contextmanager
def inserting(dsn: str, insert_sql: sql.SQL | sql.Composed) -> Iterator[Inserter]:
    inserter = Inserter(dsn, insert_sql)
    thread = threading.Thread(target=inserter.run, daemon=True)
    thread.start()
    try:
        yield inserter
    finally:
        inserter.stop.set()
        thread.join(10)
    assert inserter.error is None, inserter.error
    assert inserter.count > 0
