"""The time axis of ``check --timeline``: which stretch of time each column
of a bar stands for, and what state each column of one table is in.

Columns follow the tables' own calendar in their zone: a column is one
period of the interval (a day lasts 23 or 25 hours on a DST day), several
periods when they do not fit, or an equal share of one period when there
is room to spare. A column spanning more than one state shows the worst:
rows in the DEFAULT, then no partition, then past the retention cutoff,
then covered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from pgpart.core import calendar as cal
from pgpart.core.coverage import Segment, covered
from pgpart.core.plan import CoverageMap, Span
from pgpart.core.record import record

# Without a width (--wide), one column per period, up to this many columns.
MAX_WIDE_COLUMNS = 1000
# Calendar units tried, finest first, for a table whose interval is unknown.
_FALLBACK = (cal.Interval.HOURLY, cal.Interval.DAILY, cal.Interval.MONTHLY, cal.Interval.YEARLY)


class State(IntEnum):
    """A column's state for one table; the higher wins within a column."""

    OUTSIDE = 0  # before the first partition or past the horizon, and nothing there
    COVERED = 1
    EXPIRING = 2  # covered, before the retention cutoff
    MISSING = 3  # no partition where one should be (a gap, now, short of the horizon)
    DEFAULT = 4  # rows of this period sit in the DEFAULT partition


Column = tuple[datetime, datetime]


@record
class Scale:
    """The columns of one group of bars, and the labelled ticks above them."""

    interval: cal.Interval
    zone: ZoneInfo
    columns: tuple[Column, ...]
    ticks: tuple[tuple[int, datetime], ...]  # (column, the moment it starts at)
    tick_width: int  # columns between two ticks

    def column_of(self, moment: datetime) -> int | None:
        for i, (lo, hi) in enumerate(self.columns):
            if lo <= moment < hi:
                return i
        return None


def window(maps: Sequence[CoverageMap], now: datetime) -> tuple[datetime, datetime]:
    """[first bound, horizon) over the tables drawn on one scale, now included."""
    lows: list[datetime] = [now]
    highs: list[datetime] = [now]
    for m in maps:
        for p in m.covered:
            lows += [b for b in (p.lower, p.upper) if b is not None]
            highs += [b for b in (p.lower, p.upper) if b is not None]
        if m.horizon is not None:
            highs.append(m.horizon)
    return min(lows), max(highs)


def scale(maps: Sequence[CoverageMap], now: datetime, columns: int | None) -> Scale:
    """The columns for ``maps`` (tables of one interval and zone) in at most
    ``columns`` columns (None: one per period)."""
    zone = maps[0].zone
    lo, hi = window(maps, now)
    interval = maps[0].interval or _fallback(hi - lo, columns or MAX_WIDE_COLUMNS)
    start = cal.align(lo, interval, zone)
    end = cal.align(hi, interval, zone)
    if end < hi or end == start:
        end = cal.shift(end, interval, 1, zone)
    limit = columns or MAX_WIDE_COLUMNS
    estimate = max(1, round((end - start) / interval.nominal))
    per = max(1, math.ceil(estimate / limit))  # periods per column
    while True:
        cells = _cells(start, end, interval, zone, per)
        if len(cells) <= limit or per > estimate:
            break
        per += 1
    if per > 1 or columns is None:
        ticks = tuple((i, cell[0]) for i, cell in enumerate(cells))
        return Scale(interval, zone, tuple(cells), ticks, 1)
    share = max(1, limit // len(cells))  # columns per period
    split = [piece for cell in cells for piece in _split(*cell, share)]
    ticks = tuple((i * share, cell[0]) for i, cell in enumerate(cells))
    return Scale(interval, zone, tuple(split), ticks, share)


def _fallback(span: timedelta, columns: int) -> cal.Interval:
    for unit in _FALLBACK:
        if span / unit.nominal <= columns:
            return unit
    return _FALLBACK[-1]


def _cells(
    start: datetime, end: datetime, interval: cal.Interval, zone: ZoneInfo, per: int
) -> list[Column]:
    cells: list[Column] = []
    lower = start
    while lower < end:
        upper = cal.shift(lower, interval, per, zone)
        cells.append((lower, upper))
        lower = upper
    return cells


def _split(lo: datetime, hi: datetime, parts: int) -> list[Column]:
    step = (hi - lo) / parts
    edges = [lo + i * step for i in range(parts)] + [hi]
    return [(edges[i], edges[i + 1]) for i in range(parts)]


# --- one table's states ------------------------------------------------------------


def states(m: CoverageMap, s: Scale, now: datetime) -> list[State]:
    stretches = _segments(m.covered)
    expected = _expected(m, stretches, s, now)
    return [_state(m, stretches, expected, lo, hi) for lo, hi in s.columns]


def _segments(parts: Sequence[Span]) -> list[Segment]:
    """Spans merged into contiguous stretches (as pgpart.core.coverage does;
    the planner's are merged already, a hand-built record's need not be)."""
    out: list[Segment] = []
    for p in parts:
        last = out[-1][1] if out else None
        if out and last is None:
            break  # the previous stretch reaches MAXVALUE
        if last is not None and p.lower is not None and p.lower <= last:
            out[-1] = (out[-1][0], None if p.upper is None else max(last, p.upper))
        else:
            out.append((p.lower, p.upper))
    return out


def _expected(m: CoverageMap, stretches: Sequence[Segment], s: Scale, now: datetime) -> Segment:
    """Where partitions should be: from the first one (else the current period)
    to the horizon (or the last one)."""
    if stretches:
        lower = stretches[0][0]
        uppers = [b for _, b in stretches]
        upper = None if None in uppers else max(b for b in uppers if b is not None)
    else:
        lower = cal.align(now, s.interval, s.zone) if m.interval else now
        upper = now
    if m.horizon is not None and upper is not None:
        upper = max(upper, m.horizon)
    return lower, upper


def _state(
    m: CoverageMap, stretches: Sequence[Segment], expected: Segment, lo: datetime, hi: datetime
) -> State:
    if any(_meets(d.lower, d.upper, lo, hi) for d in m.default_periods):
        return State.DEFAULT
    e_lo, e_hi = expected
    a = lo if e_lo is None else max(lo, e_lo)
    b = hi if e_hi is None else min(hi, e_hi)
    if a < b and not covered(stretches, a, b):
        return State.MISSING
    touching = [(x, y) for x, y in stretches if _meets(x, y, lo, hi)]
    if not touching:
        return State.OUTSIDE
    cutoff = m.retention_cutoff
    if cutoff is None or cutoff <= lo:
        return State.COVERED
    end = min(hi, cutoff)
    return State.EXPIRING if any(_meets(x, y, lo, end) for x, y in touching) else State.COVERED


def _meets(x: datetime | None, y: datetime | None, lo: datetime, hi: datetime) -> bool:
    """Whether [x, y) (None: unbounded) overlaps [lo, hi)."""
    return (x is None or x < hi) and (y is None or lo < y)


def outside_defaults(m: CoverageMap, s: Scale) -> tuple[bool, bool]:
    """Whether DEFAULT rows lie before the first column, after the last."""
    first, last = s.columns[0][0], s.columns[-1][1]
    before = any(d.upper is not None and d.upper <= first for d in m.default_periods)
    after = any(d.lower is not None and d.lower >= last for d in m.default_periods)
    return before, after


def unbounded(m: CoverageMap) -> tuple[bool, bool]:
    """Whether a partition reaches MINVALUE, MAXVALUE."""
    return (
        any(p.lower is None for p in m.covered),
        any(p.upper is None for p in m.covered),
    )
