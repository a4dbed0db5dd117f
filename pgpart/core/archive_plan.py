"""Retention by archiving, as the planner sees it: pure, no I/O.

``retention_mode = "archive"`` turns each expired partition's drop into an
ArchivePartition (detach, pg_dump, verify, manifest, archive_command, drop:
carried out by ``pgpart.db.archive``), and every table an earlier run detached
and did not drop (a leftover, marked with a comment) into an archive that
resumes where that run stopped.

The mark is the comment retention already uses (``check`` reports marked
tables as detached_leftover); archive mode adds the bounds to it, since a
detached table no longer has any.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pgpart.config import RetentionMode, TablePolicy
from pgpart.core.plan import Action, ArchivePartition, DropPartition, TableRef
from pgpart.core.request import Request
from pgpart.core.siblings import LEFTOVER_MARK
from pgpart.core.snapshot import Leftover

_BOUNDS = re.compile(r" for archive from (\S+) to (\S+), to be dropped\Z")


def archive_mark(table: TableRef, lower: datetime | None, upper: datetime | None) -> str:
    """The comment put on a partition before it is detached for archiving."""
    lo = lower.isoformat() if lower else "-"
    hi = upper.isoformat() if upper else "-"
    return (
        f"{LEFTOVER_MARK}{table.qualified} (oid {table.oid})"
        f" for archive from {lo} to {hi}, to be dropped"
    )


def marked_bounds(note: str) -> tuple[datetime | None, datetime | None]:
    """The bounds an archive mark records; (None, None) for other marks."""
    found = _BOUNDS.search(note)
    if not found:
        return None, None
    try:
        lo, hi = (None if v == "-" else datetime.fromisoformat(v) for v in found.groups())
    except ValueError:
        return None, None
    return lo, hi


def archiving(
    ref: TableRef,
    retention: Sequence[Action],
    leftovers: Sequence[Leftover],
    policy: TablePolicy,
) -> tuple[Action, ...]:
    """Leftovers first (they resume an earlier run), then every planned drop
    as an archive. Nothing is planned without an archive_dir (the config
    refuses that combination; a library caller gets no retention)."""
    if not policy.archive_dir:
        return ()
    out: list[Action] = []
    for left in leftovers:
        lo, hi = marked_bounds(left.note)
        out.append(
            _archive(ref, policy, left.schema, left.name, lo, hi, detached=True, owner=left.owner)
        )
    for a in retention:
        if isinstance(a, DropPartition):
            out.append(
                _archive(
                    ref,
                    policy,
                    a.partition_schema,
                    a.partition,
                    a.lower,
                    a.upper,
                    concurrently=a.concurrently,
                    owner=a.owner or ref.owner,
                )
            )
        else:
            out.append(a)
    return tuple(out)


def archived_drops(
    ref: TableRef, removed: Sequence[Action], policy: TablePolicy, request: Request
) -> tuple[Action, ...]:
    """`pgpart drop` on a table whose retention archives: each partition is
    archived before it goes, as maintain would (``--no-archive``: dropped as
    asked; ``--detach``: only detached, nothing is lost)."""
    if policy.retention_mode is not RetentionMode.ARCHIVE or request.drop_no_archive:
        return tuple(removed)
    return archiving(ref, removed, (), policy)


def _archive(
    ref: TableRef,
    policy: TablePolicy,
    schema: str,
    name: str,
    lower: datetime | None,
    upper: datetime | None,
    *,
    owner: str,
    concurrently: bool = False,
    detached: bool = False,
) -> ArchivePartition:
    assert policy.archive_dir is not None
    return ArchivePartition(
        table=ref,
        partition=name,
        partition_schema=schema,
        lower=lower,
        upper=upper,
        concurrently=concurrently,
        detached=detached,
        owner=owner,
        archive_dir=policy.archive_dir,
        archive_command=policy.archive_command,
        pg_bin=policy.pg_bin,
        archive_timeout_s=policy.archive_timeout.milliseconds() / 1000,
    )
