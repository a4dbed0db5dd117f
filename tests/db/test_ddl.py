"""ddl: the statements each action becomes, as text and on a real server."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest
from psycopg import sql

from pgpart.core.bounds import KeyKind
from pgpart.core.plan import Action, FinalizeDetach, StorageTemplate, TableRef
from pgpart.db.ddl.acl import AclItem, parse_aclitem
from pgpart.db.ddl.actions import steps_for
from pgpart.db.ddl.create import conflict_checks
from pgpart.db.ddl.step import DdlOptions, Verdict, probing, render_sql, script
from tests.support.helpers_db import create, detach, drop, partitions, table_ref, utc

REF = TableRef(
    oid=16401,
    schema="public",
    name="messages",
    key_column="created_at",
    key_kind=KeyKind.TIMESTAMPTZ,
    owner="app_owner",
    acl=("app_owner=arwdDxt/app_owner", "reader=r/app_owner", "=a*r/app_owner"),
)
ODD = TableRef(
    oid=16402,
    schema="Sales Data",
    name='Order "Events"',
    key_column="Created At",
    key_kind=KeyKind.DATE,
    owner="Owner Role",
    acl=('"Read Only"=r/"Owner Role"',),
)


def all_actions(ref: TableRef) -> list[Action]:
    return [
        create(ref, "p_2026_01", utc(2026, 1), utc(2026, 2)),
        create(ref, "p_2026_02", utc(2026, 2), utc(2026, 3), default="p_default", move=True),
        drop(ref, "p_2025_01", concurrently=True),
        drop(ref, "p_2025_01", concurrently=False),
        drop(ref, "p_2025_01", concurrently=False, detach_first=False),
        detach(ref, "p_2025_01", concurrently=True),
        detach(ref, "p_2025_01", concurrently=False),
        FinalizeDetach(ref, "p_2025_01", ref.schema),
    ]


def rendered(action: Action, options: DdlOptions | None = None) -> list[str]:
    return list(script(steps_for(action, options or DdlOptions(), columns=["id", "created_at"])))


@pytest.mark.parametrize("ref", [REF, ODD], ids=["plain", "odd_names"])
def test_no_statement_locks_the_parent_with_partition_of(ref: TableRef) -> None:
    for action in all_actions(ref):
        for text in rendered(action):
            assert "PARTITION OF" not in text.upper(), text


def test_every_transaction_bounds_its_waits_and_takes_the_advisory_lock_first() -> None:
    options = DdlOptions(lock_timeout_ms=250, statement_timeout_ms=60_000)
    for action in all_actions(REF):
        for step in steps_for(action, options, columns=["id"]):
            texts = [render_sql(s) for s in step.statements]
            if step.in_transaction:
                assert texts[:3] == [
                    "SET LOCAL lock_timeout = '250ms'",
                    "SET LOCAL statement_timeout = '60000ms'",
                    f"SELECT pg_catalog.pg_advisory_xact_lock({(0x70677074 << 32) | REF.oid})",
                ]
            else:
                assert texts[:2] == [
                    "SET lock_timeout = '250ms'",
                    "SET statement_timeout = '60000ms'",
                ]
                assert texts[-1].endswith("CONCURRENTLY")
                assert [render_sql(s) for s in step.cleanup] == [
                    "RESET lock_timeout",
                    "RESET statement_timeout",
                    "RESET ROLE",
                ]


def test_create_statements() -> None:
    storage = StorageTemplate(("autovacuum_enabled=false", "fillfactor=90"), "fast", "f")
    action = create(REF, "messages_2026_01", utc(2026, 1), utc(2026, 2), storage=storage)
    (step,) = steps_for(action, DdlOptions())
    texts = [render_sql(s) for s in step.statements]
    assert step.in_transaction
    assert texts[3] == 'SET LOCAL ROLE "app_owner"'
    assert texts[4] == 'LOCK TABLE ONLY "public"."messages" IN SHARE UPDATE EXCLUSIVE MODE'
    assert texts[5] == (
        'CREATE TABLE "public"."messages_2026_01" (LIKE "public"."messages"'
        " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS"
        " INCLUDING STATISTICS INCLUDING GENERATED INCLUDING COMPRESSION)"
        ' WITH ("autovacuum_enabled" = \'false\', "fillfactor" = \'90\') TABLESPACE "fast"'
    )
    assert texts[6:] == [
        'GRANT SELECT ON TABLE "public"."messages_2026_01" TO "reader"',
        'GRANT SELECT ON TABLE "public"."messages_2026_01" TO PUBLIC',
        'GRANT INSERT ON TABLE "public"."messages_2026_01" TO PUBLIC WITH GRANT OPTION',
        'ALTER TABLE "public"."messages" ATTACH PARTITION "public"."messages_2026_01"'
        " FOR VALUES FROM ('2026-01-01 00:00:00+00:00') TO ('2026-02-01 00:00:00+00:00')",
        'ALTER TABLE "public"."messages_2026_01" REPLICA IDENTITY FULL',
    ]
    assert "INCLUDING IDENTITY" not in texts[5] and "INCLUDING INDEXES" not in texts[5]


def test_a_settle_blocks_writers_first_and_puts_the_rows_back_through_the_parent() -> None:
    action = create(REF, "m_2026_02", utc(2026, 2), utc(2026, 3), default="m_default", move=True)
    (step,) = steps_for(action, DdlOptions(), columns=["id", "created_at", "body"])
    texts = [render_sql(s) for s in step.statements]
    lock_parent = texts.index('LOCK TABLE ONLY "public"."messages" IN SHARE ROW EXCLUSIVE MODE')
    lock_default = texts.index('LOCK TABLE ONLY "public"."m_default" IN ACCESS EXCLUSIVE MODE')
    stash = next(i for i, t in enumerate(texts) if t.startswith("CREATE TEMPORARY TABLE"))
    new = next(i for i, t in enumerate(texts) if t.startswith('CREATE TABLE "public"."m_2026_02"'))
    attach = next(i for i, t in enumerate(texts) if "ATTACH PARTITION" in t)
    back = next(i for i, t in enumerate(texts) if t.startswith('INSERT INTO "public"."messages"'))
    assert texts.index("SET LOCAL row_security = off") < lock_parent
    assert lock_parent < lock_default < stash < new < attach < back == len(texts) - 1
    assert step.counted == (stash,)
    assert texts[stash] == (
        'CREATE TEMPORARY TABLE "pg_temp"."pgpart_stash" ON COMMIT DROP AS WITH moved AS ('
        'DELETE FROM ONLY "public"."m_default" WHERE "created_at" >='
        " '2026-02-01 00:00:00+00:00'::timestamptz AND \"created_at\" <"
        " '2026-03-01 00:00:00+00:00'::timestamptz"
        ' RETURNING "id", "created_at", "body") SELECT "id", "created_at", "body" FROM moved'
    )
    assert texts[back] == (
        'INSERT INTO "public"."messages" ("id", "created_at", "body") OVERRIDING SYSTEM VALUE'
        ' SELECT "id", "created_at", "body" FROM "pg_temp"."pgpart_stash"'
    )
    with pytest.raises(ValueError, match="column list"):
        steps_for(action, DdlOptions())


def test_odd_names_are_quoted_everywhere() -> None:
    action = create(ODD, "Order Events 2026", utc(2026, 1), utc(2027, 1), default="Dflt", move=True)
    texts = rendered(action)
    joined = "\n".join(texts)
    assert '"Sales Data"."Order ""Events"""' in joined
    assert '"Sales Data"."Order Events 2026"' in joined
    assert '"Sales Data"."Dflt"' in joined
    assert 'SET LOCAL ROLE "Owner Role"' in joined
    assert 'GRANT SELECT ON TABLE "Sales Data"."Order Events 2026" TO "Read Only"' in joined
    assert "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')" in joined
    assert "\"Created At\" >= '2026-01-01'::date" in joined


