"""The partitions to create for one table: the window (now to premake ahead,
or create's --from/--to), its periods on the table's grid, where each new
partition starts, its name and schema, what it copies, and how it takes
rows from the DEFAULT partition (pgpart.core.relocation_plan); first, the
relocations earlier runs left in progress; with the findings that stop
some (overlap, refused, relocation_needs_choice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pgpart.core import calendar as cal
from pgpart.core import partition_names as naming
from pgpart.core.bounds import RangeBound
from pgpart.core.copying import Copying
from pgpart.core.coverage import Segment, covered, overlaps, segments
from pgpart.core.framing import closed, live_partitions
from pgpart.core.moments import describe_moment
from pgpart.core.name_inference import infer_cut, infer_template
from pgpart.core.placement import new_partition_schema
from pgpart.core.plan import (
    Action,
    CreatePartition,
    DefaultRows,
    Problem,
    ProblemCode,
    Status,
    StorageTemplate,
    TableRef,
)
from pgpart.core.policy import TablePolicy
from pgpart.core.range_checks import rebound
from pgpart.core.relocation import DefaultFacts
from pgpart.core.relocation_plan import Chooser, Transit, resume_relocating, rows_in, transits
from pgpart.core.request import Mode, Request
from pgpart.core.siblings import Relocation, copy_names
from pgpart.core.snapshot import Partition, Snapshot
from pgpart.core.table_frame import TableFrame, table_ref, to_key_space


def create_actions(
    frame: TableFrame,
    policy: TablePolicy,
    rows: DefaultRows | None,
    snapshot: Snapshot,
    request: Request,
    copying: Copying,
    floor: datetime | None,
) -> tuple[tuple[Action, ...], list[Problem], bool]:
    """(actions, problems, whether a needed partition was withheld).
    ``floor``: the retention cutoff, before which nothing is created."""
    assert frame.interval is not None and frame.grid is not None
    start, end = _window(frame, policy, request, floor)
    if end <= start:
        return (), [], False
    periods = _periods_bounded(start, end, frame.grid, frame.tz, request)
    if periods is None:
        tz = frame.tz
        refused = Problem(
            Status.CRITICAL,
            ProblemCode.REFUSED,
            f"would create more than {request.max_new_partitions} partitions "
            f"[{describe_moment(start, tz)}, {describe_moment(end, tz)}); "
            "narrow --from/--to, or pass --force (or raise max_new_partitions)",
        )
        return (), [refused], False
    in_transit, _ = transits(frame.table, snapshot.marks, frame.tz, check=False)
    maker = _Maker.for_table(frame, policy, rows, snapshot, copying, in_transit)
    actions: list[Action] = [maker.resume(t) for t in in_transit]
    problems: list[Problem] = []
    failing = False
    for period_lo, hi in periods:
        lo = _needed_from(maker.stretches, maker.live, period_lo, hi, frame.now)
        if lo is None:
            continue
        clash = overlaps(maker.live, lo, hi)
        if clash:
            problems.append(_overlap(frame, lo, hi, clash[0]))
            continue
        made = maker.make(lo, hi)
        if made is None:
            failing = True  # said by cannot_reproduce / relocation_blocked
            continue
        actions.append(made)
    choice = maker.chooser.problem(frame.table, frame.tz)
    if choice is not None:
        problems.append(choice)
        failing = True
    # Relocations left in progress first (their rows are invisible), then the
    # current period: it is the one inserts are failing for.
    actions.sort(
        key=lambda a: (
            0 if isinstance(a, CreatePartition) and a.relocating and a.relocating.resume else 1,
            0 if isinstance(a, CreatePartition) and a.lower <= frame.now < a.upper else 1,
            a.lower if isinstance(a, CreatePartition) else frame.now,
        )
    )
    return tuple(actions), problems, failing


def _window(
    frame: TableFrame, policy: TablePolicy, request: Request, floor: datetime | None
) -> tuple[datetime, datetime]:
    """[start, end) to have partitions for, on the table's grid."""
    grid, tz = frame.grid, frame.tz
    assert grid is not None
    current = cal.align(frame.now, grid, tz)
    start: datetime | None = None
    end: datetime | None = None
    if request.mode is Mode.CREATE:
        start = to_key_space(request.create_from, frame) if request.create_from else None
        end = to_key_space(request.create_to, frame) if request.create_to else None
    start = start or current
    end = end or cal.shift(current, grid, policy.premake + 1, tz)
    if floor is not None and start < floor:
        # Never create what the next retention run would drop.
        start = cal.align(floor, grid, tz)
        if cal.shift(start, grid, 1, tz) <= floor:
            start = cal.shift(start, grid, 1, tz)
    return start, end


def _overlap(frame: TableFrame, lo: datetime, hi: datetime, other: Partition) -> Problem:
    assert frame.interval is not None
    return Problem(
        Status.CRITICAL,
        ProblemCode.OVERLAP,
        f"{frame.interval.value} period [{describe_moment(lo, frame.tz)}, "
        f"{describe_moment(hi, frame.tz)}) "
        f"partly overlaps {other.qualified}: cannot create it without a hole or "
        "overlap; no DDL for this table",
    )


