"""Snapshot + policies + now -> Plan. Pure: no I/O, no clock.

`check` reports a plan's findings, `maintain` applies its actions, `create`
and `drop` plan a narrower thing. Existing partitions are judged by their
bounds only; their names are labels.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from enum import Enum
from zoneinfo import ZoneInfo

from pgpart.config import RetentionMode, TablePolicy
from pgpart.core import calendar as cal
from pgpart.core import partition_names as naming
from pgpart.core.bounds import KeyKind
from pgpart.core.durations import Duration
from pgpart.core.framing import closed as _closed
from pgpart.core.framing import (
    inferred_grid,
    inferred_interval,
    interval_change,
    key_zone,
    partman_problem,
    table_zone,
    unknown_interval,
)
from pgpart.core.framing import live_partitions as _live_partitions
from pgpart.core.interval import parse_interval
from pgpart.core.localtime import to_instant
from pgpart.core.moments import describe_moment
from pgpart.core.plan import (
    Action,
    ArchivePartition,
    CreatePartition,
    DefaultRows,
    DetachPartition,
    DropLeftover,
    DropPartition,
    FinalizeDetach,
    Plan,
    Problem,
    Status,
    StorageTemplate,
    TablePlan,
    TableRef,
)
from pgpart.core.siblings import (
    Relocation,
    SiblingTemplate,
    copy_names,
    drift,
    relocation_for,
    template_issues,
)
from pgpart.core.snapshot import Leftover, Partition, PartitionedTable, Snapshot

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


class Mode(str, Enum):
    CHECK = "check"
    MAINTAIN = "maintain"
    CREATE = "create"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Target:
    """One table to plan for: what the user named and what the catalog holds."""

    argument: str
    table: PartitionedTable | None
    policy: TablePolicy
    default_rows: DefaultRows | None = None
    # Found by discovery rather than named: a table pgpart cannot handle is
    # listed with the reason as information, not judged unknown.
    discovered: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    """What the command asks for beyond the policies."""

    mode: Mode
    interval: cal.Interval | None = None  # create --interval
    create_from: datetime | None = None  # naive = the table's wall clock
    create_to: datetime | None = None
    drop_before: datetime | None = None  # drop --before (naive = table's wall clock)
    drop_older_than: Duration | None = None
    drop_detach: bool = False
    max_new_partitions: int = 500
    force: bool = False  # allow more than max_new_partitions


def plan(targets: Sequence[Target], snapshot: Snapshot, now: datetime, request: Request) -> Plan:
    """Plan every target independently; one bad table never hides another."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return Plan(
        now=now.astimezone(timezone.utc),
        tables=tuple(_plan_table(t, snapshot, now, request) for t in targets),
        server_version=snapshot.server_version,
    )


# --- one table -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Frame:
    """A table seen in its own time: key kind, zone, interval, now."""

    table: PartitionedTable
    kind: KeyKind
    tz: ZoneInfo | None  # None for timestamp/date keys (naive wall-clock periods)
    zone: ZoneInfo  # the policy's zone, also for naive keys' notion of "now"
    interval: cal.Interval | None
    now: datetime  # aware UTC for timestamptz, naive wall clock otherwise
    grid: cal.Grid | None = None  # the interval's boundaries (origin: the existing bounds)


