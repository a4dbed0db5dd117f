"""Privileges of a new partition are exactly its newest sibling's: column
privileges included, and nothing ALTER DEFAULT PRIVILEGES would add."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support.cli_helpers import NOW, cli
from tests.support.sibling_compare import (
    Roles,
    assert_faithful,
    build_monthly,
    describe_partition,
    roles_fixture,  # noqa: F401  (the roles fixture)
)


def _acl(conn: psycopg.Connection[Any], rel: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    table = conn.execute("SELECT relacl::text[] FROM pg_class WHERE oid = %s::regclass", (rel,))
    columns = conn.execute(
        "SELECT attname::text, attacl::text[] FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attnum > 0 AND attacl IS NOT NULL ORDER BY attnum",
        (rel,),
    ).fetchall()
    row = table.fetchone()
    assert row is not None
    # the owner's own entry is implicit while the ACL is NULL: not a difference
    own = [a for a in row[0] or [] if not a.startswith("postgres=")]
    return sorted(own), [(n, sorted(a)) for n, a in columns]


def test_column_privileges_and_default_privileges(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    analyst = roles.make("analyst")
    wide = roles.make("wide")
    parts = build_monthly(pg_conn, months=range(-1, 1))
    for part in parts:
        pg_conn.execute(f'GRANT SELECT (id, created_at) ON {part} TO "{analyst}"')
        pg_conn.execute(f'GRANT UPDATE (body) ON {part} TO "{analyst}" WITH GRANT OPTION')
    # Would give every new table in the schema more than the siblings have.
    pg_conn.execute(f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO "{wide}"')

    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    newest = f"public.{parts[-1]}"
    want = _acl(pg_conn, newest)
    assert want[1], "the sibling has column privileges"
    for new in ("public.messages_2026_12", "public.messages_2027_01", "public.messages_2027_02"):
        got = _acl(pg_conn, new)
        assert got == want, (new, got, want)
        assert not any(wide in item for item in got[0])
        assert_faithful(pg_conn, new, newest)
    assert describe_partition(pg_conn, "public.messages_2026_12").owner == "postgres"
