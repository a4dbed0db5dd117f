"""Partition names: templates, checking them, and rendering them within 63 bytes.

A template is a :meth:`str.format` string with these fields:

``{table}``
    the parent table's bare name (no schema);
``{start:STRFTIME}``
    the period start as a naive wall-clock datetime in the table's time zone,
    e.g. ``{start:%Y_%m}``; ``%G``/``%V`` give the ISO year and week;
``{quarter}``
    1..4;
``{week}``
    the ISO week, zero-padded to two digits (``{week:d}`` for no padding);
``{isoyear}``
    the ISO year the week belongs to.

Hourly names and the repeated hour: when clocks go back, the wall-clock hour
that repeats starts two periods that a template renders alike. The second one
(``fold=1``) gets ``b`` appended to its name: ``events_2026_11_01_01`` then
``events_2026_11_01_01b`` (America/New_York).

Names longer than PostgreSQL's 63 bytes (``NAMEDATALEN - 1``; longer names
are silently truncated by the server) keep their suffix whole and shorten the
table part in one of two ways (:class:`Cut`):

* ``Cut.HASH`` (pgpart's own): the table part is cut on a UTF-8 character
  boundary and followed by ``_`` and six hex digits of a hash of the full
  table name, so long tables sharing a prefix never share names.
* ``Cut.PLAIN`` (pg_partman's): the table part is cut so that the whole name
  is 63 characters, nothing added (``check_name_length()`` in pg_partman 4.7:
  ``substring(parent from 1 for 61 - char_length(suffix)) || '_p' || suffix``).
  pg_partman counts characters; where a multi-byte table name would make that
  longer than 63 bytes (the server would then clip the suffix), the table
  part is cut to fit in bytes instead, so the suffix always survives.

Unless told otherwise, pg_partman's templates (``{table}_p...``) cut plainly
and every other template hashes; which template and which cut a table's
existing partitions already use, so that it continues them, is read by
:mod:`pgpart.core.name_inference`.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Collection
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo

from pgpart.core.calendar import Interval, Unit, periods, wall_clock
from pgpart.core.identifiers import MAX_NAME_BYTES, cut_to_bytes, utf8_len

__all__ = [
    "KNOWN_TEMPLATES",
    "MAX_IDENTIFIER_BYTES",
    "TABLE_FIELD",
    "Cut",
    "default_template",
    "fold_mark",
    "is_partman",
    "known_templates",
    "render_name",
    "table_tag",
    "template_values",
    "validate_template",
]

MAX_IDENTIFIER_BYTES = MAX_NAME_BYTES
FIELDS = ("table", "start", "quarter", "week", "isoyear")
_FOLD_MARK = "b"
_HASH_HEX_DIGITS = 6
TABLE_FIELD = "{table}"

_DEFAULTS = {
    Interval.HOURLY: "{table}_{start:%Y_%m_%d_%H}",
    Interval.DAILY: "{table}_{start:%Y_%m_%d}",
    Interval.WEEKLY: "{table}_{isoyear}_w{week}",
    Interval.MONTHLY: "{table}_{start:%Y_%m}",
    Interval.QUARTERLY: "{table}_{start:%Y}_q{quarter}",
    Interval.YEARLY: "{table}_{start:%Y}",
}

# Styles recognised on existing partitions, the default first (it wins ties).
# pg_partman 4 suffixes per interval: YYYY, YYYY"q"Q, YYYY_MM, IYYY"w"IW,
# YYYY_MM_DD, YYYY_MM_DD_HH24MI. pg_partman 5 has only two: YYYYMMDD for one
# day or more, YYYYMMDD_HH24MISS below (doc/pg_partman_5.0.0_upgrade.md).
# pgslice: %Y%m%d, %Y%m, %Y. All start with {table}: matching existing names
# (name_inference) relies on it.
KNOWN_TEMPLATES: dict[Interval, tuple[str, ...]] = {
    Interval.HOURLY: (
        _DEFAULTS[Interval.HOURLY],
        "{table}_p{start:%Y_%m_%d_%H%M}",
        "{table}_p{start:%Y%m%d_%H%M%S}",
        "{table}_{start:%Y_%m_%d_%H%M}",
        "{table}_{start:%Y%m%d%H}",
        "{table}_{start:%Y%m%d_%H}",
        "{table}_{start:%Y%m%d%H%M}",
        "{table}_y{start:%Y}m{start:%m}d{start:%d}h{start:%H}",
    ),
    Interval.DAILY: (
        _DEFAULTS[Interval.DAILY],
        "{table}_p{start:%Y_%m_%d}",
        "{table}_p{start:%Y%m%d}",
        "{table}_{start:%Y%m%d}",
        "{table}_y{start:%Y}m{start:%m}d{start:%d}",
    ),
    Interval.WEEKLY: (
        _DEFAULTS[Interval.WEEKLY],
        "{table}_p{isoyear}w{week}",
        "{table}_p{start:%Y%m%d}",
        "{table}_p{start:%Y_%m_%d}",
        "{table}_{isoyear}w{week}",
        "{table}_y{isoyear}w{week}",
        "{table}_{start:%Y_%m_%d}",
        "{table}_{start:%Y%m%d}",
    ),
    Interval.MONTHLY: (
        _DEFAULTS[Interval.MONTHLY],
        "{table}_p{start:%Y_%m}",
        "{table}_p{start:%Y%m%d}",
        "{table}_{start:%Y%m}",
        "{table}_y{start:%Y}m{start:%m}",
        "{table}_{start:%Y_%m_%d}",
        "{table}_{start:%Y%m%d}",
    ),
    Interval.QUARTERLY: (
        _DEFAULTS[Interval.QUARTERLY],
        "{table}_p{start:%Y}q{quarter}",
        "{table}_p{start:%Y%m%d}",
        "{table}_{start:%Y}q{quarter}",
        "{table}_y{start:%Y}q{quarter}",
        "{table}_{start:%Y_%m}",
        "{table}_{start:%Y%m}",
        "{table}_p{start:%Y_%m}",
    ),
    Interval.YEARLY: (
        _DEFAULTS[Interval.YEARLY],
        "{table}_p{start:%Y}",
        "{table}_p{start:%Y%m%d}",
        "{table}_y{start:%Y}",
    ),
}


class Cut(str, Enum):
    """How a name over 63 bytes shortens the table part (see the module doc)."""

    HASH = "hash"
    PLAIN = "plain"


def is_partman(template: str) -> bool:
    """Whether ``template`` is one of pg_partman's (``{table}_p...``)."""
    return template.startswith(TABLE_FIELD + "_p")


