"""Moments and periods as people read them in messages."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from pgpart.core.calendar import Interval

_PERIOD_FORMATS = {
    "hourly": "%Y-%m-%d %H:00",
    "daily": "%Y-%m-%d",
    "weekly": "%G-W%V",
    "monthly": "%Y-%m",
    "yearly": "%Y",
}


def describe_moment(value: datetime, tz: ZoneInfo | None, interval: Interval | None = None) -> str:
    """``value`` in the table's zone (aware) or as is (naive); with an interval,
    the label of the period it starts (``2026-11`` for a month)."""
    local = value.astimezone(tz) if tz is not None and value.tzinfo is not None else value
    if interval is not None:
        if interval.value == "quarterly":
            return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
        return local.strftime(_PERIOD_FORMATS[interval.value])
    if local.tzinfo is None:
        return local.isoformat(sep=" ", timespec="seconds" if local.second else "minutes")
    return local.isoformat(sep=" ", timespec="minutes")
