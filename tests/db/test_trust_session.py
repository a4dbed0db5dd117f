"""Trust nothing around you (issue 19): a database owner's settings and
objects never change what pgpart runs.

The attacker is an ordinary role (NOSUPERUSER) that owns the database. It
sets ``search_path = evil, pg_catalog, public`` on the database and plants,
in schema ``evil``, a copy of every pg_catalog function it can shadow (each
logs its call and tries to make the attacker a superuser, then does the real
work so that nothing looks wrong), operators over the common types, and
domains named like the types pgpart casts to (a domain's CHECK runs code).
Before the fix a superuser's ``pgpart maintain`` called the planted
set_config and the attacker became SUPERUSER; the read-only ``check`` ran
planted code too. pgpart now pins its session in the startup packet
(pgpart.db.startup): nothing planted runs, for every command, whether pgpart
logs in as a superuser or as a plain member of the table owner's role.

Also here: bare TABLE arguments still resolve through the search path the
session would have had (pgpart.db.search_path), checked against
PostgreSQL's own current_schemas() in an unpinned session; and names with
control characters, as far as the normal commands go.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgpart.db import startup
from pgpart.db.connect import connect
from pgpart.db.search_path import search_path
from pgpart.db.startup import option_settings, pinned_options, split_options, their_options
from pgpart.errors import ConnectError
from tests.db.test_roles import Roles
from tests.support.cli_helpers import NOW, cli, monthly_table

# Every pg_catalog function whose argument and result types are ordinary
# types gets a twin in evil that logs, tries to escalate, and delegates.
_PLANT_FUNCTIONS = r"""
DO $plant$
DECLARE
  f record;
  args text;
  call text;
BEGIN
  FOR f IN
    SELECT p.proname, p.pronargs, p.proretset,
           pg_catalog.oidvectortypes(p.proargtypes) AS argtypes,
           pg_catalog.format_type(p.prorettype, NULL) AS rettype
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
       AND p.prokind = 'f' AND p.provariadic = 0
       AND (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid = p.prorettype) <> 'p'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) a(t)
                         JOIN pg_catalog.pg_type y ON y.oid = a.t WHERE y.typtype = 'p')
  LOOP
    SELECT pg_catalog.string_agg('$' || i, ', ') INTO args
      FROM pg_catalog.generate_series(1, f.pronargs) i;
    call := pg_catalog.format('pg_catalog.%I(%s)', f.proname, coalesce(args, ''));
    EXECUTE pg_catalog.format(
      'CREATE FUNCTION evil.%I(%s) RETURNS %s%s LANGUAGE sql AS %L',
      f.proname, f.argtypes, CASE WHEN f.proretset THEN 'SETOF ' ELSE '' END, f.rettype,
      pg_catalog.format('SELECT evil.gotcha(%L); SELECT %s', f.proname,
        CASE WHEN f.proretset THEN '* FROM ' || call ELSE call END));
  END LOOP;
END
$plant$;
"""

# What the loop cannot copy (polymorphic or variadic), written by hand.
_PLANT_BY_HAND = r"""
CREATE FUNCTION evil.unnest(text[]) RETURNS SETOF text LANGUAGE sql
  AS $$ SELECT evil.gotcha('unnest'); SELECT * FROM pg_catalog.unnest($1) $$;
CREATE FUNCTION evil.unnest(oid[]) RETURNS SETOF oid LANGUAGE sql
  AS $$ SELECT evil.gotcha('unnest'); SELECT * FROM pg_catalog.unnest($1) $$;
CREATE FUNCTION evil.array_position(text[], text) RETURNS int LANGUAGE sql
  AS $$ SELECT evil.gotcha('array_position'); SELECT pg_catalog.array_position($1, $2) $$;
CREATE FUNCTION evil.format(text, text) RETURNS text LANGUAGE sql
  AS $$ SELECT evil.gotcha('format'); SELECT pg_catalog.format($1, $2) $$;
CREATE FUNCTION evil.format(text, text, text) RETURNS text LANGUAGE sql
  AS $$ SELECT evil.gotcha('format'); SELECT pg_catalog.format($1, $2, $3) $$;
CREATE FUNCTION evil.count_step(bigint) RETURNS bigint LANGUAGE sql
  AS $$ SELECT evil.gotcha('count'); SELECT $1 + 1 $$;
CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_step, STYPE = bigint, INITCOND = '0');
"""

# Operators are looked up through the search path too: an evil "=" over
# oids would run on every catalog join.
_OPERATORS = [
    ("=", "oid", "oid", "oideq"),
    ("=", "name", "name", "nameeq"),
    ("=", "name", "text", "nameeqtext"),
    ("=", "text", "text", "texteq"),
    ("<>", "oid", "oid", "oidne"),
    ("=", "integer", "integer", "int4eq"),
    ("=", '"char"', '"char"', "chareq"),
    ("~~", "text", "text", "textlike"),
    ("||", "text", "text", "textcat"),
]
# Types pgpart names in casts (text, oid, regclass...): a domain of the same
# name earlier on the path would be chosen, and its CHECK runs code.
_DOMAINS = ["text", "oid", "regclass", "regnamespace", "regtype", "float8", "int4", "name"]


def plant(conn: psycopg.Connection[Any], attacker: str, *, functions_only: bool = False) -> None:
    """As the attacker (SET ROLE: its rights, not the superuser's)."""
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(attacker)))
    conn.execute(
        "CREATE SCHEMA evil; GRANT USAGE ON SCHEMA evil TO PUBLIC;"
        " CREATE TABLE evil.ran (fn text, login text, at timestamptz DEFAULT now());"
        " GRANT INSERT ON evil.ran TO PUBLIC"
    )
    conn.execute(
        sql.SQL(
            "CREATE FUNCTION evil.gotcha(fn text) RETURNS void LANGUAGE plpgsql AS $$"
            " BEGIN"
            "  INSERT INTO evil.ran (fn, login) VALUES (fn, session_user);"
            "  BEGIN EXECUTE {}; EXCEPTION WHEN others THEN NULL; END;"
            " END $$"
        ).format(sql.Literal(f"ALTER ROLE {attacker} SUPERUSER"))
    )
    conn.execute(
        "CREATE FUNCTION evil.gotcha_b(fn text) RETURNS boolean LANGUAGE sql"
        " AS $$ SELECT evil.gotcha(fn); SELECT true $$"
    )
    conn.execute(_PLANT_FUNCTIONS)
    conn.execute(_PLANT_BY_HAND)
    for op, left, right, fn in () if functions_only else _OPERATORS:
        spy = f"op_{fn}"
        returns = "text" if op == "||" else "boolean"
        conn.execute(
            f"CREATE FUNCTION evil.{spy}({left}, {right}) RETURNS {returns} LANGUAGE sql"
            f" AS $$ SELECT evil.gotcha('{op}'); SELECT pg_catalog.{fn}($1, $2) $$"
        )
        conn.execute(
            f"CREATE OPERATOR evil.{op} (LEFTARG = {left}, RIGHTARG = {right},"
            f" FUNCTION = evil.{spy})"
        )
    for name in () if functions_only else _DOMAINS:
        conn.execute(
            f"CREATE DOMAIN evil.{name} AS pg_catalog.{name} CHECK (evil.gotcha_b('domain {name}'))"
        )
    database = conn.info.dbname
    conn.execute(
        sql.SQL("ALTER DATABASE {} SET search_path = evil, pg_catalog, public").format(
            sql.Identifier(database)
        )
    )
    conn.execute("RESET ROLE")


