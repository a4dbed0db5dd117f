from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgpart.core.calendar import (
    Interval,
    align,
    infer_grid,
    infer_interval,
    is_aligned,
    parse_interval,
    periods,
    shift,
    wall_clock,
)

UTC = timezone.utc
H, D, M = Interval.HOURLY, Interval.DAILY, Interval.MONTHLY
W, Q, Y = Interval.WEEKLY, Interval.QUARTERLY, Interval.YEARLY
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
HAVANA = ZoneInfo("America/Havana")
APIA = ZoneInfo("Pacific/Apia")
KOLKATA = ZoneInfo("Asia/Kolkata")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=tz).astimezone(UTC)


# -- parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hourly", H),
        ("Hour", H),
        ("DAILY", D),
        ("day", D),
        (" weekly ", W),
        ("week", W),
        ("monthly", M),
        ("month", M),
        ("quarterly", Q),
        ("QUARTER", Q),
        ("yearly", Y),
        ("year", Y),
    ],
)
def test_parse_interval(text: str, expected: object) -> None:
    assert parse_interval(text) is expected


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("dialy", "daily"), ("montly", "monthly"), ("weak", "weekly"), ("annual", None)],
)
def test_parse_interval_rejects_with_suggestion(text: str, suggestion: str | None) -> None:
    with pytest.raises(ValueError, match="unknown interval") as info:
        parse_interval(text)
    if suggestion:
        assert f"did you mean {suggestion!r}" in str(info.value)
    else:
        assert "did you mean" not in str(info.value)


def test_interval_properties() -> None:
    assert [i.pg_unit for i in Interval] == ["hour", "day", "week", "month", "quarter", "year"]
    assert sorted(Interval, key=lambda i: i.nominal) == list(Interval)
    assert parse_interval("monthly") is M
    assert M.nominal == timedelta(days=30)
    assert [i.value for i in Interval] == [
        "hourly",
        "daily",
        "weekly",
        "monthly",
        "quarterly",
        "yearly",
    ]


# -- naive (timestamp / date keys) ----------------------------------------------


@pytest.mark.parametrize(
    ("moment", "interval", "start"),
    [
        (datetime(2026, 11, 22, 5, 59, 59, 999999), H, datetime(2026, 11, 22, 5)),
        (datetime(2026, 11, 22, 23, 59), D, datetime(2026, 11, 22)),
        (datetime(2026, 11, 22), W, datetime(2026, 11, 16)),  # Sunday -> Monday before
        (datetime(2026, 11, 23), W, datetime(2026, 11, 23)),  # Monday
        (datetime(2026, 1, 1), W, datetime(2025, 12, 29)),  # ISO week 1 of 2026
        (datetime(2027, 1, 3), W, datetime(2026, 12, 28)),  # ISO week 53 of 2026
        (datetime(2024, 1, 31, 12), M, datetime(2024, 1, 1)),
        (datetime(2024, 2, 29, 23), M, datetime(2024, 2, 1)),
        (datetime(2026, 11, 22), Q, datetime(2026, 10, 1)),
        (datetime(2026, 3, 31, 23), Q, datetime(2026, 1, 1)),
        (datetime(2026, 4, 1), Q, datetime(2026, 4, 1)),
        (datetime(2026, 12, 31, 23), Y, datetime(2026, 1, 1)),
    ],
)
def test_align_naive(moment: datetime, interval: Interval, start: datetime) -> None:
    assert align(moment, interval, None) == start
    assert is_aligned(start, interval, None)


@pytest.mark.parametrize(
    ("start", "interval", "n", "expected"),
    [
        (datetime(2024, 1, 1), M, 1, datetime(2024, 2, 1)),
        (datetime(2024, 1, 31), M, 1, datetime(2024, 2, 1)),  # aligned down first
        (datetime(2024, 12, 1), M, 1, datetime(2025, 1, 1)),
        (datetime(2025, 1, 1), M, -1, datetime(2024, 12, 1)),
        (datetime(2026, 11, 1), M, -23, datetime(2024, 12, 1)),
        (datetime(2026, 11, 1), M, 0, datetime(2026, 11, 1)),
        (datetime(2024, 2, 28), D, 1, datetime(2024, 2, 29)),
        (datetime(2100, 2, 28), D, 1, datetime(2100, 3, 1)),  # 2100 is not a leap year
        (datetime(2000, 2, 28), D, 1, datetime(2000, 2, 29)),  # 2000 is
        (datetime(2026, 12, 28), W, 1, datetime(2027, 1, 4)),
        (datetime(2026, 10, 1), Q, 1, datetime(2027, 1, 1)),
        (datetime(2026, 1, 1), Q, -1, datetime(2025, 10, 1)),
        (datetime(2024, 1, 1), Y, 1, datetime(2025, 1, 1)),
        (datetime(2026, 11, 22, 23), H, 1, datetime(2026, 11, 23)),
        (datetime(2026, 11, 22, 0), H, -1, datetime(2026, 11, 21, 23)),
    ],
)
def test_shift_naive(start: datetime, interval: Interval, n: int, expected: object) -> None:
    assert shift(start, interval, n, None) == expected


