"""Bounds on local midnights of a zone nobody configured: check and maintain agree."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.support.cli_helpers import NOW, cli, month_start

TODAY = date(2026, 11, 22)


def _berlin_months(conn: psycopg.Connection[Any], months: range) -> None:
    """Monthly partitions at midnight Europe/Berlin, across both DST changes."""
    conn.execute("SET TimeZone = 'Europe/Berlin'")
    conn.execute("CREATE TABLE m (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    for off in months:
        lo, hi = month_start(TODAY, off), month_start(TODAY, off + 1)
        conn.execute(
            f"CREATE TABLE m_{lo:%Y_%m} PARTITION OF m FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )


def _database_zone(conn: psycopg.Connection[Any], zone: str) -> None:
    conn.execute(
        sql.SQL("ALTER DATABASE {} SET TimeZone = {}").format(
            sql.Identifier(conn.info.dbname), sql.Literal(zone)
        )
    )


def _codes(report: dict[str, Any]) -> dict[str, str]:
    return {p["code"]: p["severity"] for t in report["tables"] for p in t["problems"]}


def test_zone_of_the_database_is_inferred(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    _berlin_months(pg_conn, range(-9, 2))
    _database_zone(pg_conn, "Europe/Berlin")
    check = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    [row] = check.json()["tables"]
    assert row["interval"] == "monthly"
    assert _codes(check.json()).get("timezone_inferred") == "info"
    assert "unknown_interval" not in _codes(check.json())
    written = tmp_path / "pgpart.toml"
    assert cli(["init", "--dsn", pg_dsn, "--output", str(written)]).code == 0
    text = written.read_text()
    assert 'interval = "monthly"' in text and 'timezone = "Europe/Berlin"' in text
    run = cli(
        ["maintain", "--dsn", pg_dsn, "--now", NOW, "--format", "json"], env={"PGPART_PREMAKE": "4"}
    )
    assert run.code == 0, run.stdout + run.stderr
    made = {a["partition"]: a for a in run.json()["actions"] if a["action"] == "create"}
    assert set(made) == {"m_2027_01", "m_2027_02", "m_2027_03"}
    # Local midnight in Berlin: 23:00 UTC in winter, 22:00 UTC from the end of March.
    assert made["m_2027_03"]["from"].startswith("2027-02-28T23:00:00")
    assert made["m_2027_03"]["to"].startswith("2027-03-31T22:00:00")
    after = cli(["check", "--dsn", pg_dsn, "--now", NOW], env={"PGPART_PREMAKE": "4"})
    assert after.code == 0, after.stdout


def test_bounds_of_an_unknown_zone_are_unknown_in_check_too(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    _berlin_months(pg_conn, range(-9, 2))
    _database_zone(pg_conn, "UTC")  # the zone is nowhere to be read
    check = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    maintain = cli(["maintain", "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    assert check.code == 1, check.stdout
    assert maintain.code == 2, maintain.stdout
    [problem] = [p for t in check.json()["tables"] for p in t["problems"]]
    assert problem["code"] == "unknown_interval"
    assert "set `timezone`" in problem["message"]
    assert "unknown_interval" in maintain.stdout
    # Saying where the boundaries fall settles it for both.
    configured = {"PGPART_TIMEZONE": "Europe/Berlin"}
    assert cli(["check", "--dsn", pg_dsn, "--now", NOW], env=configured).code == 0
