"""Snapshot + policies + now -> Plan. Pure: no I/O, no clock.

`check` reports a plan's findings, `maintain` applies its actions, `create`
and `drop` plan a narrower thing. Existing partitions are judged by their
bounds only; their names are labels.

Per table: frame it in its own time (zone, interval, grid), compute what
retention finds expired once, gather the findings (:mod:`findings`,
:mod:`copying`, :mod:`retention`), then, unless something forbids DDL, the
actions (:mod:`create_actions`, :mod:`retention`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone

from pgpart.core import calendar as cal
from pgpart.core.archive_plan import archived_drops
from pgpart.core.bounds import KeyKind
from pgpart.core.catchall import catchall_problems
from pgpart.core.copying import Copying, copying
from pgpart.core.coverage import segment_at, segments
from pgpart.core.coverage_map import coverage_map
from pgpart.core.create_actions import create_actions
from pgpart.core.findings import (
    coverage_problems,
    default_problems,
    hygiene_problems,
    key_encoding_note,
    locked_problem,
    opaque_current_problem,
    unreadable_bound,
    unsupported,
)
from pgpart.core.framing import (
    inferred_grid,
    inferred_interval,
    interval_change,
    key_zone,
    live_partitions,
    partman_problem,
    table_zone,
    unknown_interval,
)
from pgpart.core.identifiers import display_part
from pgpart.core.leftovers import Judged
from pgpart.core.plan import (
    Action,
    AnalyzeTable,
    ArchivePartition,
    CreatePartition,
    DefaultRows,
    DetachPartition,
    DropPartition,
    FinalizeDetach,
    Plan,
    Problem,
    ProblemCode,
    Status,
    TablePlan,
)
from pgpart.core.policy import RetentionMode, TablePolicy
from pgpart.core.record import record
from pgpart.core.relocation_plan import transits
from pgpart.core.replication import creation_notes, table_problems, with_refreshes
from pgpart.core.request import Mode, Request, Target
from pgpart.core.restore_mark import restored_problems, without_kept
from pgpart.core.retention import (
    Expired,
    clock_note,
    drop_cutoff,
    drop_right_problems,
    expired_before,
    finalize_actions,
    judged_leftovers,
    leftover_problems,
    removals,
    retention_actions,
    retention_cutoff,
    short_retention,
    too_short,
    unmark_actions,
)
from pgpart.core.retention_rules import blocker_problems, fk_order, fk_refusals, removal_of
from pgpart.core.snapshot import PartitionedTable, Snapshot
from pgpart.core.table_frame import TableFrame, as_reported, table_ref

__all__ = [
    "Mode",
    "Request",
    "Target",
    "inferred_grid",
    "inferred_interval",  # re-exported from pgpart.core.framing for its earlier users
    "key_zone",
    "plan",
    "table_zone",
    "with_default_rows",
]


def plan(targets: Sequence[Target], snapshot: Snapshot, now: datetime, request: Request) -> Plan:
    """Plan every target independently; one bad table never hides another."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    refusals = fk_refusals(targets, request)
    tables = tuple(_plan_table(t, snapshot, now, request, refusals) for t in targets)
    # Retention across tables linked by foreign keys: referencing side first.
    tables = fk_order(tables, {t.table.oid: t.table for t in targets if t.table is not None})
    if request.mode in (Mode.MAINTAIN, Mode.CREATE):
        tables = with_refreshes(tables, snapshot)  # subscriptions to bring partitions into
    return Plan(
        now=now.astimezone(timezone.utc),
        tables=tables,
        server_version=snapshot.server_version,
    )


def with_default_rows(targets: Sequence[Target], rows: Mapping[int, DefaultRows]) -> list[Target]:
    return [replace(t, default_rows=rows.get(t.table.oid)) if t.table else t for t in targets]


# --- one table -------------------------------------------------------------


