"""Issue 23 (and 22, row 9): archive mode as an operator meets it, on the real
server.

- the run's summary counts what was archived, not "dropped 0";
- `pgpart drop` on an archive-mode table archives first, says so in its
  prompt, and drops without an archive only with --no-archive;
- a restored partition is kept until a date (`--keep-until`): the next
  maintain leaves it alone, `check` shows it as `restored`;
- a partition's own comment survives archive and restore;
- restore's mark and ATTACH wait for locks as every action does (bounded,
  retried, and naming who holds the lock when they give up).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_oncall import term
from tests.db.test_archive import (
    EXPIRED,
    build,
    maintain,
    manifests,
    pg_bin,
    rows_before,
    state,
    write_config,
)
from tests.support.cli_helpers import NOW, cli
from tests.support.sibling_compare import table_checksum

__all__ = ["pg_bin"]  # the fixture, used by name


def restore(path: Path, dsn: str, config: Path, *extra: str):
    run = cli(["restore", str(path), "--dsn", dsn, "--config", str(config), *extra])
    assert "Traceback" not in run.stderr, run.stderr
    return run


def check(dsn: str, config: Path) -> dict[str, Any]:
    run = cli(["check", "--dsn", dsn, "--config", str(config), "--now", NOW, "-f", "json"])
    assert "Traceback" not in run.stderr, run.stderr
    report: dict[str, Any] = run.json()
    return report


# --- the summary -----------------------------------------------------------------------------


def test_the_summary_counts_what_was_archived(pg_conn, pg_dsn, tmp_path, pg_bin) -> None:
    build(pg_conn)
    config = write_config(tmp_path, tmp_path / "archive", pg_bin)
    dry = maintain(pg_dsn, config, "--dry-run")
    assert "drop 0, archive 2 (then drop)" in dry.stdout
    run = maintain(pg_dsn, config)
    assert run.code == 0, run.stderr
    assert "dropped 0, archived 2, rows moved 0, failed 0" in run.stdout
    again = maintain(pg_dsn, config, "-f", "json")  # nothing left to archive
    assert again.json()["summary"]["archived"] == 0


def test_the_json_summary_counts_what_was_archived(pg_conn, pg_dsn, tmp_path, pg_bin) -> None:
    build(pg_conn)
    run = maintain(pg_dsn, write_config(tmp_path, tmp_path / "archive", pg_bin), "-f", "json")
    assert run.code == 0, run.stderr
    summary = run.json()["summary"]
    assert summary["archived"] == 2 and summary["dropped"] == 0


# --- drop on an archive-mode table -------------------------------------------------------------


def drop(dsn: str, config: Path, *extra: str):
    run = cli(["drop", "public.messages", "--older-than", "2 months", "--dsn", dsn,
               "--config", str(config), "--now", NOW, *extra])  # fmt: skip
    assert "Traceback" not in run.stderr, run.stderr
    return run


def test_drop_on_an_archive_mode_table_archives_first(pg_conn, pg_dsn, tmp_path, pg_bin) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    run = drop(pg_dsn, config, "--yes")
    assert run.code == 0, run.stderr
    assert "archived 2" in run.stdout
    found = {m["table"]: m for m in manifests(out)}
    assert sorted(found) == sorted(EXPIRED)
    for name in EXPIRED:
        assert state(pg_conn, name) == "gone"
        assert found[name]["rows"] == before[name][0]
    back = restore(out / found[EXPIRED[0]]["file"], pg_dsn, config)
    assert back.code == 0, back.stderr
    assert table_checksum(pg_conn, EXPIRED[0]) == before[EXPIRED[0]]


def test_drop_no_archive_drops_without_archiving(pg_conn, pg_dsn, tmp_path, pg_bin) -> None:
    build(pg_conn)
    out = tmp_path / "archive"
    run = drop(pg_dsn, write_config(tmp_path, out, pg_bin), "--yes", "--no-archive")
    assert run.code == 0, run.stderr
    assert "dropped 2" in run.stdout and "archived" not in run.stdout
    assert not out.exists() or not list(out.iterdir())
    for name in EXPIRED:
        assert state(pg_conn, name) == "gone"


@pytest.mark.parametrize("no_archive", [False, True], ids=["archive", "no_archive"])
def test_the_drop_prompt_says_whether_it_archives(
    pg_conn, pg_dsn, tmp_path, pg_bin, no_archive
) -> None:
    build(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    args = ["drop", "public.messages", "--older-than", "2 months", "--dsn", pg_dsn,
            "--config", str(config), "--now", NOW, *(["--no-archive"] if no_archive else [])]  # fmt: skip
    with term(args) as t:
        t.read_until(r"\[y/N\]: ")
        t.write("n\n")
        code = t.wait()
    assert code == 0, t.output
    out_text = " ".join(t.output.replace("\r\n", "\n").split())
    if no_archive:
        assert "WITHOUT archiving (--no-archive)" in out_text
        assert "Drop these 2 partition(s)? [y/N]" in out_text
    else:
        assert f"each partition is archived to {out}" in out_text
        assert "Archive and drop these 2 partition(s)? [y/N]" in out_text
    assert "not confirmed: nothing dropped" in out_text
    for name in EXPIRED:
        assert state(pg_conn, name) == "attached"


# --- a restored partition is kept ----------------------------------------------------------------


def test_a_restored_partition_is_kept_until_its_date(pg_conn, pg_dsn, tmp_path, pg_bin) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    assert maintain(pg_dsn, config).code == 0
    until = (datetime.now(timezone.utc) + timedelta(days=400)).date().isoformat()
    for m in manifests(out):  # both: no gap is left between them and the rest
        dump = (out / m["file"]).read_bytes()
        assert b'"kind": "archiving"' in dump and b"pgpart_mark" in dump  # the archive mark
        back = restore(out / m["file"], pg_dsn, config, "--keep-until", until)
        assert back.code == 0, back.stderr
        assert f"kept until {until}T00:00:00+00:00" in back.stdout
        row = pg_conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (m["table"],))
        assert row.fetchone() == (None,)
        marks = pg_conn.execute(  # the mark is not restored
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND conname = 'pgpart_mark'",
            (m["table"],),
        )
        assert marks.fetchall() == []

    # The hourly maintain leaves it alone; check says why, as information.
    run = maintain(pg_dsn, config, "-f", "json")
    assert run.code == 0, run.stderr
    assert not [a for a in run.json()["actions"] if a["action"] == "archive"]
    assert state(pg_conn, EXPIRED[0]) == "attached"
    assert table_checksum(pg_conn, EXPIRED[0]) == before[EXPIRED[0]]
    assert len(manifests(out)) == 2
    for name in EXPIRED:
        assert state(pg_conn, name) == "attached"
    report = check(pg_dsn, config)
    [table] = report["tables"]
    restored = [p for p in table["problems"] if p["code"] == "restored"]
    assert [p["severity"] for p in restored] == ["info", "info"]
    assert f"public.{EXPIRED[0]}" in restored[0]["message"] and until in restored[0]["message"]
    codes = {p["code"] for p in table["problems"]}
    assert "retention_overdue" not in codes and "detached_leftover" not in codes
    assert report["status"] == "ok", table["problems"]
    text = cli(["check", "--dsn", pg_dsn, "--config", str(config), "--now", NOW]).stdout
    assert "restored" in text and until in text
    # drop passes them over too.
    assert drop(pg_dsn, config, "--yes").code == 0
    assert state(pg_conn, EXPIRED[0]) == "attached" and state(pg_conn, EXPIRED[1]) == "attached"

    # Released (the constraint dropped): the next maintain archives it again.
    pg_conn.execute(f"ALTER TABLE {EXPIRED[0]} DROP CONSTRAINT pgpart_restored")
    again = maintain(pg_dsn, config)
    assert again.code == 0, again.stderr
    assert state(pg_conn, EXPIRED[0]) == "gone" and state(pg_conn, EXPIRED[1]) == "attached"
    second = [m for m in manifests(out) if m["table"] == EXPIRED[0] and "~2" in m["file"]]
    assert len(second) == 1 and second[0]["rows"] == before[EXPIRED[0]][0]


def test_a_later_now_never_releases_a_restored_partition(pg_conn, pg_dsn, tmp_path, pg_bin) -> None:
    """--now past the keep-until date does not release a restored partition:
    a writing run goes by the earlier of --now and the server's clock, as
    every retention cutoff does."""
    build(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    assert maintain(pg_dsn, config).code == 0
    until = (datetime.now(timezone.utc) + timedelta(days=10)).date().isoformat()
    [first, *_] = manifests(out)
    assert restore(out / first["file"], pg_dsn, config, "--keep-until", until).code == 0
    later = (datetime.now(timezone.utc) + timedelta(days=60)).isoformat()
    run = maintain(pg_dsn, config, "--now", later, "-f", "json")
    assert run.code in (0, 2), run.stderr
    assert state(pg_conn, first["table"]) == "attached"
    assert not [
        a
        for a in run.json()["actions"]
        if a["action"] == "archive" and a["partition"] == first["table"]
    ]


def test_the_default_keep_is_thirty_days_and_a_past_date_is_refused(
    pg_conn, pg_dsn, tmp_path, pg_bin
) -> None:
    build(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    assert maintain(pg_dsn, config).code == 0
    [m] = [m for m in manifests(out) if m["table"] == EXPIRED[0]]
    past = restore(out / m["file"], pg_dsn, config, "--keep-until", "2020-01-01")
    assert past.code == 3 and "not in the future" in past.stderr
    assert state(pg_conn, EXPIRED[0]) == "gone"
    run = restore(out / m["file"], pg_dsn, config, "-f", "json")
    assert run.code == 0, run.stderr
    kept = datetime.fromisoformat(run.json()["restore"]["kept_until"])
    assert abs(kept - datetime.now(timezone.utc) - timedelta(days=30)) < timedelta(minutes=5)
    row = pg_conn.execute(
        "SELECT obj_description(k.oid, 'pg_constraint'), k.convalidated FROM pg_constraint k"
        " WHERE k.conrelid = %s::regclass AND k.conname = 'pgpart_restored'",
        (EXPIRED[0],),
    ).fetchone()
    assert row is not None and row[1] is False
    assert f"kept until {kept.isoformat()}" in row[0]


def test_the_dry_run_restores_nothing(pg_conn, pg_dsn, tmp_path, pg_bin) -> None:
    build(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    assert maintain(pg_dsn, config).code == 0
    [m] = [m for m in manifests(out) if m["table"] == EXPIRED[0]]
    run = restore(out / m["file"], pg_dsn, config, "--dry-run")
    assert run.code == 0, run.stderr
    assert "would restore" in run.stdout and "--use-list" in run.stdout
    assert "kept until" in run.stdout
    assert state(pg_conn, EXPIRED[0]) == "gone"


# --- issue 22, row 9: the partition's own comment ----------------------------------------------


def test_a_partitions_own_comment_survives_archive_and_restore(
    pg_conn, pg_dsn, tmp_path, pg_bin
) -> None:
    build(pg_conn)
    pg_conn.execute(f"COMMENT ON TABLE {EXPIRED[0]} IS 'legal hold: keep archive 7y'")
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    assert maintain(pg_dsn, config).code == 0
    [m] = [m for m in manifests(out) if m["table"] == EXPIRED[0]]
    assert restore(out / m["file"], pg_dsn, config).code == 0
    row = pg_conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (EXPIRED[0],))
    assert row.fetchone() == ("legal hold: keep archive 7y",)


# --- restore's DDL waits as every action's does -----------------------------------------------


def _archived(pg_conn, pg_dsn, tmp_path, pg_bin, limits: str) -> tuple[Path, Path]:
    """EXPIRED[0] archived and dropped; the config with ``limits`` in [defaults]."""
    build(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    assert maintain(pg_dsn, config).code == 0
    config.write_text(f"[defaults]\n{limits}\n" + config.read_text())
    (m,) = [m for m in manifests(out) if m["table"] == EXPIRED[0]]
    return out / m["file"], config


def _restore(dsn: str, config: Path, dump: Path, log=None):
    """Through the library, as the command line does."""
    import pgpart
    from pgpart import Overrides, RestoreRequest, load_settings

    settings = load_settings(Overrides(dsn=dsn, config=config), {}, config.parent)
    until = datetime.now(timezone.utc) + timedelta(days=3)
    return pgpart.restore(settings, RestoreRequest(dump, until), log=log)


def test_restore_attach_gives_up_naming_who_holds_the_lock(
    pg_conn, pg_dsn, tmp_path, pg_bin
) -> None:
    """The ATTACH waits within the table's lock_timeout, retried within
    retry_for, and then says who holds the parent, as any action does."""
    from psycopg import sql

    from tests.support.helpers_db import holding

    dump, config = _archived(pg_conn, pg_dsn, tmp_path, pg_bin, 'retry_for = "1s"')
    lock = sql.SQL("LOCK TABLE public.messages IN SHARE MODE")
    with holding(pg_dsn, lock, 4.0, "SELECT 'the report'") as holder:
        result = _restore(pg_dsn, config, dump)
    assert not result.attached and result.why is not None
    assert result.why.startswith("lock timeout on public.messages after "), result.why
    assert f"held by pid {holder.pid} (ShareLock)" in result.why, result.why
    assert "SHARE UPDATE EXCLUSIVE" in result.why
    assert state(pg_conn, EXPIRED[0]) == "detached"  # restored and marked all the same
    assert pg_conn.execute(
        "SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = 'pgpart_restored'",
        (f"public.{EXPIRED[0]}",),
    ).fetchone()


def test_restore_attach_retries_until_the_lock_is_free(pg_conn, pg_dsn, tmp_path, pg_bin) -> None:
    from psycopg import sql

    from tests.support.helpers_db import holding

    limits = 'retry_for = "20s"\nlock_timeout = "30ms"'
    dump, config = _archived(pg_conn, pg_dsn, tmp_path, pg_bin, limits)
    lock = sql.SQL("LOCK TABLE public.messages IN SHARE MODE")
    logged: list[str] = []
    with holding(pg_dsn, lock, 1.5):
        result = _restore(pg_dsn, config, dump, logged.append)
    assert result.attached, result.why
    assert state(pg_conn, EXPIRED[0]) == "attached"
    # The table's lock_timeout bounds each attempt (--lock-timeout and the
    # file's apply): 30 ms, under the 50 ms early attempts wait at most.
    assert logged.count("SET LOCAL lock_timeout = '30ms'") >= 3, logged
