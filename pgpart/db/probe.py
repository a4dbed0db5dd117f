"""What the DEFAULT partitions hold, by period, in one statement.

Rows in a DEFAULT partition are the sign of a past outage (they arrived
while no partition covered them) and they block creating the partition for
their range. `check` samples a bounded number of rows (cheap); `--exact`
reads them all. The probe runs under a short lock_timeout so `check` never
queues behind maintenance DDL holding the default partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgpart.core.bounds import KeyKind, parse_timestamp
from pgpart.core.plan import DefaultPeriod, DefaultRows
from pgpart.core.snapshot import PartitionedTable
from pgpart.db.catalog import session_settings

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

SAMPLE_ROWS = 10_000
PROBE_LOCK_TIMEOUT = "1s"


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    table: PartitionedTable
    unit: str  # date_trunc field: hour, day, week, month, quarter, year
    timezone: str  # used for timestamptz keys


def probe_defaults(
    conn: psycopg.Connection[Any], targets: Sequence[ProbeTarget], *, exact: bool = False
) -> dict[int, DefaultRows]:
    """Rows per period in each target's DEFAULT partition, keyed by parent oid."""
    import psycopg

    queries = [(t, _query(t, exact)) for t in targets if t.table.default is not None]
    if not queries:
        return {}
    from psycopg import sql

    union = sql.SQL(" UNION ALL ").join(q for _, q in queries)
    try:
        return _run(conn, union, [t for t, _ in queries], exact)
    except psycopg.Error:
        pass
    # Isolate whichever default could not be read (lock timeout, privilege).
    out: dict[int, DefaultRows] = {}
    for target, query in queries:
        try:
            out.update(_run(conn, query, [target], exact))
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            out[target.table.oid] = DefaultRows(0, False, (), error=reason)
    return out


def _run(
    conn: psycopg.Connection[Any],
    query: sql.Composed,
    targets: Sequence[ProbeTarget],
    exact: bool,
) -> dict[int, DefaultRows]:
    with conn.transaction():
        session_settings(conn, lock_timeout=PROBE_LOCK_TIMEOUT)
        rows = conn.execute(query).fetchall()
    by_oid = {t.table.oid: t for t in targets}
    grouped: dict[int, list[tuple[str | None, int]]] = {oid: [] for oid in by_oid}
    for oid, period, count in rows:
        grouped[oid].append((period, count))
    out: dict[int, DefaultRows] = {}
    for oid, items in grouped.items():
        kind = by_oid[oid].table.key_kind or KeyKind.TIMESTAMPTZ
        parse_kind = KeyKind.TIMESTAMPTZ if kind is KeyKind.TIMESTAMPTZ else KeyKind.TIMESTAMP
        total = sum(c for _, c in items)
        periods = tuple(
            sorted(
                (DefaultPeriod(parse_timestamp(p, parse_kind), c) for p, c in items if p),
                key=lambda d: d.start,
            )
        )
        out[oid] = DefaultRows(total, exact or total < SAMPLE_ROWS, periods)
    return out


def _query(target: ProbeTarget, exact: bool) -> sql.Composed:
    from psycopg import sql

    table = target.table
    default = table.default
    assert default is not None and table.key_column is not None
    key = sql.Identifier(table.key_column)
    if table.key_kind is KeyKind.TIMESTAMPTZ:
        trunc = sql.SQL("date_trunc({}, k, {})").format(
            sql.Literal(target.unit), sql.Literal(target.timezone)
        )
    else:
        trunc = sql.SQL("date_trunc({}, k::timestamp)").format(sql.Literal(target.unit))
    limit = sql.SQL("") if exact else sql.SQL(" LIMIT {}").format(sql.Literal(SAMPLE_ROWS))
    return sql.SQL(
        "(SELECT {oid}::bigint, {trunc}::text, count(*)::bigint"
        " FROM (SELECT {key} AS k FROM ONLY {default}{limit}) s GROUP BY 2)"
    ).format(
        oid=sql.Literal(table.oid),
        trunc=trunc,
        key=key,
        default=sql.Identifier(default.schema, default.name),
        limit=limit,
    )
