"""Retention as the planner sees it: which partitions have expired, the
findings about them (retention_too_short, cannot_drop, detached_leftover),
and the actions that remove them (drop, detach, archive, the leftovers of
earlier runs, and finishing interrupted detaches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pgpart.config import RetentionMode, TablePolicy
from pgpart.core import calendar as cal
from pgpart.core.durations import Duration
from pgpart.core.moments import describe_moment
from pgpart.core.plan import (
    Action,
    ArchivePartition,
    DetachPartition,
    DropLeftover,
    DropPartition,
    FinalizeDetach,
    Problem,
    ProblemCode,
    Status,
    TableRef,
)
from pgpart.core.request import Mode, Request
from pgpart.core.snapshot import Leftover, Partition, PartitionedTable, Snapshot
from pgpart.core.table_frame import TableFrame, to_key_space


@dataclass(frozen=True, slots=True)
class Expired:
    """The partitions lying wholly before a cutoff, judged by their real upper
    bound; the partition holding now and every later one never qualify.
    Computed once per table and cutoff, read by findings and actions."""

    cutoff: datetime
    partitions: tuple[Partition, ...]  # with those whose concurrent detach was interrupted

    @property
    def settled(self) -> tuple[Partition, ...]:
        """Without the partitions left pending detach."""
        return tuple(p for p in self.partitions if not p.pending_detach)


def expired_before(frame: TableFrame, cutoff: datetime) -> Expired:
    limit = min(cutoff, frame.retention_clock)
    return Expired(
        cutoff,
        tuple(p for p in frame.table.ranged if p.upper is not None and p.upper <= limit),
    )


def retention_cutoff(frame: TableFrame, retention: Duration) -> datetime:
    return retention.before(frame.retention_clock, frame.tz)


def drop_cutoff(frame: TableFrame, request: Request) -> datetime:
    """The cutoff of `drop --before` or `drop --older-than`."""
    if request.drop_before is not None:
        return to_key_space(request.drop_before, frame)
    assert request.drop_older_than is not None
    return request.drop_older_than.before(frame.retention_clock, frame.tz)


def clock_note(
    frame: TableFrame, policy: TablePolicy, request: Request, removing: Expired | None
) -> Problem | None:
    """Information, when planning at a moment later than the server's clock
    (--now, PGPART_NOW, or a clock ahead of the server's) made this run keep
    partitions that retention at that moment would have removed."""
    if removing is None or frame.retention_now is None or frame.retention_now >= frame.now:
        return None
    at_now = replace(frame, retention_now=None)
    if request.mode is Mode.DROP:
        cutoff = drop_cutoff(at_now, request)
    elif policy.retention is not None:
        cutoff = retention_cutoff(at_now, policy.retention)
    else:
        return None
    removed = {(p.schema, p.name) for p in removing.partitions}
    would = expired_before(at_now, cutoff).partitions
    kept = [p for p in would if (p.schema, p.name) not in removed]
    if not kept:
        return None
    more = f" and {len(kept) - 1} more" if len(kept) > 1 else ""
    return Problem(
        Status.INFO,
        ProblemCode.RETENTION_CLOCK,
        f"planning at {describe_moment(frame.now, frame.tz)}, later than the server's clock"
        f" ({describe_moment(frame.retention_now, frame.tz)}): retention goes by the server's"
        f" clock and keeps {kept[0].qualified}{more}, which it would remove at"
        f" {describe_moment(frame.now, frame.tz)}",
    )


def too_short(frame: TableFrame, retention: Duration) -> bool:
    """Whether a retention is shorter than one partition interval: "6 min" on
    a monthly table is a typo, not a policy, and would drop every partition
    before the current one. Shorter than every one of the next twelve periods
    (so "28 days" on a monthly table is not refused in some months only)."""
    if frame.interval is None:
        return False
    start = cal.align(frame.now, frame.interval, frame.tz)
    for _ in range(12):
        end = cal.shift(start, frame.interval, 1, frame.tz)
        if retention.after(start, frame.tz) >= end:
            return False
        start = end
    return True


def short_retention(frame: TableFrame, policy: TablePolicy, request: Request) -> Problem | None:
    """The refusal (UNKNOWN: a bad config value or argument) of a retention or
    --older-than shorter than one interval; none with --force."""
    if request.force or request.mode is Mode.CREATE:  # create applies no retention
        return None
    if request.mode is Mode.DROP:
        given, fix = request.drop_older_than, "pass --force if you mean it"
        what = "--older-than"
    else:
        given, what = policy.retention, "retention"
        fix = (
            f"correct `retention` of [[table]] {frame.table.qualified} in the config"
            ' (e.g. "6 months"), or run `pgpart maintain --force` if you mean it'
        )
    if given is None or not too_short(frame, given):
        return None
    assert frame.interval is not None
    return Problem(
        Status.UNKNOWN,
        ProblemCode.RETENTION_TOO_SHORT,
        f"{what} {given} is shorter than one {frame.interval.value} partition: refused,"
        f" it would drop every partition before the current one; {fix}",
    )


def may_drop(snapshot: Snapshot, owner: str | None) -> bool:
    login = snapshot.login
    return owner is None or login.superuser or owner in login.acts_as


def drop_right_problems(
    table: PartitionedTable, snapshot: Snapshot, dropping: Expired | None
) -> list[Problem]:
    """Partitions retention would drop but pgpart's role may not: said before
    anything is detached (a detached partition that cannot be dropped would
    take its rows out of the table). ``dropping``: what this run's retention
    would drop (None: it drops nothing)."""
    if dropping is None:
        return []
    denied: list[Partition | Leftover] = [
        p for p in dropping.partitions if not may_drop(snapshot, p.owner)
    ]
    denied += [p for p in table.leftovers if not may_drop(snapshot, p.owner)]
    if not denied:
        return []
    owners = sorted({p.owner or "?" for p in denied})
    login = snapshot.login.name
    first = denied[0]
    more = f" and {len(denied) - 1} more" if len(denied) > 1 else ""
    return [
        Problem(
            Status.WARNING,
            ProblemCode.CANNOT_DROP,
            f"retention cannot drop {first.qualified}{more}: owned by role "
            f"{', '.join(owners)}, and the login role {login} is neither that role nor a "
            f"member of it; nothing was detached. Fix: GRANT {owners[0]} TO {login}",
        )
    ]


def leftover_problems(table: PartitionedTable) -> list[Problem]:
    """Tables pgpart's retention detached and did not drop (marked by a comment)."""
    return [
        Problem(
            Status.WARNING,
            ProblemCode.DETACHED_LEFTOVER,
            f"{left.qualified} was detached from {table.qualified} by pgpart's retention and "
            "not dropped: its rows are no longer in the table; maintain "
            + (
                "archives it, then drops it (retention_mode = archive)"
                if " for archive " in left.note
                else "drops it (retention_mode = drop)"
            )
            + ", or DROP TABLE or re-attach it yourself",
        )
        for left in table.leftovers
    ]


def removals(
    frame: TableFrame, ref: TableRef, snapshot: Snapshot, expired: Expired, *, detach: bool
) -> tuple[tuple[Action, ...], bool]:
    """The actions removing expired partitions, and whether some partition had
    to be left (pgpart's role may not drop it: cannot_drop says so)."""
    # DETACH CONCURRENTLY takes only SHARE UPDATE EXCLUSIVE on the parent, but
    # is refused when a default partition exists and needs PostgreSQL 14.
    # https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION
    concurrently = frame.table.default is None and snapshot.server_version >= 140000
    actions: list[Action] = []
    refused = False
    # A pending detach that is also expired is dropped (finalize, then drop):
    # finalizing alone would leave a table retention can no longer see.
    for p in expired.settled if detach else expired.partitions:
        assert p.upper is not None
        if not detach and not may_drop(snapshot, p.owner):
            refused = True
            continue
        if detach:
            actions.append(DetachPartition(ref, p.name, p.schema, p.lower, p.upper, concurrently))
        else:
            actions.append(
                DropPartition(
                    ref,
                    p.name,
                    p.schema,
                    p.lower,
                    p.upper,
                    detach_first=True,
                    concurrently=concurrently,
                    owner=p.owner,
                )
            )
    return tuple(actions), refused


def retention_actions(
    frame: TableFrame, ref: TableRef, snapshot: Snapshot, policy: TablePolicy, expired: Expired
) -> tuple[tuple[Action, ...], bool]:
    """maintain's retention by the policy's retention_mode, leftovers of earlier
    runs included; and whether something had to be left (cannot_drop)."""
    detach = policy.retention_mode is RetentionMode.DETACH
    actions, refused = removals(frame, ref, snapshot, expired, detach=detach)
    if policy.retention_mode is RetentionMode.ARCHIVE:
        # Dump, verify and upload before each drop; leftovers first (resume).
        from pgpart.core.archive_plan import archiving

        left = [p for p in frame.table.leftovers if may_drop(snapshot, p.owner)]
        actions = archiving(ref, actions, left, policy)
        return actions, refused or len(left) < len(frame.table.leftovers)
    if not detach:
        leftovers, refused_leftover = _leftover_drops(frame, ref, snapshot)
        return actions + leftovers, refused or refused_leftover
    return actions, refused


def _leftover_drops(
    frame: TableFrame, ref: TableRef, snapshot: Snapshot
) -> tuple[tuple[Action, ...], bool]:
    actions: list[Action] = []
    refused = False
    for left in frame.table.leftovers:
        if may_drop(snapshot, left.owner):
            actions.append(DropLeftover(ref, left.name, left.schema, left.owner))
        else:
            refused = True
    return tuple(actions), refused


def finalize_actions(
    frame: TableFrame, ref: TableRef, retention: Sequence[Action]
) -> tuple[Action, ...]:
    """Finish every detach left pending, except for partitions retention drops
    anyway (their drop step finalizes first, then drops)."""
    dropping = {
        (a.partition_schema, a.partition)
        for a in retention
        if isinstance(a, (DropPartition, ArchivePartition))
    }
    return tuple(
        FinalizeDetach(ref, p.name, p.schema)
        for p in frame.table.ranged
        if p.pending_detach and (p.schema, p.name) not in dropping
    )
