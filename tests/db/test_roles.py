"""pgpart run as roles other than a superuser, through the CLI.

- a non-superuser member of the table owner's role (INHERIT and NOINHERIT):
  new partitions belong to the parent's owner and carry the parent's grants
  and the newest partition's storage parameters; retention works too;
- a role lacking the right: a clear line naming the table and what is
  missing, exit 2, and nothing half-done (no stray table, nothing dropped);
- a role with nothing but catalog access (a fresh LOGIN role, no grants):
  ``check`` and ``stats`` work; the DEFAULT-partition probe and
  ``stats --exact`` need SELECT and say so.

pg_hba (devtools/devcluster) trusts only the superuser; these roles log in over
TCP with a password (scram), so the tests also run the password path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.support.cli_helpers import NOW, cli, monthly_table

PASSWORD = "r0les-" + uuid.uuid4().hex[:8]


class Roles:
    def __init__(self, conn: psycopg.Connection[Any], dsn: str) -> None:
        self.conn, self.dsn = conn, dsn
        self.names: list[str] = []

    def make(self, base: str, options: str = "NOLOGIN") -> str:
        name = f"{base}_{uuid.uuid4().hex[:6]}"
        self.conn.execute(
            sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(name))
            if "PASSWORD" not in options
            else sql.SQL("CREATE ROLE {} {} PASSWORD {}").format(
                sql.Identifier(name),
                sql.SQL(options.replace("PASSWORD", "")),
                sql.Literal(PASSWORD),
            )
        )
        self.names.append(name)
        return name

    def login(self, base: str, inherit: str = "INHERIT") -> str:
        return self.make(base, f"LOGIN {inherit} PASSWORD")

    def dsn_for(self, role: str) -> str:
        return make_conninfo(self.dsn, user=role, password=PASSWORD)

    def sql(self, template: str, *idents: str) -> None:
        self.conn.execute(sql.SQL(template).format(*(sql.Identifier(i) for i in idents)))


@pytest.fixture
def roles(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> Iterator[Roles]:
    """Roles are cluster-wide: every one made here is dropped afterwards."""
    made = Roles(pg_conn, pg_dsn)
    yield made
    for name in reversed(made.names):
        made.sql("DROP OWNED BY {} CASCADE", name)
        made.sql("DROP ROLE {}", name)


def relations(conn: psycopg.Connection[Any]) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE nspname = 'public' ORDER BY 1"
        ).fetchall()
    ]


def partition_facts(conn: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT c.relname::text, pg_get_userbyid(c.relowner), c.relacl::text[], c.reloptions,"
        " c.relreplident::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'messages'::regclass ORDER BY 1"
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def owned_table(conn: psycopg.Connection[Any], roles: Roles) -> tuple[str, str, str]:
    """messages Aug..Nov 2026 owned by a NOLOGIN owner role; a reader and a
    writer role hold grants on the parent; the newest partition has its own
    storage parameters and replica identity, the older ones others."""
    owner = roles.make("tbl_owner")
    reader = roles.make("reader")
    writer = roles.make("writer")
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    monthly_table(conn, months=range(-3, 1))
    for table in ("messages", *(f"messages_2026_{m:02d}" for m in (8, 9, 10, 11))):
        roles.sql("ALTER TABLE {} OWNER TO {}", table, owner)
    roles.sql("ALTER SEQUENCE messages_id_seq OWNER TO {}", owner)
    # New partitions get the grants of the newest partition (never the
    # parent's: they may be broader than what the partitions allow).
    for table in ("messages", "messages_2026_11"):
        roles.sql("GRANT SELECT ON {} TO {}", table, reader)
        roles.sql("GRANT SELECT, INSERT, UPDATE ON {} TO {} WITH GRANT OPTION", table, writer)
    conn.execute("ALTER TABLE messages_2026_08 SET (autovacuum_enabled = false)")
    conn.execute(
        "ALTER TABLE messages_2026_11 SET (autovacuum_vacuum_scale_factor = 0.01, fillfactor = 90)"
    )
    conn.execute("ALTER TABLE messages_2026_11 REPLICA IDENTITY FULL")
    return owner, reader, writer


@pytest.mark.parametrize("inherit", ["INHERIT", "NOINHERIT"])
def test_member_of_the_owner_role_creates_like_the_owner(
    pg_conn: psycopg.Connection[Any], roles: Roles, inherit: str
) -> None:
    owner, reader, writer = owned_table(pg_conn, roles)
    runner = roles.login("runner", inherit)
    roles.sql("GRANT {} TO {}", owner, runner)
    dsn = roles.dsn_for(runner)

    run = cli(["maintain", "--dsn", dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    facts = partition_facts(pg_conn)
    newest = facts["messages_2026_11"]
    for name in ("messages_2026_12", "messages_2027_01", "messages_2027_02"):
        got_owner, acl, options, replident = facts[name]
        assert got_owner == owner, name  # not the login role
        assert f"{reader}=r/{owner}" in acl
        assert f"{writer}=a*r*w*/{owner}" in acl  # grant option kept
        assert sorted(acl) == sorted(newest[1])
        assert options == newest[2] == ["autovacuum_vacuum_scale_factor=0.01", "fillfactor=90"]
        assert replident == newest[3] == "f"
    # rows route into the new partitions (the writer inserts through the parent)
    pg_conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(writer)))
    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES ('2027-01-15', 'w')")
    pg_conn.execute("RESET ROLE")
    assert pg_conn.execute("SELECT count(*) FROM messages_2027_01").fetchone() == (1,)

    # and it reads the catalog like anyone else
    assert cli(["check", "--dsn", dsn, "--now", NOW]).code == 0
    exact = cli(["stats", "--dsn", dsn, "--exact"])
    if inherit == "INHERIT":
        assert exact.code == 0, exact.stderr
    else:  # counting rows reads them: a NOINHERIT member holds no SELECT until SET ROLE
        assert exact.code == 3 and len(exact.stderr.splitlines()) == 1
        assert exact.stderr.startswith("pgpart: permission denied for table messages_2026_")


@pytest.mark.parametrize(
    ("inherit", "default"),
    [
        ("INHERIT", False),
        ("INHERIT", True),
        # A NOINHERIT member has the owner's rights only after SET ROLE.
        ("NOINHERIT", False),
        ("NOINHERIT", True),
    ],
)
def test_member_of_the_owner_role_applies_retention(
    pg_conn: psycopg.Connection[Any], roles: Roles, inherit: str, default: bool
) -> None:
    owner, _, _ = owned_table(pg_conn, roles)
    if default:  # with a DEFAULT partition the detach is a plain one, in a transaction
        pg_conn.execute("CREATE TABLE messages_default PARTITION OF messages DEFAULT")
        roles.sql("ALTER TABLE messages_default OWNER TO {}", owner)
    runner = roles.login("runner", inherit)
    roles.sql("GRANT {} TO {}", owner, runner)
    dsn = roles.dsn_for(runner)
    drop = cli(["drop", "messages", "--before", "2026-10-01", "--yes", "--dsn", dsn, "--now", NOW])
    assert drop.code == 0, drop.stdout + drop.stderr
    assert "messages_2026_08" not in relations(pg_conn)
    assert "messages_2026_09" not in relations(pg_conn)
    assert "messages_2026_10" in relations(pg_conn)


def test_role_lacking_the_right_fails_cleanly_and_leaves_nothing(
    pg_conn: psycopg.Connection[Any], roles: Roles
) -> None:
    owner, _, _ = owned_table(pg_conn, roles)
    stranger = roles.login("stranger")
    # May create tables in the schema and read the parent, but is not the owner.
    roles.sql("GRANT CREATE ON SCHEMA public TO {}", stranger)
    roles.sql("GRANT SELECT ON messages TO {}", stranger)
    dsn = roles.dsn_for(stranger)
    before, facts = relations(pg_conn), partition_facts(pg_conn)

    for args in (
        ["maintain"],
        ["maintain", "messages", "-f", "json"],
        ["maintain", "-q"],
        ["create", "messages", "--to", "2027-06-01"],
    ):
        run = cli([*args, "--dsn", dsn, "--now", NOW])
        assert run.code == 2, (args, run.stdout, run.stderr)
        assert "Traceback" not in run.stdout + run.stderr and PASSWORD not in run.stderr
        [line] = run.stderr.splitlines()
        assert line.startswith("pgpart: public.messages: ")
        assert f'permission denied to set role "{owner}"' in line
        assert f'member of role "{owner}"' in line  # what is missing, said plainly
        assert relations(pg_conn) == before  # no stray half-made table

    drop = cli(["drop", "messages", "--before", "2026-10-01", "--yes", "--dsn", dsn, "--now", NOW])
    assert drop.code == 2, drop.stdout + drop.stderr
    # Refused before anything is detached: the role may not drop the partitions.
    [line] = drop.stderr.splitlines()
    assert line.startswith("pgpart: public.messages: cannot_drop: ")
    assert f"owned by role {owner}" in line and f"GRANT {owner} TO {stranger}" in line
    assert relations(pg_conn) == before and partition_facts(pg_conn) == facts


def test_catalog_only_role_can_check_and_stats(
    pg_conn: psycopg.Connection[Any], roles: Roles
) -> None:
    monthly_table(pg_conn, months=range(-2, 2), default=True)
    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES ('2026-11-05', 'a')")
    pg_conn.execute("ANALYZE messages")
    pg_conn.execute("CREATE SCHEMA hidden")
    monthly_table(pg_conn, "events", schema="hidden", months=range(-1, 2))
    nobody = roles.login("nobody")  # LOGIN, no grants: PUBLIC's catalog access only
    dsn = roles.dsn_for(nobody)

    # An empty DEFAULT (not a page) is known empty from the catalog alone.
    empty = cli(["check", "--dsn", dsn, "--now", NOW, "-f", "json"])
    assert empty.code == 0, empty.stdout + empty.stderr
    # One with a page must be read, which needs SELECT.
    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES ('2027-06-01', 'b')")
    run = cli(["check", "--dsn", dsn, "--now", NOW, "-f", "json"])
    assert run.code == 1, run.stdout + run.stderr  # a warning, not a failure
    report = {t["table"]: t for t in run.json()["tables"]}
    assert report["hidden.events"]["status"] == "ok"  # bounds come from the catalog
    [problem] = report["public.messages"]["problems"]
    assert problem["severity"] == "warning"
    assert problem["message"] == (
        "could not probe the DEFAULT partition: permission denied for table messages_default"
    )
    assert report["public.messages"]["covered_until"] == "2027-01-01T00:00:00+00:00"

    stats = cli(["stats", "--dsn", dsn, "-f", "json"])
    assert stats.code == 0 and stats.stderr == ""
    tables = {t["table"]: t for t in stats.json()["tables"]}
    parts = {p["name"]: p for p in tables["public.messages"]["partitions"]}
    # sizes and the planner's estimates need no privilege
    assert all(p["bytes"] > 0 for p in parts.values())
    assert parts["public.messages_2026_11"]["rows"] == 1
    assert tables["hidden.events"]["total_bytes"] > 0

    # --exact counts rows: that needs SELECT, and says so in one line
    exact = cli(["stats", "messages", "--exact", "--dsn", dsn])
    assert exact.code == 3 and len(exact.stderr.splitlines()) == 1
    assert exact.stderr.startswith("pgpart: permission denied for table messages_")
    assert "LINE" not in exact.stderr  # the server's message, not pgpart's SQL quoted back
    # a schema the role may not use: the catalog still describes its tables, as
    # discovery does; naming one does not abort the run for the others
    hidden = cli(["check", "hidden.events", "messages", "--dsn", dsn, "--now", NOW, "-f", "json"])
    assert hidden.stderr == "", hidden.stderr
    named = [t["table"] for t in hidden.json()["tables"]]
    assert named == ["hidden.events", "public.messages"], named
