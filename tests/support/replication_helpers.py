"""Two PostgreSQL clusters that replicate (logical replication), for tests of
publishers, subscribers and change-data-capture slots.

* ``replication_pair`` (session fixture): a publisher and a subscriber
  cluster, both ``wal_level = logical``, started by devcluster and removed
  at the end. Binaries: ``$PGPART_TEST_PUBLISHER_PGBIN`` and
  ``$PGPART_TEST_SUBSCRIBER_PGBIN`` (e.g. 15 and 18 for a pair of versions),
  else the suite's own (``$PGPART_TEST_PGBIN``, else what devcluster finds).
* ``pair`` (fixture): a fresh database of the same name on both clusters
  (``Pair``); afterwards every subscription and slot of it is dropped, then
  the databases.
* ``subscribe``, ``wait_synced``: make a subscription; wait until the
  subscriber has applied everything the publisher wrote so far and every
  table it subscribes to is copied.
* ``digest``: row count and checksum of a table (or of some columns and
  rows, for a column list or a row filter), to compare both sides.
* ``worker_errors``: ERROR lines the subscriber's replication workers wrote
  to its server log since the fixture began (an apply worker that stopped).
* ``cdc_slot`` / ``decoded_inserts``: a logical decoding slot read with SQL
  (test_decoding where the server has it, else pgoutput), and the inserts
  it decoded per table name.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import struct
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from devcluster import Cluster, ClusterError, destroy_cluster, find_bindir, start_cluster

PUBLISHER_PGBIN = "PGPART_TEST_PUBLISHER_PGBIN"
SUBSCRIBER_PGBIN = "PGPART_TEST_SUBSCRIBER_PGBIN"

# Logical replication on, room for many subscriptions, an apply worker that
# restarts quickly after an error (the default waits 5 s), and commits that
# flush WAL at once: a walsender sends only flushed WAL, so devcluster's
# asynchronous commit would delay every change by up to wal_writer_delay.
LOGICAL: dict[str, str | int | float | bool] = {
    "wal_level": "logical",
    "synchronous_commit": True,
    "max_replication_slots": 40,
    "max_wal_senders": 40,
    "max_worker_processes": 40,
    "max_logical_replication_workers": 30,
    "max_sync_workers_per_subscription": 4,
    "wal_retrieve_retry_interval": "500ms",
}
SYNC_TIMEOUT_S = 60.0
_counter = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ReplicationPair:
    publisher: Cluster
    subscriber: Cluster


@dataclass(frozen=True, slots=True)
class Pair:
    """One database, of the same name, on the publisher and the subscriber."""

    clusters: ReplicationPair
    name: str
    log_start: int  # size of the subscriber's server log when the pair was made

    @property
    def pub(self) -> str:
        """Superuser DSN of the publisher's database."""
        return self.clusters.publisher.dsn_for(self.name)

    @property
    def sub(self) -> str:
        return self.clusters.subscriber.dsn_for(self.name)

    @property
    def pub_conninfo(self) -> str:
        """How the subscriber connects to the publisher (CREATE SUBSCRIPTION)."""
        return self.clusters.publisher.dsn_for(self.name)

    def run(self, side: str, *statements: str | sql.SQL | sql.Composed) -> list[tuple[Any, ...]]:
        """Run statements on "pub" or "sub" (autocommit); the last one's rows."""
        rows: list[tuple[Any, ...]] = []
        with psycopg.connect(self.pub if side == "pub" else self.sub, autocommit=True) as conn:
            for stmt in statements:
                cur = conn.execute(stmt)
                rows = cur.fetchall() if cur.description else []
        return rows


def _bindir(variable: str) -> Path:
    given = os.environ.get(variable)
    return find_bindir(Path(given) if given else None)


@pytest.fixture(scope="session")
def replication_pair() -> Iterator[ReplicationPair]:
    started: list[Cluster] = []
    try:
        for variable in (PUBLISHER_PGBIN, SUBSCRIBER_PGBIN):
            started.append(start_cluster(bindir=_bindir(variable), settings=LOGICAL))
    except ClusterError as exc:
        for cluster in started:
            destroy_cluster(cluster)
        pytest.fail(f"cannot start the replication clusters: {exc}", pytrace=False)
    try:
        yield ReplicationPair(*started)
    finally:
        for cluster in started:
            destroy_cluster(cluster)