def test_drop_steps_and_transactions() -> None:
    concurrent = steps_for(drop(REF, "old", concurrently=True), DdlOptions())
    # The intent (committed on its own) before the detach, the claim after it,
    # then the drop: a detach whose drop never happens is found again by check
    # (detached_leftover); only the claim lets a later run drop it.
    assert [s.in_transaction for s in concurrent] == [True, False, True, True]
    texts = [render_sql(s) for s in concurrent[0].statements]
    assert 'ALTER TABLE "public"."old" DROP CONSTRAINT IF EXISTS "pgpart_mark"' in texts
    assert any(
        t.startswith('ALTER TABLE "public"."old" ADD CONSTRAINT "pgpart_mark" CHECK (')
        and t.endswith(") NOT VALID")
        for t in texts
    )
    assert texts[-1].startswith('COMMENT ON CONSTRAINT "pgpart_mark" ON "public"."old" IS')
    assert '"phase": "detaching"' in texts[-1]
    assert not any(t.startswith("COMMENT ON TABLE") for t in texts)  # the table's own comment
    assert render_sql(concurrent[1].statements[-1]) == (
        'ALTER TABLE "public"."messages" DETACH PARTITION "public"."old" CONCURRENTLY'
    )
    claim = render_sql(concurrent[2].statements[-1])
    assert (
        claim.startswith('COMMENT ON CONSTRAINT "pgpart_mark"') and '"phase": "detached"' in claim
    )
    assert render_sql(concurrent[3].statements[-1]) == 'DROP TABLE "public"."old"'
    assert script(concurrent)[-1] == "COMMIT" and script(concurrent)[0] == "BEGIN"

    (one,) = steps_for(drop(REF, "old", concurrently=False), DdlOptions())
    assert [render_sql(s) for s in one.statements[-3:-2]] == [
        'ALTER TABLE "public"."messages" DETACH PARTITION "public"."old"',
    ]
    assert render_sql(one.statements[-1]) == 'DROP TABLE "public"."old"'
    (plain,) = steps_for(drop(REF, "old", concurrently=False, detach_first=False), DdlOptions())
    assert render_sql(plain.statements[-3]) == (
        'LOCK TABLE ONLY "public"."messages" IN ACCESS EXCLUSIVE MODE'
    )
    assert render_sql(plain.statements[-1]) == 'DROP TABLE "public"."old"'
    # A concurrent detach cut short is completed by FINALIZE with the claim in
    # one transaction, then the drop goes on.
    finalize, drop_it = one.on_pending
    finalizing = [render_sql(s) for s in finalize.statements]
    assert 'ALTER TABLE "public"."messages" DETACH PARTITION "public"."old" FINALIZE' in finalizing
    assert '"phase": "detached"' in finalizing[-1]
    assert render_sql(drop_it.statements[-1]) == 'DROP TABLE "public"."old"'