def test_leap_years() -> None:
    feb = periods(datetime(2024, 2, 1), datetime(2024, 3, 1), D, None)
    assert len(feb) == 29 and feb[-1] == (datetime(2024, 2, 29), datetime(2024, 3, 1))
    assert len(periods(datetime(2100, 2, 1), datetime(2100, 3, 1), D, None)) == 28
    assert len(periods(datetime(2024, 1, 1), datetime(2025, 1, 1), D, None)) == 366


@pytest.mark.parametrize(("year", "weeks"), [(2020, 53), (2026, 53), (2025, 52), (2027, 52)])
def test_iso_week_53(year: int, weeks: int) -> None:
    first = align(datetime(year, 1, 4), W, None)  # Jan 4th is always in ISO week 1
    last = align(datetime(year, 12, 28), W, None)  # Dec 28th is always in the last week
    listed = periods(first, last + timedelta(days=1), W, None)
    assert len(listed) == weeks
    assert [a.isocalendar()[1] for a, _ in listed] == list(range(1, weeks + 1))
    assert all(a.weekday() == 0 for a, _ in listed)


def test_date_keys_are_naive_midnights() -> None:
    start = datetime.combine(date(2026, 3, 29), datetime.min.time())
    assert periods(start, start + timedelta(days=2), D, None) == [
        (datetime(2026, 3, 29), datetime(2026, 3, 30)),
        (datetime(2026, 3, 30), datetime(2026, 3, 31)),
    ]


def test_periods_overlapping_range() -> None:
    assert periods(datetime(2026, 1, 15), datetime(2026, 3, 1), M, None) == [
        (datetime(2026, 1, 1), datetime(2026, 2, 1)),
        (datetime(2026, 2, 1), datetime(2026, 3, 1)),
    ]
    assert periods(datetime(2026, 1, 15), datetime(2026, 3, 1, 0, 0, 1), M, None)[-1] == (
        datetime(2026, 3, 1),
        datetime(2026, 4, 1),
    )
    assert periods(datetime(2026, 3, 1), datetime(2026, 3, 1), M, None) == []
    assert periods(datetime(2026, 3, 2), datetime(2026, 3, 1), M, None) == []


# -- time zones -------------------------------------------------------------------


def test_results_are_utc_whatever_the_input_offset() -> None:
    moment = datetime(2026, 7, 1, 12, tzinfo=timezone(timedelta(hours=-7)))
    start = align(moment, D, BERLIN)
    assert start.tzinfo is UTC and start == utc(2026, 6, 30, 22)
    assert shift(start, D, 1, BERLIN).tzinfo is UTC
    assert all(a.tzinfo is UTC and b.tzinfo is UTC for a, b in periods(start, moment, H, BERLIN))


def test_kind_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        align(datetime(2026, 1, 1), D, BERLIN)
    with pytest.raises(ValueError, match="naive"):
        align(utc(2026, 1, 1), D, None)


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (BERLIN, date(2026, 3, 29), 23),
        (BERLIN, date(2026, 10, 25), 25),
        (BERLIN, date(2026, 10, 26), 24),
        (NEW_YORK, date(2026, 3, 8), 23),
        (NEW_YORK, date(2026, 11, 1), 25),
        (LORD_HOWE, date(2026, 4, 5), 24.5),  # clocks go back 30 minutes
        (LORD_HOWE, date(2026, 10, 4), 23.5),
        (SAO_PAULO, date(2018, 11, 4), 23),  # midnight did not exist
        (HAVANA, date(2020, 10, 31), 25),  # ends at the second midnight of Nov 1st
        (HAVANA, date(2020, 11, 1), 24),
        (HAVANA, date(2021, 3, 14), 23),
    ],
)
def test_dst_day_lengths(tz: ZoneInfo | None, day: date, hours: float) -> None:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=tz)
    ((lower, upper),) = periods(noon, noon + timedelta(seconds=1), D, tz)
    assert upper - lower == timedelta(hours=hours)
    assert wall_clock(noon, tz).date() == day


