"""The dump's rows are counted in whole chunks (pgpart.db.archive.dump_stream):
rows holding backslashes, the two characters of COPY's end mark, line
breaks and tabs are each one row, however the chunks fall."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devcluster import find_bindir
from pgpart.db.archive import dump_stream, tools

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
    monkeypatch.setattr(dump_stream, "_CHUNK", chunk)
    found = tools.find_tools(str(pg_bin), pg_conn.info.server_version // 10000)
    command = tools.dump_command(found, "public", "odd\nname", 5000)
    fd = os.open(tmp_path / "t.dump", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        dumped = dump_stream.stream_dump(found, tools.client_for(pg_conn), command, fd)
    finally:
        os.close(fd)
    assert dumped.rows == len(rows)
    assert dumped.size == (tmp_path / "t.dump").stat().st_size


@pytest.mark.parametrize("chunk", [3, 4, 7, 4096])
def test_long_rows_are_counted_without_being_kept(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_restore's text as it prints it, read in small chunks: a row longer
    than a chunk (one starting like the end mark among them) is one row."""
    monkeypatch.setattr(dump_stream, "_CHUNK", chunk)
    long_rows = [b"\\\\.x" + b"y" * 50_000, b"z" * 50_000, b"\\\\." + b"\\\\" * 3]
    text = (
        b"SET client_encoding = 'UTF8';\n\nCOPY public.\"t\n2\" (v) FROM stdin;\n"
        + b"\n".join(long_rows)
        + b"\n\\.\n\n"
    )

    class Stream:
        def __init__(self) -> None:
            self.pos = 0

        def read(self, n: int) -> bytes:
            data = text[self.pos : self.pos + n]
            self.pos += len(data)
            return data

    counter = dump_stream._Counter()
    counter.count(Stream())  # type: ignore[arg-type]
    assert (counter.rows, counter.blocks, counter.inside) == (len(long_rows), 1, False)


def test_the_end_mark_split_anywhere_between_two_reads() -> None:
    text = b"COPY public.t (v) FROM stdin;\n\\\\.\\\\\nrow\n\\.\n\n"

    class Pieces:
        def __init__(self, cut: int) -> None:
            self.left = [text[:cut], text[cut:]]

        def read(self, n: int) -> bytes:
            return self.left.pop(0) if self.left else b""

    for cut in range(1, len(text)):
        counter = dump_stream._Counter()
        counter.count(Pieces(cut))  # type: ignore[arg-type]
        assert (counter.rows, counter.blocks, counter.inside) == (2, 1, False), cut
