"""The table of contents of a custom-format dump (``pg_dump -Fc``), read by
pgpart itself rather than from ``pg_restore --list``, whose text cannot
tell a space in a name from the space between two fields, and which prints
no entry's SQL.

The layout is pg_dump's own (src/bin/pg_dump/pg_backup_archiver.c,
WriteHead/WriteToc, and pg_backup_custom.c, _WriteExtraToc): a header, then
one record per entry: its dump id, whether it has data, its catalog ids,
tag, kind (``desc``), section, the SQL that creates it (``defn``), the
COPY statement of its data, its schema, owner, and the dump ids it depends
on. An integer is a sign byte and ``intSize`` little-endian bytes; a
string is its length (an integer, -1 for none) and its bytes. Versions
1.14 (pg_dump 12) to 1.16 (pg_dump 17 and 18) are read; another version is
refused rather than guessed at.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Sequence
from typing import Protocol

from pgpart.core.dump_rules import TocEntry, judge
from pgpart.core.record import record
from pgpart.errors import ArchiveError

MAGIC = b"PGDMP"
FORMAT_CUSTOM = 1
OLDEST = (1, 14)
NEWEST = (1, 16)
# A table's TOC is a few kilobytes; a file claiming far more is not an archive
# of pgpart's, and is not read into memory.
MAX_TOC_BYTES = 64 << 20
MAX_ENTRIES = 100_000
_ENCODING = re.compile(r"\ASET client_encoding = '([A-Za-z0-9_]+)';\n\Z")


class Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


class DumpFormatError(ValueError):
    """The bytes are not a custom-format dump pgpart can read."""


@record
class DumpToc:
    version: tuple[int, int, int]
    dbname: str  # the database pg_dump connected to
    server_version: str
    dump_version: str
    entries: tuple[TocEntry, ...]
    size: int  # bytes of the header and the TOC: the data follows


class _Reader:
    def __init__(self, f: Readable) -> None:
        self.f, self.pos = f, 0
        self.int_size = 4

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > MAX_TOC_BYTES:
            raise DumpFormatError("its table of contents is larger than any table's")
        data = self.f.read(n)
        if len(data) != n:
            raise DumpFormatError("it ends inside its table of contents")
        self.pos += n
        return data

    def byte(self) -> int:
        return self.take(1)[0]

    def int(self) -> int:
        sign = self.byte()
        value = int.from_bytes(self.take(self.int_size), "little")
        return -value if sign else value

    def raw(self) -> bytes | None:
        n = self.int()
        return None if n < 0 else self.take(n)


def read_toc(f: Readable) -> DumpToc:
    """The header and TOC at the start of ``f`` (read from where it stands)."""
    r = _Reader(f)
    if r.take(5) != MAGIC:
        raise DumpFormatError("it is not a custom-format pg_dump archive")
    version = (r.byte(), r.byte(), r.byte())
    if not OLDEST <= version[:2] <= NEWEST:
        raise DumpFormatError(
            f"its archive format {version[0]}.{version[1]} is not one pgpart reads"
            f" ({OLDEST[0]}.{OLDEST[1]} to {NEWEST[0]}.{NEWEST[1]})"
        )
    r.int_size = r.byte()
    off_size = r.byte()
    if not (1 <= r.int_size <= 8 and 1 <= off_size <= 8):
        raise DumpFormatError("its header is damaged")
    if r.byte() != FORMAT_CUSTOM:
        raise DumpFormatError("it is not in pg_dump's custom format (-Fc)")
    if version[:2] >= (1, 15):
        r.byte()  # compression algorithm
    else:
        r.int()  # compression level
    for _ in range(7):  # the creation time, as struct tm
        r.int()
    header = [r.raw() for _ in range(3)]  # database, server version, pg_dump version
    count = r.int()
    if not 0 <= count <= MAX_ENTRIES:
        raise DumpFormatError("its table of contents is damaged")
    raw = [_entry(r, version, off_size) for _ in range(count)]
    codec = _codec(raw)
    entries = tuple(e.decoded(codec) for e in raw)
    text = [(b or b"").decode(codec, "replace") for b in header]
    return DumpToc(version, text[0], text[1], text[2], entries, r.pos)


@record
class _Raw:
    dump_id: int
    had_dumper: bool
    fields: tuple[bytes | None, ...]  # tag, desc, defn, copy, namespace, owner
    deps: tuple[int, ...]

    def decoded(self, codec: str) -> TocEntry:
        tag, desc, defn, copy, namespace, owner = (
            None if b is None else b.decode(codec, "surrogateescape") for b in self.fields
        )
        return TocEntry(
            dump_id=self.dump_id,
            had_dumper=self.had_dumper,
            desc=desc or "",
            tag=tag or "",
            namespace=namespace or None,
            owner=owner,
            defn=defn or "",
            copy_stmt=copy or "",
            deps=self.deps,
        )


def _entry(r: _Reader, version: tuple[int, int, int], off_size: int) -> _Raw:
    dump_id = r.int()
    had_dumper = bool(r.int())
    r.raw()  # catalog id: table oid
    r.raw()  # catalog id: oid
    tag, desc = r.raw(), r.raw()
    r.int()  # section
    defn = r.raw()
    r.raw()  # drop statement (only --clean runs it; pgpart never passes it)
    copy, namespace = r.raw(), r.raw()
    r.raw()  # tablespace
    r.raw()  # table access method
    if version[:2] >= (1, 16):
        r.int()  # relkind
    owner = r.raw()
    r.raw()  # "with oids": always false now
    deps: list[int] = []
    while (dep := r.raw()) is not None:
        try:
            deps.append(int(dep))
        except ValueError:
            raise DumpFormatError("its table of contents is damaged") from None
        if len(deps) > MAX_ENTRIES:
            raise DumpFormatError("its table of contents is damaged")
    r.byte()  # where the entry's data lies: flag ...
    r.take(off_size)  # ... and offset
    return _Raw(dump_id, had_dumper, (tag, desc, defn, copy, namespace, owner), tuple(deps))


def _codec(raw: list[_Raw]) -> str:
    """The Python codec of the dump's encoding (its ENCODING entry); UTF-8
    when it names none Python knows."""
    for e in raw:
        if e.fields[1] == b"ENCODING" and e.fields[2]:
            found = _ENCODING.match(e.fields[2].decode("ascii", "replace"))
            if found:
                name = found.group(1).lower()
                name = {"sql_ascii": "ascii", "utf8": "utf-8"}.get(name, name)
                name = re.sub(r"\Awin(\d+)\Z", r"cp\1", name)
                try:
                    return codecs.lookup(name).name
                except LookupError:
                    break
    return "utf-8"


class _At:
    """A file read from offset 0 with pread: the descriptor's own offset
    (where a writer may stand) is left alone."""

    def __init__(self, fd: int) -> None:
        self.fd, self.pos = fd, 0

    def read(self, n: int) -> bytes:
        data = os.pread(self.fd, n, self.pos)
        self.pos += len(data)
        return data


def read_toc_at(fd: int) -> DumpToc:
    """The header and TOC of the dump open at ``fd``, from its start."""
    return read_toc(_At(fd))


def check_dump(fd: int, schema: str, name: str) -> None:
    """The dump's table of contents holds the table, its data, and nothing
    ``pgpart restore`` would refuse (pgpart.core.dump_rules): an archive is
    never accepted that restore could not bring back."""
    try:
        toc = read_toc_at(fd)
    except (DumpFormatError, OSError) as exc:
        raise ArchiveError(f"verification failed: pgpart cannot read the dump: {exc}") from None
    verdict = judge(toc.entries, schema, name)
    if not verdict.ok:
        raise ArchiveError(
            "verification failed: the dump holds what restore refuses: " + held(verdict.refused)
        )


def held(refused: Sequence[str], most: int = 5) -> str:
    """What a dump holds beyond its table, at most ``most`` of them named."""
    more = f" and {len(refused) - most} more" if len(refused) > most else ""
    return "; ".join(refused[:most]) + more
