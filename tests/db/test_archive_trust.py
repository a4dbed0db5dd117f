"""Issue 19: `pgpart restore` trusts nothing it reads back, on the real server,
with real forged archives (made with pg_dump from another database).

Each attack worked before: a manifest naming a file outside its directory,
a dump from another database holding more than the table (an extra table,
an event trigger), a statement smuggled into a dump's entry, a dump swapped
or changed while pg_restore reads it, an archive restored into another
database. Now each is refused before anything is restored (exit 2, one
line naming why), the target's rows are counted before and after, and
nothing outside the archive's directory is read.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

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
from tests.support.cli_helpers import cli
from tests.support.fleet_helpers import Databases, databases
from tests.support.sibling_compare import Roles, partitions_of, roles_fixture, table_checksum

__all__ = ["databases", "pg_bin", "roles_fixture"]  # the fixtures, used by name


def archived(pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path):
    """The messages table built and its two expired partitions archived:
    (config, archive_dir, {partition: (rows, checksum)}, the first manifest)."""
    build(pg_conn)
    before = rows_before(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    run = maintain(pg_dsn, config)
    assert run.code == 0, run.stderr
    [first] = [m for m in manifests(out) if m["table"] == EXPIRED[0]]
    return config, out, before, first


def restore(path: Path, dsn: str, config: Path, *extra: str):
    run = cli(["restore", str(path), "--dsn", dsn, "--config", str(config), *extra])
    assert "Traceback" not in run.stderr, run.stderr
    return run


def rewrite_manifest(out: Path, m: dict[str, Any], **changes: Any) -> Path:
    path: Path = out / m["file"].replace(".dump", ".json")
    path.write_text(json.dumps({**m, **changes}))
    return path


def reseal(out: Path, m: dict[str, Any], dump: Path, **changes: Any) -> Path:
    """The manifest made to vouch for ``dump``'s bytes (size and sha256)."""
    data = dump.read_bytes()
    checksum = {"algorithm": "sha256", "value": hashlib.sha256(data).hexdigest()}
    return rewrite_manifest(out, m, bytes=len(data), checksum=checksum, **changes)


def relations(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    ).fetchall()
    return {r[0] for r in rows}


def event_triggers(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT evtname FROM pg_event_trigger").fetchall()]


def table_rows(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM messages").fetchone()
    assert row is not None
    return int(row[0])


# --- row 2: the dump's path ----------------------------------------------------------


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_a_manifest_cannot_name_a_file_outside_its_directory(
    pg_conn, pg_dsn, tmp_path, pg_bin, how
) -> None:
    config, out, before, m = archived(pg_conn, pg_dsn, tmp_path, pg_bin)
    # The attacker's copy lies outside archive_dir: a valid dump of the table,
    # and the manifest's checksum is right for it.
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(out / m["file"], outside / "x.dump")
    if how == "symlink":
        (out / m["file"]).unlink()
        (out / m["file"]).symlink_to(outside / "x.dump")
        manifest = out / m["file"].replace(".dump", ".json")
    else:
        target = "../outside/x.dump" if how == "dotdot" else str(outside / "x.dump")
        manifest = rewrite_manifest(out, m, file=target)
        (out / m["file"]).unlink()
    rows = table_rows(pg_conn)
    tables = relations(pg_conn)

    run = restore(manifest, pg_dsn, config)
    assert run.code == 2, run.stdout
    [line] = run.stderr.strip().splitlines()
    assert "nothing was restored" in line
    assert ("symbolic link" if how == "symlink" else "not a file name pgpart writes") in line
    assert state(pg_conn, m["table"]) == "gone"
    assert table_rows(pg_conn) == rows and relations(pg_conn) == tables
    assert before[m["table"]][0] > 0


# --- row 3: a dump of another database, holding more than the table ----------------------


def forged_dump(databases: Databases, pg_bin: Path, tmp_path: Path, name: str) -> Path:
    """pg_dump -Fc of another database holding a table of the same name (300
    rows), an extra table and an event trigger."""
    [dsn] = databases.make(1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigint NOT NULL, created_at timestamptz NOT NULL, body text)"
            ).format(sql.Identifier("public", name))
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} SELECT g, timestamptz '2026-07-02 00:00+00', 'forged'"
                " FROM generate_series(1, 300) g"
            ).format(sql.Identifier("public", name))
        )
        conn.execute("CREATE TABLE public.extra (secret text)")
        conn.execute(
            "CREATE FUNCTION public.evil() RETURNS event_trigger LANGUAGE plpgsql"
            " AS $$BEGIN RAISE NOTICE 'evil'; END$$"
        )
        conn.execute(
            "CREATE EVENT TRIGGER evil ON ddl_command_start EXECUTE FUNCTION public.evil()"
        )
    dump = tmp_path / "forged.dump"
    with dump.open("wb") as f:
        subprocess.run([str(pg_bin / "pg_dump"), "-Fc", f"--dbname={dsn}"], stdout=f, check=True)
    return dump


