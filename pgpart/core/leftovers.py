"""Leftovers: tables retention detached (or meant to) that are no partition
any more, and what may be done with them. Pure.

A leftover carries retention's mark (pgpart.core.marks.RetentionMark, on a
constraint) or, from an earlier pgpart, a comment mark (the table's own
comment, ``pgpart: detached from ...``). The mark is a claim, never a
licence by itself: a leftover is dropped (or archived, then dropped) only
when all of this holds, else it is reported with what to do, and left
alone:

* it is still detached, and still the same table: the mark was put by the
  run that detached it (DETACHED, not the DETACHING intent put before a
  ``DETACH ... CONCURRENTLY``: the table may have been detached by anyone),
  on this very table (its oid; a copy made with ``LIKE ... INCLUDING ALL``
  carries the constraint, not the oid);
* its range is known: the mark's, as its own constraint and the CHECK that
  ``DETACH ... CONCURRENTLY`` added (the bounds the table had as a
  partition) say too (mark_agrees); for an earlier pgpart's retention mark,
  that CHECK's;
* it is still expired under the policy in force now: the table's retention
  (drop or archive mode), judged by the retention clock like any partition.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pgpart.core.bounds import BoundError, KeyKind, parse_timestamp
from pgpart.core.identifiers import display_part
from pgpart.core.marks import MARK_CONSTRAINT, Phase
from pgpart.core.record import record
from pgpart.core.snapshot import Leftover

_ARCHIVE_BOUNDS = re.compile(r" for archive from (\S+) to (\S+), to be dropped\Z")
# An earlier pgpart's mark, exactly as it wrote it (the table's own comment).
_LEGACY = re.compile(
    r"\Apgpart: detached from .+ [(]oid ([0-9]+)[)]"
    r" for (?:retention|archive from \S+ to \S+), to be dropped\Z",
    re.DOTALL,
)


def legacy_parent(note: str) -> int | None:
    """The parent's oid an earlier pgpart's comment mark names; None when the
    comment is not such a mark (a DBA's comment is never taken for one)."""
    found = _LEGACY.match(note)
    return int(found.group(1)) if found else None


def marked_bounds(note: str) -> tuple[datetime | None, datetime | None]:
    """The bounds an earlier pgpart's archive comment mark records; (None,
    None) for any other text."""
    found = _ARCHIVE_BOUNDS.search(note)
    if not found:
        return None, None
    try:
        lo, hi = (None if v == "-" else datetime.fromisoformat(v) for v in found.groups())
    except ValueError:
        return None, None
    return lo, hi


def bounds_from_checks(
    definitions: Sequence[str], column: str, kind: KeyKind
) -> tuple[datetime | None, datetime | None]:
    """The range of the CHECK constraint ``DETACH ... CONCURRENTLY`` adds (the
    partition constraint, as pg_get_constraintdef prints it with TimeZone UTC
    and DateStyle ISO: ``CHECK (((k IS NOT NULL) AND (k >= '...'::type) AND
    (k < '...'::type)))``, no lower comparison from MINVALUE); (None, None)
    when no constraint has that form."""
    key = re.escape(display_part(column))
    value = r"'([^']*)'::[^()]+"
    form = re.compile(
        rf"\ACHECK \(\(\({key} IS NOT NULL\)"
        rf"(?: AND \({key} >= {value}\))? AND \({key} < {value}\)\)\)\Z"
    )
    for text in definitions:
        found = form.match(text)
        if found is None:
            continue
        try:
            lower = parse_timestamp(found.group(1), kind) if found.group(1) is not None else None
            return lower, parse_timestamp(found.group(2), kind)
        except BoundError:
            continue
    return None, None


def mark_agrees(
    lower: datetime | None,
    upper: datetime,
    mark_check: str,
    checks: Sequence[str],
    column: str,
    kind: KeyKind,
) -> bool:
    """Whether the range a retention mark records is the range of its own
    constraint (``mark_check``, as pg_get_constraintdef prints it) and of the
    CHECK that ``DETACH ... CONCURRENTLY`` added, if the table has one (among
    ``checks``, its validated CHECKs): the bounds the table had as a
    partition. A mark whose text was edited, or moved to another table, does
    not agree."""
    own = bounds_from_checks([mark_check.removesuffix(" NOT VALID")], column, kind)
    if own != (lower, upper):
        return False
    added = bounds_from_checks(checks, column, kind)
    return added == (None, None) or added == (lower, upper)


@record
class Judged:
    leftover: Leftover
    go: bool  # dropped (or archived, then dropped) by this run
    why: str  # why it goes, or why it is left alone
    fix: str = ""  # what the user may do about it (left alone)


def judge(left: Leftover, cutoff: datetime | None, keeps: str) -> Judged:
    """Whether ``left`` may go: ``cutoff``, the moment before which the
    policy in force removes partitions (None: it removes none, ``keeps``
    says why)."""
    name = left.qualified
    keep_it = (
        f"to keep it as it is: ALTER TABLE {name} DROP CONSTRAINT {MARK_CONSTRAINT}"
        if left.mark is not None
        else f"to keep it as it is: COMMENT ON TABLE {name} IS NULL"
    )
    if left.mark is not None and left.mark.phase is Phase.DETACHING:
        return Judged(
            left,
            False,
            "pgpart marked it before detaching it, and it is detached, but pgpart did not"
            " see the detach succeed (someone else may have detached it, or a run stopped"
            " right after its detach): it never drops what it did not see itself detach",
            f"if it is to go: DROP TABLE {name}; {keep_it}",
        )
    if left.mark is not None and left.mark.table_oid != left.oid:
        return Judged(
            left,
            False,
            "its mark was made for another table (this one is a copy, or was restored)",
            keep_it,
        )
    if left.upper is None:
        why = (
            "the range its mark records is not the one its constraints say (the mark was"
            " edited, or the table changed since)"
            if left.mark is not None
            else "pgpart cannot tell which range it held (its mark records none, and no CHECK"
            " constraint says the bounds it had as a partition)"
        )
        return Judged(left, False, why, f"if it is to go: DROP TABLE {name}; {keep_it}")
    if cutoff is None or left.upper > cutoff:
        why = keeps if cutoff is None else "the retention in force keeps its range"
        return Judged(left, False, why, f"re-attach it, or DROP TABLE {name}; {keep_it}")
    return Judged(left, True, "still expired under the retention in force")