@pytest.mark.parametrize(
    ("moment", "interval", "tz", "start"),
    [
        # date_trunc('month', '2026-03-29 01:30+00', 'Europe/Berlin')
        (utc(2026, 3, 29, 1, 30), M, BERLIN, utc(2026, 2, 28, 23)),
        (utc(2026, 3, 29, 1, 30), D, BERLIN, utc(2026, 3, 28, 23)),
        (utc(2026, 3, 30, 1, 30), D, BERLIN, utc(2026, 3, 29, 22)),
        (utc(2026, 1, 1, 0, 30), W, BERLIN, utc(2025, 12, 28, 23)),
        (utc(2026, 11, 22, 12), Q, BERLIN, utc(2026, 9, 30, 22)),
        (utc(2026, 11, 22, 12), Y, NEW_YORK, utc(2026, 1, 1, 5)),
        # America/Sao_Paulo 2018-11-04 had no midnight: the day starts at 01:00 -02
        (utc(2018, 11, 4, 12), D, SAO_PAULO, utc(2018, 11, 4, 3)),
        (utc(2018, 11, 4, 2, 59), D, SAO_PAULO, utc(2018, 11, 3, 3)),
        # America/Havana 2020-11-01 had midnight twice: the day starts at the second.
        # PostgreSQL's date_trunc gives 05:00 for 04:30 too, later than its input.
        (utc(2020, 11, 1, 4, 30), D, HAVANA, utc(2020, 10, 31, 4)),
        (utc(2020, 11, 1, 5, 0), D, HAVANA, utc(2020, 11, 1, 5)),
        (utc(2020, 11, 1, 4, 30), M, HAVANA, utc(2020, 10, 1, 4)),
        (utc(2020, 11, 1, 5, 30), M, HAVANA, utc(2020, 11, 1, 5)),
        # hourly: one absolute hour each, the repeated hour twice
        (utc(2026, 11, 1, 5, 30), H, NEW_YORK, utc(2026, 11, 1, 5)),
        (utc(2026, 11, 1, 6, 30), H, NEW_YORK, utc(2026, 11, 1, 6)),
        (utc(2026, 7, 1, 12, 10), H, KOLKATA, utc(2026, 7, 1, 11, 30)),
    ],
)
def test_align_in_zone(
    moment: datetime, interval: Interval, tz: ZoneInfo | None, start: datetime
) -> None:
    assert align(moment, interval, tz) == start
    assert is_aligned(start, interval, tz)
    assert start <= moment < shift(start, interval, 1, tz)


def test_repeated_hour_gives_two_periods() -> None:
    listed = periods(local(NEW_YORK, 2026, 11, 1, 0), local(NEW_YORK, 2026, 11, 1, 3), H, NEW_YORK)
    walls = [wall_clock(a, NEW_YORK) for a, _ in listed]
    assert [(w.hour, w.fold) for w in walls] == [(0, 0), (1, 0), (1, 1), (2, 0)]
    assert all(b - a == timedelta(hours=1) for a, b in listed)


def test_skipped_hour_is_not_a_period() -> None:
    listed = periods(local(BERLIN, 2026, 3, 29, 0), local(BERLIN, 2026, 3, 29, 4), H, BERLIN)
    assert [wall_clock(a, BERLIN).hour for a, _ in listed] == [0, 1, 3]


def test_lord_howe_hourly_periods_follow_the_wall_clock() -> None:
    # Clocks go back from 02:00 (+11) to 01:30 (+10:30) on 2026-04-05, at 15:00 UTC
    # on the 4th: the wall clock reads 01:00 at 14:00 UTC and 02:00 next at 15:30.
    listed = periods(utc(2026, 4, 4, 13), utc(2026, 4, 4, 16), H, LORD_HOWE)
    assert listed == [
        (utc(2026, 4, 4, 13), utc(2026, 4, 4, 14)),
        (utc(2026, 4, 4, 14), utc(2026, 4, 4, 15, 30)),
        (utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 16, 30)),
    ]
    assert [wall_clock(a, LORD_HOWE).hour for a, _ in listed] == [0, 1, 2]
    # Clocks go forward from 02:00 (+10:30) to 02:30 (+11) on 2026-10-04, at 15:30
    # UTC on the 3rd: 01:00 at 14:30 UTC, 03:00 next at 16:00.
    listed = periods(utc(2026, 10, 3, 14, 30), utc(2026, 10, 3, 16, 30), H, LORD_HOWE)
    assert listed == [
        (utc(2026, 10, 3, 14, 30), utc(2026, 10, 3, 16)),
        (utc(2026, 10, 3, 16), utc(2026, 10, 3, 17)),
    ]
    assert [wall_clock(a, LORD_HOWE).hour for a, _ in listed] == [1, 3]
    assert shift(utc(2026, 10, 3, 16), H, -1, LORD_HOWE) == utc(2026, 10, 3, 14, 30)


