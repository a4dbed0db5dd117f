"""Issue 15: two `pgpart maintain` runs in archive mode at once, against the
same table and archive_dir (cron overlapping a manual run), on the real
server, as two processes.

Each expired partition must be archived exactly once (one dump, one
manifest, archive_command run once for it) and dropped; no row lost; both
runs exit 0 and say, between them, who archived what: a partition the other
run holds is reported skipped, never failed, never done twice.
"""

from __future__ import annotations

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
from tests.support.cli_helpers import NOW, cli
from tests.support.sibling_compare import build_monthly, table_checksum

ROOT = Path(__file__).resolve().parents[2]
# Wholly before NOW - 2 months (2026-09-22): March .. August 2026.
EXPIRED = [f"messages_2026_{m:02d}" for m in range(3, 9)]


@pytest.fixture(scope="module")
def pg_bin(pg_server: Any) -> Path:
    env_bin = os.environ.get("PGPART_TEST_PGBIN")
    return Path(env_bin) if env_bin else Path(find_bindir())


def slow_pg_bin(directory: Path, real: Path) -> Path:
    """pg_dump that waits 0.4 s before dumping, so that the runs overlap."""
    directory.mkdir()
    for tool, pause in (("pg_dump", "sleep 0.4\n"), ("pg_restore", "")):
        script = directory / tool
        script.write_text(f'#!/bin/sh\n{pause}exec "{real / tool}" "$@"\n')
        script.chmod(0o755)
    return directory


def start(dsn: str, config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["maintain", "--dsn", dsn, "--config", str(config), "--now", NOW, "-f", "json"]
    return subprocess.Popen(
        [sys.executable, "-m", "pgpart", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stagger", [0.0, 0.8], ids=["together", "second_midway"])
def test_two_runs_at_once_archive_each_partition_once(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, pg_bin: Path, stagger: float
) -> None:
    build_monthly(
        pg_conn,
        columns="id bigint NOT NULL, created_at timestamptz NOT NULL, body text",
        months=range(-8, 1),  # March .. November 2026
    )
    pg_conn.execute(
        "INSERT INTO messages SELECT g, timestamptz '2026-03-01 00:00+00' + g * interval '7 hours',"
        " 'row ' || g FROM generate_series(1, 900) g"
    )
    whole = table_checksum(pg_conn, "messages")
    expired_rows = {p: table_checksum(pg_conn, p)[0] for p in EXPIRED}
    out = tmp_path / "archive"
    sent = tmp_path / "sent.log"
    config = tmp_path / "pgpart.toml"
    config.write_text(
        "[[table]]\n"
        'name = "public.messages"\ninterval = "monthly"\nretention = "2 months"\n'
        f'retention_mode = "archive"\narchive_dir = {json.dumps(str(out))}\n'
        f"pg_bin = {json.dumps(str(slow_pg_bin(tmp_path / 'bin', pg_bin)))}\n"
        f"archive_command = {json.dumps(f'basename {{path}} >> {sent}')}\n"
    )

    first = start(pg_dsn, config)
    time.sleep(stagger)
    second = start(pg_dsn, config)
    finished = [p.communicate(timeout=300) for p in (first, second)]

    archived: list[str] = []
    for proc, (stdout, stderr) in zip((first, second), finished, strict=True):
        assert "Traceback" not in stderr, stderr
        assert proc.returncode == 0, stderr
        actions = [a for a in json.loads(stdout)["actions"] if a["action"] == "archive"]
        assert {a["partition"] for a in actions} <= set(EXPIRED)
        for a in actions:
            assert a["error"] is None and a["done"], a
            if not a["skipped"]:
                archived.append(a["partition"])
    # Between them, each partition archived by exactly one run.
    assert sorted(archived) == EXPIRED

    for name in EXPIRED:
        row = pg_conn.execute("SELECT to_regclass(%s)", (f"public.{name}",)).fetchone()
        assert row == (None,), f"{name} was not dropped"
    files = sorted(p.name for p in out.iterdir())
    assert not [f for f in files if f.startswith(".") or "~" in f], files  # no temp, lock, ~2
    found = [json.loads((out / f).read_text()) for f in files if f.endswith(".json")]
    assert sorted(m["table"] for m in found) == EXPIRED  # one archive each
    assert {m["table"]: m["rows"] for m in found} == expired_rows
    assert sorted(sent.read_text().split()) == sorted(m["file"] for m in found)  # sent once each

    for m in found:  # every archive restores; together they give back every row
        back = cli(["restore", str(out / m["file"]), "--dsn", pg_dsn, "--config", str(config)])
        assert back.code == 0, back.stderr
    assert table_checksum(pg_conn, "messages") == whole
