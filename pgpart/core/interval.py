"""A partition interval: a whole number of minutes, hours, days, weeks, months or years.

One type for every interval: ``Interval(15, Unit.MINUTE)``,
``Interval(2, Unit.WEEK)``, ``Interval(3, Unit.MONTH)``. Values are canonical,
as PostgreSQL stores intervals (months, days and microseconds apart):
``60 minutes`` is ``1 hour``, ``14 days`` is ``2 weeks`` and ``12 months`` is
``1 year``, but ``24 hours`` is not ``1 day`` (across a DST change a day in a
zone lasts 23 or 25 hours).

The six named intervals are aliases of such values: ``Interval.HOURLY`` is
``1 hour`` ... ``Interval.QUARTERLY`` is ``3 months``, ``Interval.YEARLY`` is
``1 year``; iterating over the class gives them, shortest first. They keep
their names in reports and in pgpart.toml (``"monthly"``); other intervals
read as PostgreSQL writes them (``"15 minutes"``, ``"2 weeks"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from enum import Enum
from typing import Any, ClassVar

from pgpart.core.record import record

__all__ = ["Interval", "Unit", "parse_interval"]


class Unit(str, Enum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"

    @property
    def elapsed(self) -> bool:
        """Minutes and hours are elapsed time; days and longer follow the calendar."""
        return self in (Unit.MINUTE, Unit.HOUR)


_UNIT_NOMINAL = {
    Unit.MINUTE: timedelta(minutes=1),
    Unit.HOUR: timedelta(hours=1),
    Unit.DAY: timedelta(days=1),
    Unit.WEEK: timedelta(days=7),
    Unit.MONTH: timedelta(days=30),
    Unit.YEAR: timedelta(days=365),
}
# Beyond this, date arithmetic overflows long before a partition could be useful.
MAX_NOMINAL = timedelta(days=365 * 100)


class _Named(type):
    """Iterating over the class gives the six named intervals (as the Enum it
    replaced did)."""

    def __iter__(cls) -> Iterator[Interval]:
        return iter(_NAMED)

    def __len__(cls) -> int:
        return len(_NAMED)


@record
class Interval(metaclass=_Named):
    count: int
    unit: Unit

    HOURLY: ClassVar[Interval]
    DAILY: ClassVar[Interval]
    WEEKLY: ClassVar[Interval]
    MONTHLY: ClassVar[Interval]
    QUARTERLY: ClassVar[Interval]
    YEARLY: ClassVar[Interval]

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"an interval counts at least one {self.unit.value}")
        for small, large, ratio in _CANONICAL:
            if self.unit is small and self.count % ratio == 0:
                object.__setattr__(self, "unit", large)
                object.__setattr__(self, "count", self.count // ratio)

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Interval({self.value!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """For IPython and Hypothesis, whose printers would list the class constants."""
        printer.text(repr(self))

    @property
    def value(self) -> str:
        """The name for the six named intervals, else PostgreSQL's spelling."""
        return _NAMES.get((self.count, self.unit)) or self.pg_text

    @property
    def pg_text(self) -> str:
        """An interval literal PostgreSQL reads as this value: ``'15 minutes'``."""
        return f"{self.count} {self.unit.value}{'s' if self.count != 1 else ''}"

    def canonical(self) -> Interval:
        """This value, as the named constant where it is one (``is`` then works)."""
        return next((named for named in _NAMED if named == self), self)

    @property
    def named(self) -> bool:
        return (self.count, self.unit) in _NAMES

    @property
    def pg_unit(self) -> str:
        """A ``date_trunc`` field no longer than one period (``quarter`` for
        quarterly, else the unit itself)."""
        return "quarter" if self == Interval.QUARTERLY else self.unit.value

    @property
    def nominal(self) -> timedelta:
        """Approximate width, for ordering and estimates only."""
        return self.count * _UNIT_NOMINAL[self.unit]

    @property
    def months(self) -> int:
        """Calendar months of one period (0 unless the unit is months or years)."""
        return {Unit.MONTH: 1, Unit.YEAR: 12}.get(self.unit, 0) * self.count

    @property
    def days(self) -> int:
        """Calendar days of one period (0 unless the unit is days or weeks)."""
        return {Unit.DAY: 1, Unit.WEEK: 7}.get(self.unit, 0) * self.count

    @property
    def elapsed(self) -> timedelta:
        """Elapsed time of one period (zero unless the unit is minutes or hours)."""
        return self.count * _UNIT_NOMINAL[self.unit] if self.unit.elapsed else timedelta(0)


