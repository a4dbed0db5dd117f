"""The names of an archive's files, and the names taken in archive_dir.

An archive is two files in archive_dir, named from the database, schema,
table and bounds (``<base>.dump`` and its manifest ``<base>.json``), plus
``<base>.sent`` once archive_command has succeeded for it. How they are
written (never through a link, never over another file, readable by their
owner only) is pgpart.db.archive.safety's; what a manifest holds,
pgpart.db.archive.manifest's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timezone

from pgpart.core.record import record

# File names stay well under the 255 bytes most file systems allow, leaving
# room for the temporary-name decorations and the "~N" of a second archive.
MAX_BASE = 200
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


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


@record
class ArchiveNames:
    """The names of one archive's files in archive_dir."""

    base: str

    @property
    def dump(self) -> str:
        return f"{self.base}.dump"

    @property
    def manifest(self) -> str:
        return f"{self.base}.json"

    @property
    def sent(self) -> str:
        return f"{self.base}.sent"


def candidates(base: str, limit: int = 1000) -> Iterator[ArchiveNames]:
    """The names an archive of one partition may take: ``base``, then
    ``base~2``, ``base~3``... (a partition restored and archived again, or
    a name another database's archive took first)."""
    yield ArchiveNames(base)
    for n in range(2, limit):
        yield ArchiveNames(f"{base}~{n}")


def claim_name(base: str, origin_key: str) -> str:
    """The claim (and temporary-file prefix) for archiving ``base`` from one
    database of one cluster: a fleet's databases of one name, archiving
    into one archive_dir, never wait for each other."""
    return f"{base}.{origin_key}"


def table_claim_name(origin_key: str, database: str, schema: str, table: str) -> str:
    """The claim for detaching from one partitioned table (PostgreSQL lets
    one partition per table be pending a concurrent detach at a time)."""
    parts = ["detach", _component(database), _component(schema), _component(table)]
    name = ".".join(parts)
    if len(name) > MAX_BASE:
        name = f"detach.{hashlib.sha256(name.encode()).hexdigest()[:32]}"
    return f"{name}.{origin_key}"
