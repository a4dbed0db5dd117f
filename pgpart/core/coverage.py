"""What a table's partitions cover: contiguous stretches of key space, the
stretch holding a moment, and the partitions overlapping a range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pgpart.core.snapshot import Partition

Segment = tuple[datetime | None, datetime | None]  # [lower, upper); None: unbounded


def segments(parts: Sequence[Partition]) -> list[Segment]:
    """Merge partitions into contiguous covered stretches (None = unbounded).

    ``parts`` sorted by lower bound, MINVALUE first. One pass holding the
    open stretch in two locals: a regular run of thousands of partitions is
    one comparison each (tests/unit/test_framing_property.py checks it against
    the plain merge)."""
    out: list[Segment] = []
    start: datetime | None = None
    end: datetime | None = None
    open_stretch = False
    for p in parts:
        b = p.bound
        lo, hi = (b.lower, b.upper) if b is not None else (None, None)
        if open_stretch:
            if end is None:
                continue  # the stretch runs to MAXVALUE: it holds the rest
            if lo is not None and lo <= end:
                end = None if hi is None else hi if hi > end else end
                continue
            out.append((start, end))
        start, end, open_stretch = lo, hi, True
    if open_stretch:
        out.append((start, end))
    return out


def segment_at(stretches: Sequence[Segment], moment: datetime) -> Segment | None:
    for lo, hi in stretches:
        if (lo is None or lo <= moment) and (hi is None or moment < hi):
            return (lo, hi)
    return None


def covered(stretches: Sequence[Segment], lo: datetime, hi: datetime) -> bool:
    return any((a is None or a <= lo) and (b is None or hi <= b) for a, b in stretches)


def overlaps(parts: Sequence[Partition], lo: datetime, hi: datetime) -> list[Partition]:
    return [
        p for p in parts if (p.lower is None or p.lower < hi) and (p.upper is None or lo < p.upper)
    ]