@record
class _Expiry:
    """What retention finds expired in one table, computed once."""

    retained: Expired | None  # by the policy's retention (None: it has none)
    retention_short: bool  # that retention is shorter than one interval
    removing: Expired | None  # what this run would remove (drop: --before/--older-than)
    leftovers: tuple[Judged, ...]  # earlier runs' leftovers, judged by the policy in force
    refused: Problem | None  # retention refused (a foreign key: retention_rules)

    @classmethod
    def of(
        cls,
        frame: TableFrame,
        policy: TablePolicy,
        request: Request,
        now: datetime,
        refused: Problem | None,
    ) -> _Expiry:
        retention = policy.retention
        retained = None
        if retention is not None:
            retained = expired_before(frame, retention_cutoff(frame, retention))
        short = retention is not None and too_short(frame, retention)
        removing = retained
        if request.mode is Mode.DROP:
            removing = expired_before(frame, drop_cutoff(frame, request))
        # A restored partition is left alone until the date its restore set.
        judged = judged_leftovers(frame, policy, request, short)
        removing = without_kept(removing, now)
        refused = refused if removing and removing.partitions else None
        return cls(without_kept(retained, now), short, removing, judged, refused)


def _plan_table(
    target: Target,
    snapshot: Snapshot,
    now: datetime,
    request: Request,
    refusals: Mapping[int, Problem],
) -> TablePlan:
    table = target.table
    problem = unsupported(target)
    if problem is not None or table is None:
        assert problem is not None
        current = opaque_current_problem(table.current) if table is not None else None
        return _not_planned(target, problem, current)
    policy = target.policy
    frame, source, problems, blocked = _framed(table, policy, snapshot, now, request)
    # A restored partition is kept until its date by the retention clock: the
    # earlier of now and the server's in a writing run, as every cutoff is.
    writing = request.mode in (Mode.MAINTAIN, Mode.DROP) and snapshot.server_now is not None
    clock = min(now, snapshot.server_now) if writing and snapshot.server_now else now
    expiry = _Expiry.of(frame, policy, request, clock, refusals.get(table.oid))
    copy, found = _findings(frame, target, snapshot, request, expiry)
    found += restored_problems(table, now)
    problems += found
    partman = partman_problem(table, snapshot, request.mode)
    skip = partman is not None and request.mode in (Mode.MAINTAIN, Mode.DROP)
    if partman is not None:
        problems.append(partman)
        blocked = blocked or (skip and partman.severity is not Status.INFO)
    # A table pgpart leaves alone has no retention of pgpart's to misread.
    short = None if skip else short_retention(frame, policy, request)
    if short is not None:
        problems.append(short)
        blocked = blocked or request.mode is Mode.DROP
    unreadable = unreadable_bound(table)
    if unreadable is not None:
        problems.append(unreadable)
        blocked = True

    actions: tuple[Action, ...] = ()
    if request.mode is not Mode.CHECK and not blocked and not skip:
        actions, more, failing = _actions(frame, target, snapshot, request, copy, expiry)
        _encodable(frame.kind, actions)
        if more:
            problems += more
            blocked = any(
                p.severity not in (Status.WARNING, Status.INFO) or p.code is ProblemCode.REFUSED
                for p in more
            )
            if blocked:
                actions = ()
        # Refused in part (cannot_reproduce, relocation_blocked, cannot_drop):
        # the rest is done and the command fails.
        blocked = blocked or failing
        if policy.analyze and request.analyze and any(isinstance(a, _CHANGING) for a in actions):
            actions += (AnalyzeTable(table_ref(frame)),)
        problems += creation_notes(frame, actions, snapshot)
    return _table_plan(frame, target, source, problems, actions, blocked)


def _encodable(kind: KeyKind, actions: tuple[Action, ...]) -> None:
    """An encoded key's new bounds fit its type: epoch seconds in an integer
    end in 2038, nanoseconds in a bigint in 2262. Raises ValueError ("... is
    out of range"), which the caller reports as out_of_range."""
    if kind.encoding is None:
        return
    for a in actions:
        if isinstance(a, CreatePartition):
            kind.key_value(a.lower)
            kind.key_value(a.upper)


# What changes the rows a parent holds, and so its statistics (a leftover's
# drop does not: it left the table earlier).
_CHANGING = (CreatePartition, DropPartition, DetachPartition, FinalizeDetach, ArchivePartition)


