"""Issue 22: the remaining edges of real schemas, each copied faithfully or
refused clearly.

Every test builds a production-like monthly table (August..November 2026,
NOW = 2026-11-22, premake 3) with one thing a DBA set on the existing
partitions, runs pgpart through the CLI, and compares each new partition
with its newest sibling in the catalog (tests/support/sibling_compare.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from pgpart.core.siblings import LEFTOVER_MARK
from tests.cli.test_oncall import term
from tests.db.test_sibling_faithful import (
    EXPECTED_NEW,
    NEWEST,
    check_json,
    maintain,
    maintain_and_compare,
    problems,
    seed,
)
from tests.support.cli_helpers import NOW, cli
from tests.support.sibling_compare import (
    Roles,
    assert_faithful,
    build_monthly,
    describe_partition,
    new_partitions,
    partitions_of,
    roles_fixture,  # noqa: F401  (the roles fixture)
    table_checksum,
)

COLUMNS = (
    "id bigint NOT NULL, created_at timestamptz NOT NULL, tenant text,"
    " body text DEFAULT 'from parent', note text DEFAULT 'parent note'"
)


def codes(report: dict[str, Any], table: str = "public.messages") -> dict[str, str]:
    return {p["code"]: p["message"] for p in problems(report, table)}


# -- row 1: NOT NULL and defaults set on the partitions only ---------------------


def test_not_null_and_defaults_of_the_partitions_are_copied(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    def per_partition(part: str, lo: Any, hi: Any) -> None:
        pg_conn.execute(f"ALTER TABLE {part} ALTER tenant SET NOT NULL")
        pg_conn.execute(f"ALTER TABLE {part} ALTER body SET DEFAULT 'new'")
        pg_conn.execute(f"ALTER TABLE {part} ALTER note DROP DEFAULT")

    build_monthly(pg_conn, columns=COLUMNS, each=per_partition)
    seed(pg_conn)
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        columns = {c[0]: c for c in describe_partition(pg_conn, new).columns}
        assert columns["tenant"][4] is True  # NOT NULL
        assert columns["body"][5] == "'new'::text"
        assert columns["note"][5] is None
    # a NULL refused in November is refused in December too
    for day in ("2026-11-23", "2026-12-02"):
        with pytest.raises(errors.NotNullViolation), pg_conn.transaction():
            pg_conn.execute(f"INSERT INTO messages (id, created_at) VALUES (1, '{day}')")
    # written to the partition itself, a row takes the partition's defaults
    pg_conn.execute(
        "INSERT INTO messages_2027_01 (id, created_at, tenant) VALUES (100002, '2027-01-02', 't')"
    )
    assert pg_conn.execute("SELECT body, note FROM messages WHERE id = 100002").fetchone() == (
        "new",
        None,
    )


def test_a_not_valid_not_null_stays_not_valid(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """PostgreSQL 18: NOT NULL ... NOT VALID on the partitions, and a legacy
    row with a NULL in the DEFAULT partition for December: it moves, and the
    new partitions' NOT NULL is NOT VALID too (and holds for new rows)."""
    if pg_conn.info.server_version < 180000:
        pytest.skip("NOT NULL constraints can be NOT VALID from PostgreSQL 18 on")

    def per_partition(part: str, lo: Any, hi: Any) -> None:
        pg_conn.execute(
            f"ALTER TABLE {part} ADD CONSTRAINT {part}_tenant NOT NULL tenant NOT VALID"
        )

    build_monthly(pg_conn, default=True, each=per_partition)
    seed(pg_conn)
    pg_conn.execute("INSERT INTO messages (id, created_at) VALUES (9001, '2026-12-24')")
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        columns = {c[0]: c for c in describe_partition(pg_conn, new).columns}
        assert columns["tenant"][4] is True and columns["tenant"][7] is False
    assert pg_conn.execute(
        "SELECT tableoid::regclass::text FROM messages WHERE id = 9001"
    ).fetchone() == ("messages_2026_12",)
    with pytest.raises(errors.NotNullViolation):
        pg_conn.execute("INSERT INTO messages (id, created_at) VALUES (9002, '2027-01-02')")


