"""Continuing existing partition names: which template, and which cut, a
table's partitions already use.

A partition name matches a template when it ends with the suffix the template
renders for the partition's lower bound (with or without the repeated hour's
``b``) and what comes before stands for the table: its whole name, or the
name shortened to fit 63 bytes in one of the two ways of
:class:`~pgpart.core.partition_names.Cut`.

A table whose existing names show one way continues it; with no evidence,
pg_partman's templates (``{table}_p...``) cut plainly and every other
template hashes (:func:`infer_cut`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from pgpart.core.calendar import Interval
from pgpart.core.identifiers import utf8_len
from pgpart.core.partition_names import (
    MAX_IDENTIFIER_BYTES,
    TABLE_FIELD,
    Cut,
    fold_mark,
    is_partman,
    known_templates,
    table_tag,
    template_values,
)

__all__ = ["infer_cut", "infer_template"]


def _shortening(prefix: str, table: str, name: str) -> Cut | bool:
    """How ``prefix`` stands for ``table``: True when it is the whole name, the
    :class:`Cut` that shortened it, False when it does not stand for it."""
    if prefix == table:
        return True
    if not prefix:
        return False
    tag = table_tag(table)
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
    suffix = template.removeprefix(TABLE_FIELD).format(**template_values(start, tz))
    for ending in {suffix + fold_mark(start, interval, tz), suffix}:
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
    to the earlier in :func:`~pgpart.core.partition_names.known_templates`.
    None when no template matches a majority (the caller then uses
    :func:`~pgpart.core.partition_names.default_template`).
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
    if template.startswith(TABLE_FIELD):
        for name, start in ordered:
            suffix = template.removeprefix(TABLE_FIELD).format(**template_values(start, tz))
            for ending in (suffix + fold_mark(start, interval, tz), suffix):
                if not name.endswith(ending):
                    continue
                how = _shortening(name[: len(name) - len(ending)], table, name)
                if isinstance(how, Cut):
                    return how
    return Cut.PLAIN if is_partman(template) else Cut.HASH
