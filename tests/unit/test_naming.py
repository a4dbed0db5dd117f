from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgpart.core.calendar import Interval, align, periods, shift
from pgpart.core.name_inference import infer_cut, infer_template
from pgpart.core.partition_names import (
    KNOWN_TEMPLATES,
    MAX_IDENTIFIER_BYTES,
    Cut,
    default_template,
    render_name,
    validate_template,
)

UTC = timezone.utc
H, D, M = Interval.HOURLY, Interval.DAILY, Interval.MONTHLY
W, Q, Y = Interval.WEEKLY, Interval.QUARTERLY, Interval.YEARLY
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HAVANA = ZoneInfo("America/Havana")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def nbytes(name: str) -> int:
    return len(name.encode("utf-8"))


def default_name(
    table: str,
    start: datetime,
    interval: Interval,
    tz: ZoneInfo | None = None,
    taken: Collection[str] = (),
) -> str:
    return render_name(default_template(interval), table, start, interval, tz, taken)


# -- default names (docs/configuration.md) ------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "start", "expected"),
    [
        (H, datetime(2026, 11, 22, 5), "events_2026_11_22_05"),
        (D, datetime(2026, 11, 22), "events_2026_11_22"),
        (W, datetime(2026, 11, 16), "events_2026_w47"),
        (W, datetime(2026, 12, 28), "events_2026_w53"),
        (W, datetime(2025, 12, 29), "events_2026_w01"),  # ISO week 1 of 2026 starts in 2025
        (W, datetime(2021, 1, 4), "events_2021_w01"),
        (W, datetime(2020, 12, 28), "events_2020_w53"),
        (M, datetime(2026, 11, 1), "events_2026_11"),
        (Q, datetime(2026, 10, 1), "events_2026_q4"),
        (Q, datetime(2026, 1, 1), "events_2026_q1"),
        (Y, datetime(2026, 1, 1), "events_2026"),
    ],
)
def test_default_names(interval: Interval, start: datetime, expected: object) -> None:
    assert default_name("events", start, interval) == expected


def test_names_use_the_wall_clock_of_the_zone() -> None:
    november_berlin = utc(2026, 10, 31, 23)
    assert default_name("events", november_berlin, M, BERLIN) == "events_2026_11"
    assert default_name("events", utc(2026, 3, 29, 1), H, BERLIN) == "events_2026_03_29_03"


@pytest.mark.parametrize(
    ("tz", "starts", "expected"),
    [
        (
            NEW_YORK,
            [utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), utc(2026, 11, 1, 7)],
            ["e_2026_11_01_00", "e_2026_11_01_01", "e_2026_11_01_01b", "e_2026_11_01_02"],
        ),
        (  # Cuba goes back from 01:00 to 00:00: midnight repeats
            HAVANA,
            [utc(2026, 11, 1, 3), utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)],
            ["e_2026_10_31_23", "e_2026_11_01_00", "e_2026_11_01_00b", "e_2026_11_01_01"],
        ),
    ],
)
def test_repeated_hour_names(tz: ZoneInfo | None, starts: list[datetime], expected: object) -> None:
    assert [default_name("e", s, H, tz) for s in starts] == expected


def test_second_midnight_of_a_day_is_not_marked() -> None:
    # The Havana day of 2026-11-01 starts at the second midnight; it is the only period
    # of that date, so its daily name has no mark.
    start = align(utc(2026, 11, 1, 12), D, HAVANA)
    assert start == utc(2026, 11, 1, 5)
    assert default_name("e", start, D, HAVANA) == "e_2026_11_01"


