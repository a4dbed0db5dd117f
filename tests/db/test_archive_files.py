"""Issue 19: the files pgpart writes in archive_dir, which other local accounts
may share, and which odd names, killed runs and fleets must not upset.

Another account is a real one: the unprivileged OS user the test server
runs as (devcluster.osuser), planting symbolic links with its own uid in a
directory it may write. pgpart runs as root here, as it often does in
production: before, it truncated and overwrote the files those links
pointed to, and wrote its dumps world-readable.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from devcluster.osuser import OsUser, resolve_os_user
from pgpart.db.archive.files import base_name, claim_name
from tests.db.test_archive import (
    EXPIRED,
    archives,
    build,
    maintain,
    manifests,
    pg_bin,
    rows_before,
    state,
    write_config,
)
from tests.support.cli_helpers import NOW, cli
from tests.support.fleet_helpers import Databases, databases
from tests.support.sibling_compare import table_checksum

ROOT = Path(__file__).resolve().parents[2]
PRECIOUS = b"precious: not pgpart's\n"

__all__ = ["databases", "pg_bin"]  # the fixtures, used by name


@pytest.fixture
def other() -> OsUser:
    if os.geteuid() != 0:
        pytest.skip("acting as another OS account needs root")
    return resolve_os_user(None)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory under /tmp that another account can reach, with a file of
    root's that no one but root may change (the victim)."""
    base = Path(tempfile.mkdtemp(prefix="pgpart-shared-", dir="/tmp"))
    base.chmod(0o755)
    (base / "victim").write_bytes(PRECIOUS)
    (base / "victim").chmod(0o644)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def as_other(user: OsUser, *command: str) -> None:
    subprocess.run(command, user=user.uid, group=user.gid, extra_groups=[], check=True)


def names_for(conn: psycopg.Connection[Any], partition: str, lo: str, hi: str) -> list[str]:
    """The names pgpart uses (or used) for one partition's lock, dump and
    manifest: an attacker can compute them as well."""
    from datetime import datetime

    from pgpart.db.archive.manifest import origin_of

    db = conn.info.dbname
    base = base_name(
        db, "public", partition, datetime.fromisoformat(lo), datetime.fromisoformat(hi)
    )
    key = origin_of(conn).key
    return [
        f".{claim_name(base, key)}.lock",  # the claim
        f".{base}.lock",  # the claim as named before
        f".detach.{db}.public.messages.lock",  # the detach turn as named before
        f".detach.{db}.public.messages.{key}.lock",
        f"{base}.dump",
        f"{base}.json",
        f"{base}.sent",
    ]


def victim_intact(shared: Path) -> None:
    victim = shared / "victim"
    assert victim.read_bytes() == PRECIOUS
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


FIRST = ("2026-07-01T00:00:00+00:00", "2026-08-01T00:00:00+00:00")


# --- row 6: another account's links -------------------------------------------------------


