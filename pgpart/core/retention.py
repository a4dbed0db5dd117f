"""Retention as the planner sees it: which partitions have expired, the
findings about them (retention_too_short, cannot_drop, detached_leftover),
and the actions that remove them (drop, detach, archive, the verified
leftovers of earlier runs, clearing marks left on attached partitions, and
finishing interrupted detaches). What keeps a partition from going is
pgpart.core.retention_rules'; what a leftover may be, pgpart.core.leftovers'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from pgpart.core import calendar as cal
from pgpart.core.durations import Duration
from pgpart.core.leftovers import Judged, judge
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
    UnmarkPartition,
)
from pgpart.core.policy import RetentionMode, TablePolicy
from pgpart.core.record import record
from pgpart.core.request import Mode, Request
from pgpart.core.retention_rules import Removal, blockers, is_foreign, removal_of
from pgpart.core.snapshot import Leftover, Partition, PartitionedTable, Snapshot
from pgpart.core.table_frame import TableFrame, to_key_space


@record
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
    table: PartitionedTable,
    snapshot: Snapshot,
    dropping: Expired | None,
    leftovers: Sequence[Judged] = (),
) -> list[Problem]:
    """Partitions retention would drop but pgpart's role may not: said before
    anything is detached (a detached partition that cannot be dropped would
    take its rows out of the table). ``dropping``: what this run's retention
    would drop (None: it drops nothing; foreign tables are only detached);
    ``leftovers``: those of earlier runs, as judged."""
    if dropping is None:
        return []
    denied: list[Partition | Leftover] = [
        p
        for p in dropping.partitions
        if not is_foreign(table, p) and not may_drop(snapshot, p.owner)
    ]
    denied += [j.leftover for j in leftovers if j.go and not may_drop(snapshot, j.leftover.owner)]
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


def leftover_cutoff(
    frame: TableFrame, policy: TablePolicy, request: Request, short: bool
) -> tuple[datetime | None, str]:
    """The moment before which the policy in force removes partitions, by the
    retention clock (None: it removes none now, and why)."""
    if policy.retention is None:
        return None, "the table has no retention now"
    if policy.retention_mode is RetentionMode.DETACH:
        return None, "retention_mode is detach: pgpart keeps what it detaches"
    if short and not request.force:
        return None, "the table's retention is refused (shorter than one partition)"
    return min(retention_cutoff(frame, policy.retention), frame.retention_clock), ""


def judged_leftovers(
    frame: TableFrame, policy: TablePolicy, request: Request, short: bool
) -> tuple[Judged, ...]:
    cutoff, keeps = leftover_cutoff(frame, policy, request, short)
    return tuple(judge(left, cutoff, keeps) for left in frame.table.leftovers)


def leftover_problems(table: PartitionedTable, judged: Sequence[Judged]) -> list[Problem]:
    """Tables retention detached (or meant to) and did not drop: reported
    until they are dropped, re-attached, or their mark is removed."""
    out = []
    for j in judged:
        left = j.leftover
        if j.go:
            then = "archives it, then drops it" if left.archive else "drops it"
            text = (
                f"{left.qualified} was detached from {table.qualified} by pgpart's retention and"
                f" not dropped: its rows are no longer in the table; maintain {then} ({j.why}),"
                " or DROP TABLE or re-attach it yourself"
            )
        else:
            text = (
                f"{left.qualified} was detached from {table.qualified} and carries pgpart's"
                f" retention mark; pgpart leaves it alone: {j.why}. Its rows are no longer in"
                f" the table: {j.fix}"
            )
        out.append(Problem(Status.WARNING, ProblemCode.DETACHED_LEFTOVER, text))
    return out


def removals(
    frame: TableFrame, ref: TableRef, snapshot: Snapshot, expired: Expired, how: Removal
) -> tuple[tuple[Action, ...], bool]:
    """The actions removing expired partitions, and whether some partition had
    to be left (pgpart's role may not drop it, or something depends on it:
    cannot_drop says so). Foreign tables are detached, never dropped, after
    the rest: a failure there holds up no local partition."""
    # DETACH CONCURRENTLY takes only SHARE UPDATE EXCLUSIVE on the parent, but
    # is refused when a default partition exists and needs PostgreSQL 14.
    # https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION
    table = frame.table
    concurrently = table.default is None and snapshot.server_version >= 140000
    detach = how is Removal.DETACH
    actions: list[Action] = []
    foreign: list[Action] = []
    refused = False
    # A pending detach that is also expired is dropped (finalize, then drop):
    # finalizing alone would leave a table retention can no longer see.
    for p in expired.settled if detach else expired.partitions:
        assert p.upper is not None
        if blockers(table, p, how):
            refused = True
            continue
        if is_foreign(table, p):
            if not p.pending_detach:  # a pending one is finalized (finalize_actions)
                foreign.append(
                    DetachPartition(ref, p.name, p.schema, p.lower, p.upper, concurrently)
                )
            continue
        if detach:
            actions.append(DetachPartition(ref, p.name, p.schema, p.lower, p.upper, concurrently))
            continue
        if not may_drop(snapshot, p.owner):
            refused = True
            continue
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
                oid=p.oid,
            )
        )
    return tuple(actions + foreign), refused


def retention_actions(
    frame: TableFrame,
    ref: TableRef,
    snapshot: Snapshot,
    policy: TablePolicy,
    expired: Expired,
    judged: Sequence[Judged],
) -> tuple[tuple[Action, ...], bool]:
    """maintain's retention by the policy's retention_mode, the verified
    leftovers of earlier runs included; and whether something had to be
    left (cannot_drop)."""
    how = removal_of(policy, Request(Mode.MAINTAIN))
    actions, refused = removals(frame, ref, snapshot, expired, how)
    going = [j.leftover for j in judged if j.go]
    allowed = [left for left in going if may_drop(snapshot, left.owner)]
    refused = refused or len(allowed) < len(going)
    if how is Removal.ARCHIVE:
        # Dump, verify and upload before each drop; leftovers first (resume).
        from pgpart.core.archive_plan import archiving

        return archiving(ref, actions, allowed, policy), refused
    if how is Removal.DROP:
        actions += tuple(
            DropLeftover(
                ref, left.name, left.schema, left.owner, left.oid, left.note, left.lower, left.upper
            )
            for left in allowed
        )
    return actions, refused


def unmark_actions(
    frame: TableFrame, ref: TableRef, retention: Sequence[Action]
) -> tuple[Action, ...]:
    """Clear the retention marks left on attached partitions, except where
    this run's retention removes the partition anyway (its own steps mark it
    afresh): planned before the retention actions, so that a detach never
    carries a stale mark away."""
    removing = {
        (a.partition_schema, a.partition)
        for a in retention
        if isinstance(a, (DropPartition, ArchivePartition))
    }
    return tuple(
        UnmarkPartition(ref, m.name, m.schema, m.owner, m.oid, m.note, m.legacy)
        for m in frame.table.retention.stale_marks
        if (m.schema, m.name) not in removing
    )


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
