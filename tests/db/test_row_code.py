"""Owner code that moving rows out of DEFAULT would run (issue 19).

When pgpart moves rows into a new partition, PostgreSQL evaluates the new
partition's CHECK constraints and generated columns for each row, in
pgpart's session: a function of the table's owner then runs with pgpart's
login as the session user and may SET ROLE to whatever that login may (on
PostgreSQL 15 a superuser pgpart's move made the owner SUPERUSER; a login
that was a member of two owner roles let one owner drop the other's table).
The catalog now lists such functions per table (Snapshot, PartitionedTable.
row_code) and pgpart.core.row_code.relocation_refusal says when a login must
not move the rows, for the relocation to refuse (relocation_blocked).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgpart.core.row_code import RowCode, RowCodeKind, relocation_refusal, untrusted
from pgpart.core.snapshot import PartitionedTable
from pgpart.db.catalog import read_snapshot
from pgpart.db.connect import connect
from tests.db.test_roles import Roles
from tests.support.cli_helpers import cli

CHECK = RowCode("public.f(bigint)", "app", RowCodeKind.CHECK, "CHECK constraint c of public.t")
INDEX = RowCode("public.g(text)", "app", RowCodeKind.INDEX, "index public.t_g_idx")


def test_who_may_run_an_owners_code() -> None:
    # a superuser, or another role than the owner: refused
    assert untrusted([CHECK], "postgres", True) == (CHECK,)
    assert untrusted([CHECK], "pgpart", False) == (CHECK,)
    # logged in as the owner itself: the code has nothing more than its owner
    assert untrusted([CHECK], "app", False) == ()
    # a superuser named like the owner is still a superuser
    assert untrusted([CHECK], "app", True) == (CHECK,)
    # index expressions run as a security-restricted operation when built
    assert untrusted([INDEX], "postgres", True) == ()
    assert untrusted([INDEX], "postgres", True, indexes_filled=True) == (INDEX,)


def test_the_refusal_names_the_function_and_the_way_out() -> None:
    assert relocation_refusal([CHECK], "app", False) is None
    message = relocation_refusal([CHECK, INDEX], "postgres", True, indexes_filled=True)
    assert message is not None
    assert message.startswith("moving rows out of DEFAULT would run public.f(bigint), owned by")
    assert "(CHECK constraint c of public.t) (and 1 more)" in message
    assert "a superuser's rights (SET ROLE)" in message
    assert "logged in as role app itself" in message
    assert "ALTER FUNCTION public.f(bigint) OWNER TO" in message
    member = relocation_refusal([CHECK], "pgpart", False)
    assert member is not None and "role pgpart's rights" in member


@pytest.fixture
def roles(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> Iterator[Roles]:
    made = Roles(pg_conn, pg_dsn)
    yield made
    pg_conn.execute("RESET ROLE")
    for name in reversed(made.names):
        made.sql("DROP OWNED BY {} CASCADE", name)
        made.sql("DROP ROLE {}", name)


def owned_events(conn: psycopg.Connection[Any], roles: Roles) -> str:
    """events, made by an ordinary owner role with its own functions in
    every place a moved row meets; plus one CHECK on a superuser's function
    and one on pg_catalog's alone, which are not listed."""
    owner = roles.make("owner", "NOSUPERUSER")
    roles.sql("GRANT CREATE ON SCHEMA public TO {}", owner)
    conn.execute(
        "CREATE FUNCTION trusted(x bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true'"
    )
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
    for fn in ("in_check", "in_generated", "in_operator", "in_domain", "in_sibling"):
        conn.execute(
            f"CREATE FUNCTION {fn}(x bigint) RETURNS boolean LANGUAGE plpgsql IMMUTABLE"
            " AS $$ BEGIN RETURN true; END $$"
        )
    conn.execute(
        "CREATE FUNCTION in_index(x text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT x'"
    )
    conn.execute(
        "CREATE FUNCTION op_fn(a bigint, b bigint) RETURNS boolean LANGUAGE sql IMMUTABLE"
        " AS 'SELECT public.in_operator(a)'"
    )
    conn.execute(
        "CREATE OPERATOR public.=== (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = op_fn)"
    )
    conn.execute("CREATE DOMAIN checked AS bigint CHECK (public.in_domain(VALUE))")
    conn.execute(
        "CREATE TABLE events (id bigint NOT NULL, ts timestamptz NOT NULL, body text,"
        " g boolean GENERATED ALWAYS AS (public.in_generated(id)) STORED,"
        " CONSTRAINT by_function CHECK (public.in_check(id)),"
        " CONSTRAINT by_operator CHECK (id OPERATOR(public.===) 1),"
        " CONSTRAINT by_domain CHECK ((id::public.checked) IS NOT NULL),"
        " CONSTRAINT by_superuser CHECK (public.trusted(id)),"
        " CONSTRAINT by_catalog CHECK (length(body) < 1000)"
        ") PARTITION BY RANGE (ts)"
    )
    conn.execute("CREATE INDEX ON events (public.in_index(body))")
    for month in (10, 11):
        conn.execute(
            f"CREATE TABLE events_2026_{month} PARTITION OF events"
            f" FOR VALUES FROM ('2026-{month}-01 00:00+00') TO ('2026-{month + 1}-01 00:00+00')"
        )
    conn.execute(
        "ALTER TABLE events_2026_11 ADD CONSTRAINT own_check CHECK (public.in_sibling(id))"
    )
    conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    conn.execute("RESET ROLE")
    return owner