def test_skipped_calendar_day_is_not_a_period() -> None:
    # Pacific/Apia skipped 2011-12-30: 23:59:59 on the 29th (-10) was followed by
    # 00:00 on the 31st (+14), at 2011-12-30 10:00 UTC.
    day29, jump, jan1 = utc(2011, 12, 29, 10), utc(2011, 12, 30, 10), utc(2011, 12, 31, 10)
    assert periods(day29, jan1, D, APIA) == [(day29, jump), (jump, jan1)]
    assert shift(day29, D, 1, APIA) == jump
    assert shift(day29, D, 2, APIA) == jan1
    assert shift(jump, D, -1, APIA) == day29
    assert shift(jan1, D, -2, APIA) == day29
    assert wall_clock(jump, APIA) == datetime(2011, 12, 31)


def test_shift_from_a_resolved_gap_start_lands_on_the_next_boundary() -> None:
    # PostgreSQL's start + interval '1 day' would keep 01:00; the next day starts at 00:00.
    start = align(utc(2018, 11, 4, 12), D, SAO_PAULO)
    assert wall_clock(start, SAO_PAULO) == datetime(2018, 11, 4, 1)
    assert wall_clock(shift(start, D, 1, SAO_PAULO), SAO_PAULO) == datetime(2018, 11, 5)


def test_ambiguous_session_zone_datetimes_are_compared_as_instants() -> None:
    # psycopg returns timestamptz in the session zone; 01:00 on the fall-back day
    # is ambiguous there and, per PEP 495, never == a UTC datetime.
    first = datetime(2026, 11, 1, 1, tzinfo=NEW_YORK)  # EDT, 05:00 UTC
    assert first != utc(2026, 11, 1, 5)  # the pitfall this guards against
    assert is_aligned(first, H, NEW_YORK)
    ranges = [(datetime(2026, 11, 1, 0, tzinfo=NEW_YORK), first)]
    assert infer_interval(ranges, NEW_YORK) is H


# -- inference --------------------------------------------------------------------


def _ranges(
    start: datetime, interval: Interval, n: int, tz: ZoneInfo | None
) -> list[tuple[datetime, datetime]]:
    return [(a, b) for a, b in periods(start, shift(start, interval, n, tz), interval, tz)][:n]


@pytest.mark.parametrize("interval", list(Interval))
@pytest.mark.parametrize("tz", [None, BERLIN, NEW_YORK, LORD_HOWE])
def test_infer_interval_uniform(interval: Interval, tz: ZoneInfo | None) -> None:
    start = datetime(2025, 10, 20) if tz is None else local(tz, 2025, 10, 20)
    assert infer_interval(_ranges(start, interval, 8, tz), tz) is interval


def test_infer_interval_mixed_widths() -> None:
    yearly = [(datetime(2024, 1, 1), datetime(2025, 1, 1))]
    monthly = _ranges(datetime(2025, 1, 1), M, 3, None)
    assert infer_interval(yearly + monthly, None) is M
    # A few old monthly partitions, then daily ones: daily.
    old = _ranges(datetime(2025, 1, 1), M, 3, None)
    new = _ranges(datetime(2025, 4, 1), D, 3, None)
    assert infer_interval(old + new, None) is D
    # Recent partitions weigh more: four old monthly ones lose to three newer daily ones.
    old = _ranges(datetime(2025, 1, 1), M, 4, None)
    new = _ranges(datetime(2025, 5, 1), D, 3, None)
    assert infer_interval(old + new, None) is D
    # Tie on weight goes to the newest.
    assert infer_interval([*_ranges(datetime(2025, 1, 1), M, 1, None)], None) is M


def test_infer_interval_ignores_odd_ranges() -> None:
    odd = [(datetime(2020, 1, 1), datetime(2024, 3, 7))]
    daily = _ranges(datetime(2024, 3, 7), D, 5, None)
    catch_all = [(datetime(2024, 3, 12), datetime(2030, 1, 1))]
    assert infer_interval(odd + daily + catch_all, None) is D


