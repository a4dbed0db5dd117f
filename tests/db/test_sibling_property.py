"""Property (issue 10): whatever combination of per-partition features a DBA
set on the existing partitions, ``maintain`` makes new partitions that do not
differ from the newest one (tests/support/sibling_compare.py reads both with its own
SQL), keeps every row, and a second ``maintain`` plans nothing."""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.cli_helpers import NOW, cli
from tests.support.sibling_compare import (
    Roles,
    assert_faithful,
    build_monthly,
    new_partitions,
    partitions_of,
    roles_fixture,  # noqa: F401  (the roles fixture)
    table_checksum,
)

_tables = itertools.count(1)


@dataclass(frozen=True)
class Features:
    index: str | None
    check: str | None  # "valid" / "not valid"
    trigger: str | None  # tgenabled letter
    rls: str | None  # "enable" / "force"
    grant: bool
    identity: str | None  # "full" / "nothing" / "index"
    unlogged: bool
    reloptions: str | None
    statistics: bool
    sub: str | None  # "hash" / "list"
    default_rows: bool
    column: str | None  # "not null" / "default" / "no default"
    comment: bool
    parent_trigger: str | None  # tgenabled letter of the partitions' copy


features = st.builds(
    Features,
    index=st.sampled_from(
        [None, "(lower(tenant))", "(tenant) WHERE body IS NOT NULL", "(tenant) INCLUDE (body)"]
    ),
    check=st.sampled_from([None, "valid", "not valid"]),
    trigger=st.sampled_from([None, "O", "A", "R", "D"]),
    rls=st.sampled_from([None, "enable", "force"]),
    grant=st.booleans(),
    identity=st.sampled_from([None, "full", "nothing", "index"]),
    unlogged=st.booleans(),
    reloptions=st.sampled_from([None, "fillfactor = 70", "toast.autovacuum_enabled = false"]),
    statistics=st.booleans(),
    sub=st.sampled_from([None, "hash", "list"]),
    default_rows=st.booleans(),
    column=st.sampled_from([None, "not null", "default", "no default"]),
    comment=st.booleans(),
    parent_trigger=st.sampled_from([None, "O", "A", "R", "D"]),
)


def _apply(conn: psycopg.Connection[Any], f: Features, part: str, role: str) -> None:
    def run(stmt: str) -> None:
        conn.execute(stmt)

    if f.sub == "hash":
        for r in (0, 1):
            run(
                f"CREATE TABLE {part}_h{r} PARTITION OF {part}"
                f" FOR VALUES WITH (modulus 2, remainder {r})"
            )
    elif f.sub == "list":
        run(f"CREATE TABLE {part}_ab PARTITION OF {part} FOR VALUES IN (1, 2)")
        run(f"CREATE TABLE {part}_rest PARTITION OF {part} DEFAULT")
    if f.index:
        run(f"CREATE INDEX ON {part} {f.index}")
    if f.check:
        suffix = " NOT VALID" if f.check == "not valid" else ""
        run(f"ALTER TABLE {part} ADD CONSTRAINT body_len CHECK (length(body) < 100){suffix}")
    if f.trigger:
        run(f"CREATE TRIGGER stamp BEFORE INSERT ON {part} FOR EACH ROW EXECUTE FUNCTION stamp()")
        verb = {"O": "ENABLE", "A": "ENABLE ALWAYS", "R": "ENABLE REPLICA", "D": "DISABLE"}
        run(f"ALTER TABLE {part} {verb[f.trigger]} TRIGGER stamp")
    if f.rls:
        run(f"ALTER TABLE {part} ENABLE ROW LEVEL SECURITY")
        if f.rls == "force":
            run(f"ALTER TABLE {part} FORCE ROW LEVEL SECURITY")
        run(f"CREATE POLICY own ON {part} FOR SELECT TO {role} USING (tenant = current_user)")
    if f.grant:
        run(f"GRANT SELECT, INSERT ON {part} TO {role}")
    if f.sub is None:
        if f.identity == "full":
            run(f"ALTER TABLE {part} REPLICA IDENTITY FULL")
        elif f.identity == "nothing":
            run(f"ALTER TABLE {part} REPLICA IDENTITY NOTHING")
        elif f.identity == "index":
            run(f"ALTER TABLE {part} REPLICA IDENTITY USING INDEX {part}_pkey")
        if f.reloptions:
            run(f"ALTER TABLE {part} SET ({f.reloptions})")
    if f.statistics:
        run(f"ALTER TABLE {part} ALTER COLUMN tenant SET STATISTICS 321")
    if f.column == "not null":
        run(f"ALTER TABLE {part} ALTER COLUMN tenant SET NOT NULL")
    elif f.column == "default":
        run(f"ALTER TABLE {part} ALTER COLUMN tenant SET DEFAULT 'mine'")
    elif f.column == "no default":
        run(f"ALTER TABLE {part} ALTER COLUMN body DROP DEFAULT")
    if f.comment:
        run(f"COMMENT ON TABLE {part} IS 'a month'")
        run(f"COMMENT ON COLUMN {part}.tenant IS 'who'")
    if f.parent_trigger:
        verb = {"O": "ENABLE", "A": "ENABLE ALWAYS", "R": "ENABLE REPLICA", "D": "DISABLE"}
        run(f"ALTER TABLE {part} {verb[f.parent_trigger]} TRIGGER audit")


