"""Many databases in one run, end to end on several databases of the test cluster.

Members come from repeated --dsn, --service (a pg_service.conf written to
tmp_path, found through PGSERVICEFILE) and [[database]] blocks; one member
is unreachable in most tests. Checked: one report (database column, key,
label), the worst exit code, isolation of failures, masked passwords, and
that one member gives exactly the single-database output.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pgpart.cli.write_commands as cli_module
from pgpart.cli.exit_codes import worst
from pgpart.cli.fleet_members import dsn_name
from pgpart.config import Overrides, load_settings
from tests.support.cli_helpers import NOW, cli, daily_table, monthly_table
from tests.support.fleet_helpers import UNREACHABLE, Databases, databases, service_file

__all__ = ["databases"]  # the fixture, used by name

N = ["--now", NOW]


def healthy(conn: psycopg.Connection[Any], i: int) -> None:
    monthly_table(conn, months=range(-2, 4))
    daily_table(conn)


def critical(conn: psycopg.Connection[Any], i: int) -> None:
    """Nothing covers now: missing_current (CRITICAL)."""
    monthly_table(conn, months=range(-3, -1))


def warning(conn: psycopg.Connection[Any], i: int) -> None:
    """Covered until the end of tomorrow only: insufficient_ahead (WARNING)."""
    daily_table(conn, days=range(-2, 2))


def partitions(dsn: str, table: str = "messages") -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            (table,),
        ).fetchall()
    return {r[0] for r in rows}


def dsn_args(dsns: list[str]) -> list[str]:
    return [a for d in dsns for a in ("--dsn", d)]


def all_objects(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value] + [o for v in value.values() for o in all_objects(v)]
    if isinstance(value, list):
        return [o for v in value for o in all_objects(v)]
    return []


# --- no database needed ----------------------------------------------------------


def test_exit_code_ranking() -> None:
    # CRITICAL (known bad) > UNKNOWN (could not look) > WARNING > OK
    assert worst([]) == 0
    assert worst([0, 1]) == 1
    assert worst([0, 1, 3]) == 3
    assert worst([3, 2, 1]) == 2
    assert worst([2, 3]) == 2


@pytest.mark.parametrize(
    ("dsn", "name"),
    [
        ("postgresql://app:s3cret@db.example.internal/app", "db.example.internal/app"),
        ("postgresql://app:s3cret@db.example.internal:6432/app", "db.example.internal:6432/app"),
        ("host=/var/run/postgresql dbname=app user=x password=s3cret", "local/app"),
        ("host=h1,h2 port=5432,5433 dbname=app", "h1,h2:5432,5433/app"),
        ("dbname=app", "local/app"),
        ("service=eu-1", "eu-1"),
        ("postgresql://u:s3cret%zz@h/db", "invalid-dsn"),
    ],
)
def test_dsn_names_never_hold_credentials(dsn: str, name: str) -> None:
    assert dsn_name(dsn) == name
    assert "s3cret" not in name and "app:" not in name


def test_bad_fleet_input_exit_3(tmp_path: Path) -> None:
    for args, expected in (
        (["check", "--jobs", "0", "--dsn", "a", "--dsn", "b"], "--jobs"),
        (["check", "--jobs", "four", "--dsn", "a", "--dsn", "b"], "--jobs"),
        (["check", "--dsn", "host=h dbname=a", "--dsn", "host=h dbname=a"], "--dsn/--service"),
    ):
        run = cli(args)
        assert run.code == 3, (args, run.stderr)
        assert expected in run.stderr and len(run.stderr.strip().splitlines()) == 1
    services = service_file(tmp_path / "pg_service.conf", {"eu-1": "host=h dbname=a"})
    run = cli(["check", "--service", "eu-1", "--service", "nope"], env={"PGSERVICEFILE": services})
    assert run.code == 3
    assert "--service nope: no such service in " + services in run.stderr
    assert "(known: eu-1)" in run.stderr


@pytest.mark.parametrize(
    ("block", "where", "says"),
    [
        ('name = "a"\ndsn = "x"\nservice = "y"\n', 4, "not both dsn and service"),
        ('name = "a"\n', 1, "not neither dsn nor service"),
        ('dsn = "x"\n', 1, "key 'name' must be a non-empty string"),
        ('name = "a"\ndsn = "x"\ntables = "public.t"\n', 4, "tables must be an array"),
        ('name = "a"\ndsn = "x"\npremake = "3"\n', 4, "premake: must be an integer"),
        ('name = "a"\ndsn = "x"\nhost = "h"\n', 4, "key 'host' is unknown"),
    ],
)
def test_bad_database_blocks_name_file_and_line(
    tmp_path: Path, block: str, where: int, says: str
) -> None:
    path = tmp_path / "pgpart.toml"
    path.write_text("[[database]]\n" + block, encoding="utf-8")
    run = cli(["check", "--config", str(path)])
    assert run.code == 3
    assert f"{path}:{where}: [[database]] #1:" in run.stderr and says in run.stderr, run.stderr


def test_duplicate_database_names(tmp_path: Path) -> None:
    path = tmp_path / "pgpart.toml"
    path.write_text(
        '[[database]]\nname = "eu"\ndsn = "x"\n\n[[database]]\nname = "eu"\nservice = "y"\n',
        encoding="utf-8",
    )
    run = cli(["check", "--config", str(path)])
    assert run.code == 3
    assert f"{path}:6: [[database]] #2: name 'eu' is already used at line 1" in run.stderr


def test_unknown_service_in_a_block(tmp_path: Path) -> None:
    path = tmp_path / "pgpart.toml"
    path.write_text('[[database]]\nname = "eu"\nservice = "eu-9"\n', encoding="utf-8")
    services = service_file(tmp_path / "svc.conf", {"eu-1": "host=h dbname=a"})
    run = cli(["check", "--config", str(path)], env={"PGSERVICEFILE": services})
    assert run.code == 3
    assert f"{path}:1: [[database]] eu: service eu-9: no such service" in run.stderr


# --- check -------------------------------------------------------------------------


def test_check_reports_every_database_and_ranks_critical_over_unknown(
    databases: Databases,
) -> None:
    ok, bad, warn = (
        databases.make(1, healthy) + databases.make(1, critical) + databases.make(1, warning)
    )
    run = cli(["check", *dsn_args([ok, bad, warn, UNREACHABLE]), *N])
    assert run.code == 2, run.stderr  # CRITICAL outranks the unreachable member's UNKNOWN
    lines = run.stdout.splitlines()
    assert lines[0].split()[:3] == ["database", "table", "status"]
    for dsn, table, status in (
        (ok, "public.messages", "OK"),
        (ok, "public.events", "OK"),
        (bad, "public.messages", "CRITICAL"),
        (warn, "public.events", "WARNING"),
    ):
        assert any(line.split()[:3] == [dsn_name(dsn), table, status] for line in lines), (
            dsn_name(dsn),
            run.stdout,
        )
    assert any(line.split()[:2] == ["127.0.0.1:1/gone", "UNKNOWN"] for line in lines)
    assert f"{dsn_name(bad)}: public.messages: missing_current" in run.stdout
    assert run.stdout.rstrip().splitlines()[-1].startswith("CRITICAL: 4 databases (1 not checked)")
    (said,) = [line for line in run.stderr.splitlines() if "gone" in line]
    assert said.startswith("pgpart: 127.0.0.1:1/gone: cannot connect:")

    # Without the critical one the unreachable member decides: UNKNOWN beats WARNING.
    assert cli(["check", *dsn_args([ok, warn, UNREACHABLE]), *N]).code == 3
    assert cli(["check", *dsn_args([ok, warn]), *N]).code == 1
    serial = cli(["check", "--jobs", "1", *dsn_args([ok, bad, warn, UNREACHABLE]), *N])
    assert (serial.code, serial.stdout) == (run.code, run.stdout)


def test_check_json_csv_prometheus_shapes(databases: Databases) -> None:
    ok, bad = databases.make(1, healthy) + databases.make(1, critical)
    members = [*dsn_args([ok, bad, UNREACHABLE]), *N]
    names = [dsn_name(ok), dsn_name(bad), "127.0.0.1:1/gone"]

    doc = cli(["check", "--format", "json", *members]).json()
    assert doc["status"] == "critical"
    assert [d["database"] for d in doc["databases"]] == names
    assert [d["status"] for d in doc["databases"]] == ["ok", "critical", "unknown"]
    assert doc["databases"][2]["error"].startswith("cannot connect:")
    assert {(t["database"], t["table"]) for t in doc["tables"]} == {
        (names[0], "public.messages"),
        (names[0], "public.events"),
        (names[1], "public.messages"),
    }
    for obj in all_objects(doc["tables"]) + all_objects(doc["databases"]):
        assert obj["database"] in names, obj  # every object, problems included

    rows = cli(["check", "--format", "csv", *members]).stdout.splitlines()
    assert rows[0].startswith("database,table,status,")
    assert {r.split(",")[0] for r in rows[1:]} == set(names)
    assert any(r.startswith(f"{names[2]},,UNKNOWN,") for r in rows)

    text = cli(["check", "--format", "prometheus", *members]).stdout
    helps = re.findall(r"^# HELP (\w+) ", text, flags=re.M)
    assert len(helps) == len(set(helps)), "one HELP per metric family"
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert samples
    for line in samples:
        assert re.match(r'^\w+\{database="[^"]+"', line), line
    assert 'pgpart_check_status{database="127.0.0.1:1/gone"} 3' in samples
    assert f'pgpart_check_status{{database="{names[1]}"}} 2' in samples
    assert not any("gone" in s for s in samples if "check_status" not in s)


def test_one_member_gives_the_single_database_output(databases: Databases, tmp_path: Path) -> None:
    (dsn,) = databases.make(1, critical)
    env = {"PGSERVICEFILE": service_file(tmp_path / "svc.conf", {"only": dsn})}
    config = tmp_path / "pgpart.toml"
    config.write_text(f'[[database]]\nname = "only"\ndsn = "{dsn}"\n', encoding="utf-8")
    for args in (
        ["check", *N],
        ["check", "--format", "json", *N],
        ["check", "--format", "csv", *N],
        ["check", "--format", "prometheus", *N],
        ["stats", "--format", "json"],
        ["maintain", "--dry-run", *N],
        ["maintain", "--dry-run", "--format", "json", *N],
    ):
        single = cli([*args, "--dsn", dsn])
        by_service = cli([*args, "--service", "only"], env=env)
        by_block = cli([*args, "--config", str(config)])
        assert single.code == by_service.code == by_block.code, args
        outputs = [timeless(r.stdout) for r in (single, by_service, by_block)]
        assert outputs[0] == outputs[1] == outputs[2], args
        assert "database" not in single.stdout.split("\n", 1)[0]


def timeless(text: str) -> Any:
    """JSON without the "seconds" an action took (a dry run's may be 0.0 or 0.001)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "seconds"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(text)) if text.startswith("{") else text


def test_pgpart_dsn_means_one_database(databases: Databases, tmp_path: Path) -> None:
    first, second = databases.make(2, healthy)
    config = tmp_path / "pgpart.toml"
    config.write_text(f'[[database]]\nname = "b"\ndsn = "{second}"\n', encoding="utf-8")
    run = cli(["check", "--config", str(config), *N], env={"PGPART_DSN": first})
    assert run.code == 0
    assert run.stdout == cli(["check", "--dsn", first, *N]).stdout
    assert "PGPART_DSN is set: working on that one database" in run.stderr


# --- sources of members ------------------------------------------------------------------


def test_members_from_services_dsns_and_blocks(databases: Databases, tmp_path: Path) -> None:
    a, b, c, d = databases.make(4, critical)
    env = {"PGSERVICEFILE": service_file(tmp_path / "pg_service.conf", {"svc-a": a, "svc-b": b})}
    run = cli(
        ["check", "--service", "svc-a", "--service", "svc-b", "--dsn", c, "--dsn", d, *N], env=env
    )
    assert run.code == 2
    shown = [line.split()[0] for line in run.stdout.splitlines()[2:] if line.strip()][:4]
    assert shown == [dsn_name(c), dsn_name(d), "svc-a", "svc-b"]  # --dsn first, then --service

    config = tmp_path / "fleet.toml"
    config.write_text(
        "[defaults]\npremake = 2\n\n"
        '[[table]]\nname = "public.messages"\ninterval = "monthly"\n\n'
        f'[[database]]\nname = "alpha"\nservice = "svc-a"\n\n'
        f'[[database]]\nname = "beta"\ndsn = "{b}"\npremake = 5\ntables = ["public.messages"]\n',
        encoding="utf-8",
    )
    run = cli(["maintain", "--config", str(config), *N], env=env)
    assert run.code == 0, run.stderr
    # alpha: [defaults] premake 2 -> the current month and 2 ahead; beta's block says 5.
    assert partitions(a) >= {"messages_2026_11", "messages_2026_12", "messages_2027_01"}
    assert "messages_2027_02" not in partitions(a)
    assert "messages_2027_04" in partitions(b)
    table = run.stdout.split("\n\n")[0].splitlines()
    assert {line.split()[0] for line in table[2:]} == {"alpha", "beta"}, run.stdout
    after = cli(["check", "--config", str(config), *N], env=env)
    assert after.code == 1  # covered now; October stays a gap (maintain does not fill the past)
    assert (
        "alpha: public.messages: gap" in after.stdout
        and "beta: public.messages: gap" in after.stdout
    )


def test_service_password_is_masked(databases: Databases, tmp_path: Path) -> None:
    (dsn,) = databases.make(1, healthy)
    env = {
        "PGSERVICEFILE": service_file(
            tmp_path / "svc.conf",
            {"good": dsn, "bad": "host=127.0.0.1 port=1 dbname=x"},
            passwords={"bad": "svc-Secret-77"},
        )
    }
    run = cli(["check", "-v", "--service", "good", "--service", "bad", *N], env=env)
    assert run.code == 3
    assert "svc-Secret-77" not in run.stdout + run.stderr
    assert "pgpart: bad: cannot connect" in run.stderr


def test_passwords_masked_everywhere(databases: Databases) -> None:
    (dsn,) = databases.make(1, healthy)
    secrets = [
        "postgresql://u:Pw-Zz-9%zz@127.0.0.1:1/db",  # libpq quotes the bad token
        "host=127.0.0.1 port=1 dbname=x user=u password=Pw-Kw-123",
        "postgresql://u:Pw-Uri-456@127.0.0.1:1/db",
    ]
    for fmt in ("table", "json", "csv", "prometheus"):
        run = cli(["check", "-v", "--format", fmt, "--dsn", dsn, *dsn_args(secrets), *N])
        assert run.code == 3
        out = run.stdout + run.stderr
        for word in ("Pw-Zz-9", "Pw-Kw-123", "Pw-Uri-456"):
            assert word not in out, (fmt, out)
    run = cli(["maintain", "-v", "--format", "json", "--dsn", dsn, *dsn_args(secrets), *N])
    assert not any(w in run.stdout + run.stderr for w in ("Pw-Zz-9", "Pw-Kw-123", "Pw-Uri-456"))


# --- writing commands ------------------------------------------------------------------


def test_cron_like_maintain_with_one_member_down(databases: Databases) -> None:
    dsns = databases.make(3, critical)
    run = cli(["maintain", "-q", *dsn_args([dsns[0], UNREACHABLE, *dsns[1:]]), *N])
    assert run.code == 3  # the unreachable member; the others were done
    for dsn in dsns:
        assert "messages_2026_11" in partitions(dsn)
    # -q: only what went wrong, once, on stderr (as for one database: cron mails it)
    assert run.stdout == ""
    (said,) = [line for line in run.stderr.splitlines() if "gone" in line]
    assert said.startswith("pgpart: 127.0.0.1:1/gone: cannot connect"), run.stderr
    again = cli(["maintain", "-q", *dsn_args(dsns), *N])
    assert (again.code, again.stdout) == (0, "")


def test_a_retention_shorter_than_a_partition_exits_3_alone_and_in_a_fleet(
    databases: Databases, tmp_path: Path
) -> None:
    """The same exit code and the same stderr line (with -q, for cron) for one
    database and for a fleet: the retention is refused (3), the missing
    partitions are still made."""
    config = tmp_path / "pgpart.toml"
    config.write_text('[[table]]\nname = "messages"\nretention = "1 hour"\n')
    one, *fleet = databases.make(3, critical)
    alone = cli(["maintain", "-q", "--config", str(config), "--dsn", one, *N])
    together = cli(["maintain", "-q", "--config", str(config), *dsn_args(fleet), *N])
    assert (alone.code, together.code) == (3, 3), (alone.stderr, together.stderr)
    said = "retention_too_short: retention 1h is shorter than one monthly partition"
    assert alone.stdout == together.stdout == ""  # -q: cron mail only when something is wrong
    assert f"pgpart: public.messages: {said}" in alone.stderr
    for dsn in fleet:
        assert f"pgpart: {dsn_name(dsn)}: public.messages: {said}" in together.stderr
    for dsn in (one, *fleet):
        assert "messages_2026_11" in partitions(dsn)


def test_maintain_json_carries_the_database(databases: Databases) -> None:
    dsns = databases.make(2, critical)
    doc = cli(["maintain", "--format", "json", *dsn_args([*dsns, UNREACHABLE]), *N]).json()
    assert doc["status"] == "failed"
    assert {a["database"] for a in doc["actions"]} == {dsn_name(d) for d in dsns}
    assert all(a["done"] for a in doc["actions"])
    # every object of a database says which; the run's totals are the whole run's
    totals = [doc["summary"], doc["check_after"], *(d["summary"] for d in doc["databases"])]
    for obj in all_objects(doc):
        if obj is not doc and obj not in totals:
            assert "database" in obj, obj
    gone = doc["databases"][-1]
    assert (gone["database"], gone["status"]) == ("127.0.0.1:1/gone", "failed")
    assert gone["error"].startswith("cannot connect")
    created = [d["summary"]["created"] for d in doc["databases"]]
    assert doc["summary"]["created"] == sum(created) and created[0] > 0


def test_create_on_a_fleet(databases: Databases) -> None:
    dsns = databases.make(2, critical)
    run = cli(
        ["create", "messages", "--from", "2026-11-01", "--to", "2027-01-01", *dsn_args(dsns), *N]
    )
    assert run.code == 0, run.stderr
    for dsn in dsns:
        assert {"messages_2026_11", "messages_2026_12"} <= partitions(dsn)
    for dsn in dsns:  # 2 creates and the analyze, on each: one row each (as for one database)
        rows = [line.split() for line in run.stdout.splitlines() if line.startswith(dsn_name(dsn))]
        assert [(r[1], r[2], r[-1]) for r in rows] == [
            ("public.messages", "create", "done"),
            ("public.messages", "analyze", "done"),
        ], run.stdout
    assert "created 4, dropped 0, rows moved 0, failed 0, analyzed 2" in run.stdout


class _TerminalSys:
    """sys, with a terminal on stdin (drop asks only on a terminal)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)

    @property
    def stdin(self) -> Any:
        class Tty:
            def __getattr__(self, name: str) -> Any:
                return getattr(sys.stdin, name)

            def isatty(self) -> bool:
                return True

        return Tty()


def test_drop_lists_every_database_then_asks_once(databases: Databases, monkeypatch) -> None:
    dsns = databases.make(2, healthy)
    monkeypatch.setattr(cli_module, "sys", _TerminalSys())
    args = ["drop", "events", "--older-than", "2 days", *dsn_args(dsns), *N]
    before = [partitions(d, "events") for d in dsns]
    declined = cli(args, input="n\n")
    assert declined.code == 0
    assert declined.stderr.count("Drop these 2 partition(s) in 2 database(s)?") == 1
    for dsn in dsns:
        row = rf"^{re.escape(dsn_name(dsn))}\s+public\.events_2026_11_19\s+2026-11-19 \.\. "
        assert re.search(row, declined.stderr, flags=re.M), declined.stderr
    assert "total: 2 partition(s) in 2 databases" in declined.stderr
    assert "pgpart: not confirmed: nothing dropped" in declined.stderr
    assert [partitions(d, "events") for d in dsns] == before
    accepted = cli(args, input="y\n")
    assert accepted.code == 0, accepted.stderr
    for dsn, had in zip(dsns, before, strict=True):
        assert partitions(dsn, "events") == had - {"events_2026_11_19"}


def test_drop_yes_without_terminal(databases: Databases) -> None:
    dsns = databases.make(2, healthy)
    args = ["drop", "events", "--older-than", "2 days", *dsn_args(dsns), *N]
    assert cli(args).code == 3  # no terminal, no --yes
    run = cli([*args, "--yes"])
    assert run.code == 0
    assert all("events_2026_11_19" not in partitions(d, "events") for d in dsns)


# --- stats and init ----------------------------------------------------------------------


def test_stats_formats(databases: Databases) -> None:
    dsns = databases.make(2, healthy)
    members = dsn_args([*dsns, UNREACHABLE])
    doc = cli(["stats", "--format", "json", *members]).json()
    assert {(t["database"], t["table"]) for t in doc["tables"]} == {
        (dsn_name(d), t) for d in dsns for t in ("public.events", "public.messages")
    }
    assert all(p["database"] == t["database"] for t in doc["tables"] for p in t["partitions"])
    run = cli(["stats", "--format", "csv", *members])
    assert run.code == 3
    assert run.stdout.startswith("database,table,partition,")
    text = cli(["stats", "--format", "prometheus", *members]).stdout
    assert all(
        line.split("{", 1)[1].startswith("database=")
        for line in text.splitlines()
        if line and not line.startswith("#")
    )
    table = cli(["stats", *members]).stdout
    assert f"database {dsn_name(dsns[0])}: public.events" in table


def test_init_writes_one_file_with_database_blocks(databases: Databases, tmp_path: Path) -> None:
    first = databases.make(1, healthy)[0]
    second = databases.make(1, lambda c, i: monthly_table(c))[0]
    env = {"PGSERVICEFILE": service_file(tmp_path / "svc.conf", {"eu-1": first})}
    with_password = second.replace("user=", "password=Init-Pw-1 user=")
    out = tmp_path / "pgpart.toml"
    run = cli(["init", "--service", "eu-1", "--dsn", with_password, "-o", str(out)], env=env)
    assert run.code == 0, run.stderr
    text = out.read_text(encoding="utf-8")
    assert "Init-Pw-1" not in text + run.stderr
    assert "~/.pgpass" in run.stderr
    settings = load_settings(Overrides(config=out), {}, tmp_path)
    assert [(d.name, d.service, d.tables) for d in settings.databases] == [
        (dsn_name(second), None, ("public.messages",)),
        ("eu-1", "eu-1", ()),
    ]
    assert {t.name for t in settings.tables} == {"public.events", "public.messages"}
    # the file it wrote runs as a fleet
    written = cli(["check", "--config", str(out), *N], env=env)
    assert written.code in (0, 1), written.stderr
    assert {line.split()[0] for line in written.stdout.splitlines()[2:] if line[:1].strip()} >= {
        "eu-1",
        dsn_name(second),
    }
    assert cli(["init", "--dsn", first, "--dsn", UNREACHABLE, "-o", "-"]).code == 3


# --- the fleet report is the single reports merged -----------------------------------------


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fleet_report_equals_single_reports_merged(databases: Databases, data: Any) -> None:
    if not databases.dsns:  # made once: the fixture lives as long as the test
        databases.make(1, healthy)
        databases.make(1, critical)
        databases.make(1, warning)
    pool = databases.dsns
    chosen = data.draw(st.lists(st.sampled_from(pool), min_size=2, max_size=3, unique=True))
    jobs = data.draw(st.sampled_from(["1", "2", "4"]))
    fleet = cli(["check", "--format", "json", "--jobs", jobs, *dsn_args(chosen), *N])
    singles = [cli(["check", "--format", "json", "--dsn", d, *N]) for d in chosen]
    merged: list[dict[str, Any]] = []
    for dsn, single in zip(chosen, singles, strict=True):
        merged += [label(t, dsn_name(dsn)) for t in single.json()["tables"]]
    doc = fleet.json()
    assert doc["tables"] == merged
    assert fleet.code == worst([s.code for s in singles])
    assert doc["status"] == {0: "ok", 1: "warning", 2: "critical", 3: "unknown"}[fleet.code]


def label(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return {"database": name, **{k: label(v, name) for k, v in value.items()}}
    if isinstance(value, list):
        return [label(v, name) for v in value]
    return value


def test_readme_kubernetes_fleet_example() -> None:
    """examples/kubernetes/fleet-cronjob.yaml: its config loads as a fleet whose
    services are all in the Secret's pg_service.conf, and its command parses."""
    from tests.cli.test_docs import check_argv
    from tests.cli.test_examples import block_scalar

    root = Path(__file__).resolve().parents[2]
    text = (root / "examples" / "kubernetes" / "fleet-cronjob.yaml").read_text(encoding="utf-8")
    config = block_scalar(text, "pgpart.toml")
    services = block_scalar(text, "pg_service.conf")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "pgpart.toml"
        path.write_text(config, encoding="utf-8")
        loaded = load_settings(Overrides(config=path), {}, Path(d))
    assert len(loaded.databases) >= 2 and loaded.tables
    names = set(re.findall(r"^\[([^\]]+)\]$", services, flags=re.M))
    assert {db.service for db in loaded.databases if db.service} <= names
    command = re.search(r"^\s+command: (\[.*\])$", text, flags=re.M)
    assert command
    argv = json.loads(command.group(1))
    assert argv[0] == "pgpart" and "--jobs" in argv
    check_argv(argv[1:])
    assert re.search(r"name: PGSERVICEFILE\s+value: /etc/pgpart/secret/pg_service.conf", text)


def test_a_failing_member_never_stops_the_others(databases: Databases, tmp_path: Path) -> None:
    locked, free = databases.make(2, critical)
    config = tmp_path / "pgpart.toml"
    config.write_text(
        '[defaults]\nlock_timeout = "100ms"\nretry_for = "1s"\n\n'
        f'[[database]]\nname = "locked"\ndsn = "{locked}"\n\n'
        f'[[database]]\nname = "free"\ndsn = "{free}"\n',
        encoding="utf-8",
    )
    with psycopg.connect(locked) as app:  # an application transaction that outlives the run
        app.execute("LOCK TABLE messages IN SHARE MODE")
        run = cli(["maintain", "--config", str(config), *N])
        app.rollback()
    assert run.code == 2, run.stderr  # the lock failure; the other database was done
    assert "messages_2026_11" in partitions(free)
    assert "messages_2026_11" not in partitions(locked)
    (said,) = [line for line in run.stderr.splitlines() if "public.messages" in line]
    assert said.startswith("pgpart: locked: public.messages: ")
    rows = run.stdout.split("\n\n")[0].splitlines()[2:]
    assert {r.split()[0] for r in rows} == {"locked", "free"}
    for row in rows:
        if " analyze " in row:  # the parent, where something changed
            assert row.rstrip().endswith("not needed") == row.startswith("locked"), row
            continue
        failed = re.search(r"\b(failed|not attempted)$", row.rstrip())
        assert bool(failed) == row.startswith("locked"), row
        assert bool(re.search(r"\bdone\b", row)) == row.startswith("free"), row


def test_unknown_table_in_one_member(databases: Databases) -> None:
    with_table = databases.make(1, critical)[0]
    without = databases.make(1)[0]
    run = cli(["create", "messages", *dsn_args([with_table, without]), *N])
    assert run.code == 3
    assert "messages_2026_11" in partitions(with_table)
    assert f"pgpart: {dsn_name(without)}: " in run.stderr and "messages" in run.stderr


def test_run_reports_each_member_as_it_ends(tmp_path: Path) -> None:
    import threading
    import time

    from pgpart.cli.fleet_members import Member, run

    base = load_settings(Overrides(), {}, tmp_path)
    members = [Member(f"m{i}", base) for i in range(6)]
    seen: list[tuple[str, int]] = []
    threads: set[str] = set()

    def work(m: Member) -> str:
        threads.add(threading.current_thread().name)
        if m.name == "m2":
            raise RuntimeError("boom")
        time.sleep(0.3 if m.name == "m0" else 0.05)  # busy while the others are submitted
        return m.name.upper()

    outcomes = run(members, work, 3, lambda o, n: seen.append((o.member.name, n)))
    assert [o.value for o in outcomes] == ["M0", "M1", None, "M3", "M4", "M5"]  # member order
    assert outcomes[2].error == "internal error: RuntimeError: boom" and outcomes[2].code == 3
    assert [n for _, n in seen] == [1, 2, 3, 4, 5, 6]
    assert sorted(name for name, _ in seen) == [m.name for m in members]
    assert seen[-1][0] == "m0"  # the slow one ended last, and was reported then
    assert len(threads) == 3
    serial: list[int] = []
    run(members, work, 1, lambda o, n: serial.append(n))
    assert serial == [1, 2, 3, 4, 5, 6]
