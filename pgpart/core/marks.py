"""Marks: what pgpart leaves on a table whose work spans several
transactions, so that a later run finds it, re-verifies it and finishes.

A mark lives in the comment of a CHECK constraint named ``MARK_CONSTRAINT``
on the marked table, never in the table's own comment (which stays the
user's). The comment's first line is a JSON object (JSON never holds a raw
newline, whatever the names in it); the lines after it say the same for a
human reading ``\\d+``. This module is pure: the text and its parser.
``pgpart.db.ddl.marks`` writes and reads them.

A mark is a claim, not a licence: before acting on one, a run checks that
the table is still what the mark says (the right parent, bounds, owner).

Two families share the constraint: a relocation's (``Mark``, kind
RELOCATING: rows in transit out of DEFAULT) and retention's
(``RetentionMark``, kinds RETENTION and ARCHIVING: a partition being
detached to be dropped, or archived then dropped; docs/retention.md). Each
parser reads only its own family.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from enum import Enum
from typing import Any

from pgpart.core.record import record

MARK_CONSTRAINT = "pgpart_mark"
_VERSION = 1


class MarkKind(str, Enum):
    RELOCATING = "relocating"  # rows of a range moving out of DEFAULT (drain)
    RETENTION = "retention"  # detached by retention, to be dropped
    ARCHIVING = "archiving"  # detached by retention, to be archived, then dropped

    def __str__(self) -> str:
        return self.value


class Phase(str, Enum):
    """Where a relocation stands."""

    DRAINING = "draining"  # standalone: rows move in batches out of DEFAULT
    REPUBLISHING = "republishing"  # attached: moved rows rewritten for subscribers
    # retention's two phases
    DETACHING = "detaching"  # the intent, put while attached: never a licence to drop
    DETACHED = "detached"  # put by the run that detached it: the claim a later run verifies

    def __str__(self) -> str:
        return self.value


@record
class Mark:
    kind: MarkKind
    parent_oid: int
    parent: str  # display name of the parent when marked
    lower: datetime
    upper: datetime
    since: datetime
    phase: Phase = Phase.DRAINING
    next_block: int = 0  # republishing: the first block not rewritten yet
    end_block: int = 0  # republishing: the table's size in blocks when attached

    def at(self, phase: Phase, *, next_block: int = 0, end_block: int = 0) -> Mark:
        return replace(self, phase=phase, next_block=next_block, end_block=end_block)


def mark_text(mark: Mark, table: str) -> str:
    """The comment that carries ``mark``; ``table`` is the marked table's name."""
    data: dict[str, Any] = {
        "pgpart_mark": _VERSION,
        "kind": mark.kind.value,
        "parent_oid": mark.parent_oid,
        "parent": mark.parent,
        "lower": mark.lower.isoformat(),
        "upper": mark.upper.isoformat(),
        "since": mark.since.isoformat(),
        "phase": mark.phase.value,
        "next_block": mark.next_block,
        "end_block": mark.end_block,
    }
    head = json.dumps(data, ensure_ascii=True, sort_keys=True)
    span = f"[{mark.lower.isoformat(sep=' ')}, {mark.upper.isoformat(sep=' ')})"
    if mark.phase is Phase.DRAINING:
        human = (
            f"pgpart: relocation in progress for {mark.parent} {span}: rows in transit in "
            f"{table}, invisible to readers of the parent until `pgpart maintain` finishes it"
        )
    else:
        human = (
            f"pgpart: relocated rows of {mark.parent} {span} are being republished to "
            "subscribers; `pgpart maintain` finishes it"
        )
    return head + "\n" + " ".join(human.split())


