"""Tables keyed by time that is encoded, on the real server: an epoch-seconds
monthly table, an epoch-milliseconds daily table and a UUIDv7 daily table are
each checked, extended, relocated out of DEFAULT, retained and shown in
decoded time; their bounds are exact constants, so a query on a time range
touches one partition.

Expected bounds are computed by the server (extract(epoch ...), a UUIDv7
built from the milliseconds with the version and variant bits set), not by
pgpart. PostgreSQL 15 and 16 have no uuidv7(): the rows are made by SQL
(the 48-bit milliseconds, then random bits with the version and variant
set); on 18 the rows of now come from its own uuidv7().
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devcluster import find_bindir
from tests.support.cli_helpers import NOW, cli

# The server's reading of each encoding: timestamptz -> the key's value.
HELPERS = """
CREATE FUNCTION t_epoch(ts timestamptz, per bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE AS $$ SELECT (extract(epoch FROM ts) * per)::bigint $$;
CREATE FUNCTION t_v7min(ts timestamptz) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT (lpad(to_hex(t_epoch(ts, 1000)), 12, '0') || '70008000000000000000')::uuid $$;
CREATE FUNCTION t_v7(ts timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT (lpad(to_hex(t_epoch(ts, 1000)), 12, '0') || '7' || substr(md5(random()::text), 1, 3)
          || to_hex(8 + floor(random() * 4)::int) || substr(md5(random()::text), 1, 15))::uuid $$;
"""
# key type, the key of a timestamptz expression in SQL, interval, partition name pattern
TABLES = {
    "secs": ("integer", "t_epoch({}, 1)::int", "1 month", "YYYY_MM"),
    "millis": ("bigint", "t_epoch({}, 1000)", "1 day", "YYYY_MM_DD"),
    "ids": ("uuid", "t_v7min({})", "1 day", "YYYY_MM_DD"),
}


def build(conn: psycopg.Connection[Any], name: str, starts: list[str], *, default: bool) -> None:
    key_type, _, step, _ = TABLES[name]
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(HELPERS if not _has_helpers(conn) else "SELECT 1")
    conn.execute(f"CREATE TABLE {name} (k {key_type} NOT NULL, body text) PARTITION BY RANGE (k)")
    conn.execute(f"CREATE INDEX ON {name} (k)")
    for start in starts:
        lo, hi = (
            _bound(name, f"'{start}'::timestamptz"),
            _bound(name, f"'{start}'::timestamptz + '{step}'::interval"),
        )
        part = conn.execute(
            f"SELECT '{name}_' || to_char('{start}'::timestamptz, %s)", (TABLES[name][3],)
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(f"CREATE TABLE {part} PARTITION OF {name} FOR VALUES FROM ({lo}) TO ({hi})")
    if default:
        conn.execute(f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT")


def _has_helpers(conn: psycopg.Connection[Any]) -> bool:
    return bool(conn.execute("SELECT to_regproc('t_v7') IS NOT NULL").fetchone()[0])  # type: ignore[index]


def _bound(name: str, ts: str) -> str:
    return TABLES[name][1].format(ts)


def _row_key(name: str, ts: str) -> str:
    """A row's key for the time ``ts`` (a generated UUIDv7 for the uuid table)."""
    return f"t_v7({ts})" if name == "ids" else _bound(name, ts)


def bounds(conn: psycopg.Connection[Any], name: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        (name,),
    ).fetchall()
    return dict(rows)


def expected(conn: psycopg.Connection[Any], name: str, start: str) -> str:
    """The bound text pg_get_expr prints for the period starting at ``start``."""
    step = TABLES[name][2]
    lo = _bound(name, f"'{start}'::timestamptz")
    hi = _bound(name, f"'{start}'::timestamptz + '{step}'::interval")
    row = conn.execute(f"SELECT ({lo})::text, ({hi})::text").fetchone()
    assert row is not None
    return f"FOR VALUES FROM ({row[0]}) TO ({row[1]})"


def unquoted(bound: str) -> str:
    """pg_get_expr quotes a bigint or uuid bound, not a positive integer one."""
    return bound.replace("'", "")


def where(conn: psycopg.Connection[Any], name: str) -> dict[str, int]:
    rows = conn.execute(f"SELECT tableoid::regclass::text, count(*) FROM {name} GROUP BY 1")
    return dict(rows.fetchall())


def pruned_to(conn: psycopg.Connection[Any], name: str, lo: str, hi: str) -> list[str]:
    """The partitions a query on [lo, hi) of decoded time scans."""
    plan = conn.execute(
        f"EXPLAIN (FORMAT JSON) SELECT * FROM {name}"
        f" WHERE k >= {_bound(name, repr(lo) + '::timestamptz')}"
        f" AND k < {_bound(name, repr(hi) + '::timestamptz')}"
    ).fetchone()[0]  # type: ignore[index]
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            found.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


# NOW is 2026-11-22 12:00 UTC.
CASES = [
    # name, existing period starts, the current period's partition, a range to query
    ("secs", ["2026-09-01", "2026-10-01"], "secs_2026_11", ("2026-11-05", "2026-11-20")),
    ("millis", ["2026-11-19", "2026-11-20", "2026-11-21"], "millis_2026_11_22", ("2026-11-22 01:00", "2026-11-22 13:00")),
    ("ids", ["2026-11-19", "2026-11-20", "2026-11-21"], "ids_2026_11_22", ("2026-11-22 01:00", "2026-11-22 13:00")),
]  # fmt: skip


@pytest.mark.parametrize(("name", "starts", "current", "query"), CASES, ids=[c[0] for c in CASES])
def test_checked_extended_pruned_and_shown_decoded(
    pg_conn: psycopg.Connection[Any],
    pg_dsn: str,
    name: str,
    starts: list[str],
    current: str,
    query: tuple[str, str],
) -> None:
    build(pg_conn, name, starts, default=False)
    check = cli(["check", name, "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    assert check.code == 2, check.stdout + check.stderr
    [table] = check.json()["tables"]
    codes = {p["code"]: p for p in table["problems"]}
    assert codes["missing_current"]["severity"] == "critical"
    assert codes["key_encoding_inferred"]["severity"] == "info"
    assert table["covered_until"] == "2026-11-22T00:00:00+00:00" or name == "secs"
    assert table["interval"] == ("monthly" if name == "secs" else "daily")

    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    made = bounds(pg_conn, name)
    assert unquoted(made[current]) == expected(
        pg_conn, name, query[0][:10] if name != "secs" else "2026-11-01"
    )
    assert cli(["check", name, "--dsn", pg_dsn, "--now", NOW]).code == 0

    # A query on a range of time inside the current period touches it alone.
    assert pruned_to(pg_conn, name, *query) == [current]

    stats = cli(["stats", name, "--dsn", pg_dsn, "--format", "json"]).json()
    [parts] = [t["partitions"] for t in stats["tables"]]
    row = next(p for p in parts if p["name"] == f"public.{current}")
    assert row["from"].startswith("2026-11-") and row["from"].endswith("T00:00:00+00:00")
    lo, hi = (
        unquoted(made[current]).removeprefix("FOR VALUES FROM (").removesuffix(")").split(") TO (")
    )
    assert (str(row["from_raw"]), str(row["to_raw"])) == (lo, hi)
    table_text = cli(["stats", name, "--dsn", pg_dsn]).stdout
    assert "2026-11-22" in table_text or name == "secs"
    assert lo not in table_text  # the table shows time, not the raw key


def test_the_row_of_now_lands_in_the_current_partition(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """No --now: the server's clock. On PostgreSQL 18 the uuid is its own uuidv7()."""
    for name in TABLES:
        build(pg_conn, name, ["2020-01-01"], default=False)
    assert cli(["maintain", "--dsn", pg_dsn]).code == 0
    version = pg_conn.info.server_version
    for name in TABLES:
        key = "uuidv7()" if name == "ids" and version >= 180000 else _row_key(name, "now()")
        part = pg_conn.execute(
            f"INSERT INTO {name} VALUES ({key}, 'now') RETURNING tableoid::regclass::text"
        ).fetchone()[0]  # type: ignore[index]
        now_part = pg_conn.execute(
            "SELECT to_char(now() AT TIME ZONE 'UTC', %s)",
            ("YYYY_MM" if name == "secs" else "YYYY_MM_DD",),
        ).fetchone()[0]  # type: ignore[index]
        assert part == f"{name}_{now_part}"


@pytest.mark.parametrize("name", ["secs", "millis", "ids"])
@pytest.mark.parametrize("relocation", ["lock", "drain"])
def test_rows_relocated_out_of_default(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, name: str, relocation: str
) -> None:
    build(pg_conn, name, ["2026-09-01"] if name == "secs" else ["2026-11-20"], default=True)
    # rows of now and of a day ahead sit in DEFAULT (inserts went there)
    for ts, n in (("2026-11-22 09:30+00", 40), ("2026-11-23 18:00+00", 7)):
        pg_conn.execute(
            f"INSERT INTO {name} SELECT {_row_key(name, repr(ts) + '::timestamptz')}, 'r'"
            f" FROM generate_series(1, {n})"
        )
    check = cli(["check", name, "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    [problem] = [
        p for p in check.json()["tables"][0]["problems"] if p["code"] == "default_has_rows"
    ]
    day = "2026-11" if name == "secs" else "2026-11-22"
    assert f"{day} (" in problem["message"]  # the rows' period, decoded
    config = tmp_path / "pgpart.toml"
    config.write_text(f'[defaults]\nrelocation = "{relocation}"\n')
    run = cli(["maintain", name, "--dsn", pg_dsn, "--now", NOW, "--config", str(config)])
    assert run.code == 0, run.stdout + run.stderr
    landed = where(pg_conn, name)
    if name == "secs":
        assert landed == {"secs_2026_11": 47}
    else:
        assert landed == {f"{name}_2026_11_22": 40, f"{name}_2026_11_23": 7}


@pytest.mark.parametrize("name", ["secs", "millis", "ids"])
def test_retention_by_decoded_time_in_every_mode(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, name: str
) -> None:
    monthly = name == "secs"
    starts = (
        ["2026-06-01", "2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01"]
        if monthly
        else [f"2026-11-{d:02d}" for d in range(14, 23)]
    )
    build(pg_conn, name, starts, default=False)
    for start in starts:
        pg_conn.execute(
            f"INSERT INTO {name} VALUES ({_row_key(name, repr(start) + '::timestamptz')}, 'x')"
        )
    retention = "3 months" if monthly else "5 days"
    # drop --older-than: partitions wholly before NOW minus it go
    dry = cli(["drop", name, "--older-than", retention, "--dsn", pg_dsn, "--now", NOW,
               "--dry-run", "--format", "json"])  # fmt: skip
    gone = {a["partition"] for a in dry.json()["actions"] if a["action"] == "drop"}
    assert gone == ({"secs_2026_06", "secs_2026_07"} if monthly else
                    {f"{name}_2026_11_{d}" for d in (14, 15, 16)})  # fmt: skip
    first = next(a for a in dry.json()["actions"] if a["action"] == "drop")
    assert first["from_raw"] is not None and first["from"].endswith("+00:00")
    # maintain with retention, as detach, then archive (dump, verify, drop)
    archive = tmp_path / "archive"
    bindir = os.environ.get("PGPART_TEST_PGBIN") or str(find_bindir())
    config = tmp_path / "pgpart.toml"
    config.write_text(
        f'[[table]]\nname = "{name}"\nretention = "{retention}"\nretention_mode = "detach"\n'
    )
    run = cli(["maintain", name, "--dsn", pg_dsn, "--now", NOW, "--config", str(config)])
    assert run.code == 0, run.stdout + run.stderr
    left = set(bounds(pg_conn, name))
    assert not gone & left
    for detached in gone:
        assert pg_conn.execute("SELECT to_regclass(%s) IS NOT NULL", (detached,)).fetchone()[0]  # type: ignore[index]
        pg_conn.execute(f"DROP TABLE {detached}")
    later = "2026-12-22T12:00:00+00:00" if monthly else "2026-11-24T12:00:00+00:00"
    config.write_text(
        f'[[table]]\nname = "{name}"\nretention = "{retention}"\nretention_mode = "archive"\n'
        f'archive_dir = "{archive}"\npg_bin = "{bindir}"\n'
    )
    run = cli(["maintain", name, "--dsn", pg_dsn, "--now", later, "--config", str(config)])
    assert run.code == 0, run.stdout + run.stderr
    manifests = sorted(archive.rglob("*.json"))
    assert manifests
    manifest = json.loads(manifests[0].read_text())
    assert manifest["key_type"] == TABLES[name][0]
    assert manifest["key_encoding"] == {"secs": "epoch_s", "millis": "epoch_ms"}.get(name, "uuidv7")
    assert manifest["from"].endswith("+00:00")  # decoded time beside the raw bound
    restored = cli(["restore", str(manifests[0]), "--dsn", pg_dsn, "--config", str(config)])
    assert restored.code == 0, restored.stdout + restored.stderr
    assert manifest["table"] in bounds(pg_conn, name)  # attached again, by its raw bounds