@settings(
    max_examples=int(os.environ.get("PGPART_PROPERTY_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(f=features)
def test_new_partitions_equal_their_newest_sibling(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, roles: Roles, f: Features
) -> None:
    role = roles.names[0] if roles.names else roles.make("tenant")  # one for all examples
    pg_conn.execute(
        "CREATE OR REPLACE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql"
        " AS $$BEGIN NEW.body := coalesce(NEW.body, 'stamped'); RETURN NEW; END$$"
    )
    name = f"p{next(_tables)}"
    sub = {"hash": "HASH (id)", "list": "LIST (id)"}.get(f.sub or "")
    created = build_monthly(
        pg_conn,
        name,
        columns="id bigint NOT NULL, created_at timestamptz NOT NULL, tenant text,"
        " body text DEFAULT 'parent'",
        partition_by=sub,
        default=f.default_rows,
    )
    if f.parent_trigger:
        pg_conn.execute(
            f"CREATE TRIGGER audit BEFORE INSERT ON {name} FOR EACH ROW EXECUTE FUNCTION stamp()"
        )
    if f.unlogged and f.sub is None:
        for part in created:
            pg_conn.execute(f"ALTER TABLE {part} SET UNLOGGED")
    for part in created:
        _apply(pg_conn, f, part, role)
    if f.default_rows:
        pg_conn.execute(
            f"INSERT INTO {name} (id, created_at, tenant, body) SELECT g, '2027-01-10'::timestamptz"
            " + g * interval '1 minute', CASE WHEN g % 2 = 0 THEN 'a' ELSE 'z' END, 'legacy'"
            " FROM generate_series(1, 20) g"
        )
    before = partitions_of(pg_conn, name)
    rows = table_checksum(pg_conn, name)

    run = cli(["maintain", name, "--dsn", pg_dsn, "--now", NOW])
    assert run.code == 0, (f, run.stdout, run.stderr)
    made = [
        p
        for p in new_partitions(before, partitions_of(pg_conn, name))
        if p.count(".") == 1 and p.split(".")[1].startswith(f"{name}_20")
    ]
    assert len(made) == 3, (f, made)
    newest = f"public.{created[-1]}"
    for part in made:
        assert_faithful(pg_conn, part, newest)
    assert table_checksum(pg_conn, name) == rows, f

    again = cli(["maintain", name, "--dsn", pg_dsn, "--now", NOW, "--dry-run", "-f", "json"])
    assert again.code == 0, (f, again.stdout, again.stderr)
    assert json.loads(again.stdout)["actions"] == [], f
