"""Hostile input, catalogued: every bad input gets its exit code, one clear
``pgpart:`` line on stderr, no traceback, no password, and the database exactly
as it was.

tests/cli/test_bad_input.py has the first cases (closed port, unknown host, bad DSN
syntax, wrong password with check/maintain/stats, the common config mistakes,
bad create/drop arguments); this file adds what it does not cover and checks
the database after each case. Decisions recorded here:

- An unknown, plain, list-, hash- or integer-range-partitioned TABLE is
  UNKNOWN (exit 3). Writing commands, ``stats`` and ``init`` say so in one
  stderr line per table (``--format json`` keeps its document on stdout, with
  the table listed as refused). ``check`` is the health report: it lists the
  table as UNKNOWN on stdout (table, json, csv, prometheus) and writes nothing
  on stderr, so a probe gets one parseable document; exit 3 all the same.
- Usage errors (unknown option or command, bad ``--format``, missing TABLE)
  exit 3, "bad arguments" in docs/output.md, not click's 2, which a monitoring
  probe would read as CRITICAL. ``pgpart`` with no arguments shows the help.
- Dates pgpart cannot compute (years outside 1-9999: ``--now 9999-12-31``, a
  retention of 9999 years, a huge premake on a yearly table) make the table
  UNKNOWN (``out_of_range``, exit 3), never a traceback.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.cli_helpers import NOW, Run, cli, daily_table, monthly_table

SECRET = "Hx7-n0t-in-0utput-Qz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_line(run: Run, code: int, *needles: str) -> str:
    """The run failed with ``code`` and said why in one stderr line."""
    everything = run.stdout + run.stderr
    assert run.code == code, (run.code, run.stdout, run.stderr)
    assert "Traceback" not in everything
    assert SECRET not in everything
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("pgpart: "), lines[0]
    assert not lines[0].endswith(("\\n", " ")), lines[0]  # no escaped trailing newline
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def fingerprint(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Every user relation (kind, bound, owner, grants, options) and its row count."""
    conn.execute("SET TimeZone = 'UTC'")
    rels = conn.execute(
        "SELECT n.nspname, c.relname, c.relkind::text, pg_get_expr(c.relpartbound, c.oid),"
        " pg_get_userbyid(c.relowner), c.relacl::text, c.reloptions::text"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'S', 'i', 'I')"
        " ORDER BY 1, 2"
    ).fetchall()
    out: list[tuple[Any, ...]] = []
    for schema, name, kind, *rest in rels:
        rows = None
        if kind == "r":
            query = sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(
                sql.Identifier(schema), sql.Identifier(name)
            )
            rows = conn.execute(query).fetchone()[0]  # type: ignore[index]
        out.append((schema, name, kind, *rest, rows))
    return out


