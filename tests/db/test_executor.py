"""executor: applying actions on a real server, under contention and failure."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from devcluster import Server
from pgpart.core.plan import FinalizeDetach, StorageTemplate
from pgpart.db.executor import ActionResult, Failure, FailureKind, Outcome
from tests.support.helpers_db import (
    create,
    detach,
    drop,
    holding,
    inserting,
    make_table,
    partitions,
    relation_exists,
    run,
    table_ref,
    utc,
)

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


def needs_pg14(server: Server) -> None:
    if server.version_num < 140000:
        pytest.skip("DETACH ... CONCURRENTLY needs PostgreSQL 14")


def ok(result: ActionResult) -> None:
    assert result.error is None, result.error
    assert result.done


# ---------------------------------------------------------------- create


@pytest.mark.parametrize(
    ("key_type", "lower", "upper", "bound"),
    [
        (
            "timestamptz",
            utc(2026, 2),
            utc(2026, 3),
            "FOR VALUES FROM ('2026-02-01 00:00:00+00') TO ('2026-03-01 00:00:00+00')",
        ),
        (
            "timestamp",
            datetime(2026, 2, 1),
            datetime(2026, 3, 1),
            "FOR VALUES FROM ('2026-02-01 00:00:00') TO ('2026-03-01 00:00:00')",
        ),
        (
            "date",
            datetime(2026, 2, 1),
            datetime(2026, 3, 1),
            "FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')",
        ),
    ],
)
def test_create_for_each_key_type(
    pg_conn: psycopg.Connection, pg_dsn: str, key_type: str, lower: Any, upper: Any, bound: str
) -> None:
    make_table(pg_conn, key_type=key_type)
    ref = table_ref(pg_conn, "events")
    logged: list[str] = []
    (result,) = run(pg_dsn, [create(ref, "events_2026_02", lower, upper)], log=logged.append)
    ok(result)
    assert not result.skipped and result.attempts == 1
    assert result.outcome is Outcome.DONE
    assert list(result.sql) == logged and logged[0] == "BEGIN" and logged[-1] == "COMMIT"
    assert partitions(pg_conn, "events")["events_2026_02"] == bound
    pg_conn.execute("INSERT INTO events (ts) VALUES ('2026-02-10')")
    row = pg_conn.execute("SELECT tableoid::regclass::text FROM events").fetchone()
    assert row == ("events_2026_02",)
    # Again: already there, nothing to do, no error.
    (again,) = run(pg_dsn, [create(ref, "events_2026_02", lower, upper)])
    assert again.done and again.skipped and again.error is None
    assert again.outcome is Outcome.SKIPPED


CHECKSUM = (
    "SELECT count(*), sum(id), sum(amount), sum(doubled), count(note),"
    " md5(string_agg(concat_ws('|', id, ts, amount, note, doubled), ',' ORDER BY id))"
    " FROM {} WHERE ts >= '2026-02-01 00:00:00+00' AND ts < '2026-03-01 00:00:00+00'"
)


def test_rows_of_the_default_are_moved_exactly(pg_conn: psycopg.Connection, pg_dsn: str) -> None:
    pg_conn.execute(
        "CREATE TABLE ev (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
        " gone int, amount numeric, note text,"
        " doubled numeric GENERATED ALWAYS AS (amount * 2) STORED) PARTITION BY RANGE (ts);"
        " ALTER TABLE ev DROP COLUMN gone;"
        " CREATE TABLE ev_2026_01 PARTITION OF ev"
        "  FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');"
        # A default with its own column order, attached rather than created.
        " CREATE TABLE ev_default (note text, amount numeric,"
        "  doubled numeric GENERATED ALWAYS AS (amount * 2) STORED,"
        "  ts timestamptz NOT NULL, id bigint NOT NULL);"
        " ALTER TABLE ev ATTACH PARTITION ev_default DEFAULT;"
        " INSERT INTO ev (ts, amount, note)"
        "  SELECT '2026-01-20'::timestamptz + i * interval '17 min', i * 1.5,"
        "         CASE WHEN i % 7 = 0 THEN NULL ELSE 'n' || i END"
        "  FROM generate_series(1, 5000) i"
    )
    before = pg_conn.execute(sql.SQL(CHECKSUM).format(sql.Identifier("ev"))).fetchone()
    assert before is not None and before[0] > 1000
    total = pg_conn.execute("SELECT count(*) FROM ev").fetchone()
    ref = table_ref(pg_conn, "ev")
    action = create(ref, "ev_2026_02", utc(2026, 2), utc(2026, 3), default="ev_default", move=True)
    (result,) = run(pg_dsn, [action])
    ok(result)
    moves = [s for s in result.sql if s.startswith("CREATE TEMPORARY TABLE")]
    assert len(moves) == 1 and result.rows_moved == before[0]
    assert pg_conn.execute(sql.SQL(CHECKSUM).format(sql.Identifier("ev"))).fetchone() == before
    moved = pg_conn.execute(sql.SQL(CHECKSUM).format(sql.Identifier("ev_2026_02"))).fetchone()
    assert moved == before
    left = pg_conn.execute(sql.SQL(CHECKSUM).format(sql.Identifier("ev_default"))).fetchone()
    assert left is not None and left[0] == 0
    assert pg_conn.execute("SELECT count(*) FROM ev").fetchone() == total
    outside = pg_conn.execute("SELECT count(*) FROM ev_default").fetchone()
    assert outside is not None and outside[0] > 0  # rows of March onwards stay
    # The identity sequence goes on where it was: no clash with moved ids.
    row = pg_conn.execute(
        "INSERT INTO ev (ts, amount) VALUES ('2026-02-02', 1) RETURNING id, doubled"
    ).fetchone()
    assert row is not None and row[0] == 5001 and row[1] == 2
    attrs = pg_conn.execute(
        "SELECT attname, attidentity, attgenerated FROM pg_attribute"
        " WHERE attrelid = 'ev_2026_02'::regclass AND attnum > 0 AND NOT attisdropped"
        " ORDER BY attnum"
    ).fetchall()
    assert attrs == [
        # From PostgreSQL 17 on, ATTACH gives the partition the parent's identity.
        ("id", "a" if pg_conn.info.server_version >= 170000 else "", ""),
        ("ts", "", ""),
        ("amount", "", ""),
        ("note", "", ""),
        ("doubled", "", "s"),
    ]
    assert not pg_conn.execute(
        "SELECT 1 FROM pg_constraint WHERE conrelid = 'ev_2026_02'::regclass AND contype = 'c'"
    ).fetchall()


def test_a_failing_attach_leaves_no_table_behind(pg_conn: psycopg.Connection, pg_dsn: str) -> None:
    make_table(pg_conn, default=True)
    pg_conn.execute(
        "INSERT INTO events (ts, payload) VALUES ('2026-02-03', 'x'), ('2027-01-01', 'y')"
    )
    ref = table_ref(pg_conn, "events")
    # The plan says the default holds nothing of February, but it does: ATTACH fails.
    first = create(ref, "events_2026_02", utc(2026, 2), utc(2026, 3), default="events_default")
    later = create(ref, "events_2026_03", utc(2026, 3), utc(2026, 4), default="events_default")
    r1, r2 = run(pg_dsn, [first, later])
    assert r1.error is not None and not r1.done
    assert "events_2026_02" in r1.error and "default partition" in r1.error
    assert "\n" not in r1.error
    assert r2.error is not None and r2.error.startswith("not attempted")
    assert r1.failure is not None and r1.failure.kind is FailureKind.SERVER
    assert r1.failure.sqlstate == "23514"  # check_violation: the default holds such rows
    assert r2.failure is not None and r2.failure.kind is FailureKind.NOT_ATTEMPTED
    assert (r1.outcome, r2.outcome) == (Outcome.FAILED, Outcome.NOT_ATTEMPTED)
    assert not relation_exists(pg_conn, "public", "events_2026_02")
    assert not relation_exists(pg_conn, "public", "events_2026_03")
    assert pg_conn.execute("SELECT count(*) FROM events_default").fetchone() == (2,)
    assert r1.sql[-1] == "ROLLBACK"


@pytest.fixture
def roles(pg_conn: psycopg.Connection) -> Iterator[list[str]]:
    """Role names to create; dropped (with what they own here) afterwards."""
    names: list[str] = []
    yield names
    for name in reversed(names):
        ident = sql.Identifier(name)
        pg_conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(ident))
        pg_conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def _role(conn: psycopg.Connection, roles: list[str], base: str, options: str = "") -> str:
    name = f"{base}_{uuid.uuid4().hex[:8]}"
    conn.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(name)))
    roles.append(name)
    return name


@pytest.mark.parametrize("inherit", ["INHERIT", "NOINHERIT"])
def test_owner_grants_and_storage_as_a_member_of_the_owner_role(
    pg_conn: psycopg.Connection, pg_dsn: str, roles: list[str], inherit: str
) -> None:
    password = "s3cret-" + uuid.uuid4().hex[:6]
    owner = _role(pg_conn, roles, "tbl_owner", "NOLOGIN")
    reader = _role(pg_conn, roles, "reader", "NOLOGIN")
    runner = _role(pg_conn, roles, "runner", f"LOGIN {inherit} PASSWORD '{password}'")
    o, r, u = (sql.Identifier(n) for n in (owner, reader, runner))
    pg_conn.execute(sql.SQL("GRANT {} TO {}").format(o, u))
    pg_conn.execute(sql.SQL("GRANT CREATE, USAGE ON SCHEMA public TO {}").format(o))
    make_table(pg_conn, default=True)
    pg_conn.execute("INSERT INTO events (ts) VALUES ('2026-02-03'), ('2026-05-01')")
    for table in ("events", "events_2026_01", "events_default"):
        pg_conn.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(table), o))
    pg_conn.execute(sql.SQL("GRANT SELECT, INSERT ON events TO {}").format(r))
    ref = table_ref(pg_conn, "events")
    storage = StorageTemplate(("autovacuum_enabled=false",), None, "f")
    action = create(
        ref,
        "events_2026_02",
        utc(2026, 2),
        utc(2026, 3),
        default="events_default",
        move=True,
        storage=storage,
    )
    runner_dsn = make_conninfo(pg_dsn, user=runner, password=password)
    assert conninfo_to_dict(runner_dsn)["host"] == "127.0.0.1"  # TCP: scram, not trust

    (result,) = run(runner_dsn, [action])
    ok(result)
    row = pg_conn.execute(
        "SELECT pg_get_userbyid(relowner), relacl::text[], reloptions, relreplident::text"
        " FROM pg_class WHERE oid = 'events_2026_02'::regclass"
    ).fetchone()
    assert row is not None
    assert row[0] == owner
    assert f"{reader}=ar/{owner}" in row[1]
    assert row[2] == ["autovacuum_enabled=false"]
    assert row[3] == "f"
    assert pg_conn.execute("SELECT count(*) FROM events_2026_02").fetchone() == (1,)

    # Someone who is not a member of the owner role: refused, one clean line.
    stranger = _role(pg_conn, roles, "stranger", f"LOGIN PASSWORD '{password}'")
    stranger_dsn = make_conninfo(pg_dsn, user=stranger, password=password)
    march = create(ref, "events_2026_03", utc(2026, 3), utc(2026, 4))
    (refused,) = run(stranger_dsn, [march])
    assert refused.error is not None and "permission denied" in refused.error
    assert "events_2026_03" in refused.error and password not in refused.error
    assert not relation_exists(pg_conn, "public", "events_2026_03")


# ---------------------------------------------------------------- locks


def test_create_waits_out_a_conflicting_lock_without_stalling_writes(
    pg_conn: psycopg.Connection, pg_dsn: str
) -> None:
    make_table(pg_conn)
    ref = table_ref(pg_conn, "events")
    insert = sql.SQL(
        "INSERT INTO events_2026_01 (id, ts) OVERRIDING SYSTEM VALUE VALUES (0, '2026-01-15')"
    )
    lock = sql.SQL("LOCK TABLE ONLY events IN SHARE MODE")
    with inserting(pg_dsn, insert) as inserter, holding(pg_dsn, lock, 1.5):
        t0 = time.monotonic()
        (result,) = run(pg_dsn, [create(ref, "events_2026_02", utc(2026, 2), utc(2026, 3))])
        waited = time.monotonic() - t0
    ok(result)
    assert result.attempts > 1 and waited > 1.0
    print(
        f"create behind SHARE lock: {result.attempts} attempts, {waited:.2f} s;"
        f" max insert latency {inserter.max_latency_s * 1000:.0f} ms"
    )
    assert inserter.max_latency_s < 1.0
    assert "events_2026_02" in partitions(pg_conn, "events")


def test_drop_stalls_writers_no_longer_than_about_lock_timeout(
    pg_conn: psycopg.Connection, pg_dsn: str
) -> None:
    make_table(pg_conn, months=(JAN, FEB, MAR), default=True)
    ref = table_ref(pg_conn, "events")
    # A report holds ACCESS SHARE on the parent; DROP needs ACCESS EXCLUSIVE, so
    # its waiting request queues every insert behind it until lock_timeout.
    report = sql.SQL("SELECT count(*) FROM events")
    insert = sql.SQL("INSERT INTO events (ts) VALUES ('2026-03-15')")
    with inserting(pg_dsn, insert) as inserter:
        time.sleep(0.1)
        with holding(pg_dsn, report, 1.5):
            (result,) = run(
                pg_dsn, [drop(ref, "events_2026_01", concurrently=False)], lock_timeout_ms=100
            )
        time.sleep(0.1)
    ok(result)
    assert result.attempts > 1
    print(
        f"drop behind a 1.5 s report: {result.attempts} attempts, {result.seconds:.2f} s;"
        f" {inserter.count} inserts, max latency {inserter.max_latency_s * 1000:.0f} ms"
    )
    assert inserter.max_latency_s < 1.0
    assert "events_2026_01" not in partitions(pg_conn, "events")


def test_a_lock_held_past_the_budget_fails_naming_the_holder(
    pg_conn: psycopg.Connection, pg_dsn: str
) -> None:
    make_table(pg_conn)
    ref = table_ref(pg_conn, "events")
    lock = sql.SQL("LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE")
    long_query = "SELECT 'a report query whose text is far longer than sixty characters', 1"
    with holding(pg_dsn, lock, 2.5, extra_sql=long_query) as holder:
        (result,) = run(
            pg_dsn,
            [create(ref, "events_2026_02", utc(2026, 2), utc(2026, 3))],
            retry_for_s=1.0,
        )
    assert result.error is not None and not result.done
    print(result.error)
    assert result.error.startswith("lock timeout on public.events after ")
    assert result.failure is not None and result.failure.kind is FailureKind.LOCK
    assert result.failure.sqlstate == "55P03" and result.failure.relation == "public.events"
    assert f"pid {holder.pid} (AccessExclusiveLock)" in result.error
    quoted = result.error.split('"')[1]
    assert quoted.endswith("...") and len(quoted) <= 60 and quoted.startswith("SELECT 'a report")
    assert "\n" not in result.error
    assert 1.0 <= result.seconds < 2.5
    assert not relation_exists(pg_conn, "public", "events_2026_02")


def test_four_runs_at_once_end_in_the_same_state(pg_conn: psycopg.Connection, pg_dsn: str) -> None:
    make_table(pg_conn, default=True)
    pg_conn.execute(
        "INSERT INTO events (ts, payload) SELECT '2026-02-01'::timestamptz + i * interval '1 h',"
        " 'p' || i FROM generate_series(0, 24 * 120) i"
    )
    total = pg_conn.execute("SELECT count(*), sum(id) FROM events").fetchone()
    ref = table_ref(pg_conn, "events")
    months = [(2026, 2), (2026, 3), (2026, 4), (2026, 5)]
    actions = [
        create(
            ref,
            f"events_{y}_{m:02d}",
            utc(y, m),
            utc(y + m // 12, m % 12 + 1),
            default="events_default",
            move=True,
        )
        for y, m in months
    ]
    results: list[list[ActionResult]] = []
    start = threading.Barrier(4)

    def one() -> None:
        start.wait()
        results.append(run(pg_dsn, list(actions), lock_timeout_ms=100, retry_for_s=20))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4
    for per_run in results:
        for r in per_run:
            ok(r)
    for i in range(len(actions)):
        assert sum(not per_run[i].skipped for per_run in results) == 1
    parts = partitions(pg_conn, "events")
    assert sorted(parts) == ["events_2026_01", *(a.partition for a in actions), "events_default"]
    assert pg_conn.execute("SELECT count(*), sum(id) FROM events").fetchone() == total
    assert pg_conn.execute(
        "SELECT count(*) FROM events_default WHERE ts < '2026-06-01'"
    ).fetchone() == (0,)


# ---------------------------------------------------------------- drop / detach


def test_drop_without_a_default_detaches_concurrently(
    pg_conn: psycopg.Connection, pg_dsn: str, pg_server: Server
) -> None:
    needs_pg14(pg_server)
    make_table(pg_conn, months=(JAN, FEB))
    pg_conn.execute("INSERT INTO events (ts) VALUES ('2026-01-05'), ('2026-02-05')")
    ref = table_ref(pg_conn, "events")
    (result,) = run(pg_dsn, [drop(ref, "events_2026_01", concurrently=True)])
    ok(result)
    assert any(s.endswith("CONCURRENTLY") for s in result.sql)
    assert (
        "RESET lock_timeout" in result.sql
        and result.sql[-2] == 'DROP TABLE "public"."events_2026_01"'
    )
    assert not relation_exists(pg_conn, "public", "events_2026_01")
    assert pg_conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
    (again,) = run(pg_dsn, [drop(ref, "events_2026_01", concurrently=True)])
    assert again.done and again.skipped


def test_drop_with_a_default_detaches_and_drops_in_one_transaction(
    pg_conn: psycopg.Connection, pg_dsn: str
) -> None:
    make_table(pg_conn, months=(JAN, FEB), default=True)
    pg_conn.execute("INSERT INTO events (ts) VALUES ('2026-01-05'), ('2026-02-05'), ('2027-01-01')")
    ref = table_ref(pg_conn, "events")
    (result,) = run(pg_dsn, [drop(ref, "events_2026_01", concurrently=False)])
    ok(result)
    assert not any("CONCURRENTLY" in s for s in result.sql)
    assert result.sql.count("BEGIN") == 1 and result.sql[-1] == "COMMIT"
    assert not relation_exists(pg_conn, "public", "events_2026_01")
    assert pg_conn.execute("SELECT count(*) FROM events").fetchone() == (2,)


@pytest.mark.parametrize("concurrently", [True, False])
def test_detach_keeps_the_table(
    pg_conn: psycopg.Connection, pg_dsn: str, pg_server: Server, concurrently: bool
) -> None:
    if concurrently:
        needs_pg14(pg_server)
    make_table(pg_conn, months=(JAN, FEB))
    pg_conn.execute("INSERT INTO events (ts) VALUES ('2026-01-05'), ('2026-02-05')")
    ref = table_ref(pg_conn, "events")
    (result,) = run(pg_dsn, [detach(ref, "events_2026_01", concurrently=concurrently)])
    ok(result)
    assert "events_2026_01" not in partitions(pg_conn, "events")
    assert pg_conn.execute("SELECT count(*) FROM events_2026_01").fetchone() == (1,)
    (again,) = run(pg_dsn, [detach(ref, "events_2026_01", concurrently=concurrently)])
    assert again.done and again.skipped


def _pending(conn: psycopg.Connection, name: str) -> bool | None:
    row = conn.execute(
        "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(%s)", (name,)
    ).fetchone()
    return None if row is None else bool(row[0])


def _leave_pending(dsn: str, partition: str) -> None:
    """Another session's DETACH .. CONCURRENTLY, interrupted: phase 1 commits,
    phase 2 waits for a report's snapshot and is cut short by lock_timeout."""
    report = sql.SQL("SELECT count(*) FROM events")
    with holding(dsn, report, 1.0), psycopg.connect(dsn, autocommit=True) as other:
        other.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute(
                sql.SQL("ALTER TABLE events DETACH PARTITION {} CONCURRENTLY").format(
                    sql.Identifier(partition)
                )
            )


