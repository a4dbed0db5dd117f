"""Property (issue 11): for random existing partition sets, plan -> apply ->
plan again is empty. Runs the CLI against the real server."""

from __future__ import annotations

import itertools
import os
from datetime import date, timedelta
from typing import Any

import psycopg
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.cli_helpers import NOW, TODAY, cli

_names = itertools.count(1)


@settings(
    max_examples=int(os.environ.get("PGPART_PROPERTY_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    daily=st.booleans(),
    offsets=st.sets(st.integers(-6, 6), min_size=1, max_size=8),
    default=st.booleans(),
    stray=st.sets(st.integers(-6, 8), max_size=3),
)
def test_maintain_converges(
    pg_conn: psycopg.Connection[Any],
    pg_dsn: str,
    daily: bool,
    offsets: set[int],
    default: bool,
    stray: set[int],
) -> None:
    name = f"c{next(_names)}"
    step = relativedelta(days=1) if daily else relativedelta(months=1)
    base = TODAY if daily else TODAY.replace(day=1)
    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute(f"CREATE TABLE {name} (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)")
    for off in sorted(offsets):
        lo: date = base + step * off
        hi: date = lo + step
        pg_conn.execute(
            f"CREATE TABLE {name}_{lo:%Y%m%d} PARTITION OF {name} FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
    if default:
        pg_conn.execute(f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT")
        for off in stray:
            lo = base + step * off
            if off not in offsets:
                pg_conn.execute(f"INSERT INTO {name} VALUES ('{lo + timedelta(hours=1)}', {off})")
    count = pg_conn.execute(f"SELECT count(*), sum(v) FROM {name}").fetchone()

    first = cli(["maintain", name, "--dsn", pg_dsn, "--now", NOW])
    # exit 2 only for an overlap the plan refuses (never here: offsets are
    # whole periods) or a failure: neither may happen
    assert first.code == 0, (offsets, stray, first.stdout, first.stderr)
    again = cli(["maintain", name, "--dsn", pg_dsn, "--now", NOW, "--dry-run", "-f", "json"])
    assert again.code == 0, again.stdout + again.stderr
    assert again.json()["actions"] == [], (offsets, stray, again.stdout)
    assert pg_conn.execute(f"SELECT count(*), sum(v) FROM {name}").fetchone() == count
