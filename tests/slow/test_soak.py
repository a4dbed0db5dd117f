"""Time travel soak: a year of daily maintenance, one simulated day at a time.

Two tables in Europe/Berlin (configured in pgpart.toml): ``daily`` (premake 7,
retention "30 days") and ``monthly`` (premake 2, retention "3 months"), both
starting empty, with no DEFAULT partition, so an insert that finds no
partition fails the test. For each day of 2025 (both DST changes included),
at an hour that moves round the clock, the soak

1. runs ``pgpart maintain --now ...`` through the CLI in-process (as cron
   would: ``-q`` on odd days, silent; ``--format json`` on even days, every
   action done); it measured ~30 ms a run, so no day needs the library path;
2. inserts rows through the parents: at now, a few hours back, and at the
   end of the premake horizon;
3. asserts, through the library (``service.plan_changes``, ``service.check``):
   a second plan is empty (idempotent) and check is OK; then that the partitions
   are contiguous (no gap) from the oldest to beyond now + premake; none lies
   wholly before now - retention (PostgreSQL's own arithmetic in Berlin
   time); every row inserted at or after that cutoff is still there; the
   partition count stays within its bound once the retention window is full.

Runtime and partition counts are printed (``pytest -s``).
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg

from pgpart import api as service
from pgpart.config import Overrides, load_settings
from pgpart.core.plan import Status
from pgpart.core.planner import Mode, Request
from tests.support.cli_helpers import cli

ZONE = "Europe/Berlin"
CONFIG = f"""\
[defaults]
timezone = "{ZONE}"

[[table]]
name = "daily"
interval = "daily"
premake = 7
retention = "30 days"

[[table]]
name = "monthly"
interval = "monthly"
premake = 2
retention = "3 months"
"""
TABLES = {
    # name: (retention as SQL interval, premake as SQL interval, max partitions)
    # daily: the 30 retained days (31 when the cutoff falls inside a day), the
    # current day and 7 ahead. monthly: 3 months back (4 partly), current, 2 ahead.
    "daily": ("30 days", "7 days", 39),
    "monthly": ("3 months", "2 months", 7),
}
# A year wholly in the server's past: retention in a writing run goes by the
# earlier of --now and the server's clock, so a simulated day later than the
# real one would (rightly) keep what that day's retention removes.
START = datetime(2025, 1, 1, 0, 30, tzinfo=timezone.utc)
DAYS = 365


def bounds(conn: psycopg.Connection[Any], table: str) -> list[tuple[datetime, datetime]]:
    """(from, to) of every partition, oldest first, from the catalog."""
    rows = conn.execute(
        "SELECT (regexp_match(b, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz,"
        " (regexp_match(b, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz"
        " FROM (SELECT pg_get_expr(c.relpartbound, c.oid) AS b FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass) s"
        " ORDER BY 1",
        (table,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def check_day(
    conn: psycopg.Connection[Any],
    table: str,
    now: datetime,
    inserted: dict[int, datetime],
    first_day: datetime,
) -> int:
    retention, premake, most = TABLES[table]
    cutoff, horizon = conn.execute(
        "SELECT %s::timestamptz - %s::interval, %s::timestamptz + %s::interval",
        (now, retention, now, premake),
    ).fetchone()  # type: ignore[misc]
    parts = bounds(conn, table)
    assert parts, (table, now)
    for (_, hi), (lo, _) in itertools.pairwise(parts):
        assert hi == lo, f"{table} at {now}: gap or overlap between {hi} and {lo}"
    assert parts[0][0] <= max(cutoff, first_day), (table, now, parts[0])
    assert parts[-1][1] >= horizon, f"{table} at {now}: covered only until {parts[-1][1]}"
    survivors = [p for p in parts if p[1] <= cutoff]
    assert not survivors, f"{table} at {now}: {survivors} lie wholly before {cutoff}"
    if now - first_day > timedelta(days=120):
        assert len(parts) <= most, (table, now, len(parts))
    present = {r[0] for r in conn.execute(f"SELECT id FROM {table}").fetchall()}
    kept = {i for i, ts in inserted.items() if ts >= cutoff}
    assert kept <= present, f"{table} at {now}: rows lost: {sorted(kept - present)[:5]}"
    return len(parts)


def test_a_year_of_daily_maintenance(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    pg_conn.execute(f"SET TimeZone = '{ZONE}'")
    for table in TABLES:
        pg_conn.execute(
            f"CREATE TABLE {table} (id bigint GENERATED ALWAYS AS IDENTITY,"
            " ts timestamptz NOT NULL, note text) PARTITION BY RANGE (ts)"
        )
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text(CONFIG)
    settings = load_settings(Overrides(dsn=pg_dsn, config=cfg), {}, tmp_path)
    inserted: dict[str, dict[int, datetime]] = {t: {} for t in TABLES}
    counts: dict[str, list[int]] = {t: [] for t in TABLES}
    actions: dict[str, int] = {}  # counted on the days run with --format json
    maintain_s = 0.0
    started = time.monotonic()

    for day in range(DAYS):
        # the hour moves round the clock: 00:30, 07:30, 14:30, 21:30 UTC ...
        now = START + timedelta(days=day, hours=(day * 7) % 24)
        t0 = time.monotonic()
        base = ["maintain", "--dsn", pg_dsn, "--config", str(cfg), "--now", now.isoformat()]
        if day % 2:  # what cron runs: silent when all went well
            run = cli([*base, "-q"])
            assert (run.code, run.stdout, run.stderr) == (0, "", ""), (now, run)
        else:
            run = cli([*base, "-f", "json"])
            assert (run.code, run.stderr) == (0, ""), (now, run)
            for action in run.json()["actions"]:
                assert action["done"] and action["error"] is None, (now, action)
                actions[action["action"]] = actions.get(action["action"], 0) + 1
        maintain_s += time.monotonic() - t0

        with service.open_connection(settings) as conn:
            again = service.plan_changes(conn, settings, [], now, Request(Mode.MAINTAIN))
            assert again.actions == (), (now, again.actions)
            report = service.check(conn, settings, [], now)
            assert report.status is Status.OK, (now, [t.problems for t in report.tables])

        for table in TABLES:
            ahead = timedelta(days=6, hours=23) if table == "daily" else timedelta(days=58)
            for ts in (now, now - timedelta(hours=5), now + ahead):
                if ts < START:  # day one: nothing was ever made before it
                    continue
                row = pg_conn.execute(
                    f"INSERT INTO {table} (ts, note) VALUES (%s, %s) RETURNING id",
                    (ts, f"day {day}"),
                ).fetchone()  # no DEFAULT partition: fails if no partition covers ts
                assert row is not None
                inserted[table][row[0]] = ts
            counts[table].append(check_day(pg_conn, table, now, inserted[table], START))

    elapsed = time.monotonic() - started
    print(
        f"\nsoak: {DAYS} days in {elapsed:.1f} s; maintain (CLI in-process) "
        f"{maintain_s / DAYS * 1000:.0f} ms a day; actions on the json days {actions}; "
        f"partitions daily min/max/final "
        f"{min(counts['daily'][120:])}/{max(counts['daily'])}/{counts['daily'][-1]}, monthly "
        f"{min(counts['monthly'][120:])}/{max(counts['monthly'])}/{counts['monthly'][-1]}; rows "
        f"{ {t: len(v) for t, v in inserted.items()} }"
    )
    # settled: the same count, give or take the day the cutoff splits
    assert max(counts["daily"][120:]) - min(counts["daily"][120:]) <= 1
    assert max(counts["monthly"][120:]) - min(counts["monthly"][120:]) <= 1