def test_a_forged_dump_with_more_than_the_table_is_refused(
    pg_conn, pg_dsn, tmp_path, pg_bin, databases
) -> None:
    config, out, _, m = archived(pg_conn, pg_dsn, tmp_path, pg_bin)
    forged = forged_dump(databases, pg_bin, tmp_path, m["table"])
    shutil.copy(forged, out / m["file"])
    reseal(out, m, out / m["file"], rows=300)  # the attacker rewrote the manifest too
    rows, tables = table_rows(pg_conn), relations(pg_conn)

    run = restore(out / m["file"], pg_dsn, config)
    assert run.code == 2, run.stdout
    [line] = run.stderr.strip().splitlines()
    assert "EVENT TRIGGER evil" in line and "TABLE public.extra" in line, line
    assert "nothing was restored" in line
    assert event_triggers(pg_conn) == []
    assert relations(pg_conn) == tables and table_rows(pg_conn) == rows
    assert state(pg_conn, m["table"]) == "gone"


def test_a_dump_of_the_same_table_from_another_database_is_refused(
    pg_conn, pg_dsn, tmp_path, pg_bin, databases
) -> None:
    """Even a dump holding just a table of that name is not this archive: it
    was dumped from another database than the manifest's."""
    config, out, _, m = archived(pg_conn, pg_dsn, tmp_path, pg_bin)
    forged_dump(databases, pg_bin, tmp_path, m["table"])
    only = tmp_path / "only.dump"
    table = f'public."{m["table"]}"'
    with only.open("wb") as f:
        subprocess.run([str(pg_bin / "pg_dump"), "-Fc", "-t", table,
                        f"--dbname={databases.dsns[0]}"], stdout=f, check=True)  # fmt: skip
    shutil.copy(only, out / m["file"])
    reseal(out, m, out / m["file"])
    rows = table_rows(pg_conn)
    run = restore(out / m["file"], pg_dsn, config)
    assert run.code == 2, run.stdout
    assert "was dumped from database fleet_" in run.stderr and "nothing was restored" in run.stderr
    assert state(pg_conn, m["table"]) == "gone" and table_rows(pg_conn) == rows


# --- a statement smuggled into one of the table's own entries ------------------------------


def smuggle(dump: Path, old: bytes, new: bytes) -> None:
    """Replace one string of the dump's TOC (pg_dump writes its length, a sign
    byte and 4 bytes, just before it; a dump written through a pipe records
    no data offsets, so nothing else moves)."""
    data = dump.read_bytes()
    at = data.index(old)
    assert data[at - 5] == 0 and int.from_bytes(data[at - 4 : at], "little") == len(old)
    dump.write_bytes(data[: at - 4] + len(new).to_bytes(4, "little") + new + data[at + len(old) :])


def statement(data: bytes, head: bytes, end: bytes) -> bytes:
    start = data.index(head)
    return data[start : data.index(end, start) + len(end)]


@pytest.mark.parametrize("entry", ["table", "comment", "stdstrings", "searchpath"])
def test_a_statement_smuggled_into_an_entry_is_refused(
    pg_conn, pg_dsn, tmp_path, pg_bin, entry
) -> None:
    config, out, _, m = archived(pg_conn, pg_dsn, tmp_path, pg_bin)
    dump = out / m["file"]
    data = dump.read_bytes()
    smuggled = b"CREATE TABLE public.smuggled (x int);\n"
    if entry == "table":
        old = statement(data, b"CREATE TABLE public.", b"\n);\n")
    elif entry == "comment":  # the mark's: its own comment is left out, the dump still judged
        old = statement(data, b"COMMENT ON CONSTRAINT pgpart_mark ON public.", b"';\n")
    elif entry == "stdstrings":
        old = b"SET standard_conforming_strings = 'on';\n"
    else:
        old = b"SELECT pg_catalog.set_config('search_path', '', false);\n"
    smuggle(dump, old, old + smuggled)
    reseal(out, m, dump)
    tables = relations(pg_conn)

    run = restore(dump, pg_dsn, config)
    assert run.code == 2, run.stdout
    assert "nothing was restored" in run.stderr
    assert "public.smuggled" not in relations(pg_conn) and relations(pg_conn) == tables
    assert state(pg_conn, m["table"]) == "gone"


# --- the file read is the file verified -----------------------------------------------------


def pg_bin_that(tmp_path: Path, real: Path, *, on_version: str = "", on_restore: str = "") -> Path:
    """A pg_bin whose pg_dump --version (restore asks it after checking the
    archive, before pg_restore runs) first runs ``on_version``, and whose
    pg_restore first runs ``on_restore`` (shell)."""
    directory = tmp_path / "bin"
    directory.mkdir()
    bodies = {
        "pg_dump": f'case "$1" in --version) {on_version or ":"} ;; esac',
        "pg_restore": f'case "$*" in *--list*|*--data-only*) ;; *) {on_restore or ":"} ;; esac',
    }
    for tool, body in bodies.items():
        script = directory / tool
        script.write_text(f'#!/bin/sh\n{body}\nexec "{real / tool}" "$@"\n')
        script.chmod(0o755)
    return directory


