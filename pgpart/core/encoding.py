"""Time that is encoded: integer epochs and UUIDv7 keys, read and written as instants.

A table keyed by epoch seconds in a bigint, or by UUIDv7 ids, is still
partitioned by time: its bounds are instants, encoded. pgpart plans it in
aware datetimes like a ``timestamptz`` table and encodes at the edge, so a
bound is always an exact constant that PostgreSQL compares (and prunes by)
as it compares the column.

* ``epoch_s``, ``epoch_ms``, ``epoch_us``, ``epoch_ns``: the count of
  seconds (milli-, micro-, nanoseconds) since 1970-01-01 00:00 UTC. A bound
  is exact: an instant of a finer precision than the unit (or, for
  nanoseconds, a bound that is not a whole microsecond: Python's datetimes
  stop there) is not a bound pgpart reads or writes.
* ``uuidv7`` (RFC 9562): the first 48 bits are the Unix time in
  milliseconds. A bound is the smallest UUIDv7 of its millisecond: those
  48 bits, the version (7) and variant (binary 10) bits, the rest zero, so
  every UUIDv7 generated within [lower, upper) falls in the partition.
  pg_partman 5's ``uuid7_time_encoder`` writes bounds with the version and
  variant bits zero (``bare``); a set written that way is continued that way.

:func:`infer` tells the encoding from a table's existing bounds when they
leave no doubt, and says why; else it says what to configure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from uuid import UUID
from zoneinfo import ZoneInfo

from pgpart.core.record import record

__all__ = [
    "Inference",
    "KeyEncoding",
    "Raw",
    "decode",
    "encode",
    "exact",
    "infer",
    "is_bare_uuid",
]

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Raw = int | UUID  # a bound as the column stores it


class KeyEncoding(str, Enum):
    """How a key encodes time (the ``key_encoding`` key of pgpart.toml)."""

    EPOCH_S = "epoch_s"
    EPOCH_MS = "epoch_ms"
    EPOCH_US = "epoch_us"
    EPOCH_NS = "epoch_ns"
    UUIDV7 = "uuidv7"

    @property
    def per_second(self) -> int:
        """Units per second (UUIDv7: milliseconds)."""
        return _PER_SECOND[self]

    @property
    def unit_name(self) -> str:
        return _UNIT_NAMES[self]

    @property
    def partman_epoch(self) -> str | None:
        """pg_partman's ``epoch`` value for it (part_config), if any."""
        return _PARTMAN_EPOCH.get(self)

    @classmethod
    def from_partman(cls, epoch: str | None) -> KeyEncoding | None:
        return next((e for e, name in _PARTMAN_EPOCH.items() if name == epoch), None)


_PER_SECOND = {
    KeyEncoding.EPOCH_S: 1,
    KeyEncoding.EPOCH_MS: 1_000,
    KeyEncoding.EPOCH_US: 1_000_000,
    KeyEncoding.EPOCH_NS: 1_000_000_000,
    KeyEncoding.UUIDV7: 1_000,
}
_UNIT_NAMES = {
    KeyEncoding.EPOCH_S: "seconds",
    KeyEncoding.EPOCH_MS: "milliseconds",
    KeyEncoding.EPOCH_US: "microseconds",
    KeyEncoding.EPOCH_NS: "nanoseconds",
    KeyEncoding.UUIDV7: "UUIDv7 milliseconds",
}
_PARTMAN_EPOCH = {
    KeyEncoding.EPOCH_S: "seconds",
    KeyEncoding.EPOCH_MS: "milliseconds",
    KeyEncoding.EPOCH_US: "microseconds",
    KeyEncoding.EPOCH_NS: "nanoseconds",
}
EPOCHS = (KeyEncoding.EPOCH_S, KeyEncoding.EPOCH_MS, KeyEncoding.EPOCH_US, KeyEncoding.EPOCH_NS)

# The range of each integer type (PostgreSQL's int4 and int8).
INT_BITS = {"integer": 32, "bigint": 64}
_UUID_VERSION = 0x7 << 76
_UUID_VARIANT = 0x2 << 62
_UUID_TIME_SHIFT = 80
_UUID_LOW = (1 << _UUID_TIME_SHIFT) - 1


