"""`pgpart stats` as table, CSV, JSON or Prometheus text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timezone
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
from pgpart.cli.output.report import Report, labelled, with_database

if TYPE_CHECKING:
    from datetime import datetime

    from pgpart.db.stats import PartitionStats, TableStats

_UTC = timezone.utc


def stats_json(stats: Sequence[TableStats]) -> dict[str, Any]:
    return {
        "tables": [
            {
                **_table_head(s),
                "partitions": [
                    {
                        "name": p.name,
                        "from": iso(p.lower),
                        "to": iso(p.upper),
                        **_raw(p),
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


def _raw(p: PartitionStats) -> dict[str, Any]:
    """An encoded key's bounds as stored (epoch integer, UUID), beside the times."""
    return {"from_raw": p.raw_lower, "to_raw": p.raw_upper} if p.encoded else {}


def _table_head(s: TableStats) -> dict[str, Any]:
    return {
        "table": s.table,
        "total_rows": s.total_rows,
        "total_bytes": s.total_bytes,
        **({"archives": s.archives.as_json()} if s.archives else {}),
    }


def stats_json_text(stats: Sequence[TableStats]) -> str:
    """``dumps(stats_json(stats))``, the same text, written faster: json's
    indenting encoder is pure Python (only the compact one is C), and at
    10,000 partitions it took longer than the catalog read. The partitions
    are written from a fixed layout with C-encoded values; the rest of each
    table goes through dumps and is indented into place (a JSON text has no
    raw line break inside a value, so indenting its lines is safe)."""
    if not stats:
        return dumps({"tables": []})
    blocks = []
    for s in stats:
        lines = json.dumps(_table_head(s), indent=2, ensure_ascii=False).split("\n")
        body = "\n".join("    " + line for line in lines[:-1])
        times = _Times()
        parts = ",\n".join(_partition_text(p, times) for p in s.partitions)
        listed = f"[\n{parts}\n      ]" if parts else "[]"
        blocks.append(f'{body},\n      "partitions": {listed}\n    }}')
    return '{\n  "tables": [\n' + ",\n".join(blocks) + "\n  ]\n}\n"


_encode = json.encoder.encode_basestring  # strings as dumps(ensure_ascii=False) writes them


def _scalar(value: str | int | bool | None) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _encode(value)
    return int.__repr__(value)


_BOOL = ("false", "true")


def _int(value: int | None) -> str:
    return "null" if value is None else int.__repr__(value)


class _Times:
    """A bound as JSON text, written once per instant: a partition's lower
    bound is most often the upper of the one before it (the bounds arrive in
    UTC: pgpart.db.stats; equal UTC instants print alike)."""

    __slots__ = ("last", "text")

    def __init__(self) -> None:
        self.last: datetime | None = None
        self.text = "null"

    def __call__(self, value: datetime | None) -> str:
        if value is None:
            return "null"
        last = self.last
        if last is None or value.tzinfo is not _UTC or last.tzinfo is not _UTC or value != last:
            self.last, self.text = value, f'"{value.isoformat()}"'  # nothing in it to escape
        return self.text


def _partition_text(p: PartitionStats, time: _Times) -> str:
    """One partition as stats_json lays it out, at its depth in the document."""
    raw = (
        f'          "from_raw": {_scalar(p.raw_lower)},\n'
        f'          "to_raw": {_scalar(p.raw_upper)},\n'
        if p.encoded
        else ""
    )
    return (
        f'        {{\n          "name": {_encode(p.name)},\n'
        f'          "from": {time(p.lower)},\n          "to": {time(p.upper)},\n{raw}'
        f'          "rows": {_int(p.rows)},\n          "rows_exact": {_BOOL[p.rows_exact]},\n'
        f'          "bytes": {_int(p.bytes)},\n          "is_default": {_BOOL[p.is_default]},\n'
        f'          "pending_detach": {_BOOL[p.pending_detach]}\n        }}'
    )


