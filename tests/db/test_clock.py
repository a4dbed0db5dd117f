"""The clock (issue 19, row 8): a writing run never removes what the
server's real now() keeps, whatever --now or PGPART_NOW says.

``pgpart maintain --now 2027-12-01`` without --dry-run (or a PGPART_NOW left
in cron's environment) dropped 13 partitions, the real current month among
them: every row gone, exit 0. Retention (maintain's, and drop's
--older-than/--before) now judges by the earlier of the planning moment and
the server's clock, read with the catalog; --now still plans ahead (creates,
check). The run says when the server's clock kept something.

These tests build their tables around the server's real now(), not the
suite's fixed NOW: the server's clock is what they are about.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dateutil.relativedelta import relativedelta

from pgpart.config import Overrides, TablePolicy, load_settings
from pgpart.core.durations import Duration
from pgpart.core.plan import DropPartition
from pgpart.core.planner import Mode, Request, Target, plan
from pgpart.core.problem_code import ProblemCode
from tests.support.cli_helpers import cli, month_start, monthly_table
from tests.unit.test_planner_unit import NOW, monthly, snapshot, table, utc

FAR = 13  # months ahead of the server's clock that --now claims


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> TablePolicy:
    return load_settings(Overrides(), {}, tmp_path_factory.mktemp("cfg")).defaults


def server_today(conn: psycopg.Connection[Any]) -> date:
    row = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def partitions(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'messages'::regclass"
    ).fetchall()
    return {r[0] for r in rows}


def name(d: date) -> str:
    return f"messages_{d.year:04d}_{d.month:02d}"


@pytest.fixture
def today(pg_conn: psycopg.Connection[Any]) -> date:
    """messages: monthly partitions from 6 months before the server's month
    to 2 after, a row in every one; the date of the server's clock."""
    day = server_today(pg_conn)
    monthly_table(pg_conn, months=range(-6, 3), around=day)
    for off in range(-6, 3):
        pg_conn.execute(
            "INSERT INTO messages (created_at, body) VALUES (%s, 'kept')",
            (datetime.combine(month_start(day, off), datetime.min.time(), timezone.utc)
             + timedelta(days=3),),
        )  # fmt: skip
    return day


def future(day: date) -> str:
    return (month_start(day, FAR) + relativedelta(days=1)).isoformat()


def write_config(tmp_path: Path, retention: str = "2 months") -> Path:
    config = tmp_path / "pgpart.toml"
    config.write_text(f'[[table]]\nname = "messages"\nretention = "{retention}"\npremake = 2\n')
    return config


def expected_after_retention(day: date) -> set[str]:
    """What "2 months" leaves by the server's clock: partitions ending after
    the cutoff (two months before now), through the premake horizon."""
    cutoff = day - relativedelta(months=2)
    return {
        name(month_start(day, off)) for off in range(-6, 3) if month_start(day, off + 1) > cutoff
    }


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_maintain_at_a_later_now_keeps_what_the_server_keeps(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, today: date, how: str
) -> None:
    config = write_config(tmp_path)
    args = ["maintain", "--dsn", pg_dsn, "--config", str(config)]
    env = None
    if how == "flag":
        args += ["--now", future(today)]
    else:
        env = {"PGPART_NOW": future(today)}
    run = cli(args, env=env)
    assert run.code == 0, run.stdout + run.stderr
    left = partitions(pg_conn)
    assert expected_after_retention(today) <= left, sorted(left)
    assert name(today) in left
    expired = {name(month_start(today, off)) for off in range(-6, 3)} - (
        expected_after_retention(today)
    )
    assert expired and not expired & left
    rows = pg_conn.execute("SELECT count(*) FROM messages").fetchone()
    assert rows is not None and rows[0] >= 5  # the current month's row among them
    # --now still plans ahead: partitions through --now + premake were made
    assert name(month_start(today, FAR + 2)) in left
    # and the run said why it kept what it kept, on stderr (-q too)
    assert "retention_clock: planning at" in run.stderr
    assert "later than the server's clock" in run.stderr


