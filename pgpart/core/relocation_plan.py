"""Relocation in a table's plan: how each new partition takes its rows out
of the DEFAULT (settle or drain, within the budget or as the user chose),
the relocations earlier runs left in progress (their marks, re-verified),
and the findings both give (relocation_needs_choice, relocation_in_progress).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from pgpart.core import calendar as cal
from pgpart.core.interval import parse_interval
from pgpart.core.marks import MarkedTable, MarkKind, Phase
from pgpart.core.moments import describe_moment
from pgpart.core.plan import DefaultRows, Problem, ProblemCode, Status
from pgpart.core.policy import TablePolicy
from pgpart.core.record import record
from pgpart.core.relocation import (
    DefaultFacts,
    Estimate,
    Method,
    Relocating,
    Strategy,
    choose,
    compacted_bytes,
    drain_seconds,
    drain_unavailable,
    rows_per_block,
    seconds_text,
    settle_estimate,
    size_text,
    tuples_of,
)
from pgpart.core.snapshot import PartitionedTable

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


def rows_in(
    rows: DefaultRows | None,
    lo: datetime,
    hi: datetime,
    interval: cal.Interval,
    tz: ZoneInfo | None,
) -> int | None:
    """How many rows of [lo, hi) the DEFAULT holds; None: unknown (the probe
    failed or sampled without listing every period), which counts as "some".

    The probe counts rows per ``date_trunc(interval.pg_unit)`` in the zone,
    whose periods need not nest in the grid's (2 weeks from a Wednesday,
    1 day from 06:00): every probe period overlapping [lo, hi) counts whole."""
    if rows is None or rows.error is not None:
        return None
    if not rows.all_periods and not rows.exact:
        # A sample: the periods it saw count; others may hold rows too.
        return None
    unit = parse_interval(_PROBE_PERIOD[interval.pg_unit])
    return sum(
        p.rows for p in rows.periods if lo < cal.shift(p.start, unit, 1, tz) and p.start < hi
    )


@dataclass(slots=True)
class Chooser:
    """Decides how each new partition of one table relocates, and gathers
    what needs the user's choice."""

    policy: TablePolicy
    facts: DefaultFacts
    sample_rows: int  # rows the probe saw in all (for an unknown count)
    scale: float  # a sample's counts times this: the whole DEFAULT's (1 when exact)
    # Live tuples of the DEFAULT when the next create runs: the creates run
    # in range order, and a drain leaves the DEFAULT without its rows.
    tuples: int
    withheld: list[tuple[datetime, datetime, Estimate, str | None]]

    @classmethod
    def of(cls, policy: TablePolicy, rows: DefaultRows | None) -> Chooser:
        facts = rows.facts if rows is not None else DefaultFacts()
        seen = rows.rows if rows is not None else 0
        scale = 1.0
        if rows is not None and not rows.exact and seen:
            scale = max(1.0, tuples_of(facts) / seen)
        exact = rows is not None and rows.exact and rows.error is None
        tuples = seen if exact else max(tuples_of(facts), int(seen * scale))
        return cls(policy, facts, seen, scale, tuples, [])

    def relocating(
        self,
        lo: datetime,
        hi: datetime,
        rows: int | None,
        *,
        stash: bool,
        schema: str,
        subpartitioned: bool,
    ) -> Relocating | None:
        """How [lo, hi) relocates; None: withheld until the user chooses."""
        # A sample (check) sees part of the DEFAULT: its counts are scaled
        # to the table's statistics, so that check does not understate.
        count = int((self.sample_rows if rows is None else rows) * self.scale)
        estimate = settle_estimate(count, self.facts, stash=stash, tuples=self.tuples)
        budget = self.policy.relocation_budget_s()
        why_not = drain_unavailable(self.facts, schema, subpartitioned)
        method = choose(self.policy.relocation, estimate, budget, why_not)
        if method is None:
            self.withheld.append((lo, hi, estimate, why_not))
            return None
        drain = method is Method.DRAIN
        if drain:
            before, self.tuples = self.tuples, max(0, self.tuples - count)
            # The drain compacts the DEFAULT: the creates after it scan less.
            self.facts = replace(self.facts, bytes=compacted_bytes(self.facts, before, self.tuples))
        return Relocating(
            method=method,
            estimate=estimate,
            strategy=self.policy.relocation,
            budget_s=budget,
            republish=drain and self.facts.publications.any,
            rows_per_block=rows_per_block(self.sample_rows, self.facts) if drain else 60.0,
            default_partitioned=self.facts.partitioned,
            stash=stash,
        )

    def problem(self, table: PartitionedTable, tz: ZoneInfo | None) -> Problem | None:
        """relocation_needs_choice for what was withheld (one line for the table)."""
        if not self.withheld:
            return None
        default = table.default
        assert default is not None
        lo, hi, worst, why_not = max(self.withheld, key=lambda w: w[2].seconds)
        rows = sum(w[2].rows for w in self.withheld)
        span = f"[{describe_moment(lo, tz)}, {describe_moment(hi, tz)})"
        more = f" and {len(self.withheld) - 1} more partition(s)" if len(self.withheld) > 1 else ""
        budget = seconds_text(self.policy.relocation_budget_s())
        lock = (
            f"lock: writers of {table.qualified} (and readers of its DEFAULT) wait about "
            f"{seconds_text(worst.seconds)} per partition"
        )
        if why_not is None and worst.rows > 0:
            hidden = seconds_text(drain_seconds(rows, self.facts))
            drain = (
                f"drain: no one waits beyond about {budget}, but the {rows:,} rows in transit "
                f"are invisible to readers for about {hidden}"
            )
        elif why_not is None:
            drain = (
                "drain: would not help, there are no rows of these ranges to move and the wait "
                "is the DEFAULT's scan (move its other rows out, or accept the wait with lock)"
            )
        else:
            drain = f"drain: not possible, {why_not}"
        return Problem(
            Status.WARNING,
            ProblemCode.RELOCATION_NEEDS_CHOICE,
            f"creating the partition for {span}{more} must move {rows:,} rows out of "
            f"{default.qualified} ({size_text(self.facts.bytes)}) and scan it: {lock}, over "
            f"relocation_max_wait ({budget}); {drain}; choose with --relocation lock|drain "
            f'(or relocation = "lock"|"drain" for this table in pgpart.toml); '
            "until then its partitions are not created",
        )


