"""Every interval, created through the CLI in a non-UTC zone across DST."""

from __future__ import annotations

import pytest

from tests.support.cli_helpers import cli

# Europe/Berlin: clocks go forward on 2026-03-29 and back on 2026-10-25.
CASES = {
    "hourly": ("2026-10-25T00:00", "2026-10-25T05:00", 6),  # 02:00 happens twice: 6 hours
    "daily": ("2026-03-28", "2026-03-31", 3),
    "weekly": ("2026-03-23", "2026-04-06", 2),
    "monthly": ("2026-03-01", "2026-05-01", 2),
    "quarterly": ("2026-01-01", "2026-07-01", 2),
    "yearly": ("2026-01-01", "2028-01-01", 2),
}


@pytest.mark.parametrize("interval", sorted(CASES))
def test_create_in_berlin_across_dst(pg_conn, pg_dsn, tmp_path, interval):
    start, end, count = CASES[interval]
    pg_conn.execute(f"CREATE TABLE t_{interval} (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    cfg = tmp_path / "pgpart.toml"
    cfg.write_text(
        f'[defaults]\ntimezone = "Europe/Berlin"\n\n[[table]]\nname = "t_{interval}"\n'
        f'interval = "{interval}"\n'
    )
    run = cli(
        [
            "create",
            f"t_{interval}",
            "--from",
            start,
            "--to",
            end,
            "--config",
            str(cfg),
            "--dsn",
            pg_dsn,
            "--now",
            "2026-03-01T00:00Z",
            "--force",
        ]
    )
    assert run.code == 0, run.stdout + run.stderr
    pg_conn.execute("SET TimeZone = 'Europe/Berlin'")
    rows = pg_conn.execute(
        "SELECT lo, hi FROM (SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid),"
        " $$FROM \\('([^']+)'\\) TO \\('([^']+)'\\)$$)) AS m FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass) s,"
        " LATERAL (SELECT m[1]::timestamptz AS lo, m[2]::timestamptz AS hi) b ORDER BY lo",
        (f"t_{interval}",),
    ).fetchall()
    assert len(rows) == count
    unit = {
        "hourly": "hour",
        "daily": "day",
        "weekly": "week",
        "monthly": "month",
        "quarterly": "quarter",
        "yearly": "year",
    }[interval]
    for (lo, hi), nxt in zip(rows, [*rows[1:], None], strict=True):
        # Each bound is where PostgreSQL's own arithmetic puts it, in Berlin time.
        expected_hi = pg_conn.execute(
            f"SELECT %s::timestamptz + interval '{'3 months' if unit == 'quarter' else '1 ' + unit}'",
            (lo,),
        ).fetchone()[0]
        assert hi == expected_hi
        assert (
            pg_conn.execute(f"SELECT date_trunc('{unit}', %s::timestamptz)", (lo,)).fetchone()[0]
            == lo
        )
        if nxt is not None:
            assert nxt[0] == hi  # contiguous
