"""Retention by archiving, as the planner sees it: pure, no I/O.

``retention_mode = "archive"`` turns each expired partition's drop into an
ArchivePartition (detach, pg_dump, verify, manifest, archive_command, drop:
carried out by ``pgpart.db.archive``), and every verified leftover of an
earlier run (pgpart.core.leftovers: still detached, still the same table,
still expired) into an archive that resumes where that run stopped.

The partition is marked as retention marks what it detaches (kind
ARCHIVING: pgpart.core.marks), so that ``check`` reports it as
detached_leftover should the run stop before the drop; a foreign-table
partition is only detached (retention_rules), never archived.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pgpart.core.plan import Action, ArchivePartition, DropPartition, TableRef
from pgpart.core.policy import RetentionMode, TablePolicy
from pgpart.core.request import Request
from pgpart.core.snapshot import Leftover


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
        out.append(
            _archive(
                ref,
                policy,
                left.schema,
                left.name,
                left.lower,
                left.upper,
                detached=True,
                owner=left.owner,
                oid=left.oid,
                note=left.note,
            )
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
                    oid=a.oid,
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
    oid: int,
    concurrently: bool = False,
    detached: bool = False,
    note: str = "",
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
        oid=oid,
        note=note,
    )