def events(snapshot_tables: tuple[PartitionedTable, ...]) -> PartitionedTable:
    return next(t for t in snapshot_tables if t.name == "events")


def test_the_catalog_lists_the_owners_functions_a_moved_row_meets(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    owner = owned_events(pg_conn, roles)
    with connect(pg_dsn) as conn:
        snapshot = read_snapshot(conn)
    table = events(snapshot.tables)
    found = {(c.function, c.kind, c.where, c.owner) for c in table.row_code}
    assert found == {
        ("public.in_check(bigint)", RowCodeKind.CHECK, "CHECK constraint by_function of public.events", owner),
        ("public.op_fn(bigint,bigint)", RowCodeKind.CHECK, "CHECK constraint by_operator of public.events", owner),
        ("public.in_domain(bigint)", RowCodeKind.CHECK, "CHECK constraint by_domain of public.events", owner),
        ("public.in_generated(bigint)", RowCodeKind.GENERATED, "generated column g of public.events", owner),
        ("public.in_sibling(bigint)", RowCodeKind.CHECK, "CHECK constraint own_check of public.events_2026_11", owner),
        ("public.in_index(text)", RowCodeKind.INDEX, "index public.events_in_index_idx", owner),
        ("public.in_index(text)", RowCodeKind.INDEX, "index public.events_2026_11_in_index_idx", owner),
    }  # fmt: skip
    # the superuser login must not move the rows; the owner itself may
    refusal = relocation_refusal(table.row_code, snapshot.login.name, snapshot.login.superuser)
    assert refusal is not None and "(CHECK constraint by_domain of public.events)" in refusal
    assert relocation_refusal(table.row_code, owner, False) is None


def test_a_member_of_several_owners_must_not_move_them_either(
    pg_conn: psycopg.Connection[Any], roles: Roles
) -> None:
    owner = owned_events(pg_conn, roles)
    other = roles.make("other_owner")
    runner = roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)
    roles.sql("GRANT {} TO {}", other, runner)
    with connect(roles.dsn_for(runner)) as conn:
        snapshot = read_snapshot(conn)
    login = snapshot.login
    assert login.name == runner and not login.superuser
    refusal = relocation_refusal(events(snapshot.tables).row_code, login.name, login.superuser)
    assert refusal is not None and f"role {runner}'s rights" in refusal


