"""The dump's rows are counted in whole chunks (pgpart.db.archive.tools):
rows holding backslashes, the two characters of COPY's end mark, line
breaks and tabs are each one row, however the chunks fall."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devcluster import find_bindir
from pgpart.db.archive import tools

AWKWARD = [
    "\\.",  # COPY writes it \\. : not the end mark
    "a\\.",
    "\\.\nnext",  # a line break then \. inside one value
    "\n\\.\n",
    "tab\there",
    "\\",
    "",
]


@pytest.fixture
def pg_bin() -> Path:
    env_bin = os.environ.get("PGPART_TEST_PGBIN")
    return Path(env_bin) if env_bin else Path(find_bindir())


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64, 1 << 20])
def test_rows_counted_whatever_the_chunks(
    pg_conn: psycopg.Connection[Any],
    pg_bin: Path,
    tmp_path: Path,
    chunk: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pg_conn.execute('CREATE TABLE public."odd\nname" (v text)')
    rows = [*AWKWARD, *(f"row {i}" for i in range(500)), None]
    with pg_conn.cursor() as cur:
        cur.executemany('INSERT INTO public."odd\nname" VALUES (%s)', [(v,) for v in rows])
    pg_conn.commit()
    monkeypatch.setattr(tools, "_CHUNK", chunk)
    found = tools.find_tools(str(pg_bin), pg_conn.info.server_version // 10000)
    command = tools.dump_command(found, "public", "odd\nname", 5000)
    fd = os.open(tmp_path / "t.dump", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        dumped = tools.stream_dump(found, tools.client_for(pg_conn), command, fd)
    finally:
        os.close(fd)
    assert dumped.rows == len(rows)
    assert dumped.size == (tmp_path / "t.dump").stat().st_size
