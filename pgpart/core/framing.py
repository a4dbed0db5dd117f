"""How a table's time is read: its zone, its interval grid, a change of
interval, and pg_partman's claim on it. Pure, like the planner that uses it.

* The zone (:func:`table_zone`): the policy's, or the database's TimeZone
  when nothing is configured and the bounds sit on its local boundaries.
* The grid (:func:`inferred_grid`): the interval and origin the newest
  partitions follow; :func:`unknown_interval` says why there is none.
* A configured interval other than the bounds' (:func:`interval_change`):
  going forward, or refused where that would be unsafe.
* pg_partman (:func:`partman_problem`): monitored, left alone, or repaired
  on request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from pgpart.core import calendar as cal
from pgpart.core.grid import candidates
from pgpart.core.moments import describe_moment
from pgpart.core.plan import Problem, ProblemCode, Status
from pgpart.core.policy import TablePolicy
from pgpart.core.snapshot import Partition, PartitionedTable, Snapshot

# These run over every partition of every table (check reads 10,000 in one
# go): one pass each, reading the bound once per partition.


def live_partitions(table: PartitionedTable) -> list[Partition]:
    """Partitions that route rows: readable bounds, not pending detach."""
    return [p for p in table.partitions if p.bound is not None and not p.pending_detach]


def closed(parts: Sequence[Partition]) -> list[Partition]:
    out = []
    for p in parts:
        b = p.bound
        if b is not None and b.lower is not None and b.upper is not None:
            out.append(p)
    return out


def ranges_of(parts: Sequence[Partition]) -> list[tuple[datetime, datetime]]:
    """[lower, upper) of the partitions bounded on both sides."""
    out = []
    for p in parts:
        b = p.bound
        if b is not None and b.lower is not None and b.upper is not None:
            out.append((b.lower, b.upper))
    return out


# The newest partitions decide the interval (older ones may have another width),
# and looking at a few keeps 10,000-partition catalogs fast.
INFER_WINDOW = 12


def newest_ranges(
    table: PartitionedTable, n: int = INFER_WINDOW
) -> list[tuple[datetime, datetime]]:
    """``ranges_of(live_partitions(table))[-n:]``, found from the end: what a
    table's interval is inferred from costs the same at 12 partitions as at
    10,000."""
    out: list[tuple[datetime, datetime]] = []
    for p in reversed(table.partitions):
        if len(out) == n:
            break
        b = p.bound
        if b is not None and not p.pending_detach and b.lower is not None and b.upper is not None:
            out.append((b.lower, b.upper))
    out.reverse()
    return out


def key_zone(table: PartitionedTable, policy: TablePolicy) -> ZoneInfo | None:
    """The zone periods are computed in: the policy's for timestamptz keys
    (and keys that encode instants: epochs, UUIDv7), None (naive wall-clock
    periods) for timestamp and date keys."""
    kind = table.key_kind
    return policy.timezone if kind is not None and kind.aware else None


def inferred_interval(table: PartitionedTable, tz: ZoneInfo | None) -> cal.Interval | None:
    """The interval the table's newest live partitions follow, if any."""
    found = inferred_grid(table, tz)
    return found.interval if found else None


def inferred_grid(table: PartitionedTable, tz: ZoneInfo | None) -> cal.Grid | None:
    """The interval, and its origin, the table's newest live partitions follow."""
    return cal.infer_grid(newest_ranges(table), tz)


def partman_problem(table: PartitionedTable, snapshot: Snapshot, mode: str) -> Problem | None:
    """pg_partman's claim on a table (docs/pg_partman.md): check monitors it (the
    note is information); maintain and drop leave it alone, which is not a
    failure; an explicit create proceeds (the repair when pg_partman's own
    maintenance is stuck) with the names and bounds its partitions already
    follow, so that run_maintenance() carries on. When part_config cannot be
    read, any table may be pg_partman's: maintain and drop fail closed."""
    if not table.managed_by_partman and snapshot.partman_error is None:
        return None
    if mode == "create":
        what = "pg_partman manages" if table.managed_by_partman else "pg_partman may manage"
        return Problem(
            Status.INFO,
            ProblemCode.MANAGED_ELSEWHERE,
            f"{what} this table; created as requested, with the names and bounds of its "
            "partitions, so that pg_partman's run_maintenance() carries on",
        )
    verb = {"check": "checked", "maintain": "left alone", "drop": "left alone"}[mode]
    if table.managed_by_partman:
        return Problem(
            Status.INFO,
            ProblemCode.MANAGED_ELSEWHERE,
            f"pg_partman maintains this table (part_config): {verb} by pgpart; "
            "`pgpart create` repairs it explicitly",
        )
    return Problem(
        Status.WARNING,
        ProblemCode.MANAGED_ELSEWHERE,
        f"pg_partman is installed but pgpart {snapshot.partman_error}, so it cannot tell whether "
        f"pg_partman manages this table: {verb}"
        + (", no changes made" if mode != "check" else "")
        + "; grant SELECT on part_config to pgpart's role",
    )


