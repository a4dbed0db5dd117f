"""Intervals beyond the six names, end to end: check, maintain, create."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from tests.support.cli_helpers import NOW, cli

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def _table(conn: psycopg.Connection[Any], name: str, bounds: list[datetime], kind: str) -> None:
    conn.execute(f'CREATE TABLE "{name}" (ts {kind} NOT NULL, v int) PARTITION BY RANGE (ts)')
    for lo, hi in itertools.pairwise(bounds):
        conn.execute(
            f'CREATE TABLE "{name}_{lo:%Y%m%d%H%M}" PARTITION OF "{name}"'
            " FOR VALUES FROM (%s) TO (%s)".replace("%s", "'{}'").format(lo, hi)
        )


def _bounds(conn: psycopg.Connection[Any], name: str) -> list[tuple[str, datetime, datetime]]:
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        (name,),
    ).fetchall()
    out = []
    for relname, expr in rows:
        lo, hi = conn.execute(
            "SELECT (regexp_match(%s, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz,"
            " (regexp_match(%s, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz",
            (expr, expr),
        ).fetchone() or (None, None)
        assert lo is not None and hi is not None, expr
        out.append((relname, lo.astimezone(UTC), hi.astimezone(UTC)))
    return sorted(out, key=lambda r: r[1])


def test_quarter_hours_in_berlin_are_inferred_and_continued(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    pg_conn.execute("SET TimeZone = 'UTC'")
    now = datetime.fromisoformat(NOW)
    first = now - timedelta(hours=1)
    _table(pg_conn, "ticks", [first + k * timedelta(minutes=15) for k in range(6)], "timestamptz")
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text('[defaults]\ntimezone = "Europe/Berlin"\npremake = 4\n')
    check = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--config", str(cfg), "--format", "json"])
    [row] = check.json()["tables"]
    assert row["interval"] == "15 minutes"
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "--config", str(cfg)])
    assert run.code == 0, run.stdout + run.stderr
    listed = _bounds(pg_conn, "ticks")
    assert all(hi - lo == timedelta(minutes=15) for _, lo, hi in listed)
    assert all(b[2] == c[1] for b, c in itertools.pairwise(listed))
    assert listed[-1][2] >= now + 4 * timedelta(minutes=15)
    new = [name for name, lo, _ in listed if lo >= first + 5 * timedelta(minutes=15)]
    # Named in Berlin's wall clock: 13:15 local is 12:15 UTC.
    assert "ticks_2026_11_22_1315" in new


def test_two_weeks_from_a_wednesday_on_a_timestamp_key(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    wednesday = datetime(2026, 10, 14)
    _table(pg_conn, "sprints", [wednesday + k * timedelta(days=14) for k in range(4)], "timestamp")
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    rows = pg_conn.execute(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'sprints'::regclass"
    ).fetchall()
    assert "FOR VALUES FROM ('2026-12-09 00:00:00') TO ('2026-12-23 00:00:00')" in {
        r[0] for r in rows
    }


def test_irregular_bounds_say_which(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    pg_conn.execute("SET TimeZone = 'UTC'")
    bounds = [
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 4, tzinfo=UTC),
        datetime(2026, 11, 9, 7, tzinfo=UTC),
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 24, 5, tzinfo=UTC),
    ]
    _table(pg_conn, "odd", bounds, "timestamptz")
    run = cli(["maintain", "odd", "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    assert run.code == 2
    [problem] = [
        p
        for t in run.json()["tables"]
        for p in t.get("problems", [])
        if p["code"] == "unknown_interval"
    ] or [None]
    assert problem is not None, run.stdout
    message = problem["message"]
    assert "no regular interval" in message and "no partitions" not in message
    assert "[2026-11-20 00:00+00:00, 2026-11-24 05:00+00:00)" in message


def test_sub_day_interval_on_a_date_key_is_refused(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    pg_conn.execute("CREATE TABLE d (day date NOT NULL) PARTITION BY RANGE (day)")
    run = cli(["create", "d", "--interval", "6 hours", "--dsn", pg_dsn, "--now", NOW])
    assert run.code != 0
    assert "date" in run.stdout + run.stderr
    ok = cli(["create", "d", "--interval", "3 days", "--dsn", pg_dsn, "--now", NOW])
    assert ok.code == 0, ok.stdout + ok.stderr
