"""`pgpart restore DUMP|MANIFEST`: bring an archived partition back.

The archive is opened and checked first (pgpart.db.archive.restore_open: its
path, checksum and table of contents); then the database: the archive must
come from this very database of this very cluster (unless
``--from-other-database``) and no table of its name may exist. pg_restore
recreates the table in one transaction, reading the checked bytes from
pgpart, restoring only the table's own entries (``--use-list``), never
pgpart's marks (retention's constraint, an earlier pgpart's comment mark),
and owned by the parent's owner (``--no-owner``, as
``--role`` that owner when the login role may become it: a NOINHERIT
member can restore too). Its rows are counted against the manifest's; it
is marked as kept until ``--keep-until`` (pgpart.db.ddl.restore), so that
retention does not archive it again at once; then it is attached to its
parent when the parent exists and the range is free. Otherwise it stays a
plain table and the result says why. The mark and the ATTACH run as every
action's steps do, within the parent table's lock_timeout, statement_timeout
and retry_for. ``pgpart.api.restore`` opens the archive and the connection.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.record import record
from pgpart.core.siblings import LEFTOVER_MARK
from pgpart.core.wording import counted
from pgpart.db.archive.manifest import Origin, origin_of
from pgpart.db.archive.restore_attach import Log, attach, find_parent, in_own_transaction, mark
from pgpart.db.archive.restore_open import Archive
from pgpart.db.archive.tools import Tools, client_for, find_tools
from pgpart.db.ddl.restore import Mark
from pgpart.db.results import ActionFailed
from pgpart.errors import ArchiveError

if TYPE_CHECKING:
    import psycopg

    from pgpart.core.policy import TablePolicy


@record
class RestoreRequest:
    path: Path
    keep_until: datetime  # aware: retention leaves the partition alone until then
    dry_run: bool = False
    from_other_database: bool = False


@record
class Restored:
    table: str  # display name
    dump: str
    rows: int
    checksum: str
    parent: str | None
    lower: str | None  # ISO 8601, as the manifest has them
    upper: str | None
    attached: bool
    why: str | None  # why it was not attached
    dry_run: bool = False
    command: str = ""
    kept_until: str = ""  # ISO 8601
    role: str | None = None  # the role pg_restore ran as (--role), when not the login role
    entries: int = 0  # the dump's entries restored (the table and its own)


def restore(
    conn: psycopg.Connection[Any],
    archive: Archive,
    request: RestoreRequest,
    policy: TablePolicy,
    log: Log | None = None,
) -> Restored:
    """Restore ``archive`` (opened and checked) on ``conn``; ``policy``: its
    parent table's (pg_bin, and the limits its mark and ATTACH run within)."""
    return _Restore(conn, archive, request, policy, log).run()


