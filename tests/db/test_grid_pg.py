"""Any interval (unit x count) in any zone: pgpart's boundaries are the server's.

The server is the oracle: with ``TimeZone`` set to the zone, boundary ``k`` of
a grid is ``origin + k * interval`` (timestamptz), or the same on a timestamp
(naive wall clock). pgpart must list exactly those boundaries (coinciding
ones once), and infer the interval and origin back from the ranges between
them, then continue them exactly.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from pgpart.core.calendar import Grid, Interval, Unit, infer_grid, periods, shift

UTC = timezone.utc
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",  # DST began at midnight: no midnight
    "America/Havana",  # midnight twice
    "America/St_Johns",
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Pacific/Apia",  # skipped 2011-12-30
]
# Counts per unit. Hours that are whole days are left out of the inference
# test: ranges of 24 elapsed hours and of one calendar day are the same until a
# DST change falls inside one, and which one a DST change shows is the test
# above's business.
COUNTS = {
    Unit.MINUTE: st.integers(1, 720),
    Unit.HOUR: st.integers(1, 60),
    Unit.DAY: st.integers(1, 40),
    Unit.WEEK: st.integers(1, 12),
    Unit.MONTH: st.integers(1, 30),
    Unit.YEAR: st.integers(1, 4),
}


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    unit = draw(st.sampled_from(list(Unit)))
    return Interval(draw(COUNTS[unit]), unit)


@st.composite
def origins(draw: st.DrawFn, tz: ZoneInfo | None) -> datetime:
    """A whole-minute wall-clock time, often a local midnight or the 31st."""
    day = draw(
        st.dates(min_value=datetime(1995, 1, 1).date(), max_value=datetime(2035, 1, 1).date())
    )
    if draw(st.booleans()):
        last = monthrange(day.year, day.month)[1]
        day = day.replace(day=min(draw(st.sampled_from([1, 28, 29, 30, 31])), last))
    minute = draw(st.sampled_from([0, 0, 0, 90, 150, 600, 1439, draw(st.integers(0, 1439))]))
    wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    if tz is None:
        return wall
    # The origin is an existing bound: an instant; read the wall time as PostgreSQL would.
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return max(first, second)


def _server(
    conn: psycopg.Connection[Any],
    zone: str,
    origin: datetime,
    interval: Interval,
    ks: range,
    naive: bool,
) -> list[datetime]:
    kind = sql.SQL("timestamp" if naive else "timestamptz")
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL TimeZone = {}").format(sql.Literal(zone)))
        rows = conn.execute(
            sql.SQL(
                "SELECT %s::{} + k * %s::interval FROM generate_series(%s::int, %s::int) k"
                " ORDER BY k"
            ).format(kind),
            (origin, interval.pg_text, ks.start, ks.stop - 1),
        ).fetchall()
    values = [r[0] if naive else r[0].astimezone(UTC) for r in rows]
    return sorted(set(values))


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(data=st.data(), interval=intervals(), zone=st.sampled_from([*ZONES, None]))
def test_boundaries_are_the_servers(
    pg_conn: psycopg.Connection[Any], data: st.DataObject, interval: Interval, zone: str | None
) -> None:
    tz = ZoneInfo(zone) if zone else None
    origin = data.draw(origins(tz))
    expected = _server(pg_conn, zone or "UTC", origin, interval, range(-6, 25), tz is None)
    grid = Grid(interval, origin)
    listed = periods(expected[0], expected[-1], grid, tz)
    ours = [lo for lo, _ in listed] + [listed[-1][1]]
    assert ours == expected, (interval, zone, origin)
    assert shift(origin, grid, 5, tz) == expected[expected.index(origin) + 5]


@SETTINGS
@given(
    data=st.data(),
    interval=intervals().filter(lambda i: not (i.unit.elapsed and i.count % 24 == 0)),
    zone=st.sampled_from([*ZONES, None]),
    count=st.integers(2, 8),
)
def test_inferred_from_the_servers_bounds_and_continued(
    pg_conn: psycopg.Connection[Any],
    data: st.DataObject,
    interval: Interval,
    zone: str | None,
    count: int,
) -> None:
    tz = ZoneInfo(zone) if zone else None
    origin = data.draw(origins(tz))
    bounds = _server(pg_conn, zone or "UTC", origin, interval, range(0, count + 1 + 6), tz is None)
    existing, following = bounds[: count + 1], bounds[count:]
    ranges = list(pairwise(existing))
    found = infer_grid(ranges, tz)
    assert found is not None, (interval, zone, ranges)
    # The grid found reproduces the existing bounds exactly...
    assert periods(existing[0], existing[-1], found, tz) == ranges, (found, zone)
    if found.interval != interval:
        # ...which a few bounds allow for two intervals (Jul 1 + 31 days is
        # Aug 1 + 1 month, 1 day is 24 hours in UTC): then the guess is the
        # longer unit, and more bounds tell them apart.
        assert found.interval.nominal >= interval.nominal * 0.9 or interval.unit.elapsed
        return
    continued = [lo for lo, _ in periods(following[0], following[-1], found, tz)]
    assert [*continued, following[-1]] == following


def test_across_apias_vanished_day(pg_conn: psycopg.Connection[Any]) -> None:
    """Deterministically, what the random origins above rarely reach."""
    apia = ZoneInfo("Pacific/Apia")
    origin = datetime(2011, 12, 20, tzinfo=apia).astimezone(UTC)
    for interval in (
        Interval.DAILY,
        Interval(2, Unit.DAY),
        Interval(7, Unit.HOUR),
        Interval.MONTHLY,
        Interval(30, Unit.MINUTE),
    ):
        expected = _server(pg_conn, "Pacific/Apia", origin, interval, range(-40, 40), False)
        grid = Grid(interval, origin)
        listed = periods(expected[0], expected[-1], grid, apia)
        assert [*(lo for lo, _ in listed), listed[-1][1]] == expected, interval
        for n in (1, 3, 12, -3, -12):
            i = expected.index(origin) + 10
            assert shift(expected[i], grid, n, apia) == expected[i + n], (interval, n)