def _micros(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ValueError(f"an encoded key needs an aware datetime: {moment!r}")
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode(moment: datetime, encoding: KeyEncoding, *, bits: int = 64, bare: bool = False) -> Raw:
    """The key value of ``moment``: an int for epochs (within a signed
    ``bits``-bit integer), the smallest UUIDv7 of its millisecond (``bare``:
    pg_partman's form, version and variant bits zero). Raises ValueError
    when ``moment`` is finer than the unit or beyond what the type holds."""
    micros = _micros(moment)
    if encoding is KeyEncoding.UUIDV7:
        ms, rest = divmod(micros, 1_000)
        if rest:
            raise ValueError(f"{moment.isoformat()} is not a whole millisecond (UUIDv7)")
        if not 0 <= ms < 1 << 48:
            raise ValueError(f"{moment.isoformat()} is out of range for a UUIDv7")
        tail = 0 if bare else _UUID_VERSION | _UUID_VARIANT
        return UUID(int=ms << _UUID_TIME_SHIFT | tail)
    per = encoding.per_second
    if per >= 1_000_000:
        value = micros * (per // 1_000_000)
    else:
        value, rest = divmod(micros, 1_000_000 // per)
        if rest:
            raise ValueError(f"{moment.isoformat()} is not a whole {encoding.unit_name[:-1]}")
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        kind = "integer" if bits == 32 else "bigint"
        raise ValueError(f"{moment.isoformat()} as {encoding.value} is out of range for {kind}")
    return value


def decode(raw: Raw, encoding: KeyEncoding) -> datetime:
    """The instant a key value stands for, aware in UTC, truncated to the
    microsecond (:func:`exact` says whether nothing was lost). Raises
    ValueError (or OverflowError) beyond the years 1 to 9999."""
    if encoding is KeyEncoding.UUIDV7:
        if not isinstance(raw, UUID):
            raise ValueError(f"not a UUID: {raw!r}")
        return EPOCH + timedelta(milliseconds=raw.int >> _UUID_TIME_SHIFT)
    if isinstance(raw, UUID):
        raise ValueError(f"not an integer: {raw}")
    per = encoding.per_second
    if per >= 1_000_000:
        return EPOCH + timedelta(microseconds=raw // (per // 1_000_000))
    return EPOCH + timedelta(microseconds=raw * (1_000_000 // per))


def is_bare_uuid(raw: UUID) -> bool:
    """Whether a UUID bound is in pg_partman's form (all zero after the time)."""
    return raw.int & _UUID_LOW == 0


def exact(raw: Raw, encoding: KeyEncoding) -> bool:
    """Whether ``raw`` is exactly the encoding of an instant: a bound pgpart
    can continue without a gap or an overlap."""
    if encoding is KeyEncoding.UUIDV7:
        if not isinstance(raw, UUID):
            return False
        low = raw.int & _UUID_LOW
        return low in (0, _UUID_VERSION | _UUID_VARIANT)
    if isinstance(raw, UUID):
        return False
    per = encoding.per_second
    return per <= 1_000_000 or raw % (per // 1_000_000) == 0


# -- inference ------------------------------------------------------------------

# Where a time-partitioned table's bounds plausibly lie. The windows of the
# units do not overlap (the upper end in seconds is 1970-03-26 in
# milliseconds), so at most one unit reads a set of bounds as such times:
# seconds and milliseconds are never confused.
PLAUSIBLE_FROM = datetime(1971, 1, 1, tzinfo=UTC)
PLAUSIBLE_UNTIL = datetime(2200, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
_UTC_ZONE = ZoneInfo("UTC")


@record
class Inference:
    """What the bounds say about the encoding: one, with the reason; or
    None, with why not (then the user sets ``key_encoding``)."""

    encoding: KeyEncoding | None
    reason: str
    bare: bool = False  # UUIDv7 bounds in pg_partman's form


def infer(sql_type: str, bounds: Sequence[tuple[Raw | None, Raw | None]]) -> Inference:
    """The encoding ``bounds`` (raw [lower, upper) per partition, None for
    MINVALUE/MAXVALUE, oldest first) leave no doubt about.

    A unit qualifies when every bound decodes exactly to an instant between
    1971 and 2200 on a whole minute, and the newest ranges then follow a
    partition interval (:func:`pgpart.core.calendar.infer_grid`, in UTC) of
    at most a day when it counts elapsed minutes or hours. Ids (0,
    1,000,000, 2,000,000...) read as no time in any unit."""
    values = [v for pair in bounds for v in pair if v is not None]
    if not values:
        return Inference(None, "it has no partition bounds to tell the encoding from")
    options = [KeyEncoding.UUIDV7] if sql_type == "uuid" else list(EPOCHS)
    if sql_type == "integer":
        options = [KeyEncoding.EPOCH_S]
    fits: list[KeyEncoding] = []
    refused: dict[KeyEncoding, str] = {}
    for option in options:
        why_not = _refusal(values, option) or _irregular(_ranges(bounds, option))
        if why_not is None:
            fits.append(option)
        else:
            refused[option] = why_not
    shown = _shown(values)
    if len(fits) == 1:
        option = fits[0]
        newest = values[-1]
        bare = isinstance(newest, UUID) and is_bare_uuid(newest)
        first, last = decode(values[0], option), decode(newest, option)
        other = _NEIGHBOURS.get(option)
        contrast = f"; as {other.unit_name} {refused[other]}" if other in refused else ""
        return Inference(
            option,
            f"its bounds ({shown}) are {option.unit_name} since 1970,"
            f" {_label(first)} to {_label(last)}{contrast}",
            bare,
        )
    if fits:  # cannot happen with disjoint windows; never guess
        names = " or ".join(o.value for o in fits)
        return Inference(None, f"its bounds ({shown}) read as times in {names}")
    first_option = options[0]
    why = f"as {first_option.unit_name} {refused[first_option]}"
    unit = "in any epoch unit" if len(options) > 1 else ""
    return Inference(
        None, " ".join(f"its bounds ({shown}) are no times {unit}".split()) + f" ({why})"
    )


# The unit a set of bounds is most easily mistaken for: said when inferring.
_NEIGHBOURS = {
    KeyEncoding.EPOCH_S: KeyEncoding.EPOCH_MS,
    KeyEncoding.EPOCH_MS: KeyEncoding.EPOCH_S,
    KeyEncoding.EPOCH_US: KeyEncoding.EPOCH_MS,
    KeyEncoding.EPOCH_NS: KeyEncoding.EPOCH_US,
}


def _refusal(values: Sequence[Raw], encoding: KeyEncoding) -> str | None:
    """Why ``values`` are not bounds of a time-partitioned table in
    ``encoding``; None when they are."""
    for value in values:
        if encoding is KeyEncoding.UUIDV7 and not isinstance(value, UUID):
            return "they are not UUIDs"
        if not exact(value, encoding):
            if isinstance(value, UUID):
                return f"{value} is not the smallest UUIDv7 of a millisecond"
            return f"{value} is not a whole microsecond"
        try:
            moment = decode(value, encoding)
        except (ValueError, OverflowError):
            return f"{value} lies beyond the year 9999"
        if not PLAUSIBLE_FROM <= moment < PLAUSIBLE_UNTIL:
            return f"{value} is {_label(moment)}"
        if moment.second or moment.microsecond:
            return f"{value} is {_label(moment)}, not on a whole minute"
    return None


def _ranges(
    bounds: Sequence[tuple[Raw | None, Raw | None]], encoding: KeyEncoding
) -> list[tuple[datetime, datetime]]:
    return [
        (decode(lo, encoding), decode(hi, encoding))
        for lo, hi in bounds[-12:]
        if lo is not None and hi is not None
    ]


def _irregular(ranges: Sequence[tuple[datetime, datetime]]) -> str | None:
    """Why decoded ranges are not a time partitioning's; None when they are:
    they follow a partition interval in UTC (of at most a day when it counts
    elapsed minutes or hours), or each spans whole days give or take a DST
    change (days, weeks, months of another zone)."""
    from pgpart.core import calendar as cal

    if not ranges:
        return None  # MINVALUE/MAXVALUE only: the bounds alone decide
    found = cal.infer_grid(ranges, _UTC_ZONE)
    if found is not None and not (found.interval.unit.elapsed and found.interval.elapsed > _DAY):
        return None
    for lower, upper in ranges:
        days = round((upper - lower) / _DAY)
        if days < 1 or abs(upper - lower - days * _DAY) > _HOUR:
            return f"[{_label(lower)}, {_label(upper)}) is no partition period"
    return None


def _label(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S").removesuffix(":00") + " UTC"


def _shown(values: Sequence[Raw]) -> str:
    if len(values) <= 3:
        return ", ".join(str(v) for v in values)
    return f"{values[0]}, {values[1]} ... {values[-1]}"
