"""An archive's manifest (``<base>.json``): what pgpart recorded beside a
dump, and where the archive came from.

A manifest is read back by a later archive run (to resume one that
stopped after writing its files) and by ``pgpart restore``. Neither trusts
it: every field is type-checked, the dump it names must be a plain name in
the manifest's own directory, and the dump's bytes must match its checksum.
The origin (the cluster's system identifier from pg_control_system(), the
database's name and oid) lets restore refuse to bring rows into another
database than the one they came from, unless asked to.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from pgpart.core.record import record
from pgpart.errors import ArchiveError

if TYPE_CHECKING:
    import psycopg

MANIFEST_FORMAT = "pgpart-archive/1"
CHECKSUM = "sha256"
# What pgpart names its dumps with (files.base_name): no "/", no
# leading ".", so a manifest can name nothing outside its own directory.
_DUMP_NAME = re.compile(r"\A[A-Za-z0-9_%~-][A-Za-z0-9_%~.-]{0,250}\.dump\Z")
_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")


@record
class Origin:
    """Which database of which cluster an archive came from."""

    system_identifier: str | None  # None: pg_control_system() was not readable
    database: str
    database_oid: int

    @property
    def key(self) -> str:
        """A short name for this database of this cluster, for file names."""
        text = f"{self.system_identifier}/{self.database_oid}"
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def describe(self) -> str:
        cluster = self.system_identifier or "an unknown cluster"
        return f"database {self.database} (oid {self.database_oid}) of cluster {cluster}"


def origin_of(conn: psycopg.Connection[Any]) -> Origin:
    """The connected database and its cluster."""
    from psycopg import errors

    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT (SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() s)"
            ).fetchone()
        system_identifier = str(row[0]) if row and row[0] is not None else None
    except errors.InsufficientPrivilege:
        system_identifier = None  # EXECUTE revoked: the database alone is known
    row = conn.execute(
        "SELECT d.datname::text, d.oid::int8 FROM pg_catalog.pg_database d"
        " WHERE d.datname = pg_catalog.current_database()"
    ).fetchone()
    assert row is not None
    return Origin(system_identifier, str(row[0]), int(row[1]))


@record
class Manifest:
    file: str  # the dump's name, in the manifest's directory
    database: str
    schema: str
    table: str
    parent_schema: str | None
    parent_table: str | None
    lower: str | None  # ISO 8601
    upper: str | None
    from_bound: str | None  # the bounds as PostgreSQL reads them (ATTACH)
    to_bound: str | None
    rows: int
    bytes: int
    sha256: str
    relation_oid: int | None
    origin: Origin | None  # None: written by a pgpart that did not record it


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def parse_manifest(data: bytes, where: str) -> Manifest:
    """A manifest's bytes, checked field by field; ArchiveError naming
    ``where`` when anything is missing, mistyped or unsafe."""
    try:
        m = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArchiveError(f"cannot read the manifest {where}: {exc}") from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise ArchiveError(f"{where} is not a pgpart archive manifest ({MANIFEST_FORMAT})")
    get = _Fields(m, where)
    checksum = m.get("checksum")
    if not isinstance(checksum, dict) or checksum.get("algorithm") != CHECKSUM:
        raise ArchiveError(f"the manifest {where} has no {CHECKSUM} checksum")
    digest = checksum.get("value")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise ArchiveError(f"the manifest {where} has no valid {CHECKSUM} checksum")
    file = get.text("file")
    if not _DUMP_NAME.match(file) or ".." in file:
        raise ArchiveError(
            f"the manifest {where} names the dump {file!r}: not a file name pgpart writes"
            " (a manifest names a dump in its own directory, never a path)"
        )
    parent = m.get("parent")
    parent_get = _Fields(parent if isinstance(parent, dict) else {}, where)
    system_identifier = m.get("system_identifier")
    database_oid = m.get("database_oid")
    origin = None
    if isinstance(database_oid, int) and (
        system_identifier is None or isinstance(system_identifier, str)
    ):
        origin = Origin(system_identifier, get.text("database"), database_oid)
    return Manifest(
        file=file,
        database=get.text("database"),
        schema=get.text("schema"),
        table=get.text("table"),
        parent_schema=parent_get.maybe_text("schema"),
        parent_table=parent_get.maybe_text("table"),
        lower=get.maybe_text("from"),
        upper=get.maybe_text("to"),
        from_bound=get.maybe_text("from_bound"),
        to_bound=get.maybe_text("to_bound"),
        rows=get.number("rows"),
        bytes=get.number("bytes"),
        sha256=digest,
        relation_oid=get.maybe_number("relation_oid"),
        origin=origin,
    )


class _Fields:
    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data, self.where = data, where

    def text(self, key: str) -> str:
        value = self.maybe_text(key)
        if value is None:
            raise ArchiveError(f"the manifest {self.where} has no {key!r}")
        return value

    def maybe_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and (not isinstance(value, str) or "\0" in value):
            raise ArchiveError(f"the manifest {self.where} has an invalid {key!r}")
        return value

    def number(self, key: str) -> int:
        value = self.maybe_number(key)
        if value is None:
            raise ArchiveError(f"the manifest {self.where} has no {key!r}")
        return value

    def maybe_number(self, key: str) -> int | None:
        value = self.data.get(key)
        valid = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if value is not None and not valid:
            raise ArchiveError(f"the manifest {self.where} has an invalid {key!r}")
        return value
