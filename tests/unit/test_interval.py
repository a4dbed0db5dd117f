"""Intervals beyond the six names: parsing, canonical values, grids counted from bounds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pgpart.core.calendar import (
    Grid,
    Interval,
    Unit,
    align,
    infer_grid,
    parse_interval,
    periods,
    shift,
)
from pgpart.core.name_inference import infer_template
from pgpart.core.partition_names import default_template, render_name

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "count", "unit", "value"),
    [
        ("15 minutes", 15, Unit.MINUTE, "15 minutes"),
        ("15 min", 15, Unit.MINUTE, "15 minutes"),
        ("quarter-hour", 15, Unit.MINUTE, "15 minutes"),
        ("half-hour", 30, Unit.MINUTE, "30 minutes"),
        ("00:15:00", 15, Unit.MINUTE, "15 minutes"),
        ("60 minutes", 1, Unit.HOUR, "hourly"),
        ("90 mins", 90, Unit.MINUTE, "90 minutes"),
        ("7 hours", 7, Unit.HOUR, "7 hours"),
        ("07:00:00", 7, Unit.HOUR, "7 hours"),
        ("24 hours", 24, Unit.HOUR, "24 hours"),  # not a day: DST days last 23 or 25 hours
        ("1 day", 1, Unit.DAY, "daily"),
        ("3 days", 3, Unit.DAY, "3 days"),
        ("14 days", 2, Unit.WEEK, "2 weeks"),
        ("2 weeks", 2, Unit.WEEK, "2 weeks"),
        ("11 w", 11, Unit.WEEK, "11 weeks"),
        ("3 mons", 3, Unit.MONTH, "quarterly"),
        ("3 months", 3, Unit.MONTH, "quarterly"),
        ("6 months", 6, Unit.MONTH, "6 months"),
        ("12 months", 1, Unit.YEAR, "yearly"),
        ("2 Years", 2, Unit.YEAR, "2 years"),
    ],
)
def test_parse_any_whole_number_of_a_unit(text: str, count: int, unit: Unit, value: str) -> None:
    interval = parse_interval(text)
    assert (interval.count, interval.unit, interval.value) == (count, unit, value)
    assert parse_interval(interval.value) == interval  # what reports and init write reads back


def test_named_values_are_the_constants() -> None:
    assert parse_interval("1 day") is Interval.DAILY
    assert parse_interval("3 months") is Interval.QUARTERLY
    assert Interval(7, Unit.DAY) == Interval.WEEKLY
    assert Interval(60, Unit.MINUTE).canonical() is Interval.HOURLY
    assert {Interval.DAILY: 1}[Interval(1, Unit.DAY)] == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("15 m", "minutes or months"),
        ("30 seconds", "whole minutes or longer"),
        ("00:00:30", "whole minutes or longer"),
        ("0 days", "empty"),
        ("1 day 2 hours", "unknown interval"),
        ("fortnightly", "unknown interval"),
        ("200 years", "too long"),
    ],
)
def test_parse_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_interval(text)


def test_one_day_is_a_calendar_day_seven_hours_are_elapsed() -> None:
    # Berlin's clocks go forward on 2026-03-29.
    origin = datetime(2026, 3, 27, tzinfo=BERLIN).astimezone(UTC)
    days = periods(origin, origin + timedelta(days=4), Grid(Interval.DAILY, origin), BERLIN)
    assert [hi - lo for lo, hi in days][:3] == [timedelta(hours=h) for h in (24, 24, 23)]
    seven = Grid(Interval(7, Unit.HOUR), origin)
    hours = periods(origin, origin + timedelta(days=4), seven, BERLIN)
    assert {hi - lo for lo, hi in hours} == {timedelta(hours=7)}
    # 2026-03-27 00:00 + 49 hours is 01:00 on the 29th; 7 elapsed hours later
    # the clock, which skipped 02:00-03:00, reads 09:00.
    assert shift(origin, seven, 7, BERLIN).astimezone(BERLIN).hour == 1
    assert shift(origin, seven, 8, BERLIN).astimezone(BERLIN).hour == 9


def test_months_from_the_31st_do_not_drift() -> None:
    origin = datetime(2026, 1, 31)
    grid = Grid(Interval.MONTHLY, origin)
    starts = [lo for lo, _ in periods(origin, datetime(2026, 6, 1), grid, None)]
    assert starts == [
        datetime(2026, m, d) for m, d in ((1, 31), (2, 28), (3, 31), (4, 30), (5, 31))
    ]


def test_grid_origin_is_the_existing_bounds() -> None:
    # Weeks starting on Sunday, days starting at 06:00: not date_trunc's.
    sundays = [(datetime(2026, 11, d), datetime(2026, 11, d + 7)) for d in (1, 8, 15)]
    found = infer_grid(sundays, None)
    assert found == Grid(Interval.WEEKLY, datetime(2026, 11, 15))
    assert align(datetime(2026, 11, 25), found, None) == datetime(2026, 11, 22)
    six = [(datetime(2026, 11, d, 6), datetime(2026, 11, d + 1, 6)) for d in (1, 2, 3)]
    found = infer_grid(six, None)
    assert found is not None and found.interval is Interval.DAILY
    assert shift(datetime(2026, 11, 20, 3), found, 1, None) == datetime(2026, 11, 20, 6)


def test_standard_grid_without_partitions() -> None:
    assert align(datetime(2026, 11, 22, 10, 37), Interval(15, Unit.MINUTE), None) == datetime(
        2026, 11, 22, 10, 30
    )
    assert align(datetime(2026, 11, 22), Interval(2, Unit.WEEK), None).weekday() == 0
    assert align(datetime(2026, 11, 22), Interval(6, Unit.MONTH), None) == datetime(2026, 7, 1)


def test_irregular_bounds_are_not_an_interval() -> None:
    ranges = [
        (datetime(2026, 1, 1), datetime(2026, 1, 4)),
        (datetime(2026, 1, 4), datetime(2026, 1, 6, 5)),
        (datetime(2026, 1, 6, 5), datetime(2026, 1, 20)),
    ]
    assert infer_grid(ranges, None) is None


@pytest.mark.parametrize(
    ("interval", "start", "name"),
    [
        (Interval(15, Unit.MINUTE), datetime(2026, 11, 22, 10, 45), "events_2026_11_22_1045"),
        (Interval(7, Unit.HOUR), datetime(2026, 11, 22, 14), "events_2026_11_22_1400"),
        (Interval(3, Unit.DAY), datetime(2026, 11, 22), "events_2026_11_22"),
        (Interval(2, Unit.WEEK), datetime(2026, 11, 16), "events_2026_11_16"),
        (Interval(6, Unit.MONTH), datetime(2026, 7, 1), "events_2026_07"),
        (Interval(2, Unit.YEAR), datetime(2026, 1, 1), "events_2026"),
    ],
)
def test_default_names(interval: Interval, start: datetime, name: str) -> None:
    assert render_name(default_template(interval), "events", start, interval, None) == name


def test_sub_day_names_in_the_repeated_hour() -> None:
    quarter = Interval(15, Unit.MINUTE)
    first = datetime(2026, 11, 1, 5, 15, tzinfo=UTC)  # 01:15 EDT
    second = datetime(2026, 11, 1, 6, 15, tzinfo=UTC)  # 01:15 EST
    names = {
        render_name(default_template(quarter), "e", s, quarter, NEW_YORK) for s in (first, second)
    }
    assert names == {"e_2026_11_01_0115", "e_2026_11_01_0115b"}


@pytest.mark.parametrize(
    ("interval", "names", "template"),
    [
        (
            Interval(15, Unit.MINUTE),
            ["t_p2026_11_22_0000", "t_p2026_11_22_0015", "t_p2026_11_22_0030"],
            "{table}_p{start:%Y_%m_%d_%H%M}",
        ),
        (
            Interval(7, Unit.HOUR),
            ["t_p2026_11_22_000000", "t_p2026_11_22_070000", "t_p2026_11_22_140000"],
            "{table}_p{start:%Y_%m_%d_%H%M%S}",
        ),
        (
            Interval(11, Unit.WEEK),
            ["t_p2026_01", "t_p2026_03", "t_p2026_06"],
            "{table}_p{start:%Y_%m}",
        ),
    ],
)
def test_pg_partman_styles_of_custom_intervals(
    interval: Interval, names: list[str], template: str
) -> None:
    first = datetime(2026, 11, 22) if interval.unit.elapsed else datetime(2026, 1, 1)
    starts = [shift(first, Grid(interval, first), k, None) for k in range(3)]
    assert infer_template("t", list(zip(names, starts, strict=True)), interval, None) == template


def test_a_vanished_day_is_not_a_period() -> None:
    apia = ZoneInfo("Pacific/Apia")  # 2011-12-29 was followed by 2011-12-31
    origin = datetime(2011, 12, 20, tzinfo=apia).astimezone(UTC)
    for grid in (Grid(Interval.DAILY, origin), Grid(Interval(2, Unit.DAY), origin)):
        listed = periods(origin, origin + timedelta(days=20), grid, apia)
        assert all(lo < hi for lo, hi in listed)
        walls = [lo.astimezone(apia).date().isoformat() for lo, _ in listed]
        assert "2011-12-30" not in walls
        assert "2011-12-31" in walls or grid.interval.days == 2
    daily = Grid(Interval.DAILY, origin)
    dec29 = datetime(2011, 12, 29, tzinfo=apia).astimezone(UTC)
    assert shift(dec29, daily, 1, apia) == datetime(2011, 12, 31, tzinfo=apia).astimezone(UTC)
    assert shift(dec29, daily, 3, apia) == datetime(2012, 1, 2, tzinfo=apia).astimezone(UTC)
    assert shift(datetime(2012, 1, 2, tzinfo=apia), daily, -3, apia) == dec29