def test_finalize_completes_an_interrupted_concurrent_detach(
    pg_conn: psycopg.Connection, pg_dsn: str, pg_server: Server
) -> None:
    needs_pg14(pg_server)
    make_table(pg_conn, months=(JAN, FEB))
    _leave_pending(pg_dsn, "events_2026_01")
    assert _pending(pg_conn, "events_2026_01") is True
    ref = table_ref(pg_conn, "events")
    (result,) = run(pg_dsn, [FinalizeDetach(ref, "events_2026_01", "public")])
    ok(result)
    assert not result.skipped and any(s.endswith("FINALIZE") for s in result.sql)
    assert _pending(pg_conn, "events_2026_01") is None
    assert relation_exists(pg_conn, "public", "events_2026_01")
    (again,) = run(pg_dsn, [FinalizeDetach(ref, "events_2026_01", "public")])
    assert again.done and again.skipped


def test_a_concurrent_drop_cut_short_is_finalized_on_retry(
    pg_conn: psycopg.Connection, pg_dsn: str, pg_server: Server
) -> None:
    needs_pg14(pg_server)
    make_table(pg_conn, months=(JAN, FEB))
    # A report on the parent (February only: January, pruned, is not locked,
    # so retention's mark on it waits for nothing) that the detach waits for.
    report = sql.SQL("SELECT count(*) FROM events WHERE ts >= '2026-02-01'")
    ref = table_ref(pg_conn, "events")
    with holding(pg_dsn, report, 1.0):
        (result,) = run(pg_dsn, [drop(ref, "events_2026_01", concurrently=True)])
    ok(result)
    assert result.attempts > 1
    assert any(s.endswith("FINALIZE") for s in result.sql)
    assert not relation_exists(pg_conn, "public", "events_2026_01")


