"""Running the CLI in-process and building partitioned tables for tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta
from typer.testing import CliRunner

from pgpart.cli.app import app

# A fixed "now" keeps every test independent of the real date.
NOW = "2026-11-22T12:00:00+00:00"
TODAY = date(2026, 11, 22)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(args: Sequence[str], env: dict[str, str] | None = None, input: str | None = None) -> Run:
    result = CliRunner().invoke(app, list(args), env=env, input=input, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def month_start(d: date, months: int = 0) -> date:
    return date(d.year, d.month, 1) + relativedelta(months=months)


def monthly_table(
    conn: Any,
    name: str = "messages",
    *,
    months: range = range(-2, 4),
    schema: str = "public",
    default: bool = False,
    key: str = "created_at",
    key_type: str = "timestamptz",
    suffix: str = "{y:04d}_{m:02d}",
    around: date = TODAY,
) -> None:
    """A monthly RANGE-partitioned table with partitions at the given offsets
    from ``around``'s month (timestamptz bounds in UTC)."""
    conn.execute("SET TimeZone = 'UTC'")
    q = f'"{schema}"."{name}"'
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    conn.execute(
        f'CREATE TABLE {q} (id bigint GENERATED ALWAYS AS IDENTITY, "{key}" {key_type} NOT NULL,'
        f' body text, PRIMARY KEY (id, "{key}")) PARTITION BY RANGE ("{key}")'
    )
    for off in months:
        lo = month_start(around, off)
        hi = month_start(around, off + 1)
        pname = f"{name}_" + suffix.format(y=lo.year, m=lo.month, d=lo.day)
        conn.execute(
            f'CREATE TABLE "{schema}"."{pname}" PARTITION OF {q} '
            f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
    if default:
        conn.execute(f'CREATE TABLE "{schema}"."{name}_default" PARTITION OF {q} DEFAULT')


def daily_table(
    conn: Any,
    name: str = "events",
    *,
    days: range = range(-3, 5),
    key_type: str = "timestamptz",
    around: date = TODAY,
    suffix: str = "{y:04d}_{m:02d}_{d:02d}",
) -> None:
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(f'CREATE TABLE "{name}" (ts {key_type} NOT NULL, v int) PARTITION BY RANGE (ts)')
    for off in days:
        lo = around + relativedelta(days=off)
        hi = lo + relativedelta(days=1)
        pname = f"{name}_" + suffix.format(y=lo.year, m=lo.month, d=lo.day)
        conn.execute(
            f"CREATE TABLE \"{pname}\" PARTITION OF \"{name}\" FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
