"""Hypothesis fuzz of the CLI, in-process, against a real database.

Random config documents (plausible and implausible keys and values, nested
tables, huge numbers, control characters, bytes that are not UTF-8) and random
argument lists (the real commands and flags, random values, stray tokens).

Properties, for every run:

- the exit code is 0, 1, 2 or 3, and no exception escapes (no traceback);
- a usage error (unknown flag, bad choice, missing TABLE...) exits 3, the
  "bad arguments" of docs/output.md, in one ``pgpart:`` line: click's own ``Usage:``
  / ``Error:`` block (exit 2) never shows, so exit 2 always means CRITICAL or
  "a writing command failed", never "you typed it wrong";
- every stderr line starts with ``pgpart:`` (the one exception: ``init``'s
  "wrote FILE" note);
- ``--format json`` output, when there is any, is one valid JSON document;
- the database is unchanged: only read-only commands and writing commands
  with ``--dry-run`` are run (``--dry-run`` comes right after the command name,
  so no random option can swallow it as its value), and the catalog
  fingerprint (relations, bounds, owners, grants, row counts) is compared
  after every run. ``create --force`` is left out: it may legitimately plan
  millions of partitions (``--from 0001-01-01 --to 9999-01-01 --interval
  hourly``), which is slow, not wrong.

The working directory is a temporary one, so ``init`` without ``--output``
writes there, never into the repository.
"""

from __future__ import annotations

import json
import os
import socket
import string
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import make_conninfo

from devcluster import Server
from tests.cli.test_hostile_input import fingerprint
from tests.support.cli_helpers import NOW, Run, cli, daily_table, monthly_table

# 100 config documents (7 runs each) and 200 argument lists keep the file near
# 15 s; a longer hunt, with random seeds:
# PGPART_FUZZ_EXAMPLES=2000 python -m pytest tests/slow/test_fuzz_cli.py
_DEEP = os.environ.get("PGPART_FUZZ_EXAMPLES")


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=int(_DEEP) if _DEEP else examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,  # no .hypothesis directory in the repository
        derandomize=not _DEEP,  # CI: the same examples every run
    )


