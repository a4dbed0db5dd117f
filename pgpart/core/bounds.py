"""Interpret partition bounds as PostgreSQL prints them.

`pg_get_expr(relpartbound, oid)` renders a range bound as text such as
``FOR VALUES FROM ('2026-11-01 00:00:00+00') TO (MAXVALUE)``. The catalog
reader pins ``TimeZone = UTC`` and ``DateStyle = ISO`` while it reads, so the
values parse the same whatever the client's settings are.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum


class KeyKind(str, Enum):
    """The partition key's type, as far as pgpart is concerned."""

    TIMESTAMPTZ = "timestamptz"
    TIMESTAMP = "timestamp"
    DATE = "date"

    @classmethod
    def from_regtype(cls, regtype: str) -> KeyKind | None:
        return _REGTYPES.get(regtype)

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self]


_REGTYPES = {
    "timestamp with time zone": KeyKind.TIMESTAMPTZ,
    "timestamp without time zone": KeyKind.TIMESTAMP,
    "date": KeyKind.DATE,
}
_SQL_TYPES = {
    KeyKind.TIMESTAMPTZ: "timestamptz",
    KeyKind.TIMESTAMP: "timestamp",
    KeyKind.DATE: "date",
}


@dataclass(frozen=True, slots=True)
class RangeBound:
    """A partition's bound: ``lower``/``upper`` None mean MINVALUE/MAXVALUE."""

    lower: datetime | None
    upper: datetime | None


_RANGE_RE = re.compile(r"^FOR VALUES FROM \((?P<lo>.*)\) TO \((?P<hi>.*)\)$", re.S)
_TS_RE = re.compile(
    r"^(?P<y>\d{4,})-(?P<mo>\d\d)-(?P<d>\d\d)"
    r"(?:[ T](?P<h>\d\d):(?P<mi>\d\d)(?::(?P<s>\d\d)(?:\.(?P<f>\d{1,6}))?)?)?"
    r"(?:(?P<sign>[+-])(?P<oh>\d\d)(?::?(?P<om>\d\d))?(?::?(?P<os>\d\d))?)?"
    r"(?P<bc> BC)?$"
)


class BoundError(ValueError):
    """A bound pgpart cannot interpret (a multi-column key, BC dates, ...)."""


def parse_range_bound(expr: str, kind: KeyKind) -> RangeBound | None:
    """Parse a partition bound expression; None for the DEFAULT partition."""
    expr = expr.strip()
    if expr == "DEFAULT":
        return None
    m = _RANGE_RE.match(expr)
    if m is None:
        raise BoundError(f"not a range bound: {expr}")
    return RangeBound(_parse_value(m["lo"], kind, low=True), _parse_value(m["hi"], kind, low=False))


def _parse_value(text: str, kind: KeyKind, *, low: bool) -> datetime | None:
    text = text.strip()
    if text in ("MINVALUE", "MAXVALUE"):
        return None
    if "," in text:
        raise BoundError(f"multi-column bound: ({text})")
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        text = text[1:-1]
    if text in ("infinity", "-infinity"):
        # 'infinity' bounds act like MAXVALUE/MINVALUE for coverage purposes.
        return None
    return parse_timestamp(text, kind)


def parse_timestamp(text: str, kind: KeyKind) -> datetime:
    """Parse ISO output of a date/timestamp/timestamptz value.

    timestamptz -> aware UTC datetime; timestamp and date -> naive datetime.
    """
    text = text.strip()
    if sys.version_info >= (3, 11) and len(text) in _FAST_LENGTHS:
        # C-speed path for the common ISO forms; 10,000 bounds parse in ~10 ms.
        try:
            fast = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            # Anything else (an offset on a naive key, none on timestamptz)
            # takes the general path below, which decides as it always did.
            if kind is not KeyKind.TIMESTAMPTZ and fast.tzinfo is None:
                return fast
            if kind is KeyKind.TIMESTAMPTZ and fast.tzinfo is not None:
                return fast.astimezone(timezone.utc)
    m = _TS_RE.match(text)
    if m is None or m["bc"]:
        raise BoundError(f"cannot interpret bound value {text!r}")
    frac = (m["f"] or "").ljust(6, "0")
    try:
        value = datetime(
            int(m["y"]),
            int(m["mo"]),
            int(m["d"]),
            int(m["h"] or 0),
            int(m["mi"] or 0),
            int(m["s"] or 0),
            int(frac or 0),
        )
    except ValueError as exc:  # year 10000+, which Python cannot represent
        raise BoundError(f"cannot interpret bound value {text!r}: {exc}") from exc
    if kind is not KeyKind.TIMESTAMPTZ:
        return value
    offset = timedelta(0)
    if m["sign"]:
        offset = timedelta(hours=int(m["oh"]), minutes=int(m["om"] or 0), seconds=int(m["os"] or 0))
        if m["sign"] == "-":
            offset = -offset
    return (value - offset).replace(tzinfo=timezone.utc)


# 'YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS' and that with '+HH' (as PostgreSQL prints them).
_FAST_LENGTHS = frozenset({10, 19, 22})


def format_bound(value: datetime, kind: KeyKind) -> str:
    """A literal PostgreSQL reads back as exactly this bound (ISO, unambiguous)."""
    if kind is KeyKind.DATE:
        return value.date().isoformat() if isinstance(value, datetime) else date.isoformat(value)
    if kind is KeyKind.TIMESTAMP:
        return value.isoformat(sep=" ")
    if value.tzinfo is None:
        raise ValueError("timestamptz bound must be timezone-aware")
    return value.astimezone(timezone.utc).isoformat(sep=" ")