def test_tables_without_a_default_or_owner_code_list_nothing(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    pg_conn.execute(
        "CREATE TABLE plain (ts timestamptz NOT NULL, CHECK (ts > '2000-01-01'))"
        " PARTITION BY RANGE (ts)"
    )
    pg_conn.execute("CREATE TABLE plain_default PARTITION OF plain DEFAULT")
    with connect(pg_dsn) as conn:
        snapshot = read_snapshot(conn)
    assert all(t.row_code == () for t in snapshot.tables)


@pytest.mark.parametrize("relocation", ["lock", "drain"])
def test_a_superusers_maintain_never_runs_the_owners_check_function(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles, relocation: str
) -> None:
    """End to end, the attack itself: an ordinary owner's CHECK function that,
    run in a superuser's session (even under SET ROLE owner), goes back to the
    session's role and makes its owner SUPERUSER, on a table
    with December rows in its DEFAULT. A superuser's maintain must not move
    them (moving would run the function in its session): December is
    refused naming the function, the later months are made, the owner stays
    an ordinary role and no row moves."""
    owner = roles.make("owner", "NOSUPERUSER")
    roles.sql("GRANT CREATE ON SCHEMA public TO {}", owner)
    pg_conn.execute("CREATE TABLE escalated (who text, at timestamptz DEFAULT now())")
    pg_conn.execute("GRANT INSERT ON escalated TO PUBLIC")
    pg_conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
    # armed once the test's own rows are in (its session is a superuser's too)
    pg_conn.execute("CREATE TABLE public.armed ()")
    pg_conn.execute(
        sql.SQL(
            "CREATE FUNCTION public.sneaky(x bigint) RETURNS boolean LANGUAGE plpgsql AS $$"
            " BEGIN"
            "   IF (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)"
            "      AND EXISTS (SELECT FROM public.armed) THEN"
            "     RESET ROLE;"  # back to the session's login, as the function may
            "     EXECUTE 'ALTER ROLE ' || quote_ident({owner}) || ' SUPERUSER';"
            "     INSERT INTO public.escalated (who) VALUES (current_user);"
            "   END IF;"
            "   RETURN true;"
            " END $$"
        ).format(owner=sql.Literal(owner))
    )
    pg_conn.execute(
        "CREATE TABLE events (id bigint NOT NULL, ts timestamptz NOT NULL,"
        " CONSTRAINT guarded CHECK (public.sneaky(id))) PARTITION BY RANGE (ts)"
    )
    for month in (10, 11):
        pg_conn.execute(
            f"CREATE TABLE events_2026_{month} PARTITION OF events"
            f" FOR VALUES FROM ('2026-{month}-01 00:00+00') TO ('2026-{month + 1}-01 00:00+00')"
        )
    pg_conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    pg_conn.execute(
        "INSERT INTO events SELECT g, timestamptz '2026-12-05 00:00+00' + g * interval '1 min'"
        " FROM generate_series(1, 100) g"
    )
    pg_conn.execute("INSERT INTO public.armed DEFAULT VALUES")
    pg_conn.execute("RESET ROLE")
    before = pg_conn.execute("SELECT count(*) FROM events_default").fetchone()
    run = cli(
        ["maintain", "events", "--dsn", pg_dsn, "--now", "2026-11-22T12:00Z",
         "--relocation", relocation]
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.code == 2, out
    assert "public.sneaky(bigint)" in out and "relocation_blocked" in out, out
    rolsuper = pg_conn.execute(
        "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (owner,)
    ).fetchone()
    assert rolsuper == (False,)
    assert pg_conn.execute("SELECT count(*) FROM escalated").fetchone() == (0,)
    assert pg_conn.execute("SELECT count(*) FROM events_default").fetchone() == before
    made = pg_conn.execute(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
    ).fetchone()
    assert made is not None and made[0] > 3  # the months without DEFAULT rows were made