def test_a_concurrent_detach_waits_while_another_partition_of_the_table_is_pending(
    pg_conn: psycopg.Connection, pg_dsn: str, pg_server: Server
) -> None:
    """PostgreSQL lets one partition per table be pending a concurrent detach:
    another session's (a retention job of its own, another host) makes ours
    fail with 55000 "already pending detach". Found in pg_inherits, it is
    waited out like a lock, within the same retry budget."""
    needs_pg14(pg_server)
    make_table(pg_conn, months=(JAN, FEB))
    report = sql.SQL("SELECT count(*) FROM events")
    ref = table_ref(pg_conn, "events")
    failed: list[BaseException] = []

    def their_detach() -> None:
        try:
            with psycopg.connect(pg_dsn, autocommit=True) as other:
                other.execute("ALTER TABLE events DETACH PARTITION events_2026_01 CONCURRENTLY")
        except BaseException as exc:  # reported below, in the test's thread
            failed.append(exc)

    with holding(pg_dsn, report, 1.5):
        theirs = threading.Thread(target=their_detach)
        theirs.start()
        deadline = time.monotonic() + 10
        while _pending(pg_conn, "events_2026_01") is not True:
            assert time.monotonic() < deadline, "their detach never became pending"
            time.sleep(0.02)
        (result,) = run(pg_dsn, [drop(ref, "events_2026_02", concurrently=True)])
    theirs.join(10)
    assert not failed, failed
    ok(result)
    assert result.attempts > 1
    assert not relation_exists(pg_conn, "public", "events_2026_02")
    assert _pending(pg_conn, "events_2026_01") is None  # theirs completed too