def planted_calls(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return [(str(f), str(who)) for f, who in conn.execute("SELECT fn, login FROM evil.ran")]


def is_superuser(conn: psycopg.Connection[Any], role: str) -> bool:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    return bool(row and row[0])


@pytest.fixture
def roles(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> Iterator[Roles]:
    made = Roles(pg_conn, pg_dsn)
    yield made
    pg_conn.execute("RESET ROLE")
    made.sql("ALTER DATABASE {} OWNER TO CURRENT_USER", pg_conn.info.dbname)
    for name in reversed(made.names):
        made.sql("DROP OWNED BY {} CASCADE", name)
        made.sql("DROP ROLE {}", name)


@pytest.fixture
def hostile(pg_conn: psycopg.Connection[Any], roles: Roles) -> dict[str, str]:
    """A database owned by an ordinary role that has planted its traps; a
    table owned by another role, with rows waiting in its DEFAULT partition;
    a superuser login and a plain member of the table owner's role."""
    attacker = roles.make("attacker", "NOSUPERUSER NOCREATEROLE NOCREATEDB")
    owner = roles.make("tbl_owner")
    runner = roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    monthly_table(pg_conn, "events", months=range(-4, 1), default=True)
    pg_conn.execute("INSERT INTO events (created_at, body) VALUES ('2026-12-05', 'waiting')")
    for table in ["events", "events_default", *(f"events_2026_{m:02d}" for m in range(7, 12))]:
        roles.sql("ALTER TABLE {} OWNER TO {}", table, owner)
    roles.sql("ALTER SEQUENCE events_id_seq OWNER TO {}", owner)
    roles.sql("ALTER DATABASE {} OWNER TO {}", pg_conn.info.dbname, attacker)
    plant(pg_conn, attacker)
    return {"attacker": attacker, "owner": owner, "runner": runner}


def _partitions(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'public.events'::regclass"
    ).fetchall()
    return {r[0] for r in rows}


@pytest.mark.parametrize("login", ["superuser", "member"])
def test_nothing_a_database_owner_planted_runs(
    pg_conn: psycopg.Connection[Any],
    pg_dsn: str,
    roles: Roles,
    hostile: dict[str, str],
    tmp_path: Path,
    login: str,
) -> None:
    dsn = pg_dsn if login == "superuser" else roles.dsn_for(hostile["runner"])
    config = tmp_path / "pgpart.toml"
    config.write_text('[[table]]\nname = "events"\nretention = "3 months"\npremake = 2\n')
    base = ["--dsn", dsn, "--now", NOW]
    runs = [
        (["check", "events", *base], (0, 1, 2)),
        (["check", "-q", *base, "--config", str(config)], (0, 1, 2)),
        (["stats", "events", "--exact", "--dsn", dsn], (0,)),
        (["init", "--output", str(tmp_path / "init.toml"), "--dsn", dsn], (0,)),
        (["create", "events", "--to", "2027-01-01", "--dry-run", *base], (0,)),
        (["create", "events", "--to", "2027-01-01", *base], (0,)),
        (["maintain", "--dry-run", *base, "--config", str(config)], (0,)),
        (["maintain", *base, "--config", str(config)], (0,)),
        (["drop", "events", "--older-than", "3 months", "--yes", *base], (0,)),
        (["drop", "events", "--before", "2026-10-01", "--detach", "--yes", *base], (0,)),
    ]
    for args, codes in runs:
        run = cli(args)
        assert run.code in codes, (args, run.stdout, run.stderr)
        assert planted_calls(pg_conn) == [], args
    assert not is_superuser(pg_conn, hostile["attacker"])
    # and the work was done: the waiting row relocated, retention applied
    made = _partitions(pg_conn)
    assert {"events_2026_12", "events_2027_01"} <= made
    assert "events_2026_07" not in made and "events_2026_08" not in made
    assert "events_2026_09" not in made  # detached by drop --detach
    row = pg_conn.execute("SELECT count(*) FROM events_2026_12").fetchone()
    assert row == (1,)


def test_a_database_role_setting_does_not_choose_whom_pgpart_acts_as(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    # ALTER DATABASE ... SET role made a superuser's session act as the
    # database owner (and any code of the owner could SET ROLE to the superuser).
    attacker = roles.make("attacker", "NOSUPERUSER")
    monthly_table(pg_conn, "events", months=range(-1, 1))
    roles.sql("ALTER DATABASE {} OWNER TO {}", pg_conn.info.dbname, attacker)
    pg_conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(attacker)))
    pg_conn.execute(
        sql.SQL("ALTER DATABASE {} SET role = {}").format(
            sql.Identifier(pg_conn.info.dbname), sql.Identifier(attacker)
        )
    )
    pg_conn.execute("RESET ROLE")
    with connect(pg_dsn) as conn:
        row = conn.execute("SELECT current_user::text, session_user::text").fetchone()
    assert row is not None and row[0] == row[1]
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert run.code == 0, run.stdout + run.stderr
    assert "events_2027_01" in _partitions(pg_conn)


def test_every_pinned_setting_wins_over_the_database(pg_dsn: str, pg_conn: Any) -> None:
    database = sql.Identifier(pg_conn.info.dbname)
    for name, value in [
        ("search_path", "'pg_temp, public'"),
        ("standard_conforming_strings", "off"),
        ("row_security", "on"),
        ("IntervalStyle", "sql_standard"),
        ("DateStyle", "'SQL, DMY'"),
        ("array_nulls", "off"),
        ("default_transaction_isolation", "serializable"),
        ("client_encoding", "LATIN1"),
    ]:
        pg_conn.execute(sql.SQL(f"ALTER DATABASE {{}} SET {name} = {value}").format(database))
    with connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT current_setting('search_path'), current_setting('standard_conforming_strings'),"
            " current_setting('row_security'), current_setting('IntervalStyle'),"
            " current_setting('DateStyle'), current_setting('array_nulls'),"
            " current_setting('default_transaction_isolation'), current_setting('client_encoding')"
        ).fetchone()
    assert row == ("", "on", "off", "postgres", "ISO, YMD", "on", "read committed", "UTF8")