@pytest.fixture
def pair(replication_pair: ReplicationPair) -> Iterator[Pair]:
    name = f"repl_{os.getpid()}_{next(_counter)}"
    for cluster in (replication_pair.publisher, replication_pair.subscriber):
        with psycopg.connect(cluster.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    made = Pair(replication_pair, name, replication_pair.subscriber.logfile.stat().st_size)
    try:
        yield made
    finally:
        _drop_pair(made)


def _drop_pair(pair: Pair) -> None:
    with psycopg.connect(pair.sub, autocommit=True) as conn:
        for (name,) in conn.execute(
            "SELECT subname FROM pg_subscription"
            " WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall():
            ident = sql.Identifier(name)
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
            conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))
    for cluster in (pair.clusters.publisher, pair.clusters.subscriber):
        with psycopg.connect(cluster.dsn, autocommit=True) as admin:
            _drop_slots(admin, pair.name)
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(pair.name))
            )


def _drop_slots(admin: psycopg.Connection[Any], database: str) -> None:
    """The slots of a database, once their walsenders are gone."""
    deadline = time.monotonic() + 10
    while True:
        rows = admin.execute(
            "SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = %s",
            (database,),
        ).fetchall()
        if not rows:
            return
        for slot, pid in rows:
            if pid is not None:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                continue
            with contextlib.suppress(psycopg.errors.ObjectInUse):
                admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        if time.monotonic() > deadline:
            raise AssertionError(f"slots of {database} still in use: {rows}")
        time.sleep(0.05)


def subscribe(pair: Pair, name: str, publications: Sequence[str], **options: Any) -> None:
    """CREATE SUBSCRIPTION name ... PUBLICATION publications WITH (options);
    ``conninfo`` (an option of this function) replaces the superuser's."""
    conninfo = options.pop("conninfo", None) or pair.pub_conninfo
    opts = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in options.items()
    )
    stmt = sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}").format(
        sql.Identifier(name),
        sql.Literal(conninfo),
        sql.SQL(", ").join(sql.Identifier(p) for p in publications),
    )
    if options:
        stmt += sql.SQL(" WITH ({})").format(opts)
    pair.run("sub", stmt)


def wait_synced(pair: Pair, subscription: str, timeout: float = SYNC_TIMEOUT_S) -> None:
    """Until the subscriber has applied all the publisher wrote so far, and
    has copied every table the subscription knows."""
    (target,) = pair.run("pub", "SELECT pg_current_wal_lsn()")[0]
    deadline = time.monotonic() + timeout
    while True:
        caught_up = pair.run(
            "pub",
            sql.SQL(
                "SELECT count(*) FROM pg_stat_replication"
                " WHERE application_name = {} AND replay_lsn >= {}::pg_lsn"
            ).format(sql.Literal(subscription), sql.Literal(str(target))),
        )[0][0]
        pending = pair.run(
            "sub",
            sql.SQL(
                "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s"
                " ON s.oid = r.srsubid WHERE s.subname = {} AND r.srsubstate <> 'r'"
            ).format(sql.Literal(subscription)),
        )[0][0]
        if caught_up and not pending:
            return
        if time.monotonic() > deadline:
            errors = worker_errors(pair)
            raise AssertionError(
                f"subscription {subscription} not synced after {timeout} s"
                f" (caught up: {bool(caught_up)}, tables still copying: {pending});"
                f" worker errors: {errors}"
            )
        time.sleep(0.1)


def assert_same_rows(
    pair: Pair,
    subscription: str,
    table: str,
    columns: str = "*",
    where: str = "true",
    settle: float = 20.0,
) -> None:
    """The subscriber's rows of ``table`` (``columns`` of the rows ``where``
    selects, for a column list or a row filter) are the publisher's, once it
    caught up: waited for up to ``settle`` s more, since a table just copied
    may show its last rows a moment after its state says ready. A row lost
    never arrives: the assertion then shows both sides."""
    wait_synced(pair, subscription)
    deadline = time.monotonic() + settle
    while True:
        want, got = digest(pair.pub, table, columns, where), digest(pair.sub, table, columns, where)
        if want == got:
            return
        if time.monotonic() > deadline:
            errors = worker_errors(pair)
            raise AssertionError(
                f"{table}: subscriber has {got[0]} rows, publisher {want[0]}"
                f" (or their contents differ); worker errors: {errors}"
            )
        time.sleep(0.1)