def test_a_detach_pending_for_good_fails_naming_it_after_the_budget(
    pg_conn: psycopg.Connection, pg_dsn: str, pg_server: Server
) -> None:
    needs_pg14(pg_server)
    make_table(pg_conn, months=(JAN, FEB))
    _leave_pending(pg_dsn, "events_2026_01")
    ref = table_ref(pg_conn, "events")
    (result,) = run(pg_dsn, [drop(ref, "events_2026_02", concurrently=True)], retry_for_s=0.5)
    assert result.failure is not None and result.failure.kind is FailureKind.LOCK
    assert result.failure.sqlstate == "55000"
    assert result.error is not None
    assert "public.events_2026_01 is pending detach from public.events" in result.error
    assert "FINALIZE" in result.error
    assert relation_exists(pg_conn, "public", "events_2026_02")
    assert _pending(pg_conn, "events_2026_02") is False  # still attached, not pending


# ---------------------------------------------------------------- names, failures


def test_quoted_mixed_case_names_with_spaces(pg_conn: psycopg.Connection, pg_dsn: str) -> None:
    pg_conn.execute(
        'CREATE SCHEMA "Big Data";'
        ' CREATE TABLE "Big Data"."Page Views" ("View Id" bigint GENERATED ALWAYS AS IDENTITY,'
        ' "Seen At" timestamp NOT NULL, "Url" text) PARTITION BY RANGE ("Seen At");'
        ' CREATE TABLE "Big Data"."Page Views Default" PARTITION OF "Big Data"."Page Views" DEFAULT;'
        ' INSERT INTO "Big Data"."Page Views" ("Seen At", "Url")'
        " VALUES ('2026-02-02', 'a'), ('2026-02-28 23:59:59', 'b'), ('2026-03-01', 'c')"
    )
    ref = table_ref(pg_conn, '"Big Data"."Page Views"')
    assert ref.schema == "Big Data" and ref.key_column == "Seen At"
    action = create(
        ref,
        "Page Views 2026-02",
        datetime(2026, 2, 1),
        datetime(2026, 3, 1),
        default="Page Views Default",
        move=True,
    )
    (created,) = run(pg_dsn, [action])
    ok(created)
    rows = pg_conn.execute(
        'SELECT tableoid::regclass::text, "Url" FROM "Big Data"."Page Views" ORDER BY 2'
    ).fetchall()
    assert rows == [
        ('"Big Data"."Page Views 2026-02"', "a"),
        ('"Big Data"."Page Views 2026-02"', "b"),
        ('"Big Data"."Page Views Default"', "c"),
    ]
    (dropped,) = run(pg_dsn, [drop(ref, "Page Views 2026-02", concurrently=False)])
    ok(dropped)
    assert not relation_exists(pg_conn, "Big Data", "Page Views 2026-02")