def render_stats(stats: Sequence[TableStats], fmt: Format, *, width: int | None = None) -> str:
    """One database's stats (the library's and the tests' entry)."""
    return render_stats_reports([Report(None, list(stats))], fmt, width=width)


def render_stats_reports(
    reports: Sequence[Report[list[TableStats]]], fmt: Format, *, width: int | None = None
) -> str:
    """stats over the databases of a run, in one format."""
    many = labelled(reports)
    ok = [(r.database, r.value) for r in reports if r.value is not None]
    if fmt is Format.JSON:
        if not many:
            return stats_json_text(ok[0][1] if ok else [])
        listed = [with_database(t, db) for db, stats in ok for t in stats_json(stats)["tables"]]
        databases = [
            {
                "database": r.database,
                "status": "ok" if r.value is not None else "unknown",
                "error": r.error,
            }
            for r in reports
        ]
        return dumps({"tables": listed, "databases": databases})
    if fmt is Format.PROMETHEUS:
        return stats_prometheus(ok)
    if fmt is Format.CSV:
        return _stats_csv(ok, many)
    out = [
        _table_block(s, width, None if db is None else _title(db, s.table, width))
        for db, stats in ok
        for s in stats
    ]
    return "\n\n".join(out) + "\n" if out else ""


def _title(database: str, table: str, width: int | None) -> str:
    """A table's title among many databases: 'database NAME: TABLE'."""
    return wrap_line(f"database {database}: {table}", width, "", "  ")


def _stats_csv(parts: Sequence[tuple[str | None, Sequence[TableStats]]], many: bool) -> str:
    headers = ["table", "partition", "from", "to", "rows", "bytes"]
    rows = [
        [
            *([db] if many else []),
            s.table,
            p.name,
            "DEFAULT" if p.is_default else iso(p.lower) or "MINVALUE",
            "" if p.is_default else iso(p.upper) or "MAXVALUE",
            "" if p.rows is None else p.rows,
            "" if p.bytes is None else p.bytes,
        ]
        for db, stats in parts
        for s in stats
        for p in s.partitions
    ]
    return to_csv(rows, ["database", *headers] if many else headers)


def _table_block(s: TableStats, width: int | None, title: str | None = None) -> str:
    """One table's partitions under its name (or ``title``), the total
    last, then notes."""
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
    text = f"{title or s.table}\n" + tabulate(
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


def stats_prometheus(parts: Sequence[tuple[str | None, Sequence[TableStats]]]) -> str:
    """Every series of every database (a ``database`` label first with many)."""
    lines: list[str] = []
    tables = [
        (",".join(x for x in (_database(db), f'table="{label(s.table)}"') if x), s)
        for db, stats in parts
        for s in stats
    ]

    def labels(tl: str, name: str) -> str:
        return f'{tl},partition="{label(name)}"'

    metric(
        lines,
        "pgpart_table_rows",
        "Rows (estimate unless --exact) of the whole table.",
        [(tl, s.known_rows) for tl, s in tables],
    )
    metric(
        lines,
        "pgpart_table_bytes",
        "Total bytes of all partitions, indexes and TOAST included.",
        [(tl, s.total_bytes) for tl, s in tables],
    )
    metric(
        lines,
        "pgpart_partition_rows",
        "Rows per partition (estimate unless --exact).",
        [
            (labels(tl, p.name), p.rows)
            for tl, s in tables
            for p in s.partitions
            if p.rows is not None
        ],
    )
    metric(
        lines,
        "pgpart_partition_bytes",
        "Bytes per partition, indexes and TOAST included.",
        [
            (labels(tl, p.name), p.bytes)
            for tl, s in tables
            for p in s.partitions
            if p.bytes is not None
        ],
    )
    return "\n".join(lines) + "\n"


def _database(name: str | None) -> str:
    return "" if name is None else f'database="{label(name)}"'