def _plan_table(target: Target, snapshot: Snapshot, now: datetime, request: Request) -> TablePlan:
    table = target.table
    name = table.qualified if table else target.argument
    problem = _unsupported(target)
    if problem is not None or table is None:
        assert problem is not None
        if target.discovered:
            problem = replace(problem, severity=Status.INFO, message=problem.message + ": skipped")
        return TablePlan(
            table=name,
            status=Status.worst([problem.severity]),
            interval=None,
            interval_source=None,
            partitions=0,
            covered_from=None,
            covered_until=None,
            default_rows=None,
            problems=(problem,),
            blocked=not target.discovered,
        )
    assert table.key_kind is not None
    policy = target.policy
    zone = ZoneInfo(policy.timezone)
    tz, zone_note = table_zone(table, policy, snapshot.timezone)
    local_now = now.astimezone(timezone.utc) if tz else now.astimezone(zone).replace(tzinfo=None)
    live = _live_partitions(table)
    found = inferred_grid(table, tz)
    inferred = found.interval if found else None
    configured = request.interval or policy.interval
    source = "flag" if request.interval else "config" if policy.interval else "inferred"
    interval = configured or inferred
    grid = found if found and interval == inferred else cal.Grid(interval) if interval else None
    problems: list[Problem] = [zone_note] if zone_note else []
    blocked = False
    if interval is None and request.mode is not Mode.DROP:
        # check reports it too: check and maintain must agree on a table.
        problems.append(
            unknown_interval(
                table, policy, tz, snapshot.timezone, create=request.mode is Mode.CREATE
            )
        )
        blocked = True
    if configured and found and configured != found.interval:
        explicit = bool(request.interval) or policy.previous_interval == found.interval
        note = interval_change(table, found, configured, source, explicit, tz, local_now)
        problems += [note] if note else []
        blocked = blocked or (note is not None and note.code == "interval_mismatch")
    if interval and interval.unit.elapsed and table.key_kind is KeyKind.DATE:
        problems.append(
            Problem(
                Status.UNKNOWN,
                "unknown_interval",
                f"{source} interval is {interval.value}, but {table.key_column} is a date: "
                "partitions of a date key are whole days or longer",
            )
        )
        blocked = True
    frame = _Frame(table, table.key_kind, tz, zone, interval, local_now, grid)
    problems += _coverage_problems(frame, live, policy)
    problems += _default_problems(frame, target.default_rows, policy.premake)
    problems += _hygiene_problems(frame, policy)
    copying, sibling_problems = _copying(frame, target, snapshot)
    problems += sibling_problems
    problems += _drop_right_problems(frame, snapshot, _cutoff_for(frame, policy, request))
    partman = partman_problem(table, snapshot, request.mode)
    skip = partman is not None and request.mode in (Mode.MAINTAIN, Mode.DROP)
    if partman is not None:
        problems.append(partman)
        blocked = blocked or (skip and partman.severity is not Status.INFO)
    # A table pgpart leaves alone has no retention of pgpart's to misread.
    short = None if skip else _short_retention(frame, policy, request)
    if short is not None:
        problems.append(short)
        blocked = blocked or request.mode is Mode.DROP
    unreadable = [p for p in table.partitions if p.bound_error]
    if unreadable:
        blocked = True
        problems.append(
            Problem(
                Status.UNKNOWN,
                "unsupported_key",
                f"cannot read the bound of {unreadable[0].qualified}: {unreadable[0].bound_error}",
            )
        )

    actions: tuple[Action, ...] = ()
    if request.mode is not Mode.CHECK and not blocked and not skip:
        actions, more, failing = _actions(frame, target, snapshot, request, copying)
        if more:
            problems += more
            blocked = any(
                p.severity not in (Status.WARNING, Status.INFO) or p.code == "refused" for p in more
            )
            if blocked:
                actions = ()
        # Refused in part (cannot_reproduce, relocation_blocked, cannot_drop):
        # the rest is done and the command fails.
        blocked = blocked or failing

    segments = _segments(live)
    current = _segment_at(segments, frame.now)
    default = table.default
    return TablePlan(
        table=name,
        status=Status.worst([p.severity for p in problems]),
        interval=interval.value if interval else None,
        interval_source=(source if configured else "inferred") if interval else None,
        partitions=len(live),
        covered_from=_utc(segments[0][0], frame) if segments and segments[0][0] else None,
        covered_until=_utc(current[1], frame)
        if current and current[1]
        else (_utc(segments[-1][1], frame) if segments and segments[-1][1] else None),
        default_rows=(
            target.default_rows.rows
            if target.default_rows and default
            else (0 if default is None else None)
        ),
        problems=tuple(problems),
        actions=actions,
        blocked=blocked,
        oid=table.oid,
        lock_timeout_ms=policy.lock_timeout.milliseconds(),
    )


