"""One partition's archive in archive_dir: finding the one an earlier run
finished, giving a new dump its name, its manifest, its ``.sent`` mark.

Only files of pgpart's own are looked at (regular files of the running
user's, never through a link: pgpart.db.archive.safety), and an archive an
earlier run left is reused only when its manifest names this very table
(same cluster, database and relation, same rows) and its dump is intact
and of that table alone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pgpart import __version__
from pgpart.core.bounds import format_bound
from pgpart.core.plan import ArchivePartition
from pgpart.core.record import record
from pgpart.db.archive import command as archive_command
from pgpart.db.archive.dump_toc import check_dump
from pgpart.db.archive.files import ArchiveNames, candidates
from pgpart.db.archive.manifest import (
    CHECKSUM,
    MANIFEST_FORMAT,
    Manifest,
    Origin,
    manifest_bytes,
    parse_manifest,
)
from pgpart.db.archive.safety import ArchiveDir
from pgpart.errors import ArchiveError

_CHUNK = 1 << 20


@record
class DumpFacts:
    """What the new dump is: for its manifest."""

    oid: int
    rows: int
    size: int
    sha256: str
    server_version: int
    pg_dump_version: str


class Store:
    def __init__(
        self,
        directory: ArchiveDir,
        base: str,
        key: str,
        origin: Origin,
        note: Callable[[str], None],
    ) -> None:
        self.dir, self.base, self.key, self.origin, self.note = directory, base, key, origin, note

    def existing(self, a: ArchivePartition, oid: int, rows: int) -> ArchiveNames | None:
        """The archive an earlier run finished for this very table, if any."""
        for names in candidates(self.base):
            data = self.dir.read_own(names.manifest)
            if data is None:
                continue
            try:
                m = parse_manifest(data, str(self.dir.show(names.manifest)))
            except ArchiveError:
                continue
            same = (m.origin, m.relation_oid, m.rows, m.file) == (
                self.origin,
                oid,
                rows,
                names.dump,
            )
            if same and self._intact(names, m, a):
                return names
        return None

    def _intact(self, names: ArchiveNames, m: Manifest, a: ArchivePartition) -> bool:
        fd = self.dir.open_own(names.dump)
        if fd is None:
            return False
        try:
            if _sha256(fd) != m.sha256:
                return False
            check_dump(fd, a.partition_schema, a.partition)
        except ArchiveError:
            return False
        finally:
            os.close(fd)
        return True

    def publish(self, temporary: str, fd: int) -> ArchiveNames:
        """The dump under the first name no file takes yet (another
        database's archive of a table of the same name, an earlier one
        restored since...): link(2) never replaces what stands there."""
        for names in candidates(self.base):
            if any(self.dir.taken(n) for n in (names.dump, names.manifest, names.sent)):
                continue
            try:
                self.dir.publish(temporary, fd, names.dump)
            except FileExistsError:
                continue  # taken since we looked
            return names
        raise ArchiveError(f"too many archives named {self.base}~N in {self.dir.path}")

    def write_manifest(self, names: ArchiveNames, a: ArchivePartition, d: DumpFacts) -> None:
        manifest = _manifest(names, a, d, self.origin)
        self.dir.write_new(f"{self.key}.json", names.manifest, manifest_bytes(manifest))

    def send(self, names: ArchiveNames, command: str, timeout_s: float | None) -> None:
        """archive_command, unless it succeeded for this archive already."""
        dump, manifest = self.dir.show(names.dump), self.dir.show(names.manifest)
        if self.dir.owned(names.sent) is not None:
            self.note(f"-- archive_command already succeeded for {dump}")
            return
        self.note(f"-- archive_command: {command}")
        archive_command.run_archive_command(command, dump, manifest, timeout_s)
        stamp = f"{datetime.now(timezone.utc).isoformat()} {command}\n".encode()
        try:
            self.dir.write_new(f"{self.key}.sent", names.sent, stamp)
        except OSError as exc:
            raise ArchiveError(
                f"recording that {dump} was sent ({self.dir.show(names.sent)}):"
                f" {exc.strerror or exc}; it will be sent again"
            ) from None


def _manifest(
    names: ArchiveNames, a: ArchivePartition, d: DumpFacts, origin: Origin
) -> dict[str, Any]:
    t = a.table
    return {
        "format": MANIFEST_FORMAT,
        "file": names.dump,
        "database": origin.database,
        "database_oid": origin.database_oid,
        "system_identifier": origin.system_identifier,
        "schema": a.partition_schema,
        "table": a.partition,
        "parent": {"schema": t.schema, "table": t.name, "oid": t.oid},
        "key_column": t.key_column,
        "key_type": t.key_kind.sql_type,
        # an integer or uuid key that encodes time: how ("from"/"to" are decoded)
        **({"key_encoding": e.value} if (e := t.key_kind.encoding) is not None else {}),
        "from": _iso(a.lower),
        "to": _iso(a.upper),
        "from_bound": format_bound(a.lower, t.key_kind) if a.lower else None,
        "to_bound": format_bound(a.upper, t.key_kind) if a.upper else None,
        "rows": d.rows,
        "bytes": d.size,
        "checksum": {"algorithm": CHECKSUM, "value": d.sha256},
        "relation_oid": d.oid,
        "server_version": d.server_version,
        "pg_dump_version": d.pg_dump_version,
        "pgpart_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _sha256(fd: int) -> str:
    """The sha256 of the file open at ``fd``, read from its start (pread)."""
    digest, offset = hashlib.sha256(), 0
    while chunk := os.pread(fd, _CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()