def test_a_dump_swapped_after_its_check_is_not_what_is_restored(
    pg_conn, pg_dsn, tmp_path, pg_bin, databases
) -> None:
    """The attacker swaps the file under its name once the checksum passed
    (pg_restore starts): what pg_restore reads is still the verified file."""
    config, out, before, m = archived(pg_conn, pg_dsn, tmp_path, pg_bin)
    forged = forged_dump(databases, pg_bin, tmp_path, m["table"])
    dump = out / m["file"]
    swap = f'cp "{forged}" "{dump}.new" && mv "{dump}.new" "{dump}"'
    config = write_config(tmp_path, out, pg_bin_that(tmp_path, pg_bin, on_restore=swap))

    run = restore(dump, pg_dsn, config)
    assert run.code == 0, run.stderr
    assert dump.read_bytes() == forged.read_bytes()  # the swap happened
    assert table_checksum(pg_conn, m["table"]) == before[m["table"]]  # the archived rows
    assert event_triggers(pg_conn) == [] and "public.extra" not in relations(pg_conn)


def test_a_dump_rewritten_in_place_after_its_check_commits_nothing(
    pg_conn, pg_dsn, tmp_path, pg_bin, databases
) -> None:
    """The same file (same inode) rewritten with a forged dump between the
    check and pg_restore: nothing of it is run, nothing is restored."""
    config, out, _, m = archived(pg_conn, pg_dsn, tmp_path, pg_bin)
    forged = forged_dump(databases, pg_bin, tmp_path, m["table"])
    dump = out / m["file"]
    inode = dump.stat().st_ino
    rewrite = f'cat "{forged}" > "{dump}"'
    config = write_config(tmp_path, out, pg_bin_that(tmp_path, pg_bin, on_version=rewrite))
    tables = relations(pg_conn)

    run = restore(dump, pg_dsn, config)
    assert run.code == 2, run.stdout
    assert "changed while pg_restore read it" in run.stderr and "nothing was restored" in run.stderr
    assert dump.stat().st_ino == inode and dump.read_bytes() == forged.read_bytes()
    assert state(pg_conn, m["table"]) == "gone" and relations(pg_conn) == tables
    assert event_triggers(pg_conn) == []


# --- row 4: restoring into another database ------------------------------------------------


def test_restore_into_another_database_needs_from_other_database(
    pg_conn, pg_dsn, tmp_path, pg_bin, databases
) -> None:
    config, out, before, m = archived(pg_conn, pg_dsn, tmp_path, pg_bin)
    [other] = databases.make(1)
    with psycopg.connect(other, autocommit=True) as conn:
        build(conn)
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(m["table"])))
        rows = table_rows(conn)

        run = restore(out / m["file"], other, config)
        assert run.code == 2, run.stdout
        [line] = run.stderr.strip().splitlines()
        assert f"came from database {pg_conn.info.dbname}" in line
        assert f"this is database {conn.info.dbname}" in line
        assert "--from-other-database" in line and "nothing was restored" in line
        assert state(conn, m["table"]) == "gone" and table_rows(conn) == rows

        files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
        run = restore(out / m["file"], other, config, "--from-other-database")
        assert run.code == 0, run.stderr
        # restore reads the archive, and leaves neither it nor a file of its own changed
        assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == files
        assert not list(Path(tempfile.gettempdir()).glob("pgpart-restore-*"))
        assert state(conn, m["table"]) == "attached"
        assert table_checksum(conn, m["table"]) == before[m["table"]]


def test_an_archive_without_its_origin_needs_from_other_database(
    pg_conn, pg_dsn, tmp_path, pg_bin
) -> None:
    """A manifest that does not say where it came from (an older pgpart's)."""
    config, out, _, m = archived(pg_conn, pg_dsn, tmp_path, pg_bin)
    manifest = rewrite_manifest(
        out, {k: v for k, v in m.items() if k not in ("system_identifier", "database_oid")}
    )
    run = restore(manifest, pg_dsn, config)
    assert run.code == 2 and "does not record which cluster" in run.stderr
    assert restore(manifest, pg_dsn, config, "--from-other-database").code == 0
    assert state(pg_conn, m["table"]) == "attached"


# --- issue 22, row 7: a NOINHERIT member of the owner restores -------------------------------


def test_noinherit_member_of_the_owner_restores_as_the_owner(
    pg_conn, pg_dsn, tmp_path, pg_bin, roles: Roles
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    owner = roles.make("tbl_owner")
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    for table in ["messages", *partitions_of(pg_conn, "messages")]:
        roles.sql("ALTER TABLE {} OWNER TO {}", table.split(".")[-1], owner)
    runner = roles.login("runner", "NOINHERIT")
    roles.sql("GRANT {} TO {}", owner, runner)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    assert maintain(roles.dsn_for(runner), config).code == 0
    for m in manifests(out):
        run = restore(out / m["file"], roles.dsn_for(runner), config)
        assert run.code == 0, run.stderr
        assert "attached it to public.messages" in run.stdout
        assert table_checksum(pg_conn, m["table"]) == before[m["table"]]
        row = pg_conn.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = %s", (m["table"],)
        ).fetchone()
        assert row == (owner,)
