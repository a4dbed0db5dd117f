"""Issue 22, rows 10 to 13, and what the DEFAULT probe must never get wrong.

The table: messages, monthly, August..November 2026 plus DEFAULT (NOW =
2026-11-22: maintain creates December to February), with rows in the
DEFAULT for December. Around it:

- row 10: a DO ALSO rule on the DEFAULT partition, ON DELETE: under the
  replica role it is silenced like a trigger (superuser); enabled ALWAYS it
  would fire, and the move is refused naming it;
- row 11: a DEFAULT that is itself partitioned (by HASH): its rows are seen
  and relocated through it, not "plan again" forever;
- row 12: FORCE ROW LEVEL SECURITY on the DEFAULT: the owner would see only
  some rows: relocation_blocked names it;
- row 13: NULL keys in the DEFAULT: said to be NULL-key rows that stay there;
- a blocked relocation still lets every month without DEFAULT rows be made;
- a sample never understates: it says so, or an index on the key finds
  every period; one maintain relocates every month of its window.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
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

DECEMBER = "FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00')"
COLUMNS = "id bigint NOT NULL, created_at timestamptz NOT NULL, body text"


def build(conn: psycopg.Connection[Any], *, rows: int = 50, **kw: Any) -> None:
    """The table, and ``rows`` rows of December in its DEFAULT."""
    build_monthly(conn, columns=COLUMNS, default=True, **kw)
    conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-12-01 00:00+00'"
        " + g * (interval '30 days' / %s), 'dec ' || g FROM generate_series(1, %s) g",
        (rows, rows),
    )


def maintain(dsn: str, *extra: str) -> Run:
    return cli(["maintain", "messages", "--dsn", dsn, "--now", NOW, *extra])


def check(dsn: str, *extra: str) -> list[dict[str, Any]]:
    run = cli(["check", "messages", "--dsn", dsn, "--now", NOW, "-f", "json", *extra])
    assert "Traceback" not in run.stderr
    [table] = run.json()["tables"]
    return list(table["problems"])


def december(conn: psycopg.Connection[Any]) -> str | None:
    found = [p for p, b in partitions_of(conn, "messages").items() if b == DECEMBER]
    return found[0] if found else None


def in_default(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM messages_default").fetchone()
    assert row is not None
    return int(row[0])


# --- row 10: a rule on the DEFAULT --------------------------------------------------


def _rule(conn: psycopg.Connection[Any], enabled: str | None = None) -> None:
    conn.execute("CREATE TABLE deleted_log (id bigint)")
    conn.execute(
        "CREATE RULE log_delete AS ON DELETE TO messages_default"
        " DO ALSO INSERT INTO deleted_log VALUES (OLD.id)"
    )
    if enabled:
        conn.execute(f"ALTER TABLE messages_default ENABLE {enabled} RULE log_delete")


def test_a_do_also_rule_on_the_default_is_silenced_like_a_trigger(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build(pg_conn)
    _rule(pg_conn)
    before = table_checksum(pg_conn, "messages")
    run = maintain(pg_dsn)
    assert run.code == 0, run.stdout + run.stderr
    assert december(pg_conn) is not None and in_default(pg_conn) == 0
    assert table_checksum(pg_conn, "messages") == before
    assert pg_conn.execute("SELECT count(*) FROM deleted_log").fetchone() == (0,)


def test_an_always_rule_on_the_default_refuses_the_move_naming_it(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build(pg_conn)
    _rule(pg_conn, "ALWAYS")
    blocked = [p for p in check(pg_dsn) if p["code"] == "relocation_blocked"]
    assert blocked and "rule log_delete on public.messages_default" in blocked[0]["message"]
    assert "ENABLE ALWAYS" in blocked[0]["message"]
    run = maintain(pg_dsn)
    out = run.stdout + run.stderr
    assert run.code == 2 and "relocation_blocked" in out and "DISABLE RULE" in out, out
    assert december(pg_conn) is None and in_default(pg_conn) == 50
    assert "public.messages_2027_01" in partitions_of(pg_conn, "messages")
    assert pg_conn.execute("SELECT count(*) FROM deleted_log").fetchone() == (0,)


# --- row 11: a partitioned DEFAULT --------------------------------------------------


def test_a_partitioned_default_is_read_and_relocated_through(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build_monthly(pg_conn, columns=COLUMNS)
    pg_conn.execute(
        "CREATE TABLE messages_default PARTITION OF messages DEFAULT PARTITION BY HASH (id)"
    )
    for r in range(2):
        pg_conn.execute(
            f"CREATE TABLE messages_default_{r} PARTITION OF messages_default"
            f" FOR VALUES WITH (MODULUS 2, REMAINDER {r})"
        )
    pg_conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-12-01 00:00+00' + g * interval '17 min',"
        " 'dec' FROM generate_series(1, 2200) g"
    )
    before = table_checksum(pg_conn, "messages")
    seen = [p for p in check(pg_dsn) if p["code"] == "default_has_rows"]
    assert seen and "2200 rows" in seen[0]["message"], seen
    run = maintain(pg_dsn)
    assert run.code == 0, run.stdout + run.stderr
    part = december(pg_conn)
    assert part is not None and in_default(pg_conn) == 0
    assert pg_conn.execute(f"SELECT count(*) FROM {part}").fetchone() == (2200,)
    assert table_checksum(pg_conn, "messages") == before
    again = maintain(pg_dsn)
    assert again.code == 0 and "nothing to do" in again.stdout, again.stdout


# --- row 12: FORCE ROW LEVEL SECURITY on the DEFAULT ---------------------------------


def test_forced_row_security_on_the_default_is_named(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    build(pg_conn)
    owner = roles.login("owner")
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    for (name,) in pg_conn.execute(
        "SELECT relname::text FROM pg_class WHERE relname LIKE 'messages%' AND relkind IN ('r','p')"
    ).fetchall():
        roles.sql("ALTER TABLE {} OWNER TO {}", name, owner)
    pg_conn.execute("ALTER TABLE messages_default ENABLE ROW LEVEL SECURITY")
    pg_conn.execute("ALTER TABLE messages_default FORCE ROW LEVEL SECURITY")
    pg_conn.execute("CREATE POLICY even_only ON messages_default USING (id % 2 = 0)")
    dsn = roles.dsn_for(owner)
    blocked = [p for p in check(dsn) if p["code"] == "relocation_blocked"]
    assert blocked and "FORCE ROW LEVEL SECURITY" in blocked[0]["message"].upper(), blocked
    assert "public.messages_default" in blocked[0]["message"]
    run = maintain(dsn)
    out = run.stdout + run.stderr
    assert run.code == 2 and "relocation_blocked" in out and "plan again" not in out, out
    # the owner cannot even count them: no month is known to be free of rows
    assert december(pg_conn) is None and in_default(pg_conn) == 50


# --- row 13: NULL keys -----------------------------------------------------------------


def test_null_keys_in_the_default_are_said_to_stay_there(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build_monthly(pg_conn, columns="id bigint, created_at timestamptz, body text", primary_key=None)
    pg_conn.execute("CREATE TABLE messages_default PARTITION OF messages DEFAULT")
    pg_conn.execute("INSERT INTO messages SELECT g, NULL, 'x' FROM generate_series(1, 50) g")
    [found] = [p for p in check(pg_dsn) if p["code"] == "default_has_rows"]
    assert found["severity"] == "info"
    assert "50 rows with a NULL created_at, which no range partition can hold" in found["message"]
    run = maintain(pg_dsn)
    assert run.code == 0, run.stdout + run.stderr
    assert december(pg_conn) is not None and in_default(pg_conn) == 50


# --- the probe -------------------------------------------------------------------------


def test_a_blocked_relocation_still_makes_the_months_without_default_rows(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    build(pg_conn, rows=200_000)
    pg_conn.execute(
        "CREATE TABLE refs (id bigint, at timestamptz,"
        " FOREIGN KEY (id, at) REFERENCES messages (id, created_at) ON DELETE CASCADE)"
    )
    owner = roles.make("tbl_owner")
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    for (name,) in pg_conn.execute(
        "SELECT relname::text FROM pg_class WHERE relname LIKE 'messages%' AND relkind IN ('r','p')"
    ).fetchall():
        roles.sql("ALTER TABLE {} OWNER TO {}", name, owner)
    runner = roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)
    run = maintain(roles.dsn_for(runner))
    assert run.code == 2 and "relocation_blocked" in run.stdout + run.stderr, run.stdout
    parts = partitions_of(pg_conn, "messages")
    assert "public.messages_2027_01" in parts and "public.messages_2027_02" in parts, run.stdout
    assert december(pg_conn) is None


def test_a_sample_says_it_is_one_and_an_index_lists_every_period(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build_monthly(pg_conn, columns=COLUMNS, months=range(-1, 1))
    pg_conn.execute("CREATE TABLE messages_default PARTITION OF messages DEFAULT")
    for month in ("2026-06", "2026-07", "2026-08", "2026-12", "2027-01", "2027-02"):
        pg_conn.execute(
            "INSERT INTO messages SELECT g, %s::timestamptz + g * interval '1 min', 'x'"
            " FROM generate_series(1, 3000) g",
            (f"{month}-01 00:00+00",),
        )
    sampled = [p for p in check(pg_dsn) if p["code"] == "default_has_rows"][0]["message"]
    assert "at least" in sampled and "a sample, other periods may hold rows too" in sampled
    assert "pgpart create" not in sampled  # a fix made from a sample would repair part
    pg_conn.execute("CREATE INDEX ON messages_default (created_at)")
    listed = [p for p in check(pg_dsn) if p["code"] == "default_has_rows"][0]["message"]
    for month in ("2026-06", "2026-07", "2026-08", "2026-12", "2027-01", "2027-02"):
        assert month in listed, listed
    assert "--from 2026-06-01 --to 2026-09-01" in listed, listed
    run = maintain(pg_dsn)
    assert run.code == 0, run.stdout + run.stderr
    left = pg_conn.execute(
        "SELECT count(*) FROM messages_default WHERE created_at >= '2026-12-01'"
    ).fetchone()
    assert left == (0,)  # one maintain moved every month of its window


def test_drain_is_not_offered_where_a_publication_would_publish_the_table_in_transit(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build(pg_conn, rows=200_000)
    pg_conn.execute("CREATE PUBLICATION everything FOR ALL TABLES")
    run = maintain(pg_dsn, "--relocation", "drain")
    out = run.stdout + run.stderr
    assert run.code == 2 and "relocation_needs_choice" in out, out
    assert "drain: not possible, publication everything would publish" in out, out
    assert december(pg_conn) is None and in_default(pg_conn) == 200_000


def test_a_maxvalue_catch_all_taking_new_rows_is_reported(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build_monthly(pg_conn, columns=COLUMNS, months=range(-2, 0))  # September, October
    pg_conn.execute(
        "CREATE TABLE messages_rest PARTITION OF messages FOR VALUES FROM ('2026-11-01') TO (MAXVALUE)"
    )
    pg_conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-11-01 00:00+00' + g * interval '1 h', 'x'"
        " FROM generate_series(1, 2000) g"
    )
    pg_conn.execute("ANALYZE messages")
    [found] = [p for p in check(pg_dsn) if p["code"] == "catchall_has_rows"]
    assert found["severity"] == "warning"
    assert "public.messages_rest [2026-11-01 00:00+00:00, MAXVALUE)" in found["message"], found
    assert "about 2,000 rows" in found["message"]


# --- rows of the DEFAULT that the partitions' own constraints refuse ------------------


def _partitions_only(conn: psycopg.Connection[Any], sql: str) -> None:
    """``sql`` (an ALTER TABLE clause) on every partition but the DEFAULT."""
    for (name,) in conn.execute(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'messages'::regclass AND c.relname <> 'messages_default'"
    ).fetchall():
        conn.execute(f"ALTER TABLE {name} {sql}")


@pytest.mark.parametrize(
    "constraint, bad_row",
    [
        ("ALTER body SET NOT NULL", "(9001, '2026-12-24', NULL)"),
        (
            "ADD CONSTRAINT body_short CHECK (length(body) < 10)",
            "(9001, '2026-12-24', 'too long a body')",
        ),
    ],
    ids=["not_null", "check"],
)
@pytest.mark.parametrize("relocation", ["lock", "drain"])
def test_default_rows_the_partitions_constraints_refuse_are_named_and_the_rest_is_made(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, constraint: str, bad_row: str, relocation: str
) -> None:
    """The partitions carry a NOT NULL or CHECK the DEFAULT does not, and a
    December row in the DEFAULT breaks it: December cannot be made like its
    siblings. The run says which constraint and how to fix the rows, makes
    January and February, moves and loses nothing; it does not fail with
    PostgreSQL's raw error on every run."""
    build(pg_conn, rows=20)
    _partitions_only(pg_conn, constraint)
    pg_conn.execute(f"INSERT INTO messages (id, created_at, body) VALUES {bad_row}")
    before = table_checksum(pg_conn, "messages")
    for _ in range(2):
        run = maintain(pg_dsn, "--relocation", relocation)
        out = run.stdout + run.stderr
        assert "Traceback" not in out
        assert run.code == 2, out
        assert "messages_default" in out and ("body" in out or "body_short" in out), out
        assert "not attempted" not in out, out
        assert december(pg_conn) is None
        assert in_default(pg_conn) == 21
        assert table_checksum(pg_conn, "messages") == before
        made = set(partitions_of(pg_conn, "messages").values())
        assert "FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-02-01 00:00:00+00')" in made
    [found] = [p for p in check(pg_dsn) if p["code"] == "default_has_rows"]
    assert found["severity"] in ("warning", "critical")
    assert standalone(pg_conn) == []


