"""`stats` reads partition sizes on connections of their own, beside the
snapshot (pgpart.db.sizes): the same figures as one connection reads; read on
the snapshot's connection when no other can be made; never another
database's figures; and no connection left behind."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgpart import api
from pgpart.config.layers import load_settings
from pgpart.config.settings import Overrides
from pgpart.db.connect import connect
from tests.support.cli_helpers import cli, monthly_table


def _sizes(report: Any) -> dict[str, int | None]:
    return {p["name"]: p["bytes"] for t in report["tables"] for p in t["partitions"]}


def _library_sizes(conn: psycopg.Connection[Any], dsn: str, beside: bool) -> dict[str, int | None]:
    settings = load_settings(Overrides(dsn=dsn), {}, Path.cwd())
    found, _ = api.stats(conn, settings, [], sizes_beside=beside)
    return {p.name: p.bytes for t in found for p in t.partitions}


def _build(conn: psycopg.Connection[Any]) -> None:
    monthly_table(conn, months=range(-6, 3), default=True)
    conn.execute(
        "INSERT INTO messages (created_at, body)"
        " SELECT '2026-06-01'::timestamptz + i * interval '1 hour', pg_catalog.repeat('x', 300)"
        "   FROM pg_catalog.generate_series(0, 4000) i"
    )


def test_the_sizes_read_beside_are_those_one_connection_reads(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    _build(pg_conn)
    with connect(pg_dsn) as conn:
        beside = _library_sizes(conn, pg_dsn, beside=True)
        alone = _library_sizes(conn, pg_dsn, beside=False)
    assert beside == alone
    assert len(beside) == 10 and all(b is not None and b > 0 for b in beside.values())
    # and none of the readers' connections is left open (their backends take
    # a moment to exit once closed: a busy machine is given 10 s)
    deadline = time.monotonic() + 10
    while True:
        left = pg_conn.execute(
            "SELECT count(*) FROM pg_catalog.pg_stat_activity"
            " WHERE application_name = 'pgpart' AND datname = pg_catalog.current_database()"
        ).fetchone()
        if left == (0,) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == (0,)


@pytest.fixture
def one_connection_role(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> Iterator[str]:
    """A login that may hold one connection at a time: the readers cannot connect."""
    name = f"lonely_{uuid.uuid4().hex[:8]}"
    pg_conn.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw' CONNECTION LIMIT 1").format(
            sql.Identifier(name)
        )
    )
    try:
        yield make_conninfo(pg_dsn, user=name, password="pw")
    finally:
        pg_conn.execute(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity"
            " WHERE usename = %s",
            (name,),
        )
        pg_conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_without_a_second_connection_the_sizes_are_read_on_the_first(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, one_connection_role: str
) -> None:
    _build(pg_conn)
    everyone = cli(["stats", "--dsn", pg_dsn, "-f", "json"])
    lonely = cli(["stats", "--dsn", one_connection_role, "-f", "json"])
    assert lonely.code == 0 and lonely.stderr == "", lonely.stderr
    assert _sizes(lonely.json()) == _sizes(everyone.json())
    assert all(b is not None and b > 0 for b in _sizes(lonely.json()).values())


@pytest.fixture
def other_database(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> Iterator[str]:
    """Another database of the same server, with a table of the same name
    (so oids can be looked up there and find nothing, or something else)."""
    name = f"elsewhere_{uuid.uuid4().hex[:8]}"
    pg_conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(pg_dsn, dbname=name)
    try:
        with psycopg.connect(dsn, autocommit=True) as other:
            monthly_table(other, months=range(-6, 3), default=True)
        yield dsn
    finally:
        pg_conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_readers_that_reach_another_database_are_not_believed(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, other_database: str
) -> None:
    """A library caller's connection and settings may disagree: the sizes
    are then read on the connection, the one the snapshot describes."""
    _build(pg_conn)
    with connect(pg_dsn) as conn:
        alone = _library_sizes(conn, pg_dsn, beside=False)
        crossed = _library_sizes(conn, other_database, beside=True)
    assert crossed == alone