def _unsupported(target: Target) -> Problem | None:
    table = target.table
    if table is None:
        return Problem(Status.UNKNOWN, "unknown_table", f"table {target.argument} does not exist")
    if table.relkind != "p":
        return Problem(
            Status.UNKNOWN,
            "not_partitioned",
            f"{table.qualified} is not a partitioned table",
        )
    if table.strategy != "range":
        return Problem(
            Status.UNKNOWN,
            "unsupported_key",
            f"{table.qualified} is partitioned by {table.strategy}, not by a time range",
        )
    if table.key_column is None:
        return Problem(
            Status.UNKNOWN,
            "unsupported_key",
            f"{table.qualified} has a multi-column or expression partition key",
        )
    if table.key_kind is None:
        return Problem(
            Status.UNKNOWN,
            "unsupported_key",
            f"{table.qualified} is partitioned on {table.key_column} of type {table.key_type},"
            " not a date or time column",
        )
    return None


# --- coverage ---------------------------------------------------------------


def _named_lowers(parts: Sequence[Partition]) -> list[tuple[str, datetime]]:
    out = []
    for p in parts:
        if p.lower is not None and p.upper is not None:
            out.append((p.name, p.lower))
    return out


Segment = tuple[datetime | None, datetime | None]


def _segments(parts: Sequence[Partition]) -> list[Segment]:
    """Merge partitions into contiguous covered stretches (None = unbounded)."""
    out: list[list[datetime | None]] = []
    for p in parts:  # sorted by lower, MINVALUE first
        if out and out[-1][1] is not None and p.lower is not None and p.lower <= out[-1][1]:
            hi = out[-1][1]
            out[-1][1] = None if p.upper is None else max(hi, p.upper)
        elif out and out[-1][1] is None:
            continue
        else:
            out.append([p.lower, p.upper])
    return [(s[0], s[1]) for s in out]


def _segment_at(segments: Sequence[Segment], moment: datetime) -> Segment | None:
    for lo, hi in segments:
        if (lo is None or lo <= moment) and (hi is None or moment < hi):
            return (lo, hi)
    return None


def _covered(segments: Sequence[Segment], lo: datetime, hi: datetime) -> bool:
    return any((a is None or a <= lo) and (b is None or hi <= b) for a, b in segments)


def _overlaps(parts: Sequence[Partition], lo: datetime, hi: datetime) -> list[Partition]:
    return [
        p for p in parts if (p.lower is None or p.lower < hi) and (p.upper is None or lo < p.upper)
    ]


def _coverage_problems(
    frame: _Frame, live: Sequence[Partition], policy: TablePolicy
) -> list[Problem]:
    problems: list[Problem] = []
    segments = _segments(live)
    current = _segment_at(segments, frame.now)
    now_text = describe_moment(frame.now, frame.tz)
    if current is None:
        has_default = frame.table.default is not None
        problems.append(
            Problem(
                Status.CRITICAL,
                "missing_current",
                f"no partition covers now ({now_text}): inserts "
                + ("go to the DEFAULT partition" if has_default else "are failing"),
            )
        )
    elif current[1] is not None:
        until = current[1]
        crit = policy.critical_ahead
        warn = policy.effective_warn_ahead(frame.interval) if frame.interval else Duration(days=2)
        left = describe_moment(until, frame.tz)
        if crit and until < crit.after(frame.now, frame.tz):
            problems.append(
                Problem(
                    Status.CRITICAL,
                    "insufficient_ahead",
                    f"partitions end at {left}, less than {crit} ahead",
                )
            )
        elif warn and until < warn.after(frame.now, frame.tz):
            problems.append(
                Problem(
                    Status.WARNING,
                    "insufficient_ahead",
                    f"partitions end at {left}, less than {warn} ahead",
                )
            )
    for (_, a_hi), (b_lo, _) in itertools.pairwise(segments):
        assert a_hi is not None and b_lo is not None
        if a_hi <= frame.now < b_lo:
            continue  # already reported as missing_current
        problems.append(
            Problem(
                Status.WARNING,
                "gap",
                f"no partition covers [{describe_moment(a_hi, frame.tz)}, "
                f"{describe_moment(b_lo, frame.tz)})",
            )
        )
    return problems