# --- bare names: the search path the session would have had -----------------


def _unpinned_schemas(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT current_schemas(true)::text[]").fetchone()
    assert row is not None
    return [str(s) for s in row[0]]


def test_bare_names_resolve_as_postgresql_would_have(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles
) -> None:
    runner = roles.login("runner")
    dsn = roles.dsn_for(runner)
    database = sql.Identifier(pg_conn.info.dbname)
    role = sql.Identifier(runner)
    for schema in ("app", "other", "hidden", runner):
        pg_conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        if schema != "hidden":
            pg_conn.execute(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO PUBLIC").format(sql.Identifier(schema))
            )
    cases = [
        ("built in", None),
        ("database", sql.SQL("ALTER DATABASE {} SET search_path = app, public").format(database)),
        ("role", sql.SQL('ALTER ROLE {} SET search_path = other, "$user"').format(role)),
        (
            "role in database",
            sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = hidden, Other, app").format(
                role, database
            ),
        ),
    ]
    try:
        for label, statement in cases:
            if statement is not None:
                pg_conn.execute(statement)
            with connect(dsn) as conn:
                searched = list(search_path(conn).searched)
            assert searched == _unpinned_schemas(dsn), label
        # the user's own options come first of all
        own = make_conninfo(dsn, options="-c search_path=other,pg_catalog,app")
        with connect(own) as conn:
            assert list(search_path(conn).searched) == ["other", "pg_catalog", "app"]
            assert conn.execute("SHOW search_path").fetchone() == ("",)
    finally:
        pg_conn.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(role))
        pg_conn.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(role, database))


