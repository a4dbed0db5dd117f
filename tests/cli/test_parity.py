"""One database is a fleet of one: every command gives the same answer over
one database named by --dsn, by --service (a pg_service.conf) or by a config's
[[database]] block, and the same again, per database, over two.

Each command runs four ways on databases built alike: ``dsn``, ``service``,
``block`` (one database each) and ``two`` (two --dsn). The exit codes are the
same; the three ways of naming one database print the same bytes (stdout and
stderr); two databases print every line of one database's output, each with
that database's name (a first column, a label, a key, or before the line),
the totals twice over and the same verdict. A hot standby is the same case:
maintain there exits 0 however it is named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgpart.cli.fleet_members import dsn_name
from tests.support.cli_helpers import NOW, Run, cli, daily_table, monthly_table
from tests.support.fleet_helpers import Databases, databases, service_file

__all__ = ["databases"]  # the fixture, used by name

N = ["--now", NOW]


def seed(conn: psycopg.Connection[Any], i: int) -> None:
    """Three tables with something to say and to do: messages (nothing covers
    now, October a gap: critical), api_logs (rows of now in DEFAULT: critical,
    rows to move) and events (daily, healthy; old days to drop)."""
    monthly_table(conn, months=range(-3, -1))
    monthly_table(conn, "api_logs", months=range(-1, 0), default=True)
    conn.execute(
        "INSERT INTO api_logs (created_at, body) SELECT '2026-11-05'::timestamptz"
        " + g * interval '1 hour', 'x' FROM generate_series(1, 40) g"
    )
    conn.execute("ANALYZE")
    daily_table(conn)


@dataclass(frozen=True)
class Ways:
    """One command's four runs, and the name of the first of two databases."""

    dsn: Run
    service: Run
    block: Run
    two: Run
    first: str  # the name the output of ``two`` gives its first database
    second: str


def run_ways(
    databases: Databases, tmp_path: Path, args: list[str], made: list[str] | None = None
) -> Ways:
    """``args`` four ways; on ``made`` (five databases) when given (read-only
    commands share theirs), else on five new ones."""
    one, by_service, by_block, first, second = made or databases.make(5, seed)
    env = {"PGSERVICEFILE": service_file(tmp_path / "pg_service.conf", {"only": by_service})}
    config = tmp_path / "fleet.toml"
    config.write_text(f'[[database]]\nname = "only"\ndsn = "{by_block}"\n', encoding="utf-8")
    return Ways(
        cli([*args, "--dsn", one]),
        cli([*args, "--service", "only"], env=env),
        cli([*args, "--config", str(config)]),
        cli([*args, "--dsn", first, "--dsn", second]),
        dsn_name(first),
        dsn_name(second),
    )


def same_for_one_database(ways: Ways, *, stdout: bool = True) -> None:
    """The exit code everywhere; the bytes for the three ways of naming one
    database (``stdout``: init's file says how the database was named)."""
    codes = {ways.dsn.code, ways.service.code, ways.block.code, ways.two.code}
    assert len(codes) == 1, (ways.dsn, ways.service, ways.block, ways.two)
    outputs = [timeless(r.stdout) for r in (ways.dsn, ways.service, ways.block)]
    assert not stdout or outputs[0] == outputs[1] == outputs[2], outputs
    assert ways.service.stderr == ways.dsn.stderr == ways.block.stderr
    said = [line.removeprefix("pgpart: ") for line in ways.dsn.stderr.splitlines()]
    for line in said:  # each line of one database, once per database after its name
        for name in (ways.first, ways.second):
            assert ways.two.stderr.count(f"pgpart: {name}: {line}\n") == 1, (line, ways.two.stderr)


