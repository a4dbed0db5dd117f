"""pgpart.core.calendar against a real PostgreSQL, session TimeZone = the zone.

The server is asked with the session TimeZone set and the two-argument
date_trunc: the three-argument form and AT TIME ZONE look a zone name up as a
time-zone abbreviation first, so there 'CET' means a fixed +01:00, not the
zone file that ZoneInfo("CET") and SET TimeZone = 'CET' use.

Where PostgreSQL is self-consistent (date_trunc(m) <= m < date_trunc(m) + 1
unit, and that start is its own date_trunc), align must equal date_trunc
exactly; likewise shift(s, n) must equal s + n units whenever that sum is a
period start. Elsewhere (documented in pgpart/core/calendar.py) the module keeps
one grid; it is still checked against the server: every start it returns is
a date_trunc fixed point.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from pgpart.core.calendar import Interval, align, shift, wall_clock

UTC = timezone.utc
STEP = {
    Interval.HOURLY: "1 hour",
    Interval.DAILY: "1 day",
    Interval.WEEKLY: "7 days",
    Interval.MONTHLY: "1 month",
    Interval.QUARTERLY: "3 months",
    Interval.YEARLY: "1 year",
}
# Instants crowd around transitions, where the documented exceptions live, yet
# most comparisons must be exact: per zone, and per interval (and step).
MOSTLY, EVERY_KIND = 0.9, 0.5
ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",  # negative DST in tzdata
    "Europe/Moscow",  # 2011/2014 changes where both sides are "standard" time
    "CET",  # a zone file whose name is also an abbreviation
    "America/New_York",
    "America/Sao_Paulo",  # DST began at midnight: no midnight
    "America/Havana",  # DST ends at 01:00 -> 00:00: midnight twice
    "America/St_Johns",
    "America/Santiago",
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Pacific/Apia",  # skipped 2011-12-30
    "Africa/Casablanca",
]
OFFSETS_AROUND_TRANSITIONS = [
    timedelta(hours=h) for h in (-49, -25, -24, -23, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 23, 25)
] + [timedelta(microseconds=-1), timedelta(seconds=1)]


def _offset(moment: datetime, tz: ZoneInfo) -> timedelta | None:
    return moment.astimezone(tz).utcoffset()


def _transitions(tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    found = []
    day = timedelta(days=1)
    moment, before = start, _offset(start, tz)
    while moment < end:
        after = _offset(moment + day, tz)
        if after != before:
            lo, hi = moment, moment + day
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (lo, mid) if _offset(mid, tz) == after else (mid, hi)
            found.append(hi.replace(microsecond=0))
            before = after
        moment += day
    return found


def _instants(tz: ZoneInfo) -> list[datetime]:
    rnd = random.Random(str(tz))
    span = int(timedelta(days=365 * 90).total_seconds())
    instants = [
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=rnd.randrange(span))
        for _ in range(200)
    ]
    for moment in _transitions(
        tz, datetime(1995, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC)
    ):
        instants.extend(moment + delta for delta in OFFSETS_AROUND_TRANSITIONS)
    return instants


def _query(
    conn: psycopg.Connection[Any], zone: str, query: str, params: Sequence[Any] | dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Rows of ``query`` run with TimeZone = zone, timestamptz values in UTC."""
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL TimeZone = {}").format(sql.Literal(zone)))
        rows = conn.execute(query, params).fetchall()
    return [tuple(_utc(v) if isinstance(v, datetime) else v for v in row) for row in rows]


def _utc(moment: datetime) -> datetime:
    # psycopg returns timestamptz in the session zone, where datetimes compare by
    # wall time with fold ignored (PEP 495): compare instants instead.
    return moment.astimezone(UTC)