@record
class Transit:
    """A relocation an earlier run left in progress, verified against the catalog."""

    table: MarkedTable
    attached: bool

    @property
    def phase(self) -> Phase:
        # Attached while marked draining: attached by hand; its rows still
        # need republishing from the start.
        return Phase.REPUBLISHING if self.attached else Phase.DRAINING


def transits(
    table: PartitionedTable, marked: Sequence[MarkedTable], tz: ZoneInfo | None, *, check: bool
) -> tuple[list[Transit], list[Problem]]:
    """The relocations in progress for ``table`` whose marks still hold; the
    marks that no longer hold, and (``check``) the relocations in progress."""
    found: list[Transit] = []
    problems: list[Problem] = []
    for m in marked:
        mark = m.mark
        if mark.kind is not MarkKind.RELOCATING or mark.parent_oid != table.oid:
            continue
        shown = f"{m.schema}.{m.name}"
        span = f"[{describe_moment(mark.lower, tz)}, {describe_moment(mark.upper, tz)})"
        why = _mark_broken(table, m)
        if why is not None:
            problems.append(
                Problem(
                    Status.WARNING,
                    ProblemCode.RELOCATION_IN_PROGRESS,
                    f"{shown} is marked as holding rows of {table.qualified} {span} in transit, "
                    f"but {why}: pgpart leaves it alone; look at its rows and move them by hand",
                )
            )
            continue
        transit = Transit(m, attached=m.parent_oid is not None)
        found.append(transit)
        if not check:
            continue
        if transit.phase is Phase.DRAINING:
            text = (
                f"rows of {span} are in transit in {shown}, invisible to readers of "
                f"{table.qualified}: run pgpart maintain to finish the relocation"
            )
        else:
            text = (
                f"rows relocated into {shown} {span} are not yet republished to "
                "subscribers and logical decoding: run pgpart maintain to finish"
            )
        problems.append(Problem(Status.WARNING, ProblemCode.RELOCATION_IN_PROGRESS, text))
    return found, problems


def _mark_broken(table: PartitionedTable, m: MarkedTable) -> str | None:
    """Why the mark no longer describes ``m``; None: it does."""
    mark = m.mark
    if m.owner != table.owner:
        return f"it is owned by {m.owner}, not by {table.owner} who owns {table.qualified}"
    if m.relkind != "r":
        return "it is not a plain table"
    if m.parent_oid is None:
        clash = [
            p
            for p in table.ranged
            if p.bound is not None
            and (p.bound.lower is None or p.bound.lower < mark.upper)
            and (p.bound.upper is None or mark.lower < p.bound.upper)
        ]
        if clash:
            return f"partition {clash[0].qualified} now covers part of its range"
        return None
    if m.parent_oid != table.oid:
        return "it is a partition of another table"
    mine = next((p for p in table.partitions if p.oid == m.oid), None)
    if mine is None or mine.bound is None or (mine.lower, mine.upper) != (mark.lower, mark.upper):
        return "its bounds differ from the mark's"
    return None


def resume_relocating(transit: Transit, policy: TablePolicy, facts: DefaultFacts) -> Relocating:
    """How an interrupted drain goes on: the phase its mark records."""
    mark = transit.table.mark
    if transit.attached and mark.phase is not Phase.REPUBLISHING:
        mark = mark.at(Phase.REPUBLISHING)
    return Relocating(
        method=Method.DRAIN,
        estimate=settle_estimate(0, facts, stash=True),
        strategy=policy.relocation if policy.relocation is not Strategy.AUTO else Strategy.DRAIN,
        budget_s=policy.relocation_budget_s(),
        republish=facts.publications.any or mark.phase is Phase.REPUBLISHING,
        resume=mark,
        rows_per_block=rows_per_block(0, facts),
        default_partitioned=facts.partitioned,
    )