def test_not_null_on_the_newest_only_is_sibling_drift(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build_monthly(pg_conn, columns=COLUMNS)
    pg_conn.execute(f"ALTER TABLE {NEWEST} ALTER tenant SET NOT NULL")
    _, report = check_json(pg_dsn, "messages")
    drift = codes(report).get("sibling_drift", "")
    assert "NOT NULL" in drift and "tenant" in drift, report
    pg_conn.execute("ALTER TABLE messages_2026_10 ALTER body SET DEFAULT 'other'")
    pg_conn.execute("ALTER TABLE messages_2026_10 ALTER tenant SET NOT NULL")
    _, report = check_json(pg_dsn, "messages")
    assert "DEFAULT 'other'::text" in codes(report).get("sibling_drift", ""), report


# -- row 2: the enabled state of the copies of the parent's triggers ----------------


def test_trigger_states_set_on_the_partitions_only_are_copied(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    pg_conn.execute("CREATE TABLE fired (trig text, part text)")
    pg_conn.execute(
        "CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN INSERT INTO fired VALUES (TG_NAME, TG_TABLE_NAME); RETURN NEW; END $$"
    )
    build_monthly(pg_conn)
    states = {"t_disabled": "DISABLE", "t_always": "ENABLE ALWAYS", "t_replica": "ENABLE REPLICA"}
    for name in [*states, "t_plain"]:
        pg_conn.execute(
            f"CREATE TRIGGER {name} AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION audit()"
        )
    pg_conn.execute("ALTER TABLE messages DISABLE TRIGGER t_plain")  # off on the parent...
    for part in partitions_of(pg_conn, "messages"):
        for name, state in states.items():
            pg_conn.execute(f"ALTER TABLE {part} {state} TRIGGER {name}")
        pg_conn.execute(f"ALTER TABLE {part} ENABLE TRIGGER t_plain")  # ...on on the partitions
    seed(pg_conn)
    pg_conn.execute("TRUNCATE fired")

    created = maintain_and_compare(pg_conn, pg_dsn)  # the triggers' states are compared
    for new in created:
        got = sorted(t[1] for t in describe_partition(pg_conn, new).triggers if t[2])
        assert got == ["A", "D", "O", "R"], (new, got)
    pg_conn.execute("INSERT INTO messages (id, created_at) VALUES (7, '2026-12-07')")
    fired = sorted(r[0] for r in pg_conn.execute("SELECT trig FROM fired").fetchall())
    assert fired == ["t_always", "t_plain"]  # the disabled audit trigger stays off


# -- comments --------------------------------------------------------------------


def test_comments_of_the_partitions_are_copied(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build_monthly(pg_conn, columns=COLUMNS)
    pg_conn.execute("COMMENT ON COLUMN messages.body IS 'what the parent says'")
    pg_conn.execute("COMMENT ON COLUMN messages.note IS 'parent only'")
    for part in partitions_of(pg_conn, "messages"):
        pg_conn.execute(f"COMMENT ON TABLE {part} IS 'one month of messages; kept 6 months'")
        pg_conn.execute(f"COMMENT ON COLUMN {part}.body IS 'what the partition says'")
        pg_conn.execute(f"COMMENT ON COLUMN {part}.note IS NULL")
        pg_conn.execute(f"COMMENT ON COLUMN {part}.tenant IS 'partition only'")
    seed(pg_conn)
    created = maintain_and_compare(pg_conn, pg_dsn)
    for new in created:
        facts = describe_partition(pg_conn, new)
        assert facts.comment == "one month of messages; kept 6 months"
        comments = {c[0]: c[6] for c in facts.columns}
        assert comments["body"] == "what the partition says"
        assert comments["note"] is None and comments["tenant"] == "partition only"


def test_a_retention_mark_is_never_copied(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    """The newest partition carries pgpart's retention mark (a detach that
    failed after marking it): its column comments are copied, the mark is not
    (a new partition so marked would read as a detached leftover)."""
    build_monthly(pg_conn)
    seed(pg_conn)
    mark = LEFTOVER_MARK + "public.messages (oid 1) 2026-11-01 .. 2026-12-01"
    pg_conn.execute(f"COMMENT ON TABLE {NEWEST} IS '{mark}'")
    pg_conn.execute(f"COMMENT ON COLUMN {NEWEST}.body IS 'markdown'")
    created = maintain_and_compare(pg_conn, pg_dsn, ignore=("comment",))
    for new in created:
        facts = describe_partition(pg_conn, new)
        assert facts.comment is None
        assert {c[0]: c[6] for c in facts.columns}["body"] == "markdown"
    _, report = check_json(pg_dsn, "messages")
    assert "detached_leftover" not in codes(report), report


# -- row 6: the owner may not create tables where new partitions go ---------------


def _owned_by(conn: psycopg.Connection[Any], roles: Roles, owner: str, *names: str) -> None:
    for name in names:
        for table in [name if "." in name else f"public.{name}", *partitions_of(conn, name)]:
            schema, _, rel = table.partition(".")
            roles.sql("ALTER TABLE {}.{} OWNER TO {}", schema, rel, owner)


def test_owner_without_create_on_the_schema_is_said_before_any_run(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    """PostgreSQL 15's public: no CREATE for every role. check warns with the
    GRANT, maintain and create refuse the table up front with the same words
    (and still do the other table), and after the GRANT all is made."""
    pg_conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    owner, runner = roles.make("app_owner"), roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)
    build_monthly(pg_conn)
    seed(pg_conn)
    pg_conn.execute("CREATE SCHEMA other")
    roles.sql("GRANT USAGE, CREATE ON SCHEMA other TO {}", owner)
    build_monthly(pg_conn, "other.plain")
    _owned_by(pg_conn, roles, owner, "messages", "other.plain")
    dsn = roles.dsn_for(runner)
    grant = f"GRANT CREATE ON SCHEMA public TO {owner}"

    code, report = check_json(dsn, "messages", "other.plain")
    found = codes(report)
    assert "cannot_create" in found and grant in found["cannot_create"], report
    assert [p["severity"] for p in problems(report, "public.messages")] == ["warning"]
    assert code == 1 and not codes(report, "other.plain")

    before = partitions_of(pg_conn, "messages")
    run = maintain(dsn, "messages", "other.plain")
    out = run.stdout + run.stderr
    assert run.code == 2, out
    assert grant in run.stderr and "permission denied" not in out, out
    assert partitions_of(pg_conn, "messages") == before
    assert len(partitions_of(pg_conn, "other.plain")) == 7  # the other table is done
    # on a terminal (stdout and stderr one screen), the problem is shown once
    with term(["maintain", "messages", "--dsn", dsn, "--now", NOW]) as t:
        assert t.wait() == 2, t.output
    assert t.output.count("cannot_create:") == 1, t.output
    assert "check now: WARNING (1 warning; 1 problem shown above)" in t.output
    create = cli(["create", "messages", "--dsn", dsn, "--now", NOW])
    assert create.code == 2 and grant in create.stderr, create.stdout + create.stderr
    assert "permission denied" not in create.stdout + create.stderr

    roles.sql("GRANT CREATE ON SCHEMA public TO {}", owner)
    code, report = check_json(dsn, "messages")
    assert "cannot_create" not in codes(report) and code == 0, report
    rows = table_checksum(pg_conn, "messages")
    run = maintain(dsn, "messages")
    assert run.code == 0, run.stdout + run.stderr
    created = new_partitions(before, partitions_of(pg_conn, "messages"))
    assert created == EXPECTED_NEW
    for new in created:
        assert_faithful(pg_conn, new, NEWEST)
    assert table_checksum(pg_conn, "messages") == rows


def test_the_schema_checked_is_where_new_partitions_go(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    """Partitions kept in their own schema: that schema is where new ones go,
    so CREATE there is what the owner needs (CREATE on the parent's is not
    enough, and not needed)."""
    owner, runner = roles.make("app_owner"), roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)
    roles.sql("GRANT CREATE ON SCHEMA public TO {}", owner)
    pg_conn.execute("CREATE SCHEMA parts")
    roles.sql("GRANT USAGE ON SCHEMA parts TO {}", owner)
    build_monthly(pg_conn)
    for part in list(partitions_of(pg_conn, "messages")):
        pg_conn.execute(f"ALTER TABLE {part} SET SCHEMA parts")
    _owned_by(pg_conn, roles, owner, "messages")
    dsn = roles.dsn_for(runner)

    _, report = check_json(dsn, "messages")
    assert f"GRANT CREATE ON SCHEMA parts TO {owner}" in codes(report).get("cannot_create", ""), (
        report
    )
    roles.sql("GRANT CREATE ON SCHEMA parts TO {}", owner)
    roles.sql("REVOKE CREATE ON SCHEMA public FROM {}", owner)
    pg_conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    _, report = check_json(dsn, "messages")
    assert "cannot_create" not in codes(report), report


# -- row 12: row security on the DEFAULT partition hides its rows ------------------------


def test_forced_row_security_on_the_default_is_named_by_check(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    """FORCE ROW LEVEL SECURITY on the DEFAULT: its owner, as which pgpart
    moves rows out, sees none of them (and the run fails on every try).
    check names the DEFAULT and the fix; as a login that is a member of the
    owner, it also says its own count may be short. Once the fix is applied
    the rows move."""
    owner, runner = roles.make("app_owner"), roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)
    roles.sql("GRANT CREATE ON SCHEMA public TO {}", owner)
    build_monthly(pg_conn, default=True)
    seed(pg_conn)
    pg_conn.execute(
        "INSERT INTO messages (id, created_at, tenant) VALUES (9001, '2026-12-03', 'late')"
    )
    _owned_by(pg_conn, roles, owner, "messages")
    pg_conn.execute("ALTER TABLE messages_default ENABLE ROW LEVEL SECURITY")
    pg_conn.execute("ALTER TABLE messages_default FORCE ROW LEVEL SECURITY")
    fix = "ALTER TABLE public.messages_default NO FORCE ROW LEVEL SECURITY"

    _, report = check_json(pg_dsn, "messages")  # a superuser sees the row
    found = codes(report)
    assert fix in found.get("relocation_blocked", ""), report
    assert owner in found["relocation_blocked"]
    _, report = check_json(roles.dsn_for(runner), "messages")  # the owner's member does not
    found = codes(report)
    assert fix in found.get("relocation_blocked", ""), report
    assert "hides rows from pgpart's login role" in found.get("default_has_rows", ""), report

    pg_conn.execute("ALTER TABLE messages_default NO FORCE ROW LEVEL SECURITY")
    _, report = check_json(roles.dsn_for(runner), "messages")
    assert "relocation_blocked" not in codes(report), report
    rows = table_checksum(pg_conn, "messages")
    run = maintain(roles.dsn_for(runner), "messages")
    assert run.code == 0, run.stdout + run.stderr
    assert pg_conn.execute("SELECT count(*) FROM ONLY messages_default").fetchone() == (0,)
    assert table_checksum(pg_conn, "messages") == rows


# -- a lock held by another role ---------------------------------------------------------


def test_a_holders_hidden_query_comes_with_the_grant_that_shows_it(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles, tmp_path: Path
) -> None:
    owner, runner = roles.make("app_owner"), roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)
    roles.sql("GRANT CREATE ON SCHEMA public TO {}", owner)
    build_monthly(pg_conn)
    _owned_by(pg_conn, roles, owner, "messages")
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\nretry_for = "1s"\n')
    args = ["maintain", "messages", "--dsn", roles.dsn_for(runner), "--config", str(config)]
    args += ["--lock-timeout", "100ms", "--now", NOW]

    def locked_run() -> str:
        with psycopg.connect(pg_dsn) as holder:  # a superuser: another role
            holder.execute("LOCK TABLE ONLY messages IN ACCESS EXCLUSIVE MODE")
            holder.execute("SELECT 'the nightly report'")
            run = cli(args)
            holder.rollback()
        assert run.code == 2, run.stdout + run.stderr
        return run.stdout + run.stderr

    out = locked_run()
    assert f"GRANT pg_read_all_stats TO {runner} shows it" in out, out
    assert "insufficient privilege" not in out, out
    roles.sql("GRANT pg_read_all_stats TO {}", runner)
    out = locked_run()
    assert "the nightly report" in out and "pg_read_all_stats" not in out, out


# -- create --to a past date ----------------------------------------------------------------


def test_create_to_a_past_date_without_from_says_why_and_exits_3(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    build_monthly(pg_conn, months=range(-1, 1))
    before = partitions_of(pg_conn, "messages")
    run = cli(["create", "messages", "--to", "2026-10-01", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 3, run.stdout + run.stderr
    assert "--to 2026-10-01 lies before now" in run.stderr and "pass --from" in run.stderr
    assert run.stdout == "" and "nothing to do" not in run.stderr
    # with --from, the same --to backfills
    backfill = ["create", "messages", "--from", "2026-08-01", "--to", "2026-10-01"]
    run = cli([*backfill, "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    assert new_partitions(before, partitions_of(pg_conn, "messages")) == [
        "public.messages_2026_08",
        "public.messages_2026_09",
    ]


# -- an interrupted create -------------------------------------------------------------------


def test_an_interrupted_create_reports_its_ranges_in_order(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """create [Aug, Jan) makes November (the current period) first, then
    August: Ctrl-C while September waits behind another session reports the
    two done as two runs, each range forwards (not 'Nov .. Aug')."""
    build_monthly(pg_conn, months=range(-4, -3))  # July only
    args = ["create", "messages", "--from", "2026-08-01", "--to", "2027-01-01"]
    with psycopg.connect(pg_dsn) as other:
        other.execute("CREATE TABLE messages_2026_09 (x int)")  # not committed: pgpart waits
        with term([*args, "--dsn", pg_dsn, "--now", NOW, "--lock-timeout", "100ms"]) as t:
            t.read_until(r"waiting for a lock")
            t.interrupt()
            code = t.wait()
        other.rollback()
    assert code == 130, t.output
    rows = [line for line in t.output.splitlines() if line.startswith("public.messages")]
    assert len(rows) == 2, t.output
    assert "messages_2026_11" in rows[0] and "2026-11-01 .. 2026-12-01" in rows[0], t.output
    assert "messages_2026_08" in rows[1] and "2026-08-01 .. 2026-09-01" in rows[1], t.output
    assert set(partitions_of(pg_conn, "messages")) == {
        "public.messages_2026_07",
        "public.messages_2026_08",
        "public.messages_2026_11",
    }