def interval_change(
    table: PartitionedTable,
    old: cal.Grid,
    new: cal.Interval,
    source: str,
    explicit: bool,
    tz: ZoneInfo | None,
    now: datetime,
) -> Problem | None:
    """A configured interval other than the one the bounds follow.

    It takes effect going forward (existing partitions stay; new ones start
    at the end of the existing coverage, the first bridging to the new
    interval's grid) unless that would be unsafe: partitions of the old
    interval lie ahead of ``now`` (in key space) and nothing says the change
    is meant, for a typo in pgpart.toml must not change a table's layout.
    Meant: `create --interval`, or `previous_interval` naming the old
    interval. Returns what to report: interval_mismatch (no DDL), or
    interval_change (information) while partitions of the old interval lie
    ahead; None when the change simply is in effect. (The bridge itself is
    made where the new grid's periods meet the old coverage: _needed_from.)
    """
    bounded = closed(live_partitions(table))
    ahead = [
        p
        for p in bounded
        if p.lower is not None
        and p.upper is not None
        and p.lower > now
        and cal.align(p.lower, old, tz) == p.lower
        and cal.shift(p.lower, old, 1, tz) == p.upper
    ]
    if ahead and not explicit:
        return Problem(
            Status.WARNING,
            ProblemCode.INTERVAL_MISMATCH,
            f"{source} interval is {new.value} but the existing partitions are "
            f"{old.interval.value}, {len(ahead)} of them ahead of now; no DDL until they agree. "
            f'To change the interval going forward, set previous_interval = "{old.interval.value}"'
            " for this table (or pass --interval to create)",
        )
    ends = [p.upper for p in live_partitions(table) if p.lower is not None]
    if not ahead or None in ends:  # nothing of the old grid ahead; or MAXVALUE covers it all
        return None
    end = max(p.upper for p in bounded if p.upper is not None)
    bridge = ""
    if cal.align(end, new, tz) != end:
        bridge = f" (one partition bridging to {describe_moment(cal.shift(end, new, 1, tz), tz)})"
    return Problem(
        Status.INFO,
        ProblemCode.INTERVAL_CHANGE,
        f"interval changes from {old.interval.value} to {new.value} ({source}): existing "
        f"partitions stay; new ones follow {new.value} from {describe_moment(end, tz)}{bridge}",
    )


def table_zone(
    table: PartitionedTable, policy: TablePolicy, session_zone: str | None
) -> tuple[ZoneInfo | None, Problem | None]:
    """The zone a table's periods follow, and a note when it is not the policy's.

    With no `timezone` configured, a timestamptz table whose bounds sit on
    the local boundaries of the database's TimeZone (a session's starting
    value) rather than on the policy's zone's is read in that zone: monthly
    partitions at midnight Europe/Berlin are monthly, not irregular. The
    bounds decide: the zone in which more of the newest ranges are periods
    of the grid inferred there, then the one where that grid starts at local
    midnight, then the policy's zone.
    """
    tz = key_zone(table, policy)
    if (
        tz is None
        or "timezone" in policy.configured_keys
        or not session_zone
        or session_zone == policy.timezone.key
    ):
        return tz, None
    try:
        other = ZoneInfo(session_zone)
    except (ValueError, OSError):  # an abbreviation or POSIX rule, not a zone file
        return tz, None
    ranges = newest_ranges(table)
    if _zone_fit(ranges, other) <= _zone_fit(ranges, tz):
        return tz, None
    return other, Problem(
        Status.INFO,
        ProblemCode.TIMEZONE_INFERRED,
        f"periods follow {session_zone}, the database's TimeZone: the bounds sit on its "
        "local boundaries; set `timezone` for this table in pgpart.toml to say so",
    )


def _zone_fit(ranges: Sequence[tuple[datetime, datetime]], tz: ZoneInfo) -> tuple[int, int]:
    """How well ``tz`` explains the ranges: how many are periods of the grid
    inferred there, and whether that grid starts at local midnight."""
    found = cal.infer_grid(ranges, tz)
    if found is None:
        return (0, 0)
    fits = sum(
        1
        for lo, hi in ranges
        if cal.align(lo, found, tz) == lo and cal.shift(lo, found, 1, tz) == hi
    )
    start = cal.wall_clock(found.origin or ranges[-1][0], tz)
    return (fits, int(start.time() == datetime.min.time()))


def unknown_interval(
    table: PartitionedTable,
    policy: TablePolicy,
    tz: ZoneInfo | None,
    session_zone: str | None,
    *,
    create: bool = False,
) -> Problem:
    hint = ""
    if tz is not None and "timezone" not in policy.configured_keys and ranges_of(table.ranged):
        hint = (
            f"; if its bounds follow the local time of a zone other than {policy.timezone}, "
            "set `timezone`"
            + (
                f" (the database's TimeZone is {session_zone})"
                if session_zone and session_zone != policy.timezone.key
                else ""
            )
        )
    # A warning, not unknown: pgpart can still tell what the bounds cover
    # (a missing current partition stays critical); the writing commands
    # refuse the table all the same.
    return Problem(
        Status.WARNING,
        ProblemCode.UNKNOWN_INTERVAL,
        f"cannot tell the partition interval: {_why_no_interval(table, tz)}; set "
        f'`interval` in its [[table]] entry of pgpart.toml (name = "{table.qualified}",'
        ' interval = "daily", or hourly, monthly, "15 minutes", ...)'
        + (
            f" or pass --interval (e.g. `pgpart create {table.qualified} --interval daily`)"
            if create
            else ""
        )
        + hint,
    )


def _why_no_interval(table: PartitionedTable, tz: ZoneInfo | None) -> str:
    """Why the interval cannot be inferred: which bounds, and what is odd about them."""
    newest = newest_ranges(table)
    if not newest:
        if table.ranged:
            return "its partitions are bounded by MINVALUE/MAXVALUE only"
        return "it has no partitions to infer it from"
    shown = []
    for lower, upper in newest[-4:]:
        width = candidates(lower, upper, tz)
        what = width[0].value if width else f"{upper - lower}"
        shown.append(f"[{describe_moment(lower, tz)}, {describe_moment(upper, tz)}) ({what})")
    more = f" (newest {len(shown)} of {len(newest)} shown)" if len(newest) > len(shown) else ""
    return f"the bounds of its newest partitions follow no regular interval{more}: " + ", ".join(
        shown
    )
