"""Issue 10, part 3: retention never leaves a partition detached and forgotten
(docs/retention.md).

- A member of the parent's owner role applies retention while the expired
  partitions belong to another role: refused before detaching, with a true
  message (it names the partition's owner, it does not claim a missing
  membership of the parent's owner), the partitions still attached and their
  rows still visible through the parent; ``check`` does not say OK.
- A partition that pgpart detached but could not drop (the DROP made to fail
  after DETACH ... CONCURRENTLY committed: by an event trigger, or by a lock
  held past the retry budget) is reported by ``check`` as detached_leftover,
  naming it, until it is dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.cli_helpers import NOW, Run, cli
from tests.support.sibling_compare import (
    Roles,
    build_monthly,
    partitions_of,
    roles_fixture,  # noqa: F401  (the roles fixture)
    table_checksum,
)

EXPIRED = ("messages_2026_07", "messages_2026_08")  # wholly before NOW - 2 months


def build(conn: psycopg.Connection[Any], *, default: bool) -> None:
    build_monthly(
        conn,
        columns="id bigint NOT NULL, created_at timestamptz NOT NULL, body text",
        months=range(-4, 1),  # July .. November 2026
        default=default,
    )
    conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-07-01 00:00+00' + g * interval '6 hours',"
        " 'row ' || g FROM generate_series(1, 560) g"
    )
    counts = dict(
        conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM messages GROUP BY 1"
        ).fetchall()
    )
    assert counts.get("messages_2026_07", 0) > 0 and counts.get("messages_2026_08", 0) > 0


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "pgpart.toml"
    path.write_text(
        f'{extra}\n[[table]]\nname = "public.messages"\ninterval = "monthly"\n'
        'retention = "2 months"\n'
    )
    return path


def standalone(conn: psycopg.Connection[Any], name: str) -> bool:
    """The table exists and is not a partition of anything."""
    row = conn.execute(
        "SELECT c.relispartition, EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)"
        " FROM pg_class c WHERE c.oid = to_regclass(%s)",
        (f"public.{name}",),
    ).fetchone()
    return row is not None and not row[0] and not row[1]


def attached(conn: psycopg.Connection[Any], name: str) -> bool:
    pending = "i.inhdetachpending" if conn.info.server_version >= 140000 else "false"
    row = conn.execute(
        f"SELECT NOT {pending} FROM pg_inherits i WHERE i.inhrelid = to_regclass(%s)"
        " AND i.inhparent = 'messages'::regclass",
        (f"public.{name}",),
    ).fetchone()
    return row is not None and bool(row[0])


def check_problems(dsn: str, config: Path) -> tuple[Run, list[dict[str, Any]]]:
    run = cli(
        ["check", "messages", "--dsn", dsn, "--config", str(config), "--now", NOW, "-f", "json"]
    )
    assert "Traceback" not in run.stderr, run.stderr
    [entry] = [t for t in run.json()["tables"] if t["table"] == "public.messages"]
    return run, list(entry["problems"])


@pytest.mark.parametrize("default", [False, True], ids=["no_default", "with_default"])
@pytest.mark.parametrize("command", ["maintain", "drop"])
def test_retention_refused_before_detaching_when_partition_owned_by_another_role(
    pg_conn: psycopg.Connection[Any],
    pg_dsn: str,
    roles: Roles,
    tmp_path: Path,
    default: bool,
    command: str,
) -> None:
    build(pg_conn, default=default)
    owner, other = roles.make("tbl_owner"), roles.make("old_owner")
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    for name, _ in partitions_of(pg_conn, "messages").items():
        table = name.split(".")[1]
        roles.sql("ALTER TABLE {} OWNER TO {}", table, other if table in EXPIRED else owner)
    roles.sql("ALTER TABLE {} OWNER TO {}", "messages", owner)
    runner = roles.login("runner")
    roles.sql("GRANT {} TO {}", owner, runner)  # a member of the parent's owner only
    dsn = roles.dsn_for(runner)
    config = write_config(tmp_path)
    rows = table_checksum(pg_conn, "messages")

    if command == "maintain":
        run = cli(["maintain", "messages", "--dsn", dsn, "--config", str(config), "--now", NOW])
    else:
        run = cli(
            [
                "drop",
                "messages",
                "--older-than",
                "2 months",
                "--yes",
                "--dsn",
                dsn,
                "--config",
                str(config),
                "--now",
                NOW,
            ]
        )
    out = run.stdout + run.stderr
    assert run.code == 2, out
    assert "Traceback" not in out
    # a true message: the partition and its owner, not the parent owner's membership
    assert any(p in out for p in EXPIRED), out
    assert other in out, out
    assert f'member of role "{owner}"' not in out, out
    assert f'permission denied to set role "{owner}"' not in out, out
    # refused before detaching: still attached, rows still visible through the parent
    for name in EXPIRED:
        assert attached(pg_conn, name), (name, partitions_of(pg_conn, "messages"))
    assert table_checksum(pg_conn, "messages") == rows

    # and check does not claim OK about it
    check, found = check_problems(dsn, config)
    assert check.json()["status"] != "ok" and check.code in (1, 2), check.stdout
    assert any(
        f["code"] == "retention_overdue"
        or other in f["message"]
        or any(p in f["message"] for p in EXPIRED)
        for f in found
    ), found


EVENT_TRIGGER = """
CREATE FUNCTION refuse_drops() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'drops are frozen for the audit'; END $$;
CREATE EVENT TRIGGER refuse_drops ON ddl_command_start WHEN TAG IN ('DROP TABLE')
  EXECUTE FUNCTION refuse_drops();