def test_one_failing_table_does_not_stop_another(pg_conn: psycopg.Connection, pg_dsn: str) -> None:
    make_table(pg_conn, "a")
    make_table(pg_conn, "b")
    a, b = table_ref(pg_conn, "a"), table_ref(pg_conn, "b")
    overlapping = create(a, "a_x", utc(2026, 1, 15), utc(2026, 2, 15))
    results = run(
        pg_dsn,
        [
            overlapping,
            create(a, "a_2026_03", utc(2026, 3), utc(2026, 4)),
            create(b, "b_2026_02", utc(2026, 2), utc(2026, 3)),
            drop(a, "a_2026_01", concurrently=False),
        ],
    )
    assert results[0].error is not None
    assert "the range overlaps partition public.a_2026_01" in results[0].error
    assert not relation_exists(pg_conn, "public", "a_x")  # rolled back with the ATTACH
    assert results[1].error is not None and results[1].error.startswith("not attempted")
    ok(results[2])
    ok(results[3])  # retention is independent of creation


def test_statement_timeout_fails_cleanly(pg_conn: psycopg.Connection, pg_dsn: str) -> None:
    make_table(pg_conn, default=True)
    pg_conn.execute(
        "INSERT INTO events (ts) SELECT '2026-02-01'::timestamptz + i * interval '1 s'"
        " FROM generate_series(1, 50000) i"
    )
    ref = table_ref(pg_conn, "events")
    action = create(
        ref, "events_2026_02", utc(2026, 2), utc(2026, 3), default="events_default", move=True
    )
    (result,) = run(pg_dsn, [action], statement_timeout_ms=1)
    # query_canceled. Not the words: when a 1 ms timeout fires between two
    # statements of one message, PostgreSQL 15 reports it on the next as
    # "canceling statement due to user request" (about 1 run in 60).
    assert result.failure is not None and result.failure.sqlstate == "57014", result
    assert result.failure.kind is FailureKind.SERVER
    assert not relation_exists(pg_conn, "public", "events_2026_02")
    assert pg_conn.execute("SELECT count(*) FROM events_default").fetchone() == (50000,)


