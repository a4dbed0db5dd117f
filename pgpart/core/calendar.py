"""Partition periods: align a moment to an interval, step, and list periods.

Two kinds of keys:

* ``tz`` is a :class:`~zoneinfo.ZoneInfo` (``timestamptz`` keys): moments are
  aware (any offset), results are aware in UTC, and periods follow the wall
  clock of ``tz``.
* ``tz is None`` (``timestamp`` and ``date`` keys): moments and results are
  naive, plain calendar arithmetic (a date is passed as its naive midnight).

The period starts are those of PostgreSQL with ``TimeZone = tz``: what
``date_trunc(unit, ts, tz)`` returns (weeks are ISO weeks starting on Monday;
quarters start on Jan/Apr/Jul/Oct 1st) and ``start + interval '1 unit'``
steps. Daily and longer steps are wall-clock steps (a DST day lasts 23 or 25
hours); hourly steps are one absolute hour, so the wall-clock hour repeated
when clocks go back gives two distinct periods.

A wall-clock boundary that is ambiguous or does not exist in ``tz`` resolves
as PostgreSQL resolves local times (``DetermineTimeZoneOffset`` in
src/backend/utils/adt/datetime.c): in a spring-forward gap it takes the
offset in force before the transition, in a fall-back overlap the offset in
force after it; both amount to the later of the two candidate instants. So
America/Sao_Paulo's 2018-11-04 (no midnight) starts at 01:00 -02, and
America/Havana's 2020-11-01 (midnight twice) starts at the second midnight.

Where PostgreSQL's own functions disagree with each other, this module keeps
one consistent grid of period starts (``align`` is monotonic, periods tile
the time line), and says so:

* ``date_trunc`` can return a value *later* than its argument (Havana, first
  00:30 of 2020-11-01); ``align`` returns the start of the period that really
  contains the moment (the previous day).
* ``start + interval '1 day'`` keeps the time of day of ``start``, so from a
  day that began at 01:00 because midnight did not exist it lands on 01:00
  the next day; ``shift`` lands on the next period start (midnight).
* A calendar day that never happened (Pacific/Apia skipped 2011-12-30) is
  not a period; ``shift`` counts the periods that exist.
* In zones whose clocks change by a fraction of an hour (Australia/Lord_Howe,
  30 minutes), hourly periods start whenever the wall clock reads hh:00, so
  the period spanning the change lasts 90 minutes; ``date_trunc('hour')``
  there returns instants at which the clock never read hh:00.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from zoneinfo import ZoneInfo

__all__ = [
    "Interval",
    "align",
    "infer_interval",
    "is_aligned",
    "parse_interval",
    "periods",
    "shift",
    "wall_clock",
]

UTC = timezone.utc
_HOUR = timedelta(hours=1)
_TICK = timedelta(microseconds=1)  # PostgreSQL timestamps have microsecond resolution
# Offsets differ by this much only across a date-line jump, where whole
# calendar days can vanish (Pacific/Apia 2011, Pacific/Kwajalein 1993).
_DATELINE_JUMP = timedelta(hours=12)
# Like PostgreSQL (DetermineTimeZoneOffset), assume transitions are at least
# this far apart; within such a span equal offsets at both ends mean none.
_HOURLY_CHUNK = 24


class Interval(str, Enum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    def __str__(self) -> str:  # f-strings of str mixins differ between 3.11 and 3.12
        return self.value

    @property
    def pg_unit(self) -> str:
        """The ``date_trunc`` field name."""
        return _PG_UNITS[self]

    @property
    def nominal(self) -> timedelta:
        """Approximate width, for ordering and estimates only."""
        return _NOMINAL[self]


_PG_UNITS = {
    Interval.HOURLY: "hour",
    Interval.DAILY: "day",
    Interval.WEEKLY: "week",
    Interval.MONTHLY: "month",
    Interval.QUARTERLY: "quarter",
    Interval.YEARLY: "year",
}
_NOMINAL = {
    Interval.HOURLY: timedelta(hours=1),
    Interval.DAILY: timedelta(days=1),
    Interval.WEEKLY: timedelta(days=7),
    Interval.MONTHLY: timedelta(days=30),
    Interval.QUARTERLY: timedelta(days=91),
    Interval.YEARLY: timedelta(days=365),
}
_MONTHS = {Interval.MONTHLY: 1, Interval.QUARTERLY: 3, Interval.YEARLY: 12}
_ALIASES = {i.value: i for i in Interval} | {i.pg_unit: i for i in Interval}


def parse_interval(text: str) -> Interval:
    """Read ``hourly``/``hour`` ... ``yearly``/``year``, case-insensitively."""
    key = text.strip().lower()
    try:
        return _ALIASES[key]
    except KeyError:
        pass
    choices = ", ".join(i.value for i in Interval)
    import difflib  # error path only: keeps CLI start-up light

    close = difflib.get_close_matches(key, list(_ALIASES), n=1)
    hint = f"; did you mean {_ALIASES[close[0]].value!r}?" if close else ""
    raise ValueError(f"unknown interval {text!r} (expected one of {choices}){hint}")


# -- naive calendar arithmetic ------------------------------------------------


def _floor(wall: datetime, interval: Interval) -> datetime:
    """Start of the calendar period containing a naive wall-clock time."""
    if interval is Interval.HOURLY:
        return wall.replace(minute=0, second=0, microsecond=0, fold=0)
    day = wall.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    if interval is Interval.DAILY:
        return day
    if interval is Interval.WEEKLY:
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if interval is Interval.MONTHLY:
        return day.replace(day=1)
    if interval is Interval.QUARTERLY:
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def _add(start: datetime, interval: Interval, n: int) -> datetime:
    """``start + n * interval`` on a naive period start."""
    if interval is Interval.HOURLY:
        return start + n * _HOUR
    if interval is Interval.DAILY:
        return start + timedelta(days=n)
    if interval is Interval.WEEKLY:
        return start + timedelta(days=7 * n)
    index = start.year * 12 + start.month - 1 + n * _MONTHS[interval]
    return start.replace(year=index // 12, month=index % 12 + 1)


# -- time-zone helpers ----------------------------------------------------------


def _check(moment: datetime, tz: ZoneInfo | None) -> datetime:
    """Validate the kind of ``moment``; aware moments come back in UTC.

    Normalising matters beyond tidiness: under PEP 495 an aware datetime whose
    local time is ambiguous (psycopg returns them in the session time zone)
    never compares equal to one in another zone, even for the same instant.
    """
    aware = moment.utcoffset() is not None
    if tz is not None and not aware:
        raise ValueError(f"timezone-aware datetime expected for a timestamptz key: {moment!r}")
    if tz is None and aware:
        raise ValueError(f"naive datetime expected for a timestamp or date key: {moment!r}")
    return moment.astimezone(UTC) if aware else moment


def wall_clock(moment: datetime, tz: ZoneInfo | None) -> datetime:
    """Naive local time of ``moment`` in ``tz`` (identity when ``tz`` is None).

    ``fold`` is 1 on the second occurrence of a repeated wall-clock time.
    """
    moment = _check(moment, tz)
    if tz is None:
        return moment
    return moment.astimezone(tz).replace(tzinfo=None)


def _resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant PostgreSQL gives a naive local time in ``tz``.

    Python maps a time in a gap with fold=0 using the offset before the
    transition and an ambiguous time with fold=1 to its later occurrence;
    PostgreSQL prefers exactly these, i.e. the later candidate in both cases.
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return max(first, second)


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # a ZoneInfo always has an offset
    return offset


def _transition(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """First instant in (before, after] with the offset in force at ``after``."""
    target = _offset(after, tz)
    while after - before > _TICK:
        middle = before + (after - before) // 2
        if _offset(middle, tz) == target:
            after = middle
        else:
            before = middle
    return after


# -- calendar periods (daily and longer) in a time zone --------------------------


def _wall_start(moment: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    """Naive boundary ``b`` whose resolved instant starts the period of ``moment``."""
    boundary = _floor(wall_clock(moment, tz), interval)
    while _resolve(boundary, tz) > moment:  # date_trunc can land after the moment
        boundary = _add(boundary, interval, -1)
    while _resolve(_add(boundary, interval, 1), tz) <= moment:
        boundary = _add(boundary, interval, 1)
    return boundary


def _shift_calendar(start: datetime, interval: Interval, n: int, tz: ZoneInfo) -> datetime:
    boundary = _wall_start(start, interval, tz)
    origin = _resolve(boundary, tz)
    if n == 0:
        return origin
    target = _add(boundary, interval, n)
    result = _resolve(target, tz)
    if (
        _floor(wall_clock(result, tz), interval) == target
        and abs(_offset(result, tz) - _offset(origin, tz)) < _DATELINE_JUMP
    ):
        return result
    # The target unit, or one in between, never happened: count real periods.
    step = 1 if n > 0 else -1
    current, remaining = origin, abs(n)
    while remaining:
        boundary = _add(boundary, interval, step)
        candidate = _resolve(boundary, tz)
        if candidate != current:
            current, remaining = candidate, remaining - 1
    return current


# -- hourly periods in a time zone ----------------------------------------------


def _align_hour(moment: datetime, tz: ZoneInfo) -> datetime:
    """Latest instant <= moment at which the wall clock of ``tz`` read hh:00."""
    local = moment.astimezone(tz)
    past = timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
    candidate = (moment - past).astimezone(UTC)
    if _offset(candidate, tz) == local.utcoffset():
        return candidate
    # The offset changed after the hh:00 this local time implies (a clock change
    # by a fraction of an hour): the wall clock did not read hh:00 since.
    return _align_hour(_transition(candidate, moment, tz) - _TICK, tz)


def _next_hour(start: datetime, tz: ZoneInfo) -> datetime:
    """Earliest instant > start at which the wall clock read hh:00 (start aligned)."""
    candidate = start + _HOUR
    if _offset(candidate, tz) == _offset(start, tz):
        return candidate
    change = _transition(start, candidate, tz)
    local = change.astimezone(tz)
    past = timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
    return change if not past else change + (_HOUR - past)


def _shift_hours(start: datetime, n: int, tz: ZoneInfo) -> datetime:
    current = _align_hour(start, tz)
    step = 1 if n > 0 else -1
    remaining = abs(n)
    while remaining:
        chunk = min(remaining, _HOURLY_CHUNK)
        jump = current + step * chunk * _HOUR
        if _offset(jump, tz) == _offset(current, tz):
            current, remaining = jump, remaining - chunk
            continue
        current = _next_hour(current, tz) if step > 0 else _align_hour(current - _TICK, tz)
        remaining -= 1
    return current


# -- public API -----------------------------------------------------------------


def align(moment: datetime, interval: Interval, tz: ZoneInfo | None) -> datetime:
    """Start of the period containing ``moment``."""
    moment = _check(moment, tz)
    if tz is None:
        return _floor(moment, interval)
    if interval is Interval.HOURLY:
        return _align_hour(moment, tz)
    return _resolve(_wall_start(moment, interval, tz), tz)


def shift(start: datetime, interval: Interval, n: int, tz: ZoneInfo | None) -> datetime:
    """Start of the period ``n`` periods after the one containing ``start``.

    ``n`` may be negative or zero; ``start`` is aligned down first.
    """
    start = _check(start, tz)
    if tz is None:
        return _add(_floor(start, interval), interval, n)
    if interval is Interval.HOURLY:
        return _shift_hours(start, n, tz)
    return _shift_calendar(start, interval, n, tz)


def periods(
    start: datetime, end: datetime, interval: Interval, tz: ZoneInfo | None
) -> list[tuple[datetime, datetime]]:
    """Consecutive half-open periods [a, b) overlapping [start, end), in order."""
    end = _check(end, tz)
    lower = align(start, interval, tz)
    result: list[tuple[datetime, datetime]] = []
    while lower < end:
        upper = shift(lower, interval, 1, tz)
        result.append((lower, upper))
        lower = upper
    return result


def is_aligned(moment: datetime, interval: Interval, tz: ZoneInfo | None) -> bool:
    """Whether ``moment`` is a period start."""
    return align(moment, interval, tz) == _check(moment, tz)


def _fits(lower: datetime, upper: datetime, interval: Interval, tz: ZoneInfo | None) -> bool:
    return is_aligned(lower, interval, tz) and shift(lower, interval, 1, tz) == _check(upper, tz)


def infer_interval(
    ranges: Sequence[tuple[datetime, datetime]], tz: ZoneInfo | None
) -> Interval | None:
    """The interval the existing partitions' [lower, upper) ranges follow.

    Each range that is exactly one period votes for its interval with the
    weight of its rank (the oldest weighs 1, the newest ``len(ranges)``), so
    recent partitions outvote a few old ones of another width (an archive
    of yearly partitions followed by monthly ones reads as monthly). Ties go
    to the interval of the newest matching range. None when no range is
    exactly one period of any interval.
    """
    scores: dict[Interval, int] = {}
    newest: dict[Interval, int] = {}
    candidates = sorted(Interval, key=lambda i: i.nominal)
    for rank, (lower, upper) in enumerate(ranges, start=1):
        width = _check(upper, tz) - _check(lower, tz)
        for interval in candidates:
            # Cheap pre-filter: one period is within half its nominal width of
            # it, give or take a DST hour or (months, quarters, years) the
            # days by which calendar months differ.
            slack = min(interval.nominal, timedelta(days=2))
            if abs(width - interval.nominal) > interval.nominal / 2 + slack:
                continue
            if _fits(lower, upper, interval, tz):
                scores[interval] = scores.get(interval, 0) + rank
                newest[interval] = rank
                break
    if not scores:
        return None
    return max(scores, key=lambda i: (scores[i], newest[i]))
