"""The archive ``pgpart restore`` is given, opened once and checked before
pg_restore reads a byte of it.

Nothing in it is trusted: whoever can write to the archive store (or the
directory an operator downloaded it to) may have replaced the manifest,
the dump, or both.

* The manifest is the file itself (never a symbolic link); the dump it
  names is a plain file name in the manifest's own directory, opened
  relative to that directory without following a link: no ``..``, no
  absolute path, no link leads anywhere else.
* The dump is opened once. Its size and sha256 are checked against the
  manifest, its table of contents is read by pgpart (pgpart.db.archive.dump_toc)
  and must hold the manifest's table alone (pgpart.core.dump_rules), and
  it must have been dumped from the database the manifest names.
* pg_restore then reads the dump from pgpart, not from the path: the
  header and TOC it gets are the very bytes that were checked, the rest is
  read again from the same descriptor and hashed on the way, and the last
  chunk is held back until the hash of everything sent equals the
  manifest's. A file changed in place meanwhile kills pg_restore before it
  can commit: its single transaction rolls back.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import IO

from pgpart.core.dump_rules import DumpVerdict, judge
from pgpart.core.identifiers import display_name
from pgpart.core.record import record
from pgpart.db.archive.dump_toc import DumpFormatError, DumpToc, held, read_toc
from pgpart.db.archive.manifest import Manifest, parse_manifest
from pgpart.db.archive.safety import SMALL_FILE
from pgpart.errors import ArchiveError

_CHUNK = 1 << 20


@record
class Archive:
    """A checked archive; its dump stays open at ``fd`` until close()."""

    manifest: Manifest
    manifest_path: Path
    dump_path: Path
    fd: int
    toc: DumpToc
    toc_bytes: bytes  # the header and TOC as they were checked
    verdict: DumpVerdict

    def close(self) -> None:
        os.close(self.fd)

    def feed(self, sink: IO[bytes]) -> bool:
        """Send the dump to ``sink`` (pg_restore's stdin); False, with its
        last chunk withheld, when what was read is not what was checked."""
        digest, offset, pending = hashlib.sha256(), 0, b""
        checked = self.toc_bytes
        while chunk := os.pread(self.fd, _CHUNK, offset):
            if offset < len(checked):
                n = min(len(chunk), len(checked) - offset)
                if chunk[:n] != checked[offset : offset + n]:
                    return False
            digest.update(chunk)
            offset += len(chunk)
            if pending:
                sink.write(pending)
            pending = chunk
        if offset != self.manifest.bytes or digest.hexdigest() != self.manifest.sha256:
            return False
        sink.write(pending)
        return True


def open_archive(path: Path) -> Archive:
    """The dump (or manifest) at ``path`` with its manifest, checked."""
    try:
        return _open_archive(path.expanduser().absolute())
    except ArchiveError as exc:
        raise ArchiveError(f"{exc.message}; nothing was restored") from None


def _open_archive(path: Path) -> Archive:
    manifest_name = path.name if path.suffix == ".json" else f"{path.stem}.json"
    try:
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ArchiveError(f"cannot open {path.parent}: {exc.strerror or exc}") from None
    try:
        manifest_path = path.parent / manifest_name
        m = _manifest(directory, manifest_path)
        if path.suffix != ".json" and path.name != m.file:
            raise ArchiveError(
                f"the manifest {manifest_path} describes the dump {m.file}, not {path.name}"
            )
        dump_path = path.parent / m.file
        fd = _open_file(directory, m.file, dump_path, "dump")
    finally:
        os.close(directory)
    try:
        toc, toc_bytes, verdict = _check(fd, dump_path, m)
    except BaseException:
        os.close(fd)
        raise
    return Archive(m, manifest_path, dump_path, fd, toc, toc_bytes, verdict)


def _manifest(directory: int, where: Path) -> Manifest:
    fd = _open_file(directory, where.name, where, "manifest")
    try:
        data = os.read(fd, SMALL_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > SMALL_FILE:
        raise ArchiveError(f"{where} is not a pgpart archive manifest (far too large)")
    return parse_manifest(data, str(where))


def _open_file(directory: int, name: str, where: Path, what: str) -> int:
    """``name`` in ``directory``: a regular file, never through a link."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=directory)
    except FileNotFoundError:
        if what == "manifest":
            raise ArchiveError(
                f"no manifest {where} beside the dump: pgpart restores the archives it wrote"
            ) from None
        raise ArchiveError(f"the dump {where} that its manifest names is missing") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArchiveError(
                f"the {what} {where} is a symbolic link: refused (an archive's files are read"
                " where they lie, never through a link)"
            ) from None
        raise ArchiveError(f"cannot open the {what} {where}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ArchiveError(f"the {what} {where} is not a regular file")
    return fd


def _check(fd: int, where: Path, m: Manifest) -> tuple[DumpToc, bytes, DumpVerdict]:
    size = os.fstat(fd).st_size
    if size != m.bytes:
        raise ArchiveError(
            f"{where}: {size} bytes, the manifest says {m.bytes}"
            " (the file is damaged or not this archive)"
        )
    digest, offset = hashlib.sha256(), 0
    while chunk := os.pread(fd, _CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    if digest.hexdigest() != m.sha256:
        raise ArchiveError(
            f"{where}: sha256 {digest.hexdigest()} differs from the manifest's {m.sha256}"
            " (the file is damaged or not this archive)"
        )
    toc_bytes = os.pread(fd, _toc_size(fd, where), 0)
    toc = _toc(toc_bytes, where)
    verdict = judge(toc.entries, m.schema, m.table)
    if not verdict.ok:
        raise ArchiveError(
            f"{where} holds more than the table {display_name(m.schema, m.table)} its manifest"
            f" names, or not it: {held(verdict.refused)}"
        )
    if toc.dbname != m.database:
        raise ArchiveError(
            f"{where} was dumped from database {toc.dbname}, its manifest says {m.database}:"
            " it is not this archive"
        )
    return toc, toc_bytes, verdict


def _toc_size(fd: int, where: Path) -> int:
    from pgpart.db.archive.dump_toc import read_toc_at

    try:
        return read_toc_at(fd).size
    except DumpFormatError as exc:
        raise ArchiveError(f"{where} is not a dump pgpart can restore: {exc}") from None


def _toc(data: bytes, where: Path) -> DumpToc:
    """The TOC parsed from exactly the bytes that will be sent."""
    import io

    try:
        return read_toc(io.BytesIO(data))
    except DumpFormatError as exc:
        raise ArchiveError(f"{where} is not a dump pgpart can restore: {exc}") from None