def _kill_pgpart_on(conn: psycopg.Connection, server: Server) -> None:
    pids = [
        r[0]
        for r in conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = 'pgpart' AND datname = current_database()"
        )
    ]
    for pid in pids:
        if server.version_num >= 140000:  # waits until the backend is gone
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        else:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            time.sleep(0.2)


def test_a_lost_connection_fails_one_action_then_reconnects(
    pg_conn: psycopg.Connection, pg_dsn: str, pg_server: Server
) -> None:
    make_table(pg_conn, "a")
    make_table(pg_conn, "b")
    a, b = table_ref(pg_conn, "a"), table_ref(pg_conn, "b")

    def killer(text: str) -> None:
        if "ATTACH PARTITION" in text and '"a_2026_02"' in text:
            _kill_pgpart_on(pg_conn, pg_server)

    r1, r2 = run(
        pg_dsn,
        [
            create(a, "a_2026_02", utc(2026, 2), utc(2026, 3)),
            create(b, "b_2026_02", utc(2026, 2), utc(2026, 3)),
        ],
        log=killer,
    )
    assert r1.error is not None and "lost the connection" in r1.error and "\n" not in r1.error
    assert not relation_exists(pg_conn, "public", "a_2026_02")
    ok(r2)


def test_no_reconnect_possible_fails_the_rest(
    pg_conn: psycopg.Connection, pg_dsn: str, pg_server: Server
) -> None:
    make_table(pg_conn, "a")
    make_table(pg_conn, "b")
    a, b = table_ref(pg_conn, "a"), table_ref(pg_conn, "b")
    dbname = sql.Identifier(str(conninfo_to_dict(pg_dsn)["dbname"]))

    admin = psycopg.connect(pg_server.admin_dsn, autocommit=True)

    def killer(text: str) -> None:
        if "ATTACH PARTITION" in text:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(dbname))
            _kill_pgpart_on(pg_conn, pg_server)

    try:
        results = run(
            pg_dsn,
            [
                create(a, "a_2026_02", utc(2026, 2), utc(2026, 3)),
                create(b, "b_2026_02", utc(2026, 2), utc(2026, 3)),
                create(b, "b_2026_03", utc(2026, 3), utc(2026, 4)),
            ],
            log=killer,
        )
    finally:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(dbname))
        admin.close()
    assert results[0].error is not None and "lost the connection" in results[0].error
    for r in results[1:]:
        assert r.error is not None and "could not reconnect" in r.error, r.error