def _findings(
    frame: TableFrame, target: Target, snapshot: Snapshot, request: Request, expiry: _Expiry
) -> tuple[Copying, list[Problem]]:
    """How new partitions are made, and what check reports about the table's
    coverage, DEFAULT rows, hygiene, siblings and retention."""
    table, policy = frame.table, target.policy
    problems = coverage_problems(frame, live_partitions(table), policy)
    problems += catchall_problems(frame, live_partitions(table))
    problems += default_problems(frame, target.default_rows, policy.premake)
    overdue = None if expiry.retention_short else expiry.retained
    problems += hygiene_problems(frame, overdue, policy.retention)
    copy, sibling_problems = copying(table, target.default_rows, snapshot)
    problems += sibling_problems
    if table.templates.locked is not None:
        problems.append(locked_problem(table.qualified, table.templates.locked, request.mode))
    _, marked = transits(table, snapshot.marks, frame.tz, check=request.mode is Mode.CHECK)
    problems += marked
    if request.mode is Mode.CHECK and table.default is not None and frame.interval is not None:
        problems += _relocation_ahead(frame, target, snapshot, copy)
    problems += leftover_problems(table, expiry.leftovers)
    drops = request.mode is Mode.DROP or policy.retention_mode is not RetentionMode.DETACH
    problems += [expiry.refused] if expiry.refused else []
    removing = None if expiry.refused else expiry.removing
    problems += drop_right_problems(table, snapshot, removing if drops else None, expiry.leftovers)
    if removing is not None:
        problems += blocker_problems(table, removing.partitions, removal_of(policy, request))
    note = clock_note(frame, policy, request, expiry.removing)
    problems += [note] if note else []
    problems += table_problems(frame, snapshot, check=request.mode is Mode.CHECK)
    return copy, problems


def _relocation_ahead(
    frame: TableFrame, target: Target, snapshot: Snapshot, copy: Copying
) -> list[Problem]:
    """check: what maintain would withhold until the user chooses how rows
    leave the DEFAULT (relocation_needs_choice), said ahead of time."""
    _, found, _ = create_actions(
        frame, target.policy, target.default_rows, snapshot, Request(Mode.MAINTAIN), copy, None
    )
    return [p for p in found if p.code is ProblemCode.RELOCATION_NEEDS_CHOICE]


def _not_planned(target: Target, problem: Problem, current: Problem | None = None) -> TablePlan:
    """A table pgpart cannot work on: named, it is refused; discovered, skipped.
    ``current``: the server found no partition for now (pgpart.core.opaque_current),
    critical whatever the rest."""
    if target.discovered:
        problem = replace(problem, severity=Status.INFO, message=problem.message + ": skipped")
    problems = (problem, current) if current is not None else (problem,)
    return TablePlan(
        table=target.table.qualified if target.table else target.argument,
        # Inserts failing outranks "cannot check the rest": the exit code says 2.
        status=Status.CRITICAL if current is not None else Status.worst([problem.severity]),
        interval=None,
        interval_source=None,
        partitions=0,
        covered_from=None,
        covered_until=None,
        default_rows=None,
        problems=problems,
        blocked=not target.discovered,
    )


