"""The files of an archive: names, manifests, checksums, atomic writes.

An archive is two files in archive_dir, named from the database, schema,
table and bounds (``<base>.dump`` and its manifest ``<base>.json``), plus
``<base>.sent`` once archive_command has succeeded for it. Every file is
written under a temporary name, flushed to disk, then linked to its final
name: link(2) fails when that name exists, so nothing is ever overwritten
and a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pgpart.core.wording import counted
from pgpart.errors import ExitCode, PgpartError

MANIFEST_FORMAT = "pgpart-archive/1"
CHECKSUM = "sha256"
# File names stay well under the 255 bytes most file systems allow, leaving
# room for the temporary-name decorations and the "~N" of a second archive.
MAX_BASE = 200
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_CHUNK = 1 << 20


class ArchiveError(PgpartError):
    """Archiving or restoring failed; the rows are still in the database."""

    exit_code = ExitCode.CRITICAL


def _component(text: str) -> str:
    """An identifier as file-name text: letters, digits, _ and - as they
    are, every other byte of its UTF-8 as %XX (so '.' separates parts)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode("utf-8"))


def bound_label(value: datetime | None) -> str:
    if value is None:
        return "unbounded"
    if value.tzinfo is not None:
        return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%dT%H%M%S")


def base_name(
    database: str, schema: str, table: str, lower: datetime | None, upper: datetime | None
) -> str:
    """``db.schema.table.FROM-TO``, each name escaped; long names end in a
    hash of the whole, so two tables never share a name."""
    bounds = f"{bound_label(lower)}-{bound_label(upper)}"
    full = ".".join([_component(database), _component(schema), _component(table), bounds])
    if len(full) <= MAX_BASE:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:16]
    return f"{full[: MAX_BASE - 17]}~{digest}"


@dataclass(frozen=True, slots=True)
class ArchivePaths:
    directory: Path
    base: str

    @property
    def dump(self) -> Path:
        return self.directory / f"{self.base}.dump"

    @property
    def manifest(self) -> Path:
        return self.directory / f"{self.base}.json"

    @property
    def sent(self) -> Path:
        return self.directory / f"{self.base}.sent"

    def temporary(self, suffix: str) -> Path:
        return self.directory / f".{self.base}.{suffix}.{os.getpid()}.tmp"


