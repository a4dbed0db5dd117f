"""What every command's output is made of: one report per database.

A command gathers its rows once per database (one database is a run of one)
and each renderer draws them once: with one database as always; with many,
with a first ``database`` column (a ``database`` label in Prometheus, a
``database`` key in every JSON object), and a line for a database that failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pgpart.core.plan import Plan, Status, TablePlan
from pgpart.core.record import record

T = TypeVar("T")


@record
class Report(Generic[T]):
    """One database's part of the output: what it gathered, or why nothing."""

    database: str | None  # its name; None when it is the run's only database
    value: T | None  # None: the database failed (``error`` says why)
    error: str | None = None


def labelled(reports: Sequence[Report[Any]]) -> bool:
    """Many databases: each row says which (one database never does)."""
    return any(r.database is not None for r in reports)


def with_database(value: Any, name: str | None) -> Any:
    """``value`` with ``"database": name`` first in every JSON object in it
    (the objects are built from records here, never read back from text)."""
    if name is None:
        return value
    if isinstance(value, dict):
        return {"database": name, **{k: with_database(v, name) for k, v in value.items()}}
    if isinstance(value, list):
        return [with_database(v, name) for v in value]
    return value


def prefixed(database: str | None, text: str) -> str:
    """``text`` after its database's name (as is for the only database)."""
    return text if database is None else f"{database}: {text}"


def verdict(reports: Sequence[Report[Plan]]) -> Status:
    """The status over the databases, as the exit code ranks it (one
    database: its own; a database that failed counts as unknown)."""
    from pgpart.cli.exit_codes import fleet_status

    return fleet_status(
        [r.value.status if r.value is not None else Status.UNKNOWN for r in reports]
    )


def summary(tables: Sequence[TablePlan]) -> str:
    """The tables by status: '3 ok, 1 critical'."""
    counts: dict[str, int] = {}
    for t in tables:
        counts[t.status.value] = counts.get(t.status.value, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items()) if tables else "no tables"


def over_databases(plans: Sequence[Plan | None]) -> str:
    """'2 databases (1 not checked); tables: 3 ok, 1 critical'."""
    tables = [t for p in plans if p is not None for t in p.tables]
    failed = sum(1 for p in plans if p is None)
    not_checked = f" ({failed} not checked)" if failed else ""
    return f"{len(plans)} databases{not_checked}; tables: {summary(tables)}"


def closing(reports: Sequence[Report[Plan]]) -> str:
    """check's last line: the verdict, and the tables by status (over many
    databases: how many, and how many could not be checked)."""
    if len(reports) == 1 and reports[0].value is not None:
        plan = reports[0].value
        return f"{plan.status.value.upper()}: {summary(plan.tables)}"
    return f"{verdict(reports).value.upper()}: {over_databases([r.value for r in reports])}"
