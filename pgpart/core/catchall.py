"""catchall_has_rows: a partition bounded by MAXVALUE (or MINVALUE) that
takes the table's current rows.

A partition ``FOR VALUES FROM (x) TO (MAXVALUE)`` with ``x`` at or before
now is where every new row goes: coverage never runs short, so nothing else
warns, while the data piles up in one partition that retention can never
drop and no new partition can be made past ``x`` (it would overlap). The
same holds for ``FROM (MINVALUE) TO (y)`` with ``y`` after now. Like rows in
a DEFAULT partition, it needs its rows split into partitions of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgpart.core.moments import describe_moment
from pgpart.core.plan import Problem, ProblemCode, Status
from pgpart.core.snapshot import Partition
from pgpart.core.table_frame import TableFrame


def catchall_problems(frame: TableFrame, live: Sequence[Partition]) -> list[Problem]:
    problems = []
    tz = frame.tz
    for p in live:
        if p.bound is None or (p.lower is not None and p.upper is not None):
            continue
        takes_now = (p.lower is None or p.lower <= frame.now) and (
            p.upper is None or frame.now < p.upper
        )
        if not takes_now or p.rows_estimate == 0:
            continue
        lo = "MINVALUE" if p.lower is None else describe_moment(p.lower, tz)
        hi = "MAXVALUE" if p.upper is None else describe_moment(p.upper, tz)
        rows = f"about {p.rows_estimate:,} rows" if p.rows_estimate else "rows not counted yet"
        problems.append(
            Problem(
                Status.WARNING,
                ProblemCode.CATCHALL_HAS_ROWS,
                f"{p.qualified} [{lo}, {hi}) is a catch-all that takes the new rows ({rows}): "
                "they pile up in it, retention can never drop it, and no partition can be "
                "made inside its range; split it: detach it, create the partitions of its "
                "range, move its rows into them through the parent, and keep a catch-all (or "
                "a DEFAULT) only beyond the premake horizon",
            )
        )
    return problems