def candidates(directory: Path, base: str, limit: int = 1000) -> Iterator[ArchivePaths]:
    """The names an archive of one partition may take: ``base``, then
    ``base~2``, ``base~3``... (a partition restored and archived again)."""
    yield ArchivePaths(directory, base)
    for n in range(2, limit):
        yield ArchivePaths(directory, f"{base}~{n}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Claim:
    """One run's hold on archiving one partition: an exclusive flock(2) on
    ``.<base>.lock`` in archive_dir, so that two pgpart runs at once never
    dump, send or drop the same partition twice. The kernel drops the lock
    when the process dies, however it dies; the file is removed by its
    holder (a run that finds it gone or replaced after locking it tries
    again, so two runs never both hold one)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)


def claim(directory: Path, base: str, *, wait_s: float = 0.0) -> Claim | str:
    """The claim on ``base``, or what another run holding it wrote in it
    (``pid N on HOST since TIME``) once ``wait_s`` seconds have passed
    without it being let go (0: not waited for at all)."""
    path = directory / f".{base}.lock"
    deadline = time.monotonic() + wait_s
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            if time.monotonic() >= deadline:
                return holder or "another process"
            time.sleep(0.05)
            continue
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False  # its holder removed it between our open and our lock
        if not same:
            os.close(fd)
            continue
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}\n".encode())
        return Claim(path, fd)


def table_lock_base(database: str, schema: str, table: str) -> str:
    """The claim name for detaching from one partitioned table (PostgreSQL
    lets one partition per table be pending a concurrent detach at a time)."""
    return ".".join(["detach", _component(database), _component(schema), _component(table)])


def ensure_dir(directory: Path) -> None:
    """Create archive_dir if needed and prove a file can be written there,
    before anything is detached."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".pgpart-probe.{os.getpid()}.tmp"
        with probe.open("wb") as f:
            f.write(b"pgpart")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        raise ArchiveError(
            f"archive_dir {directory} is not a writable directory: {exc.strerror or exc}"
            " (nothing was detached)"
        ) from None


def publish(temporary: Path, final: Path) -> None:
    """Give a complete, flushed file its final name; never replace one."""
    with temporary.open("rb") as f:
        os.fsync(f.fileno())
    os.link(temporary, final)  # FileExistsError when the name is taken
    temporary.unlink()
    fsync_dir(final.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(paths: ArchivePaths, final: Path, suffix: str, content: bytes) -> None:
    temporary = paths.temporary(suffix)
    try:
        with temporary.open("xb") as f:
            f.write(content)
        publish(temporary, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"cannot read the manifest {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ArchiveError(f"{path} is not a pgpart archive manifest ({MANIFEST_FORMAT})")
    for key in ("file", "schema", "table", "rows", "checksum"):
        if key not in data:
            raise ArchiveError(f"the manifest {path} lacks {key!r}")
    return data


def manifest_for(path: Path) -> tuple[Path, dict[str, Any]]:
    """A dump or a manifest path -> (the manifest's path, its content)."""
    manifest = path if path.suffix == ".json" else path.with_suffix(".json")
    if not manifest.exists():
        raise ArchiveError(
            f"no manifest {manifest} beside {path}: pgpart restores the archives it wrote"
        )
    return manifest, read_manifest(manifest)


def verify_file(dump: Path, manifest: dict[str, Any]) -> None:
    """The dump is the one the manifest describes (its size and checksum)."""
    checksum = manifest["checksum"]
    if not dump.exists():
        raise ArchiveError(f"the dump {dump} is missing")
    if checksum.get("algorithm") != CHECKSUM:
        raise ArchiveError(f"{dump}: unknown checksum algorithm {checksum.get('algorithm')!r}")
    actual = sha256_file(dump)
    if actual != checksum.get("value"):
        raise ArchiveError(
            f"{dump}: sha256 {actual} differs from the manifest's {checksum.get('value')}"
            " (the file is damaged or not this archive)"
        )


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    """What archive_dir holds for one table (``stats`` shows it)."""

    directory: str
    count: int
    oldest_from: str | None  # ISO 8601, as the manifests have them
    newest_to: str | None
    rows: int
    bytes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "dir": self.directory,
            "count": self.count,
            "oldest_from": self.oldest_from,
            "newest_to": self.newest_to,
            "rows": self.rows,
            "bytes": self.bytes,
        }

    def line(self) -> str:
        if not self.count:
            return f"archives: none yet in {self.directory}"
        return (
            f"archives: {self.count} in {self.directory}, from {self.oldest_from}"
            f" to {self.newest_to} ({counted(self.rows, 'row')}, {self.bytes:,} bytes)"
        )


def summarize(directory: Path, database: str, schema: str, table: str) -> ArchiveSummary:
    """The manifests in ``directory`` of partitions of ``schema.table`` in
    ``database`` (unreadable or foreign files are passed over)."""
    found: list[dict[str, Any]] = []
    with contextlib.suppress(OSError):
        for path in sorted(directory.glob("*.json")):
            try:
                m = read_manifest(path)
            except ArchiveError:
                continue
            parent = m.get("parent") or {}
            if (m.get("database"), parent.get("schema"), parent.get("table")) == (
                database,
                schema,
                table,
            ):
                found.append(m)
    froms = sorted(str(m["from"]) for m in found if m.get("from"))
    tos = sorted(str(m["to"]) for m in found if m.get("to"))
    return ArchiveSummary(
        directory=str(directory),
        count=len(found),
        oldest_from=froms[0] if froms else None,
        newest_to=tos[-1] if tos else None,
        rows=sum(int(m.get("rows") or 0) for m in found),
        bytes=sum(int(m.get("bytes") or 0) for m in found),
    )