def test_finalize_runs_in_a_transaction() -> None:
    (step,) = steps_for(FinalizeDetach(REF, "old", "public"), DdlOptions())
    assert step.in_transaction
    assert step.guards[0].decide("pending", "x")[0] is Verdict.GO
    assert step.guards[0].decide("attached", "x")[0] is Verdict.SKIP


def test_older_servers_get_what_they_support() -> None:
    old = DdlOptions(server_version_num=130012)
    text = "\n".join(rendered(drop(REF, "old", concurrently=True), old))
    assert "CONCURRENTLY" not in text and "inhdetachpending" not in text
    text = "\n".join(rendered(create(REF, "new", utc(2026, 1), utc(2026, 2)), old))
    assert "INCLUDING COMPRESSION" not in text and "INCLUDING GENERATED" in text


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("app=arwd/owner", AclItem("app", "arwd", "", "owner")),
        ("=r/owner", AclItem(None, "r", "", "owner")),
        ("app=r*w*d/owner", AclItem("app", "rwd", "rw", "owner")),
        ('"my ""odd"" role"=r/"Owner X"', AclItem('my "odd" role', "r", "", "Owner X")),
    ],
)
def test_parse_aclitem(text: str, item: AclItem) -> None:
    assert parse_aclitem(text) == item