def test_a_bare_table_argument_finds_the_same_table_as_before(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    # events in public and in app; the database puts app first: the bare
    # name means app.events, through the CLI as through psql.
    monthly_table(pg_conn, "events", months=range(-1, 1))
    monthly_table(pg_conn, "events", schema="app", months=range(-2, 1))
    pg_conn.execute(
        sql.SQL("ALTER DATABASE {} SET search_path = app, public").format(
            sql.Identifier(pg_conn.info.dbname)
        )
    )
    run = cli(["check", "events", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert run.code in (0, 1), run.stdout + run.stderr
    [table] = run.json()["tables"]
    assert table["table"] == "app.events" and table["partitions"] == 3


# --- the startup options ------------------------------------------------------


def test_options_are_split_and_merged_as_the_server_reads_them() -> None:
    assert split_options(r"-c a=b\ c  -c\ d  --x-y=1\\") == ["-c", "a=b c", "-c d", "--x-y=1\\"]
    assert option_settings("-c search_path=app -cRole=r --statement-timeout=5s") == {
        "search_path": "app",
        "role": "r",
        "statement_timeout": "5s",
    }
    merged = option_settings(pinned_options("-c search_path=app -c statement_timeout=5s"))
    assert merged["search_path"] == "" and merged["statement_timeout"] == "5s"
    assert merged["role"] == "none" and merged["datestyle"] == "ISO, YMD"
    # a role the user asks for is theirs to choose
    assert option_settings(pinned_options("-c role=owner"))["role"] == "owner"
    # a lone trailing backslash cannot swallow the space before the pins
    assert option_settings(pinned_options("-c a=b\\"))["search_path"] == ""


def test_options_of_the_environment_and_the_service_are_kept(tmp_path: Path) -> None:
    env = {"PGOPTIONS": "-c statement_timeout=7s"}
    assert their_options({}, env) == "-c statement_timeout=7s"
    assert their_options({"options": "-c work_mem=64MB"}, env) == "-c work_mem=64MB"
    services = tmp_path / "services.conf"
    services.write_text("[nightly]\nhost=localhost\noptions=-c lock_timeout=2s\n")
    env = {**env, "PGSERVICEFILE": str(services), "PGSYSCONFDIR": str(tmp_path)}
    assert their_options({"service": "nightly"}, env) == "-c lock_timeout=2s"
    assert their_options({}, {**env, "PGSERVICE": "nightly"}) == "-c lock_timeout=2s"


def test_a_session_that_lost_its_pins_is_refused(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a pooler that ignores the options parameter would leave.
    pg_conn.execute(
        sql.SQL("ALTER DATABASE {} SET search_path = evil, public").format(
            sql.Identifier(pg_conn.info.dbname)
        )
    )
    monkeypatch.setattr("pgpart.db.startup.pinned_options", lambda theirs: theirs)
    with pytest.raises(ConnectError, match="did not keep pgpart's startup settings"):
        connect(pg_dsn)
    run = cli(["check", "--dsn", pg_dsn])
    assert run.code == 3 and "connect pgpart to PostgreSQL directly" in run.stderr


# --- names with control characters (normal commands) ---------------------------

ODD = "evx\nDROP TABLE victim; --"


def test_a_name_with_a_newline_stays_on_its_line(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    monthly_table(pg_conn, ODD, months=range(-1, 1), key="at\nx")
    pg_conn.execute("CREATE TABLE victim (x int)")
    shown = 'public.U&"evx\\000aDROP TABLE victim; --"'
    for args in (["check"], ["stats"], ["maintain"], ["check", "-f", "csv"]):
        run = cli([*args, "--dsn", pg_dsn, *([] if args == ["stats"] else ["--now", NOW])])
        assert run.code in (0, 1), (args, run.stdout, run.stderr)
        assert "\nDROP" not in run.stdout + run.stderr, args
        if "csv" in args:
            assert next(csv.reader(run.stdout.splitlines()[1:]))[0] == shown
        else:
            assert shown in run.stdout + run.stderr, args
    # the name shown is one pgpart (and PostgreSQL) reads back
    again = cli(["check", shown, "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert again.code in (0, 1), again.stdout + again.stderr
    assert again.json()["tables"][0]["table"] == shown
    assert pg_conn.execute("SELECT to_regclass('public.victim')").fetchone() != (None,)


def test_every_function_pgpart_calls_is_qualified(
    pg_conn: psycopg.Connection[Any],
    pg_dsn: str,
    roles: Roles,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Belt and braces: a session left on the database's search path (the
    pin taken away here) calls no planted function all the same. The
    planted functions fail the statement that calls them, naming themselves
    (logging them would fail in pgpart's read-only transactions)."""
    attacker = roles.make("attacker", "NOSUPERUSER")
    monthly_table(pg_conn, "events", months=range(-4, 1), default=True)
    pg_conn.execute("INSERT INTO events (created_at, body) VALUES ('2026-12-05', 'waiting')")
    roles.sql("ALTER DATABASE {} OWNER TO {}", pg_conn.info.dbname, attacker)
    plant(pg_conn, attacker, functions_only=True)
    pg_conn.execute(
        "CREATE OR REPLACE FUNCTION evil.gotcha(fn text) RETURNS void LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'planted function % called', fn; END $$"
    )
    pins = tuple(p for p in startup.PINNED if p[0] != "search_path")
    monkeypatch.setattr(startup, "PINNED", pins)
    monkeypatch.setattr("pgpart.db.connect._check_pinned", lambda conn: None)
    config = tmp_path / "pgpart.toml"
    config.write_text('[[table]]\nname = "events"\nretention = "3 months"\npremake = 2\n')
    base = ["--dsn", pg_dsn, "--now", NOW]
    for args in (
        ["check", *base, "--config", str(config)],
        ["stats", "--exact", "--dsn", pg_dsn],
        ["init", "--output", str(tmp_path / "init.toml"), "--dsn", pg_dsn],
        ["maintain", "--dry-run", *base, "--config", str(config)],
        ["maintain", *base, "--config", str(config)],
        ["drop", "events", "--before", "2026-10-01", "--detach", "--yes", *base],
    ):
        run = cli(args)
        assert "planted function" not in run.stdout + run.stderr, (args, run.stderr)
        assert run.code in (0, 1), (args, run.stdout, run.stderr)