class _Week(int):
    """An ISO week number that formats zero-padded to two digits by default."""

    def __format__(self, spec: str) -> str:
        return format(int(self), spec or "02d")


# Intervals other than the six named ones, by unit: the default first, then
# the styles of pg_partman 4 (custom intervals: YYYY_MM_DD_HH24MI below a day,
# YYYY_MM_DD_HH24MISS with p_date_trunc_interval, YYYY_MM_DD below 30 days,
# YYYY_MM below a year, else YYYY) and pg_partman 5, then the named
# intervals' styles of the same unit.
_SUB_DAY_DEFAULT = "{table}_{start:%Y_%m_%d_%H%M}"
_FAMILIES: dict[Unit, tuple[str, ...]] = {
    Unit.MINUTE: (
        _SUB_DAY_DEFAULT,
        "{table}_p{start:%Y_%m_%d_%H%M}",
        "{table}_p{start:%Y_%m_%d_%H%M%S}",
        "{table}_p{start:%Y%m%d_%H%M%S}",
        "{table}_{start:%Y%m%d%H%M}",
        "{table}_{start:%Y%m%d_%H%M}",
        *KNOWN_TEMPLATES[Interval.HOURLY],
    ),
    Unit.DAY: (
        *KNOWN_TEMPLATES[Interval.DAILY],
        "{table}_p{start:%Y_%m}",
        *KNOWN_TEMPLATES[Interval.WEEKLY],
    ),
    Unit.MONTH: (
        *KNOWN_TEMPLATES[Interval.MONTHLY],
        "{table}_p{start:%Y_%m_%d}",
        *KNOWN_TEMPLATES[Interval.QUARTERLY],
    ),
    Unit.YEAR: (*KNOWN_TEMPLATES[Interval.YEARLY], "{table}_p{start:%Y_%m_%d}"),
}
_FAMILIES[Unit.HOUR] = _FAMILIES[Unit.MINUTE]
_FAMILIES[Unit.WEEK] = _FAMILIES[Unit.DAY]


