"""The list `pgpart drop` shows before it asks: partitions, ranges, rows, sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgpart.cli.output.actions import action_range
from pgpart.cli.output.common import human, row_count, tabulate, wrap_line
from pgpart.core.plan import Action

if TYPE_CHECKING:
    from pgpart.db.stats import PartitionStats


def partition_name(action: Action) -> str:
    from pgpart.core.identifiers import display_name

    schema = getattr(action, "partition_schema", None) or action.table.schema
    return display_name(schema, action.partition or "")


def render_drop_preview(
    actions: Sequence[Action], stats: Sequence[PartitionStats | None], verb: str, width: int | None
) -> str:
    """The confirmation's list: each partition with its range, estimated
    rows and size, and the total of what is about to go."""
    rows = []
    total_rows = total_bytes = 0
    unknown = False
    for action, p in zip(actions, stats, strict=True):
        if p is None or p.rows is None:
            unknown = True
        else:
            total_rows += p.rows
        total_bytes += (p.bytes or 0) if p is not None else 0
        rows.append(
            [
                partition_name(action),
                action_range(action),
                "unknown" if p is None else row_count(p.rows, p.rows_exact),
                "" if p is None else human(p.bytes),
            ]
        )
    rows.append(
        [
            f"total: {len(actions)} partition(s)",
            "",
            "unknown"
            if unknown and not total_rows
            else f"~{total_rows:,}" + ("+" if unknown else ""),
            human(total_bytes),
        ]
    )
    note = (
        wrap_line("rows unknown: never analyzed (ANALYZE the table for estimates)", width) + "\n"
        if unknown
        else ""
    )
    return (
        f"pgpart is about to {verb}:\n"
        + tabulate(rows, ["partition", "range", "rows (estimate)", "size"], width, wrap=(0,))
        + "\n"
        + note
    )