# -- templates --------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{table}_{start:%Y_%m}",
        "{table}_{start:%G_w%V}",
        "{table}_{isoyear}w{week}",
        "{table}_{isoyear}w{week:d}",
        "archive_{table}_{start:%Y}",
        "{start:%Y_%m}_{table}",
        "{table}_{start:%Y}q{quarter}",
        "x_{start:%Y%m%d}",
        "{table}_{{literal}}_{start:%Y}",
    ],
)
def test_valid_templates(template: str) -> None:
    validate_template(template)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("", "empty"),
        ("{tabel}_{start:%Y}", "unknown field {tabel}.*did you mean {table}"),
        ("{table}_{date:%Y}", "unknown field {date}"),
        ("{table}_{start.year}", "unknown field"),
        ("{table}_{0}", "unknown field"),
        ("{table}_{}", "positional"),
        ("{table}_{start:%Y", "unmatched"),
        ("{table}_{start:%Y}}", "Single '}'"),
        ("{table}_{start}", "needs a strftime format"),
        ("{table!r}_{start:%Y}", "conversion"),
        ("{table}_{start:{quarter}}", "nested"),
        ("{table}_{quarter:%Y}", "Invalid format specifier"),
        ("{table}", "does not depend on the period start"),
        ("{table}_{start:static}", "does not depend on the period start"),
        ("{table}\x00{start:%Y}", "NUL"),
    ],
)
def test_invalid_templates(template: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_template(template)


@pytest.mark.parametrize(
    ("template", "interval"),
    [
        ("{table}_{start:%Y_%m}", D),
        ("{table}_{start:%Y_%m_%d}", H),
        ("{table}_{start:%Y}_w{week}", W),  # the ISO year is needed around New Year
        ("{table}_{start:%Y}", Q),
        ("{table}_{start:%m}", M),
    ],
)
def test_template_too_coarse_for_the_interval(template: str, interval: Interval) -> None:
    validate_template(template)
    with pytest.raises(ValueError, match="the same name"):
        validate_template(template, interval)


@pytest.mark.parametrize("interval", list(Interval))
def test_known_templates(interval: Interval) -> None:
    templates = KNOWN_TEMPLATES[interval]
    assert templates[0] == default_template(interval)
    assert len(set(templates)) == len(templates)
    start = align(datetime(2026, 11, 22, 5), interval, None)
    names = {render_name(t, "events", start, interval, None) for t in templates}
    assert len(names) == len(templates)
    for template in templates:
        assert template.startswith("{table}_")
        validate_template(template, interval)


# -- length limit and collisions ----------------------------------------------------


def test_long_table_keeps_suffix_and_adds_hash() -> None:
    table = "a" * 63
    name = default_name(table, datetime(2026, 11, 1), M)
    assert nbytes(name) == MAX_IDENTIFIER_BYTES
    assert name.endswith("_2026_11")
    assert name.startswith("a" * 40)
    assert name == default_name(table, datetime(2026, 11, 1), M)  # deterministic


def test_long_tables_sharing_a_prefix_get_different_names() -> None:
    shared = "customer_events_archive_" * 3
    one = default_name(shared + "eu", datetime(2026, 11, 1), M)
    two = default_name(shared + "us", datetime(2026, 11, 1), M)
    assert one != two
    assert nbytes(one) <= 63 and nbytes(two) <= 63


def test_short_names_are_not_touched() -> None:
    table = "t" * (63 - len("_2026_11"))
    assert default_name(table, datetime(2026, 11, 1), M) == table + "_2026_11"


def test_multibyte_characters_are_never_cut() -> None:
    table = "ü" * 40  # 80 bytes
    name = default_name(table, datetime(2026, 11, 22, 5), H)
    assert nbytes(name) <= 63
    assert name.endswith("_2026_11_22_05")
    assert set(name.split("_")[0]) == {"ü"}
    name = default_name("日本語のテーブル" * 4, datetime(2026, 11, 22), D)
    assert nbytes(name) <= 63 and name.endswith("_2026_11_22")


def test_taken_names_get_a_counter() -> None:
    start = datetime(2026, 11, 1)
    assert default_name("events", start, M, taken={"events_2026_11"}) == "events_2026_11_1"
    taken = {"events_2026_11", "events_2026_11_1"}
    assert default_name("events", start, M, taken=taken) == "events_2026_11_2"
    long = "x" * 60
    first = default_name(long, start, M)
    second = default_name(long, start, M, taken=[first])
    assert second != first and nbytes(second) <= 63 and second.endswith("_2026_11_1")


def test_template_without_table_cannot_be_shortened() -> None:
    template = "{start:%Y_%m}_" + "x" * 60
    with pytest.raises(ValueError, match="no room"):
        render_name(template, "events", datetime(2026, 11, 1), M, None)


def test_invalid_template_is_rejected_when_rendering() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        render_name("{tbl}_{start:%Y}", "events", datetime(2026, 1, 1), Y, None)


# -- inference --------------------------------------------------------------------


def _named(
    pattern: str,
    table: str,
    interval: Interval,
    first: datetime,
    count: int,
    tz: ZoneInfo | None = None,
) -> list[tuple[str, datetime]]:
    """(name, lower) pairs named with a strftime/ISO pattern, as another tool would."""
    out = []
    start = first
    for _ in range(count):
        wall = start if tz is None else start.astimezone(tz)
        iso_year, iso_week, _ = wall.isocalendar()
        suffix = wall.strftime(pattern).replace("<Q>", str((wall.month - 1) // 3 + 1))
        suffix = suffix.replace("<IY>", str(iso_year)).replace("<IW>", f"{iso_week:02d}")
        out.append((f"{table}_{suffix}", start))
        start = shift(start, interval, 1, tz)
    return out


@pytest.mark.parametrize(
    ("interval", "pattern", "first", "expected"),
    [
        # pg_partman 4
        (M, "p%Y_%m", datetime(2026, 9, 1), "{table}_p{start:%Y_%m}"),
        (D, "p%Y_%m_%d", datetime(2026, 11, 20), "{table}_p{start:%Y_%m_%d}"),
        (W, "p<IY>w<IW>", datetime(2026, 12, 21), "{table}_p{isoyear}w{week}"),
        (Q, "p%Yq<Q>", datetime(2026, 7, 1), "{table}_p{start:%Y}q{quarter}"),
        (Y, "p%Y", datetime(2024, 1, 1), "{table}_p{start:%Y}"),
        (H, "p%Y_%m_%d_%H%M", datetime(2026, 11, 22, 22), "{table}_p{start:%Y_%m_%d_%H%M}"),
        # pg_partman 5: YYYYMMDD for a day or more, YYYYMMDD_HH24MISS below
        (D, "p%Y%m%d", datetime(2026, 11, 20), "{table}_p{start:%Y%m%d}"),
        (W, "p%Y%m%d", datetime(2026, 12, 21), "{table}_p{start:%Y%m%d}"),
        (M, "p%Y%m%d", datetime(2026, 9, 1), "{table}_p{start:%Y%m%d}"),
        (Q, "p%Y%m%d", datetime(2026, 7, 1), "{table}_p{start:%Y%m%d}"),
        (Y, "p%Y%m%d", datetime(2024, 1, 1), "{table}_p{start:%Y%m%d}"),
        (H, "p%Y%m%d_%H%M%S", datetime(2026, 11, 22, 22), "{table}_p{start:%Y%m%d_%H%M%S}"),
        # pgslice
        (D, "%Y%m%d", datetime(2026, 11, 20), "{table}_{start:%Y%m%d}"),
        (M, "%Y%m", datetime(2026, 9, 1), "{table}_{start:%Y%m}"),
        (Y, "%Y", datetime(2024, 1, 1), "{table}_{start:%Y}"),
        # hand-written
        (M, "%Y_%m", datetime(2026, 9, 1), "{table}_{start:%Y_%m}"),
        (D, "%Y_%m_%d", datetime(2026, 11, 20), "{table}_{start:%Y_%m_%d}"),
        (M, "y%Ym%m", datetime(2026, 9, 1), "{table}_y{start:%Y}m{start:%m}"),
        (W, "<IY>_w<IW>", datetime(2026, 12, 21), "{table}_{isoyear}_w{week}"),
        (Q, "%Y_q<Q>", datetime(2026, 7, 1), "{table}_{start:%Y}_q{quarter}"),
    ],
)
def test_infer_known_styles(
    interval: Interval, pattern: str, first: datetime, expected: object
) -> None:
    partitions = _named(pattern, "events", interval, first, 4)
    assert infer_template("events", partitions, interval, None) == expected


def test_infer_in_a_zone() -> None:
    first = datetime(2026, 10, 1, tzinfo=BERLIN).astimezone(UTC)
    partitions = _named("p%Y_%m", "events", M, first, 3, BERLIN)
    assert partitions[1][0] == "events_p2026_11"
    assert infer_template("events", partitions, M, BERLIN) == "{table}_p{start:%Y_%m}"
    # The same names read in UTC would claim the wrong months.
    assert infer_template("events", partitions, M, ZoneInfo("UTC")) is None


def test_infer_needs_a_majority() -> None:
    monthly = _named("%Y_%m", "events", M, datetime(2026, 1, 1), 2)
    odd = [("events_old", datetime(2026, 3, 1)), ("events_archive", datetime(2026, 4, 1))]
    assert infer_template("events", monthly + odd[:1], M, None) == "{table}_{start:%Y_%m}"
    assert infer_template("events", monthly + odd, M, None) is None
    assert infer_template("events", [], M, None) is None


def test_infer_ignores_order_of_input_and_other_tables_names() -> None:
    partitions = _named("p%Y_%m", "events", M, datetime(2026, 1, 1), 3)
    assert infer_template("events", partitions[::-1], M, None) == "{table}_p{start:%Y_%m}"
    assert infer_template("other", partitions, M, None) is None


def test_infer_partman_truncated_names() -> None:
    # pg_partman cuts the table name so that name + suffix is exactly 63 characters.
    table = "very_long_table_name_" * 3 + "x" * 10  # 73 characters
    suffix = "_p2026_11_22"
    name = table[: 63 - len(suffix)] + suffix
    partitions = [(name, datetime(2026, 11, 22))]
    assert infer_template(table, partitions, D, None) == "{table}_p{start:%Y_%m_%d}"
    # A short name that merely starts like the table is not a truncation.
    assert infer_template(table, [("very_p2026_11_22", datetime(2026, 11, 22))], D, None) is None


def _partman_cut(table: str, suffix: str) -> str:
    """pg_partman 4.7's check_name_length(table, suffix, true), in characters."""
    if len(table) + len(suffix) >= 61:
        return table[: 61 - len(suffix)] + "_p" + suffix
    return table + "_p" + suffix


@pytest.mark.parametrize("length", [40, 47, 48, 49, 50, 60, 63])
def test_partman_templates_cut_plainly_like_partman(length: int) -> None:
    table = ("time_taptest_table_" + "1234567890" * 7)[:length]
    template = "{table}_p{start:%Y_%m_%d}"
    name = render_name(template, table, datetime(2026, 12, 4), D, None)
    assert name == _partman_cut(table, "2026_12_04")
    assert len(name) <= 63


def test_plain_cut_continues_existing_truncated_names() -> None:
    table = "time_taptest_table_12345678901234567890123456789012345678901234"
    starts = [datetime(2026, 12, d) for d in (1, 2, 3)]
    existing = [(_partman_cut(table, f"{s:%Y_%m_%d}"), s) for s in starts]
    template = infer_template(table, existing, D, None)
    assert template == "{table}_p{start:%Y_%m_%d}"
    assert infer_cut(template, table, existing, D, None) is Cut.PLAIN
    following = render_name(template, table, datetime(2026, 12, 4), D, None, cut=Cut.PLAIN)
    assert following == "time_taptest_table_12345678901234567890123456789012_p2026_12_04"
    # A collision still never reuses a name: the table part gives way again.
    again = render_name(template, table, datetime(2026, 12, 4), D, None, {following}, Cut.PLAIN)
    assert again == "time_taptest_table_123456789012345678901234567890_p2026_12_04_1"


def test_hash_cut_continues_our_own_names_even_in_partman_style() -> None:
    table = "t" * 70
    template = "{table}_p{start:%Y_%m_%d}"
    starts = [datetime(2026, 12, d) for d in (1, 2)]
    ours = [(render_name(template, table, s, D, None, cut=Cut.HASH), s) for s in starts]
    assert infer_cut(template, table, ours, D, None) is Cut.HASH
    # No shortened name to go by: pg_partman's templates cut plainly, others hash.
    assert infer_cut(template, "short", [], D, None) is Cut.PLAIN
    assert infer_cut(default_template(D), "short", [], D, None) is Cut.HASH


def test_plain_cut_keeps_the_suffix_of_multibyte_names() -> None:
    table = "ä" * 60  # 120 bytes: pg_partman's character cut would still be too long
    name = render_name("{table}_p{start:%Y_%m}", table, datetime(2026, 12, 1), M, None)
    assert name.endswith("_p2026_12") and nbytes(name) <= 63
    assert name == "ä" * 27 + "_p2026_12"


def test_infer_own_shortened_names() -> None:
    table = "t" * 63
    starts = [datetime(2026, 11, d) for d in (20, 21, 22)]
    partitions = [(default_name(table, s, D), s) for s in starts]
    assert all(nbytes(n) <= 63 for n, _ in partitions)
    assert infer_template(table, partitions, D, None) == default_template(D)


def test_infer_repeated_hour() -> None:
    starts = [utc(2026, 11, 1, h) for h in (4, 5, 6, 7)]
    template = "{table}_p{start:%Y_%m_%d_%H%M}"
    partitions = [(render_name(template, "e", s, H, NEW_YORK), s) for s in starts]
    assert partitions[2][0] == "e_p2026_11_01_0100b"
    assert infer_template("e", partitions, H, NEW_YORK) == template


# -- properties -----------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "America/Havana", "Australia/Lord_Howe"]
tz_or_none = st.one_of(st.none(), st.sampled_from(ZONES).map(ZoneInfo))
intervals = st.sampled_from(list(Interval))
# Any character PostgreSQL accepts in a quoted identifier (no NUL, valid UTF-8).
identifier_chars = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
tables = st.one_of(
    st.text(identifier_chars, min_size=1, max_size=70),
    st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=70),
)


@st.composite
def starts(draw: st.DrawFn, tz: ZoneInfo | None, interval: Interval) -> datetime:
    moment = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
    if tz is not None:
        moment = moment.replace(tzinfo=UTC)
    return align(moment, interval, tz)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), table=tables, tz=tz_or_none, interval=intervals)