@pytest.fixture(scope="module")
def fuzz_db(pg_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with a few partitioned tables, shared by every example."""
    name = f"fuzz_{os.getpid()}"
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(pg_server.admin_dsn, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        monthly_table(conn, months=range(-3, 1))
        daily_table(conn)
        monthly_table(conn, "withdef", months=range(-1, 1), default=True)
        conn.execute(
            "INSERT INTO withdef (created_at, body) SELECT '2026-10-15'::timestamptz"
            " + i * interval '1 day', 'r' FROM generate_series(0, 60) i"
        )  # Oct..Dec 14: December's rows sit in DEFAULT
        conn.execute('CREATE TABLE "Weird Name" (t date NOT NULL) PARTITION BY RANGE (t)')
        conn.execute(
            'CREATE TABLE "Weird Name_2026" PARTITION OF "Weird Name"'
            " FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"
        )
        conn.execute("CREATE TABLE x (id int)")
        conn.execute("INSERT INTO x VALUES (1)")
        conn.execute("CREATE TABLE by_list (k text) PARTITION BY LIST (k)")
    cwd = Path.cwd()
    work = tmp_path_factory.mktemp("fuzz_cwd")
    os.chdir(work)
    try:
        yield dsn
    finally:
        os.chdir(cwd)
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def before(fuzz_db: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(fuzz_db, autocommit=True) as conn:
        return fingerprint(conn)


def unchanged(dsn: str, expected: list[tuple[Any, ...]]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert fingerprint(conn) == expected, "the database changed"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the properties ------------------------------------------------------------


def effective_format(args: list[str]) -> str:
    fmt = "table"
    for i, token in enumerate(args):
        if token == "--":
            break
        if token in ("-f", "--format") and i + 1 < len(args):
            fmt = args[i + 1]
        elif token.startswith("--format="):
            fmt = token.split("=", 1)[1]
    return fmt


def assert_sane(run: Run, args: list[str]) -> None:
    everything = run.stdout + run.stderr
    assert run.code in (0, 1, 2, 3), (args, run)
    assert "Traceback" not in everything, (args, run)
    for line in run.stderr.splitlines():
        assert line.startswith("pgpart: ") or line.startswith("wrote "), (args, run.stderr)
    assert not run.stderr.startswith("Usage:"), (args, run.stderr)
    if run.code == 2:
        # exit 2 is CRITICAL or a failed writing command: the run got as far as a plan
        assert args[0] in ("check", "create", "maintain", "drop"), (args, run)
    options = args[: args.index("--")] if "--" in args else args
    asked_help = "-h" in options or "--help" in options
    wants_json = effective_format(args) == "json" and args[0] != "init" and not asked_help
    if wants_json and run.stdout.strip():
        json.loads(run.stdout)


# --- random config documents ---------------------------------------------------

POLICY_KEYS = [
    "interval",
    "premake",
    "retention",
    "retention_mode",
    "timezone",
    "naming",
    "warn_ahead",
    "critical_ahead",
    "lock_timeout",
]
SETTINGS_KEYS = ["statement_timeout", "retry_for", "max_new_partitions", "move_batch_rows"]
WRONG_KEYS = ["intervl", "Premake", "name ", "", "défaut", "table", "defaults", "x.y", "\x7f"]

plausible_text = st.sampled_from(
    [
        "daily",
        "monthly",
        "hourly",
        "weekly",
        "quarterly",
        "yearly",
        "DAILY",
        "fortnightly",
        "90 days",
        "6 months",
        "500ms",
        "1h30min",
        "0",
        "0s",
        "-1 day",
        "9999 years",
        "1 month",
        "none",
        "drop",
        "detach",
        "delete",
        "UTC",
        "Europe/Berlin",
        "Mars/Olympus",
        "utc",
        "../../etc/passwd",
        "{table}_{start:%Y_%m}",
        "{table}_{start:%Y_%m_%d}",
        "{bogus}",
        "{table.__class__}",
        "{start:%Q}",
        "{table",
        "%s%s%s",
        "messages",
        "public.messages",
        "events",
        "withdef",
        '"Weird Name"',
        "nosuch",
        "x",
        "by_list",
        "a.b.c",
        "messages; DROP TABLE x",
        "\x00",
        "\u202e",
        "\ud7ff",
        "é" * 70,
    ]
)
scalar = st.one_of(
    plausible_text,
    st.text(max_size=30),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-5, max_value=600),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
)
value = st.recursive(
    scalar,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(POLICY_KEYS + WRONG_KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)


durations_text = st.sampled_from(
    ["90 days", "6 months", "1 year", "2 days", "12h", "1h30min", "500ms", "0", "7 days", "3 weeks"]
)
# Values that pass validation, drawn two times out of three, so that runs get past
# the config into planning (DST zones, odd intervals, retention, naming...).
VALID: dict[str, st.SearchStrategy[Any]] = {
    "interval": st.sampled_from(["hourly", "daily", "weekly", "monthly", "quarterly", "yearly"]),
    "premake": st.integers(min_value=0, max_value=400),
    "retention": durations_text | st.just("none"),
    "retention_mode": st.sampled_from(["drop", "detach"]),
    "timezone": st.sampled_from(
        [
            "UTC",
            "Europe/Berlin",
            "America/St_Johns",
            "Pacific/Apia",
            "Asia/Kathmandu",
            "Australia/Lord_Howe",
            "Pacific/Kiritimati",
            "America/Sao_Paulo",
        ]
    ),
    "naming": st.sampled_from(
        [
            "{table}_{start:%Y_%m}",
            "{table}_{start:%Y%m%d}",
            "{table}_p{start:%Y_%m_%d_%H}",
            "{table}_{isoyear}w{week}",
            "{table}_{start:%Y}q{quarter}",
        ]
    ),
    "warn_ahead": durations_text,
    "critical_ahead": durations_text,
    "lock_timeout": st.sampled_from(["500ms", "1s", "100ms"]),
    "statement_timeout": st.sampled_from(["5min", "1s"]),
    "retry_for": st.sampled_from(["0s", "1s", "30s"]),
    "max_new_partitions": st.integers(min_value=1, max_value=1000),
    "move_batch_rows": st.integers(min_value=1, max_value=10**6),
}


@st.composite
def section(draw: st.DrawFn, keys: list[str]) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(keys), max_size=4, unique=True))
    if draw(st.integers(0, 5)) == 3:  # now and then a key that does not exist
        chosen.append(draw(st.sampled_from(WRONG_KEYS)))
    return {
        key: draw(st.one_of(VALID[key], VALID[key], value) if key in VALID else value)
        for key in chosen
    }


table_entry = st.builds(
    lambda name, rest: ({"name": name} if name is not None else {}) | rest,
    st.sampled_from(["messages", "events", "withdef", '"Weird Name"', "public.events"])
    | st.sampled_from(["messages", "events", "withdef"])
    | st.none()
    | plausible_text
    | st.integers(),
    section(POLICY_KEYS),
)


@st.composite
def document(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.integers(0, 3)) != 3:
        keys = [k for k in POLICY_KEYS if k != "interval"] + SETTINGS_KEYS
        doc["defaults"] = draw(section(keys + ["interval"] * (draw(st.integers(0, 5)) == 3)))
    if draw(st.integers(0, 3)) != 3:
        doc["table"] = draw(st.lists(table_entry, max_size=3))
    if draw(st.integers(0, 5)) == 3:  # now and then, a top-level key that has no place
        doc |= draw(
            st.dictionaries(st.sampled_from(["premake", "extra", "tables", ""]), value, max_size=2)
        )
    return doc


@st.composite
def config_bytes(draw: st.DrawFn) -> bytes:
    """A TOML document, sometimes damaged: characters or raw bytes spliced in."""
    data = tomli_w.dumps(draw(document())).encode("utf-8")
    how = draw(st.sampled_from(["clean"] * 6 + ["splice_text", "splice_bytes", "raw"]))
    if how == "raw":
        return draw(st.binary(max_size=200))
    if how == "clean" or not data:
        return data
    at = draw(st.integers(min_value=0, max_value=len(data)))
    piece = (
        draw(st.text(max_size=8)).encode("utf-8")
        if how == "splice_text"
        else draw(st.binary(min_size=1, max_size=8))
    )
    return data[:at] + piece + data[at:]


READ_WRITE_RUNS = [
    ["check", "--now", NOW],
    ["check", "--now", NOW, "-f", "json"],
    ["stats", "-f", "json"],
    ["maintain", "--dry-run", "--now", NOW],
    ["create", "--dry-run", "messages", "--now", NOW, "-f", "json"],
    ["drop", "--dry-run", "withdef", "--older-than", "1 month", "--now", NOW],
    ["init", "-o", "-"],
]


@fuzz(100)
@given(data=config_bytes())
def test_random_config_documents(
    fuzz_db: str,
    before: list[tuple[Any, ...]],
    tmp_path_factory: pytest.TempPathFactory,
    data: bytes,
) -> None:
    cfg = tmp_path_factory.mktemp("cfg") / "pgpart.toml"
    cfg.write_bytes(data)
    for args in READ_WRITE_RUNS:
        run = cli([*args, "--config", str(cfg)], env={"PGPART_DSN": fuzz_db})
        assert_sane(run, args)
    unchanged(fuzz_db, before)


# --- random argument lists -----------------------------------------------------

tables = st.sampled_from(
    [
        "messages",
        "public.messages",
        "events",
        "withdef",
        '"Weird Name"',
        "nosuch",
        "x",
        "by_list",
        "messages; DROP TABLE x",
        "",
        "a.b.c",
        "pg_catalog.pg_class",
        "-",
        "--",
    ]
) | st.text(max_size=12)
moments = (
    st.sampled_from(
        [
            "2026-11-22",
            "2026-02-30",
            NOW,
            "2026-11-22T12:00",
            "2027-01-01T00:00-05:00",
            "9999-12-31",
            "0001-01-01",
            "0001-01-01T00:00+14:00",
            "2026-W47",
            "yesterday",
            "",
            "2026",
            "20261122T1200Z",
            "+2026-11-22",
        ]
    )
    | st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)).map(str)
    | st.text(max_size=12)
)
durations = (
    st.sampled_from(
        [
            "90 days",
            "1 month",
            "500ms",
            "0",
            "-3 days",
            "9999 years",
            "1h30min",
            "",
            "soon",
            "1.5 months",
            "2 weeks",
            "1e9 days",
            "P1D",
        ]
    )
    | st.builds(
        lambda n, unit: f"{n} {unit}",
        st.integers(min_value=-5, max_value=10**12),
        st.sampled_from(["days", "months", "years", "hours", "ms", "fortnights", "s"]),
    )
    | st.text(max_size=10)
)
intervals = st.sampled_from(
    ["hourly", "daily", "weekly", "monthly", "quarterly", "yearly", "Daily", "fortnightly", ""]
) | st.text(max_size=8)
formats = st.sampled_from(["table", "json", "csv", "prometheus", "xml", "", "JSON"])


@st.composite
def dsns(draw: st.DrawFn, real: str) -> str:
    # Only values that fail (or succeed) fast: no host names to resolve.
    return draw(
        st.sampled_from(
            [
                real,
                real,
                "host=127.0.0.1 port",
                f"host=127.0.0.1 port={closed_port()} password=pw connect_timeout=2",
                "postgresql://u:pw%zz@127.0.0.1/db",
                make_conninfo(real, dbname="no_such_db"),
                "bogus=1",
            ]
        )
    )


COMMON: dict[str, Any] = {
    "-q": None,
    "--quiet": None,
    "-v": None,
    "--verbose": None,
    "--config": "config",
    "--dsn": "dsn",
}
OPTIONS: dict[str, dict[str, Any]] = {
    "check": {"--exact": None, "-f": formats, "--format": formats, "--now": moments},
    "stats": {"--exact": None, "-f": formats, "--format": formats},
    "init": {"-o": st.sampled_from(["-", "out.toml", "/no/such/dir/x.toml", ""]), "--force": None},
    "create": {
        "--from": moments,
        "--to": moments,
        "--interval": intervals,
        "--now": moments,
        "--lock-timeout": durations,
        "-f": formats,
    },
    "maintain": {"--lock-timeout": durations, "-f": formats, "--format": formats, "--now": moments},
    "drop": {
        "--older-than": durations,
        "--before": moments,
        "--detach": None,
        "--yes": None,
        "-y": None,
        "--lock-timeout": durations,
        "-f": formats,
        "--now": moments,
    },
}
WRITERS = {"create", "maintain", "drop"}
configs_on_disk = st.sampled_from(["good", "bad", "missing", "dir", "/dev/null"])


@st.composite
def argument_lists(draw: st.DrawFn, real_dsn: str, cfg_dir: Path) -> list[str]:
    command = draw(st.sampled_from(sorted(OPTIONS)))
    args = [command]
    if command in WRITERS:
        args.append("--dry-run")  # first, so that no option can take it as its value
    options = {**COMMON, **OPTIONS[command]}
    chosen = draw(st.lists(st.sampled_from(sorted(options)), max_size=6))
    for flag in chosen:
        kind = options[flag]
        args.append(flag)
        if kind is None:
            continue
        if kind == "dsn":
            args.append(draw(dsns(real_dsn)))
        elif kind == "config":
            which = draw(configs_on_disk)
            args.append(
                str(cfg_dir / which)
                if which in ("good", "bad", "missing")
                else (str(cfg_dir) if which == "dir" else which)
            )
        else:
            args.append(draw(kind))
    count = 1 if command in ("create", "drop") else draw(st.integers(0, 3))
    positional = draw(st.lists(tables, min_size=count, max_size=count))
    # Tables go anywhere among the options; now and then a stray token too.
    first = 2 if command in WRITERS else 1  # never before --dry-run
    for table in positional:
        args.insert(draw(st.integers(min_value=first, max_value=len(args))), table)
    if draw(st.booleans()):
        stray = draw(
            st.sampled_from(["--bogus", "-x", "--", "--dry-run", "-h"])
            | st.text(alphabet=string.printable, max_size=6)
        )
        args.insert(draw(st.integers(min_value=first, max_value=len(args))), stray)
    return args


@pytest.fixture(scope="module")
def cfg_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cfgs")
    (d / "good").write_text(
        '[defaults]\ntimezone = "Europe/Berlin"\npremake = 2\n\n'
        '[[table]]\nname = "messages"\ninterval = "monthly"\nretention = "2 months"\n'
    )
    (d / "bad").write_text("[defaults]\npremake = -1\n")
    return d


@fuzz(200)
@given(data=st.data())
def test_random_argument_lists(
    fuzz_db: str, before: list[tuple[Any, ...]], cfg_dir: Path, data: st.DataObject
) -> None:
    args = data.draw(argument_lists(fuzz_db, cfg_dir))
    if args[0] == "create" and "--force" in args:  # pragma: no cover - never drawn
        return
    run = cli(args, env={"PGPART_DSN": fuzz_db, "PGPART_NOW": NOW})
    assert_sane(run, args)
    unchanged(fuzz_db, before)


def test_usage_errors_exit_3_in_one_line(fuzz_db: str) -> None:
    """What the fuzz relies on, shown once: click's exit 2 block never appears."""
    for args in (
        ["check", "--bogus"],
        ["maintain", "-f", "xml"],
        ["drop"],
        ["nope"],
        ["create", "--dry-run", "messages", "extra"],
    ):
        run = cli(args, env={"PGPART_DSN": fuzz_db})
        assert run.code == 3, (args, run)
        assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("pgpart: ")
