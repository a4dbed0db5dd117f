"""Durations as PostgreSQL sees them: months, days and microseconds kept apart.

A month has no fixed length and a day is 23 or 25 hours across a DST change,
so, like PostgreSQL's `interval`, a Duration keeps the three parts separate
and applies them to a moment in that order: months, then days (both on the
wall clock of a time zone), then microseconds (absolute time).
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, datetime, timedelta, timezone
from difflib import get_close_matches
from fractions import Fraction
from zoneinfo import ZoneInfo

from pgpart.core.record import record

__all__ = ["Duration"]

_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_US_PER_HOUR = 60 * _US_PER_MINUTE
_US_PER_DAY = 24 * _US_PER_HOUR

# PostgreSQL's interval stores int32 months, int32 days and int64 microseconds.
_MAX_MONTHS = 2**31 - 1
_MAX_DAYS = 2**31 - 1
_MAX_MICROSECONDS = 2**63 - 1

# Canonical unit -> accepted spellings (matched after lower-casing).
_UNITS: dict[str, tuple[str, ...]] = {
    "years": ("y", "yr", "yrs", "year", "years"),
    "months": ("mon", "mons", "month", "months"),
    "weeks": ("w", "wk", "wks", "week", "weeks"),
    "days": ("d", "day", "days"),
    "hours": ("h", "hr", "hrs", "hour", "hours"),
    # No bare "m": minutes to PostgreSQL, months to many readers. A typo
    # ("6m" meant as six months) must never shorten a retention to minutes.
    "minutes": ("min", "mins", "minute", "minutes"),
    "seconds": ("s", "sec", "secs", "second", "seconds"),
    "milliseconds": ("ms", "msec", "msecs", "millisecond", "milliseconds"),
    "microseconds": ("us", "usec", "usecs", "microsecond", "microseconds"),
}
_SPELLING_TO_UNIT = {spelling: unit for unit, spellings in _UNITS.items() for spelling in spellings}
_US_PER_UNIT = {
    "hours": _US_PER_HOUR,
    "minutes": _US_PER_MINUTE,
    "seconds": _US_PER_SECOND,
    "milliseconds": 1000,
    "microseconds": 1,
}
_ACCEPTED = (
    "years (y), months (mon), weeks (w), days (d), hours (h), minutes (min), "
    "seconds (s), milliseconds (ms), microseconds (us)"
)

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_WORD = re.compile(r"[a-zA-Z]+")


@record
class Duration:
    """A non-negative span of time, like a PostgreSQL interval without sign."""

    months: int = 0
    days: int = 0
    microseconds: int = 0

    def __post_init__(self) -> None:
        for name, value, limit in (
            ("months", self.months, _MAX_MONTHS),
            ("days", self.days, _MAX_DAYS),
            ("microseconds", self.microseconds, _MAX_MICROSECONDS),
        ):
            if type(value) is not int:
                raise TypeError(f"Duration.{name} must be an int, not {type(value).__name__}")
            if value < 0:
                raise ValueError(f"Duration.{name} must not be negative (got {value})")
            if value > limit:
                raise ValueError(f"Duration.{name} is too large for PostgreSQL (got {value})")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Read "90 days", "6 months", "1h30min", "500ms", "1.5s", "0"...

        Units are case-insensitive and may follow the number with or without
        a space. A bare number is refused (is "90" seconds or days?) except 0.
        """
        source = text.strip()
        if not source:
            raise ValueError("empty duration: write e.g. '90 days', '6 months' or '500ms'")
        if source.startswith(("-", "+")) or re.search(r"[\s0-9]-\s*[0-9.]", source):
            raise ValueError(f"{source!r}: a duration cannot be negative or signed")
        if _NUMBER.fullmatch(source) and len(source) <= 40:
            if Fraction(source) == 0:
                return cls()
            raise ValueError(
                f"{source!r} has no unit: add one, e.g. '{source} days' or '{source}s'"
            )
        return _from_amounts(source, _read_amounts(source))

    def to_timedelta(self) -> timedelta:
        if self.months:
            raise ValueError(f"{self} has no fixed length: months vary from 28 to 31 days")
        return timedelta(days=self.days, microseconds=self.microseconds)

    def milliseconds(self) -> int:
        """Whole milliseconds, rounded up, for lock_timeout/statement_timeout.

        Rounding up matters: 0 disables those timeouts in PostgreSQL, so a
        non-zero duration must never become 0. A day counts as 86400 s here.
        """
        if self.months:
            raise ValueError(f"{self} has no fixed length in milliseconds")
        total_us = self.days * _US_PER_DAY + self.microseconds
        return -(-total_us // 1000)

    def after(self, moment: datetime, tz: ZoneInfo | None) -> datetime:
        """moment + self, as PostgreSQL computes `ts + interval` with TimeZone = tz.

        A naive moment (timestamp without time zone) is stepped on its own
        wall clock and stays naive. An aware moment is stepped on the wall
        clock of tz (UTC when tz is None) and returned in UTC.
        """
        return self._shift(moment, tz, 1)

    def before(self, moment: datetime, tz: ZoneInfo | None) -> datetime:
        """moment - self, with the rules of `after`."""
        return self._shift(moment, tz, -1)

    def pg_literal(self) -> str:
        """Text PostgreSQL's interval input reads back as this exact value."""
        parts = []
        if self.months:
            parts.append(f"{self.months} mons")
        if self.days:
            parts.append(f"{self.days} days")
        if self.microseconds or not parts:
            seconds, micro = divmod(self.microseconds, _US_PER_SECOND)
            hours, rest = divmod(seconds, 3600)
            minutes, secs = divmod(rest, 60)
            clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
            if micro:
                clock += f".{micro:06d}".rstrip("0")
            parts.append(clock)
        return " ".join(parts)

    @property
    def is_zero(self) -> bool:
        return not (self.months or self.days or self.microseconds)

    def __bool__(self) -> bool:
        return not self.is_zero

    def __str__(self) -> str:
        parts = []
        if self.months:
            if self.months % 12 == 0:
                parts.append(_plural(self.months // 12, "year"))
            else:
                parts.append(_plural(self.months, "month"))
        if self.days:
            parts.append(_plural(self.days, "day"))
        if self.microseconds:
            parts.append(_clock_text(self.microseconds))
        return " ".join(parts) or "0"

    def _shift(self, moment: datetime, tz: ZoneInfo | None, sign: int) -> datetime:
        try:
            if moment.tzinfo is None:
                return _step_wall(moment, sign * self.months, sign * self.days) + timedelta(
                    microseconds=sign * self.microseconds
                )
            zone = tz if tz is not None else timezone.utc
            result = moment
            # PostgreSQL converts to local time only for a non-zero part
            # (timestamptz_pl_interval); the round trip is not an identity on
            # an ambiguous wall time, so skip it the same way.
            if self.months:
                result = _localize(_step_wall(_wall(result, zone), sign * self.months, 0), zone)
            if self.days:
                result = _localize(_step_wall(_wall(result, zone), 0, sign * self.days), zone)
            result = result.astimezone(timezone.utc)
            return result + timedelta(microseconds=sign * self.microseconds)
        except OverflowError as exc:
            verb = "+" if sign > 0 else "-"
            raise ValueError(f"{moment.isoformat()} {verb} {self} is out of range") from exc


def _read_amounts(source: str) -> dict[str, Fraction]:
    amounts: dict[str, Fraction] = {}
    pos = _skip_space(source, 0)
    while pos < len(source):
        number = _NUMBER.match(source, pos)
        if number is None:
            raise ValueError(f"{source!r}: expected a number at {source[pos:]!r}")
        if len(number.group()) > 40:
            raise ValueError(f"{source!r}: {number.group()[:20]}... is too large")
        pos = _skip_space(source, number.end())
        word = _WORD.match(source, pos)
        if word is None:
            raise ValueError(
                f"{source!r}: the number {number.group()} has no unit (accepted units: {_ACCEPTED})"
            )
        spelling = word.group().lower()
        unit = _SPELLING_TO_UNIT.get(spelling)
        if spelling == "m":
            n = number.group()
            raise ValueError(
                f"{source!r}: the unit {word.group()!r} is ambiguous (minutes or months?):"
                f" write '{n}min' for minutes or '{n}mon' for months"
            )
        if unit is None:
            close = get_close_matches(spelling, list(_SPELLING_TO_UNIT), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"{source!r}: unknown unit {word.group()!r}{hint}; accepted units: {_ACCEPTED}"
            )
        if unit in amounts:
            raise ValueError(f"{source!r}: {unit} given more than once")
        amounts[unit] = Fraction(number.group())
        pos = _skip_space(source, word.end())
    return amounts


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _from_amounts(source: str, amounts: dict[str, Fraction]) -> Duration:
    months = amounts.get("years", Fraction(0)) * 12 + amounts.get("months", Fraction(0))
    if months.denominator != 1:
        raise ValueError(f"{source!r}: months and years must come to a whole number of months")
    days = amounts.get("weeks", Fraction(0)) * 7 + amounts.get("days", Fraction(0))
    whole_days = days.numerator // days.denominator
    # As in PostgreSQL, a fraction of a day becomes time: "1.5 days" = 1 day 12:00.
    micro = (days - whole_days) * _US_PER_DAY
    for unit, per in _US_PER_UNIT.items():
        micro += amounts.get(unit, Fraction(0)) * per
    if micro.denominator != 1:
        raise ValueError(f"{source!r}: finer than a microsecond")
    try:
        return Duration(int(months), whole_days, int(micro))
    except ValueError:
        raise ValueError(f"{source!r} is too large") from None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _clock_text(microseconds: int) -> str:
    """Compact form: "12h", "1h30min", "45s", "1.5s", "500ms", "250us" (never a
    bare "m", which reads as months as easily as minutes)."""
    seconds, fraction = divmod(microseconds, _US_PER_SECOND)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}min")
    if secs and fraction:
        parts.append(f"{secs}.{fraction:06d}".rstrip("0") + "s")
    elif secs:
        parts.append(f"{secs}s")
    elif fraction % 1000 == 0 and fraction:
        parts.append(f"{fraction // 1000}ms")
    elif fraction:
        parts.append(f"{fraction}us")
    return "".join(parts)


def _wall(moment: datetime, zone: ZoneInfo | timezone) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _step_wall(wall: datetime, months: int, days: int) -> datetime:
    """Add months (clamping the day to the month's end, as PostgreSQL does) and days."""
    if months:
        index = wall.year * 12 + (wall.month - 1) + months
        year, month = divmod(index, 12)
        month += 1
        if not 1 <= year <= 9999:
            raise OverflowError("year out of range")
        day = min(wall.day, monthrange(year, month)[1])
        wall = wall.replace(year=year, month=month, day=day)
    if days:
        ordinal = wall.toordinal() + days
        if not 1 <= ordinal <= date.max.toordinal():
            raise OverflowError("date out of range")
        shifted = date.fromordinal(ordinal)
        wall = wall.replace(year=shifted.year, month=shifted.month, day=shifted.day)
    return wall


def _localize(wall: datetime, zone: ZoneInfo | timezone) -> datetime:
    """Attach zone to a wall-clock time the way PostgreSQL resolves DST edges.

    PostgreSQL (DetermineTimeZoneOffsetInternal) takes the offset in force
    before a spring-forward gap and the one after a fall-back overlap; see
    "Handling of Invalid or Ambiguous Timestamps" in its docs. With PEP 495,
    fold=0 gives the former in a gap and fold=1 the latter in an overlap.
    """
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    in_overlap = first.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) == wall
    return second if in_overlap else first