def _default_problems(frame: _Frame, rows: DefaultRows | None, premake: int) -> list[Problem]:
    if frame.table.default is None or rows is None:
        return []
    if rows.error:
        return [
            Problem(
                Status.WARNING,
                "default_has_rows",
                f"could not probe the DEFAULT partition: {rows.error}",
            )
        ]
    if rows.rows == 0:
        return []
    count = f"{rows.rows}" if rows.exact else f"at least {rows.rows}"
    shown = [
        f"{describe_moment(p.start, frame.tz, frame.interval)} ({p.rows})" for p in rows.periods[:6]
    ]
    if len(rows.periods) > 6:
        shown.append(f"... {len(rows.periods) - 6} more periods")
    far = [
        p
        for p in rows.periods
        if p.start > frame.now
        and frame.grid
        and p.start
        >= cal.shift(cal.align(frame.now, frame.grid, frame.tz), frame.grid, 24, frame.tz)
    ]
    note = f"; {len(far)} far-future period(s): stray rows?" if far else ""
    note += _outside_window_fix(frame, rows, premake)
    return [
        Problem(
            Status.WARNING,
            "default_has_rows",
            f"DEFAULT partition {frame.table.default.qualified} holds {count} rows: "
            + ", ".join(shown)
            + note,
        )
    ]


def _outside_window_fix(frame: _Frame, rows: DefaultRows, premake: int) -> str:
    """The command that moves DEFAULT rows maintain leaves alone (periods
    before the current one or beyond the premake horizon)."""
    if frame.interval is None or not rows.periods:
        return ""
    current = cal.align(frame.now, frame.interval, frame.tz)
    horizon = cal.shift(current, frame.interval, premake + 1, frame.tz)
    outside = [p.start for p in rows.periods if not current <= p.start < horizon]
    if not outside:
        return ""
    start = cal.align(min(outside), frame.interval, frame.tz)
    end = cal.shift(cal.align(max(outside), frame.interval, frame.tz), frame.interval, 1, frame.tz)
    return (
        "; maintain leaves rows outside [now, premake] there: move them with"
        f" `pgpart create {frame.table.qualified} --from {_wall_text(start, frame)}"
        f" --to {_wall_text(end, frame)}`"
    )


def _wall_text(moment: datetime, frame: _Frame) -> str:
    """A moment as --from/--to read it: wall clock of the table's zone."""
    wall = moment.astimezone(frame.tz).replace(tzinfo=None) if frame.tz else moment
    if wall.hour == wall.minute == wall.second == wall.microsecond == 0:
        return wall.date().isoformat()
    return wall.isoformat(timespec="minutes")


def _hygiene_problems(frame: _Frame, policy: TablePolicy) -> list[Problem]:
    problems: list[Problem] = []
    for p in frame.table.ranged:
        if p.pending_detach:
            problems.append(
                Problem(
                    Status.WARNING,
                    "pending_detach",
                    f"{p.qualified} is half-detached (DETACH CONCURRENTLY was interrupted);"
                    " maintain finishes it",
                )
            )
    if policy.retention is not None and not _too_short(frame, policy.retention):
        cutoff = _retention_cutoff(frame, policy.retention)
        old = _expired(frame, cutoff, pending=False)
        if old:
            problems.append(
                Problem(
                    Status.WARNING,
                    "retention_overdue",
                    f"{len(old)} partition(s) lie wholly before the retention cutoff "
                    f"{describe_moment(cutoff, frame.tz)} (retention {policy.retention})",
                )
            )
    return problems


# --- actions ----------------------------------------------------------------


