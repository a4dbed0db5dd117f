"""Flag values read into typed values: moments, intervals, durations.

A value that cannot be read is a UsageError (exit 3) naming the flag.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pgpart.errors import UsageError

if TYPE_CHECKING:
    from pgpart.core.calendar import Interval
    from pgpart.core.durations import Duration


def parse_now(text: str | None) -> datetime:
    """--now, else $PGPART_NOW, else the clock; naive values are UTC."""
    if text is None:
        text = os.environ.get("PGPART_NOW") or None
    if text is None:
        return datetime.now(timezone.utc)
    value = as_utc_if_naive(parse_moment(text, "--now"))
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise UsageError(f"--now: {text!r} lies outside the years 1 to 9999") from None
    return value


def parse_moment(text: str, flag: str) -> datetime:
    """ISO 8601 date or timestamp; naive values are read in the table's zone later."""
    from dateutil.parser import isoparse

    try:
        return isoparse(text.strip())
    except (ValueError, OverflowError) as exc:
        raise UsageError(f"{flag}: {text!r} is not an ISO 8601 date or timestamp ({exc})") from None


def as_utc_if_naive(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_interval(text: str | None) -> Interval | None:
    """--interval: hourly, daily... or '15 minutes'."""
    if text is None:
        return None
    from pgpart.core.calendar import parse_interval as parse

    try:
        return parse(text)
    except ValueError as exc:
        raise UsageError(f"--interval: {exc}") from None


def parse_duration(text: str | None, flag: str) -> Duration | None:
    """A duration such as '90 days' or '6 mon' (drop --older-than)."""
    if text is None:
        return None
    from pgpart.core.durations import Duration

    try:
        return Duration.parse(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
