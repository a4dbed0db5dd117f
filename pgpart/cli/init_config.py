"""`pgpart init`: a pgpart.toml suggested from what the database holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgpart.core import calendar as cal
from pgpart.core.planner import inferred_interval, key_zone

if TYPE_CHECKING:
    from pgpart.api import Gathered
    from pgpart.config import Settings

# Enough runway that a daily cron of `maintain` missing a run or two is harmless.
SUGGESTED_PREMAKE = {
    cal.Interval.HOURLY: 48,
    cal.Interval.DAILY: 7,
    cal.Interval.WEEKLY: 4,
    cal.Interval.MONTHLY: 3,
    cal.Interval.QUARTERLY: 2,
    cal.Interval.YEARLY: 1,
}


def suggest_config(gathered: Gathered, settings: Settings) -> tuple[str, list[str]]:
    """The TOML text, and one line per table left out (with the reason)."""
    from pgpart.config import render_toml

    defaults = settings.defaults
    tables: list[dict[str, object]] = []
    skipped: list[str] = []
    for target in gathered.targets:
        table = target.table
        if table is None:
            skipped.append(f"{target.argument}: no such table")
            continue
        if not table.is_time_range or table.relkind != "p":
            skipped.append(f"{table.qualified}: not range-partitioned on a date/time column")
            continue
        interval = target.policy.interval or inferred_interval(
            table, key_zone(table, target.policy)
        )
        if interval is None:
            skipped.append(
                f"{table.qualified}: no partitions to infer the interval from; add it with"
                ' interval = "daily" (or monthly, ...)'
            )
            continue
        entry: dict[str, object] = {
            "name": table.qualified,
            "interval": interval.value,
            "premake": SUGGESTED_PREMAKE[interval],
        }
        if target.policy.retention is not None:
            entry["retention"] = str(target.policy.retention)
            entry["retention_mode"] = target.policy.retention_mode.value
        tables.append(entry)
    text = render_toml(
        {
            "timezone": defaults.timezone,
            "premake": defaults.premake,
            "lock_timeout": str(defaults.lock_timeout),
        },
        tables,
    )
    return text, skipped
