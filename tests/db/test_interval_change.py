"""Changing a table's interval going forward (docs/configuration.md, "Changing a table's interval").

Existing partitions stay; from the end of the existing coverage new ones
follow the new interval, with one bridging partition where the grids do not
meet. Every pair of intervals, both ways: no gap, no overlap, rows waiting in
DEFAULT relocated, not lost.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgpart.core.calendar import parse_interval
from tests.support.cli_helpers import NOW, cli

UTC = timezone.utc
INTERVALS = ["hourly", "daily", "weekly", "monthly", "quarterly", "yearly", "15 minutes", "2 weeks"]
# Old sets end this far after NOW: long enough to hold one whole period ahead of
# now for every interval, short enough that new sub-day partitions stay few.
PAIRS = [
    (old, new)
    for old, new in itertools.permutations(INTERVALS, 2)
    if parse_interval(old) != parse_interval(new)
]


def _bounds(conn: psycopg.Connection[Any], table: str) -> list[tuple[str, datetime, datetime]]:
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        (table,),
    ).fetchall()
    out = []
    for name, expr in rows:
        if expr == "DEFAULT":
            continue
        lo, hi = conn.execute(
            "SELECT (regexp_match(%s, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz,"
            " (regexp_match(%s, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz",
            (expr, expr),
        ).fetchone() or (None, None)
        assert lo is not None and hi is not None, expr
        out.append((name, lo.astimezone(UTC), hi.astimezone(UTC)))
    return sorted(out, key=lambda r: r[1])


def _contiguous(listed: list[tuple[str, datetime, datetime]]) -> None:
    for (a, _, a_hi), (b, b_lo, _) in itertools.pairwise(listed):
        assert a_hi == b_lo, f"{a} ends {a_hi}, {b} starts {b_lo}: gap or overlap"


def _steps(conn: psycopg.Connection[Any], lo: datetime, interval: str, n: int) -> datetime:
    (value,) = conn.execute(
        "SELECT %s::timestamptz + %s * %s::interval", (lo, n, parse_interval(interval).pg_text)
    ).fetchone() or (None,)
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_change_going_forward(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, old: str, new: str
) -> None:
    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute("CREATE TABLE t (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)")
    pg_conn.execute("CREATE TABLE t_default PARTITION OF t DEFAULT")
    now = datetime.fromisoformat(NOW)
    # The old set: from two old periods back to one whole period ahead of now.
    made = cli(
        ["create", "t", "--interval", old, "--dsn", pg_dsn, "--now", NOW,
         "--from", _steps(pg_conn, now, old, -2).isoformat(),
         "--to", _steps(pg_conn, now, old, 2).isoformat()]
    )  # fmt: skip
    assert made.code == 0, made.stdout + made.stderr
    before = _bounds(pg_conn, "t")
    end = before[-1][2]
    assert end > now
    # Rows arriving after the old coverage wait in DEFAULT.
    minute = timedelta(minutes=1)
    stray = [end, end + minute, _steps(pg_conn, end, new, 3) - minute]
    for moment in stray:
        pg_conn.execute("INSERT INTO t VALUES (%s, 1)", (moment,))
    # Without saying so, a config changing the interval is refused while old partitions lie ahead.
    config = tmp_path / "pgpart.toml"
    config.write_text(f'[[table]]\nname = "t"\ninterval = "{new}"\n')
    refused = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "--config", str(config)])
    assert refused.code == 2 and "interval_mismatch" in refused.stdout, refused.stdout
    assert _bounds(pg_conn, "t") == before
    check = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--config", str(config), "-f", "json"])
    problems = {p["code"]: p for p in check.json()["tables"][0]["problems"]}
    assert "previous_interval" in problems["interval_mismatch"]["message"], problems
    # create --interval says so: from the end of the old coverage, the new interval.
    run = cli(
        ["create", "t", "--interval", new, "--dsn", pg_dsn, "--now", NOW,
         "--from", end.isoformat(), "--to", _steps(pg_conn, end, new, 3).isoformat()]
    )  # fmt: skip
    assert run.code == 0, run.stdout + run.stderr
    after = _bounds(pg_conn, "t")
    assert after[: len(before)] == before  # existing partitions stay
    added = after[len(before) :]
    _contiguous(after)
    assert added[0][1] == end
    # At most the first one bridges; every later one is one period of the new interval.
    for _, lo, hi in added[1:]:
        assert _steps(pg_conn, lo, new, 1) == hi, (lo, hi)
    assert added[0][2] <= _steps(pg_conn, end, new, 1)
    # The rows moved out of DEFAULT into their partitions, none lost.
    assert pg_conn.execute("SELECT count(*) FROM ONLY t_default").fetchone() == (0,)
    assert pg_conn.execute("SELECT count(*) FROM t").fetchone() == (len(stray),)


@pytest.mark.parametrize(
    ("old", "new", "bridge"),
    [
        # Monthly coverage ends on 2027-01-01, a Friday: a bridge to Monday the 4th.
        ("monthly", "weekly", ("2027-01-01", "2027-01-04")),
        # Daily coverage ends on the 26th: a bridge to the 1st.
        ("daily", "monthly", ("2026-11-26", "2026-12-01")),
        # Weeks end on a Monday, a day boundary: no bridge.
        ("weekly", "daily", None),
    ],
)
def test_maintain_with_previous_interval(
    pg_conn: psycopg.Connection[Any],
    pg_dsn: str,
    tmp_path: Path,
    old: str,
    new: str,
    bridge: tuple[str, str] | None,
) -> None:
    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute("CREATE TABLE t (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    made = cli(
        ["create", "t", "--interval", old, "--dsn", pg_dsn, "--now", NOW]
        + (["--to", "2027-01-01"] if old == "monthly" else [])
    )
    assert made.code == 0, made.stdout + made.stderr
    before = _bounds(pg_conn, "t")
    config = tmp_path / "pgpart.toml"
    config.write_text(
        f'[defaults]\npremake = 40\n\n[[table]]\nname = "t"\ninterval = "{new}"\n'
        f'previous_interval = "{old}"\n'
    )
    args = ["--dsn", pg_dsn, "--now", NOW, "--config", str(config)]
    check = cli(["check", *args, "--format", "json"]).json()
    [row] = check["tables"]
    notes = {p["code"]: p for p in row["problems"]}
    assert notes["interval_change"]["severity"] == "info", notes
    assert row["status"] == "ok"
    run = cli(["maintain", *args])
    assert run.code == 0, run.stdout + run.stderr
    after = _bounds(pg_conn, "t")
    _contiguous(after)
    added = after[len(before) :]
    assert added and added[0][1] == before[-1][2]
    if bridge is not None:
        lo, hi = (datetime.fromisoformat(d).replace(tzinfo=UTC) for d in bridge)
        assert (added[0][1], added[0][2]) == (lo, hi)
    for _, lo, hi in added[1 if bridge else 0 :]:
        assert _steps(pg_conn, lo, new, 1) == hi
    again = cli(["maintain", *args])
    assert again.code == 0 and _bounds(pg_conn, "t") == after  # idempotent


def test_previous_interval_is_a_table_key(tmp_path: Path) -> None:
    from pgpart.config import ConfigError, Overrides, load_settings

    good = tmp_path / "good.toml"
    good.write_text('[[table]]\nname = "t"\ninterval = "2 weeks"\nprevious_interval = "monthly"\n')
    [policy] = load_settings(Overrides(config=good), {}, tmp_path).tables
    assert (policy.interval, policy.previous_interval) == (
        parse_interval("2 weeks"),
        parse_interval("monthly"),
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('[defaults]\nprevious_interval = "monthly"\n')
    with pytest.raises(ConfigError, match="previous_interval"):
        load_settings(Overrides(config=bad), {}, tmp_path)