def test_dry_run_needs_no_server_and_changes_nothing() -> None:
    from pgpart.core.bounds import KeyKind
    from pgpart.core.plan import TableRef

    ref = TableRef(1, "public", "events", "ts", KeyKind.TIMESTAMPTZ, "app")
    nowhere = "host=127.0.0.1 port=1 connect_timeout=1 password=hunter2"
    plain = create(ref, "events_2026_02", utc(2026, 2), utc(2026, 3))
    moving = create(ref, "events_2026_03", utc(2026, 3), utc(2026, 4), default="d", move=True)
    r1, r2 = run(nowhere, [plain, moving], dry_run=True)
    assert not r1.done and r1.error is None and r1.attempts == 0
    assert r1.outcome is Outcome.NOT_RUN
    assert r1.sql[0] == "BEGIN" and r1.sql[-1] == "COMMIT"
    assert any("ATTACH PARTITION" in s for s in r1.sql)
    # Copying rows needs the column list, which only the server knows.
    assert r2.error is not None and "connect" in r2.error and "hunter2" not in r2.error


def test_a_range_made_meanwhile_under_another_name_is_a_skip(
    pg_conn: psycopg.Connection, pg_dsn: str
) -> None:
    # Another tool (or a run that read an older catalog) made February under
    # its own name after pgpart planned it: ATTACH refuses the overlap, and
    # the executor finds the partition with exactly these bounds.
    make_table(pg_conn, "a", months=(date(2026, 1, 1), date(2026, 2, 1)))
    a = table_ref(pg_conn, "a")
    same, partial = run(
        pg_dsn,
        [
            create(a, "a_feb_by_pgpart", utc(2026, 2), utc(2026, 3)),
            create(a, "a_x", utc(2026, 1, 15), utc(2026, 2, 15)),
        ],
    )
    assert same.done and same.skipped and same.error is None, same
    assert not relation_exists(pg_conn, "public", "a_feb_by_pgpart")
    # A real overlap (not the same bounds) is still a failure.
    assert partial.error is not None and "overlaps partition" in partial.error


