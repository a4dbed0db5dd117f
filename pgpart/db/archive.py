"""Archive an expired partition, then drop it (retention_mode = "archive").

The executor hands an ArchivePartition here. In order, and each only after
the one before succeeded:

1. find pg_dump/pg_restore of the server's major or later, and prove that
   archive_dir takes files: a failure here leaves the partition attached;
   Then claim it (archive_files.claim: a flock in archive_dir): a
   partition another pgpart run holds is skipped, never archived twice;
2. mark the partition (the comment ``check`` reports as detached_leftover,
   with its bounds) and detach it, CONCURRENTLY where possible, with the
   lock timeout and retries of any retention step;
3. count its rows; ``pg_dump -Fc`` it (outside any transaction) into a
   temporary file, hashing (sha256) and feeding every byte to ``pg_restore
   --data-only`` on the way, whose COPY lines must number exactly the
   counted rows (archive_tools.stream_dump: the verification costs no second
   pass); check that ``pg_restore --list`` shows the table and its data;
   link the file to its final name; write the manifest beside it the same way;
4. run archive_command with {path} and {manifest}, which must exit 0
   within its timeout (``<base>.sent`` records that it did);
5. drop the detached table.

A failure after step 2 leaves the table detached and marked: ``check``
reports it, and the next maintain plans it again from the mark. That run
finds the archive by its manifest (same relation oid, same rows, the dump's
checksum intact) and carries on from step 4 instead of dumping again.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart import __version__
from pgpart.core.archive_plan import archive_mark
from pgpart.core.bounds import format_bound
from pgpart.core.identifiers import display_name
from pgpart.core.plan import ArchivePartition, DetachPartition, DropLeftover
from pgpart.core.wording import counted
from pgpart.db import archive_command
from pgpart.db.archive_files import (
    CHECKSUM,
    MANIFEST_FORMAT,
    ArchiveError,
    ArchivePaths,
    base_name,
    candidates,
    claim,
    ensure_dir,
    manifest_bytes,
    publish,
    read_manifest,
    sha256_file,
    table_lock_base,
    write_new,
)
from pgpart.db.archive_tools import (
    Tools,
    check_toc,
    client_for,
    dump_command,
    find_tools,
    stream_dump,
)
from pgpart.db.ddl import DdlOptions, Step, script, steps_for
from pgpart.db.ddl_retention import mark_step

if TYPE_CHECKING:
    import psycopg

# How long a run waits for another one's detach from the same table (its
# lock waits and retries are bounded by lock_timeout and retry_for).
DETACH_WAIT_S = 600.0

RunSteps = Callable[[Sequence[Step]], tuple[bool, bool]]


class QueryFailed(Exception):
    """A query of pgpart's own failed; the executor words it (and notices a
    lost connection)."""

    def __init__(self, where: str, cause: Exception) -> None:
        super().__init__(where)
        self.where = where
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Outcome:
    skipped: bool  # nothing to do any more (the table is gone)
    script: tuple[str, ...] | None = None  # the dry run's account


def run_archive(
    action: ArchivePartition,
    conn: psycopg.Connection[Any],
    ddl: DdlOptions,
    *,
    dry_run: bool,
    run_steps: RunSteps,
    note: Callable[[str], None],
) -> Outcome:
    run = _Run(action, conn, ddl, run_steps, note)
    return run.describe() if dry_run else run.carry_out()


class _Run:
    def __init__(
        self,
        action: ArchivePartition,
        conn: psycopg.Connection[Any],
        ddl: DdlOptions,
        run_steps: RunSteps,
        note: Callable[[str], None],
    ) -> None:
        self.a, self.conn, self.ddl = action, conn, ddl
        self.run_steps, self.note = run_steps, note
        self.part = display_name(action.partition_schema, action.partition)
        self.role: str | None = None  # pg_dump --role, see _dump_role
        self.timeout_s = action.archive_timeout_s  # how long archive_command may run
        # Before anything else: a dump that cannot be made detaches nothing.
        self.tools: Tools = find_tools(action.pg_bin, conn.info.server_version // 10000)
        self.directory = Path(action.archive_dir).expanduser().absolute()
        self.base = base_name(
            conn.info.dbname, action.partition_schema, action.partition, action.lower, action.upper
        )

    # --- the steps of the database ------------------------------------------

    def _detach_steps(self) -> tuple[Step, ...]:
        a = self.a
        if a.detached:
            return ()
        comment = archive_mark(a.table, a.lower, a.upper)
        mark = mark_step(a.table, a.partition_schema, a.partition, self.ddl, a.owner, comment)
        assert a.upper is not None  # an attached partition has bounds
        detach = DetachPartition(
            a.table, a.partition, a.partition_schema, a.lower, a.upper, a.concurrently
        )
        return (mark, *steps_for(detach, self.ddl))

    def _drop_steps(self) -> tuple[Step, ...]:
        a = self.a
        return steps_for(DropLeftover(a.table, a.partition, a.partition_schema, a.owner), self.ddl)

    def _dump_command(self) -> list[str]:
        a = self.a
        return dump_command(
            self.tools, a.partition_schema, a.partition, self.ddl.lock_timeout_ms, role=self.role
        )

    # --- dry run -------------------------------------------------------------

    def describe(self) -> Outcome:
        first = ArchivePaths(self.directory, self.base)
        lines = [*script(self._detach_steps())]
        lines.append(f"-- {self.tools.version}: {shlex.join(self._dump_command())} > {first.dump}")
        lines.append(
            "-- verify: the dump's rows (pg_restore --data-only, reading it as it is written) equal"
            " count(*), pg_restore --list shows the table and its data, sha256 of the file"
        )
        lines.append(f"-- manifest: {first.manifest}")
        if self.a.archive_command:
            limit = self.timeout_s
            after = f" (killed after {archive_command.describe_timeout(limit)})" if limit else ""
            lines.append(f"-- archive_command{after}: {self.a.archive_command}")
        lines.extend(script(self._drop_steps()))
        return Outcome(False, tuple(lines))

    # --- for real ------------------------------------------------------------

    def carry_out(self) -> Outcome:
        ensure_dir(self.directory)
        try:
            held = claim(self.directory, self.base)
        except OSError as exc:
            raise ArchiveError(
                f"locking {self.base} in archive_dir {self.directory}: {exc.strerror or exc}"
                " (nothing was detached)"
            ) from None
        if isinstance(held, str):
            # Another run (cron overlapping a manual one) is on it: it archives
            # and drops it, or fails and leaves it to the next run. Not waited
            # for, so overlapping runs never queue up behind a long dump.
            self.note(f"-- skipped: another pgpart run ({held}) is archiving {self.part}")
            return Outcome(skipped=True)
        try:
            return self._claimed()
        finally:
            held.release()

    def _claimed(self) -> Outcome:
        # The plan was read before the claim: each step's guard sees what
        # another run did since (archived and dropped it: gone; failed after
        # the detach: detached, resumed from its manifest, if any).
        self.role = self._dump_role()
        if not self.a.detached and self._detach() is None:
            return Outcome(skipped=True)  # the mark found it gone since the plan
        facts = self._table_facts()
        if facts is None:
            return Outcome(skipped=True)
        oid, rows = facts
        paths, manifest = self._existing(oid, rows)
        if manifest is None:
            manifest = self._write(paths, oid, rows)
        else:
            self.note(
                f"-- resumed: {paths.dump} ({counted(rows, 'row')}) was archived by an earlier run"
            )
        self._send(paths)
        self.run_steps(self._drop_steps())
        return Outcome(skipped=False)

    def _dump_role(self) -> str | None:
        """The role pg_dump reads the table as (--role): None for the login
        role itself; the owner when only membership grants the right (a
        NOINHERIT member). Refused before detaching when neither can read it."""
        import psycopg

        a = self.a
        try:
            row = self.conn.execute(
                "SELECT pg_catalog.has_table_privilege(c.oid, 'SELECT'),"
                " pg_catalog.pg_has_role(%(owner)s, 'MEMBER')"
                " AND pg_catalog.has_table_privilege(%(owner)s, c.oid, 'SELECT'),"
                " c.relkind::text FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %(schema)s AND c.relname = %(name)s",
                {"owner": a.owner, "schema": a.partition_schema, "name": a.partition},
            ).fetchone()
        except psycopg.Error as exc:
            raise QueryFailed(f"checking that pg_dump may read {self.part}", exc) from None
        if row is None:
            return None
        if row[2] != "r":
            # pg_dump -t of a partitioned table dumps no rows of its children,
            # and of a foreign table none at all: nothing to verify an archive by.
            kind = "itself partitioned" if row[2] == "p" else f"of relkind {row[2]!r}"
            raise ArchiveError(
                f"{self.part} is {kind}: archive mode dumps plain tables only;"
                " nothing was detached (use retention_mode = detach for this table)"
            )
        if row[0]:
            return None
        if row[1]:
            return a.owner
        raise ArchiveError(
            f"pg_dump could not read {self.part}: neither the login role nor its owner"
            f" {a.owner} (as a member) has SELECT on it; nothing was detached"
        )

    def _detach(self) -> bool | None:
        """Mark and detach, one run at a time per parent: PostgreSQL refuses
        a concurrent detach while another partition of the same table is
        pending one ("already pending detach"), which another pgpart run
        archiving the same table would otherwise cause. None: gone."""
        t = self.a.table
        base = table_lock_base(self.conn.info.dbname, t.schema, t.name)
        held = claim(self.directory, base, wait_s=DETACH_WAIT_S)
        if isinstance(held, str):
            raise ArchiveError(
                f"another pgpart run ({held}) has been detaching from {t.qualified} for"
                f" {DETACH_WAIT_S:g} s; {self.part} was not detached"
            )
        try:
            for i, step in enumerate(self._detach_steps()):
                _, skipped = self.run_steps([step])
                if skipped and i == 0:
                    return None
        finally:
            held.release()
        return True

    def _table_facts(self) -> tuple[int, int] | None:
        """(oid, rows) of the detached table; None when it no longer exists."""
        import psycopg

        a = self.a
        try:
            row = self.conn.execute(
                "SELECT c.oid, c.relispartition FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname = %s",
                (a.partition_schema, a.partition),
            ).fetchone()
            if row is None:
                return None
            if row[1]:
                raise ArchiveError(f"{self.part} is still a partition: it cannot be archived")
            query = sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(a.partition_schema, a.partition)
            )
            self.note(query.as_string(None))
            with self.conn.transaction():
                if self.role:  # as pg_dump will read it
                    self.conn.execute("SELECT set_config('role', %s, true)", (self.role,))
                counted = self.conn.execute(query).fetchone()
        except psycopg.Error as exc:
            raise QueryFailed(f"counting the rows of {self.part} to archive it", exc) from None
        assert counted is not None
        return int(row[0]), int(counted[0])

    def _existing(self, oid: int, rows: int) -> tuple[ArchivePaths, dict[str, Any] | None]:
        """The archive an earlier run finished for this very table (same
        relation, same rows, dump intact), else the first free name."""
        for paths in candidates(self.directory, self.base):
            if paths.manifest.exists():
                manifest = read_manifest(paths.manifest)
                same = (
                    manifest.get("relation_oid") == oid
                    and manifest.get("database") == self.conn.info.dbname
                    and manifest.get("rows") == rows
                    and paths.dump.exists()
                    and sha256_file(paths.dump) == manifest["checksum"].get("value")
                )
                if same:
                    return paths, manifest
                continue
            if paths.dump.exists() or paths.sent.exists():
                continue  # left by a run that stopped before its manifest
            return paths, None
        raise ArchiveError(f"too many archives named {self.base}~N in {self.directory}")

    def _write(self, paths: ArchivePaths, oid: int, rows: int) -> dict[str, Any]:
        a = self.a
        temporary = paths.temporary("dump")
        command = self._dump_command()
        self.note(f"-- {shlex.join(command)} > {paths.dump}")
        try:
            dumped = stream_dump(self.tools, client_for(self.conn), command, temporary)
            if dumped.rows != rows:
                raise ArchiveError(
                    f"verification failed: the dump of {self.part} holds"
                    f" {counted(dumped.rows, 'row')}, the table {rows}"
                )
            check_toc(self.tools, temporary, a.partition_schema, a.partition)
            checksum, size = dumped.sha256, dumped.size
            publish(temporary, paths.dump)
            manifest = self._manifest(paths, oid, rows, size, checksum)
            write_new(paths, paths.manifest, "json", manifest_bytes(manifest))
        except OSError as exc:
            raise ArchiveError(
                f"writing the archive of {self.part} to {self.directory}: {exc.strerror or exc}"
            ) from None
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink()
        self.note(
            f"-- archived {counted(rows, 'row')} to {paths.dump} ({size} bytes, sha256 {checksum})"
        )
        return manifest

    def _manifest(
        self, paths: ArchivePaths, oid: int, rows: int, size: int, checksum: str
    ) -> dict[str, Any]:
        a, t = self.a, self.a.table
        return {
            "format": MANIFEST_FORMAT,
            "file": paths.dump.name,
            "database": self.conn.info.dbname,
            "schema": a.partition_schema,
            "table": a.partition,
            "parent": {"schema": t.schema, "table": t.name, "oid": t.oid},
            "key_column": t.key_column,
            "key_type": t.key_kind.value,
            "from": _iso(a.lower),
            "to": _iso(a.upper),
            "from_bound": format_bound(a.lower, t.key_kind) if a.lower else None,
            "to_bound": format_bound(a.upper, t.key_kind) if a.upper else None,
            "rows": rows,
            "bytes": size,
            "checksum": {"algorithm": CHECKSUM, "value": checksum},
            "relation_oid": oid,
            "server_version": self.conn.info.server_version,
            "pg_dump_version": self.tools.version,
            "pgpart_version": __version__,
            "created_at": datetime.now(timezone.utc).isoformat(),
        }

    def _send(self, paths: ArchivePaths) -> None:
        command = self.a.archive_command
        if not command:
            return
        if paths.sent.exists():
            self.note(f"-- archive_command already succeeded for {paths.dump}")
            return
        self.note(f"-- archive_command: {command}")
        archive_command.run_archive_command(command, paths.dump, paths.manifest, self.timeout_s)
        stamp = f"{datetime.now(timezone.utc).isoformat()} {command}\n".encode()
        try:
            write_new(paths, paths.sent, "sent", stamp)
        except FileExistsError:
            pass  # a concurrent run sent it too
        except OSError as exc:
            raise ArchiveError(f"recording that {paths.dump} was sent: {exc}") from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