def test_rendered_text_is_what_psycopg_sends(pg_conn: psycopg.Connection) -> None:
    for ref in (REF, ODD):
        for action in all_actions(ref):
            for step in steps_for(action, DdlOptions(), columns=["id", "Created At", "ü"]):
                for stmt in (*step.statements, *step.cleanup):
                    assert stmt.as_string(pg_conn) == render_sql(stmt)


def test_dry_run_script_runs_as_printed(pg_conn: psycopg.Connection) -> None:
    """The printed statements, pasted as text, create the partition and move the rows."""
    pg_conn.execute(
        'CREATE SCHEMA "Sales Data";'
        ' CREATE TABLE "Sales Data"."Order ""Events""" (id int GENERATED ALWAYS AS IDENTITY,'
        ' "Created At" date NOT NULL) PARTITION BY RANGE ("Created At");'
        ' CREATE TABLE "Sales Data"."Dflt" PARTITION OF "Sales Data"."Order ""Events""" DEFAULT;'
        ' CREATE ROLE "Owner Role"; CREATE ROLE "Read Only";'
        ' ALTER TABLE "Sales Data"."Order ""Events""" OWNER TO "Owner Role";'
        ' ALTER TABLE "Sales Data"."Dflt" OWNER TO "Owner Role";'
        ' GRANT CREATE, USAGE ON SCHEMA "Sales Data" TO "Owner Role";'
        ' GRANT SELECT ON "Sales Data"."Order ""Events""" TO "Read Only";'
        ' INSERT INTO "Sales Data"."Order ""Events""" ("Created At")'
        " VALUES ('2026-03-04'), ('2025-12-31')"
    )
    try:
        ref = table_ref(pg_conn, '"Sales Data"."Order ""Events"""')
        action = create(
            ref, "Order Events 2026", utc(2026, 1), utc(2027, 1), default="Dflt", move=True
        )
        lines = script(steps_for(action, DdlOptions(), columns=["id", "Created At"]))
        for line in lines:
            pg_conn.execute(line.encode())
        assert partitions(pg_conn, '"Sales Data"."Order ""Events"""') == {
            "Dflt": "DEFAULT",
            "Order Events 2026": "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
        }
        rows = pg_conn.execute(
            'SELECT tableoid::regclass::text, "Created At"::text'
            ' FROM "Sales Data"."Order ""Events""" ORDER BY 2'
        ).fetchall()
        assert rows == [
            ('"Sales Data"."Dflt"', "2025-12-31"),
            ('"Sales Data"."Order Events 2026"', "2026-03-04"),
        ]
        owner = pg_conn.execute(
            "SELECT pg_get_userbyid(relowner), relacl::text[] FROM pg_class"
            " WHERE relname = 'Order Events 2026'"
        ).fetchone()
        assert owner is not None and owner[0] == "Owner Role"
        assert '"Read Only"=r/"Owner Role"' in owner[1]
    finally:
        pg_conn.execute('DROP SCHEMA "Sales Data" CASCADE')
        pg_conn.execute('DROP ROLE "Owner Role"; DROP ROLE "Read Only"')


def test_a_settle_moves_the_rows_and_leaves_nothing_behind(pg_conn: psycopg.Connection) -> None:
    pg_conn.execute(
        "CREATE TABLE m (id int, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at);"
        " CREATE TABLE m_default PARTITION OF m DEFAULT;"
        " INSERT INTO m SELECT i, '2026-02-01'::timestamptz + i * interval '1 min'"
        " FROM generate_series(1, 100) i;"
        " INSERT INTO m VALUES (0, '2030-01-01'), (-1, '2026-03-01')"
    )
    ref = table_ref(pg_conn, "m")
    action = create(ref, "m_2026_02", utc(2026, 2), utc(2026, 3), default="m_default", move=True)
    (step,) = steps_for(action, DdlOptions(), columns=["id", "created_at"])
    with pg_conn.transaction():
        for stmt in step.statements:
            pg_conn.execute(sql.Composed([stmt]))
    assert pg_conn.execute("SELECT count(*), min(id), max(id) FROM m_2026_02").fetchone() == (
        100,
        1,
        100,
    )
    assert pg_conn.execute("SELECT id FROM m_default ORDER BY id").fetchall() == [(-1,), (0,)]
    assert pg_conn.execute("SELECT to_regclass('pg_temp.pgpart_stash')").fetchone() == (None,)
    for table in ("m_2026_02", "m_default"):
        assert (
            pg_conn.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass"
                " AND contype <> 'n'",  # PostgreSQL 18 records NOT NULL constraints here too
                (table,),
            ).fetchall()
            == []
        )