def test_the_outcome_is_the_one_form_of_a_result() -> None:
    """A result is told by its Outcome alone: done, skipped and error are
    read from it (and its Failure), and only a failed or not attempted
    result may carry a Failure, which then decides between the two."""

    from pgpart.core.bounds import KeyKind
    from pgpart.core.plan import TableRef

    ref = TableRef(1, "public", "events", "ts", KeyKind.TIMESTAMPTZ, "app")
    action = create(ref, "events_2026_02", utc(2026, 2), utc(2026, 3))

    preview = ActionResult(action, Outcome.NOT_RUN)
    assert str(preview.outcome) == "not_run"
    assert (preview.done, preview.skipped, preview.error) == (False, False, None)
    done = ActionResult(action, Outcome.DONE)
    assert (done.done, done.skipped, done.error) == (True, False, None)
    there = ActionResult(action, Outcome.SKIPPED)
    assert (there.done, there.skipped, there.error) == (True, True, None)
    lock = Failure(FailureKind.LOCK, "not attempted: a misleading message")
    failed = ActionResult.failed(action, lock)
    assert failed.outcome is Outcome.FAILED  # the Failure decides; not the words
    assert (failed.done, failed.error, failed.fails_run) == (False, lock.message, True)
    earlier = Failure(FailureKind.NOT_ATTEMPTED, "not attempted: an earlier create failed")
    assert ActionResult.failed(action, earlier).outcome is Outcome.NOT_ATTEMPTED
    with pytest.raises(ValueError):
        ActionResult(action, Outcome.FAILED)  # a failure needs its Failure
    with pytest.raises(ValueError):
        ActionResult(action, Outcome.DONE, failure=lock)


def test_names_other_modules_import_from_the_executor_stay_there() -> None:
    from pgpart.db import executor, results, retry

    for name in ("ActionResult", "Failure", "FailureKind", "Outcome", "Progress", "NOT_ATTEMPTED"):
        assert getattr(executor, name) is getattr(results, name)
    assert executor.BACKOFF_CAP_S == retry.BACKOFF_CAP_S
    assert callable(executor.execute) and executor.ExecOptions is not None
