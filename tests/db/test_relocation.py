"""Issue 10, part 2: rows moved out of a DEFAULT partition are relocated, not
deleted (docs/relocation.md).

The table: messages, monthly, August..November 2026 plus DEFAULT, and 50 rows
in DEFAULT for December 2026 (which maintain creates, NOW = 2026-11-22).
Around it, one of:

- ``cascade`` / ``set_null`` / ``no_action``: table ``refs`` has a FOREIGN KEY
  to messages with that ON DELETE action, referencing every DEFAULT row;
- ``audit_default``: an AFTER DELETE row trigger on the DEFAULT partition
  writing into ``audit``;
- ``audit_parent``: an AFTER INSERT OR DELETE row trigger on the parent
  (cloned onto every partition) writing into ``audit``;
- ``everything``: all of the above at once (three referencing tables).

As superuser the move must touch nothing but the moved rows: every table's
count and checksum is identical before and after. As a non-superuser member of
the owner role without SET on session_replication_role the move is refused
before anything is tried (relocation_blocked, naming what would see it and the
GRANT), the months needing no moved rows are still created, ``check`` says so
ahead of time; after the GRANT the same role succeeds.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from tests.support.cli_helpers import NOW, Run, cli
from tests.support.sibling_compare import (
    Roles,
    build_monthly,
    partitions_of,
    roles_fixture,  # noqa: F401  (the roles fixture)
    table_checksum,
)

SCENARIOS = ["cascade", "set_null", "no_action", "audit_default", "audit_parent"]
ACTIONS = {"cascade": "CASCADE", "set_null": "SET NULL", "no_action": "NO ACTION"}
DECEMBER = "FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00')"
GRANT = re.compile(r'GRANT SET ON PARAMETER session_replication_role TO ("?)([\w$]+)\1')


def build(conn: psycopg.Connection[Any], scenario: str) -> list[str]:
    """The schema of a scenario; returns the tables whose rows must not change."""
    build_monthly(
        conn, columns="id bigint NOT NULL, created_at timestamptz NOT NULL, body text", default=True
    )
    conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-08-01 00:00+00' + g * interval '5 hours',"
        " 'old ' || g FROM generate_series(1, 300) g"
    )
    conn.execute(  # the rows to relocate
        "INSERT INTO messages SELECT g, timestamptz '2026-12-01 00:00+00' + (g - 5000) * interval '9 hours',"
        " 'dec ' || g FROM generate_series(5001, 5050) g"
    )
    assert conn.execute("SELECT count(*) FROM messages_default").fetchone() == (50,)
    tables = ["messages"]
    fks = list(ACTIONS) if scenario == "everything" else [s for s in ACTIONS if s == scenario]
    for fk in fks:
        name = f"refs_{fk}" if scenario == "everything" else "refs"
        conn.execute(
            f"CREATE TABLE {name} (rid serial PRIMARY KEY, msg_id bigint, msg_at timestamptz,"
            f" note text, FOREIGN KEY (msg_id, msg_at) REFERENCES messages (id, created_at)"
            f" ON DELETE {ACTIONS[fk]})"
        )
        # every DEFAULT row referenced, and some rows of existing partitions
        conn.execute(
            f"INSERT INTO {name} (msg_id, msg_at, note) SELECT id, created_at, 'ref ' || id"
            " FROM messages WHERE id > 5000 OR id % 10 = 0"
        )
        tables.append(name)
    if scenario in ("audit_default", "audit_parent", "everything"):
        conn.execute("CREATE TABLE audit (op text, tbl text, id bigint, at timestamptz)")
        conn.execute("INSERT INTO audit VALUES ('INSERT', 'messages', 0, '2026-01-01')")
        conn.execute(
            "CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
            " SET search_path = public AS $$ BEGIN"
            " INSERT INTO audit SELECT TG_OP, TG_TABLE_NAME, r.id, now()"
            " FROM (SELECT (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).*) r;"
            " RETURN NULL; END $$"
        )
        tables.append("audit")
    if scenario in ("audit_default", "everything"):
        conn.execute(
            "CREATE TRIGGER audit_default AFTER DELETE ON messages_default"
            " FOR EACH ROW EXECUTE FUNCTION audit_row()"
        )
    if scenario in ("audit_parent", "everything"):
        conn.execute(
            "CREATE TRIGGER audit_parent AFTER INSERT OR DELETE ON messages"
            " FOR EACH ROW EXECUTE FUNCTION audit_row()"
        )
    return tables


def checksums(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, Any]:
    return {t: table_checksum(conn, t) for t in tables}


def december(conn: psycopg.Connection[Any]) -> str | None:
    found = [p for p, b in partitions_of(conn, "messages").items() if b == DECEMBER]
    return found[0] if found else None


def default_rows(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM messages_default").fetchone()
    assert row is not None
    return int(row[0])


def maintain(dsn: str, *extra: str) -> Run:
    return cli(["maintain", "messages", "--dsn", dsn, "--now", NOW, *extra])


def assert_relocated(conn: psycopg.Connection[Any], before: dict[str, Any]) -> None:
    part = december(conn)
    assert part is not None, partitions_of(conn, "messages")
    assert default_rows(conn) == 0
    moved = conn.execute(f"SELECT count(*), min(id), max(id) FROM {part}").fetchone()
    assert moved == (50, 5001, 5050)
    after = checksums(conn, list(before))
    assert after == before, {t: (before[t], after[t]) for t in before if before[t] != after[t]}


@pytest.mark.parametrize("scenario", [*SCENARIOS, "everything"])
def test_superuser_relocates_without_touching_anything_else(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, scenario: str
) -> None:
    tables = build(pg_conn, scenario)
    before = checksums(pg_conn, tables)
    run = maintain(pg_dsn)
    assert run.code == 0, run.stdout + run.stderr
    assert_relocated(pg_conn, before)
    for later in ("public.messages_2027_01", "public.messages_2027_02"):
        assert later in partitions_of(pg_conn, "messages")
    # the triggers and keys still work afterwards (nothing left disabled)
    if scenario in ("audit_parent", "everything"):
        pg_conn.execute("INSERT INTO messages VALUES (9999, '2026-12-30', 'new')")
        assert pg_conn.execute(
            "SELECT count(*) FROM audit WHERE id = 9999 AND op = 'INSERT'"
        ).fetchone() == (1,)
    if scenario == "cascade":
        pg_conn.execute("DELETE FROM messages WHERE id = 5001")
        assert pg_conn.execute("SELECT count(*) FROM refs WHERE msg_id = 5001").fetchone() == (0,)


def _owned(conn: psycopg.Connection[Any], roles: Roles) -> tuple[str, str]:
    owner = roles.make("tbl_owner")
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    for (name,) in conn.execute(
        "SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
        " AND c.relkind IN ('r', 'p') AND c.relname LIKE 'messages%'"
    ).fetchall():
        roles.sql("ALTER TABLE {} OWNER TO {}", name, owner)
    runner = roles.login("runner")  # INHERIT member of the owner, not superuser
    roles.sql("GRANT {} TO {}", owner, runner)
    return owner, runner


def _problem_codes(run: Run, table: str = "public.messages") -> list[dict[str, Any]]:
    [entry] = [t for t in run.json()["tables"] if t["table"] == table]
    return list(entry["problems"])


def _names_what_would_see_it(text: str, scenario: str) -> None:
    if scenario in ACTIONS:
        assert re.search(r"\brefs\b", text), text  # the referencing table
    elif scenario == "audit_default":
        assert "audit_default" in text, text
    elif scenario == "audit_parent":
        assert "audit_parent" in text, text


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_member_of_owner_without_the_grant_is_refused_before_trying(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles, scenario: str
) -> None:
    tables = build(pg_conn, scenario)
    owner, runner = _owned(pg_conn, roles)
    dsn = roles.dsn_for(runner)
    before = checksums(pg_conn, tables)

    # check says so ahead of time, as the role that will run maintain
    check = cli(["check", "messages", "--dsn", dsn, "--now", NOW, "-f", "json"])
    assert "Traceback" not in check.stderr, check.stderr
    blocked = [p for p in _problem_codes(check) if p["code"] == "relocation_blocked"]
    assert blocked, check.stdout
    assert check.code in (1, 2) and blocked[0]["severity"] in ("warning", "critical")
    _names_what_would_see_it(blocked[0]["message"], scenario)

    run = maintain(dsn)
    out = run.stdout + run.stderr
    assert run.code == 2, out
    assert "Traceback" not in out
    assert "relocation_blocked" in out, out
    _names_what_would_see_it(out, scenario)
    grant = GRANT.search(out)
    assert grant is not None, out
    assert grant.group(2) in (runner, owner), grant.group(0)
    # refused before trying: nothing anywhere changed, December not made
    assert checksums(pg_conn, tables) == before
    assert default_rows(pg_conn) == 50
    assert december(pg_conn) is None
    # the months needing no moved rows are made all the same
    parts = partitions_of(pg_conn, "messages")
    assert "public.messages_2027_01" in parts and "public.messages_2027_02" in parts
    # and the server never saw a failed attempt: no FK error, no trigger ran
    assert "violates foreign key" not in out

    if pg_conn.info.server_version < 150000:
        return  # GRANT SET ON PARAMETER is PostgreSQL 15+
    pg_conn.execute(
        f"GRANT SET ON PARAMETER session_replication_role TO {grant.group(1)}"
        f"{grant.group(2)}{grant.group(1)}"
    )
    check = cli(["check", "messages", "--dsn", dsn, "--now", NOW, "-f", "json"])
    assert not [p for p in _problem_codes(check) if p["code"] == "relocation_blocked"]
    again = maintain(dsn)
    assert again.code == 0, again.stdout + again.stderr
    assert_relocated(pg_conn, before)


def test_member_of_owner_moves_rows_nobody_else_sees(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    """No key references the table and no row trigger would fire: the move is
    invisible anyway, so it needs no grant and is not refused."""
    tables = build(pg_conn, "plain")
    _, runner = _owned(pg_conn, roles)
    dsn = roles.dsn_for(runner)
    before = checksums(pg_conn, tables)
    check = cli(["check", "messages", "--dsn", dsn, "--now", NOW, "-f", "json"])
    assert not [p for p in _problem_codes(check) if p["code"] == "relocation_blocked"]
    run = maintain(dsn)
    assert run.code == 0, run.stdout + run.stderr
    assert_relocated(pg_conn, before)
