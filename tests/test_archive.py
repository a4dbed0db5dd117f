"""Issue 15: retention_mode = "archive" and `pgpart restore`, end to end on the
real server (CONTRACT.md, "Archiving before retention").

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
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgpart.devcluster import find_bindir
from tests.cli_helpers import NOW, Run, cli
from tests.sibling_compare import build_monthly, table_checksum

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
