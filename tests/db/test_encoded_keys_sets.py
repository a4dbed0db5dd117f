"""Encoded keys in the sets people already have: pg_partman's epoch sets
(4.7 installed here, on PostgreSQL 15) and pg_partman 5's names and UUIDv7
bounds (built by hand), time zones and DST, the encoding configured or
asked for, `init`, and keys pgpart cannot read at all whose current range is
missing all the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.db.test_encoded_keys_db import HELPERS, bounds, unquoted
from tests.support.cli_helpers import NOW, cli

PARTMAN_NEXT = """
SELECT partition_table FROM partman.show_partition_name('public.pm', %s::text)
"""


def _partman(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE SCHEMA partman")
    conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")


def test_partman_epoch_set_is_continued_with_its_names_bounds_and_checks(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """pg_partman 4.7's own create_parent(p_epoch := 'milliseconds'): init
    carries the epoch over, and pgpart create extends the set with the
    names, bounds and range CHECK pg_partman would give the next partitions."""
    _partman(pg_conn)
    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute(
        "CREATE TABLE pm (col1 int NOT NULL, col3 bigint NOT NULL) PARTITION BY RANGE (col3)"
    )
    pg_conn.execute(
        "SELECT partman.create_parent('public.pm', 'col3', 'native', 'daily',"
        " p_epoch := 'milliseconds', p_premake := 2, p_start_partition := '2026-11-19')"
    )
    last = max(bounds(pg_conn, "pm"))  # pm_p2026_11_DD, the newest
    ahead = []
    for n in (1, 2):
        row = pg_conn.execute(
            "SELECT (%s::date + %s)::timestamptz::text", (last[-10:].replace("_", "-"), n)
        ).fetchone()
        assert row is not None
        name = pg_conn.execute(PARTMAN_NEXT, (row[0],)).fetchone()
        assert name is not None
        ahead.append(name[0])
    init = cli(["init", "pm", "--dsn", pg_dsn, "-o", "-"])
    assert init.code == 0, init.stderr
    assert 'key_encoding = "epoch_ms"' in init.stdout and "epoch milliseconds" in init.stdout
    pg_conn.execute("DELETE FROM partman.part_config WHERE parent_table = 'public.pm'")
    till = pg_conn.execute(
        "SELECT (%s::date + 3)::text", (last[-10:].replace("_", "-"),)
    ).fetchone()[0]  # type: ignore[index]
    run = cli(["create", "pm", "--to", till, "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    made = bounds(pg_conn, "pm")
    for name in ahead:
        assert name in made
        lo, hi = unquoted(made[name]).removeprefix("FOR VALUES FROM (").rstrip(")").split(") TO (")
        assert int(hi) - int(lo) == 86_400_000
        [(conname, definition)] = pg_conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'c'",
            (name,),
        ).fetchall()
        assert conname == f"{name}_partition_check"
        day = f"{name[-10:].replace('_', '-')} 00:00:00+00"
        assert f">= '{day}'::timestamp with time zone" in definition
    # a row of the new range goes in (the copied CHECK would have refused it)
    pg_conn.execute(
        "INSERT INTO pm VALUES (1, (extract(epoch FROM %s::timestamptz) * 1000)::bigint + 5)",
        (f"{ahead[0][-10:].replace('_', '-')} 12:00+00",),
    )
    check = cli(["check", "pm", "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    codes = {p["code"] for p in check.json()["tables"][0]["problems"]}
    assert "sibling_drift" not in codes


def test_a_uuidv7_set_named_and_bounded_as_by_the_version_5_encoder(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """pg_partman 5 names a daily set _pYYYYMMDD and writes UUIDv7 bounds with
    its uuid7_time_encoder (the version and variant bits zero): built by hand
    as it would, the set is continued the same way."""
    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute("CREATE TABLE ev (id uuid NOT NULL, body text) PARTITION BY RANGE (id)")
    bare = (
        "(lpad(to_hex((extract(epoch FROM {}::timestamptz) * 1000)::bigint), 12, '0')"
        " || '00000000000000000000')::uuid"
    )
    for day in ("2026-11-20", "2026-11-21", "2026-11-22"):
        lo, hi = bare.format(f"'{day}'"), bare.format(f"('{day}'::date + 1)")
        name = f"ev_p{day.replace('-', '')}"
        pg_conn.execute(f"CREATE TABLE {name} PARTITION OF ev FOR VALUES FROM ({lo}) TO ({hi})")
    run = cli(["maintain", "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, run.stdout + run.stderr
    made = bounds(pg_conn, "ev")
    assert {"ev_p20261123", "ev_p20261124", "ev_p20261125"} <= set(made)
    expected = pg_conn.execute(
        f"SELECT {bare.format(repr('2026-11-23'))}::text, {bare.format(repr('2026-11-24'))}::text"
    ).fetchone()
    assert expected is not None
    assert made["ev_p20261123"] == f"FOR VALUES FROM ('{expected[0]}') TO ('{expected[1]}')"


def test_epoch_days_follow_the_zone_across_dst(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """Daily epoch-seconds partitions of Europe/Berlin: the day the clocks go
    back lasts 25 hours, in the integers too."""
    pg_conn.execute(HELPERS)
    pg_conn.execute("CREATE TABLE b (k bigint NOT NULL) PARTITION BY RANGE (k)")
    local = "t_epoch(('{}'::timestamp AT TIME ZONE 'Europe/Berlin'), 1)"
    for day in ("2026-10-21", "2026-10-22", "2026-10-23"):
        lo, hi = local.format(day), local.format(f"{day[:-2]}{int(day[-2:]) + 1}")
        pg_conn.execute(
            f"CREATE TABLE b_{day[-2:]} PARTITION OF b FOR VALUES FROM ({lo}) TO ({hi})"
        )
    config = tmp_path / "pgpart.toml"
    config.write_text('[[table]]\nname = "b"\ntimezone = "Europe/Berlin"\n')
    run = cli(["create", "b", "--to", "2026-10-27", "--dsn", pg_dsn, "--config", str(config),
               "--now", "2026-10-23T12:00:00+02:00"])  # fmt: skip
    assert run.code == 0, run.stdout + run.stderr
    made = {unquoted(b) for b in bounds(pg_conn, "b").values()}
    row = pg_conn.execute(
        f"SELECT {local.format('2026-10-25')}, {local.format('2026-10-26')}"
    ).fetchone()
    assert row is not None and row[1] - row[0] == 25 * 3600
    assert f"FOR VALUES FROM ({row[0]}) TO ({row[1]})" in made


def test_the_encoding_configured_or_asked_for(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """Bounds that could be seconds of 1970 are not guessed: check asks for
    key_encoding; configured, the table is worked on; configured wrong, its
    bounds are unreadable and check says which setting to look at."""
    pg_conn.execute("CREATE TABLE early (k bigint NOT NULL) PARTITION BY RANGE (k)")
    pg_conn.execute("CREATE TABLE early_1 PARTITION OF early FOR VALUES FROM (0) TO (86400)")
    pg_conn.execute("CREATE TABLE early_2 PARTITION OF early FOR VALUES FROM (86400) TO (172800)")
    asked = cli(["check", "early", "--dsn", pg_dsn, "--now", "1970-01-02T12:00:00+00:00"])
    assert asked.code == 3
    assert "unsupported_key" in asked.stdout and 'set key_encoding = "epoch_s"' in asked.stdout
    config = tmp_path / "pgpart.toml"
    config.write_text('[[table]]\nname = "early"\nkey_encoding = "epoch_s"\n')
    given = cli(["check", "early", "--dsn", pg_dsn, "--config", str(config),
                 "--now", "1970-01-02T12:00:00+00:00", "--format", "json"])  # fmt: skip
    [table] = given.json()["tables"]
    assert table["interval"] == "daily" and table["covered_until"] == "1970-01-03T00:00:00+00:00"
    assert "key_encoding_inferred" not in {p["code"] for p in table["problems"]}
    config.write_text('[[table]]\nname = "early"\nkey_encoding = "uuidv7"\n')
    wrong = cli(["check", "early", "--dsn", pg_dsn, "--config", str(config)])
    assert wrong.code == 3 and 'key_encoding = "uuidv7" does not fit its bigint key' in wrong.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[defaults]\nkey_encoding = "epoch_sec"\n')
    refused = cli(["check", "--dsn", pg_dsn, "--config", str(bad)])
    assert refused.code == 3 and "key_encoding" in refused.stderr and "epoch_s" in refused.stderr


def test_init_writes_the_encoding_and_why(pg_conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    pg_conn.execute(HELPERS)
    pg_conn.execute("CREATE TABLE ns (k bigint NOT NULL) PARTITION BY RANGE (k)")
    for day in ("2026-11-21", "2026-11-22"):
        lo = f"t_epoch('{day}'::timestamptz, 1000000000)"
        hi = f"t_epoch('{day}'::timestamptz + interval '1 day', 1000000000)"
        pg_conn.execute(
            f"CREATE TABLE ns_{day[-2:]} PARTITION OF ns FOR VALUES FROM ({lo}) TO ({hi})"
        )
    pg_conn.execute("CREATE TABLE ids (id bigint NOT NULL) PARTITION BY RANGE (id)")
    pg_conn.execute("CREATE TABLE ids_1 PARTITION OF ids FOR VALUES FROM (0) TO (1000000)")
    run = cli(["init", "--dsn", pg_dsn, "-o", "-"])
    assert run.code == 0, run.stderr
    assert 'key_encoding = "epoch_ns"' in run.stdout
    assert "# key_encoding epoch_ns inferred: its bounds" in run.stdout
    assert "public.ids" not in run.stdout
    # left out, but not silently: what to set if the key does encode time
    assert "skipped public.ids: not range-partitioned on a date/time column, and its" in (
        run.stderr
    )
    assert "key_encoding" in run.stderr.split("skipped public.ids", 1)[1]
    assert "public.ns" not in run.stderr
    named = cli(["init", "ids", "--dsn", pg_dsn, "-o", "-"])
    assert named.code == 3
    assert "public.ids is not range-partitioned on a date/time column, and its bounds (0," in (
        named.stderr
    )
    # nanoseconds are exact in the DEFAULT probe and in the bounds pgpart writes
    pg_conn.execute("CREATE TABLE ns_default PARTITION OF ns DEFAULT")
    pg_conn.execute(
        "INSERT INTO ns VALUES (t_epoch('2026-11-24'::timestamptz, 1000000000) - 1),"
        " (t_epoch('2026-11-24'::timestamptz, 1000000000))"
    )
    check = cli(["check", "ns", "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    [rows] = [p for p in check.json()["tables"][0]["problems"] if p["code"] == "default_has_rows"]
    assert "2026-11-23 (1), 2026-11-24 (1)" in rows["message"]


def test_keys_pgpart_cannot_read_are_critical_when_now_has_no_partition(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute(
        "CREATE TABLE by_day (at timestamptz NOT NULL)"
        " PARTITION BY RANGE ((date_trunc('day', at AT TIME ZONE 'UTC')))"
    )
    pg_conn.execute(
        "CREATE TABLE by_day_1 PARTITION OF by_day FOR VALUES FROM ('2026-11-21') TO ('2026-11-22')"
    )
    pg_conn.execute(
        "CREATE TABLE two (at timestamptz NOT NULL, id int) PARTITION BY RANGE (at, id)"
    )
    pg_conn.execute(
        "CREATE TABLE two_1 PARTITION OF two"
        " FOR VALUES FROM ('2026-11-22', MINVALUE) TO ('2026-11-23', MAXVALUE)"
    )
    pg_conn.execute("CREATE TABLE ids (id bigint NOT NULL) PARTITION BY RANGE (id)")
    pg_conn.execute("CREATE TABLE ids_1 PARTITION OF ids FOR VALUES FROM (0) TO (1000000)")
    run = cli(["check", "--dsn", pg_dsn, "--now", NOW, "--format", "json"])
    assert run.code == 2, run.stdout
    tables = {t["table"]: t for t in run.json()["tables"]}
    by_day = tables["public.by_day"]
    assert by_day["status"] == "critical"
    assert [p["code"] for p in by_day["problems"]] == ["unsupported_key", "missing_current"]
    assert "2026-11-22 00:00:00): inserts are failing" in by_day["problems"][1]["message"]
    # the first column of a two-column key holds now: not judged missing
    assert [p["code"] for p in tables["public.two"]["problems"]] == ["unsupported_key"]
    # ids have no now: listed as before
    assert tables["public.ids"]["status"] == "ok"
    # a day later the two-column table has no partition for now either
    later = cli(["check", "two", "--dsn", pg_dsn, "--now", "2026-11-23T12:00:00+00:00"])
    assert later.code == 2 and "the first column of its 2-column key" in later.stdout


def test_an_integer_of_epoch_seconds_ends_in_2038(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    pg_conn.execute("CREATE TABLE i4 (k integer NOT NULL) PARTITION BY RANGE (k)")
    pg_conn.execute(
        "CREATE TABLE i4_1 PARTITION OF i4 FOR VALUES FROM (2145916800) TO (2146003200)"
    )
    pg_conn.execute(
        "CREATE TABLE i4_2 PARTITION OF i4 FOR VALUES FROM (2146003200) TO (2146089600)"
    )
    run = cli(["maintain", "i4", "--dsn", pg_dsn, "--now", "2038-01-17T00:00:00+00:00"])
    assert run.code == 3
    assert "does not fit the key's type" in run.stderr and "out of range for integer" in run.stderr
    assert len(bounds(pg_conn, "i4")) == 2  # nothing half-made
