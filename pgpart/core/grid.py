"""Period boundaries laid out from an origin: ``origin + k * interval``, as PostgreSQL adds.

A :class:`Grid` is an interval and, optionally, the origin its boundaries are
counted from: the bounds the table already has (the lower bound of its newest
partition that follows the interval). Boundary ``k`` is exactly what
PostgreSQL computes for ``origin + k * interval`` with ``TimeZone`` set to the
table's zone (``timestamptz_pl_interval`` in src/backend/utils/adt/timestamp.c):

* months and years: the local date's month moves, the day is clamped to the
  month's length (Jan 31 + 1 month = Feb 28), the time of day stays;
* days and weeks: the local date moves, the time of day stays: ``'1 day'`` is
  a calendar day in the zone (23 or 25 hours across a DST change);
* minutes and hours: elapsed time: ``'7 hours'`` is seven hours whatever the
  clocks do;

and a local time that does not exist or exists twice resolves as PostgreSQL
resolves it (:func:`pgpart.core.localtime.resolve`). Counting from the origin
(``origin + k * interval``, not repeated ``+ interval``) keeps the grid from
drifting: Jan 31 + 2 months is Mar 31, not Mar 28. Where a whole calendar day
vanished (Pacific/Apia's 2011-12-30) two boundaries coincide; the period
between them is not a period.

A grid without an origin is the interval's standard grid: for the six named
intervals the calendar periods of :mod:`pgpart.core.calendar` (date_trunc), for
any other interval boundaries counted from :func:`standard_origin`.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pgpart.core.interval import MAX_NOMINAL, Interval, Unit
from pgpart.core.localtime import check_kind, offset, resolve, wall_clock
from pgpart.core.record import record

__all__ = ["Grid", "boundary", "candidates", "index", "standard_origin", "step"]

# Offsets differ by this much only across a date-line jump, where whole
# calendar days can vanish (Pacific/Apia 2011, Pacific/Kwajalein 1993).
_JUMP = timedelta(hours=12)


@record
class Grid:
    """An interval, and the boundary its periods are counted from (None: the
    interval's standard grid)."""

    interval: Interval
    origin: datetime | None = None

    def __str__(self) -> str:
        return self.interval.value


def standard_origin(interval: Interval, tz: ZoneInfo | None) -> datetime:
    """Where a table with no partitions starts counting a non-named interval:
    local midnight of 2000-01-01 (a Monday, 2000-01-03, for weeks), so that
    ``15 minutes`` falls on quarter hours, ``2 weeks`` on Mondays and
    ``6 months`` on January and July."""
    wall = datetime(2000, 1, 3) if interval.unit is Unit.WEEK else datetime(2000, 1, 1)
    return wall if tz is None else resolve(wall, tz)


def _add_months(wall: datetime, months: int) -> datetime:
    position = wall.year * 12 + wall.month - 1 + months
    year, month = divmod(position, 12)
    month += 1
    return wall.replace(year=year, month=month, day=min(wall.day, monthrange(year, month)[1]))


def _wall(interval: Interval, origin: datetime, k: int, tz: ZoneInfo | None) -> datetime:
    """The local time ``origin + k * interval`` names (days and longer)."""
    wall = wall_clock(origin, tz).replace(fold=0)
    if interval.days:
        return wall + timedelta(days=k * interval.days)
    return _add_months(wall, k * interval.months)


def boundary(interval: Interval, origin: datetime, k: int, tz: ZoneInfo | None) -> datetime:
    """``origin + k * interval`` as PostgreSQL computes it in ``tz``."""
    if interval.unit.elapsed:
        return origin + k * interval.elapsed
    wall = _wall(interval, origin, k, tz)
    return wall if tz is None else resolve(wall, tz)


def index(interval: Interval, origin: datetime, moment: datetime, tz: ZoneInfo | None) -> int:
    """The largest ``k`` whose boundary is at or before ``moment``."""
    moment = check_kind(moment, tz)
    if interval.unit.elapsed:
        return (moment - origin) // interval.elapsed
    first, wall = wall_clock(origin, tz), wall_clock(moment, tz)
    if interval.days:
        k = (wall - first).days // interval.days
    else:
        k = ((wall.year - first.year) * 12 + wall.month - first.month) // interval.months
    while boundary(interval, origin, k, tz) > moment:
        k -= 1
    while boundary(interval, origin, k + 1, tz) <= moment:
        k += 1
    return k


def step(
    interval: Interval, origin: datetime, k: int, n: int, tz: ZoneInfo | None
) -> tuple[int, datetime]:
    """The boundary ``n`` distinct boundaries after (before, for negative ``n``)
    boundary ``k``, and its index: boundaries that coincide count once."""
    current = boundary(interval, origin, k, tz)
    target = boundary(interval, origin, k + n, tz)
    # Boundaries coincide only where a calendar day vanished (a date-line jump
    # of the zone's offset): unless the offset jumps between the two, or the
    # target's own local time vanished, k + n is the answer.
    if (
        tz is None
        or interval.unit.elapsed
        or (
            abs(offset(current, tz) - offset(target, tz)) < _JUMP
            and wall_clock(target, tz) - _wall(interval, origin, k + n, tz) < _JUMP
        )
    ):
        return k + n, target
    direction = 1 if n > 0 else -1
    for _ in range(abs(n)):
        following = current
        while following == current:
            k += direction
            following = boundary(interval, origin, k, tz)
        current = following
    return k, current


def candidates(lower: datetime, upper: datetime, tz: ZoneInfo | None) -> list[Interval]:
    """The intervals for which ``[lower, upper)`` is one period counted from
    ``lower``: whole months, else whole days, else whole minutes (the order
    PostgreSQL's units nest in); empty when it is none of these."""
    lower, upper = check_kind(lower, tz), check_kind(upper, tz)
    if upper <= lower or upper - lower > MAX_NOMINAL * 1.1:
        return []
    low, high = wall_clock(lower, tz), wall_clock(upper, tz)
    found: list[Interval] = []
    months = (high.year - low.year) * 12 + high.month - low.month
    days = (high.date() - low.date()).days
    minutes, rest = divmod(upper - lower, timedelta(minutes=1))
    options = []
    if months >= 1:
        options.append(Interval(months, Unit.MONTH))
    if days >= 1:
        options.append(Interval(days, Unit.DAY))
    if minutes >= 1 and not rest:
        options.append(Interval(minutes, Unit.MINUTE))
    for interval in options:
        if interval.nominal <= MAX_NOMINAL and boundary(interval, lower, 1, tz) == upper:
            found.append(interval.canonical())
    return found