def _actions(
    frame: _Frame, target: Target, snapshot: Snapshot, request: Request, copying: _Copying
) -> tuple[tuple[Action, ...], list[Problem], bool]:
    """(actions, problems, whether something needed was refused)."""
    policy = target.policy
    ref = _table_ref(frame)
    if request.mode is Mode.DROP:
        cutoff = _drop_cutoff(frame, request)
        removals, refused = _retention_actions(
            frame, ref, snapshot, cutoff, detach=request.drop_detach
        )
        return _finalize_actions(frame, ref, removals) + removals, [], refused
    if frame.interval is None:
        return (), [], False  # reported as unknown_interval, in every mode
    creates, problems, failing = _create_actions(frame, target, snapshot, request, copying)
    retention: tuple[Action, ...] = ()
    if (
        request.mode is Mode.MAINTAIN
        and policy.retention is not None
        and (request.force or not _too_short(frame, policy.retention))
    ):
        detach = policy.retention_mode is RetentionMode.DETACH
        retention, refused = _retention_actions(
            frame, ref, snapshot, _retention_cutoff(frame, policy.retention), detach=detach
        )
        failing = failing or refused
        if policy.retention_mode is RetentionMode.ARCHIVE:
            # Dump, verify and upload before each drop; leftovers first (resume).
            from pgpart.core.archive_plan import archiving

            left = [p for p in frame.table.leftovers if _may_drop(snapshot, p.owner)]
            retention = archiving(ref, retention, left, policy)
            failing = failing or len(left) < len(frame.table.leftovers)
        elif not detach:
            leftovers, refused = _leftover_drops(frame, ref, snapshot)
            retention += leftovers
            failing = failing or refused
    return _finalize_actions(frame, ref, retention) + creates + retention, problems, failing


