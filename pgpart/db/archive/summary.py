"""A table's archives in its archive_dir, for ``pgpart stats``: how many,
the span they cover, their rows and bytes, from the manifests (files that
are not pgpart's, or not readable, are passed over)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgpart.core.record import record
from pgpart.core.wording import counted
from pgpart.db.archive.manifest import parse_manifest
from pgpart.db.archive.safety import ArchiveDir
from pgpart.errors import ArchiveError


@record
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
    ``database`` (files that are not pgpart's, or not readable, are passed over)."""
    found = []
    try:
        held = ArchiveDir.open(directory, create=False)
    except ArchiveError:
        held = None
    if held is not None:
        with held:
            for name in sorted(held.names()):
                data = held.read_own(name) if name.endswith(".json") else None
                if data is None:
                    continue
                try:
                    m = parse_manifest(data, name)
                except ArchiveError:
                    continue
                if (m.database, m.parent_schema, m.parent_table) == (database, schema, table):
                    found.append(m)
    froms = sorted(m.lower for m in found if m.lower)
    tos = sorted(m.upper for m in found if m.upper)
    return ArchiveSummary(
        directory=str(directory),
        count=len(found),
        oldest_from=froms[0] if froms else None,
        newest_to=tos[-1] if tos else None,
        rows=sum(m.rows for m in found),
        bytes=sum(m.bytes for m in found),
    )
