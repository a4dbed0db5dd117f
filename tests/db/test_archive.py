"""Issue 15: retention_mode = "archive" and `pgpart restore`, end to end on the
real server (docs/archiving.md).

Every failure path asserts that no row is lost: the expired partitions'
rows are still in the database (attached when nothing was done yet, else in
the detached table that `check` reports as detached_leftover), the command
exits 2 with one line saying why, and the next maintain resumes without a
second dump.

pg_dump/pg_restore come from the test server's own bindir (pg_bin), so the
suite runs on PostgreSQL 15, 16 and 18 alike; failures are staged with small
wrapper scripts standing in for pg_dump/pg_restore in another pg_bin.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devcluster import find_bindir
from tests.support.cli_helpers import NOW, Run, cli
from tests.support.sibling_compare import (
    Roles,
    build_monthly,
    partitions_of,
    roles_fixture,  # noqa: F401  (the roles fixture)
    table_checksum,
)

EXPIRED = ("messages_2026_07", "messages_2026_08")  # wholly before NOW - 2 months


@pytest.fixture(scope="module")
def pg_bin(pg_server: Any) -> Path:
    """The bindir of the server under test (its pg_dump is of its major)."""
    env_bin = os.environ.get("PGPART_TEST_PGBIN")
    return Path(env_bin) if env_bin else Path(find_bindir())


def build(conn: psycopg.Connection[Any], *, default: bool = False, name: str = "messages") -> None:
    build_monthly(
        conn,
        name,
        columns="id bigint NOT NULL, created_at timestamptz NOT NULL, body text",
        months=range(-4, 1),  # July .. November 2026
        default=default,
    )
    conn.execute(
        f"INSERT INTO {name} SELECT g, timestamptz '2026-07-01 00:00+00' + g * interval '6 hours',"
        " 'row ' || g || E'\\nline two, tab\\t, quote '' \"' FROM generate_series(1, 560) g"
    )


def write_config(
    tmp_path: Path,
    archive_dir: Path,
    pg_bin: Path,
    *,
    command: str | None = None,
    table: str = "public.messages",
    timeout: str | None = None,
) -> Path:
    path = tmp_path / "pgpart.toml"
    lines = [
        "[[table]]",
        f"name = {json.dumps(table)}",
        'interval = "monthly"',
        'retention = "2 months"',
        'retention_mode = "archive"',
        f"archive_dir = {json.dumps(str(archive_dir))}",
        f"pg_bin = {json.dumps(str(pg_bin))}",
    ]
    if command is not None:
        lines.append(f"archive_command = {json.dumps(command)}")
    if timeout is not None:
        lines.append(f"archive_timeout = {json.dumps(timeout)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def maintain(dsn: str, config: Path, *extra: str) -> Run:
    run = cli(["maintain", "--dsn", dsn, "--config", str(config), "--now", NOW, *extra])
    assert "Traceback" not in run.stderr, run.stderr
    return run


def problems(dsn: str, config: Path) -> list[str]:
    run = cli(["check", "--dsn", dsn, "--config", str(config), "--now", NOW, "-f", "json"])
    assert "Traceback" not in run.stderr, run.stderr
    return [p["code"] for t in run.json()["tables"] for p in t["problems"]]


def state(conn: psycopg.Connection[Any], name: str, schema: str = "public") -> str:
    """attached / detached / gone, from the catalog."""
    row = conn.execute(
        "SELECT c.relispartition FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    if row is None:
        return "gone"
    return "attached" if row[0] else "detached"


def rows_of(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(f'SELECT count(*) FROM public."{name}"').fetchone()
    assert row is not None
    return int(row[0])


def archives(directory: Path) -> dict[str, Path]:
    """{file name: path} of every file in archive_dir (temporary ones too)."""
    if not directory.exists():
        return {}
    return {p.name: p for p in sorted(directory.iterdir())}


def manifests(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def rows_before(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, str | None]]:
    return {p: table_checksum(conn, p) for p in EXPIRED}


def wrapper(directory: Path, real: Path, *, pg_dump: str = "", pg_restore: str = "") -> Path:
    """A pg_bin whose pg_dump/pg_restore run ``pg_dump``/``pg_restore`` (shell)
    before or instead of the real ones (exec "$REAL" "$@")."""
    directory.mkdir()
    for tool, body in (("pg_dump", pg_dump), ("pg_restore", pg_restore)):
        script = directory / tool
        script.write_text(
            f'#!/bin/sh\nREAL="{real / tool}"\nPSQL="{real / "psql"}"\n'
            + (body or 'exec "$REAL" "$@"')
            + "\n"
        )
        script.chmod(0o755)
    return directory


def assert_all_rows_in_db(
    conn: psycopg.Connection[Any], before: dict[str, tuple[int, str | None]]
) -> None:
    for name, checksum in before.items():
        assert state(conn, name) != "gone", name
        assert table_checksum(conn, name) == checksum, name


# --- the happy path --------------------------------------------------------------


@pytest.mark.parametrize("default", [False, True], ids=["concurrently", "with_default"])
def test_archive_then_restore_round_trip(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path, default: bool
) -> None:
    build(pg_conn, default=default)
    before = rows_before(pg_conn)
    whole = table_checksum(pg_conn, "messages")
    sent = tmp_path / "sent.log"
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin, command=f"echo {{path}} {{manifest}} >> {sent}")

    run = maintain(pg_dsn, config, "-f", "json")
    assert run.code == 0, run.stderr
    acts = [a for a in run.json()["actions"] if a["action"] == "archive"]
    assert sorted(a["partition"] for a in acts) == sorted(EXPIRED)
    assert all(a["done"] for a in acts)
    for name in EXPIRED:
        assert state(pg_conn, name) == "gone"
    files = archives(out)
    assert not [f for f in files if f.startswith(".")], files  # no temporary file left
    found = manifests(out)
    assert len(found) == 2 and len([f for f in files if f.endswith(".dump")]) == 2
    db = pg_conn.info.dbname
    for m in found:
        assert m["format"] == "pgpart-archive/1"
        assert m["database"] == db and m["schema"] == "public"
        assert m["parent"]["table"] == "messages"
        assert m["rows"] == before[m["table"]][0] > 0
        dump = out / m["file"]
        assert m["file"].startswith(f"{db}.public.{m['table']}.")
        assert m["bytes"] == dump.stat().st_size
        assert m["checksum"] == {
            "algorithm": "sha256",
            "value": hashlib.sha256(dump.read_bytes()).hexdigest(),
        }
        assert m["from"].startswith("2026-0") and m["to"] > m["from"]
        assert m["server_version"] == pg_conn.info.server_version
        assert m["pgpart_version"] and m["pg_dump_version"] and m["created_at"]
        assert (out / m["file"].replace(".dump", ".sent")).exists()
    assert len(sent.read_text().splitlines()) == 2
    assert "detached_leftover" not in problems(pg_dsn, config)
    assert "retention_overdue" not in problems(pg_dsn, config)

    # stats lists the table's archives: how many, the oldest and newest bound.
    listed = cli(["stats", "--dsn", pg_dsn, "--config", str(config), "-f", "json"])
    assert listed.code == 0, listed.stderr
    [entry] = [t for t in listed.json()["tables"] if t["table"] == "public.messages"]
    assert entry["archives"] == {
        "dir": str(out),
        "count": 2,
        "oldest_from": "2026-07-01T00:00:00+00:00",
        "newest_to": "2026-09-01T00:00:00+00:00",
        "rows": sum(r for r, _ in before.values()),
        "bytes": sum(m["bytes"] for m in found),
    }
    shown = cli(["stats", "--dsn", pg_dsn, "--config", str(config)]).stdout
    assert f"archives: 2 in {out}, from 2026-07-01T00:00:00+00:00" in shown

    # A second run has nothing to do.
    again = maintain(pg_dsn, config, "-f", "json")
    assert again.code == 0 and not [a for a in again.json()["actions"] if a["action"] == "archive"]

    # Restore both: attached again, every row back as it was.
    for m in found:
        target = (
            out / m["file"]
            if m["table"] == EXPIRED[0]
            else out / m["file"].replace(".dump", ".json")
        )
        back = cli(["restore", str(target), "--dsn", pg_dsn, "--config", str(config)])
        assert back.code == 0, back.stderr
        assert "attached it to public.messages" in back.stdout
        assert state(pg_conn, m["table"]) == "attached"
        assert table_checksum(pg_conn, m["table"]) == before[m["table"]]
    assert table_checksum(pg_conn, "messages") == whole
    # Restored tables carry no archive mark: check is clean of leftovers.
    assert "detached_leftover" not in problems(pg_dsn, config)


def test_dry_run_shows_what_would_be_archived_where(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin, command="aws s3 cp {path} s3://b/")
    run = maintain(pg_dsn, config, "--dry-run")
    assert run.code == 0, run.stderr
    assert "pg_dump" in run.stdout and "--format=custom" in run.stdout
    assert str(out) in run.stdout and ".dump" in run.stdout and ".json" in run.stdout
    assert "aws s3 cp" in run.stdout and "DROP TABLE" in run.stdout
    assert not out.exists()
    for name in EXPIRED:
        assert state(pg_conn, name) == "attached"
    assert_all_rows_in_db(pg_conn, before)


# --- failures before anything is detached ---------------------------------------


def test_archive_mode_needs_archive_dir(tmp_path: Path, pg_dsn: str) -> None:
    config = tmp_path / "pgpart.toml"
    config.write_text(
        '[[table]]\nname = "public.messages"\nretention = "2 months"\nretention_mode = "archive"\n'
    )
    run = cli(["maintain", "--dsn", pg_dsn, "--config", str(config), "--now", NOW])
    assert run.code == 3
    assert "pgpart.toml:4:" in run.stderr and "needs archive_dir" in run.stderr


@pytest.mark.parametrize("case", ["pg_dump_missing", "pg_dump_older", "dir_unwritable"])
def test_nothing_detached_when_the_dump_cannot_be_made(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path, case: str
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    out = tmp_path / "archive"
    tools = pg_bin
    if case == "pg_dump_missing":
        tools = tmp_path / "empty"
        tools.mkdir()
    elif case == "pg_dump_older":
        old = 'case "$1" in --version) echo "{} (PostgreSQL) 9.6.24"; exit 0;; esac\nexec "$REAL" "$@"'
        tools = wrapper(
            tmp_path / "old",
            pg_bin,
            pg_dump=old.format("pg_dump"),
            pg_restore=old.format("pg_restore"),
        )
    else:
        (tmp_path / "file").write_text("a regular file\n")
        out = tmp_path / "file" / "archive"  # root may write anywhere, but not under a file
    config = write_config(tmp_path, out, tools)

    run = maintain(pg_dsn, config)
    assert run.code == 2
    [line] = run.stderr.strip().splitlines()
    assert "nothing was detached" in line
    expected = {
        "pg_dump_missing": "no pg_dump and pg_restore in",
        "pg_dump_older": "9.6.24",
        "dir_unwritable": "is not a writable directory",
    }[case]
    assert expected in line
    for name in EXPIRED:
        assert state(pg_conn, name) == "attached"
    assert_all_rows_in_db(pg_conn, before)
    assert "detached_leftover" not in problems(pg_dsn, config)
    assert not [f for f in archives(out) if f.endswith((".dump", ".json"))]


# --- failures after the detach: rows kept, reported, resumed --------------------------

_DBNAME_ARG = 'for a in "$@"; do case "$a" in --dbname=*) DB="${a#--dbname=}";; esac; done\n'
FAULTS = {
    # pg_dump dies half-way through (a crash, the OOM killer, a server restart).
    "pg_dump_dies": dict(
        pg_dump='case "$1" in --version) exec "$REAL" "$@";; esac\n'
        '"$REAL" "$@" | head -c 2000\necho "pg_dump: error: simulated crash" >&2\nexit 1'
    ),
    # The dump's data section lacks a row: the row counts differ.
    "verify_mismatch": dict(
        pg_restore='case "$*" in *--data-only*) "$REAL" "$@" | sed \'/^COPY /{n;d}\'; exit 0;; esac\n'
        'exec "$REAL" "$@"'
    ),
    # pgpart's own backend dies between the detach and the dump.
    "backend_killed": dict(
        pg_dump=_DBNAME_ARG
        + '"$PSQL" -X -q -d "$DB" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity'
        " WHERE application_name = 'pgpart' AND pid <> pg_backend_pid()\" >/dev/null\n"
        'exec "$REAL" "$@"'
    ),
    "archive_command_fails": {},
    # archive_command hangs (with a child of its own): killed at the timeout.
    "archive_command_hangs": {},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_failure_after_detach_keeps_rows_and_next_maintain_resumes(
    pg_conn: psycopg.Connection[Any],
    pg_dsn: str,
    tmp_path: Path,
    pg_bin: Path,
    fault: str,
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    whole = table_checksum(pg_conn, "messages")
    out = tmp_path / "archive"
    tools = wrapper(tmp_path / "faulty", pg_bin, **FAULTS[fault]) if FAULTS[fault] else pg_bin
    sent = tmp_path / "sent.log"
    child = tmp_path / "child.pid"
    failing = {
        "archive_command_fails": "echo upload refused >&2; exit 3",
        "archive_command_hangs": f"echo uploading {{path}}; sleep 300 & echo $! > {child}; wait",
    }.get(fault)
    config = write_config(tmp_path, out, tools, command=failing, timeout="1500ms")

    started = time.monotonic()
    run = maintain(pg_dsn, config)
    assert time.monotonic() - started < 60
    assert run.code == 2, run.stderr
    [line] = run.stderr.strip().splitlines()
    reason = {
        "pg_dump_dies": "pg_dump failed (exit 1): pg_dump: error: simulated crash",
        "verify_mismatch": "verification failed",
        "backend_killed": "lost the connection",
        "archive_command_fails": "archive_command failed (exit 3): upload refused",
        "archive_command_hangs": "archive_command timed out after 1.5 s and was killed",
    }[fault]
    assert reason in line and "1 more action not done" in line
    if fault == "archive_command_hangs":
        assert not _alive(int(child.read_text())), "the command's child outlived the timeout"
    first, second = EXPIRED
    assert state(pg_conn, first) == "detached"  # out of the table, not out of the database
    assert state(pg_conn, second) == "attached"  # not attempted after the failure
    assert_all_rows_in_db(pg_conn, before)
    assert "detached_leftover" in problems(pg_dsn, config)
    assert not [f for f in archives(out) if f.startswith(".")]  # no temporary file left
    dumped = {m["file"]: (out / m["file"]).stat().st_mtime_ns for m in manifests(out)}
    assert len(dumped) == (
        1 if fault in ("backend_killed", "archive_command_fails", "archive_command_hangs") else 0
    )

    # The next maintain, the fault gone, resumes: no second dump of the first partition.
    config = write_config(tmp_path, out, pg_bin, command=f"echo {{path}} >> {sent}")
    again = maintain(pg_dsn, config)
    assert again.code == 0, again.stderr
    for name in EXPIRED:
        assert state(pg_conn, name) == "gone"
    found = manifests(out)
    assert sorted(m["table"] for m in found) == sorted(EXPIRED)
    assert not [f for f in archives(out) if "~" in f or f.startswith(".")]
    for file, mtime in dumped.items():
        assert (out / file).stat().st_mtime_ns == mtime  # reused, not rewritten
    assert len(sent.read_text().splitlines()) == 2
    assert "detached_leftover" not in problems(pg_dsn, config)
    for m in found:
        assert m["rows"] == before[m["table"]][0]
        back = cli(["restore", str(out / m["file"]), "--dsn", pg_dsn, "--config", str(config)])
        assert back.code == 0, back.stderr
    assert table_checksum(pg_conn, "messages") == whole


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent to reap it does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_ctrl_c_during_the_dump_keeps_rows_and_resumes(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    out = tmp_path / "archive"
    # pg_dump's parent is pgpart: the "user" presses Ctrl-C while pg_dump runs.
    tools = wrapper(
        tmp_path / "slow",
        pg_bin,
        pg_dump='case "$1" in --version) exec "$REAL" "$@";; esac\nkill -INT "$PPID"\nexec sleep 30',
    )
    config = write_config(tmp_path, out, tools)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run(
        [sys.executable, "-m", "pgpart", "maintain", "--dsn", pg_dsn, "--config", str(config),
         "--now", NOW],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode in (2, 130), done.stderr
    assert "Traceback" not in done.stderr and "interrupted" in done.stderr
    assert state(pg_conn, EXPIRED[0]) == "detached"
    assert state(pg_conn, EXPIRED[1]) == "attached"
    assert_all_rows_in_db(pg_conn, before)
    assert not archives(out) or not [
        f for f in archives(out) if f.endswith(".dump") or f.startswith(".")
    ]
    assert "detached_leftover" in problems(pg_dsn, config)

    again = maintain(pg_dsn, write_config(tmp_path, out, pg_bin))
    assert again.code == 0, again.stderr
    assert sorted(m["table"] for m in manifests(out)) == sorted(EXPIRED)


# --- restore ----------------------------------------------------------------------


def test_restore_into_an_occupied_range_keeps_a_plain_table(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    assert maintain(pg_dsn, config).code == 0
    # Someone made a new partition for July meanwhile.
    pg_conn.execute(
        "CREATE TABLE july_again PARTITION OF messages"
        " FOR VALUES FROM ('2026-07-01 00:00+00') TO ('2026-08-01 00:00+00')"
    )
    [m] = [m for m in manifests(out) if m["table"] == EXPIRED[0]]
    run = cli(
        ["restore", str(out / m["file"]), "--dsn", pg_dsn, "--config", str(config), "-f", "json"]
    )
    assert run.code == 0, run.stderr
    result = run.json()["restore"]
    assert result["attached"] is False and "july_again" in result["why"]
    assert state(pg_conn, EXPIRED[0]) == "detached"
    assert table_checksum(pg_conn, EXPIRED[0]) == before[EXPIRED[0]]
    assert "detached_leftover" not in problems(pg_dsn, config)  # no archive mark on it

    # The same archive again: the name is taken now; nothing is touched.
    twice = cli(["restore", str(out / m["file"]), "--dsn", pg_dsn, "--config", str(config)])
    assert twice.code == 2 and "already exists" in twice.stderr
    assert table_checksum(pg_conn, EXPIRED[0]) == before[EXPIRED[0]]


def test_restore_refuses_a_damaged_dump(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path
) -> None:
    build(pg_conn)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    assert maintain(pg_dsn, config).code == 0
    [m, _] = manifests(out)
    dump = out / m["file"]
    data = bytearray(dump.read_bytes())
    data[-10] ^= 0xFF
    dump.write_bytes(bytes(data))
    run = cli(["restore", str(dump), "--dsn", pg_dsn, "--config", str(config)])
    assert run.code == 2 and "differs from the manifest" in run.stderr
    assert state(pg_conn, m["table"]) == "gone"


# --- any identifier ---------------------------------------------------------------


def test_identifiers_with_spaces_quotes_and_unicode(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path
) -> None:
    from psycopg import sql

    schema, table = 'sch ema "q"', 'Mess"ages ü.*'
    parent = sql.Identifier(schema, table)
    pg_conn.execute("SET TimeZone = 'UTC'")
    pg_conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    pg_conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigint, created_at timestamptz NOT NULL, body text)"
            " PARTITION BY RANGE (created_at)"
        ).format(parent)
    )
    for month in range(7, 12):
        part = sql.Identifier(schema, f"{table} {month:02d} €")
        pg_conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                part,
                parent,
                sql.Literal(f"2026-{month:02d}-01"),
                sql.Literal(f"2026-{month + 1:02d}-01"),
            )
        )
    pg_conn.execute(
        sql.SQL(
            "INSERT INTO {} SELECT g, timestamptz '2026-07-01 00:00+00' + g * interval '6 hours',"
            " 'row ' || g FROM generate_series(1, 560) g"
        ).format(parent)
    )

    def checksum() -> tuple[Any, ...]:
        row = pg_conn.execute(
            sql.SQL(
                "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {} t"
            ).format(parent)
        ).fetchone()
        assert row is not None
        return tuple(row)

    whole = checksum()
    quoted = '"' + schema.replace('"', '""') + '"."' + table.replace('"', '""') + '"'
    out = tmp_path / "arch ive 'q' $HOME"  # archive_command gets it shell-quoted
    config = write_config(
        tmp_path, out, pg_bin, table=quoted, command="test -s {path} && test -s {manifest}"
    )
    run = maintain(pg_dsn, config)
    assert run.code == 0, run.stderr
    found = manifests(out)
    assert sorted(m["table"] for m in found) == [f"{table} 07 €", f"{table} 08 €"]
    for name in archives(out):
        assert name.isascii() and "/" not in name and '"' not in name and " " not in name
    assert len(list(out.glob("*.sent"))) == 2
    for m in found:
        assert m["schema"] == schema and m["parent"]["table"] == table
        back = cli(["restore", str(out / m["file"]), "--dsn", pg_dsn, "--config", str(config)])
        assert back.code == 0, back.stderr
        assert "attached it" in back.stdout
    assert checksum() == whole


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 256 kB tmpfs: a real full disk (ENOSPC). Mounting needs CAP_SYS_ADMIN,
    which the test container has; where it is missing the test is skipped,
    and pg_dump_dies above still covers a dump that stops half-way."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mountpoint
    subprocess.run(["umount", str(mountpoint)], check=True)


def test_full_disk_keeps_rows_and_leaves_no_partial_file(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path, small_disk: Path
) -> None:
    build(pg_conn)
    # About 1 MB of poorly compressible text in July: its dump cannot fit.
    pg_conn.execute(
        "INSERT INTO messages SELECT 10000 + g, timestamptz '2026-07-02 00:00+00',"
        " (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 8) i)"
        " FROM generate_series(1, 4000) g"
    )
    before = rows_before(pg_conn)
    out = small_disk / "archive"
    config = write_config(tmp_path, out, pg_bin)
    run = maintain(pg_dsn, config)
    assert run.code == 2
    [line] = run.stderr.strip().splitlines()
    assert "No space left on device" in line, line
    assert state(pg_conn, EXPIRED[0]) == "detached"
    assert_all_rows_in_db(pg_conn, before)
    assert "detached_leftover" in problems(pg_dsn, config)
    assert archives(out) == {}  # the partial dump was removed


# --- roles ------------------------------------------------------------------------


def test_noinherit_member_of_the_owner_archives_as_the_owner(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path, roles: Roles
) -> None:
    """A NOINHERIT member holds no SELECT on the partitions until SET ROLE:
    the count and pg_dump (--role) read them as their owner."""
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

    run = maintain(roles.dsn_for(runner), config)
    assert run.code == 0, run.stderr
    found = manifests(out)
    assert sorted(m["table"] for m in found) == sorted(EXPIRED)
    for m in found:
        assert m["rows"] == before[m["table"]][0]
        back = cli(["restore", str(out / m["file"]), "--dsn", pg_dsn, "--config", str(config)])
        assert back.code == 0, back.stderr
        assert table_checksum(pg_conn, m["table"]) == before[m["table"]]


def test_nothing_detached_when_the_login_role_cannot_read_the_partition(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path, roles: Roles
) -> None:
    build(pg_conn)
    before = rows_before(pg_conn)
    owner = roles.make("tbl_owner")
    runner = roles.login("runner")
    roles.sql("GRANT CREATE, USAGE ON SCHEMA public TO {}", owner)
    roles.sql("ALTER TABLE {} OWNER TO {}", "messages", owner)
    roles.sql("GRANT {} TO {}", owner, runner)
    # The expired partitions: owned by the runner (it may drop them) but not
    # readable by it (the owner revoked its own SELECT).
    for name in EXPIRED:
        roles.sql("ALTER TABLE {} OWNER TO {}", name, runner)
        roles.sql("REVOKE SELECT ON {} FROM {}", name, runner)
    out = tmp_path / "archive"
    config = write_config(tmp_path, out, pg_bin)
    run = maintain(roles.dsn_for(runner), config)
    assert run.code == 2
    [line] = run.stderr.strip().splitlines()
    assert "pg_dump could not read" in line and "nothing was detached" in line
    for name in EXPIRED:
        assert state(pg_conn, name) == "attached"
    assert_all_rows_in_db(pg_conn, before)


def test_sub_partitioned_partition_is_refused_before_detaching(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path
) -> None:
    """pg_dump -t of a partitioned table holds none of its children's rows:
    such a partition is left attached, with a line saying why (one for each,
    found while planning: nothing is detached)."""
    build_monthly(
        pg_conn,
        columns="id bigint NOT NULL, created_at timestamptz NOT NULL, tenant int NOT NULL",
        primary_key=None,
        months=range(-4, 1),
        partition_by="LIST (tenant)",
        each=lambda part, lo, hi: pg_conn.execute(
            f"CREATE TABLE {part}_t1 PARTITION OF {part} FOR VALUES IN (1)"
        ),
    )
    pg_conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-07-01 00:00+00' + g * interval '6 hours', 1"
        " FROM generate_series(1, 560) g"
    )
    before = table_checksum(pg_conn, "messages")
    out = tmp_path / "archive"
    run = maintain(pg_dsn, write_config(tmp_path, out, pg_bin))
    assert run.code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == len(EXPIRED), lines
    for name, line in zip(EXPIRED, lines, strict=True):
        assert f"retention cannot archive public.{name}: it is itself partitioned" in line
        assert "it stays attached" in line
        assert state(pg_conn, name) == "attached"
    assert table_checksum(pg_conn, "messages") == before


@pytest.mark.parametrize("what", ["sequence", "rule"])
def test_a_partition_whose_dump_restore_would_refuse_is_not_detached(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path, what: str
) -> None:
    """A sequence the partition owns (a serial of its own, from before it was
    attached) or a rule on it would be in its dump, which restore refuses:
    said before anything is detached, not after every run's dump."""
    build(pg_conn)
    first = EXPIRED[0]
    if what == "sequence":
        pg_conn.execute(f"ALTER TABLE messages DETACH PARTITION {first}")
        pg_conn.execute(f"CREATE SEQUENCE {first}_seq OWNED BY {first}.id")
        pg_conn.execute(
            f"ALTER TABLE messages ATTACH PARTITION {first}"
            " FOR VALUES FROM ('2026-07-01 00:00+00') TO ('2026-08-01 00:00+00')"
        )
    else:
        pg_conn.execute(f"CREATE RULE quiet AS ON DELETE TO {first} DO INSTEAD NOTHING")
    before = rows_before(pg_conn)
    out = tmp_path / "archive"
    run = maintain(pg_dsn, write_config(tmp_path, out, pg_bin))
    assert run.code == 2
    [line] = run.stderr.strip().splitlines()
    assert ("owns the sequence" if what == "sequence" else "has the rule quiet") in line
    assert f"retention cannot archive public.{first}" in line and "it stays attached" in line
    assert state(pg_conn, first) == "attached"
    # the newer expired partition still goes: a kept older one blocks nothing
    assert state(pg_conn, EXPIRED[1]) == "gone"
    assert [m["table"] for m in manifests(out)] == [EXPIRED[1]]
    assert table_checksum(pg_conn, first) == before[first]