def test_conflict_checks_tell_a_concurrent_run_from_a_real_conflict(
    pg_conn: psycopg.Connection,
) -> None:
    pg_conn.execute(
        "CREATE TABLE g (ts timestamp NOT NULL) PARTITION BY RANGE (ts);"
        " CREATE TABLE g_a PARTITION OF g FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');"
        " CREATE TABLE g_b PARTITION OF g FOR VALUES FROM ('2026-02-01') TO (MAXVALUE);"
        " CREATE TABLE g_taken (x int)"
    )
    ref = table_ref(pg_conn, "g")
    naive = datetime(2026, 1, 1), datetime(2026, 2, 1)

    def verdict(name: str, lower: datetime, upper: datetime) -> tuple[Verdict, str] | None:
        for query, guard in conflict_checks(create(ref, name, lower, upper)):
            row = pg_conn.execute(query).fetchone()
            if row is not None:
                return guard.decide(row[0], row[1])
        return None

    # This very partition made by a concurrent run: by name, or by its bounds.
    assert verdict("g_a", *naive) == (Verdict.SKIP, "already covered by partition public.g_a")
    assert verdict("other", *naive) == (Verdict.SKIP, "already covered by partition g_a")
    assert verdict("g_taken", datetime(2025, 1, 1), datetime(2025, 2, 1)) == (
        Verdict.FAIL,
        "a relation named public.g_taken already exists",
    )
    assert verdict("g_a", datetime(2026, 1, 1), datetime(2026, 1, 2)) == (
        Verdict.FAIL,
        "a relation named public.g_a already exists",
    )
    # A real overlap under another name: no verdict, the ATTACH error stands.
    assert verdict("x", datetime(2025, 12, 1), datetime(2026, 1, 2)) is None
    # The create step itself carries no guard: one round trip when all is well.
    (step,) = steps_for(create(ref, "x", *naive), DdlOptions())
    assert step.guards == ()
    assert verdict("x", datetime(2025, 12, 1), datetime(2026, 1, 1)) is None


@pytest.mark.parametrize("ref", [REF, ODD], ids=["plain", "odd_names"])
def test_early_attempts_wait_for_each_lock_briefly_and_differ_in_that_alone(
    ref: TableRef,
) -> None:
    """Every step that runs in a transaction sets its lock_timeout first;
    its early attempts (probing) send the same statements with a brief one.
    A lock_timeout already shorter stays, and so does a step that sets none."""
    options = DdlOptions(lock_timeout_ms=500)
    actions = [
        *all_actions(ref),
        create(ref, "p_2026_03", utc(2026, 3), utc(2026, 4), default="p_default", move=True),
    ]
    for action in actions:
        for step in steps_for(action, options, columns=["id", "created_at"]):
            plain = [render_sql(s) for s in step.statements]
            early = [render_sql(s) for s in probing(step, 50).statements]
            changed = [i for i, (a, b) in enumerate(zip(plain, early, strict=True)) if a != b]
            if not step.in_transaction:
                assert changed == [], step.description
                continue
            assert changed == [0], step.description
            assert plain[0] == "SET LOCAL lock_timeout = '500ms'"
            assert early[0] == "SET LOCAL lock_timeout = '50ms'"
            assert probing(step, 600) is step
    (short,) = steps_for(actions[0], DdlOptions(lock_timeout_ms=20), columns=["id"])
    assert probing(short, 50) is short