def _finalize_actions(
    frame: _Frame, ref: TableRef, retention: Sequence[Action]
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


def _create_actions(
    frame: _Frame, target: Target, snapshot: Snapshot, request: Request, copying: _Copying
) -> tuple[tuple[Action, ...], list[Problem], bool]:
    interval, grid = frame.interval, frame.grid
    assert interval is not None and grid is not None
    table, policy, tz = frame.table, target.policy, frame.tz
    current = cal.align(frame.now, grid, tz)
    if request.mode is Mode.CREATE and (request.create_from or request.create_to):
        start = _to_key_space(request.create_from, frame) if request.create_from else current
        end = (
            _to_key_space(request.create_to, frame)
            if request.create_to
            else cal.shift(current, grid, policy.premake + 1, tz)
        )
    else:
        start = current
        end = cal.shift(current, grid, policy.premake + 1, tz)
    if policy.retention is not None and request.mode is Mode.MAINTAIN:
        # Never create what the next retention run would drop.
        floor = _retention_cutoff(frame, policy.retention)
        if start < floor:
            start = cal.align(floor, grid, tz)
            if cal.shift(start, grid, 1, tz) <= floor:
                start = cal.shift(start, grid, 1, tz)
    if end <= start:
        return (), [], False
    live = _live_partitions(table)
    segments = _segments(live)
    # Names and bounds already taken, by anyone, in the parent's schema.
    taken = set(snapshot.taken_names.get(table.schema, frozenset()))
    template: str | None = None  # inferred from the existing names only when needed
    cut = naming.Cut.HASH
    storage = _storage_template(live)
    failing = False
    default = table.default
    rows = target.default_rows
    move = default is not None and (rows is None or rows.error is not None or rows.rows > 0)
    ref = _table_ref(frame)
    periods = _periods_bounded(start, end, grid, tz, request)
    if periods is None:
        return (
            (),
            [
                Problem(
                    Status.CRITICAL,
                    "refused",
                    f"would create more than {request.max_new_partitions} partitions "
                    f"[{describe_moment(start, tz)}, {describe_moment(end, tz)}); "
                    "narrow --from/--to, or pass --force (or raise max_new_partitions)",
                )
            ],
            False,
        )
    actions: list[Action] = []
    problems: list[Problem] = []
    for period_lo, hi in periods:
        lo = _needed_from(segments, live, period_lo, hi, frame.now)
        if lo is None:
            continue
        clash = _overlaps(live, lo, hi)
        if clash:
            problems.append(
                Problem(
                    Status.CRITICAL,
                    "overlap",
                    f"{interval.value} period [{describe_moment(lo, tz)}, "
                    f"{describe_moment(hi, tz)}) "
                    f"partly overlaps {clash[0].qualified}: cannot create it without a hole or "
                    "overlap; no DDL for this table",
                )
            )
            continue
        moves = move and _rows_in(rows, lo, hi, interval, tz)
        if copying.refuse or (moves and copying.relocation is None):
            failing = True  # said by cannot_reproduce / relocation_blocked
            continue
        if template is None:
            named = _named_lowers(live)
            template = (
                policy.naming
                or naming.infer_template(table.name, named, interval, tz)
                or naming.default_template(interval)
            )
            cut = naming.infer_cut(template, table.name, named, interval, tz)
        pname = naming.render_name(template, table.name, lo, interval, tz, taken, cut)
        taken.add(pname)
        actions.append(
            CreatePartition(
                table=ref,
                partition=pname,
                lower=lo,
                upper=hi,
                default_partition=default.name if default else None,
                default_schema=default.schema if default else None,
                move_rows=moves,
                storage=storage,
                template=copying.template,
                copy_names=copy_names(copying.template, pname, taken),
                relocation=copying.relocation or Relocation.PLAIN,
            )
        )
    # The current period first: it is the one inserts are failing for.
    actions.sort(
        key=lambda a: (
            0 if isinstance(a, CreatePartition) and a.lower <= frame.now < a.upper else 1,
            a.lower if isinstance(a, CreatePartition) else frame.now,
        )
    )
    return tuple(actions), problems, failing


def _needed_from(
    segments: Sequence[Segment],
    live: Sequence[Partition],
    lo: datetime,
    hi: datetime,
    now: datetime,
) -> datetime | None:
    """Where the partition for the period [lo, hi) starts; None when none is needed.

    Normally ``lo``; None when existing partitions cover the period from now
    on. Where partitions of another grid (an interval changed, going forward)
    cover its beginning up to some ``x`` and nothing after, the partition
    bridges [x, hi): the old coverage ends, the new grid carries on, no gap,
    no overlap. Anything else keeps ``lo`` and is reported as an overlap.
    """
    # A period wholly in the past (create --from) is needed from its start.
    start = max(lo, now) if now < hi else lo
    if _covered(segments, start, hi):
        return None
    clash = _overlaps(live, lo, hi)
    ends = [p.upper for p in clash if p.upper is not None]
    if not clash or len(ends) < len(clash):
        return lo
    end = max(ends)
    if end < hi and (start >= end or _covered(segments, start, end)):
        return end
    return lo


def _table_ref(frame: _Frame) -> TableRef:
    t = frame.table
    return TableRef(
        oid=t.oid,
        schema=t.schema,
        name=t.name,
        key_column=t.key_column or "",
        key_kind=frame.kind,
        owner=t.owner,
        acl=t.acl,
        facts=t.facts,
    )


def _rows_in(
    rows: DefaultRows | None,
    lo: datetime,
    hi: datetime,
    interval: cal.Interval,
    tz: ZoneInfo | None,
) -> bool:
    """Whether the default may hold rows of [lo, hi): only an exact, complete
    probe may say no; a sampled one says yes to be safe. The probe counts rows
    per ``date_trunc(interval.pg_unit)`` in the zone, whose periods need not
    nest in the grid's (2 weeks from a Wednesday, 1 day from 06:00): a probe
    period that overlaps [lo, hi) at all counts."""
    if rows is None or rows.error is not None or not rows.exact:
        return True
    unit = parse_interval(_PROBE_PERIOD[interval.pg_unit])
    return (
        any(lo < cal.shift(p.start, unit, 1, tz) and p.start < hi for p in rows.periods)
        or not rows.periods
    )


# The period of the probe's date_trunc unit, as a pgpart interval.
_PROBE_PERIOD = {
    "minute": "1 minute",
    "hour": "hourly",
    "day": "daily",
    "week": "weekly",
    "month": "monthly",
    "quarter": "quarterly",
    "year": "yearly",
}


def _periods_bounded(
    start: datetime, end: datetime, grid: cal.Grid, tz: ZoneInfo | None, request: Request
) -> list[tuple[datetime, datetime]] | None:
    limit = request.max_new_partitions
    out: list[tuple[datetime, datetime]] = []
    lo = cal.align(start, grid, tz)
    while lo < end:
        hi = cal.shift(lo, grid, 1, tz)
        out.append((lo, hi))
        if not request.force and len(out) > limit:
            return None
        lo = hi
    return out


def _storage_template(live: Sequence[Partition]) -> StorageTemplate:
    newest = max(_closed(live), key=lambda p: p.lower or datetime.min, default=None)
    if newest is None:
        return StorageTemplate()
    return StorageTemplate(newest.reloptions, newest.tablespace, newest.replica_identity)


def _too_short(frame: _Frame, retention: Duration) -> bool:
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


def _short_retention(frame: _Frame, policy: TablePolicy, request: Request) -> Problem | None:
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
    if given is None or not _too_short(frame, given):
        return None
    assert frame.interval is not None
    return Problem(
        Status.UNKNOWN,
        "retention_too_short",
        f"{what} {given} is shorter than one {frame.interval.value} partition: refused,"
        f" it would drop every partition before the current one; {fix}",
    )


def _retention_cutoff(frame: _Frame, retention: Duration) -> datetime:
    return retention.before(frame.now, frame.tz)


def _drop_cutoff(frame: _Frame, request: Request) -> datetime:
    if request.drop_before is not None:
        return _to_key_space(request.drop_before, frame)
    assert request.drop_older_than is not None
    return request.drop_older_than.before(frame.now, frame.tz)


def _expired(frame: _Frame, cutoff: datetime, *, pending: bool) -> list[Partition]:
    """Partitions lying wholly before the cutoff, judged by their real upper
    bound; the partition holding now and every later one never qualify.
    ``pending``: include partitions whose concurrent detach was interrupted."""
    limit = min(cutoff, frame.now)
    return [
        p
        for p in frame.table.ranged
        if p.upper is not None and p.upper <= limit and (pending or not p.pending_detach)
    ]


def _retention_actions(
    frame: _Frame, ref: TableRef, snapshot: Snapshot, cutoff: datetime, *, detach: bool
) -> tuple[tuple[Action, ...], bool]:
    """The retention actions, and whether some partition had to be left
    (pgpart's role may not drop it: cannot_drop says so)."""
    # DETACH CONCURRENTLY takes only SHARE UPDATE EXCLUSIVE on the parent, but
    # is refused when a default partition exists and needs PostgreSQL 14.
    # https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION
    concurrently = frame.table.default is None and snapshot.server_version >= 140000
    actions: list[Action] = []
    refused = False
    # A pending detach that is also expired is dropped (finalize, then drop):
    # finalizing alone would leave a table retention can no longer see.
    for p in _expired(frame, cutoff, pending=not detach):
        assert p.upper is not None
        if not detach and not _may_drop(snapshot, p.owner):
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


# --- time helpers -----------------------------------------------------------


def _to_key_space(moment: datetime, frame: _Frame) -> datetime:
    """A user-given moment in the table's terms: naive input is wall-clock
    time in the table's zone; aware input is converted."""
    if frame.tz is not None:
        if moment.tzinfo is None:
            return _localize(moment, frame.tz)
        return moment.astimezone(timezone.utc)
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(frame.zone).replace(tzinfo=None)


def _localize(wall: datetime, tz: ZoneInfo) -> datetime:
    return to_instant(wall, tz)


def _utc(value: datetime, frame: _Frame) -> datetime:
    """Report moments as aware datetimes: naive keys are read in the policy zone."""
    if value.tzinfo is not None:
        return value
    return _localize(value, frame.zone)


def with_default_rows(targets: Sequence[Target], rows: Mapping[int, DefaultRows]) -> list[Target]:
    return [replace(t, default_rows=rows.get(t.table.oid)) if t.table else t for t in targets]


# --- faithful siblings, relocation, rights to drop ----------------------------


@dataclass(frozen=True, slots=True)
class _Copying:
    """How new partitions of one table are made."""

    template: SiblingTemplate | None
    refuse: bool  # cannot_reproduce: no partition is created
    relocation: Relocation | None  # None: rows cannot leave DEFAULT unnoticed


def _copying(frame: _Frame, target: Target, snapshot: Snapshot) -> tuple[_Copying, list[Problem]]:
    table = frame.table
    newest = table.templates.newest
    problems: list[Problem] = []
    issues = template_issues(newest, table.key_column or "", table.templates.unreadable)
    for issue in issues:
        problems.append(
            Problem(
                Status.WARNING,
                "cannot_reproduce",
                issue.message
                + ("; pgpart creates no partition for this table" if issue.blocks else ""),
            )
        )
    if newest is not None:
        differs = drift(newest, table.templates.previous)
        if differs:
            problems.append(Problem(Status.WARNING, "sibling_drift", differs))
    relocation: Relocation | None = Relocation.PLAIN
    rows = target.default_rows
    if table.default is not None:
        login = snapshot.login
        relocation, why = relocation_for(
            table.facts, login.name, login.may_set_replication_role, snapshot.server_version
        )
        holds = rows is None or rows.error is not None or rows.rows > 0
        if why is not None and holds:
            problems.append(
                Problem(
                    Status.WARNING,
                    "relocation_blocked",
                    f"{why}; the rows stay in {table.default.qualified} and their ranges get no "
                    "partition until then",
                )
            )
    for left in table.leftovers:
        problems.append(
            Problem(
                Status.WARNING,
                "detached_leftover",
                f"{left.qualified} was detached from {table.qualified} by pgpart's retention and "
                "not dropped: its rows are no longer in the table; maintain "
                + (
                    "archives it, then drops it (retention_mode = archive)"
                    if " for archive " in left.note
                    else "drops it (retention_mode = drop)"
                )
                + ", or DROP TABLE or re-attach it yourself",
            )
        )
    refuse = any(i.blocks for i in issues)
    return _Copying(newest, refuse, relocation), problems


def _may_drop(snapshot: Snapshot, owner: str | None) -> bool:
    login = snapshot.login
    return owner is None or login.superuser or owner in login.acts_as


def _cutoff_for(frame: _Frame, policy: TablePolicy, request: Request) -> datetime | None:
    if request.mode is Mode.DROP:
        return _drop_cutoff(frame, request)
    if policy.retention is not None and policy.retention_mode is not RetentionMode.DETACH:
        return _retention_cutoff(frame, policy.retention)
    return None


def _drop_right_problems(
    frame: _Frame, snapshot: Snapshot, cutoff: datetime | None
) -> list[Problem]:
    """Partitions retention would drop but pgpart's role may not: said before
    anything is detached (a detached partition that cannot be dropped would
    take its rows out of the table)."""
    if cutoff is None:
        return []
    denied: list[Partition | Leftover] = [
        p for p in _expired(frame, cutoff, pending=True) if not _may_drop(snapshot, p.owner)
    ]
    denied += [p for p in frame.table.leftovers if not _may_drop(snapshot, p.owner)]
    if not denied:
        return []
    owners = sorted({p.owner or "?" for p in denied})
    login = snapshot.login.name
    first = denied[0]
    more = f" and {len(denied) - 1} more" if len(denied) > 1 else ""
    return [
        Problem(
            Status.WARNING,
            "cannot_drop",
            f"retention cannot drop {first.qualified}{more}: owned by role "
            f"{', '.join(owners)}, and the login role {login} is neither that role nor a "
            f"member of it; nothing was detached. Fix: GRANT {owners[0]} TO {login}",
        )
    ]


def _leftover_drops(
    frame: _Frame, ref: TableRef, snapshot: Snapshot
) -> tuple[tuple[Action, ...], bool]:
    actions: list[Action] = []
    refused = False
    for left in frame.table.leftovers:
        if _may_drop(snapshot, left.owner):
            actions.append(DropLeftover(ref, left.name, left.schema, left.owner))
        else:
            refused = True
    return tuple(actions), refused
