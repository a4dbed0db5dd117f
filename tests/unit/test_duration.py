"""Duration: parsing, canonical text, and PostgreSQL-like `ts +/- interval` arithmetic.

The DST and month-end expectations below were checked against PostgreSQL 15
(`SET TimeZone = ...; SELECT ts + interval ...`).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgpart.core.durations import Duration

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
HOUR_US = 3600 * 1_000_000


def _us(**kwargs: float) -> int:
    return int(timedelta(**kwargs) / timedelta(microseconds=1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90 days", Duration(days=90)),
        ("90d", Duration(days=90)),
        ("6 months", Duration(months=6)),
        ("6 mons", Duration(months=6)),
        ("1 month", Duration(months=1)),
        ("1 year", Duration(months=12)),
        ("2 years 3 months", Duration(months=27)),
        ("2 weeks", Duration(days=14)),
        ("12 hours", Duration(microseconds=_us(hours=12))),
        ("12h", Duration(microseconds=_us(hours=12))),
        ("30 minutes", Duration(microseconds=_us(minutes=30))),
        ("30min", Duration(microseconds=_us(minutes=30))),
        ("45s", Duration(microseconds=_us(seconds=45))),
        ("45 seconds", Duration(microseconds=_us(seconds=45))),
        ("500ms", Duration(microseconds=500_000)),
        ("500 milliseconds", Duration(microseconds=500_000)),
        ("250us", Duration(microseconds=250)),
        ("1.5s", Duration(microseconds=1_500_000)),
        (".5s", Duration(microseconds=500_000)),
        ("0", Duration()),
        ("0 days", Duration()),
        ("1 day 12 hours", Duration(days=1, microseconds=_us(hours=12))),
        ("1h30min", Duration(microseconds=_us(hours=1, minutes=30))),
        ("1 month 2 days 3h", Duration(months=1, days=2, microseconds=3 * HOUR_US)),
        # like PostgreSQL, a fraction of a day becomes time, of a year months
        ("1.5 days", Duration(days=1, microseconds=_us(hours=12))),
        ("1.5 years", Duration(months=18)),
        ("  90   DAYS ", Duration(days=90)),
        ("1H30MIN", Duration(microseconds=_us(hours=1, minutes=30))),
    ],
)
def test_parse_accepts(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("", ["empty duration"]),
        ("   ", ["empty duration"]),
        ("-5 days", ["negative"]),
        ("1 day -5 hours", ["negative"]),
        ("+5 days", ["signed"]),
        ("5 fortnights", ["unknown unit 'fortnights'", "accepted units:", "days", "months"]),
        ("90 dayz", ["unknown unit 'dayz'", "did you mean 'day'"]),
        ("90", ["has no unit", "'90 days'"]),
        ("1.5", ["has no unit"]),
        ("garbage", ["expected a number"]),
        ("1 day 12", ["the number 12 has no unit"]),
        ("5 days, 3h", ["expected a number at ', 3h'"]),
        ("1 day 2 days", ["days given more than once"]),
        # a bare m is minutes to PostgreSQL and months to many readers: refused
        ("6m", ["ambiguous (minutes or months?)", "'6min'", "'6mon'"]),
        ("6 M", ["ambiguous", "'6min'", "'6mon'"]),
        ("1h30m", ["ambiguous", "'30min'"]),
        ("1.3 years", ["whole number of months"]),
        ("0.5 months", ["whole number of months"]),
        ("1.0000001s", ["finer than a microsecond"]),
        ("99999999999 years", ["too large"]),
        ("9" * 60 + " days", ["too large"]),
    ],
)
def test_parse_rejects(text: str, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        Duration.parse(text)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(days=90), "90 days"),
        (Duration(days=1), "1 day"),
        (Duration(months=6), "6 months"),
        (Duration(months=1), "1 month"),
        (Duration(months=12), "1 year"),
        (Duration(months=24), "2 years"),
        (Duration(microseconds=500_000), "500ms"),
        (Duration(microseconds=_us(hours=1, minutes=30)), "1h30min"),
        (Duration(microseconds=_us(hours=36)), "36h"),
        (Duration(microseconds=1_500_000), "1.5s"),
        (Duration(microseconds=_us(hours=1, milliseconds=5)), "1h5ms"),
        (Duration(microseconds=7), "7us"),
        (Duration(months=1, days=2, microseconds=_us(hours=3)), "1 month 2 days 3h"),
        (Duration(), "0"),
    ],
)
def test_str_is_canonical(duration: Duration, text: str) -> None:
    assert str(duration) == text


durations = st.builds(
    Duration,
    months=st.one_of(st.integers(0, 1200), st.integers(0, 2**31 - 1)),
    days=st.one_of(st.integers(0, 100_000), st.integers(0, 2**31 - 1)),
    microseconds=st.one_of(st.integers(0, 10 * 86_400_000_000), st.integers(0, 2**63 - 1)),
)


@given(durations)
def test_str_round_trips(duration: Duration) -> None:
    assert Duration.parse(str(duration)) == duration


@given(durations, st.sampled_from([str.upper, str.lower, lambda t: f"  {t.replace(' ', '   ')} "]))
def test_parse_ignores_case_and_spacing(duration: Duration, mangle: Callable[[str], str]) -> None:
    assert Duration.parse(mangle(str(duration))) == duration


@pytest.mark.parametrize(
    ("duration", "literal"),
    [
        (Duration(months=6, days=3, microseconds=500_000), "6 mons 3 days 00:00:00.5"),
        (Duration(days=90), "90 days"),
        (Duration(microseconds=_us(hours=36, seconds=1)), "36:00:01"),
        (Duration(microseconds=1), "00:00:00.000001"),
        (Duration(), "00:00:00"),
    ],
)
def test_pg_literal(duration: Duration, literal: str) -> None:
    assert duration.pg_literal() == literal


def test_milliseconds_round_up_and_count_days() -> None:
    assert Duration.parse("500ms").milliseconds() == 500
    assert Duration.parse("1h").milliseconds() == 3_600_000
    assert Duration.parse("1 day").milliseconds() == 86_400_000
    # 0 would disable lock_timeout in PostgreSQL: never round down to it
    assert Duration(microseconds=1).milliseconds() == 1
    assert Duration(microseconds=1001).milliseconds() == 2
    assert Duration().milliseconds() == 0
    with pytest.raises(ValueError, match="no fixed length"):
        Duration(months=1).milliseconds()


def test_to_timedelta() -> None:
    assert Duration.parse("1 day 1.5s").to_timedelta() == timedelta(days=1, seconds=1.5)
    with pytest.raises(ValueError, match="no fixed length"):
        Duration.parse("1 month").to_timedelta()


def test_zero_and_bool() -> None:
    assert Duration().is_zero
    assert not Duration()
    assert Duration.parse("0").is_zero
    assert Duration(microseconds=1)
    assert not Duration(days=1).is_zero


@pytest.mark.parametrize("fields", [{"days": -1}, {"months": -3}, {"microseconds": -1}])
def test_negative_fields_rejected(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Duration(**fields)


def test_non_int_fields_rejected() -> None:
    with pytest.raises(TypeError):
        Duration(days=True)
    with pytest.raises(TypeError):
        Duration(days=1.5)  # type: ignore[arg-type]


# -- arithmetic ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text", "expected"),
    [
        (datetime(2024, 3, 31), "1 month", datetime(2024, 2, 29)),
        (datetime(2023, 3, 31), "1 month", datetime(2023, 2, 28)),
        (datetime(2024, 5, 31, 10, 30), "1 month", datetime(2024, 4, 30, 10, 30)),
        (datetime(2024, 3, 31), "1 year", datetime(2023, 3, 31)),
        (datetime(2024, 2, 29), "1 year", datetime(2023, 2, 28)),
        (datetime(2024, 1, 15), "6 months", datetime(2023, 7, 15)),
        (datetime(2024, 3, 1), "1 day", datetime(2024, 2, 29)),
        # months first, then days (PostgreSQL order): Mar 31 -> Feb 29 -> Feb 28
        (datetime(2024, 3, 31), "1 month 1 day", datetime(2024, 2, 28)),
        (
            datetime(2024, 3, 1, 0, 0, 0, 250_000),
            "500ms",
            datetime(2024, 2, 29, 23, 59, 59, 750_000),
        ),
    ],
)
def test_before_naive(moment: datetime, text: str, expected: datetime) -> None:
    result = Duration.parse(text).before(moment, None)
    assert result == expected
    assert result.tzinfo is None


def test_after_clamps_month_end() -> None:
    assert Duration(months=1).after(datetime(2024, 1, 31), None) == datetime(2024, 2, 29)
    assert Duration(months=1).after(datetime(2023, 1, 31), None) == datetime(2023, 2, 28)
    assert Duration(months=13).after(datetime(2024, 1, 31), None) == datetime(2025, 2, 28)


def test_naive_moment_ignores_tz() -> None:
    # a timestamp without time zone has no zone: plain wall-clock arithmetic
    moment = datetime(2018, 3, 10, 12, 0)
    assert Duration(days=1).after(moment, NEW_YORK) == datetime(2018, 3, 11, 12, 0)


def test_aware_days_follow_the_wall_clock() -> None:
    # 2018-03-10 12:00 EST + 1 day = 2018-03-11 12:00 EDT: only 23 hours later
    moment = datetime(2018, 3, 10, 17, 0, tzinfo=UTC)
    result = Duration(days=1).after(moment, NEW_YORK)
    assert result == datetime(2018, 3, 11, 16, 0, tzinfo=UTC)
    assert result.tzinfo is UTC
    assert Duration(microseconds=24 * HOUR_US).after(moment, NEW_YORK) == datetime(
        2018, 3, 11, 17, 0, tzinfo=UTC
    )


def test_aware_lands_in_gap_like_postgresql() -> None:
    # 02:30 EST + 1 day = 2018-03-11 02:30, which does not exist; PostgreSQL
    # reads it with the offset before the jump (-05): 07:30 UTC (03:30 EDT).
    moment = datetime(2018, 3, 10, 7, 30, tzinfo=UTC)
    assert Duration(days=1).after(moment, NEW_YORK) == datetime(2018, 3, 11, 7, 30, tzinfo=UTC)


def test_aware_lands_in_overlap_like_postgresql() -> None:
    # 01:30 EDT + 1 day = 2018-11-04 01:30, which happens twice; PostgreSQL
    # takes the offset after the change (-05): 06:30 UTC.
    moment = datetime(2018, 11, 3, 5, 30, tzinfo=UTC)
    assert Duration(days=1).after(moment, NEW_YORK) == datetime(2018, 11, 4, 6, 30, tzinfo=UTC)


def test_aware_any_offset_in_utc_out() -> None:
    paris = ZoneInfo("Europe/Paris")
    moment = datetime(2024, 3, 31, 12, 0, tzinfo=paris)  # CEST, 10:00 UTC
    result = Duration(months=1).before(moment, paris)
    assert result == datetime(2024, 2, 29, 11, 0, tzinfo=UTC)  # 12:00 CET
    assert result.tzinfo is UTC


def test_aware_without_tz_steps_in_utc() -> None:
    moment = datetime(2024, 3, 31, 23, 0, tzinfo=ZoneInfo("America/New_York"))
    # 2024-04-01 03:00 UTC - 1 month = 2024-03-01 03:00 UTC
    assert Duration(months=1).before(moment, None) == datetime(2024, 3, 1, 3, 0, tzinfo=UTC)


def test_zero_days_do_not_touch_an_ambiguous_moment() -> None:
    # PostgreSQL skips the local-time round trip for a zero part; so must we,
    # or the first 01:30 of 2018-11-04 (EDT) would move to the second (EST).
    first = datetime(2018, 11, 4, 5, 30, tzinfo=UTC)
    assert Duration(microseconds=0).after(first, NEW_YORK) == first
    assert Duration().before(first, NEW_YORK) == first


def test_out_of_range_is_value_error() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Duration(months=12).before(datetime(1, 6, 1), None)
    with pytest.raises(ValueError, match="out of range"):
        Duration(days=10).after(datetime(9999, 12, 30, tzinfo=UTC), NEW_YORK)


naive_moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31))


@given(naive_moments, st.integers(0, 1200))
def test_month_steps_clamp_like_postgresql(moment: datetime, months: int) -> None:
    result = Duration(months=months).before(moment, None)
    index = moment.year * 12 + moment.month - 1 - months
    year, month0 = divmod(index, 12)
    assert (result.year, result.month) == (year, month0 + 1)
    last_day = calendar.monthrange(result.year, result.month)[1]
    assert result.day == min(moment.day, last_day)
    assert result.time() == moment.time()


@given(naive_moments, st.integers(0, 20_000), st.integers(0, 10**12))
def test_days_and_time_are_exact_inverses_on_naive(moment: datetime, days: int, us: int) -> None:
    duration = Duration(days=days, microseconds=us)
    assert duration.after(duration.before(moment, None), None) == moment
    assert duration.before(moment, None) == moment - duration.to_timedelta()


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(0, 10**13),
    st.sampled_from(["America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"]),
)
def test_microseconds_are_absolute(moment: datetime, us: int, zone: str) -> None:
    result = Duration(microseconds=us).after(moment, ZoneInfo(zone))
    assert result == moment + timedelta(microseconds=us)
    assert result.tzinfo is UTC
