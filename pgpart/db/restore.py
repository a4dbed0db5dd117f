"""`pgpart restore DUMP|MANIFEST`: bring an archived partition back.

The dump is checked against its manifest (sha256) before anything is
written; pg_restore recreates the table with its data in one transaction;
its rows are counted against the manifest's; then it is attached to its
parent when the parent exists and the range is free. Otherwise it stays a
plain table and the result says why (the range is taken, the DEFAULT
partition holds rows of it, the columns differ...). Either way the table
loses the archive mark, so maintain never archives and drops it again.
"""

from __future__ import annotations

import json
import random
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgpart.core.identifiers import display_name
from pgpart.core.siblings import LEFTOVER_MARK
from pgpart.core.wording import counted
from pgpart.db.archive_files import ArchiveError, manifest_for, verify_file
from pgpart.db.archive_tools import Tools, client_for, find_tools
from pgpart.db.ddl import ADVISORY_CLASS
from pgpart.errors import primary_message

if TYPE_CHECKING:
    import psycopg

    from pgpart.config import Settings

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
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


def restore(settings: Settings, path: Path, *, dry_run: bool, log: Log | None) -> Restored:
    from pgpart.db.connect import connect

    manifest_path, m = manifest_for(path)
    dump = manifest_path.parent / str(m["file"])
    verify_file(dump, m)
    schema, name = str(m["schema"]), str(m["table"])
    table = display_name(schema, name)
    parent_info = m.get("parent") or {}
    with connect(settings.dsn) as conn:
        # The parent's policy names the pg_bin its archives were made with.
        policy = settings.policy_for(
            str(parent_info.get("schema", "")), str(parent_info.get("table", ""))
        )
        pg_bin = policy.pg_bin or settings.defaults.pg_bin
        tools = find_tools(pg_bin, conn.info.server_version // 10000)
        if _exists(conn, schema, name):
            raise ArchiveError(
                f"{table} already exists: rename or drop it, then restore {dump.name} again"
                " (nothing was restored)"
            )
        parent = _parent(conn, str(parent_info.get("schema", "")), str(parent_info.get("table")))
        command = _command(tools, dump)
        base = Restored(
            table=table,
            dump=str(dump),
            rows=int(m["rows"]),
            checksum=str(m["checksum"]["value"]),
            parent=display_name(parent[1], parent[2]) if parent else None,
            lower=m.get("from"),
            upper=m.get("to"),
            attached=False,
            why=None,
            dry_run=dry_run,
            command=shlex.join(command),
        )
        if dry_run:
            return base
        _pg_restore(tools, conn, command, log)
        _unmark(conn, schema, name, log)
        rows = _count(conn, schema, name, log)
        if rows != int(m["rows"]):
            raise ArchiveError(
                f"{table} was restored with {counted(rows, 'row')}, the manifest says {m['rows']}:"
                " it is left as a plain table for you to inspect"
            )
        why = _attach(conn, settings, schema, name, m, parent, log)
        from dataclasses import replace

        return replace(base, attached=why is None, why=why)


def _exists(conn: psycopg.Connection[Any], schema: str, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    return row is not None


def _parent(conn: psycopg.Connection[Any], schema: str, name: str) -> tuple[int, str, str] | None:
    row = conn.execute(
        "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'p'",
        (schema, name),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


def _command(tools: Tools, dump: Path) -> list[str]:
    return [
        str(tools.pg_restore),
        "--single-transaction",
        "--exit-on-error",
        "--no-password",
        str(dump),
    ]


def _pg_restore(
    tools: Tools, conn: psycopg.Connection[Any], command: list[str], log: Log | None
) -> None:
    import subprocess

    client = client_for(conn)
    if log:
        log(shlex.join(command))
    try:
        done = subprocess.run(
            [*command, f"--dbname={client.conninfo}"],
            env=client.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
    except OSError as exc:
        raise ArchiveError(f"pg_restore could not run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [x.strip() for x in done.stderr.splitlines() if x.strip()]
        first = next((x for x in lines if "error" in x.lower()), lines[0] if lines else "")
        raise ArchiveError(f"pg_restore failed (exit {done.returncode}), nothing restored: {first}")


def _unmark(conn: psycopg.Connection[Any], schema: str, name: str, log: Log | None) -> None:
    """The dump carries the archive mark: removed, or maintain would take the
    restored table for a leftover to archive and drop again."""
    rel = sql.Literal(display_name(schema, name))
    row = conn.execute(
        sql.SQL("SELECT obj_description({}::regclass, 'pg_class')").format(rel)
    ).fetchone()
    if row is None or not str(row[0] or "").startswith(LEFTOVER_MARK):
        return
    clear = sql.SQL("COMMENT ON TABLE {} IS NULL").format(sql.Identifier(schema, name))
    if log:
        log(clear.as_string(None))
    conn.execute(clear)


def _count(conn: psycopg.Connection[Any], schema: str, name: str, log: Log | None) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
    if log:
        log(query.as_string(None))
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def _attach(
    conn: psycopg.Connection[Any],
    settings: Settings,
    schema: str,
    name: str,
    m: dict[str, Any],
    parent: tuple[int, str, str] | None,
    log: Log | None,
) -> str | None:
    """Attach the restored table; None when done, else why not (it stays a
    plain table, without the archive mark)."""
    import psycopg
    from psycopg import errors

    target = sql.Identifier(schema, name)
    why: str | None = None
    if parent is None:
        why = "its parent table no longer exists (or is not partitioned)"
    elif not m.get("from_bound") or not m.get("to_bound"):
        why = "the archive does not record its bounds"
    deadline = time.monotonic() + settings.retry_for.milliseconds() / 1000
    lock_ms = settings.defaults.lock_timeout.milliseconds()
    attempt = 0
    while True:
        attempt += 1
        statements: list[sql.Composed] = [
            sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{lock_ms}ms")),
        ]
        if why is None and parent is not None:
            key = (ADVISORY_CLASS << 32) | parent[0]
            statements += [
                sql.SQL("SELECT pg_advisory_xact_lock({})").format(sql.Literal(key)),
                sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(parent[1], parent[2]),
                    target,
                    sql.Literal(m["from_bound"]),
                    sql.Literal(m["to_bound"]),
                ),
            ]
        if why is not None:
            return why
        try:
            with conn.transaction():
                for stmt in statements:
                    if log:
                        log(stmt.as_string(None))
                    conn.execute(stmt)
            return why
        except (errors.LockNotAvailable, errors.DeadlockDetected):
            if time.monotonic() >= deadline:
                shown = display_name(parent[1], parent[2]) if parent else "?"
                return f"lock timeout on {shown} after {attempt} attempts"
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
        except psycopg.Error as exc:
            return _why(exc)


def _why(exc: Exception) -> str:
    from psycopg import errors

    primary = primary_message(exc)
    if isinstance(exc, errors.InvalidObjectDefinition):
        return f"its range is taken by another partition ({primary})"
    if isinstance(exc, errors.CheckViolation):
        return f"the DEFAULT partition holds rows of its range ({primary})"
    return primary


def render_restore(result: Restored, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"restore": asdict(result)}, indent=2, ensure_ascii=False) + "\n"
    span = f"[{result.lower}, {result.upper})"
    if result.dry_run:
        where = f" and attach it to {result.parent} for {span} if that range is free"
        return (
            f"would restore {result.table} ({counted(result.rows, 'row')}, sha256 verified) from"
            f" {result.dump}{where if result.parent else ' as a plain table'}\n"
            f"  {result.command}\n"
        )
    if result.attached:
        return (
            f"restored {result.table} ({counted(result.rows, 'row')}, sha256 verified)"
            f" and attached it to {result.parent} for {span}\n"
        )
    return (
        f"restored {result.table} ({counted(result.rows, 'row')}, sha256 verified)"
        f" as a plain table, not attached{' to ' + result.parent if result.parent else ''}:"
        f" {result.why}\n"
    )
