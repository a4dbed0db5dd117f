"""A restored partition is kept until a date: its mark, as the planner reads
it. Pure.

``pgpart restore`` brings back a partition that retention archived, so it
is by definition expired: without a mark, the next hourly maintain would
archive and drop it again. The mark is a constraint named
``pgpart_restored`` on the partition (``CHECK (true) NOT VALID``: it
checks nothing and costs no scan) whose comment says until when it is
kept; the table's own comment is left alone. Until that moment retention
(maintain's, and drop's) passes the partition over and ``check`` reports
it as ``restored`` (information); from then on it is a partition like any
other. Dropping the constraint releases it sooner. pgpart.db.ddl.restore
writes the mark.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from pgpart.core.plan import Problem, ProblemCode, Status
from pgpart.core.retention import Expired
from pgpart.core.snapshot import PartitionedTable

CONSTRAINT = "pgpart_restored"
_PREFIX = "pgpart: restored from "
_UNTIL = re.compile(r"; kept until (\S+) \(")


def note(source: str, restored_at: datetime, until: datetime) -> str:
    """The mark's comment: where the rows came from, and until when they stay."""
    return (
        f"{_PREFIX}{source} at {restored_at.isoformat(timespec='seconds')};"
        f" kept until {until.isoformat()} (retention leaves it alone until then)"
    )


def kept_until(text: str | None) -> datetime | None:
    """The moment a mark's comment keeps its partition until; None for any
    other text (or one without a time zone: not a mark of pgpart's)."""
    if not text or not text.startswith(_PREFIX):
        return None
    found = _UNTIL.search(text)
    if not found:
        return None
    try:
        until = datetime.fromisoformat(found.group(1))
    except ValueError:
        return None
    return until if until.tzinfo is not None else None


def without_kept(expired: Expired | None, now: datetime) -> Expired | None:
    """``expired`` less the restored partitions still kept at ``now``."""
    if expired is None:
        return None
    kept = tuple(p for p in expired.partitions if p.kept_until is None or p.kept_until <= now)
    return expired if len(kept) == len(expired.partitions) else replace(expired, partitions=kept)


def restored_problems(table: PartitionedTable, now: datetime) -> list[Problem]:
    """The partitions a restore keeps (information: never raises the status)."""
    return [
        Problem(
            Status.INFO,
            ProblemCode.RESTORED,
            f"{p.qualified} was restored from an archive and is kept until"
            f" {p.kept_until.isoformat()}: retention leaves it alone until then"
            f" (to release it sooner: ALTER TABLE {p.qualified} DROP CONSTRAINT {CONSTRAINT})",
        )
        for p in table.ranged
        if p.kept_until is not None and p.kept_until > now
    ]
