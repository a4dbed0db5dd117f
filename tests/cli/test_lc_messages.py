"""Failures are classified by SQLSTATE and the catalog, never by the server's
English: every classification case gives the same verdict, exit code and
pgpart-authored text when the server speaks German (lc_messages).

The German locale must exist on the server's machine (.ci/run makes it with
localedef) and the server must carry its translations (Debian's builds do;
the PyPI wheels used for 16 and 18 are built without NLS, where the server
speaks English whatever lc_messages says: there these tests are skipped,
saying so).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.support.cli_helpers import NOW, cli, monthly_table
from tests.support.helpers_db import (
    create,
    holding,
    make_table,
    relation_exists,
    run,
    table_ref,
    utc,
)

GERMAN = "de_DE.UTF-8"


@pytest.fixture(params=["C", GERMAN])
def language(request: pytest.FixtureRequest, pg_conn: psycopg.Connection[Any]) -> str:
    """The test database's lc_messages, for every new session."""
    lang: str = request.param
    dbname = sql.Identifier(pg_conn.info.dbname)
    try:
        pg_conn.execute(sql.SQL("ALTER DATABASE {} SET lc_messages = {}").format(dbname, lang))
    except psycopg.errors.InvalidParameterValue:
        pytest.fail(f"the server cannot use locale {lang}: run localedef (see .ci/run)")
    if lang == GERMAN:
        probe = psycopg.connect(make_conninfo(pg_conn.info.dsn, password=None) or "")
        try:
            probe.execute("SELECT 1/0")
        except psycopg.errors.DivisionByZero as exc:
            if "Division" not in str(exc):
                pytest.skip("this server build has no German translations (built without NLS)")
        finally:
            probe.close()
    return lang


def test_overlap_and_same_bounds(language: str, pg_conn: psycopg.Connection, pg_dsn: str) -> None:
    make_table(pg_conn, "a", months=(date(2026, 1, 1), date(2026, 2, 1)))
    a = table_ref(pg_conn, "a")
    same, partial = run(
        pg_dsn,
        [
            create(a, "a_feb_by_pgpart", utc(2026, 2), utc(2026, 3)),
            create(a, "a_x", utc(2026, 1, 15), utc(2026, 2, 15)),
        ],
    )
    assert same.done and same.skipped and same.error is None, same
    assert partial.error is not None
    assert "the range overlaps partition public.a_2026_01 (made since pgpart read the catalog)" in (
        partial.error
    ), partial.error


def test_default_holding_rows_of_the_range(
    language: str, pg_conn: psycopg.Connection, pg_dsn: str
) -> None:
    make_table(pg_conn, default=True)
    pg_conn.execute("INSERT INTO events (ts, payload) VALUES ('2026-02-03', 'x')")
    ref = table_ref(pg_conn, "events")
    (result,) = run(
        pg_dsn,
        [create(ref, "events_2026_02", utc(2026, 2), utc(2026, 3), default="events_default")],
    )
    assert result.error is not None and not result.done
    assert "(the default partition holds rows of this range: plan again to move them)" in (
        result.error
    )
    if language == GERMAN:  # the server's own words are German indeed
        assert "verletzt" in result.error, result.error
    assert not relation_exists(pg_conn, "public", "events_2026_02")


def test_lock_timeout_names_the_holder(
    language: str, pg_conn: psycopg.Connection, pg_dsn: str
) -> None:
    make_table(pg_conn)
    ref = table_ref(pg_conn, "events")
    lock = sql.SQL("LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE")
    with holding(pg_dsn, lock, 2.0) as holder:
        (result,) = run(pg_dsn, [create(ref, "events_2026_02", utc(2026, 2), utc(2026, 3))],
                        retry_for_s=0.5)  # fmt: skip
    assert result.error is not None
    assert result.error.startswith("lock timeout on public.events after ")
    assert f"held by pid {holder.pid} (AccessExclusiveLock)" in result.error


@pytest.fixture
def stranger(pg_conn: psycopg.Connection, pg_dsn: str) -> Iterator[str]:
    """A login role that is no member of the table's owner (cluster-wide: dropped after)."""
    name = f"stranger_{uuid.uuid4().hex[:8]}"
    pg_conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw'").format(sql.Identifier(name)))
    try:
        yield make_conninfo(pg_dsn, user=name, password="pw")
    finally:
        pg_conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
        pg_conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_privilege_hint_comes_from_the_catalog(
    language: str, pg_conn: psycopg.Connection, stranger: str
) -> None:
    monthly_table(pg_conn, months=range(-1, 1))
    result = cli(["maintain", "--dsn", stranger, "--now", NOW])
    assert result.code == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("pgpart: public.messages: ")
    assert 'the login role must be a member of role "postgres"' in line


def test_unknown_table_and_check_verdicts(
    language: str, pg_conn: psycopg.Connection, pg_dsn: str
) -> None:
    monthly_table(pg_conn, months=range(-1, 1), default=True)
    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES ('2027-03-01', 'x')")
    check = cli(["check", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert check.code == 1
    codes = [p["code"] for p in check.json()["tables"][0]["problems"]]
    assert codes == ["default_has_rows"]
    unknown = cli(["create", "nope", "--dsn", pg_dsn, "--now", NOW])
    assert unknown.code == 3 and "nope" in unknown.stdout + unknown.stderr