def test_a_directory_other_accounts_may_write_without_sticky_bit_is_refused(
    pg_conn, pg_dsn, tmp_path, pg_bin, other, shared
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    out = shared / "archive"
    out.mkdir()
    out.chmod(0o777)
    for name in names_for(pg_conn, EXPIRED[0], *FIRST):
        as_other(other, "ln", "-s", str(shared / "victim"), str(out / name))
    config = write_config(tmp_path, out, pg_bin, command="true")

    run = maintain(pg_dsn, config)
    assert run.code == 2, run.stdout
    [line] = run.stderr.strip().splitlines()
    assert "may be written by other accounts" in line and "sticky" in line
    assert "nothing was detached" in line
    victim_intact(shared)
    for name in EXPIRED:
        assert state(pg_conn, name) == "attached"
        assert table_checksum(pg_conn, name) == before[name]


def test_links_planted_in_a_sticky_shared_directory_are_never_followed(
    pg_conn, pg_dsn, tmp_path, pg_bin, other, shared
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    out = shared / "archive"
    out.mkdir()
    out.chmod(0o1777)
    planted = names_for(pg_conn, EXPIRED[0], *FIRST)
    for name in planted:
        as_other(other, "ln", "-s", str(shared / "victim"), str(out / name))
    config = write_config(tmp_path, out, pg_bin, command="true")

    # A link at the lock: refused before anything is detached.
    run = maintain(pg_dsn, config)
    assert run.code == 2, run.stdout
    [line] = run.stderr.strip().splitlines()
    assert "a symbolic link stands at" in line and "nothing was detached" in line
    victim_intact(shared)
    assert state(pg_conn, EXPIRED[0]) == "attached"

    # The locks' links gone, those at the archive's own names stay: the
    # archive takes the next free name, and never writes through a link.
    for name in planted:
        if name.endswith(".lock"):
            as_other(other, "rm", str(out / name))
    run = maintain(pg_dsn, config)
    assert run.code == 0, run.stderr
    victim_intact(shared)
    for name in planted:
        if not name.endswith(".lock"):
            assert (out / name).is_symlink()
    found = {
        m["table"]: m
        for m in (json.loads(p.read_text()) for p in out.glob("*.json") if not p.is_symlink())
    }
    assert sorted(found) == sorted(EXPIRED)
    assert found[EXPIRED[0]]["file"].endswith("~2.dump")
    for path in out.iterdir():
        if not path.is_symlink():
            assert path.stat().st_uid == 0 and stat.S_IMODE(path.stat().st_mode) == 0o600, path
    back = cli(["restore", str(out / found[EXPIRED[0]]["file"]), "--dsn", pg_dsn,
                "--config", str(config)])  # fmt: skip
    assert back.code == 0, back.stderr
    assert table_checksum(pg_conn, EXPIRED[0]) == before[EXPIRED[0]]


def test_an_archive_dir_that_is_another_accounts_link_is_refused(
    pg_conn, pg_dsn, tmp_path, pg_bin, other, shared
) -> None:
    """archive_dir configured in a shared spool (/tmp-like), where another
    account got there first with a link to a directory of root's."""
    build(pg_conn)
    spool, target = shared / "spool", shared / "roots"
    spool.mkdir()
    spool.chmod(0o1777)
    target.mkdir()
    as_other(other, "ln", "-s", str(target), str(spool / "archive"))
    run = maintain(pg_dsn, write_config(tmp_path, spool / "archive", pg_bin))
    assert run.code == 2, run.stdout
    [line] = run.stderr.strip().splitlines()
    assert "is a symbolic link of another account's" in line and "nothing was detached" in line
    assert list(target.iterdir()) == []
    assert state(pg_conn, EXPIRED[0]) == "attached"


def test_archives_are_readable_by_their_owner_only(pg_conn, pg_dsn, tmp_path, pg_bin) -> None:
    build(pg_conn)
    out = tmp_path / "archive"
    run = maintain(pg_dsn, write_config(tmp_path, out, pg_bin, command="true"))
    assert run.code == 0, run.stderr
    files = archives(out)
    assert {n.rsplit(".", 1)[-1] for n in files} == {"dump", "json", "sent"}
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(out.stat().st_mode) == 0o700


# --- row 9: killed runs, odd names, fleets -------------------------------------------------


def test_a_killed_runs_partial_dump_is_removed_by_the_next_run(
    pg_conn, pg_dsn, tmp_path, pg_bin
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    out = tmp_path / "archive"
    killer = tmp_path / "killer"
    killer.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        body = (
            'case "$1" in --version) exec "$REAL" "$@";; esac\n'
            '"$REAL" "$@" | head -c 3000\nsleep 0.5\nkill -KILL "$PPID"\nsleep 5\n'
            if tool == "pg_dump"
            else 'exec "$REAL" "$@"\n'
        )
        (killer / tool).write_text(f'#!/bin/sh\nREAL="{pg_bin / tool}"\n{body}')
        (killer / tool).chmod(0o755)
    config = write_config(tmp_path, out, killer)
    done = subprocess.run(
        [sys.executable, "-m", "pgpart", "maintain", "--dsn", pg_dsn, "--config", str(config),
         "--now", NOW],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == -9, done.stderr
    left = [n for n in archives(out) if n.endswith(".tmp")]
    assert left, archives(out)  # the killed run's partial dump

    run = maintain(pg_dsn, write_config(tmp_path, out, pg_bin), "-v")
    assert run.code == 0, run.stderr
    assert not [n for n in archives(out) if n.startswith(".")], archives(out)
    assert f"removed {out / left[0]}, left by a run that was killed" in run.stderr
    assert sorted(m["table"] for m in manifests(out)) == sorted(EXPIRED)
    assert {m["table"]: m["rows"] for m in manifests(out)} == {
        name: rows for name, (rows, _) in before.items()
    }


def test_names_with_line_breaks_quotes_and_non_ascii_archive_and_restore(
    pg_conn, pg_dsn, tmp_path, pg_bin
) -> None:
    schema, parent, column = 'sch\nema "q"', 'msg\n"ü"', 'bo\ndy "x" é'
    p = sql.Identifier(schema, parent)
    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    pg_conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigint NOT NULL, created_at timestamptz NOT NULL, {} text)"
            " PARTITION BY RANGE (created_at)"
        ).format(p, sql.Identifier(column))
    )
    parts = []
    for month in range(7, 12):
        name = f'{parent} {month:02d}\n"€"'
        parts.append(name)
        pg_conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(schema, name), p,
                sql.Literal(f"2026-{month:02d}-01"), sql.Literal(f"2026-{month + 1:02d}-01"),
            )
        )  # fmt: skip
    pg_conn.execute(
        sql.SQL(
            "INSERT INTO {} SELECT g, timestamptz '2026-07-01 00:00+00' + g * interval '6 hours',"
            " E'line\\none \"q\" ' || g FROM generate_series(1, 560) g"
        ).format(p)
    )

    def checksum() -> Any:
        return pg_conn.execute(
            sql.SQL("SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {} t")
            .format(p)
        ).fetchone()  # fmt: skip

    whole = checksum()
    quoted = ".".join('"' + x.replace('"', '""') + '"' for x in (schema, parent))
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin, table=quoted)
    run = maintain(pg_dsn, config)
    assert run.code == 0, run.stderr
    found = manifests(out)
    assert sorted(m["table"] for m in found) == parts[:2]
    assert "detached_leftover" not in run.stdout
    for m in found:
        back = cli(["restore", str(out / m["file"]), "--dsn", pg_dsn, "--config", str(config)])
        assert back.code == 0, back.stderr
        assert "attached it" in back.stdout
    assert checksum() == whole


def test_a_fleet_sharing_one_archive_dir_archives_every_member(
    tmp_path, pg_bin, databases: Databases
) -> None:
    """Members archive in parallel threads of one process into one directory:
    none trips over another's files."""
    dsns = databases.make(6, lambda conn, i: build(conn))
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin, command="true")
    args = [a for d in dsns for a in ("--dsn", d)]
    run = cli(["maintain", *args, "--jobs", "6", "--config", str(config), "--now", NOW,
               "-f", "json"])  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    found = manifests(out)
    assert len(found) == 2 * len(dsns)
    assert {m["database"] for m in found} == {d.split("dbname=")[1].split()[0] for d in dsns}
    assert not [n for n in archives(out) if n.startswith(".")]
    data = json.loads(run.stdout)
    archived = [a for a in data["actions"] if a["action"] == "archive"]
    assert len(archived) == 12 and all(a["done"] and not a["skipped"] for a in archived)