def test_the_dry_run_plans_the_same_and_says_so(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, today: date
) -> None:
    config = write_config(tmp_path)
    base = ["maintain", "--dsn", pg_dsn, "--config", str(config), "--now", future(today)]
    dry = cli([*base, "--dry-run", "-f", "json"])
    assert dry.code == 0, dry.stdout + dry.stderr
    planned = {a["partition"] for a in dry.json()["actions"] if a["action"] == "drop"}
    assert planned == {name(month_start(today, off)) for off in range(-6, 3)} - (
        expected_after_retention(today)
    )
    script = cli([*base, "--dry-run"])
    assert "retention_clock" in script.stdout and "later than the server's clock" in script.stdout
    before = partitions(pg_conn)
    real = cli([*base, "-f", "json"])
    assert real.code == 0, real.stdout + real.stderr
    assert before - partitions(pg_conn) == planned


@pytest.mark.parametrize(
    "cut",
    [["--older-than", "2 months"], ["--before", "FUTURE"]],
    ids=["older-than", "before"],
)
def test_drop_at_a_later_now_never_drops_what_the_server_keeps(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, today: date, cut: list[str]
) -> None:
    cut = [future(today) if c == "FUTURE" else c for c in cut]
    run = cli(["drop", "messages", *cut, "--yes", "--dsn", pg_dsn, "--now", future(today)])
    assert run.code == 0, run.stdout + run.stderr
    left = partitions(pg_conn)
    # the partition holding the server's now, and every later one, stay
    assert {name(month_start(today, off)) for off in (0, 1, 2)} <= left
    if cut[0] == "--older-than":
        assert expected_after_retention(today) <= left
    current = pg_conn.execute(
        f"SELECT count(*) FROM {name(today)}"  # a name the test made
    ).fetchone()
    assert current == (1,)


def test_check_still_looks_ahead_to_now(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, today: date
) -> None:
    # check writes nothing: "what will check say then" plans at --now
    config = write_config(tmp_path)
    run = cli(
        ["check", "--dsn", pg_dsn, "--config", str(config), "--now", future(today), "-f", "json"]
    )
    codes = {p["code"] for p in run.json()["tables"][0]["problems"]}
    assert "retention_overdue" in codes and "retention_clock" not in codes


# --- the pure planner ---------------------------------------------------------


def test_the_planner_removes_nothing_the_server_clock_keeps(policy: TablePolicy) -> None:
    t = table(*monthly(range(-6, 3)))
    later = NOW + relativedelta(months=FAR)
    at_server = replace(snapshot(t), server_now=NOW)
    target = [Target(t.qualified, t, replace(policy, retention=Duration(months=2)))]
    (maintain,) = plan(target, at_server, later, Request(Mode.MAINTAIN)).tables
    dropped = {a.partition for a in maintain.actions if isinstance(a, DropPartition)}
    assert dropped == {"events_2026_05", "events_2026_06", "events_2026_07", "events_2026_08"}
    [note] = [p for p in maintain.problems if p.code is ProblemCode.RETENTION_CLOCK]
    assert "events_2026_09" in note.message and "and 4 more" in note.message
    # drop --before, far ahead: nothing at or after the server's now
    (drop,) = plan(target, at_server, later, Request(Mode.DROP, drop_before=utc(2027, 12))).tables
    gone = {a.partition for a in drop.actions if isinstance(a, DropPartition)}
    assert "events_2026_11" not in gone and "events_2026_10" in gone
    # check plans at --now: nothing limited, nothing said
    (check,) = plan(target, at_server, later, Request(Mode.CHECK)).tables
    assert ProblemCode.RETENTION_CLOCK not in {p.code for p in check.problems}
    # without a server clock (a library caller's snapshot), as before
    (unlimited,) = plan(target, snapshot(t), later, Request(Mode.MAINTAIN)).tables
    assert {a.partition for a in unlimited.actions if isinstance(a, DropPartition)} >= {
        "events_2026_11"
    }
