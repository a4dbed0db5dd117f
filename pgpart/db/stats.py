"""Per-partition sizes and row counts, from one snapshot (plus exact counts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pgpart.core.bounds import KeyKind, raw_json
from pgpart.core.identifiers import display_part
from pgpart.core.record import record
from pgpart.core.snapshot import PartitionedTable

if TYPE_CHECKING:
    import psycopg

    from pgpart.db.archive.summary import ArchiveSummary  # read only for an archive_dir


@record
class PartitionStats:
    name: str  # schema-qualified display name
    lower: datetime | None  # aware; None = MINVALUE (or the default partition)
    upper: datetime | None
    rows: int | None  # None: never analyzed and not counted
    rows_exact: bool
    bytes: int | None
    is_default: bool
    pending_detach: bool
    # An encoded key's bounds as the column stores them (None: a time key,
    # MINVALUE/MAXVALUE): the integer, or the UUID's text.
    raw_lower: int | str | None = None
    raw_upper: int | str | None = None
    encoded: bool = False  # the key encodes time (epoch, UUIDv7): JSON shows the raw bounds


@record
class TableStats:
    table: str
    partitions: tuple[PartitionStats, ...]
    archives: ArchiveSummary | None = None  # archive_dir's manifests for this table

    @property
    def total_rows(self) -> int | None:
        """None when some partition's row count is unknown (never analyzed)."""
        rows = [p.rows for p in self.partitions]
        return None if any(r is None for r in rows) else sum(r or 0 for r in rows)

    @property
    def known_rows(self) -> int:
        return sum(p.rows or 0 for p in self.partitions)

    @property
    def total_bytes(self) -> int:
        return sum(p.bytes or 0 for p in self.partitions)


def table_stats(
    table: PartitionedTable, zone: ZoneInfo, exact_counts: Mapping[str, int] | None = None
) -> TableStats:
    """Stats for one table; naive bounds (timestamp/date keys) are read in ``zone``.

    Once per partition, 10,000 of them in a large database: what depends
    only on the table (its key, the schema's quoting) is worked out once."""
    kind = table.key_kind
    encoded = kind is not None and kind.encoding is not None
    schema = display_part(table.schema)  # partitions live in their parent's schema, mostly
    parts = []
    for p in table.partitions:
        name = f"{schema}.{display_part(p.name)}" if p.schema == table.schema else p.qualified
        exact = exact_counts.get(name) if exact_counts is not None else None
        b = p.bound
        lower, upper = (b.lower, b.upper) if b is not None else (None, None)
        parts.append(
            PartitionStats(
                name,
                _aware(lower, kind, zone),
                _aware(upper, kind, zone),
                exact if exact is not None else p.rows_estimate,
                exact is not None,
                p.bytes,
                p.is_default,
                p.pending_detach,
                raw_json(lower, kind) if encoded else None,
                raw_json(upper, kind) if encoded else None,
                encoded,
            )
        )
    return TableStats(table.qualified, tuple(parts))


def _aware(value: datetime | None, kind: KeyKind | None, zone: ZoneInfo) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=zone).astimezone(timezone.utc) if kind else value


def exact_counts(
    conn: psycopg.Connection[Any], tables: Sequence[PartitionedTable]
) -> dict[str, int]:
    """count(*) of every partition, in one statement."""
    from psycopg import sql

    parts = [p for t in tables for p in t.partitions]
    if not parts:
        return {}
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::text, pg_catalog.count(*) FROM ONLY {}").format(
            sql.Literal(p.qualified), sql.Identifier(p.schema, p.name)
        )
        for p in parts
    )
    return {name: count for name, count in conn.execute(query).fetchall()}