"""


def state(conn: psycopg.Connection[Any], name: str) -> str:
    """attached, pending (a DETACH CONCURRENTLY cut short), standalone, or gone."""
    row = conn.execute(
        "SELECT i.inhrelid IS NOT NULL, "
        + ("coalesce(i.inhdetachpending, false)" if conn.info.server_version >= 140000 else "false")
        + " FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid"
        " WHERE c.oid = to_regclass(%s)",
        (f"public.{name}",),
    ).fetchone()
    if row is None:
        return "gone"
    if not row[0]:
        return "standalone"
    return "pending" if row[1] else "attached"


def _assert_leftover_reported_until_dropped(
    conn: psycopg.Connection[Any],
    dsn: str,
    config: Path,
    rows_before: tuple[int, Any],
    resolve: str = "drop",
) -> list[str]:
    """After a failed retention run: each expired partition is either still
    attached (nothing stranded), or detached and reported by check as
    detached_leftover, naming it, until dropped (or, for a DETACH CONCURRENTLY
    cut short, reported as pending_detach or detached_leftover). Returns the
    leftovers it found (and dropped)."""
    states = {name: state(conn, name) for name in EXPIRED}
    leftovers = [n for n, s in states.items() if s == "standalone"]
    pending = [n for n, s in states.items() if s == "pending"]
    if not leftovers and not pending:
        # nothing stranded: what is still attached kept its rows
        assert set(states.values()) <= {"attached", "gone"}, states
        if all(s == "attached" for s in states.values()):
            assert table_checksum(conn, "messages") == rows_before
        return []
    check, found = check_problems(dsn, config)
    for name in leftovers:
        assert any(f["code"] == "detached_leftover" and name in f["message"] for f in found), (
            name,
            found,
        )
    for name in pending:
        assert any(
            f["code"] in ("pending_detach", "detached_leftover") and name in f["message"]
            for f in found
        ), (name, found)
    assert check.json()["status"] != "ok" and check.code in (1, 2)
    reported = [f for f in found if f["code"] == "detached_leftover"]
    assert all(f["severity"] in ("warning", "critical") for f in reported)
    # reported as long as it exists (a second look, nothing changed in between)
    _, again = check_problems(dsn, config)
    assert [f for f in again if f["code"] == "detached_leftover"] == reported
    # dropped (or re-attached) by hand: no longer reported
    for name in leftovers:
        if resolve == "drop":
            conn.execute(f"DROP TABLE public.{name}")
        else:
            lo = f"{name[-7:-3]}-{name[-2:]}-01"
            conn.execute(
                f"ALTER TABLE messages ATTACH PARTITION public.{name}"
                f" FOR VALUES FROM ('{lo}') TO (date '{lo}' + interval '1 month')"
            )
    if leftovers and resolve == "attach" and not pending:
        # the leftover kept every row: re-attached, the table is whole again
        assert table_checksum(conn, "messages") == rows_before
    if leftovers:
        _, found = check_problems(dsn, config)
        assert not [f for f in found if f["code"] == "detached_leftover"], found
    return leftovers


def test_detached_leftover_when_drop_fails_after_detach(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """No DEFAULT partition: retention detaches CONCURRENTLY (its own
    transaction), then drops; an event trigger makes every DROP TABLE fail."""
    build(pg_conn, default=False)
    config = write_config(tmp_path, '[defaults]\nlock_timeout = "200ms"\nretry_for = "1s"\n')
    rows = table_checksum(pg_conn, "messages")
    pg_conn.execute(EVENT_TRIGGER)
    try:
        run = cli(["maintain", "messages", "--dsn", pg_dsn, "--config", str(config), "--now", NOW])
        out = run.stdout + run.stderr
        assert run.code == 2, out
        assert "drops are frozen" in out, out
        assert "Traceback" not in out
        # the future months are created all the same
        assert "public.messages_2027_02" in partitions_of(pg_conn, "messages")
    finally:
        pg_conn.execute("DROP EVENT TRIGGER refuse_drops")
    _assert_leftover_reported_until_dropped(pg_conn, pg_dsn, config, rows)


def test_detached_leftover_when_a_view_depends_on_the_partition(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """A DBA's report reads the oldest partition directly: DETACH does not mind,
    DROP TABLE (without CASCADE, as it must be) fails on the dependent view."""
    build(pg_conn, default=False)
    pg_conn.execute("CREATE VIEW july_report AS SELECT count(*) AS n FROM public.messages_2026_07")
    config = write_config(tmp_path)
    rows = table_checksum(pg_conn, "messages")
    run = cli(["maintain", "messages", "--dsn", pg_dsn, "--config", str(config), "--now", NOW])
    out = run.stdout + run.stderr
    assert run.code == 2, out
    assert "Traceback" not in out
    assert "messages_2026_07" in out, out
    # the view still works: nothing was dropped under it
    assert pg_conn.execute("SELECT n > 0 FROM july_report").fetchone() == (True,)
    pg_conn.execute("DROP VIEW july_report")
    _assert_leftover_reported_until_dropped(pg_conn, pg_dsn, config, rows, resolve="attach")


def test_drop_waiting_past_the_retry_budget_strands_nothing(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """No DEFAULT partition; another session reads the oldest partition directly
    in an open transaction, past lock_timeout and retry_for: the failure names
    the partition and the holder's pid, whatever was half-done is reported, and
    once the holder is gone the next maintain completes it."""
    build(pg_conn, default=False)
    config = write_config(tmp_path, '[defaults]\nlock_timeout = "100ms"\nretry_for = "1s"\n')
    rows = table_checksum(pg_conn, "messages")
    with psycopg.connect(pg_dsn) as holder:
        holder.execute("SELECT count(*) FROM public.messages_2026_07")  # ACCESS SHARE, kept
        pid = holder.execute("SELECT pg_backend_pid()").fetchone()
        assert pid is not None
        run = cli(["maintain", "messages", "--dsn", pg_dsn, "--config", str(config), "--now", NOW])
        out = run.stdout + run.stderr
        assert run.code == 2, out
        assert "Traceback" not in out
        assert "messages_2026_07" in out and f"pid {pid[0]}" in out, out
        leftovers = _assert_leftover_reported_until_dropped(pg_conn, pg_dsn, config, rows)
        holder.rollback()
    again = cli(["maintain", "messages", "--dsn", pg_dsn, "--config", str(config), "--now", NOW])
    assert again.code == 0, again.stdout + again.stderr
    for name in EXPIRED:
        assert state(pg_conn, name) == "gone", (name, leftovers)
    _, found = check_problems(pg_dsn, config)
    assert not [f for f in found if f["code"] in ("detached_leftover", "pending_detach")], found