def test_names_fit_in_63_bytes(
    data: st.DataObject, table: str, tz: ZoneInfo | None, interval: Interval
) -> None:
    start = data.draw(starts(tz, interval))
    ideal = render_name(default_template(interval), "", start, interval, tz)  # the suffix
    name = default_name(table, start, interval, tz)
    assert nbytes(name) <= MAX_IDENTIFIER_BYTES
    assert name.endswith(ideal)
    if nbytes(table + ideal) <= MAX_IDENTIFIER_BYTES:
        assert name == table + ideal
    taken = {name}
    for _ in range(3):
        name = default_name(table, start, interval, tz, taken)
        assert name not in taken and nbytes(name) <= MAX_IDENTIFIER_BYTES
        taken.add(name)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), table=tables, tz=tz_or_none, interval=intervals)
def test_periods_of_a_table_never_share_a_name(
    data: st.DataObject, table: str, tz: ZoneInfo | None, interval: Interval
) -> None:
    first = data.draw(starts(tz, interval))
    listed = periods(first, shift(first, interval, 60, tz), interval, tz)
    names = [default_name(table, a, interval, tz) for a, _ in listed]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("zone", ["America/New_York", "America/Havana", "Europe/Berlin"])
def test_hourly_names_unique_through_a_year_of_dst(zone: str) -> None:
    tz = ZoneInfo(zone)
    listed = periods(utc(2026, 1, 1), utc(2027, 1, 1), H, tz)
    names = {default_name("events", a, H, tz) for a, _ in listed}
    assert len(names) == len(listed) == 8760


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    table=tables,
    tz=tz_or_none,
    interval=intervals,
    count=st.integers(1, 8),
)
def test_inference_round_trip(
    data: st.DataObject, table: str, tz: ZoneInfo | None, interval: Interval, count: int
) -> None:
    template = data.draw(st.sampled_from(KNOWN_TEMPLATES[interval]))
    first = data.draw(starts(tz, interval))
    partitions: list[tuple[str, datetime]] = []
    for _ in range(count):
        taken = [name for name, _ in partitions]
        partitions.append((render_name(template, table, first, interval, tz, taken), first))
        first = shift(first, interval, 1, tz)
    assert infer_template(table, partitions, interval, tz) == template