def test_infer_interval_none() -> None:
    assert infer_interval([], None) is None
    # Two ranges of different widths, neither followed by the other.
    odd = [
        (datetime(2024, 1, 1), datetime(2024, 1, 3)),
        (datetime(2024, 1, 3, 5), datetime(2024, 1, 4)),
    ]
    assert infer_interval(odd, None) is None


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        # Off the calendar periods of the named intervals: counted from the bounds.
        ([(datetime(2024, 1, 1, 0, 30), datetime(2024, 1, 2, 0, 30))], "daily"),
        ([(datetime(2024, 1, 1), datetime(2024, 1, 3))], "2 days"),
        ([(datetime(2024, 1, 2), datetime(2024, 2, 2))], "monthly"),
    ],
)
def test_infer_grid_off_the_calendar(
    ranges: list[tuple[datetime, datetime]], expected: str
) -> None:
    found = infer_grid(ranges, None)
    assert found is not None
    assert found.interval.value == expected
    assert found.origin == ranges[-1][0]


def test_infer_interval_respects_the_zone() -> None:
    berlin_days = _ranges(local(BERLIN, 2026, 3, 27), D, 4, BERLIN)
    assert infer_interval(berlin_days, BERLIN) is D
    assert infer_interval(berlin_days, ZoneInfo("UTC")) is None


# -- properties -------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",  # negative DST in tzdata
    "America/New_York",
    "America/Sao_Paulo",
    "America/Havana",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Africa/Casablanca",
]
zones = st.sampled_from(ZONES).map(ZoneInfo)
intervals = st.sampled_from(list(Interval))
instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)
naive_instants = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))
tz_or_none = st.one_of(st.none(), zones)


@st.composite
def moment_in(draw: st.DrawFn, tz: ZoneInfo | None) -> datetime:
    return draw(naive_instants) if tz is None else draw(instants)


def _check_tiling(
    listed: list[tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
    interval: Interval,
    tz: ZoneInfo | None,
) -> None:
    assert listed, "a non-empty range overlaps at least one period"
    assert listed[0][0] <= start < listed[0][1]
    assert listed[-1][0] < end <= listed[-1][1]
    for (_, end_of_one), (start_of_next, _) in pairwise(listed):
        assert end_of_one == start_of_next  # contiguous, hence non-overlapping
    for a, b in listed:
        assert a < b
        assert is_aligned(a, interval, tz)
        assert shift(a, interval, 1, tz) == b
        assert align(b - timedelta(microseconds=1), interval, tz) == a


@settings(max_examples=300, deadline=None)
@given(data=st.data(), tz=tz_or_none, interval=intervals, count=st.integers(1, 40))
def test_periods_tile_the_range(
    data: st.DataObject, tz: ZoneInfo | None, interval: Interval, count: int
) -> None:
    start = data.draw(moment_in(tz))
    width = data.draw(st.floats(0.01, count))
    end = start + interval.nominal * width
    _check_tiling(periods(start, end, interval, tz), start, end, interval, tz)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), tz=tz_or_none, interval=intervals)
def test_align_contains_and_is_idempotent(
    data: st.DataObject, tz: ZoneInfo | None, interval: Interval
) -> None:
    moment = data.draw(moment_in(tz))
    start = align(moment, interval, tz)
    assert start <= moment < shift(start, interval, 1, tz)
    assert align(start, interval, tz) == start
    assert shift(start, interval, -1, tz) < start
    assert shift(moment, interval, 0, tz) == start


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    tz=tz_or_none,
    interval=intervals,
    a=st.integers(-60, 60),
    b=st.integers(-60, 60),
)
def test_shift_composes(
    data: st.DataObject, tz: ZoneInfo | None, interval: Interval, a: int, b: int
) -> None:
    start = align(data.draw(moment_in(tz)), interval, tz)
    stepped = shift(shift(start, interval, a, tz), interval, b, tz)
    assert stepped == shift(start, interval, a + b, tz)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), tz=zones, interval=intervals)
def test_calendar_periods_start_at_wall_clock_boundaries(
    data: st.DataObject, tz: ZoneInfo | None, interval: Interval
) -> None:
    start = align(data.draw(instants), interval, tz)
    wall = wall_clock(start, tz)
    if interval is Interval.HOURLY:
        assert (wall.minute, wall.second, wall.microsecond) == (0, 0, 0)
        return
    # The boundary itself, or the first wall time after it when it did not exist.
    boundary = align(wall.replace(fold=0), interval, None)
    assert boundary <= wall < boundary + timedelta(hours=25)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), tz=tz_or_none, interval=intervals)
def test_infer_interval_round_trip(
    data: st.DataObject, tz: ZoneInfo | None, interval: Interval
) -> None:
    start = align(data.draw(moment_in(tz)), interval, tz)
    count = data.draw(st.integers(1, 12))
    ranges = _ranges(start, interval, count, tz)
    assert infer_interval(ranges, tz) is interval
