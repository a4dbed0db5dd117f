"""Partition names: templates, the 63-byte limit, and continuing existing styles.

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

A table whose existing names show one way continues it; with no evidence,
pg_partman's templates (``{table}_p...``) cut plainly and every other
template hashes (:func:`infer_cut`).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo

from pgpart.core.calendar import Interval, Unit, periods, wall_clock
from pgpart.core.identifiers import MAX_NAME_BYTES, cut_to_bytes, utf8_len

__all__ = [
    "KNOWN_TEMPLATES",
    "MAX_IDENTIFIER_BYTES",
    "Cut",
    "default_template",
    "infer_cut",
    "infer_template",
    "known_templates",
    "render_name",
    "validate_template",
]

MAX_IDENTIFIER_BYTES = MAX_NAME_BYTES
FIELDS = ("table", "start", "quarter", "week", "isoyear")
_FOLD_MARK = "b"
_HASH_HEX_DIGITS = 6
_TABLE = "{table}"

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
# pgslice: %Y%m%d, %Y%m, %Y. All start with {table}: matching relies on it.
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


def _is_partman(template: str) -> bool:
    return template.startswith(_TABLE + "_p")


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


def _values(start: datetime, tz: ZoneInfo | None) -> dict[str, object]:
    wall = wall_clock(start, tz)
    isoyear, week, _ = wall.isocalendar()
    return {
        "start": wall,
        "quarter": (wall.month - 1) // 3 + 1,
        "week": _Week(week),
        "isoyear": isoyear,
    }


def _fold_mark(start: datetime, interval: Interval, tz: ZoneInfo | None) -> str:
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
            rendered.add(template.format(table="t", **_values(sample, None)))
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
        name = template.format(table="t", **_values(lower, None))
        if name in seen:
            raise ValueError(
                f"naming template {template!r} gives {interval.value} periods starting "
                f"{seen[name]:%Y-%m-%d %H:%M} and {lower:%Y-%m-%d %H:%M} the same name"
            )
        seen[name] = lower


# -- rendering ------------------------------------------------------------------


def _table_tag(table: str) -> str:
    digest = hashlib.blake2b(table.encode("utf-8"), digest_size=_HASH_HEX_DIGITS // 2)
    return "_" + digest.hexdigest()


def _fit(template: str, table: str, values: dict[str, object], extra: str, cut: Cut) -> str:
    name = template.format(table=table, **values) + extra
    if utf8_len(name) <= MAX_IDENTIFIER_BYTES:
        return name
    tables = _table_fields(template)
    fixed_text = template.format(table="", **values) + extra
    fixed = utf8_len(fixed_text)
    if cut is Cut.PLAIN and tables == 1 and template.startswith(_TABLE):
        # pg_partman: the parent cut to 63 characters in all, nothing added.
        plain = table[: max(MAX_IDENTIFIER_BYTES - len(fixed_text), 0)] + fixed_text
        if utf8_len(plain) > MAX_IDENTIFIER_BYTES:  # multi-byte: keep the suffix whole
            plain = cut_to_bytes(table, MAX_IDENTIFIER_BYTES - fixed) + fixed_text
        if plain != fixed_text and utf8_len(plain) <= MAX_IDENTIFIER_BYTES:
            return plain
    tag = _table_tag(table)
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
        cut = Cut.PLAIN if _is_partman(template) else Cut.HASH
    values = _values(start, tz)
    mark = _fold_mark(start, interval, tz)
    name = _fit(template, table, values, mark, cut)
    attempt = 0
    while name in taken:
        attempt += 1
        name = _fit(template, table, values, f"{mark}_{attempt}", cut)
    return name


# -- inference ------------------------------------------------------------------


def _shortening(prefix: str, table: str, name: str) -> Cut | bool:
    """How ``prefix`` stands for ``table``: True when it is the whole name, the
    :class:`Cut` that shortened it, False when it does not stand for it."""
    if prefix == table:
        return True
    if not prefix:
        return False
    tag = _table_tag(table)
    if prefix.endswith(tag) and table.startswith(prefix[: -len(tag)]):
        return Cut.HASH  # our own shortening
    # Plain truncation (pg_partman): only when the name is at the limit, give or
    # take a multi-byte character that did not fit.
    if table.startswith(prefix) and utf8_len(name) > MAX_IDENTIFIER_BYTES - 4:
        return Cut.PLAIN
    return False


def _shortened(prefix: str, table: str, name: str) -> bool:
    """Whether ``prefix`` stands for ``table`` cut to fit the identifier limit."""
    return _shortening(prefix, table, name) is not False


def _instant(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc) if moment.utcoffset() is not None else moment


def _matches(
    template: str, table: str, name: str, start: datetime, interval: Interval, tz: ZoneInfo | None
) -> bool:
    suffix = template.removeprefix(_TABLE).format(**_values(start, tz))
    for ending in {suffix + _fold_mark(start, interval, tz), suffix}:
        if name.endswith(ending) and _shortened(name[: len(name) - len(ending)], table, name):
            return True
    return False


def infer_template(
    table: str,
    partitions: Sequence[tuple[str, datetime]],
    interval: Interval,
    tz: ZoneInfo | None,
) -> str | None:
    """The known template that reproduces most existing partition names.

    ``partitions`` are (name, lower bound) pairs. The winner must match more
    than half of them; ties go to the template matching the newest ones, then
    to the earlier in :data:`KNOWN_TEMPLATES`. None when no template matches
    a majority (the caller then uses :func:`default_template`).
    """
    if not partitions:
        return None
    # Aware bounds in UTC: datetimes sharing a zone compare by wall time, fold ignored.
    ordered = sorted(partitions, key=lambda item: _instant(item[1]))
    best: tuple[int, tuple[int, ...]] = (0, ())
    winner: str | None = None
    for template in known_templates(interval):
        hits = [
            index
            for index, (name, start) in enumerate(ordered)
            if _matches(template, table, name, start, interval, tz)
        ]
        key = (len(hits), tuple(reversed(hits)))
        if key > best:
            best, winner = key, template
    return winner if 2 * best[0] > len(ordered) else None


def infer_cut(
    template: str,
    table: str,
    partitions: Sequence[tuple[str, datetime]],
    interval: Interval,
    tz: ZoneInfo | None,
) -> Cut:
    """How names of ``template`` that do not fit are shortened for this table.

    The existing names decide (the newest shortened one that ``template``
    renders); with none shortened, pg_partman's templates cut plainly, as
    pg_partman would, and others hash.
    """
    ordered = sorted(partitions, key=lambda item: _instant(item[1]), reverse=True)
    if template.startswith(_TABLE):
        for name, start in ordered:
            suffix = template.removeprefix(_TABLE).format(**_values(start, tz))
            for ending in (suffix + _fold_mark(start, interval, tz), suffix):
                if not name.endswith(ending):
                    continue
                how = _shortening(name[: len(name) - len(ending)], table, name)
                if isinstance(how, Cut):
                    return how
    return Cut.PLAIN if _is_partman(template) else Cut.HASH
