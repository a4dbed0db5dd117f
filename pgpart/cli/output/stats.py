"""`pgpart stats` as table, CSV, JSON or Prometheus text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgpart.cli.output.common import (
    Format,
    compact,
    dumps,
    human,
    iso,
    row_count,
    tabulate,
    to_csv,
    wrap_line,
)
from pgpart.cli.output.prometheus import label, metric

if TYPE_CHECKING:
    from pgpart.db.stats import TableStats


def stats_json(stats: Sequence[TableStats]) -> dict[str, Any]:
    return {
        "tables": [
            {
                "table": s.table,
                "total_rows": s.total_rows,
                "total_bytes": s.total_bytes,
                **({"archives": s.archives.as_json()} if s.archives else {}),
                "partitions": [
                    {
                        "name": p.name,
                        "from": iso(p.lower),
                        "to": iso(p.upper),
                        "rows": p.rows,
                        "rows_exact": p.rows_exact,
                        "bytes": p.bytes,
                        "is_default": p.is_default,
                        "pending_detach": p.pending_detach,
                    }
                    for p in s.partitions
                ],
            }
            for s in stats
        ]
    }


def render_stats(stats: Sequence[TableStats], fmt: Format, *, width: int | None = None) -> str:
    if fmt is Format.JSON:
        return dumps(stats_json(stats))
    if fmt is Format.PROMETHEUS:
        return stats_prometheus(stats)
    if fmt is Format.CSV:
        return _stats_csv(stats)
    out = [_table_block(s, width) for s in stats]
    return "\n\n".join(out) + "\n" if out else ""


def _stats_csv(stats: Sequence[TableStats]) -> str:
    headers = ["table", "partition", "from", "to", "rows", "bytes"]
    rows = [
        [
            s.table,
            p.name,
            "DEFAULT" if p.is_default else iso(p.lower) or "MINVALUE",
            "" if p.is_default else iso(p.upper) or "MAXVALUE",
            "" if p.rows is None else p.rows,
            "" if p.bytes is None else p.bytes,
        ]
        for s in stats
        for p in s.partitions
    ]
    return to_csv(rows, headers)


def _table_block(s: TableStats, width: int | None) -> str:
    """One table's partitions under its name, the total last, then notes."""
    rows = [
        [
            p.name + (" (detach pending)" if p.pending_detach else ""),
            "DEFAULT" if p.is_default else compact(p.lower) or "MINVALUE",
            "" if p.is_default else compact(p.upper) or "MAXVALUE",
            row_count(p.rows, p.rows_exact),
            human(p.bytes),
        ]
        for p in s.partitions
    ]
    total = s.total_rows
    rows.append(
        [
            "total",
            "",
            "",
            row_count(total, all(p.rows_exact for p in s.partitions))
            if total is not None
            else f"~{s.known_rows:,}+",
            human(s.total_bytes),
        ]
    )
    text = f"{s.table}\n" + tabulate(
        rows, ["partition", "from", "to", "rows", "size"], width, wrap=(0,)
    )
    never = [p.name for p in s.partitions if p.rows is None]
    if never:
        text += "\n" + wrap_line(
            f"rows unknown: {len(never)} partition(s) never analyzed (or vacuumed):"
            f" run `pgpart stats --exact {s.table}` to count them, or"
            f" `ANALYZE {s.table};` to refresh the estimates",
            width,
        )
    if s.archives:
        text += f"\n{s.archives.line()}"
    return text


def stats_prometheus(stats: Sequence[TableStats]) -> str:
    lines: list[str] = []

    def labels(s: TableStats, name: str) -> str:
        return f'table="{label(s.table)}",partition="{label(name)}"'

    metric(
        lines,
        "pgpart_table_rows",
        "Rows (estimate unless --exact) of the whole table.",
        [(f'table="{label(s.table)}"', s.known_rows) for s in stats],
    )
    metric(
        lines,
        "pgpart_table_bytes",
        "Total bytes of all partitions, indexes and TOAST included.",
        [(f'table="{label(s.table)}"', s.total_bytes) for s in stats],
    )
    metric(
        lines,
        "pgpart_partition_rows",
        "Rows per partition (estimate unless --exact).",
        [(labels(s, p.name), p.rows) for s in stats for p in s.partitions if p.rows is not None],
    )
    metric(
        lines,
        "pgpart_partition_bytes",
        "Bytes per partition, indexes and TOAST included.",
        [(labels(s, p.name), p.bytes) for s in stats for p in s.partitions if p.bytes is not None],
    )
    return "\n".join(lines) + "\n"
