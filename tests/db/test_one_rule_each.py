"""One copy of each rule (issue 11): a table's policy resolved once and used
by apply, one identifier parser, one local-time resolver. Each test failed
before the rule had a single home."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from hypothesis import given
from hypothesis import strategies as st

from pgpart.core import calendar
from pgpart.core import durations as duration
from pgpart.core.identifiers import parse_qualified_name
from pgpart.core.localtime import to_instant
from tests.support.cli_helpers import NOW, cli, monthly_table


def test_per_table_lock_timeout_reaches_the_executor(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    # The table lives in schema app, found through the search_path; the
    # config names it bare. Planning and applying must use its 40 ms (under
    # the 50 ms early attempts wait at most, so that they show it too).
    monthly_table(pg_conn, "events", schema="app", months=range(-1, 1))
    pg_conn.execute(f'ALTER DATABASE "{pg_conn.info.dbname}" SET search_path = app, public')
    config = tmp_path / "pgpart.toml"
    config.write_text(
        '[defaults]\nlock_timeout = "500ms"\n\n[[table]]\nname = "events"\nlock_timeout = "40ms"\n'
    )
    run = cli(["maintain", "-v", "--dsn", pg_dsn, "--config", str(config), "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    assert "SET LOCAL lock_timeout = '40ms'" in run.stderr
    assert "'500ms'" not in run.stderr


def test_names_fold_like_postgresql_on_the_command_line_and_in_the_config(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    # PostgreSQL folds only ASCII letters of an unquoted name: this table is
    # "Événements", which str.lower() would have turned into "événements".
    pg_conn.execute("CREATE TABLE Événements (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    pg_conn.execute(
        "CREATE TABLE Événements_2026_11 PARTITION OF Événements"
        " FOR VALUES FROM ('2026-11-01 00:00+00') TO ('2026-12-01 00:00+00')"
    )
    assert parse_qualified_name("Événements").name == "Événements"
    assert parse_qualified_name("public.ÉVÉNEMENTS").name == "ÉvÉnements"  # ASCII only
    by_flag = cli(["check", "Événements", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert by_flag.code in (0, 1), by_flag.stdout + by_flag.stderr
    assert by_flag.json()["tables"][0]["table"] == 'public."Événements"'
    config = tmp_path / "pgpart.toml"
    config.write_text('[[table]]\nname = "Événements"\npremake = 1\n')
    by_config = cli(["check", "--dsn", pg_dsn, "--config", str(config), "--now", NOW, "-f", "json"])
    assert by_config.json()["tables"][0]["table"] == 'public."Événements"'


def test_a_repeated_local_time_means_what_postgresql_says(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    # 2026-11-01 01:30 happens twice in New York; PostgreSQL reads it as the
    # second one (EST, 06:30Z), so the first hourly partition starts at 06:00Z.
    pg_conn.execute("CREATE TABLE hits (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    config = tmp_path / "pgpart.toml"
    config.write_text('[defaults]\ntimezone = "America/New_York"\n')
    run = cli(
        [
            "create", "hits", "--interval", "hourly", "--from", "2026-11-01T01:30",
            "--to", "2026-11-01T02:00", "--dsn", pg_dsn, "--config", str(config),
            "--now", NOW, "-f", "json",
        ]
    )  # fmt: skip
    assert run.code == 0, run.stdout + run.stderr
    starts = sorted(a["from"] for a in run.json()["actions"] if a["action"] == "create")
    server = pg_conn.execute(
        "SELECT date_trunc('hour', '2026-11-01 01:30'::timestamp AT TIME ZONE 'America/New_York')"
    ).fetchone()
    assert server is not None
    assert [datetime.fromisoformat(s) for s in starts] == [server[0]]
    assert server[0] == datetime(2026, 11, 1, 6, tzinfo=timezone.utc)


ZONES = st.sampled_from(
    ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)


@given(
    wall=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)),
    zone=ZONES,
)
def test_every_local_time_resolver_agrees(wall: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    instant = to_instant(wall, tz)
    assert calendar._resolve(wall, tz)  # type: ignore[attr-defined]  # the private resolver, compared == instant
    assert duration._localize(wall, tz).astimezone(timezone.utc) == instant
