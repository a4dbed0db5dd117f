"""Bounds arrive typed from the catalog query; every bound the server does not
type (DEFAULT, MINVALUE/MAXVALUE, infinity, BC, keys pgpart does not handle)
is read from its text as before, and the text is kept in the record."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from pgpart.core.bounds import BoundError, KeyKind, parse_range_bound
from pgpart.db.catalog import _PARTITIONS_SQL, read_snapshot, session_settings

TABLES: dict[str, list[tuple[str, str | None, str | None]]] = {
    # key type: [(partition name, FROM, TO)]; None: DEFAULT
    "timestamptz": [
        ("tz_min", "MINVALUE", "'2026-01-01 00:00+00'"),
        ("tz_jan", "'2026-01-01 00:00+00'", "'2026-02-01 00:00+00'"),
        ("tz_frac", "'2026-02-01 00:00+00'", "'2026-02-01 00:00:00.25+00'"),
        ("tz_offset", "'2026-02-01 00:00:00.25+00'", "'2026-03-01 00:00+05:30'"),
        ("tz_inf", "'2026-03-01 00:00+05:30'", "'infinity'"),
        ("tz_default", None, None),
    ],
    "timestamp": [
        ("ts_bc", "'0044-03-15 BC'", "'2026-01-01'"),
        ("ts_jan", "'2026-01-01'", "'2026-01-02 06:30'"),
        ("ts_max", "'2026-01-02 06:30'", "MAXVALUE"),
    ],
    "date": [
        ("d_neg", "'-infinity'", "'2026-01-01'"),
        ("d_jan", "'2026-01-01'", "'2026-02-01'"),
        ("d_big", "'2026-02-01'", "'12026-01-01'"),
    ],
    "bigint": [("i_low", "0", "100"), ("i_default", None, None)],
}


def _build(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TimeZone = 'Asia/Kolkata'")  # the catalog pins UTC whatever this says
    for key, parts in TABLES.items():
        table = f"t_{key}"
        conn.execute(f"CREATE TABLE {table} (k {key} NOT NULL) PARTITION BY RANGE (k)")
        for name, lo, hi in parts:
            spec = "DEFAULT" if lo is None else f"FOR VALUES FROM ({lo}) TO ({hi})"
            conn.execute(f"CREATE TABLE {name} PARTITION OF {table} {spec}")


def test_bounds_are_those_their_text_says(pg_conn: psycopg.Connection[Any]) -> None:
    _build(pg_conn)
    tables = {t.name: t for t in read_snapshot(pg_conn).tables}
    assert set(tables) == {f"t_{k}" for k in TABLES}
    seen = 0
    for table in tables.values():
        for p in table.partitions:
            assert p.bound_text is not None
            if table.key_kind is None or not table.key_kind.handled:
                assert p.bound is None
                assert (p.bound_error is None) == (p.bound_text == "DEFAULT")
                continue
            try:
                exact = parse_range_bound(p.bound_text, table.key_kind)
            except BoundError as exc:
                assert (p.bound, p.bound_error) == (None, str(exc))
            else:
                assert (p.bound, p.bound_error) == (exact, None), p.name
                if exact is not None and exact.lower is not None:
                    assert exact.lower.tzinfo is p.lower.tzinfo  # type: ignore[union-attr]
            seen += 1
    assert seen == sum(len(v) for k, v in TABLES.items() if k != "bigint")
    by_name = {p.name: p for t in tables.values() for p in t.partitions}
    assert by_name["ts_bc"].bound_error is not None  # BC: listed with its reason
    assert by_name["d_big"].bound_error is not None  # year 12026: likewise
    assert by_name["tz_inf"].upper is None  # infinity acts as MAXVALUE


def test_the_server_types_the_ordinary_bounds(pg_conn: psycopg.Connection[Any]) -> None:
    _build(pg_conn)
    kinds = {"t_timestamptz": KeyKind.TIMESTAMPTZ, "t_timestamp": KeyKind.TIMESTAMP}
    oids = {
        name: pg_conn.execute("SELECT %s::regclass::oid", (name,)).fetchone()[0]  # type: ignore[index]
        for name in [*kinds, "t_date", "t_bigint"]
    }
    query = _PARTITIONS_SQL.format(pending=sql.SQL("false"), size=sql.SQL("NULL::bigint"))
    with pg_conn.transaction():
        session_settings(pg_conn)
        rows = pg_conn.execute(
            query,
            {
                "parents": list(oids.values()),
                "kinds": [1, 2, 2, 0],  # timestamptz, timestamp, date, bigint
                "restored": "pgpart_restored",
            },
        ).fetchall()
    typed = {r[2] for r in rows if r[4] is not None or r[6] is not None}
    assert typed == {"tz_jan", "tz_frac", "tz_offset", "ts_jan", "d_jan"}
