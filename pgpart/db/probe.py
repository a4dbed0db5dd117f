"""What the DEFAULT partitions hold, by period, and what moving it out
depends on (pgpart.core.relocation.DefaultFacts).

Rows in a DEFAULT partition are the sign of a past outage (they arrived
while no partition covered them) and every partition created for their
range must take them. Writing commands read the DEFAULT exactly: each
period holding rows, with its count, NULL keys apart. `check` samples,
cheaply: through an index leading with the key it still finds every period
(a loose index scan: one index probe per period, counts capped), else it
reads a bounded number of rows and says that other periods may hold rows.

Reads run with ``row_security = off``: a policy that would hide rows from
pgpart makes the read fail (SQLSTATE 42501) instead of coming up short.
Each read runs under a short lock_timeout, so that nothing queues behind
maintenance DDL holding a DEFAULT partition; ACCESS SHARE is all it takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pgpart.core.bounds import KeyKind, parse_timestamp
from pgpart.core.encoding import KeyEncoding
from pgpart.core.plan import DefaultPeriod, DefaultRows
from pgpart.core.record import record
from pgpart.core.relocation import DefaultFacts
from pgpart.core.snapshot import PartitionedTable
from pgpart.db.catalog import session_settings
from pgpart.db.probe_facts import read_facts

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

SAMPLE_ROWS = 10_000
# check through an index: at most this many periods, each counted up to SAMPLE_ROWS
SAMPLE_PERIODS = 1_000
PROBE_LOCK_TIMEOUT = "1s"


@record
class ProbeTarget:
    table: PartitionedTable
    unit: str  # date_trunc field: minute, hour, day, week, month, quarter, year
    timezone: str  # used for timestamptz keys


def probe_defaults(
    conn: psycopg.Connection[Any], targets: Sequence[ProbeTarget], *, exact: bool = False
) -> dict[int, DefaultRows]:
    """Rows per period in each target's DEFAULT partition, keyed by parent oid."""
    import psycopg

    targets = [t for t in targets if t.table.default is not None]
    if not targets:
        return {}
    facts, failed = _facts(conn, targets)
    if failed is not None:
        # Without its size and what watches it, no move can be planned safely.
        return {t.table.oid: DefaultRows(0, False, (), error=failed) for t in targets}
    # A DEFAULT without a page holds no row: nothing to read (the usual case).
    out: dict[int, DefaultRows] = {
        t.table.oid: DefaultRows(0, True, ())
        for t in targets
        if facts.get(t.table.oid, DefaultFacts()).no_pages
    }
    queries = [
        (t, _query(t, exact, facts.get(t.table.oid, DefaultFacts())))
        for t in targets
        if t.table.oid not in out
    ]
    from psycopg import sql

    union = sql.SQL(" UNION ALL ").join(q for _, q in queries)
    try:
        if queries:
            out |= _run(conn, union, [t for t, _ in queries], exact)
    except psycopg.Error:
        # Isolate whichever default could not be read (lock timeout, privilege).
        for target, query in queries:
            try:
                out.update(_run(conn, query, [target], exact))
            except psycopg.Error as exc:
                out[target.table.oid] = DefaultRows(
                    0, False, (), error=_why(target, exc, facts.get(target.table.oid))
                )
    return {oid: replace(rows, facts=_counted(rows, facts.get(oid))) for oid, rows in out.items()}