@dataclass(slots=True)
class _Maker:
    """Makes the CreatePartition of one period: its name (unique among the
    names taken in its schema, the newest sibling's), storage, sibling copy,
    and how rows leave the DEFAULT."""

    frame: TableFrame
    policy: TablePolicy
    rows: DefaultRows | None
    copying: Copying
    ref: TableRef
    live: list[Partition]
    stretches: list[Segment]
    schema: str  # where new partitions go: the newest sibling's schema
    taken: set[str]
    storage: StorageTemplate
    chooser: Chooser
    template: str | None = None  # inferred from the existing names only when needed
    cut: naming.Cut = naming.Cut.HASH

    @classmethod
    def for_table(
        cls,
        frame: TableFrame,
        policy: TablePolicy,
        rows: DefaultRows | None,
        snapshot: Snapshot,
        copying: Copying,
        in_transit: list[Transit],
    ) -> _Maker:
        table = frame.table
        live = live_partitions(table)
        schema = new_partition_schema(table)
        # Names already taken, by anyone, in that schema.
        taken = set(snapshot.taken_names.get(schema, frozenset()))
        # A range whose rows are in transit is planned by its resume, not again.
        pending = [_as_partition(t) for t in in_transit if not t.attached]
        planned = sorted(live + pending, key=lambda p: p.lower or datetime.min)
        return cls(
            frame, policy, rows, copying, table_ref(frame), planned, segments(planned), schema,
            taken, _storage_template(live), Chooser.of(policy, rows),
        )  # fmt: skip

    def make(self, lo: datetime, hi: datetime) -> CreatePartition | None:
        """None: withheld (cannot_reproduce, rows that cannot be relocated, or
        a relocation over the budget that the user has not chosen how to make)."""
        frame, interval, tz = self.frame, self.frame.interval, self.frame.tz
        assert interval is not None
        default = frame.table.default
        count = rows_in(self.rows, lo, hi, interval, tz) if default is not None else 0
        moves = default is not None and count != 0
        if self.copying.refuse or (moves and self.copying.relocation is None):
            return None
        relocating = None
        if default is not None:
            template = self.copying.template
            relocating = self.chooser.relocating(
                lo,
                hi,
                count,
                stash=self.copying.relocation is not None,
                schema=self.schema,
                subpartitioned=template is not None and template.subpartitioning is not None,
            )
            if relocating is None:
                return None
        pname = self._name(lo)
        return CreatePartition(
            table=self.ref,
            partition=pname,
            lower=lo,
            upper=hi,
            default_partition=default.name if default else None,
            default_schema=default.schema if default else None,
            move_rows=moves,  # the probe found rows of the range (the settle takes any)
            storage=self.storage,
            template=rebound(self.copying.template, pname, lo, hi),
            copy_names=copy_names(self.copying.template, pname, self.taken),
            relocation=self.copying.relocation or Relocation.PLAIN,
            schema=self.schema,
            relocating=relocating,
        )

    def resume(self, transit: Transit) -> CreatePartition:
        """Finish what an earlier run left: the partition exists, marked."""
        marked = transit.table
        default = self.frame.table.default
        facts = self.rows.facts if self.rows is not None else DefaultFacts()
        return CreatePartition(
            table=self.ref,
            partition=marked.name,
            lower=marked.mark.lower,
            upper=marked.mark.upper,
            default_partition=default.name if default else None,
            default_schema=default.schema if default else None,
            move_rows=default is not None,
            storage=self.storage,
            template=rebound(
                self.copying.template, marked.name, marked.mark.lower, marked.mark.upper
            ),
            copy_names=copy_names(self.copying.template, marked.name, self.taken),
            relocation=self.copying.relocation or Relocation.PLAIN,
            schema=marked.schema,
            relocating=resume_relocating(transit, self.policy, facts),
        )

    def _name(self, lo: datetime) -> str:
        frame, interval, tz = self.frame, self.frame.interval, self.frame.tz
        assert interval is not None
        name = frame.table.name
        if self.template is None:
            named = _named_lowers(live_partitions(frame.table))
            self.template = (
                self.policy.naming
                or infer_template(name, named, interval, tz)
                or naming.default_template(interval)
            )
            self.cut = infer_cut(self.template, name, named, interval, tz)
        pname = naming.render_name(self.template, name, lo, interval, tz, self.taken, self.cut)
        self.taken.add(pname)
        return pname


def _as_partition(t: Transit) -> Partition:
    m = t.table
    return Partition(
        m.schema, m.name, RangeBound(m.mark.lower, m.mark.upper), None, None, owner=m.owner
    )


def _named_lowers(parts: Sequence[Partition]) -> list[tuple[str, datetime]]:
    return [(p.name, p.lower) for p in parts if p.lower is not None and p.upper is not None]


def _periods_bounded(
    start: datetime, end: datetime, grid: cal.Grid, tz: ZoneInfo | None, request: Request
) -> list[tuple[datetime, datetime]] | None:
    """The grid's periods from start to end; None: more than max_new_partitions."""
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


def _needed_from(
    stretches: Sequence[Segment],
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
    if covered(stretches, start, hi):
        return None
    clash = overlaps(live, lo, hi)
    ends = [p.upper for p in clash if p.upper is not None]
    if not clash or len(ends) < len(clash):
        return lo
    end = max(ends)
    if end < hi and (start >= end or covered(stretches, start, end)):
        return end
    return lo


def _storage_template(live: Sequence[Partition]) -> StorageTemplate:
    """Storage of the newest partition bounded on both sides (none: the defaults)."""
    newest = max(closed(live), key=lambda p: p.lower or datetime.min, default=None)
    if newest is None:
        return StorageTemplate()
    return StorageTemplate(newest.reloptions, newest.tablespace, newest.replica_identity)