def parse_mark(text: str | None) -> Mark | None:
    """The mark in a constraint comment; None when it is not one pgpart wrote
    (or not one this version understands)."""
    if not text:
        return None
    first = text.split("\n", 1)[0]
    try:
        data = json.loads(first)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("pgpart_mark") != _VERSION:
        return None
    if data.get("kind") != MarkKind.RELOCATING.value:
        return None  # retention's: parse_retention_mark
    try:
        return Mark(
            kind=MarkKind(data["kind"]),
            parent_oid=_int(data["parent_oid"]),
            parent=str(data["parent"]),
            lower=datetime.fromisoformat(str(data["lower"])),
            upper=datetime.fromisoformat(str(data["upper"])),
            since=datetime.fromisoformat(str(data["since"])),
            phase=Phase(data.get("phase", Phase.DRAINING.value)),
            next_block=_int(data.get("next_block", 0)),
            end_block=_int(data.get("end_block", 0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


@record
class MarkedTable:
    """A table carrying a mark, as the catalog snapshot read it."""

    schema: str
    name: str
    oid: int
    owner: str
    relkind: str
    mark: Mark
    parent_oid: int | None  # the table it is a partition of; None: standalone
    bound: str | None  # pg_get_expr(relpartbound) when it is a partition


# --- retention's marks ----------------------------------------------------------------


@record
class RetentionMark:
    """Retention's mark on a partition it detaches (kind RETENTION or
    ARCHIVING). Put as DETACHING on the attached partition before a
    ``DETACH ... CONCURRENTLY`` (which cannot share a transaction with it),
    turned DETACHED by the run once its own detach succeeded; put as
    DETACHED in the very transaction of a plain DETACH. Only a DETACHED mark
    on a standalone table whose oid is ``table_oid`` is a claim worth
    verifying; the constraint's condition is the range, as the partition
    constraint was (NOT VALID: adding it scans nothing)."""

    kind: MarkKind
    parent_oid: int
    parent: str  # display name of the parent when marked
    lower: datetime | None  # None: MINVALUE
    upper: datetime
    since: datetime
    table_oid: int  # the marked table's own oid: a copy (LIKE ... INCLUDING ALL) is not it
    phase: Phase = Phase.DETACHING

    def at(self, phase: Phase) -> RetentionMark:
        return replace(self, phase=phase)


def retention_mark_text(mark: RetentionMark, table: str) -> str:
    """The constraint comment carrying ``mark``; ``table``: the marked table."""
    data: dict[str, Any] = {
        "pgpart_mark": _VERSION,
        "kind": mark.kind.value,
        "parent_oid": mark.parent_oid,
        "parent": mark.parent,
        "lower": mark.lower.isoformat() if mark.lower else None,
        "upper": mark.upper.isoformat(),
        "since": mark.since.isoformat(),
        "table_oid": mark.table_oid,
        "phase": mark.phase.value,
    }
    head = json.dumps(data, ensure_ascii=True, sort_keys=True)
    lo = mark.lower.isoformat(sep=" ") if mark.lower else "MINVALUE"
    span = f"[{lo}, {mark.upper.isoformat(sep=' ')})"
    then = "archived, then dropped" if mark.kind is MarkKind.ARCHIVING else "dropped"
    if mark.phase is Phase.DETACHING:
        human = (
            f"pgpart: retention is detaching {table} {span} from {mark.parent}, to be {then};"
            " while it is attached this mark means nothing, and a table detached by anyone"
            " else is never dropped because of it"
        )
    else:
        human = (
            f"pgpart: retention detached {table} {span} from {mark.parent}, to be {then}:"
            " `pgpart maintain` does it while the table is still expired; to keep the table:"
            f" ALTER TABLE {table} DROP CONSTRAINT {MARK_CONSTRAINT}"
        )
    return head + "\n" + " ".join(human.split())


def parse_retention_mark(text: str | None) -> RetentionMark | None:
    """Retention's mark in a constraint comment; None for anything else."""
    if not text:
        return None
    try:
        data = json.loads(text.split("\n", 1)[0])
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("pgpart_mark") != _VERSION:
        return None
    try:
        kind = MarkKind(data["kind"])
        phase = Phase(data["phase"])
        if kind is MarkKind.RELOCATING or phase not in (Phase.DETACHING, Phase.DETACHED):
            return None
        lower = data["lower"]
        return RetentionMark(
            kind=kind,
            parent_oid=_int(data["parent_oid"]),
            parent=str(data["parent"]),
            lower=None if lower is None else datetime.fromisoformat(str(lower)),
            upper=datetime.fromisoformat(str(data["upper"])),
            since=datetime.fromisoformat(str(data["since"])),
            table_oid=_int(data["table_oid"]),
            phase=phase,
        )
    except (KeyError, TypeError, ValueError):
        return None