def _framed(
    table: PartitionedTable,
    policy: TablePolicy,
    snapshot: Snapshot,
    now: datetime,
    request: Request,
) -> tuple[TableFrame, str | None, list[Problem], bool]:
    """The table in its own time; where its interval comes from ("flag",
    "config", "inferred"; None: unknown), what is wrong with that, and whether
    that forbids DDL."""
    assert table.key_kind is not None
    zone = policy.timezone
    tz, zone_note = table_zone(table, policy, snapshot.timezone)
    local_now = now.astimezone(timezone.utc) if tz else now.astimezone(zone).replace(tzinfo=None)
    found = inferred_grid(table, tz)
    inferred = found.interval if found else None
    configured = request.interval or policy.interval
    source = "flag" if request.interval else "config" if policy.interval else "inferred"
    interval = configured or inferred
    grid = found if found and interval == inferred else cal.Grid(interval) if interval else None
    problems: list[Problem] = [p for p in (key_encoding_note(table), zone_note) if p]
    blocked = False
    if interval is None and request.mode is not Mode.DROP:
        # check reports it too: check and maintain must agree on a table.
        create = request.mode is Mode.CREATE
        problems.append(unknown_interval(table, policy, tz, snapshot.timezone, create=create))
        blocked = True
    if configured and found and configured != found.interval:
        explicit = bool(request.interval) or policy.previous_interval == found.interval
        note = interval_change(table, found, configured, source, explicit, tz, local_now)
        problems += [note] if note else []
        blocked = blocked or (note is not None and note.code is ProblemCode.INTERVAL_MISMATCH)
    if interval and interval.unit.elapsed and table.key_kind is KeyKind.DATE:
        problems.append(
            Problem(
                Status.UNKNOWN,
                ProblemCode.UNKNOWN_INTERVAL,
                f"{source} interval is {interval.value}, but {display_part(table.key_column or '')}"
                " is a date: "
                "partitions of a date key are whole days or longer",
            )
        )
        blocked = True
    keep = None
    if snapshot.server_now is not None and request.mode in (Mode.MAINTAIN, Mode.DROP):
        server = snapshot.server_now
        server_local = server.astimezone(timezone.utc) if tz else server.astimezone(zone)
        keep = min(local_now, server_local if tz else server_local.replace(tzinfo=None))
    frame = TableFrame(table, table.key_kind, tz, zone, interval, local_now, grid, keep)
    return frame, source if interval else None, problems, blocked


def _actions(
    frame: TableFrame,
    target: Target,
    snapshot: Snapshot,
    request: Request,
    copy: Copying,
    expiry: _Expiry,
) -> tuple[tuple[Action, ...], list[Problem], bool]:
    """(actions, problems, whether something needed was refused)."""
    policy = target.policy
    ref = table_ref(frame)
    if request.mode is Mode.DROP:
        assert expiry.removing is not None
        how = removal_of(policy, request)
        removed, refused = removals(frame, ref, snapshot, expiry.removing, how)
        removed = archived_drops(ref, removed, policy, request)
        return finalize_actions(frame, ref, removed) + removed, [], refused
    if frame.interval is None:
        return (), [], False  # reported as unknown_interval, in every mode
    retained = expiry.retained
    floor = retained.cutoff if retained and request.mode is Mode.MAINTAIN else None
    creates, problems, failing = create_actions(
        frame, policy, target.default_rows, snapshot, request, copy, floor
    )
    retention: tuple[Action, ...] = ()
    if (
        request.mode is Mode.MAINTAIN
        and retained is not None
        and (request.force or not expiry.retention_short)
    ):
        # Refused (a foreign key): nothing expired is removed; leftovers still are.
        kept = replace(retained, partitions=()) if expiry.refused else retained
        retention, refused = retention_actions(frame, ref, snapshot, policy, kept, expiry.leftovers)
        failing = failing or refused or expiry.refused is not None
    if request.mode is Mode.MAINTAIN:
        retention = unmark_actions(frame, ref, retention) + retention
    return finalize_actions(frame, ref, retention) + creates + retention, problems, failing


def _table_plan(
    frame: TableFrame,
    target: Target,
    source: str | None,
    problems: list[Problem],
    actions: tuple[Action, ...],
    blocked: bool,
) -> TablePlan:
    table = frame.table
    live = live_partitions(table)
    stretches = segments(live)
    current = segment_at(stretches, frame.now)
    until = current[1] if current and current[1] else stretches[-1][1] if stretches else None
    start = stretches[0][0] if stretches else None
    rows = target.default_rows
    return TablePlan(
        table=table.qualified,
        status=Status.worst([p.severity for p in problems]),
        interval=frame.interval.value if frame.interval else None,
        interval_source=source,
        partitions=len(live),
        covered_from=as_reported(start, frame) if start else None,
        covered_until=as_reported(until, frame) if until else None,
        default_rows=rows.rows if rows and table.default else 0 if table.default is None else None,
        problems=tuple(problems),
        actions=actions,
        blocked=blocked,
        oid=table.oid,
        execution=target.policy.execution(),
        coverage=coverage_map(frame, target.policy, stretches, rows),
    )
