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
    items: Sequence[tuple[str | None, Action, PartitionStats | None]], verb: str, width: int | None
) -> str:
    """The confirmation's list: each partition (after its database, with
    many) with its range, estimated rows and size, and the total of what is
    about to go."""
    many = any(database is not None for database, _, _ in items)
    rows = []
    total_rows = total_bytes = 0
    unknown = False
    for database, action, p in items:
        if p is None or p.rows is None:
            unknown = True
        else:
            total_rows += p.rows
        total_bytes += (p.bytes or 0) if p is not None else 0
        rows.append(
            [
                *([database] if many else []),
                partition_name(action),
                action_range(action),
                "unknown" if p is None else row_count(p.rows, p.rows_exact),
                "" if p is None else human(p.bytes),
            ]
        )
    databases = len({database for database, _, _ in items})
    total = f"total: {len(items)} partition(s)" + (f" in {databases} databases" if many else "")
    rows.append(
        [
            *([""] if many else []),
            total,
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
    headers = ["partition", "range", "rows (estimate)", "size"]
    return (
        f"pgpart is about to {verb}:\n"
        + tabulate(
            rows,
            ["database", *headers] if many else headers,
            width,
            wrap=(1, 2, 0) if many else (0,),
        )
        + "\n"
        + note
    )