@pytest.fixture
def db(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> Iterator[Db]:
    """Two healthy tables, a victim table for injections, and tables pgpart refuses."""
    monthly_table(pg_conn, months=range(-6, 1))  # messages: Nov is the last; premake wants 3
    daily_table(pg_conn)
    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES (%s, 'm')", (NOW,))
    pg_conn.execute("INSERT INTO events (ts, v) VALUES (%s, 1)", (NOW,))
    pg_conn.execute("CREATE TABLE x (id int)")
    pg_conn.execute("INSERT INTO x VALUES (1)")
    pg_conn.execute("CREATE TABLE by_list (k text) PARTITION BY LIST (k)")
    pg_conn.execute("CREATE TABLE by_list_a PARTITION OF by_list FOR VALUES IN ('a')")
    pg_conn.execute("CREATE TABLE by_hash (k int) PARTITION BY HASH (k)")
    pg_conn.execute(
        "CREATE TABLE by_hash_0 PARTITION OF by_hash FOR VALUES WITH (MODULUS 2, REMAINDER 0)"
    )
    pg_conn.execute("CREATE TABLE by_int (k int) PARTITION BY RANGE (k)")
    pg_conn.execute("CREATE TABLE by_int_1 PARTITION OF by_int FOR VALUES FROM (1) TO (10)")
    pg_conn.execute("INSERT INTO by_int VALUES (5)")
    db = Db(pg_conn, pg_dsn, fingerprint(pg_conn))
    yield db
    if db.check_unchanged:
        assert fingerprint(pg_conn) == db.before, "the database changed"


@dataclass
class Db:
    conn: psycopg.Connection[Any]
    dsn: str
    before: list[tuple[Any, ...]] = field(default_factory=list)
    check_unchanged: bool = True

    def host_port(self) -> tuple[str, str]:
        params = conninfo_to_dict(self.dsn)
        return str(params["host"]), str(params["port"])


# --- connecting: the password never shows -----------------------------------


def _unreachable_dsns(db: Db) -> list[tuple[str, str]]:
    host, port = db.host_port()
    closed = free_port()
    dbname = conninfo_to_dict(db.dsn)["dbname"]
    return [
        # (dsn, what the line says)
        (
            f"host=127.0.0.1 port={closed} user=u password={SECRET} connect_timeout=3",
            "cannot connect",
        ),
        (f"postgresql://u:{SECRET}@127.0.0.1:{closed}/db?connect_timeout=3", "cannot connect"),
        (
            f"host={host} port={port} dbname=no_such_db user=postgres password={SECRET}",
            'database "no_such_db" does not exist',
        ),
        (f"postgresql://postgres:{SECRET}@{host}:{port}/no_such_db", "does not exist"),
        (
            f"postgresql://u@{host}:{port}/{dbname}?password={SECRET}&connect_timeout=3",
            "password authentication failed",
        ),
        (f"host=no-such-host.invalid password='{SECRET}' connect_timeout=3", "cannot connect"),
        # malformed: libpq quotes the bad piece, the password with it (was leaked)
        (f"postgresql://u:{SECRET}%zz@{host}:{port}/db", "invalid DSN"),
        (f"password={SECRET} host={host} port", "invalid DSN"),
        (f"postgresql://u:{SECRET}@[::1/db", "invalid DSN"),
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["check", "-v"],
        ["stats", "-v", "--format", "json"],
        ["maintain", "-v"],
        ["create", "messages", "-v", "--dry-run"],
        ["drop", "messages", "--older-than", "1 day", "--yes", "-v"],
        ["init", "-o", "-"],
    ],
    ids=lambda a: a[0],
)
def test_password_never_printed_when_the_connection_fails(db: Db, args: list[str]) -> None:
    for dsn, needle in _unreachable_dsns(db):
        run = cli(
            [*args, "--dsn", dsn, "--now", NOW]
            if args[0] not in ("stats", "init")
            else [*args, "--dsn", dsn]
        )
        one_line(run, 3, needle)
        # and from the environment, where --dsn's masking did not look before
        from_env = cli(args, env={"PGPART_DSN": dsn, "PGPART_NOW": NOW})
        one_line(from_env, 3, needle)