_CANONICAL = ((Unit.MINUTE, Unit.HOUR, 60), (Unit.DAY, Unit.WEEK, 7), (Unit.MONTH, Unit.YEAR, 12))
_NAMES = {
    (1, Unit.HOUR): "hourly",
    (1, Unit.DAY): "daily",
    (1, Unit.WEEK): "weekly",
    (1, Unit.MONTH): "monthly",
    (3, Unit.MONTH): "quarterly",
    (1, Unit.YEAR): "yearly",
}
Interval.HOURLY = Interval(1, Unit.HOUR)
Interval.DAILY = Interval(1, Unit.DAY)
Interval.WEEKLY = Interval(1, Unit.WEEK)
Interval.MONTHLY = Interval(1, Unit.MONTH)
Interval.QUARTERLY = Interval(3, Unit.MONTH)
Interval.YEARLY = Interval(1, Unit.YEAR)
_NAMED = (
    Interval.HOURLY,
    Interval.DAILY,
    Interval.WEEKLY,
    Interval.MONTHLY,
    Interval.QUARTERLY,
    Interval.YEARLY,
)
_ALIASES = {i.value: i for i in _NAMED} | {
    "hour": Interval.HOURLY,
    "day": Interval.DAILY,
    "week": Interval.WEEKLY,
    "month": Interval.MONTHLY,
    "quarter": Interval.QUARTERLY,
    "year": Interval.YEARLY,
    # pg_partman 4's names for its two sub-hour intervals
    "half-hour": Interval(30, Unit.MINUTE),
    "quarter-hour": Interval(15, Unit.MINUTE),
}
# PostgreSQL's unit spellings (src/backend/utils/adt/datetime.c), minus the
# ambiguous bare "m" (minutes or months?).
_UNITS = {
    **dict.fromkeys(("min", "mins", "minute", "minutes"), (1, Unit.MINUTE)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), (1, Unit.HOUR)),
    **dict.fromkeys(("d", "day", "days"), (1, Unit.DAY)),
    **dict.fromkeys(("w", "week", "weeks"), (1, Unit.WEEK)),
    **dict.fromkeys(("mon", "mons", "month", "months"), (1, Unit.MONTH)),
    **dict.fromkeys(("quarter", "quarters"), (3, Unit.MONTH)),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), (1, Unit.YEAR)),
}
_SECONDS = ("s", "sec", "secs", "second", "seconds", "ms", "millisecond", "milliseconds")
_COUNT_UNIT = re.compile(r"(\d{1,9})\s*([a-z]+)")
_CLOCK = re.compile(r"(\d{1,6}):(\d\d)(?::(\d\d))?")  # PostgreSQL's output of '15 mins': 00:15:00


def _named_choices() -> str:
    return ", ".join(i.value for i in _NAMED)


def parse_interval(text: str) -> Interval:
    """Read an interval: one of the six names (or ``hour`` ... ``year``), or a
    whole number of one unit (``"15 minutes"``, ``"2 weeks"``, ``"3 mons"``,
    PostgreSQL's ``"00:15:00"``), case-insensitively; at least one minute."""
    key = " ".join(text.strip().lower().split())
    if key in _ALIASES:
        return _ALIASES[key]
    interval = _count_unit(key, text)
    if interval is not None:
        if interval.nominal > MAX_NOMINAL:
            raise ValueError(f"interval {text!r} is too long (at most 100 years)")
        return interval
    import difflib  # error path only: keeps CLI start-up light

    close = difflib.get_close_matches(key, list(_ALIASES), n=1)
    hint = f"; did you mean {_ALIASES[close[0]].value!r}?" if close else ""
    raise ValueError(
        f"unknown interval {text!r} (expected one of {_named_choices()}, or a whole number "
        f'of minutes, hours, days, weeks, months or years such as "15 minutes"){hint}'
    )


def _count_unit(key: str, text: str) -> Interval | None:
    clock = _CLOCK.fullmatch(key)
    if clock:
        hours, minutes, seconds = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        if seconds or minutes >= 60:
            raise ValueError(f"interval {text!r}: pgpart intervals are whole minutes or longer")
        if not hours and not minutes:
            raise ValueError(f"interval {text!r} is empty")
        return Interval(hours * 60 + minutes, Unit.MINUTE).canonical()
    match = _COUNT_UNIT.fullmatch(key)
    if match is None:
        return None
    count, unit = int(match[1]), match[2]
    if unit == "m":
        raise ValueError(
            f'interval {text!r}: "m" could mean minutes or months; write "min" or "mon"'
        )
    if unit in _SECONDS:
        raise ValueError(f"interval {text!r}: pgpart intervals are whole minutes or longer")
    if unit not in _UNITS:
        return None
    if count == 0:
        raise ValueError(f"interval {text!r} is empty")
    factor, base = _UNITS[unit]
    return Interval(count * factor, base).canonical()
