"""Keys that encode time (pgpart.core.encoding): exact round trips of every
encoding across DST, leap days and the ends of each type's range, and an
inference that never takes seconds for milliseconds (nor ids for time)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgpart.core import calendar as cal
from pgpart.core.bounds import KeyKind, choose_encoding, format_bound, parse_range_bound
from pgpart.core.encoding import (
    EPOCHS,
    KeyEncoding,
    decode,
    encode,
    exact,
    infer,
)
from pgpart.core.range_checks import rebound, without_range_checks
from pgpart.core.siblings import ConstraintCopy, SiblingTemplate

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
# bigint nanoseconds since 1970 reach from 1677-09-21 to 2262-04-11.
NS_FIRST = datetime(1677, 9, 22, tzinfo=UTC)
NS_LAST = datetime(2262, 4, 11, tzinfo=UTC)


def _moments(unit_micros: int, low: datetime, high: datetime) -> st.SearchStrategy[datetime]:
    """Aware instants in [low, high] that are whole units (microseconds per unit)."""
    span = int((high - low) / timedelta(microseconds=unit_micros))
    return st.integers(0, span).map(lambda k: low + timedelta(microseconds=k * unit_micros))


@given(_moments(1_000_000, datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)))
def test_epoch_seconds_round_trip(moment: datetime) -> None:
    raw = encode(moment, KeyEncoding.EPOCH_S)
    assert isinstance(raw, int) and decode(raw, KeyEncoding.EPOCH_S) == moment
    assert exact(raw, KeyEncoding.EPOCH_S)


@given(
    st.sampled_from([KeyEncoding.EPOCH_MS, KeyEncoding.EPOCH_US]),
    _moments(1_000, datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)),
)
def test_finer_epochs_round_trip(encoding: KeyEncoding, moment: datetime) -> None:
    raw = encode(moment, encoding)
    assert decode(raw, encoding) == moment and exact(raw, encoding)


@given(_moments(1, NS_FIRST, NS_LAST))
def test_nanoseconds_round_trip_over_the_whole_bigint_range(moment: datetime) -> None:
    raw = encode(moment, KeyEncoding.EPOCH_NS)
    assert isinstance(raw, int) and -(2**63) <= raw < 2**63
    assert decode(raw, KeyEncoding.EPOCH_NS) == moment
    # a nanosecond more is no longer a bound pgpart can continue exactly
    assert not exact(raw + 1, KeyEncoding.EPOCH_NS)


def test_the_ends_of_each_type() -> None:
    assert encode(datetime(2038, 1, 19, 3, 14, 7, tzinfo=UTC), KeyEncoding.EPOCH_S, bits=32) == (
        2**31 - 1
    )
    with pytest.raises(ValueError, match="is out of range for integer"):
        encode(datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC), KeyEncoding.EPOCH_S, bits=32)
    with pytest.raises(ValueError, match="is out of range for bigint"):
        encode(datetime(2262, 4, 12, tzinfo=UTC), KeyEncoding.EPOCH_NS)
    with pytest.raises(ValueError, match="whole second"):
        encode(datetime(2026, 1, 1, 0, 0, 0, 500, tzinfo=UTC), KeyEncoding.EPOCH_S)
    with pytest.raises(ValueError, match="aware"):
        encode(datetime(2026, 1, 1), KeyEncoding.EPOCH_MS)


@given(_moments(1_000, datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)))
def test_uuidv7_round_trip(moment: datetime) -> None:
    for bare in (False, True):
        raw = encode(moment, KeyEncoding.UUIDV7, bare=bare)
        assert isinstance(raw, UUID) and decode(raw, KeyEncoding.UUIDV7) == moment
        assert exact(raw, KeyEncoding.UUIDV7)
    canonical = encode(moment, KeyEncoding.UUIDV7)
    assert isinstance(canonical, UUID) and canonical.version == 7
    assert canonical.variant == "specified in RFC 4122"  # binary 10
    # the smallest UUIDv7 of its millisecond: nothing after the version and variant bits
    assert str(canonical)[14:] == "7000-8000-000000000000"


def test_uuidv7_bound_holds_every_uuid_of_its_millisecond() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    lo = encode(start, KeyEncoding.UUIDV7)
    hi = encode(start + timedelta(days=1), KeyEncoding.UUIDV7)
    ms = int(start.timestamp() * 1000)
    first = UUID(int=ms << 80 | 0x7 << 76 | 0x2 << 62)  # random bits all zero
    last_before = UUID(int=(ms + 86_400_000 - 1) << 80 | (1 << 80) - 1)
    assert isinstance(lo, UUID) and isinstance(hi, UUID)
    assert lo <= first < hi and lo <= last_before < hi
    assert not exact(UUID(int=ms << 80 | 12345), KeyEncoding.UUIDV7)  # a generated id


@given(
    st.sampled_from(list(KeyEncoding)),
    st.integers(0, 3000),
    st.sampled_from(["monthly", "daily", "hourly", "15 minutes"]),
)
def test_calendar_periods_in_a_dst_zone_encode_exactly(
    encoding: KeyEncoding, offset: int, interval: str
) -> None:
    """The calendar works in aware datetimes; encoding at the edge keeps every
    boundary: DST days of 23 and 25 hours, Feb 29, month ends."""
    spec = cal.parse_interval(interval)
    start = cal.align(datetime(2023, 10, 1, tzinfo=UTC) + timedelta(hours=offset * 7), spec, BERLIN)
    lower = start
    for _ in range(3):
        upper = cal.shift(lower, spec, 1, BERLIN)
        raw_lo, raw_hi = encode(lower, encoding), encode(upper, encoding)
        assert decode(raw_lo, encoding) == lower and decode(raw_hi, encoding) == upper
        assert raw_lo < raw_hi  # type: ignore[operator]
        lower = upper


def test_a_dst_day_and_a_leap_day_in_epoch_seconds() -> None:
    day = cal.parse_interval("daily")
    autumn = cal.align(datetime(2026, 10, 25, 12, tzinfo=UTC), day, BERLIN)
    after = cal.shift(autumn, day, 1, BERLIN)
    lo, hi = encode(autumn, KeyEncoding.EPOCH_S), encode(after, KeyEncoding.EPOCH_S)
    assert hi - lo == 25 * 3600  # type: ignore[operator]
    leap = datetime(2028, 2, 29, tzinfo=UTC)
    assert decode(encode(leap, KeyEncoding.EPOCH_MS), KeyEncoding.EPOCH_MS) == leap


# --- inference ---------------------------------------------------------------


def _daily(encoding: KeyEncoding, first: datetime, days: int = 5) -> list[tuple[object, object]]:
    return [
        (
            encode(first + timedelta(days=i), encoding),
            encode(first + timedelta(days=i + 1), encoding),
        )
        for i in range(days)
    ]


@given(
    st.sampled_from(EPOCHS),
    st.datetimes(datetime(1971, 1, 1), datetime(2199, 12, 1)).map(
        lambda d: d.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=UTC)
    ),
)
def test_inference_names_the_unit_the_bounds_are_in(encoding: KeyEncoding, first: datetime) -> None:
    if encoding is KeyEncoding.EPOCH_NS and first >= datetime(2262, 1, 1, tzinfo=UTC):
        return
    found = infer("bigint", _daily(encoding, first))  # type: ignore[arg-type]
    assert found.encoding is encoding, found.reason
    assert encoding.unit_name in found.reason


def test_seconds_and_milliseconds_are_never_confused() -> None:
    first = datetime(2026, 3, 1, tzinfo=UTC)
    seconds = infer("bigint", _daily(KeyEncoding.EPOCH_S, first))  # type: ignore[arg-type]
    millis = infer("bigint", _daily(KeyEncoding.EPOCH_MS, first))  # type: ignore[arg-type]
    assert (seconds.encoding, millis.encoding) == (KeyEncoding.EPOCH_S, KeyEncoding.EPOCH_MS)
    assert "as milliseconds 1772323200 is 1970-01-21" in seconds.reason
    assert "as seconds 1772323200000 lies beyond the year 9999" in millis.reason


@pytest.mark.parametrize(
    "bounds",
    [
        [(0, 1_000_000), (1_000_000, 2_000_000), (2_000_000, 3_000_000)],  # ids
        [(10**9, 11 * 10**8), (11 * 10**8, 12 * 10**8)],  # ids in the seconds' window
        [(3_000_000_000, 3_003_000_000), (3_003_000_000, 3_006_000_000)],  # whole minutes
        [],  # nothing to tell from
    ],
)
def test_integers_that_are_not_time_are_not_inferred(bounds: list[tuple[int, int]]) -> None:
    found = infer("bigint", bounds)
    assert found.encoding is None
    choice = choose_encoding(KeyKind.BIGINT, None, bounds)
    assert choice.kind is KeyKind.BIGINT and not choice.kind.handled
    assert choice.note is not None and "set key_encoding" in choice.note


def test_daily_partitions_of_another_zone_are_inferred() -> None:
    day = cal.parse_interval("daily")
    lower = cal.align(datetime(2026, 3, 20, tzinfo=UTC), day, BERLIN)
    bounds = []
    for _ in range(14):  # across the spring change: days of 24 and 23 hours
        upper = cal.shift(lower, day, 1, BERLIN)
        bounds.append((encode(lower, KeyEncoding.EPOCH_MS), encode(upper, KeyEncoding.EPOCH_MS)))
        lower = upper
    assert infer("bigint", bounds).encoding is KeyEncoding.EPOCH_MS


def test_uuid_bounds_and_their_style() -> None:
    first = datetime(2026, 3, 1, tzinfo=UTC)
    canonical = [
        (encode(first + timedelta(days=i), KeyEncoding.UUIDV7),
         encode(first + timedelta(days=i + 1), KeyEncoding.UUIDV7))
        for i in range(3)
    ]  # fmt: skip
    bare = [
        (encode(first + timedelta(days=i), KeyEncoding.UUIDV7, bare=True),
         encode(first + timedelta(days=i + 1), KeyEncoding.UUIDV7, bare=True))
        for i in range(3)
    ]  # fmt: skip
    assert choose_encoding(KeyKind.UUID, None, canonical).kind is KeyKind.UUID_V7
    assert choose_encoding(KeyKind.UUID, None, bare).kind is KeyKind.UUID_V7_BARE
    # configured, the style still follows the bounds
    given_bare = choose_encoding(KeyKind.UUID, KeyEncoding.UUIDV7, bare)
    assert given_bare.kind is KeyKind.UUID_V7_BARE and given_bare.note is None
    # half-open ranges of a uuid that are not time (hash-like splits)
    split = [(UUID(int=0), UUID(int=1 << 127)), (UUID(int=1 << 127), UUID(int=(1 << 128) - 1))]
    assert infer("uuid", split).encoding is None


def test_a_configured_encoding_the_column_cannot_hold() -> None:
    choice = choose_encoding(KeyKind.INTEGER, KeyEncoding.EPOCH_MS, [])
    assert choice.kind is KeyKind.INTEGER and not choice.kind.handled
    assert choice.note is not None and "bigint" in choice.note
    uuid_choice = choose_encoding(KeyKind.UUID, KeyEncoding.EPOCH_S, [])
    assert uuid_choice.note is not None and "uuidv7" in uuid_choice.note
    assert choose_encoding(KeyKind.INTEGER, KeyEncoding.EPOCH_S, []).kind is KeyKind.INTEGER_EPOCH_S


# --- bounds as text, and pg_partman's range CHECK ------------------------------


def test_bounds_parse_and_format_as_postgresql_prints_them() -> None:
    kind = KeyKind.BIGINT_EPOCH_MS
    bound = parse_range_bound("FOR VALUES FROM ('1772323200000') TO (MAXVALUE)", kind)
    assert bound is not None and bound.lower == datetime(2026, 3, 1, tzinfo=UTC)
    assert bound.upper is None
    assert format_bound(datetime(2026, 3, 1, tzinfo=UTC), kind) == "1772323200000"
    v7 = parse_range_bound(
        "FOR VALUES FROM ('019ca6b1-dc00-7000-8000-000000000000') TO"
        " ('019cabd8-3800-7000-8000-000000000000')",
        KeyKind.UUID_V7,
    )
    assert v7 is not None and (v7.lower, v7.upper) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    from pgpart.core.bounds import BoundError

    with pytest.raises(BoundError, match="beyond the year 9999"):
        parse_range_bound("FOR VALUES FROM ('1772323200000') TO (MAXVALUE)", KeyKind.BIGINT_EPOCH_S)


def _sibling(*constraints: ConstraintCopy) -> SiblingTemplate:
    return SiblingTemplate(
        "public", "pm_p2026_03_01", "app", "r", False, (), (), None, "d", False, False, None,
        constraints=constraints,
    )  # fmt: skip


CHECK = (
    "CHECK (((to_timestamp(((col3 / 1000))::double precision) >= '{lo}'::timestamp with time"
    " zone) AND (to_timestamp(((col3 / 1000))::double precision) < '{hi}'::timestamp with time"
    " zone)))"
)


def test_partmans_range_check_follows_the_new_partition() -> None:
    pin = ConstraintCopy(
        "pm_p2026_03_01_partition_check",
        "c",
        CHECK.format(lo="2026-03-01 00:00:00+00", hi="2026-03-02 00:00:00+00"),
        True,
        False,
    )
    other = ConstraintCopy("positive", "c", "CHECK ((col1 > 0))", True, False)
    sibling = _sibling(pin, other)
    new = rebound(
        sibling,
        "pm_p2026_03_05",
        datetime(2026, 3, 5, tzinfo=UTC),
        datetime(2026, 3, 6, tzinfo=UTC),
    )
    assert new is not None
    assert [(c.name, c.definition) for c in new.constraints] == [
        (
            "pm_p2026_03_05_partition_check",
            CHECK.format(lo="2026-03-05 00:00:00+00", hi="2026-03-06 00:00:00+00"),
        ),
        ("positive", "CHECK ((col1 > 0))"),
    ]
    assert without_range_checks(sibling).constraints == (other,)
    plain = _sibling(other)
    assert (
        rebound(plain, "x", datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC))
        is plain
    )