class _Restore:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        archive: Archive,
        request: RestoreRequest,
        policy: TablePolicy,
        log: Log | None,
    ) -> None:
        self.conn, self.archive, self.policy = conn, archive, policy
        self.request, self.log = request, log
        m = archive.manifest
        self.schema, self.name = m.schema, m.table
        self.table = display_name(m.schema, m.table)

    def run(self) -> Restored:
        m = self.archive.manifest
        self._same_origin(origin_of(self.conn))
        parent = find_parent(self.conn, m.parent_schema, m.parent_table)
        tools = find_tools(self.policy.pg_bin, self.conn.info.server_version // 10000)
        if self._exists():
            raise ArchiveError(
                f"{self.table} already exists: rename or drop it, then restore"
                f" {self.archive.dump_path.name} again (nothing was restored)"
            )
        role = parent.owner if parent and parent.may_become else None
        entries = self._entries()
        command = _command(tools, role)
        base = Restored(
            table=self.table,
            dump=str(self.archive.dump_path),
            rows=m.rows,
            checksum=m.sha256,
            parent=parent.display if parent else None,
            lower=m.lower,
            upper=m.upper,
            attached=False,
            why=None,
            dry_run=self.request.dry_run,
            command=f"{shlex.join(command)} --use-list=<the table's {len(entries)} entries>"
            f" < {shlex.quote(str(self.archive.dump_path))}",
            kept_until=self.request.keep_until.isoformat(),
            role=role,
            entries=len(entries),
        )
        if self.request.dry_run:
            return base
        self._pg_restore(tools, command, entries)
        self._mark(role)
        rows = self._count(role)
        if rows != m.rows:
            raise ArchiveError(
                f"{self.table} was restored with {counted(rows, 'row')},"
                f" the manifest says {m.rows}:"
                " it is left as a plain table for you to inspect"
            )
        execution = self.policy.execution()
        why = attach(self.conn, execution, self.schema, self.name, m, parent, self.log)
        return replace(base, attached=why is None, why=why)

    # --- checks ----------------------------------------------------------------

    def _same_origin(self, here: Origin) -> None:
        there = self.archive.manifest.origin
        if self.request.from_other_database:
            return
        fix = "; pass --from-other-database to restore it here anyway (nothing was restored)"
        if there is None:
            raise ArchiveError(
                f"{self.archive.manifest_path} does not record which cluster and database it"
                f" came from (an archive of an older pgpart){fix}"
            )
        if there.system_identifier is None or here.system_identifier is None:
            raise ArchiveError(
                f"cannot tell whether {self.archive.dump_path.name} came from this cluster"
                f" (pg_control_system() is not readable to pgpart's role here or there){fix}"
            )
        if there != here:
            raise ArchiveError(
                f"{self.archive.dump_path.name} came from {there.describe()}; this is"
                f" {here.describe()}{fix}"
            )

    def _exists(self) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (self.schema, self.name),
        ).fetchone()
        return row is not None

    def _entries(self) -> tuple[int, ...]:
        """The dump ids pg_restore is given: the table and its own entries,
        less pgpart's marks: its retention mark (the constraint pgpart_mark
        and its comment) and an earlier pgpart's (the table's comment, when
        that was the mark). The table's own comment comes back as it was."""
        verdict = self.archive.verdict
        skip = set(verdict.marks)
        text = verdict.comment_text
        if verdict.table_comment is not None and text and text.startswith(LEFTOVER_MARK):
            skip.add(verdict.table_comment.dump_id)
        return tuple(i for i in verdict.restore if i not in skip)

    # --- the restore -------------------------------------------------------------

    def _pg_restore(self, tools: Tools, command: list[str], entries: tuple[int, ...]) -> None:
        client = client_for(self.conn)
        if self.log:
            self.log(shlex.join(command) + f" --use-list=... < {self.archive.dump_path}")
        with (
            tempfile.NamedTemporaryFile("w", prefix="pgpart-restore-", suffix=".list") as listing,
            tempfile.TemporaryFile() as err,
        ):
            listing.write("".join(f"{i};\n" for i in entries))
            listing.flush()
            args = [*command, f"--use-list={listing.name}", f"--dbname={client.conninfo}"]
            try:
                proc = subprocess.Popen(
                    args, env=client.env, stdin=subprocess.PIPE, stdout=err, stderr=err
                )
            except OSError as exc:
                raise ArchiveError(f"pg_restore could not run: {exc.strerror or exc}") from None
            intact = self._feed(proc)
            code = proc.wait()
            err.seek(0)
            text = err.read().decode(errors="replace")
        if not intact:
            raise ArchiveError(
                f"{self.archive.dump_path} changed while pg_restore read it (its sha256 no longer"
                " matches): pg_restore was stopped before committing; nothing was restored"
            )
        if code != 0:
            lines = [x.strip() for x in text.splitlines() if x.strip()]
            first = next((x for x in lines if "error" in x.lower()), lines[0] if lines else "")
            raise ArchiveError(f"pg_restore failed (exit {code}), nothing restored: {first}")

    def _feed(self, proc: subprocess.Popen[bytes]) -> bool:
        """The checked dump to pg_restore; on a mismatch it is killed before
        the last chunk, so its single transaction never commits."""
        assert proc.stdin is not None
        try:
            intact = self.archive.feed(proc.stdin)
            if intact:
                proc.stdin.close()
        except BrokenPipeError:
            return True  # pg_restore stopped on its own; its exit code says why
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if not intact:
            proc.kill()
        return intact

    def _mark(self, role: str | None) -> None:
        """Kept until --keep-until, and without pgpart's archive mark if the
        table still has one (an archive of an older pgpart's making)."""
        comment = self.conn.execute(
            "SELECT pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (self.schema, self.name),
        ).fetchone()
        kept = Mark(
            source=self.archive.manifest.file,
            restored_at=datetime.now(timezone.utc),
            until=self.request.keep_until,
            drop_comment=bool(comment and str(comment[0] or "").startswith(LEFTOVER_MARK)),
        )
        try:
            mark(self.conn, self.policy.execution(), self.schema, self.name, kept, role, self.log)
        except ActionFailed as exc:
            raise ArchiveError(
                f"{self.table} was restored but could not be marked as kept"
                f" ({exc.failure.message}): it is left as a plain table, not attached;"
                f" drop it and restore {self.archive.dump_path.name} again once the lock is free"
            ) from None

    def _count(self, role: str | None) -> int:
        query = sql.SQL("SELECT pg_catalog.count(*) FROM {}").format(
            sql.Identifier(self.schema, self.name)
        )
        rows = in_own_transaction(self.conn, [query], role, self.log)
        return int(rows[0]) if rows else 0


def _command(tools: Tools, role: str | None) -> list[str]:
    """pg_restore reading the dump from its standard input: everything in
    one transaction, owned by the role it runs as, nothing but the entries
    of its --use-list."""
    return [
        str(tools.pg_restore),
        "--single-transaction",
        "--exit-on-error",
        "--no-password",
        "--no-owner",
        "--no-security-labels",
        "--no-publications",
        "--no-subscriptions",
        *([f"--role={role}"] if role else []),
    ]
