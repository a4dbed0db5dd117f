"""Issue 19, row 7: retention's marks can never drop kept data, never lose a
comment, never stick (docs/retention.md).

On the real server:

- the scenario of the issue: retention marks a partition, its detach fails
  (a lock held on the parent), retention is raised to 12 months, a DBA
  detaches the partition by hand; the next maintain drops nothing, says
  why, and the partition's own comment is intact;
- the converse: a leftover still expired (its DROP failed after the
  detach) is dropped by the next maintain and counted as dropped;
- an earlier pgpart's comment mark is still found and handled with the
  same checks (its bounds read from the CHECK that DETACH CONCURRENTLY
  added), and cleared where it sits on an attached partition, only while
  the comment is still exactly pgpart's mark;
- killed (SIGKILL) between any two steps of a concurrent detach and drop,
  the run leaves nothing that `check` does not report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support.cli_helpers import NOW, Run, cli
from tests.support.sibling_compare import build_monthly, table_checksum

EXPIRED = ("messages_2026_07", "messages_2026_08")  # wholly before NOW - 2 months
LEGAL_HOLD = "legal hold: keep archive 7y"


def build(conn: psycopg.Connection[Any]) -> None:
    """July .. November 2026, no DEFAULT (retention detaches CONCURRENTLY);
    100 rows in July, 247 in August."""
    build_monthly(
        conn, columns="id bigint NOT NULL, created_at timestamptz NOT NULL, body text",
        months=range(-4, 1),
    )  # fmt: skip
    conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-07-01' + g * interval '7 hours', 'r'"
        " FROM generate_series(1, 100) g"
    )
    conn.execute(
        "INSERT INTO messages SELECT 1000 + g, timestamptz '2026-08-01' + g * interval '3 hours',"
        " 'r' FROM generate_series(1, 247) g"
    )
    conn.execute(f"COMMENT ON TABLE messages_2026_07 IS '{LEGAL_HOLD}'")


def config(tmp_path: Path, retention: str = "2 months", extra: str = "") -> Path:
    path = tmp_path / "pgpart.toml"
    path.write_text(
        '[defaults]\nlock_timeout = "100ms"\nretry_for = "1s"\n'
        f'[[table]]\nname = "public.messages"\ninterval = "monthly"\n'
        f'retention = "{retention}"\n{extra}'
    )
    return path


def maintain(dsn: str, cfg: Path, *extra: str) -> Run:
    run = cli(["maintain", "--dsn", dsn, "--config", str(cfg), "--now", NOW, *extra])
    assert "Traceback" not in run.stderr, run.stderr
    return run


def check(dsn: str, cfg: Path) -> list[dict[str, Any]]:
    run = cli(["check", "--dsn", dsn, "--config", str(cfg), "--now", NOW, "-f", "json"])
    assert "Traceback" not in run.stderr, run.stderr
    return list(run.json()["tables"][0]["problems"])


def state(conn: psycopg.Connection[Any], name: str) -> str:
    """attached / pending / standalone / gone."""
    row = conn.execute(
        "SELECT i.inhrelid IS NOT NULL, coalesce(i.inhdetachpending, false) FROM pg_class c"
        " LEFT JOIN pg_inherits i ON i.inhrelid = c.oid WHERE c.oid = to_regclass(%s)",
        (f"public.{name}",),
    ).fetchone()
    if row is None:
        return "gone"
    return ("pending" if row[1] else "attached") if row[0] else "standalone"


def comment(conn: psycopg.Connection[Any], name: str) -> str | None:
    row = conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (name,)).fetchone()
    return None if row is None else row[0]


def rows(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
    assert row is not None
    return int(row[0])


def leftover_reports(problems: list[dict[str, Any]], name: str) -> list[str]:
    return [
        p["message"] for p in problems if p["code"] == "detached_leftover" and name in p["message"]
    ]


# --- the scenario ------------------------------------------------------------------


def test_a_partition_detached_by_hand_after_the_policy_changed_is_never_dropped(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    build(pg_conn)
    before = {name: table_checksum(pg_conn, name) for name in EXPIRED}
    # Retention marks July, then its DETACH ... CONCURRENTLY cannot get its
    # lock on the parent (an ANALYZE, say, holds SHARE UPDATE EXCLUSIVE).
    with psycopg.connect(pg_dsn) as holder:
        holder.execute("LOCK TABLE ONLY messages IN SHARE UPDATE EXCLUSIVE MODE")
        run = maintain(pg_dsn, config(tmp_path), "-f", "json")
        assert run.code == 2, run.stdout + run.stderr
        [july] = [a for a in run.json()["actions"] if a["partition"] == EXPIRED[0]]
        assert not july["done"] and "lock timeout" in july["error"], july
        assert any("CONCURRENTLY" in s for s in july["sql"]), july
        holder.rollback()
    assert state(pg_conn, EXPIRED[0]) == "attached"
    assert comment(pg_conn, EXPIRED[0]) == LEGAL_HOLD  # the mark went elsewhere
    # Retention is raised to 12 months; a DBA detaches July by hand.
    cfg = config(tmp_path, "12 months")
    pg_conn.execute(f"ALTER TABLE messages DETACH PARTITION {EXPIRED[0]}")
    run = maintain(pg_dsn, cfg, "-f", "json")
    assert run.json()["summary"]["dropped"] == 0, run.stdout
    assert not [a for a in run.json()["actions"] if a["partition"] in EXPIRED], run.stdout
    for name in EXPIRED:
        assert table_checksum(pg_conn, name) == before[name]  # 100 and 247 rows, kept
    assert (rows(pg_conn, EXPIRED[0]), rows(pg_conn, EXPIRED[1])) == (100, 247)
    assert state(pg_conn, EXPIRED[0]) == "standalone" and state(pg_conn, EXPIRED[1]) == "attached"
    assert comment(pg_conn, EXPIRED[0]) == LEGAL_HOLD
    # check names it, says why it is left alone and what to do.
    [report] = leftover_reports(check(pg_dsn, cfg), EXPIRED[0])
    assert "leaves it alone" in report and "did not see the detach succeed" in report
    assert "DROP CONSTRAINT pgpart_mark" in report
    # Even under the old retention, a table pgpart did not see itself detach stays.
    again = maintain(pg_dsn, config(tmp_path), "-f", "json")
    assert state(pg_conn, EXPIRED[0]) == "standalone", again.stdout
    assert table_checksum(pg_conn, EXPIRED[0]) == before[EXPIRED[0]]


def test_a_leftover_still_expired_is_dropped_and_counted(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    build(pg_conn)
    cfg = config(tmp_path)
    pg_conn.execute(
        "CREATE FUNCTION refuse_drops() RETURNS event_trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION 'drops are frozen'; END $$;"
        " CREATE EVENT TRIGGER refuse_drops ON ddl_command_start WHEN TAG IN ('DROP TABLE')"
        " EXECUTE FUNCTION refuse_drops()"
    )
    run = maintain(pg_dsn, cfg)
    pg_conn.execute("DROP EVENT TRIGGER refuse_drops")
    assert run.code == 2 and "drops are frozen" in run.stderr, run.stderr
    assert state(pg_conn, EXPIRED[0]) == "standalone"
    assert comment(pg_conn, EXPIRED[0]) == LEGAL_HOLD
    [report] = leftover_reports(check(pg_dsn, cfg), EXPIRED[0])
    assert "maintain drops it (still expired under the retention in force)" in report
    # The next run drops it (a leftover) and August (its turn now): dropped 2.
    run = maintain(pg_dsn, cfg, "-f", "json")
    assert run.code == 0, run.stdout + run.stderr
    done = {a["partition"]: a["action"] for a in run.json()["actions"] if a["done"]}
    assert done[EXPIRED[0]] == "drop_leftover" and done[EXPIRED[1]] == "drop", done
    assert run.json()["summary"]["dropped"] == 2
    text = maintain(pg_dsn, cfg, "--dry-run")
    assert "drop 0" in text.stdout
    for name in EXPIRED:
        assert state(pg_conn, name) == "gone"
    assert not leftover_reports(check(pg_dsn, cfg), "messages")


def test_a_copy_of_a_leftover_or_an_edited_mark_is_never_dropped(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """The claim binds to the table (its oid) and to its range (its own
    constraint, and the CHECK DETACH ... CONCURRENTLY added): a copy made
    with LIKE ... INCLUDING ALL carries the mark, not the claim; a mark
    edited to look expired does not agree with the constraints."""
    build(pg_conn)
    cfg = config(tmp_path)
    pg_conn.execute(
        "CREATE FUNCTION refuse_drops() RETURNS event_trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION 'drops are frozen'; END $$;"
        " CREATE EVENT TRIGGER refuse_drops ON ddl_command_start WHEN TAG IN ('DROP TABLE')"
        " EXECUTE FUNCTION refuse_drops()"
    )
    assert maintain(pg_dsn, cfg).code == 2
    pg_conn.execute("DROP EVENT TRIGGER refuse_drops")
    assert state(pg_conn, EXPIRED[0]) == "standalone"
    pg_conn.execute(f"CREATE TABLE july_copy (LIKE {EXPIRED[0]} INCLUDING ALL)")
    copied = pg_conn.execute(
        "SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint"
        " WHERE conrelid = 'july_copy'::regclass AND conname = 'pgpart_mark'"
    ).fetchone()
    assert copied is not None and '"phase": "detached"' in copied[0]  # the mark came along
    # July's mark edited: its range moved a year back.
    [text] = pg_conn.execute(
        "SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint"
        f" WHERE conrelid = '{EXPIRED[0]}'::regclass AND conname = 'pgpart_mark'"
    ).fetchone() or (None,)
    assert isinstance(text, str)
    edited = text.replace('"upper": "2026-08-01', '"upper": "2025-08-01')
    assert edited != text
    pg_conn.execute(
        sql.SQL("COMMENT ON CONSTRAINT pgpart_mark ON {} IS {}").format(
            sql.Identifier(EXPIRED[0]), sql.Literal(edited)
        )
    )
    longer = config(tmp_path, "12 months")
    run = maintain(pg_dsn, longer, "-f", "json")
    assert run.json()["summary"]["dropped"] == 0, run.stdout
    assert state(pg_conn, EXPIRED[0]) == "standalone" and rows(pg_conn, EXPIRED[0]) == 100
    assert rows(pg_conn, "july_copy") == 0  # still there
    problems = check(pg_dsn, longer)
    [report] = leftover_reports(problems, "july_copy")
    assert "its mark was made for another table" in report
    [report] = leftover_reports(problems, EXPIRED[0])
    assert "not the one its constraints say" in report


def test_the_summary_line_counts_a_dropped_leftover(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    build(pg_conn)
    cfg = config(tmp_path)
    oid = pg_conn.execute("SELECT 'messages'::regclass::oid").fetchone()
    assert oid is not None
    # A leftover of an earlier pgpart: its comment mark, detached concurrently.
    pg_conn.execute(
        f"COMMENT ON TABLE {EXPIRED[0]} IS"
        f" 'pgpart: detached from public.messages (oid {oid[0]}) for retention, to be dropped'"
    )
    pg_conn.execute(f"ALTER TABLE messages DETACH PARTITION {EXPIRED[0]} CONCURRENTLY")
    run = maintain(pg_dsn, cfg)
    assert run.code == 0, run.stdout + run.stderr
    assert "dropped 2" in run.stdout, run.stdout
    assert state(pg_conn, EXPIRED[0]) == "gone"


# --- an earlier pgpart's comment mark ------------------------------------------------------


def legacy_mark(conn: psycopg.Connection[Any], name: str) -> str:
    oid = conn.execute("SELECT 'messages'::regclass::oid").fetchone()
    assert oid is not None
    text = f"pgpart: detached from public.messages (oid {oid[0]}) for retention, to be dropped"
    conn.execute(f"COMMENT ON TABLE {name} IS '{text}'")
    return text


@pytest.mark.parametrize("how", ["concurrently", "plain"])
def test_an_earlier_pgparts_leftover_is_verified_like_any(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, how: str
) -> None:
    """Detached CONCURRENTLY, its range is the CHECK that added: dropped
    while expired, kept (and reported) once retention outlives it. Detached
    plainly (by hand), its range is unknown: reported, never dropped."""
    build(pg_conn)
    legacy_mark(pg_conn, EXPIRED[0])
    concurrently = " CONCURRENTLY" if how == "concurrently" else ""
    pg_conn.execute(f"ALTER TABLE messages DETACH PARTITION {EXPIRED[0]}{concurrently}")
    kept = maintain(pg_dsn, config(tmp_path, "12 months"), "-f", "json")
    assert kept.json()["summary"]["dropped"] == 0
    assert state(pg_conn, EXPIRED[0]) == "standalone" and rows(pg_conn, EXPIRED[0]) == 100
    [report] = leftover_reports(check(pg_dsn, config(tmp_path, "12 months")), EXPIRED[0])
    expected = "retention in force keeps its range" if concurrently else "cannot tell which range"
    assert expected in report and "COMMENT ON TABLE" in report, report
    run = maintain(pg_dsn, config(tmp_path), "-f", "json")
    if concurrently:
        assert state(pg_conn, EXPIRED[0]) == "gone"
        assert run.json()["summary"]["dropped"] == 2
    else:
        assert state(pg_conn, EXPIRED[0]) == "standalone" and rows(pg_conn, EXPIRED[0]) == 100


def test_marks_left_on_attached_partitions_are_cleared_only_while_they_are_pgparts(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    """An earlier pgpart marked August and its detach failed; a DBA wrote
    September's comment, and the current pgpart left an intent on October
    (a detach that failed): with retention 12 months, maintain clears the
    marks; a DBA's comment stays."""
    build(pg_conn)
    legacy_mark(pg_conn, EXPIRED[1])
    pg_conn.execute("COMMENT ON TABLE messages_2026_09 IS 'pgpart: detached from nowhere'")
    with psycopg.connect(pg_dsn) as holder:
        holder.execute("LOCK TABLE ONLY messages IN SHARE UPDATE EXCLUSIVE MODE")
        assert maintain(pg_dsn, config(tmp_path)).code == 2
        holder.rollback()
    marked = pg_conn.execute(
        "SELECT conrelid::regclass::text FROM pg_constraint WHERE conname = 'pgpart_mark'"
    ).fetchall()
    assert marked == [(EXPIRED[0],)]  # the intent on July, whose detach failed
    run = maintain(pg_dsn, config(tmp_path, "12 months"), "-f", "json")
    assert run.code == 0, run.stdout + run.stderr
    unmarked = sorted(a["partition"] for a in run.json()["actions"] if a["action"] == "unmark")
    assert unmarked == list(EXPIRED)
    assert comment(pg_conn, EXPIRED[1]) is None
    assert comment(pg_conn, EXPIRED[0]) == LEGAL_HOLD
    assert comment(pg_conn, "messages_2026_09") == "pgpart: detached from nowhere"
    assert not pg_conn.execute("SELECT FROM pg_constraint WHERE conname = 'pgpart_mark'").fetchall()
    assert maintain(pg_dsn, config(tmp_path, "12 months"), "-f", "json").json()["actions"] == []