def default_template(interval: Interval) -> str:
    """The style of a table with no partitions: the contract's forms for the
    named intervals; down to the minute below a day, else the day, month or
    year."""
    if interval in _DEFAULTS:
        return _DEFAULTS[interval]
    return _FAMILIES[interval.unit][0]


def known_templates(interval: Interval) -> tuple[str, ...]:
    """Styles recognised on existing partitions of ``interval``, best first:
    the named interval's own, then those of other intervals of its unit."""
    own = KNOWN_TEMPLATES.get(interval, ())
    return tuple(dict.fromkeys((*own, *_FAMILIES[interval.unit])))


def template_values(start: datetime, tz: ZoneInfo | None) -> dict[str, object]:
    """The template's fields but ``{table}`` for the period starting at ``start``."""
    wall = wall_clock(start, tz)
    isoyear, week, _ = wall.isocalendar()
    return {
        "start": wall,
        "quarter": (wall.month - 1) // 3 + 1,
        "week": _Week(week),
        "isoyear": isoyear,
    }


def fold_mark(start: datetime, interval: Interval, tz: ZoneInfo | None) -> str:
    """``b`` for the second of two periods starting at a repeated wall-clock hour."""
    repeated = interval.unit.elapsed and wall_clock(start, tz).fold == 1
    return _FOLD_MARK if repeated else ""


# -- validation -----------------------------------------------------------------

_SAMPLES = (datetime(2001, 2, 3, 4, 5, 6), datetime(2012, 11, 24, 23, 59, 58))
_LONGEST_CHECK = timedelta(days=365 * 1500)
_DAYS_3 = timedelta(days=3)