def timeless(text: str) -> Any:
    """A JSON document without the seconds an action took; statements
    without their numbers (oids, which differ between databases)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: [numberless(q) for q in v] if k == "sql" else strip(v)
                for k, v in value.items()
                if k != "seconds"
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    if text.startswith("{"):
        return strip(json.loads(text))
    return "\n".join(
        line if line.startswith("--") else numberless(line) for line in text.split("\n")
    )


def numberless(statement: str) -> str:
    """Without oids and without clock times (a retention mark records when)."""
    statement = re.sub(r"\d{2}:\d{2}:\d{2}(\.\d+)?", "HH:MM:SS", statement)
    return re.sub(r"\b\d{4,}\b", "N", statement)


def of_database(value: Any, name: str) -> Any:
    """The objects of one database, without their "database" key."""
    if isinstance(value, dict):
        return {k: of_database(v, name) for k, v in value.items() if k != "database"}
    if isinstance(value, list):
        return [
            of_database(v, name)
            for v in value
            if not isinstance(v, dict) or v.get("database") == name
        ]
    return value


# --- the shapes of the output of two databases, against one's ---------------------------

VERDICT = re.compile(r"^(OK|WARNING|CRITICAL|UNKNOWN): ")
TOTALS = re.compile(r"^(dry run: )?(would )?created? ")


def table_lines(text: str, name: str, other: str) -> list[str]:
    """The table output's lines of database ``name`` as one database prints
    them: its rows without their first column, its problem and error lines
    without its name, its blocks (stats: 'database NAME: TABLE') without the
    'database NAME:'; the other database's lines, separators, blank lines and
    the closing lines left out."""
    out = []
    block: str | None = None  # the database whose block (up to a blank line) this is
    for line in text.splitlines():
        words = line.split()
        if not words:
            block = None
            continue
        if set(line.strip()) <= {"-", " "} or VERDICT.match(line):
            continue
        if TOTALS.match(line) or line.startswith("check now: "):
            continue
        if words[0] == "database" and len(words) > 1 and words[1] in ("table", "partition"):
            out.append(" ".join(words[1:]))  # the header, less its first column
        elif words[0] == "database" and len(words) > 1:
            block = words[1].removesuffix(":")
            if block == name and len(words) > 2:
                out.append(" ".join(words[2:]))
        elif words[0] == name:
            out.append(" ".join(words[1:]))
        elif len(words) > 1 and words[1] == f"{name}:":
            out.append(" ".join([words[0], *words[2:]]))
        elif block == name or (block is None and other not in line):
            out.append(" ".join(words))
    return out


def one_table(text: str) -> list[str]:
    return [
        " ".join(line.split())
        for line in text.splitlines()
        if line.strip()
        and not set(line.strip()) <= {"-", " "}
        and not VERDICT.match(line)
        and not TOTALS.match(line)
        and not line.startswith("check now: ")
    ]


def verdicts(text: str) -> list[str]:
    return [m.group(1) for line in text.splitlines() if (m := VERDICT.match(line))]


def totals(text: str) -> list[int]:
    line = next(x for x in text.splitlines() if TOTALS.match(x))
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", line.split(";")[0])]


def after_verdict(text: str) -> str | None:
    found = [line.split()[2] for line in text.splitlines() if line.startswith("check now: ")]
    return found[0] if found else None


def same_table(ways: Ways) -> None:
    one, two = ways.dsn.stdout, ways.two.stdout
    assert table_lines(two, ways.first, ways.second) == one_table(one), (one, two)
    assert verdicts(two) == verdicts(one)
    if any(TOTALS.match(x) for x in one.splitlines()):
        assert totals(two) == [2 * n for n in totals(one)], (one, two)
    assert after_verdict(two) == after_verdict(one)


def same_json(ways: Ways, keys: tuple[str, ...]) -> None:
    one, two = timeless(ways.dsn.stdout), timeless(ways.two.stdout)
    assert two["status"] == one["status"]
    for key in keys:
        assert of_database(two[key], ways.first) == one[key], key
    if "summary" in one:
        assert {k: v * 2 for k, v in one["summary"].items() if k != "dry_run"} == {
            k: v for k, v in two["summary"].items() if k != "dry_run"
        }
    if "check_after" in one:
        after = two["check_after"]
        assert after["status"] == one["check_after"]["status"]
        assert of_database(after["tables"], ways.first) == one["check_after"]["tables"]
    assert [d["database"] for d in two["databases"]] == [ways.first, ways.second]


def same_csv(ways: Ways) -> None:
    one = ways.dsn.stdout.splitlines()
    two = ways.two.stdout.splitlines()
    assert two[0] == "database," + one[0]
    assert [
        r.removeprefix(ways.first + ",") for r in two[1:] if r.startswith(ways.first + ",")
    ] == one[1:]


def same_prometheus(ways: Ways) -> None:
    one = [x for x in ways.dsn.stdout.splitlines() if not x.startswith("#")]
    label = f'database="{ways.first}"'
    mine = [
        x.replace("{" + label + "}", "").replace("{" + label + ",", "{")
        for x in ways.two.stdout.splitlines()
        if label in x
    ]
    assert mine == one
    headers = [x for x in ways.dsn.stdout.splitlines() if x.startswith("#")]
    assert [x for x in ways.two.stdout.splitlines() if x.startswith("#")] == headers


def same_dry_run(ways: Ways) -> None:
    """Each database's script, after a comment naming it, is one database's script."""
    scripts = re.split(r"^-- database (.+)\n", ways.two.stdout, flags=re.M)
    assert scripts[0] == ""
    named = dict(zip(scripts[1::2], scripts[2::2], strict=True))
    assert list(named) == [ways.first, ways.second]
    assert timeless(named[ways.first].rstrip("\n")) == timeless(ways.dsn.stdout.rstrip("\n"))


def same_init(ways: Ways) -> None:
    """The [[table]] entries; only the [[database]] blocks tell the files apart
    (one database named by --dsn has none)."""
    head = ways.dsn.stdout
    for run in (ways.service, ways.block, ways.two):
        assert run.stdout.split("\n# [[database]]")[0] == head
        assert "[[database]]" not in head
    assert ways.two.stdout.count("[[database]]\nname = ") == 2


Check = Callable[[Ways], None]

READING: list[tuple[list[str], Check]] = [
    (["check", *N], same_table),
    (["check", "-q", *N], same_table),
    (["check", "public.messages", "mesages", *N], same_table),  # did you mean
    (["check", "--format", "json", *N], lambda w: same_json(w, ("tables",))),
    (["check", "--format", "csv", *N], same_csv),
    (["check", "--format", "prometheus", *N], same_prometheus),
    (["stats"], same_table),
    (["stats", "--format", "json"], lambda w: same_json_stats(w)),
    (["stats", "--format", "csv"], same_csv),
    (["stats", "--format", "prometheus"], same_prometheus),
    (["stats", "mesages"], lambda w: None),  # stderr only, did you mean: compared always
    (["init", "-o", "-"], same_init),
    (["maintain", "--dry-run", *N], same_dry_run),
    (["create", "mesages", *N], lambda w: None),
]


def same_json_stats(ways: Ways) -> None:
    one, two = json.loads(ways.dsn.stdout), json.loads(ways.two.stdout)
    assert of_database(two["tables"], ways.first) == one["tables"]
    assert [d["database"] for d in two["databases"]] == [ways.first, ways.second]


def test_reading_commands_answer_alike(databases: Databases, tmp_path: Path) -> None:
    made = databases.make(5, seed)
    for args, same in READING:
        ways = run_ways(databases, tmp_path, args, made)
        same_for_one_database(ways, stdout=args[0] != "init")
        if ways.dsn.code != 3 or ways.dsn.stdout:
            same(ways)
    # what the did-you-mean runs said, on stderr, once per database
    stats = run_ways(databases, tmp_path, ["stats", "mesages"], made)
    assert stats.dsn.code == 3
    assert "did you mean public.messages?" in stats.dsn.stderr
    assert stats.two.stderr.count("did you mean public.messages?") == 2


WRITING: list[tuple[list[str], Check]] = [
    (["maintain", *N], same_table),
    (["maintain", "--format", "json", *N], lambda w: same_json(w, ("actions", "tables"))),
    (["maintain", "-q", "messages", "mesages", *N], lambda w: None),  # stderr: did you mean
    (["create", "messages", "--from", "2026-10-01", "--to", "2027-01-01", *N], same_table),
    (
        ["create", "api_logs", "--to", "2027-01-01", "--format", "json", *N],
        lambda w: same_json(w, ("actions", "tables")),
    ),
    (["drop", "events", "--older-than", "2 days", "--yes", *N], same_table),
    (
        ["drop", "events", "--older-than", "2 days", "--yes", "--format", "json", *N],
        lambda w: same_json(w, ("actions", "tables")),
    ),
]


@pytest.mark.parametrize(
    ("args", "same"), WRITING, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_writing_commands_answer_alike(
    databases: Databases, tmp_path: Path, args: list[str], same: Check
) -> None:
    ways = run_ways(databases, tmp_path, args)
    same_for_one_database(ways)
    same(ways)
    if "--format" not in args and "-q" not in args:
        assert "check now: " in ways.two.stdout  # the state the run left, over both


def test_restore_works_on_one_database_however_named(databases: Databases, tmp_path: Path) -> None:
    """restore has one database: --dsn, --service and a [[database]] block
    alike (here an archive that is not there); two are refused (exit 3)."""
    ways = run_ways(
        databases, tmp_path, ["restore", str(tmp_path / "gone.dump")], databases.make(5)
    )
    assert ways.dsn.code == ways.service.code == ways.block.code != 0
    assert ways.dsn.stderr == ways.service.stderr == ways.block.stderr
    assert ways.two.code == 3
    assert "restore works on one database" in ways.two.stderr


def test_maintain_on_a_hot_standby_exits_0_however_named(
    pg_cluster_control: Any, pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """The same cron on every node: on the standby maintain does nothing and
    says why (exit 0), whether --dsn, --service or a [[database]] block names
    it; beside a primary, the primary is maintained and the standby said."""
    from devcluster import destroy_cluster, start_standby

    monthly_table(pg_conn, months=range(-1, 1))  # the current month only: work to do
    standby = start_standby(pg_cluster_control)
    try:
        dsn = standby.dsn_for(pg_conn.info.dbname)
        env = {"PGSERVICEFILE": service_file(tmp_path / "pg_service.conf", {"replica": dsn})}
        config = tmp_path / "pgpart.toml"
        config.write_text(f'[[database]]\nname = "replica"\ndsn = "{dsn}"\n', encoding="utf-8")
        said = (
            "pgpart: the server is in recovery (a hot standby): nothing to do here;"
            " maintain runs on the primary\n"
        )
        for quiet in ([], ["-q"]):
            runs = [
                cli(["maintain", *quiet, "--dsn", dsn, *N]),
                cli(["maintain", *quiet, "--service", "replica", *N], env=env),
                cli(["maintain", *quiet, "--config", str(config), *N]),
            ]
            for run in runs:
                assert (run.code, run.stdout, run.stderr) == (0, "", "" if quiet else said), run
        both = cli(["maintain", "--dsn", dsn, "--dsn", pg_dsn, "--format", "json", *N])
        assert both.code == 0, both
        replica, primary = both.json()["databases"]
        assert (replica["standby"], replica["status"], primary["standby"]) == (True, "ok", False)
        assert {a["database"] for a in both.json()["actions"]} == {primary["database"]}
        assert both.stderr == said.replace("pgpart: ", f"pgpart: {replica['database']}: ")
        for args in (
            ["create", "messages"],
            ["drop", "messages", "--older-than", "1 day", "--yes"],
        ):
            refused = [
                cli([*args, "--dsn", dsn, *N]).code,
                cli([*args, "--service", "replica", *N], env=env).code,
                cli([*args, "--config", str(config), *N]).code,
            ]
            assert refused == [2, 2, 2], args  # refused there: a write that cannot be done
    finally:
        destroy_cluster(standby)
