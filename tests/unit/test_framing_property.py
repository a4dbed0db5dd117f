"""The one-pass framing (live partitions, closed ranges, the newest window
the interval is inferred from, covered stretches) gives exactly what the
plain definitions give, on generated partition sets: regular grids and
irregular stretches, DST zones, monthly to 15-minute periods, gaps,
MINVALUE/MAXVALUE, DEFAULT, half-detached and unreadable partitions."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from pgpart.core import calendar as cal
from pgpart.core.bounds import KeyKind, RangeBound
from pgpart.core.coverage import segments
from pgpart.core.framing import (
    INFER_WINDOW,
    closed,
    inferred_grid,
    live_partitions,
    newest_ranges,
    ranges_of,
)
from pgpart.core.grid import boundary
from pgpart.core.interval import parse_interval
from pgpart.core.localtime import to_instant
from pgpart.core.snapshot import Partition, PartitionedTable
from pgpart.db.snapshot_rows import partition_order

ZONES = [None, "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia"]
INTERVALS = ["monthly", "daily", "hourly", "15 minutes", "7 hours", "3 months"]


# --- the plain definitions, as they were before the one-pass versions ---------


def plain_live(table: PartitionedTable) -> list[Partition]:
    return [p for p in table.ranged if not p.pending_detach]


def plain_ranges(parts: list[Partition]) -> list[tuple[datetime, datetime]]:
    return [(p.lower, p.upper) for p in parts if p.lower is not None and p.upper is not None]


def plain_segments(parts: list[Partition]) -> list[tuple[datetime | None, datetime | None]]:
    out: list[list[datetime | None]] = []
    for p in parts:
        if out and out[-1][1] is not None and p.lower is not None and p.lower <= out[-1][1]:
            hi = out[-1][1]
            out[-1][1] = None if p.upper is None else max(hi, p.upper)
        elif out and out[-1][1] is None:
            continue
        else:
            out.append([p.lower, p.upper])
    return [(s[0], s[1]) for s in out]


# --- generated tables ------------------------------------------------------------


@st.composite
def tables(draw: st.DrawFn) -> tuple[PartitionedTable, ZoneInfo | None]:
    zone_name = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(zone_name) if zone_name else None
    interval = parse_interval(draw(st.sampled_from(INTERVALS)))
    wall = draw(st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2030, 1, 1)))
    wall = wall.replace(second=0, microsecond=0, minute=wall.minute // 15 * 15)
    origin = wall if tz is None else to_instant(wall, tz)
    count = draw(st.integers(min_value=0, max_value=40))
    edges = [boundary(interval, origin, k, tz) for k in range(count + 1)]
    ranges: list[tuple[datetime | None, datetime | None]] = [
        (a, b) for a, b in itertools.pairwise(edges) if a < b
    ]
    # Irregular stretches: some periods dropped (gaps), some merged, some split.
    out: list[tuple[datetime | None, datetime | None]] = []
    for lo, hi in ranges:
        what = draw(st.sampled_from(["keep"] * 6 + ["drop", "merge", "split"]))
        if what == "drop":
            continue
        if what == "merge" and out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        elif what == "split" and lo is not None and hi is not None:
            middle = lo + (hi - lo) / 3
            out += [(lo, middle), (middle, hi)]
        else:
            out.append((lo, hi))
    if len(out) > 0 and draw(st.booleans()):
        out.insert(0, (None, out[0][0]))  # MINVALUE
    if len(out) > 0 and draw(st.booleans()):
        out.append((out[-1][1], None))  # MAXVALUE
    if len(out) > 0 and draw(st.booleans()):  # an overlap the merge must absorb
        i = draw(st.integers(min_value=0, max_value=len(out) - 1))
        if out[i][0] is not None and out[i][1] is not None:
            out.append((out[i][0], out[i][1]))
    parts = [
        Partition(
            "public",
            f"p{i}",
            RangeBound(lo, hi),
            0,
            None,
            pending_detach=draw(st.integers(0, 9)) == 0,
            oid=i,
        )
        for i, (lo, hi) in enumerate(out)
    ]
    if draw(st.booleans()):
        parts.append(Partition("public", "p_default", None, 0, None, oid=-1))
    if draw(st.booleans()):
        parts.append(Partition("public", "p_odd", None, 0, None, bound_error="odd", oid=-2))
    kind = KeyKind.TIMESTAMPTZ if tz else KeyKind.TIMESTAMP
    table = PartitionedTable(
        1, "public", "t", "app", "p", "range", "k", kind.sql_type, kind,
        partitions=tuple(sorted(parts, key=partition_order)),
    )  # fmt: skip
    return table, tz


@settings(max_examples=400, deadline=None)
@given(tables())
def test_one_pass_framing_is_the_plain_one(found: tuple[PartitionedTable, ZoneInfo | None]) -> None:
    table, tz = found
    live = plain_live(table)
    assert live_partitions(table) == live
    assert closed(live) == [p for p in live if p.lower is not None and p.upper is not None]
    assert ranges_of(live) == plain_ranges(live)
    for n in (1, 3, INFER_WINDOW, 1000):
        assert newest_ranges(table, n) == plain_ranges(live)[-n:]
    assert segments(live) == plain_segments(live)
    assert segments(table.partitions) == plain_segments(list(table.partitions))
    assert inferred_grid(table, tz) == cal.infer_grid(plain_ranges(live)[-INFER_WINDOW:], tz)