@lru_cache(maxsize=64)
def _table_fields(template: str) -> int:
    """Validate ``template``; return how many ``{table}`` fields it has."""
    if not template:
        raise ValueError("naming template is empty")
    if "\x00" in template:
        raise ValueError("naming template contains a NUL character")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"naming template {template!r}: {exc}") from None
    tables = 0
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in FIELDS:
            import difflib  # error path only: keeps CLI start-up light

            close = difflib.get_close_matches(field, FIELDS, n=1)
            hint = f"; did you mean {{{close[0]}}}?" if close else ""
            known = ", ".join(f"{{{f}}}" for f in FIELDS)
            what = f"{{{field}}}" if field else "{} (a positional field)"
            raise ValueError(
                f"naming template {template!r}: unknown field {what}; known: {known}{hint}"
            )
        if conversion:
            raise ValueError(
                f"naming template {template!r}: conversion !{conversion} is not supported"
            )
        if spec and "{" in spec:
            raise ValueError(f"naming template {template!r}: nested fields are not supported")
        if field == "start" and not spec:
            raise ValueError(
                f"naming template {template!r}: {{start}} needs a strftime format, "
                "e.g. {start:%Y_%m}"
            )
        tables += field == "table"
    rendered: set[str] = set()
    for sample in _SAMPLES:
        try:
            rendered.add(template.format(table="t", **template_values(sample, None)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"naming template {template!r}: {exc}") from None
    if len(rendered) < len(_SAMPLES):
        raise ValueError(
            f"naming template {template!r} does not depend on the period start: "
            "every partition would get the same name"
        )
    return tables


def validate_template(template: str, interval: Interval | None = None) -> None:
    """Raise ValueError, with the reason, when ``template`` cannot name partitions.

    With ``interval``, also check that consecutive periods of that interval
    get distinct names (``{start:%Y_%m}`` cannot name daily partitions).
    """
    _table_fields(template)
    if interval is None:
        return
    first = datetime(2024, 12, 23)  # spans a leap day and ISO weeks 52, 53 and 1
    span = min(400 * interval.nominal, _LONGEST_CHECK) if not interval.unit.elapsed else _DAYS_3
    seen: dict[str, datetime] = {}
    for lower, _ in periods(first, first + span, interval, None):
        name = template.format(table="t", **template_values(lower, None))
        if name in seen:
            raise ValueError(
                f"naming template {template!r} gives {interval.value} periods starting "
                f"{seen[name]:%Y-%m-%d %H:%M} and {lower:%Y-%m-%d %H:%M} the same name"
            )
        seen[name] = lower


# -- rendering ------------------------------------------------------------------


def table_tag(table: str) -> str:
    """What :attr:`Cut.HASH` appends to a shortened table part: ``_`` and six hex digits."""
    digest = hashlib.blake2b(table.encode("utf-8"), digest_size=_HASH_HEX_DIGITS // 2)
    return "_" + digest.hexdigest()


def _fit(template: str, table: str, values: dict[str, object], extra: str, cut: Cut) -> str:
    name = template.format(table=table, **values) + extra
    if utf8_len(name) <= MAX_IDENTIFIER_BYTES:
        return name
    tables = _table_fields(template)
    fixed_text = template.format(table="", **values) + extra
    fixed = utf8_len(fixed_text)
    if cut is Cut.PLAIN and tables == 1 and template.startswith(TABLE_FIELD):
        # pg_partman: the parent cut to 63 characters in all, nothing added.
        plain = table[: max(MAX_IDENTIFIER_BYTES - len(fixed_text), 0)] + fixed_text
        if utf8_len(plain) > MAX_IDENTIFIER_BYTES:  # multi-byte: keep the suffix whole
            plain = cut_to_bytes(table, MAX_IDENTIFIER_BYTES - fixed) + fixed_text
        if plain != fixed_text and utf8_len(plain) <= MAX_IDENTIFIER_BYTES:
            return plain
    tag = table_tag(table)
    budget = (MAX_IDENTIFIER_BYTES - fixed) // tables - len(tag) if tables else 0
    if budget < 1:
        raise ValueError(
            f"partition name {name!r} exceeds {MAX_IDENTIFIER_BYTES} bytes "
            "and the template leaves no room to shorten the table name"
        )
    head = cut_to_bytes(table, budget)
    short = (head.rstrip("_") or head) + tag
    return template.format(table=short, **values) + extra


def render_name(
    template: str,
    table: str,
    start: datetime,
    interval: Interval,
    tz: ZoneInfo | None,
    taken: Collection[str] = (),
    cut: Cut | None = None,
) -> str:
    """Name of the partition of ``table`` for the period starting at ``start``.

    At most 63 UTF-8 bytes, shortened as ``cut`` says (default: plain for
    pg_partman's templates, else hashed); if the name is in ``taken`` (names
    already used in the schema, including ones planned earlier in the same
    run), ``_1``, ``_2``, ... is appended.
    """
    _table_fields(template)
    if cut is None:
        cut = Cut.PLAIN if is_partman(template) else Cut.HASH
    values = template_values(start, tz)
    mark = fold_mark(start, interval, tz)
    name = _fit(template, table, values, mark, cut)
    attempt = 0
    while name in taken:
        attempt += 1
        name = _fit(template, table, values, f"{mark}_{attempt}", cut)
    return name
