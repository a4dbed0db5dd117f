"""Archive an expired partition, then drop it (retention_mode = "archive").

The executor hands an ArchivePartition here. In order, and each only after
the one before succeeded:

1. find pg_dump/pg_restore of the server's major or later, and open
   archive_dir (safety: a directory no other account may write, or
   a sticky one): a failure here leaves the partition attached. Then claim
   it (safety.claim: a flock in archive_dir, named for this
   database of this cluster): a partition another pgpart run holds is
   skipped, never archived twice; a killed run's partial files are removed;
2. detach it, CONCURRENTLY where possible, with the lock timeout and
   retries of any retention step, marked as retention marks what it
   detaches (pgpart.db.ddl.retention_marks: the mark ``check`` reports as
   detached_leftover, on a constraint, the table's own comment untouched);
3. count its rows; ``pg_dump -Fc`` it (outside any transaction) into a
   temporary file, hashing (sha256) and feeding every byte to ``pg_restore
   --data-only`` on the way, whose COPY lines must number exactly the
   counted rows (dump_stream.stream_dump: the verification costs no second
   pass); check that its table of contents holds the table and nothing
   restore would refuse (core.dump_rules); link the file to its final name
   and write the manifest beside it (store);
4. run archive_command with {path} and {manifest}, which must exit 0
   within its timeout (``<base>.sent`` records that it did);
5. drop the detached table.

A failure after step 2 leaves the table detached and marked: ``check``
reports it, and the next maintain plans it again from the mark. That run
finds the archive by its manifest (same cluster, database and relation,
same rows, the dump's checksum intact) and carries on from step 4 instead
of dumping again.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.plan import ArchivePartition
from pgpart.core.record import record
from pgpart.core.retention_rules import Removal, applies
from pgpart.core.wording import counted
from pgpart.db.archive import command as archive_command
from pgpart.db.archive.dump_stream import stream_dump
from pgpart.db.archive.dump_toc import check_dump
from pgpart.db.archive.files import ArchiveNames, base_name, claim_name, table_claim_name
from pgpart.db.archive.manifest import Origin, origin_of
from pgpart.db.archive.safety import ArchiveDir, claim
from pgpart.db.archive.store import DumpFacts, Store
from pgpart.db.archive.tools import Tools, client_for, dump_command, find_tools
from pgpart.db.ddl.retention import archive_detach_steps, archive_drop_step, archive_marking
from pgpart.db.ddl.step import DdlOptions, Step, script
from pgpart.errors import ArchiveError

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


@record
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
    # Set by carry_out (a dry run has none of them).
    origin: Origin
    dir: ArchiveDir
    key: str  # the claim on this partition, and its temporary files' prefix
    store: Store

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
        self.marking = archive_marking(action)  # one mark for every step

    # --- the steps of the database ------------------------------------------

    def _detach_steps(self) -> tuple[Step, ...]:
        return archive_detach_steps(self.a, self.marking, self.ddl)

    def _drop_steps(self) -> tuple[Step, ...]:
        return (archive_drop_step(self.a, self.marking, self.ddl),)

    def _dump_command(self) -> list[str]:
        a = self.a
        return dump_command(
            self.tools, a.partition_schema, a.partition, self.ddl.lock_timeout_ms, role=self.role
        )

    # --- dry run -------------------------------------------------------------

    def describe(self) -> Outcome:
        first = ArchiveNames(self.base)
        dump, manifest = self.directory / first.dump, self.directory / first.manifest
        lines = [*script(self._detach_steps())]
        lines.append(f"-- {self.tools.version}: {shlex.join(self._dump_command())} > {dump}")
        lines.append(
            "-- verify: the dump's rows (pg_restore --data-only, reading it as it is written) equal"
            " count(*), its table of contents holds the table and nothing restore would refuse,"
            " sha256 of the file"
        )
        lines.append(f"-- manifest: {manifest} (files 0600, never through a link)")
        if self.a.archive_command:
            limit = self.timeout_s
            after = f" (killed after {archive_command.describe_timeout(limit)})" if limit else ""
            lines.append(f"-- archive_command{after}: {self.a.archive_command}")
        lines.extend(script(self._drop_steps()))
        return Outcome(False, tuple(lines))

    # --- for real ------------------------------------------------------------

    def carry_out(self) -> Outcome:
        import psycopg

        try:
            self.origin = origin_of(self.conn)
        except psycopg.Error as exc:
            raise QueryFailed("reading which cluster and database this is", exc) from None
        try:
            self.dir = ArchiveDir.open(self.directory)
        except ArchiveError as exc:
            raise ArchiveError(f"{exc.message} (nothing was detached)") from None
        with self.dir:
            self.key = claim_name(self.base, self.origin.key)
            self.store = Store(self.dir, self.base, self.key, self.origin, self.note)
            held = claim(self.dir, self.key)
            if isinstance(held, str):
                # Another run (cron overlapping a manual one) is on it: it
                # archives and drops it, or fails and leaves it to the next
                # run. Not waited for: overlapping runs never queue up behind
                # a long dump.
                self.note(f"-- skipped: another pgpart run ({held}) is archiving {self.part}")
                return Outcome(skipped=True)
            try:
                for name in self.dir.remove_stale(self.key):
                    self.note(f"-- removed {self.dir.show(name)}, left by a run that was killed")
                return self._claimed()
            finally:
                held.release()

    def _claimed(self) -> Outcome:
        # The plan was read before the claim: each step's guard sees what
        # another run did since (archived and dropped it: gone; failed after
        # the detach: detached, resumed from its manifest, if any).
        self.role = self._dump_role()
        if self._detach() is None:
            return Outcome(skipped=True)  # found gone since the plan
        facts = self._table_facts()
        if facts is None:
            return Outcome(skipped=True)
        oid, rows = facts
        names = self.store.existing(self.a, oid, rows)
        if names is None:
            names = self._write(oid, rows)
        else:
            shown = self.dir.show(names.dump)
            rows_text = counted(rows, "row")
            self.note(f"-- resumed: {shown} ({rows_text}) was archived by an earlier run")
        if self.a.archive_command:
            self.store.send(names, self.a.archive_command, self.timeout_s)
        self.run_steps(self._drop_steps())
        return Outcome(skipped=False)

    def _dump_role(self) -> str | None:
        """The role pg_dump reads the table as (--role): None for the login
        role itself; the owner when only membership grants the right (a
        NOINHERIT member). Refused before detaching when neither can read it,
        or when its dump would hold what restore refuses."""
        import psycopg

        a = self.a
        try:
            params = {"owner": a.owner, "schema": a.partition_schema, "name": a.partition}
            row = self.conn.execute(_READABLE, params).fetchone()
        except psycopg.Error as exc:
            raise QueryFailed(f"checking that pg_dump may read {self.part}", exc) from None
        if row is None:
            return None
        readable, as_owner, oid = row
        why = self._not_archivable(oid)
        if why:
            raise ArchiveError(f"{self.part}: {why}; nothing was detached")
        if readable:
            return None
        if as_owner:
            return a.owner
        raise ArchiveError(
            f"pg_dump could not read {self.part}: neither the login role nor its owner"
            f" {a.owner} (as a member) has SELECT on it; nothing was detached"
        )

    def _not_archivable(self, oid: int) -> str | None:
        """What the planner checked (retention_rules), checked again now: a
        dump holds the table alone, and DROP needs nothing else to go."""
        import psycopg

        from pgpart.db.retention_read import read_blockers

        try:
            parent = self.a.table.oid
            foreign, found = read_blockers(self.conn, (), (oid,), {oid: parent}, {})
        except psycopg.Error as exc:
            raise QueryFailed(f"checking what depends on {self.part}", exc) from None
        if foreign:
            return "it is a foreign table (retention detaches those, never archives them)"
        kinds = applies(Removal.ARCHIVE)
        found = [b for b in found if b.kind in kinds]
        if not found:
            return None
        fix = "; ".join(b.fix.replace("{partition}", self.part) for b in found)
        return "; ".join(b.what for b in found) + f" (fix: {fix})"

    def _detach(self) -> bool | None:
        """Mark and detach, one run at a time per parent: PostgreSQL refuses
        a concurrent detach while another partition of the same table is
        pending one ("already pending detach"), which another pgpart run
        archiving the same table would otherwise cause. None: gone."""
        if self.a.detached:  # a leftover: verified again (and relabelled) first
            _, skipped = self.run_steps(self._detach_steps())
            return None if skipped else True
        t = self.a.table
        key = table_claim_name(self.origin.key, self.conn.info.dbname, t.schema, t.name)
        held = claim(self.dir, key, wait_s=DETACH_WAIT_S)
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
            query = sql.SQL("SELECT pg_catalog.count(*) FROM {}").format(
                sql.Identifier(a.partition_schema, a.partition)
            )
            self.note(query.as_string(None))
            with self.conn.transaction():
                if self.role:  # as pg_dump will read it
                    self.conn.execute(
                        "SELECT pg_catalog.set_config('role', %s, true)", (self.role,)
                    )
                counted = self.conn.execute(query).fetchone()
        except psycopg.Error as exc:
            raise QueryFailed(f"counting the rows of {self.part} to archive it", exc) from None
        assert counted is not None
        return int(row[0]), int(counted[0])

    def _write(self, oid: int, rows: int) -> ArchiveNames:
        a = self.a
        command = self._dump_command()
        self.note(f"-- {shlex.join(command)} > {self.directory / ArchiveNames(self.base).dump}")
        try:
            temporary, fd = self.dir.temporary(f"{self.key}.dump")
        except OSError as exc:
            raise self._write_failed(exc) from None
        try:
            dumped = stream_dump(self.tools, client_for(self.conn), command, fd)
            if dumped.rows != rows:
                raise ArchiveError(
                    f"verification failed: the dump of {self.part} holds {dumped.rows} rows,"
                    f" the table {rows}"
                )
            check_dump(fd, a.partition_schema, a.partition)
            names = self.store.publish(temporary, fd)
            server, version = self.conn.info.server_version, self.tools.version
            facts = DumpFacts(oid, rows, dumped.size, dumped.sha256, server, version)
            self.store.write_manifest(names, a, facts)
        except OSError as exc:
            raise self._write_failed(exc) from None
        finally:
            os.close(fd)
            self.dir.remove(temporary)
        shown, size = self.dir.show(names.dump), dumped.size
        self.note(
            f"-- archived {counted(rows, 'row')} to {shown} ({size} bytes, sha256 {dumped.sha256})"
        )
        return names

    def _write_failed(self, exc: OSError) -> ArchiveError:
        return ArchiveError(
            f"writing the archive of {self.part} to {self.directory}: {exc.strerror or exc}"
        )


# Whether pg_dump may read the partition (as the login role, or as its owner
# through --role), and its oid (what else it holds: _not_archivable).
_READABLE = """
SELECT pg_catalog.has_table_privilege(c.oid, 'SELECT'),
       pg_catalog.pg_has_role(%(owner)s, 'MEMBER')
         AND pg_catalog.has_table_privilege(%(owner)s, c.oid, 'SELECT'),
       c.oid
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relname = %(name)s
"""
