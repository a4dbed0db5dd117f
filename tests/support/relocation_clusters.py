"""What the relocation tests do on two clusters (tests/support/replication_helpers.py
starts them: ``replication_pair``, whose binaries $PGPART_TEST_PUBLISHER_PGBIN
and $PGPART_TEST_SUBSCRIBER_PGBIN choose): a database of one name on both
(``logical_databases``), subscribing, refreshing and waiting, comparing both
sides, the subscriber's log, and a test_decoding slot's changes (deletes
and inserts alike)."""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg import sql

from devcluster import Cluster

_names = itertools.count(1)


class Pair(Protocol):
    """tests/support/replication_helpers.py's ReplicationPair, as used here."""

    @property
    def publisher(self) -> Cluster: ...

    @property
    def subscriber(self) -> Cluster: ...


@dataclass(frozen=True)
class Logical:
    """One database on each side of a pair."""

    pair: Pair
    name: str

    @property
    def pub_dsn(self) -> str:
        return self.pair.publisher.dsn_for(self.name)

    @property
    def sub_dsn(self) -> str:
        return self.pair.subscriber.dsn_for(self.name)

    def pub(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.pub_dsn, autocommit=True)

    def sub(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.sub_dsn, autocommit=True)

    def connection_string(self) -> str:
        """How the subscriber reaches the publisher."""
        p = self.pair.publisher
        return f"host=127.0.0.1 port={p.port} dbname={self.name} user=postgres"


@contextmanager
def logical_databases(pair: Pair, label: str) -> Iterator[Logical]:
    name = f"r{os.getpid()}_{next(_names)}_{re.sub('[^a-z0-9]+', '_', label.lower())}"[:63]
    for cluster in (pair.publisher, pair.subscriber):
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield Logical(pair, name)
    finally:
        with psycopg.connect(pair.subscriber.dsn_for(name), autocommit=True) as conn:
            for (sub,) in conn.execute("SELECT subname::text FROM pg_subscription").fetchall():
                ident = sql.Identifier(sub)
                conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
                conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
                conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))
        with psycopg.connect(pair.publisher.dsn_for(name), autocommit=True) as conn:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    conn.execute(
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                        " WHERE database = current_database()"
                    )
                    break
                except psycopg.errors.ObjectInUse:
                    time.sleep(0.1)  # the walsender is still exiting
        for cluster in (pair.subscriber, pair.publisher):
            with psycopg.connect(cluster.dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def subscribe(db: Logical, publication: str, name: str = "s") -> None:
    with db.sub() as conn:
        conn.execute(
            sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}").format(
                sql.Identifier(name),
                sql.Literal(db.connection_string()),
                sql.Identifier(publication),
            )
        )
    wait_synced(db)


def refresh(db: Logical, name: str = "s") -> None:
    """What a subscriber's DBA does after the publisher gained partitions."""
    with db.sub() as conn:
        conn.execute(
            sql.SQL("ALTER SUBSCRIPTION {} REFRESH PUBLICATION").format(sql.Identifier(name))
        )
    wait_synced(db)


def wait_synced(db: Logical, timeout_s: float = 60.0) -> None:
    """Every subscribed table copied, and the subscriber caught up with
    everything the publisher has written so far."""
    deadline = time.monotonic() + timeout_s
    with db.pub() as pub, db.sub() as sub:
        row = pub.execute("SELECT pg_current_wal_lsn()").fetchone()
        assert row is not None
        target = row[0]
        while True:
            states = sub.execute("SELECT srsubstate::text FROM pg_subscription_rel").fetchall()
            flushed = pub.execute(
                "SELECT coalesce(bool_and(confirmed_flush_lsn >= %s), true)"
                " FROM pg_replication_slots WHERE database = current_database()"
                " AND slot_type = 'logical' AND slot_name NOT LIKE 'pg_%%sync%%'"
                " AND plugin = 'pgoutput'",
                (target,),
            ).fetchone()
            if all(s == "r" for (s,) in states) and flushed and flushed[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"subscriber not caught up: {states}, {flushed}")
            time.sleep(0.05)


def digest(conn: psycopg.Connection[Any], query: str) -> tuple[int, int]:
    """Count and checksum of the rows ``query`` returns (order-free)."""
    row = conn.execute(
        f"SELECT count(*), coalesce(sum(hashtext(q::text)), 0) FROM ({query}) q"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


class ServerLog:
    """The subscriber's server log from now on."""

    def __init__(self, cluster: Cluster) -> None:
        self.path = cluster.logfile
        self.start = self.path.stat().st_size if self.path.exists() else 0

    def errors(self) -> list[str]:
        with open(self.path, encoding="utf-8", errors="replace") as f:
            f.seek(self.start)
            return [line.rstrip() for line in f if "ERROR:" in line or "FATAL:" in line]


@dataclass(frozen=True)
class Change:
    table: str
    op: str  # INSERT, DELETE, UPDATE
    data: str


_CHANGE = re.compile(r"^table (?P<table>\S+): (?P<op>INSERT|UPDATE|DELETE): (?P<data>.*)$")


def decoded(conn: psycopg.Connection[Any], slot: str) -> list[Change]:
    """The changes a test_decoding slot has, consumed."""
    time.sleep(0.3)  # synchronous_commit is off: let the WAL writer flush the last commit
    out = []
    for (text,) in conn.execute(
        "SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL)", (slot,)
    ).fetchall():
        m = _CHANGE.match(text)
        if m:
            out.append(Change(m["table"], m["op"], m["data"]))
    return out


def column(change: Change, name: str) -> str:
    m = re.search(rf"\b{re.escape(name)}\[[^\]]+\]:('(?:[^']|'')*'|\S+)", change.data)
    return m.group(1) if m else ""