def standalone(conn: psycopg.Connection[Any]) -> list[str]:
    """Tables named like partitions of messages that are not attached: a table
    in transit left behind (its rows invisible to the application)."""
    rows = conn.execute(
        "SELECT relname::text FROM pg_class WHERE relname LIKE 'messages%'"
        " AND relkind IN ('r', 'p') AND NOT relispartition AND relname <> 'messages'"
    ).fetchall()
    return [r[0] for r in rows]


def drain_command(dsn: str, tmp_path: Path) -> list[str]:
    """maintain --relocation drain in batches of 2,000 rows, -v, in its own process."""
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\nmove_batch_rows = 2000\nrelocation_max_wait = "50ms"\n')
    return [
        sys.executable, "-m", "pgpart", "maintain", "messages", "--dsn", dsn, "--now", NOW,
        "--config", str(config), "--relocation", "drain", "-v",
    ]  # fmt: skip


# the run's own environment, without a PGPART_ setting of the test's
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PGPART_")}


def drain_run(dsn: str, tmp_path: Path) -> list[str]:
    """The drain run to its end: its exit code, stderr and stdout lines."""
    proc = subprocess.run(
        drain_command(dsn, tmp_path), capture_output=True, text=True, env=ENV, timeout=300
    )
    return [f"exit {proc.returncode}", *proc.stderr.splitlines(), *proc.stdout.splitlines()]