def digest(dsn: str, table: str, columns: str = "*", where: str = "true") -> tuple[int, str | None]:
    """(rows, md5 of the rows in order) of ``SELECT columns FROM table WHERE where``."""
    query = (
        f"SELECT count(*), md5(string_agg(r::text, '|' ORDER BY r::text))"
        f" FROM (SELECT {columns} FROM {table} WHERE {where}) AS r"
    )
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), row[1]


_WORKER = re.compile(
    r'\[(\d+)\] LOG:  logical replication \S+ (?:\S+ )?worker for subscription "([^"]+)"'
)
_WORKER_ERROR = re.compile(r"\[(\d+)\] ERROR:  (.*)")


def worker_errors(pair: Pair) -> list[str]:
    """ERROR lines of this pair's subscriptions' workers (apply, table
    synchronization) in the subscriber's server log since the pair was made."""
    with pair.clusters.subscriber.logfile.open("rb") as log:
        log.seek(pair.log_start)
        text = log.read().decode("utf-8", "replace")
    with psycopg.connect(pair.sub) as conn:
        mine = {
            r[0]
            for r in conn.execute(
                "SELECT subname FROM pg_subscription"
                " WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchall()
        }
    pids = {m.group(1) for m in _WORKER.finditer(text) if m.group(2) in mine}
    errors = [m.group(2) for m in _WORKER_ERROR.finditer(text) if m.group(1) in pids]
    return list(dict.fromkeys(errors))  # each once: a worker in a loop repeats its error


def cdc_slot(dsn: str, name: str, publication: str | None = None) -> str:
    """A logical slot read with SQL, as a CDC pipeline reads its changes:
    test_decoding if the server has it, else pgoutput (of ``publication``).
    Returns the plugin."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (name,))
            return "test_decoding"
        except psycopg.errors.UndefinedFile:
            if publication is None:
                raise
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
    return "pgoutput"


def decoded_inserts(
    dsn: str, slot: str, plugin: str, publication: str | None = None
) -> Counter[str]:
    """Inserts the slot decoded so far (peeked, not consumed), per table name."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if plugin == "test_decoding":
            rows = conn.execute(
                "SELECT data FROM pg_logical_slot_peek_changes(%s, NULL, NULL)", (slot,)
            ).fetchall()
            found = (re.match(r"table ([^:]+): INSERT:", r[0]) for r in rows)
            return Counter(m.group(1) for m in found if m)
        rows = conn.execute(
            "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL,"
            " 'proto_version', '1', 'publication_names', %s)",
            (slot, publication),
        ).fetchall()
    return _pgoutput_inserts(bytes(r[0]) for r in rows)


def _pgoutput_inserts(messages: Iterator[bytes] | Any) -> Counter[str]:
    """Inserts per table of pgoutput messages (protocol version 1): 'R'
    names a relation (oid, schema, name), 'I' inserts into one."""
    names: dict[int, str] = {}
    out: Counter[str] = Counter()
    for data in messages:
        kind = data[:1]
        if kind == b"R":
            (oid,) = struct.unpack("!I", data[1:5])
            schema, name = data[5:].split(b"\0")[:2]
            names[oid] = f"{schema.decode()}.{name.decode()}"
        elif kind == b"I":
            (oid,) = struct.unpack("!I", data[1:5])
            out[names.get(oid, str(oid))] += 1
    return out


def make_role(cluster: Cluster, prefix: str, options: str = "") -> str:
    """A new login role whose password is its name (roles go with the
    cluster); ``options`` as CREATE ROLE takes them. Returns its name."""
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(cluster.dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + options).format(
                sql.Identifier(name), sql.Literal(name)
            )
        )
    return name


def as_role(dsn: str, role: str) -> str:
    """``dsn`` logged in as a role make_role made."""
    return make_conninfo(dsn, user=role, password=role)
