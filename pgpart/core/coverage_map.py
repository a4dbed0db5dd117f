"""One table's coverage as a picture needs it (``check --timeline``): the
stretches its partitions cover (merged: a few moments, however many
partitions), the periods of its DEFAULT's rows, the retention cutoff and the
premake horizon, all as aware moments.

The moments come from the same rules the findings use (the retention cutoff
of :mod:`retention`, the window maintain creates through), so the picture
and check's verdict cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pgpart.core import calendar as cal
from pgpart.core.coverage import Segment
from pgpart.core.plan import CoverageMap, DefaultRows, Span
from pgpart.core.policy import TablePolicy
from pgpart.core.retention import retention_cutoff
from pgpart.core.table_frame import TableFrame, as_reported


def coverage_map(
    frame: TableFrame, policy: TablePolicy, stretches: Sequence[Segment], rows: DefaultRows | None
) -> CoverageMap:
    def aware(value: datetime | None) -> datetime | None:
        return None if value is None else as_reported(value, frame)

    cutoff = retention_cutoff(frame, policy.retention) if policy.retention else None
    horizon = None
    if frame.grid is not None:
        current = cal.align(frame.now, frame.grid, frame.tz)
        try:
            horizon = cal.shift(current, frame.grid, policy.premake + 1, frame.tz)
        except (OverflowError, ValueError):  # beyond year 9999: the picture ends at its bounds
            horizon = None
    has_default = frame.table.default is not None
    return CoverageMap(
        zone=frame.tz or frame.zone,
        interval=frame.interval,
        covered=tuple(Span(aware(lo), aware(hi)) for lo, hi in stretches),
        default_periods=_default_periods(frame, rows) if has_default else (),
        has_default=has_default,
        retention_cutoff=aware(cutoff),
        horizon=aware(horizon),
    )


def _default_periods(frame: TableFrame, rows: DefaultRows | None) -> tuple[Span, ...]:
    """Each period the DEFAULT's rows were counted by, as the table's period
    that would hold them (a day where the interval is unknown)."""
    if rows is None:
        return ()
    spec: cal.Grid | cal.Interval = frame.grid or cal.Interval.DAILY
    spans: list[Span] = []
    for period in rows.periods:
        try:
            lower = cal.align(period.start, spec, frame.tz)
            upper = cal.shift(lower, spec, 1, frame.tz)
        except (OverflowError, ValueError):  # a stray row at the end of time: counted, not drawn
            continue
        spans.append(Span(as_reported(lower, frame), as_reported(upper, frame), period.rows))
    return tuple(spans)