def test_examples(pg_conn: psycopg.Connection[Any]) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    ((month,),) = pg_conn.execute(
        "SELECT date_trunc('month', '2026-03-29 01:30+00'::timestamptz, 'Europe/Berlin')"
    ).fetchall()
    assert align(datetime(2026, 3, 29, 1, 30, tzinfo=UTC), Interval.MONTHLY, berlin) == month
    for day, hours in (("2026-03-28", 24), ("2026-03-29", 23)):
        ((day_after,),) = _query(
            pg_conn,
            "Europe/Berlin",
            "SELECT %s::timestamptz + interval '1 day'",
            (f"{day} 00:00",),
        )
        start = datetime.fromisoformat(day).replace(tzinfo=berlin)
        assert shift(start, Interval.DAILY, 1, berlin) == _utc(day_after)
        assert _utc(day_after) - start == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("zone", "wall", "interval"),
    [
        ("America/Sao_Paulo", "2018-11-04 00:00", Interval.DAILY),  # did not exist
        ("America/Havana", "2020-11-01 00:00", Interval.DAILY),  # happened twice
        ("America/Havana", "2020-11-01 00:00", Interval.MONTHLY),
        ("America/New_York", "2026-11-01 01:00", Interval.HOURLY),
        ("America/New_York", "2026-03-08 02:00", Interval.HOURLY),  # did not exist
    ],
)
def test_wall_clock_boundaries_resolve_like_postgresql(
    pg_conn: psycopg.Connection[Any], zone: str, wall: str, interval: Interval
) -> None:
    """A partition bound written as a local literal is the period start pgpart computes."""
    tz = ZoneInfo(zone)
    ((literal,),) = _query(pg_conn, zone, "SELECT %s::timestamptz", (wall,))
    start = align(_utc(literal), interval, tz)
    assert start == _utc(literal)
    naive = datetime.fromisoformat(wall)
    if interval is not Interval.HOURLY:
        assert wall_clock(start, tz) >= naive  # the boundary, or just after a gap


@pytest.mark.parametrize("zone", ZONES)
def test_align_matches_date_trunc(pg_conn: psycopg.Connection[Any], zone: str) -> None:
    tz = ZoneInfo(zone)
    instants = _instants(tz)
    total = exact = 0
    for interval in Interval:
        rows = _query(
            pg_conn,
            zone,
            """
            SELECT m, d, date_trunc(%(unit)s, d) = d, d + %(step)s::interval
            FROM (SELECT m, date_trunc(%(unit)s, m) AS d FROM unnest(%(ms)s::timestamptz[]) m) t
            """,
            {"unit": interval.pg_unit, "step": STEP[interval], "ms": instants},
        )
        consistent = 0
        for moment, trunc, fixed, following in rows:
            ours = align(moment, interval, tz)
            if fixed and trunc <= moment < following:
                assert ours == trunc, (zone, interval, moment)
                consistent += 1
            else:
                assert ours <= moment < shift(ours, interval, 1, tz)
        assert consistent >= EVERY_KIND * len(rows), (zone, interval, consistent, len(rows))
        total, exact = total + len(rows), exact + consistent
    assert exact >= MOSTLY * total, (zone, exact, total)


@pytest.mark.parametrize("zone", ZONES)
def test_shift_matches_interval_arithmetic(pg_conn: psycopg.Connection[Any], zone: str) -> None:
    tz = ZoneInfo(zone)
    instants = _instants(tz)
    total = exact = 0
    for interval in Interval:
        starts = sorted({align(m, interval, tz) for m in instants})
        for n in (1, -1, 2, -3, 12):
            ours = [shift(s, interval, n, tz) for s in starts]
            rows = _query(
                pg_conn,
                zone,
                """
                SELECT s, date_trunc(%(unit)s, s) = s,
                       s::timestamp = date_trunc(%(unit)s, s::timestamp),
                       p, date_trunc(%(unit)s, p) = p,
                       o, date_trunc(%(unit)s, o) = o
                FROM unnest(%(ss)s::timestamptz[], %(os)s::timestamptz[]) AS u(s, o),
                     LATERAL (SELECT s + %(n)s * %(step)s::interval AS p) AS q
                """,
                {
                    "unit": interval.pg_unit,
                    "step": STEP[interval],
                    "n": n,
                    "ss": starts,
                    "os": ours,
                },
            )
            compared = 0
            for start, start_fixed, on_boundary, pg_sum, sum_fixed, result, result_fixed in rows:
                assert start_fixed, (zone, interval, start)  # every start is date_trunc's
                assert result_fixed, (zone, interval, start, n)
                assert (result > start) == (n > 0)
                # start + n units is a period start, from a start on the wall-clock
                # boundary, with no calendar unit vanishing in between.
                jump = abs(_offset(start, tz) - _offset(pg_sum, tz))  # type: ignore[operator]
                if sum_fixed and on_boundary and pg_sum != start and jump < timedelta(hours=12):
                    assert result == pg_sum, (zone, interval, start, n)
                    compared += 1
            assert compared >= EVERY_KIND * len(rows), (zone, interval, n, compared, len(rows))
            total, exact = total + len(rows), exact + compared
    assert exact >= MOSTLY * total, (zone, exact, total)
