"""Wall-clock time in a zone -> an instant, the way PostgreSQL does it.

The one resolver of local times: a naive timestamp read in a time zone
(``--from 2026-11-01T01:30``, a bound of a ``timestamp`` key shown in a
zone) means the instant PostgreSQL's ``timestamptz`` input gives it. At a
DST edge PostgreSQL (DetermineTimeZoneOffsetInternal) takes the offset in
force *before* a spring-forward gap and the one *after* a fall-back
overlap: the later of the two candidate instants in both cases.
https://www.postgresql.org/docs/current/datetime-invalid-input.html
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def to_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The aware UTC instant of naive ``wall`` in ``tz`` (``fold`` is ignored)."""
    if wall.tzinfo is not None:
        raise ValueError("to_instant takes a naive wall-clock time")
    first = wall.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(timezone.utc)
    # With PEP 495, fold=0 uses the offset before a transition (gap: the
    # later instant) and fold=1 the offset after it (overlap: the later one).
    return max(first, second)
