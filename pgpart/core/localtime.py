"""Local wall-clock time of a zone, read and resolved as PostgreSQL does.

The one resolver of local times (:func:`resolve`): a naive timestamp read in
a zone (``--from 2026-11-01T01:30``, a grid boundary, a bound of a
``timestamp`` key shown in a zone) means the instant PostgreSQL's
``timestamptz`` input gives it. At a DST edge PostgreSQL
(DetermineTimeZoneOffsetInternal) takes the offset in force *before* a
spring-forward gap and the one *after* a fall-back overlap: the later of the
two candidate instants in both cases.
https://www.postgresql.org/docs/current/datetime-invalid-input.html

Aware moments (``timestamptz`` keys) are normalised to UTC; naive ones
(``timestamp`` and ``date`` keys) are wall-clock times already.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ["check_kind", "offset", "resolve", "to_instant", "transition", "wall_clock"]

UTC = timezone.utc
TICK = timedelta(microseconds=1)  # PostgreSQL timestamps have microsecond resolution


def check_kind(moment: datetime, tz: ZoneInfo | None) -> datetime:
    """Validate the kind of ``moment``; aware moments come back in UTC.

    Normalising matters beyond tidiness: under PEP 495 an aware datetime whose
    local time is ambiguous (psycopg returns them in the session time zone)
    never compares equal to one in another zone, even for the same instant.
    """
    aware = moment.utcoffset() is not None
    if tz is not None and not aware:
        raise ValueError(f"timezone-aware datetime expected for a timestamptz key: {moment!r}")
    if tz is None and aware:
        raise ValueError(f"naive datetime expected for a timestamp or date key: {moment!r}")
    return moment.astimezone(UTC) if aware else moment


def wall_clock(moment: datetime, tz: ZoneInfo | None) -> datetime:
    """Naive local time of ``moment`` in ``tz`` (identity when ``tz`` is None).

    ``fold`` is 1 on the second occurrence of a repeated wall-clock time.
    """
    moment = check_kind(moment, tz)
    if tz is None:
        return moment
    return moment.astimezone(tz).replace(tzinfo=None)


def resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant PostgreSQL gives a naive local time in ``tz``.

    Python maps a time in a gap with fold=0 using the offset before the
    transition and an ambiguous time with fold=1 to its later occurrence;
    PostgreSQL prefers exactly these, i.e. the later candidate in both cases.
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return max(first, second)


def offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    value = instant.astimezone(tz).utcoffset()
    assert value is not None  # a ZoneInfo always has an offset
    return value


def transition(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """First instant in (before, after] with the offset in force at ``after``."""
    target = offset(after, tz)
    while after - before > TICK:
        middle = before + (after - before) // 2
        if offset(middle, tz) == target:
            after = middle
        else:
            before = middle
    return after


def to_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """:func:`resolve` for a naive ``wall`` only (an aware one is a mistake)."""
    if wall.tzinfo is not None:
        raise ValueError("to_instant takes a naive wall-clock time")
    return resolve(wall, tz)