def _counted(rows: DefaultRows, facts: DefaultFacts | None) -> DefaultFacts:
    """The facts, with the DEFAULT's live rows: the exact count when the
    probe read them all; else its statistics, or (never analyzed) what the
    sample's density says of its size."""
    facts = facts or DefaultFacts()
    if rows.exact and rows.error is None:
        return replace(facts, rows_estimate=rows.rows)
    if facts.rows_estimate <= 0 and rows.sampled_pages:
        per_page = rows.rows / rows.sampled_pages
        return replace(facts, rows_estimate=int(per_page * max(1, facts.bytes // 8192)))
    return facts


def _facts(
    conn: psycopg.Connection[Any], targets: Sequence[ProbeTarget]
) -> tuple[dict[int, DefaultFacts], str | None]:
    """The DEFAULTs' facts, or why they could not be read."""
    import psycopg

    try:
        with conn.transaction():
            session_settings(conn, lock_timeout=PROBE_LOCK_TIMEOUT)
            return read_facts(conn, [t.table for t in targets]), None
    except psycopg.Error as exc:
        return {}, "cannot read what moving its rows depends on: " + " ".join(str(exc).split())


def _why(target: ProbeTarget, exc: Exception, facts: DefaultFacts | None) -> str:
    import psycopg

    reason = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, psycopg.errors.InsufficientPrivilege) and facts and facts.force_rls:
        default = target.table.default
        assert default is not None
        return (
            f"row-level security hides rows of {default.qualified} from pgpart "
            f"(FORCE ROW LEVEL SECURITY on {', '.join(facts.force_rls)})"
        )
    return reason


def _run(
    conn: psycopg.Connection[Any],
    query: sql.Composed,
    targets: Sequence[ProbeTarget],
    exact: bool,
) -> dict[int, DefaultRows]:
    with conn.transaction():
        session_settings(conn, lock_timeout=PROBE_LOCK_TIMEOUT)
        conn.execute("SELECT pg_catalog.set_config('row_security', 'off', true)")
        rows = conn.execute(query).fetchall()
    by_oid = {t.table.oid: t for t in targets}
    grouped: dict[int, list[tuple[str | None, int, bool]]] = {oid: [] for oid in by_oid}
    pages: dict[int, int] = {}
    for oid, period, count, complete, last_page in rows:
        grouped[oid].append((period, count, complete))
        pages[oid] = max(pages.get(oid, 0), int(last_page or 0) + 1)
    out: dict[int, DefaultRows] = {}
    for oid, items in grouped.items():
        kind = by_oid[oid].table.key_kind or KeyKind.TIMESTAMPTZ
        parse_kind = KeyKind.TIMESTAMPTZ if kind.aware else KeyKind.TIMESTAMP
        total = sum(c for _, c, _ in items)
        periods = tuple(
            sorted(
                (DefaultPeriod(parse_timestamp(p, parse_kind), c) for p, c, _ in items if p),
                key=lambda d: d.start,
            )
        )
        nulls = sum(c for p, c, _ in items if p is None)
        found_all = all(done for _, _, done in items) or total < SAMPLE_ROWS
        listed = exact or (found_all and len(periods) < SAMPLE_PERIODS)
        counted = exact or (total < SAMPLE_ROWS and all(done for _, _, done in items))
        out[oid] = DefaultRows(
            total,
            counted,
            periods,
            null_rows=nulls,
            all_periods=listed,
            sampled_pages=0 if counted else pages.get(oid, 0),
        )
    return out


def _query(target: ProbeTarget, exact: bool, facts: DefaultFacts) -> sql.Composed:
    """Rows (parent oid, period start as text or NULL for NULL keys, count,
    whether the periods are all listed)."""
    from psycopg import sql

    table = target.table
    default = table.default
    assert default is not None and table.key_column is not None
    # A partitioned DEFAULT holds its rows in its partitions: read through it.
    only = sql.SQL("") if facts.partitioned else sql.SQL("ONLY ")
    source = only + sql.Identifier(default.schema, default.name)
    key = sql.Identifier(table.key_column)
    if not exact and facts.key_indexed:
        return _loose_query(target, source, key)
    limit = sql.SQL("") if exact else sql.SQL(" LIMIT {}").format(sql.Literal(SAMPLE_ROWS))
    # The last page a sample read tells how densely the DEFAULT is filled.
    page = (
        sql.SQL("NULL::bigint")
        if exact or facts.partitioned
        else sql.SQL("((ctid::text::point)[0])::bigint")
    )
    return sql.SQL(
        "(SELECT {oid}::bigint, {trunc}::text, pg_catalog.count(*)::bigint, {exact},"
        " pg_catalog.max(p) FROM (SELECT {key} AS k, {page} AS p FROM {source}{limit}) s"
        " GROUP BY 2)"
    ).format(
        page=page,
        oid=sql.Literal(table.oid),
        trunc=_trunc(target, sql.SQL("k")),
        key=key,
        source=source,
        limit=limit,
        exact=sql.Literal(exact),
    )


def _loose_query(target: ProbeTarget, source: sql.Composable, key: sql.Composable) -> sql.Composed:
    """Every period holding rows, found one index probe at a time (the
    smallest key at or after the previous period's end), each counted up to
    SAMPLE_ROWS; and the NULL keys. https://wiki.postgresql.org/wiki/Loose_indexscan"""
    from psycopg import sql

    # min() over a uuid exists from PostgreSQL 18 only: the first in key order
    # is the same index probe for every type.
    smallest = sql.SQL("(SELECT {k} FROM {src} WHERE {k} IS NOT NULL{more} ORDER BY {k} LIMIT 1)")
    first = smallest.format(k=key, src=source, more=sql.SQL(""))
    following = smallest.format(
        k=key,
        src=source,
        more=sql.SQL(" AND {} >= {}").format(key, _as_key(target, _next(target, sql.SQL("p.s")))),
    )
    cap = sql.Literal(SAMPLE_ROWS)
    return sql.SQL(
        "(WITH RECURSIVE p(s) AS (SELECT {t0} UNION ALL SELECT {t1} FROM p WHERE p.s IS NOT NULL)"
        " SELECT {oid}::bigint, q.s::text, (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM {src}"
        "  WHERE {k} >= {start} AND {k} < {nxt} LIMIT {cap}) c)::bigint, true, NULL::bigint"
        " FROM (SELECT s FROM p WHERE s IS NOT NULL LIMIT {periods}) q"
        " UNION ALL SELECT {oid}::bigint, NULL, (SELECT pg_catalog.count(*)"
        "  FROM (SELECT 1 FROM {src} WHERE {k} IS NULL LIMIT {cap}) c)::bigint, true,"
        " NULL::bigint)"
    ).format(
        t0=_trunc(target, first),
        t1=_trunc(target, following),
        oid=sql.Literal(target.table.oid),
        src=source,
        k=key,
        start=_as_key(target, sql.SQL("q.s")),
        nxt=_as_key(target, _next(target, sql.SQL("q.s"))),
        cap=cap,
        periods=sql.Literal(SAMPLE_PERIODS),
    )


def _trunc(target: ProbeTarget, value: sql.Composable) -> sql.Composed:
    """The start of the period of a key ``value`` (a time; an encoded key decoded)."""
    from psycopg import sql

    kind = target.table.key_kind
    if kind is not None and kind.encoding is not None:
        value = _as_time(kind.encoding, value)
    if kind is not None and kind.aware:
        return sql.SQL("pg_catalog.date_trunc({}, {}, {})").format(
            sql.Literal(target.unit), value, sql.Literal(target.timezone)
        )
    return sql.SQL("pg_catalog.date_trunc({}, ({})::timestamp)").format(
        sql.Literal(target.unit), value
    )


def _next(target: ProbeTarget, start: sql.Composable) -> sql.Composed:
    """The start of the period after the one starting at ``start``: minutes
    and hours elapse (the session's TimeZone is UTC), longer units follow
    the table's wall clock."""
    from psycopg import sql

    length = "3 months" if target.unit == "quarter" else f"1 {target.unit}"
    step = sql.SQL("{}::interval").format(sql.Literal(length))
    kind = target.table.key_kind
    if target.unit in ("minute", "hour") or kind is None or not kind.aware:
        return sql.SQL("({} + {})").format(start, step)
    zone = sql.Literal(target.timezone)
    return sql.SQL("((({} AT TIME ZONE {}) + {}) AT TIME ZONE {})").format(start, zone, step, zone)


# Encoded keys (pgpart.core.encoding) in SQL: the probe groups their rows by
# the period of the instant they encode, and compares keys with the encoded
# period starts, so that an index on the key serves it as for a time key.


def _as_time(encoding: KeyEncoding, value: sql.Composable) -> sql.Composed:
    """The instant a key ``value`` encodes, as a timestamptz, exactly to the
    microsecond (floored): integer arithmetic, never a float of the key."""
    from psycopg import sql

    if encoding is KeyEncoding.UUIDV7:  # the first 48 bits: Unix milliseconds
        value = sql.SQL(
            "('x' || pg_catalog.lpad(pg_catalog.substr(pg_catalog.replace(({})::text, '-', ''),"
            " 1, 12), 16, '0'))::bit(64)::bigint"
        ).format(value)
    per = encoding.per_second
    key = sql.SQL("({})::bigint").format(value)
    rest = sql.SQL("((({k} % {per}) + {per}) % {per})").format(k=key, per=sql.Literal(per))
    # The whole seconds exactly ((k - rest) / per), then the microseconds of the rest.
    micros = (
        sql.SQL("({} / {})").format(rest, sql.Literal(per // 1_000_000))
        if per > 1_000_000
        else sql.SQL("({} * {})").format(rest, sql.Literal(1_000_000 // per))
    )
    return sql.SQL(
        "(pg_catalog.to_timestamp(({k} - {rest}) / {per}) + {micros} * interval '1 microsecond')"
    ).format(k=key, rest=rest, per=sql.Literal(per), micros=micros)


def _as_key(target: ProbeTarget, moment: sql.Composable) -> sql.Composable:
    """A period start as the key stores it (its smallest key value); the
    period start itself for a time key."""
    from psycopg import sql

    kind = target.table.key_kind
    if kind is None or kind.encoding is None:
        return moment
    units = sql.SQL("pg_catalog.round(EXTRACT(epoch FROM {})::numeric * {})::bigint").format(
        moment, sql.Literal(kind.encoding.per_second)
    )
    if kind.encoding is not KeyEncoding.UUIDV7:
        return units
    # The smallest uuid of that millisecond: everything after the time zero.
    return sql.SQL(
        "(pg_catalog.lpad(pg_catalog.to_hex({}), 12, '0') || '00000000000000000000')::uuid"
    ).format(units)
