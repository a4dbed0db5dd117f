"""What a table's partitions cover: contiguous stretches of key space, the
stretch holding a moment, and the partitions overlapping a range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pgpart.core.snapshot import Partition

Segment = tuple[datetime | None, datetime | None]  # [lower, upper); None: unbounded


def segments(parts: Sequence[Partition]) -> list[Segment]:
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