@pytest.fixture
def login_role(db: Db) -> Iterator[str]:
    """A LOGIN role with SECRET as its password, owning the test tables."""
    name = f"pw_{uuid.uuid4().hex[:8]}"
    ident = sql.Identifier(name)
    db.conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(SECRET)))
    for table in ("messages", "events"):
        db.conn.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(table), ident))
    db.conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(ident))
    db.check_unchanged = False
    yield name
    db.conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(ident))
    db.conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_password_auth_is_really_used_and_never_printed(db: Db, login_role: str) -> None:
    # pg_hba (devtools/devcluster): trust for the superuser only; scram over TCP
    # for everyone else. So the right password is needed, and a wrong one fails.
    host, port = db.host_port()
    dbname = conninfo_to_dict(db.dsn)["dbname"]
    right = make_conninfo("", host=host, port=port, dbname=dbname, user=login_role, password=SECRET)
    none = make_conninfo("", host=host, port=port, dbname=dbname, user=login_role)
    wrong = f"postgresql://{login_role}:{SECRET}x@{host}:{port}/{dbname}"

    no_password = cli(["check", "--dsn", none, "--now", NOW], env={"PGPASSWORD": ""})
    one_line(no_password, 3, "cannot connect")
    one_line(
        cli(["maintain", "-v", "--dsn", wrong, "--now", NOW]), 3, "password authentication failed"
    )

    # With the right password, -v logs every statement: the password is in none.
    run = cli(["maintain", "-v", "--dsn", right, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    assert "pgpart: sql: " in run.stderr and "ATTACH PARTITION" in run.stderr
    assert SECRET not in run.stdout + run.stderr
    uri = f"postgresql://{login_role}:{SECRET}@{host}:{port}/{dbname}"
    for args in (
        ["check", "-v", "-f", "json"],
        ["stats", "-v"],
        ["maintain", "-v", "--dry-run"],
        ["drop", "messages", "--older-than", "3 months", "--dry-run", "-v"],
    ):
        run = cli(
            [*args, "--dsn", uri, "--now", NOW] if args[0] != "stats" else [*args, "--dsn", uri]
        )
        # The login role owns nothing: drop's plan says it may not drop (exit 2).
        expected = (2,) if args[0] == "drop" else (0, 1)
        assert run.code in expected, (args, run.stdout, run.stderr)
        assert SECRET not in run.stdout + run.stderr


# --- tables -------------------------------------------------------------------

WRITERS = [
    ["create", "{t}", "--now", NOW],
    ["maintain", "{t}", "--now", NOW],
    ["drop", "{t}", "--older-than", "1 month", "--yes", "--now", NOW],
    ["stats", "{t}"],
    ["init", "{t}", "-o", "-"],
]

REFUSED_TABLES = [
    ("no_such_table", "table no_such_table does not exist"),
    ("x", "public.x is not a partitioned table"),
    ("by_list", "public.by_list is partitioned by list, not by a time range"),
    ("by_hash", "public.by_hash is partitioned by hash, not by a time range"),
    (
        "by_int",
        "public.by_int is partitioned on k of type integer, not a date or time column, and its"
        " bounds (1, 10) are no times (as seconds 1 is 1970-01-01 00:00:01 UTC): set"
        ' key_encoding = "epoch_s" in its [[table]] of pgpart.toml if it encodes time',
    ),
    # SQL in a name is a name: looked up, never executed (x survives: fingerprint)
    ("messages; DROP TABLE x", "table messages; DROP TABLE x does not exist"),
    ('x"; DROP TABLE x; --', """table x"; DROP TABLE x; -- does not exist"""),
    ("x'); DROP TABLE x; --", "table x'); DROP TABLE x; -- does not exist"),
    ('"x"; DROP TABLE "x"', """table "x"; DROP TABLE "x" does not exist"""),
    ("pg_catalog.pg_class", "pg_catalog.pg_class is not a partitioned table"),
]


def _init_message(message: str) -> str:
    if "does not exist" in message:
        return message
    note = message.split(", not a date or time column", 1)[1:]
    tail = note[0] if note else ""
    return message.split(" ")[0] + " is not range-partitioned on a date/time column" + tail


@pytest.mark.parametrize(("table", "message"), REFUSED_TABLES, ids=[t for t, _ in REFUSED_TABLES])
def test_refused_table_one_line_exit_3_nothing_changed(db: Db, table: str, message: str) -> None:
    for template in WRITERS:
        args = [a.replace("{t}", table) for a in template]
        run = cli([*args, "--dsn", db.dsn])
        if args[0] == "init":
            assert run.stdout == ""  # nothing written: the config would lack the table
            assert run.stderr.splitlines() == [
                f"pgpart: {_init_message(message)}",
                "pgpart: nothing written",
            ]
            assert run.code == 3 and "Traceback" not in run.stderr
            continue
        assert one_line(run, 3) == f"pgpart: {message}", args
        assert run.stdout.strip() in ("", '{\n  "tables": []\n}'), args  # nothing on stdout
        # JSON stays one valid document on stdout, the table listed as refused
        as_json = cli([*args, "--dsn", db.dsn, "--format", "json"])
        assert one_line(as_json, 3) == f"pgpart: {message}"
        document = as_json.json()
        if args[0] == "stats":
            assert document == {"tables": []}
        else:
            assert document["actions"] == []
            [entry] = document["tables"]
            assert entry["status"] == "unknown" and entry["blocked"] is True
            assert entry["problems"][0]["message"] == message
        # quiet does not hide it: something is wrong
        if args[0] != "stats":
            one_line(cli([*args, "--dsn", db.dsn, "-q"]), 3)
            one_line(cli([*args, "--dsn", db.dsn, "--dry-run"]), 3)


@pytest.mark.parametrize("table", [t for t, _ in REFUSED_TABLES[:5]])
def test_check_reports_refused_tables_on_stdout(db: Db, table: str) -> None:
    """check is the health report: the table is UNKNOWN in it, stderr stays empty."""
    for fmt in ("table", "json", "csv", "prometheus"):
        run = cli(["check", table, "--dsn", db.dsn, "--now", NOW, "--format", fmt])
        assert run.code == 3, (fmt, run.stdout, run.stderr)
        assert run.stderr == ""
        assert "Traceback" not in run.stdout
    report = cli(["check", table, "--dsn", db.dsn, "--now", NOW, "-f", "json"]).json()
    assert report["status"] == "unknown"
    assert report["tables"][0]["problems"][0]["code"] in (
        "unknown_table",
        "not_partitioned",
        "unsupported_key",
    )


def test_unknown_table_next_to_a_good_one(db: Db) -> None:
    """The good table is maintained, the bad one named once on stderr; exit 3."""
    db.check_unchanged = False
    run = cli(["maintain", "messages", "nope", "--dsn", db.dsn, "--now", NOW])
    assert one_line(run, 3) == "pgpart: table nope does not exist"
    assert "messages_2027_02" in run.stdout and "nope" not in run.stdout
    again = cli(["maintain", "messages", "nope", "--dsn", db.dsn, "--now", NOW])
    assert one_line(again, 3) == "pgpart: table nope does not exist"
    assert again.stdout == (
        "nothing to do\n\ncreated 0, dropped 0, rows moved 0, failed 0\ncheck now: OK (1 ok)\n"
    )


def test_config_naming_a_missing_table(db: Db, tmp_path: Path) -> None:
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text('[[table]]\nname = "gone"\ninterval = "daily"\n')
    for args in (["maintain"], ["maintain", "--dry-run"], ["stats"]):
        run = cli(
            [*args, "--dsn", db.dsn, "--config", str(cfg), "--now", NOW]
            if args[0] != "stats"
            else [*args, "--dsn", db.dsn, "--config", str(cfg)]
        )
        assert one_line(run, 3) == "pgpart: table gone does not exist"


def test_control_characters_in_a_name_stay_on_one_line(db: Db) -> None:
    for name in ("a\nb", "a\rb\x1b[31m", "nul\x00"):
        run = cli(["maintain", name, "--dsn", db.dsn, "--now", NOW])
        line = one_line(run, 3, "does not exist")
        assert "\x1b" not in line and "\r" not in line and "\x00" not in line


# --- config -------------------------------------------------------------------

CONFIGS = [
    # (id, text, code, needle) - each run as `maintain` (for real: no --dry-run)
    ("malformed", "[[table]\nname = 'messages'\n", 3, ":1: invalid TOML"),
    ("unknown_key", "[[table]]\nname = 'messages'\npremak = 3\n", 3, "did you mean 'premake'"),
    ("wrong_type_bool", "[defaults]\npremake = true\n", 3, "premake: must be an integer"),
    ("wrong_type_table", "[defaults]\ntimezone = {a = 1}\n", 3, "timezone: must be a string"),
    (
        "negative_premake",
        "[[table]]\nname = 'messages'\npremake = -3\n",
        3,
        "premake: must not be negative",
    ),
    (
        "huge_premake",
        "[defaults]\npremake = 9223372036854775807\n",
        3,
        "premake: must be at most 100000",
    ),
    ("digits_5000", "[defaults]\npremake = " + "9" * 5000 + "\n", 3, "invalid TOML"),
    ("nested_deep", "[defaults]\nx = " + "[" * 2000 + "]" * 2000 + "\n", 3, "nested too deeply"),
    ("nested_table", "[defaults.more]\npremake = 1\n", 3, "key 'more' is unknown"),
    (
        "unknown_interval",
        "[[table]]\nname = 'messages'\ninterval = 'biweekly'\n",
        3,
        "unknown interval 'biweekly'",
    ),
    ("interval_in_defaults", "[defaults]\ninterval = 'daily'\n", 3, "not allowed in [defaults]"),
    ("unknown_zone", "[defaults]\ntimezone = 'Europe/Berlln'\n", 3, "did you mean 'Europe/Berlin'"),
    ("zone_path", "[defaults]\ntimezone = '../../../etc/passwd'\n", 3, "unknown time zone"),
    (
        "bad_duration",
        "[[table]]\nname = 'messages'\nretention = 'three months'\n",
        3,
        "retention: invalid duration",
    ),
    ("bare_number", "[defaults]\nlock_timeout = 500\n", 3, 'e.g. "500 days" or "500ms"'),
    ("zero_lock", "[defaults]\nlock_timeout = '0s'\n", 3, "must be more than 0"),
    (
        "naming_attr",
        "[[table]]\nname = 'messages'\nnaming = '{table.__class__}'\n",
        3,
        "unknown field",
    ),
    ("sql_name", "[[table]]\nname = 'messages; DROP TABLE x'\n", 3, "is not a table name"),
    ("not_utf8", b"[defaults]\ntimezone = '\xff'\n", 3, ":2: not valid UTF-8"),
    ("batch_huge", "[defaults]\nmove_batch_rows = 99999999999999\n", 3, "must be at most"),
]


@pytest.mark.parametrize(("name", "text", "code", "needle"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_bad_config_changes_nothing(
    db: Db, tmp_path: Path, name: str, text: str | bytes, code: int, needle: str
) -> None:
    cfg = tmp_path / "pgpart.toml"
    if isinstance(text, bytes):
        cfg.write_bytes(text)
    else:
        cfg.write_text(text, encoding="utf-8")
    run = cli(["maintain", "--dsn", db.dsn, "--config", str(cfg), "--now", NOW])
    one_line(run, code, "pgpart.toml", needle)
    assert run.stdout == ""


def test_config_that_is_not_a_file(db: Db, tmp_path: Path) -> None:
    one_line(cli(["maintain", "--dsn", db.dsn, "--config", "/dev/zero"]), 3, "larger than 1 MiB")
    one_line(cli(["maintain", "--dsn", db.dsn, "--config", str(tmp_path)]), 3, "directory")
    one_line(
        cli(["maintain", "--dsn", db.dsn], env={"PGPART_CONFIG": str(tmp_path)}),
        3,
        "PGPART_CONFIG",
        "is a directory",
    )
    one_line(
        cli(["maintain", "--dsn", db.dsn], env={"PGPART_PREMAKE": "9" * 5000}),
        3,
        "PGPART_PREMAKE",
        "at most 100000",
    )


@pytest.mark.parametrize(
    ("text", "needle", "check_too"),
    [
        (
            "[[table]]\nname = 'messages'\nretention = '9999 years'\n",
            "9999 years is out of range",
            True,
        ),
        ("[[table]]\nname = 'messages'\nwarn_ahead = '9000 years'\n", "out of range", True),
        # check does not look ahead by premake: only the writing commands meet it
        (
            "[[table]]\nname = 'messages'\ninterval = 'monthly'\npremake = 99999\n",
            "year 10360 is out of range",
            False,
        ),
    ],
)
def test_dates_beyond_year_9999_are_refused_per_table(
    db: Db, tmp_path: Path, text: str, needle: str, check_too: bool
) -> None:
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text(text)
    run = cli(["maintain", "--dsn", db.dsn, "--config", str(cfg), "--now", NOW])
    one_line(
        run, 3, "public.messages: cannot plan: a date falls outside the years 1 to 9999", needle
    )
    check = cli(["check", "--dsn", db.dsn, "--config", str(cfg), "--now", NOW, "-f", "json"])
    assert "Traceback" not in check.stdout + check.stderr
    if check_too:
        assert check.code == 3
        assert [p["code"] for p in check.json()["tables"][0]["problems"]] == ["out_of_range"]


# --- arguments ----------------------------------------------------------------

ARGUMENTS = [
    # (args after the DSN, code, needles)
    (
        [
            "create",
            "messages",
            "--from",
            "2026-12-01T06:00+00:00",
            "--to",
            "2026-12-01T00:00-05:00",
        ],
        3,
        ["is not before"],
    ),
    (
        ["create", "messages", "--to", "2026-02-30"],
        3,
        ["--to: '2026-02-30'", "day is out of range"],
    ),
    (["create", "messages", "--from", "2026-13-01"], 3, ["--from: '2026-13-01'"]),
    (["create", "messages", "--to", "2026-11-31T24:30"], 3, ["--to"]),
    (["drop", "messages", "--before", "2026-02-30", "--yes"], 3, ["--before: '2026-02-30'"]),
    (["check", "--now", "2026-02-30"], 3, ["--now: '2026-02-30'"]),
    # empty is not "unset" (found by the fuzz: --before '' crashed the planner)
    (["drop", "messages", "--before", "", "--yes"], 3, ["--before: '' is not an ISO 8601"]),
    (["create", "messages", "--from", ""], 3, ["--from: '' is not an ISO 8601"]),
    (["check", "--now", ""], 3, ["--now: '' is not an ISO 8601"]),
    (["maintain", "--now", "next week"], 3, ["--now: 'next week'"]),
    (["maintain", "--now", "0001-01-01T00:00+14:00"], 3, ["outside the years 1 to 9999"]),
    (
        ["maintain", "messages", "--now", "9999-12-31"],
        3,
        ["public.messages: cannot plan", "outside the years 1 to 9999"],
    ),
    (
        ["create", "messages", "--from", "9999-11-01", "--to", "9999-12-31"],
        3,
        ["public.messages: cannot plan"],
    ),
    (["create", "messages", "--interval", "fortnightly"], 3, ["--interval", "fortnightly"]),
    (["drop", "messages", "--older-than", "5 fortnights", "--yes"], 3, ["--older-than"]),
    (["drop", "messages", "--older-than", "1.5 months", "--yes"], 3, ["--older-than"]),
    (["drop", "messages", "--older-than", "90 days ago", "--yes"], 3, ["--older-than"]),
    (["drop", "messages", "--older-than", "", "--yes"], 3, ["--older-than: empty duration"]),
    (["drop", "messages", "--older-than", "9999 years", "--yes"], 3, ["cannot plan"]),
    (["maintain", "--lock-timeout", "2 hours"], 3, ["--lock-timeout", "at most 1 hour"]),
    (["maintain", "--lock-timeout", "1 month"], 3, ["--lock-timeout", "no fixed length"]),
    # no terminal, no --yes: refused before connecting, whatever the format
    (["drop", "messages", "--older-than", "2 months"], 3, ["--yes"]),
    (["drop", "messages", "--before", "2026-10-01", "--detach", "-f", "json"], 3, ["--yes"]),
    # usage errors: exit 3 (bad arguments), one line, where to look
    (["check", "--format", "xml"], 3, ["'xml' is not one of", "pgpart check -h"]),
    (["maintain", "--format", "csv"], 3, ["'csv' is not one of"]),
    (["maintain", "--dry-rum"], 3, ["No such option: --dry-rum", "pgpart maintain -h"]),
    (["create"], 3, ["Missing argument"]),
    (["frobnicate"], 3, ["No such command 'frobnicate'"]),
    (["drop", "messages", "--yes", "--older-than"], 3, ["requires an argument"]),
    (["init", "-o", "/no/such/dir/pgpart.toml"], 3, ["cannot write /no/such/dir/pgpart.toml"]),
]


@pytest.mark.parametrize(
    ("args", "code", "needles"), ARGUMENTS, ids=[" ".join(a[0])[:40] for a in ARGUMENTS]
)
def test_bad_arguments(db: Db, args: list[str], code: int, needles: list[str]) -> None:
    command, rest = args[0], args[1:]
    full = list(args)
    if command in ("check", "create", "maintain", "drop", "init"):
        now = [] if command == "init" or "--now" in rest else ["--now", NOW]
        full = [command, "--dsn", db.dsn, *now, *rest]
    run = cli(full)
    one_line(run, code, *needles)
    assert run.stdout == ""


def test_no_arguments_shows_the_help() -> None:
    run = cli([])
    assert run.code == 3  # no command is a usage error, UNKNOWN (not click's 2: CRITICAL)
    assert "Usage: pgpart" in run.stderr and "Traceback" not in run.stderr
    assert run.stdout == ""  # help shown because of an error is a diagnostic
    assert run.stderr.rstrip().endswith("pgpart: no command given: pick one of the commands above")


def test_init_refuses_named_tables_it_cannot_configure(db: Db, tmp_path: Path) -> None:
    out = tmp_path / "pgpart.toml"
    run = cli(["init", "messages", "nope", "by_list", "--dsn", db.dsn, "-o", str(out)])
    assert run.code == 3
    assert run.stderr.splitlines() == [
        "pgpart: table nope does not exist",
        "pgpart: public.by_list is not range-partitioned on a date/time column",
        "pgpart: nothing written",
    ]
    assert not out.exists()
    ok = cli(["init", "messages", "--dsn", db.dsn, "-o", "-"])
    assert ok.code == 0 and 'name = "public.messages"' in ok.stdout


def test_json_output_stays_valid_with_refused_and_good_tables(db: Db) -> None:
    run = cli(
        [
            "maintain",
            "messages",
            "by_hash",
            "--dsn",
            db.dsn,
            "--now",
            NOW,
            "--dry-run",
            "-f",
            "json",
        ]
    )
    assert one_line(run, 3) == "pgpart: public.by_hash is partitioned by hash, not by a time range"
    document = json.loads(run.stdout)
    assert {t["table"] for t in document["tables"]} == {"public.messages", "public.by_hash"}
    assert [a["partition"] for a in document["actions"]] == [
        "messages_2026_12",
        "messages_2027_01",
        "messages_2027_02",
        None,  # then the parent is analyzed
    ]
