"""The slow half of tests/db/test_archive.py: a year of weekly maintenance in
archive mode, each month archived once and every archive restored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from tests.db.test_archive import archives, manifests, pg_bin
from tests.support.cli_helpers import cli

__all__ = ["pg_bin"]  # the fixture, used by name

# --- a year of weekly maintenance -------------------------------------------------


def test_a_year_of_weekly_archiving_archives_each_month_once_and_all_restore(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path
) -> None:
    """From an empty monthly table, maintain every week of 2026 (--now) with
    retention "2 months" in archive mode, inserting rows as time goes by.
    Then every month that expired is archived exactly once and dropped, no
    leftover remains, and restoring every archive brings back every row."""
    from datetime import datetime, timedelta, timezone

    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute(
        "CREATE TABLE soak (id bigint NOT NULL, ts timestamptz NOT NULL, v text)"
        " PARTITION BY RANGE (ts)"
    )
    out = tmp_path / "archive"
    config = tmp_path / "pgpart.toml"
    config.write_text(
        '[[table]]\nname = "public.soak"\ninterval = "monthly"\npremake = 2\n'
        'retention = "2 months"\nretention_mode = "archive"\n'
        f"archive_dir = {json.dumps(str(out))}\npg_bin = {json.dumps(str(pg_bin))}\n"
        f'archive_command = "test -s {{path}} && test -s {{manifest}}"\n'
    )
    start = datetime(2026, 1, 1, 3, 0, tzinfo=timezone.utc)
    next_id = 1
    for week in range(53):
        now = start + timedelta(days=7 * week)
        run = cli(
            ["maintain", "-q", "--dsn", pg_dsn, "--config", str(config), "--now", now.isoformat()]
        )
        assert run.code == 0, (now, run.stdout, run.stderr)
        pg_conn.execute(
            "INSERT INTO soak SELECT g, %s::timestamptz - g * interval '1 minute', 'w' || g"
            " FROM generate_series(%s::bigint, %s::bigint) g",
            (now, next_id, next_id + 49),
        )
        next_id += 50
    found = manifests(out)
    months = [m["from"][:7] for m in found]
    # Cutoff at the last run (2026-12-31): before 2026-10-31, so January..September.
    assert months == [f"2026-{m:02d}" for m in range(1, 10)], months
    assert len(set(months)) == len(months)  # each month once
    assert all(m["rows"] > 0 for m in found)
    assert not [f for f in archives(out) if "~" in f or f.startswith(".")]
    assert len(list(out.glob("*.sent"))) == len(found)
    last = (start + timedelta(days=7 * 52)).isoformat()
    check = cli(["check", "--dsn", pg_dsn, "--config", str(config), "--now", last, "-f", "json"])
    codes = [p["code"] for t in check.json()["tables"] for p in t["problems"]]
    assert "detached_leftover" not in codes and "retention_overdue" not in codes, codes

    for m in found:
        back = cli(["restore", str(out / m["file"]), "--dsn", pg_dsn, "--config", str(config)])
        assert back.code == 0 and "attached it" in back.stdout, back.stderr
    row = pg_conn.execute(
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM soak"
    ).fetchone()
    assert row == (next_id - 1, next_id - 1, 1, next_id - 1)