def test_a_drain_moves_nothing_when_a_default_row_breaks_the_partitions_not_null(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """60,000 rows to drain in batches; the last one has a NULL the partitions
    forbid: found before any batch moves, no row waits in transit."""
    build(pg_conn, rows=60_000)
    _partitions_only(pg_conn, "ALTER body SET NOT NULL")
    pg_conn.execute("INSERT INTO messages (id, created_at) VALUES (90001, '2026-12-24')")
    before = table_checksum(pg_conn, "messages")
    for _ in range(2):
        lines = drain_run(pg_dsn, tmp_path)
        said = "\n".join(lines)
        assert lines[0] == "exit 2", said
        assert "NOT NULL body (1 row); nothing was moved" in said, said
        assert "ctid >=" not in said, said  # not one batch moved
        assert standalone(pg_conn) == [] and december(pg_conn) is None
        assert table_checksum(pg_conn, "messages") == before
    pg_conn.execute("UPDATE messages SET body = 'fixed' WHERE id = 90001")
    lines = drain_run(pg_dsn, tmp_path)
    assert lines[0] == "exit 0", "\n".join(lines)
    assert december(pg_conn) is not None and in_default(pg_conn) == 0


def test_a_row_that_arrives_during_the_drain_and_breaks_a_constraint_sends_the_rows_back(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """The DEFAULT is clean when the drain starts; while its batches run, the
    application adds a December row the partitions' CHECK refuses. The drain
    cannot finish: the rows it had moved go back to the DEFAULT and the table
    in transit is dropped, rather than waiting there, invisible, run after run."""
    build(pg_conn, rows=60_000)
    _partitions_only(pg_conn, "ADD CONSTRAINT body_short CHECK (length(body) < 12)")
    proc = subprocess.Popen(
        drain_command(pg_dsn, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    inserted = False
    for line in proc.stderr:
        lines.append(line)
        if not inserted and 'WITH moved AS (DELETE FROM ONLY "public"."messages_default"' in line:
            pg_conn.execute(
                "INSERT INTO messages (id, created_at, body)"
                " VALUES (90001, '2026-12-24', 'a body far too long')"
            )
            inserted = True
    proc.wait(120)
    said = "".join(lines)
    assert inserted and proc.returncode == 2, said
    assert "body_short" in said and "went back to the DEFAULT" in said, said
    assert standalone(pg_conn) == [] and december(pg_conn) is None
    assert in_default(pg_conn) == 60_001
