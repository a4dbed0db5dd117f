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

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pgpart.core import grid as _grid
from pgpart.core.grid import Grid
from pgpart.core.interval import Interval, Unit, parse_interval
from pgpart.core.localtime import check_kind as _check
from pgpart.core.localtime import offset as _offset
from pgpart.core.localtime import resolve as _resolve
from pgpart.core.localtime import transition as _transition
from pgpart.core.localtime import wall_clock

__all__ = [
    "Grid",
    "Interval",
    "Unit",
    "align",
    "infer_grid",
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


# -- naive calendar arithmetic ------------------------------------------------


def _floor(wall: datetime, interval: Interval) -> datetime:
    """Start of the calendar period containing a naive wall-clock time."""
    if interval == Interval.HOURLY:
        return wall.replace(minute=0, second=0, microsecond=0, fold=0)
    day = wall.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    if interval == Interval.DAILY:
        return day
    if interval == Interval.WEEKLY:
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if interval == Interval.MONTHLY:
        return day.replace(day=1)
    if interval == Interval.QUARTERLY:
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def _add(start: datetime, interval: Interval, n: int) -> datetime:
    """``start + n * interval`` on a naive period start."""
    if interval == Interval.HOURLY:
        return start + n * _HOUR
    if interval.days:
        return start + timedelta(days=n * interval.days)
    index = start.year * 12 + start.month - 1 + n * interval.months
    return start.replace(year=index // 12, month=index % 12 + 1)


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

Spec = Interval | Grid


def _origin(spec: Spec, tz: ZoneInfo | None) -> tuple[Interval, datetime | None]:
    """The interval, and the origin of its grid: None only for the calendar
    periods of the six named intervals (this module's own arithmetic)."""
    interval, origin = (spec.interval, spec.origin) if isinstance(spec, Grid) else (spec, None)
    if origin is not None:
        return interval, _check(origin, tz)
    if interval.named:
        return interval, None
    return interval, _grid.standard_origin(interval, tz)


def align(moment: datetime, spec: Spec, tz: ZoneInfo | None) -> datetime:
    """Start of the period containing ``moment``."""
    moment = _check(moment, tz)
    interval, origin = _origin(spec, tz)
    if origin is not None:
        return _grid.boundary(interval, origin, _grid.index(interval, origin, moment, tz), tz)
    if tz is None:
        return _floor(moment, interval)
    if interval == Interval.HOURLY:
        return _align_hour(moment, tz)
    return _resolve(_wall_start(moment, interval, tz), tz)


def shift(start: datetime, spec: Spec, n: int, tz: ZoneInfo | None) -> datetime:
    """Start of the period ``n`` periods after the one containing ``start``.

    ``n`` may be negative or zero; ``start`` is aligned down first.
    """
    start = _check(start, tz)
    interval, origin = _origin(spec, tz)
    if origin is not None:
        k = _grid.index(interval, origin, start, tz)
        return _grid.step(interval, origin, k, n, tz)[1]
    if tz is None:
        return _add(_floor(start, interval), interval, n)
    if interval == Interval.HOURLY:
        return _shift_hours(start, n, tz)
    return _shift_calendar(start, interval, n, tz)


def periods(
    start: datetime, end: datetime, spec: Spec, tz: ZoneInfo | None
) -> list[tuple[datetime, datetime]]:
    """Consecutive half-open periods [a, b) overlapping [start, end), in order."""
    end = _check(end, tz)
    lower = align(start, spec, tz)
    result: list[tuple[datetime, datetime]] = []
    while lower < end:
        upper = shift(lower, spec, 1, tz)
        result.append((lower, upper))
        lower = upper
    return result


def is_aligned(moment: datetime, spec: Spec, tz: ZoneInfo | None) -> bool:
    """Whether ``moment`` is a period start."""
    return align(moment, spec, tz) == _check(moment, tz)


def _fits(lower: datetime, upper: datetime, spec: Spec, tz: ZoneInfo | None) -> bool:
    return is_aligned(lower, spec, tz) and shift(lower, spec, 1, tz) == upper


def infer_grid(ranges: Sequence[tuple[datetime, datetime]], tz: ZoneInfo | None) -> Grid | None:
    """:func:`_infer_grid`, remembered: the probe and the planner both ask,
    and the tables of many databases (a fleet) often have the same bounds."""
    return _infer_grid(tuple((_check(lo, tz), _check(hi, tz)) for lo, hi in ranges), tz)


@functools.lru_cache(maxsize=4096)
def _infer_grid(ranges: tuple[tuple[datetime, datetime], ...], tz: ZoneInfo | None) -> Grid | None:
    """The grid the existing partitions' [lower, upper) ranges follow.

    Candidates are the six named intervals' calendar periods, and every
    interval one of the three newest ranges is exactly one period of,
    counted from that range's lower bound (:func:`pgpart.core.grid.candidates`).
    Each range that is exactly one period of a candidate votes for it with
    the weight of its rank (the oldest weighs 1, the newest ``len(ranges)``),
    so recent partitions outvote a few old ones of another width (an archive
    of yearly partitions followed by monthly ones reads as monthly). Ties go
    to the candidate matching the newest range, then to a grid counted from
    the bounds: the existing partitions, not a truncation rule, say where
    periods start (the two differ only where date_trunc does, e.g. hourly
    across Lord_Howe's 30-minute DST change, where PostgreSQL's and
    pg_partman's ``+ interval '1 hour'`` is an elapsed hour). A grid counted
    from existing bounds must be followed by at least two ranges (or the only
    one) and by more than half of them: a single odd partition does not make
    an interval. None when nothing qualifies.
    """
    options: list[Grid] = []
    # Origins: the three newest lower bounds, and the one latest in its month.
    # Month arithmetic clamps (Jan 31 + 5 months = Jun 30): counted from a
    # clamped bound, the grid would miss the 31sts the real origin gives.
    anchors = list(reversed(ranges[-3:]))
    if ranges:
        latest = max(ranges, key=lambda r: (wall_clock(r[0], tz).day, r[0]))
        if latest not in anchors:
            anchors.append(latest)
    for lower, upper in anchors:
        options += [Grid(i, lower) for i in _grid.candidates(lower, upper, tz)]
    options += [Grid(i) for i in Interval]
    best: tuple[int, int] = (0, 0)
    winner: Grid | None = None
    for option in options:
        nominal = option.interval.nominal
        # Cheap pre-filter: one period is within half its nominal width of
        # it, give or take a DST hour or (months, quarters, years) the days
        # by which calendar months differ.
        slack = nominal / 2 + min(nominal, timedelta(days=2))
        fits = [
            rank
            for rank, (lower, upper) in enumerate(ranges, start=1)
            if abs(upper - lower - nominal) <= slack and _fits(lower, upper, option, tz)
        ]
        if option.origin is not None and (
            len(fits) < min(2, len(ranges)) or 2 * len(fits) <= len(ranges)
        ):
            continue
        key = (sum(fits), max(fits, default=0))
        if key > best:
            best, winner = key, option
    return winner


def infer_interval(
    ranges: Sequence[tuple[datetime, datetime]], tz: ZoneInfo | None
) -> Interval | None:
    """The interval of :func:`infer_grid`."""
    found = infer_grid(ranges, tz)
    return found.interval if found else None
