"""The pipeline every command runs: settings -> snapshot -> plan -> apply.

This is the library API (re-exported from ``pgpart``): a Python worker can
call it instead of shelling out to the CLI. It reads no environment and no
files itself; ``load_settings`` does that, once, for the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pgpart.config import Settings
from pgpart.core import calendar as cal
from pgpart.core.encoding import KeyEncoding
from pgpart.core.plan import Plan, Problem, ProblemCode, Status, TablePlan
from pgpart.core.planner import (
    Mode,
    Request,
    Target,
    inferred_interval,
    key_zone,
    plan,
    with_default_rows,
)
from pgpart.core.policy import TablePolicy
from pgpart.core.record import record
from pgpart.core.snapshot import PartitionedTable, Snapshot
from pgpart.db.catalog import read_snapshot
from pgpart.db.connect import connect
from pgpart.db.probe import ProbeTarget, probe_defaults
from pgpart.db.resolve import resolve_tables
from pgpart.db.search_path import search_path
from pgpart.errors import StandbyRefused

if TYPE_CHECKING:
    import psycopg

    from pgpart.db.archive.restore import Restored, RestoreRequest
    from pgpart.db.results import ActionResult, Progress
    from pgpart.db.snapshot_read import ReadWait
    from pgpart.db.stats import TableStats


@record
class Gathered:
    snapshot: Snapshot
    targets: tuple[Target, ...]


def gather(
    conn: psycopg.Connection[Any],
    settings: Settings,
    tables: Sequence[str] = (),
    *,
    with_sizes: bool = False,
    probe: bool = True,
    exact: bool = False,
    interval: cal.Interval | None = None,
    for_writing: bool = False,
    list_unsupported: bool = False,
    templates: bool = True,
    now: datetime | None = None,
    any_removal: bool = True,
    sizes_from: Callable[[], psycopg.Connection[Any]] | None = None,
) -> Gathered:
    """Read the catalog once and pair each table with its policy.

    ``templates``: also read what new partitions copy from their newest
    siblings (planning needs it; stats and init do not). ``now`` (check):
    also ask the server whether now has a partition in tables whose key
    pgpart cannot read as time. ``any_removal`` False (every mode but drop):
    retention removes partitions of the tables with a configured retention
    only, and what blocks a removal is read for those alone. ``sizes_from``
    (with ``with_sizes``): how to open the connections the sizes are read on
    beside ``conn`` (pgpart.db.sizes).

    Tables named on the command line win; else the config's tables; else
    every range-partitioned table with a date/time key (discovery).
    """
    names = list(tables) or [t.name for t in settings.tables if t.name]

    def key_encoding(schema: str, name: str, path: Sequence[str]) -> KeyEncoding | None:
        return settings.policy_for(schema, name, path).key_encoding

    def removable(schema: str, name: str, path: Sequence[str]) -> bool:
        return settings.policy_for(schema, name, path).retention is not None

    limit = None if any_removal else removable
    if names:
        path = search_path(conn)
        resolved = resolve_tables(conn, names, path)
        snapshot = read_snapshot(
            conn,
            oids=[r.oid for r in resolved if r.oid is not None],
            discover=False,
            with_sizes=with_sizes,
            with_taken_names=for_writing,
            with_templates=templates,
            path=path,
            key_encodings=key_encoding,
            now=now,
            removable=limit,
            sizes_from=sizes_from,
        )
        found = {t.oid: t for t in snapshot.tables}
        targets = []
        seen: set[int] = set()
        for r in resolved:
            table = found.get(r.oid) if r.oid is not None else None
            if table is not None:
                if table.oid in seen:
                    continue
                seen.add(table.oid)
                policy = settings.policy_for(table.schema, table.name, snapshot.search_path)
            else:
                policy = settings.defaults
            targets.append(Target(r.argument, table, policy))
    else:
        snapshot = read_snapshot(
            conn,
            discover=True,
            with_sizes=with_sizes,
            with_taken_names=for_writing,
            with_templates=templates,
            key_encodings=key_encoding,
            now=now,
            removable=limit,
            sizes_from=sizes_from,
        )
        # With list_unsupported (check, maintain, create, drop) every
        # partitioned table is listed, those pgpart cannot handle with the
        # reason (planner: discovered=True makes that information). Discovery
        # reads top-level tables only: a sub-partitioned partition belongs to
        # its parent's line.
        targets = [
            Target(
                t.qualified,
                t,
                settings.policy_for(t.schema, t.name, snapshot.search_path),
                discovered=True,
            )
            for t in snapshot.tables
            if t.relkind == "p" and (t.is_time_range or list_unsupported)
        ]
    if probe:
        rows = probe_defaults(
            conn,
            [
                ProbeTarget(
                    t.table, _probe_unit(t.table, t.policy, interval), t.policy.timezone.key
                )
                for t in targets
                if t.table is not None and t.table.is_time_range
            ],
            exact=exact,
        )
        targets = with_default_rows(targets, rows)
    return Gathered(snapshot, tuple(targets))


def _probe_unit(table: PartitionedTable, policy: TablePolicy, flag: cal.Interval | None) -> str:
    interval = flag or policy.interval or inferred_interval(table, key_zone(table, policy))
    return interval.pg_unit if interval else "day"


def check(
    conn: psycopg.Connection[Any],
    settings: Settings,
    tables: Sequence[str],
    now: datetime,
    *,
    exact: bool = False,
) -> Plan:
    """Plan with no actions: the findings are the health report."""
    gathered = gather(
        conn, settings, tables, exact=exact, list_unsupported=True, now=now, any_removal=False
    )
    return _plan_guarded(gathered.targets, gathered.snapshot, now, Request(Mode.CHECK))


def stats(
    conn: psycopg.Connection[Any],
    settings: Settings,
    tables: Sequence[str],
    *,
    exact: bool = False,
    sizes_beside: bool = True,
) -> tuple[list[TableStats], Plan]:
    """Sizes and row counts per partition. ``sizes_beside``: read the sizes
    on short-lived connections of their own (made from ``settings``), in
    parallel with the rest (pgpart.db.sizes); else on ``conn`` alone."""
    from pgpart.db.stats import exact_counts, table_stats

    gathered = gather(
        conn,
        settings,
        tables,
        with_sizes=True,
        probe=False,
        templates=False,
        sizes_from=(lambda: _beside(conn, settings)) if sizes_beside else None,
    )
    usable = [t.table for t in gathered.targets if t.table is not None and _stats_usable(t.table)]
    counts = exact_counts(conn, usable) if exact else None
    out = [
        table_stats(t.table, t.policy.timezone, counts)
        for t in gathered.targets
        if t.table is not None and _stats_usable(t.table)
    ]
    out = _with_archives(out, gathered.targets, conn.info.dbname)
    # Unknown names, plain tables and list/hash/integer-partitioned tables are
    # reported (exit 3) through the check findings, as check reports them.
    findings = plan(
        [t for t in gathered.targets if not _stats_usable(t.table)],
        gathered.snapshot,
        datetime.now().astimezone(),
        Request(Mode.CHECK),
    )
    return out, findings


def _with_archives(
    out: list[TableStats], targets: Sequence[Target], database: str
) -> list[TableStats]:
    """Each table's archives, for the tables with an archive_dir."""
    from dataclasses import replace
    from pathlib import Path

    dirs = {
        t.table.qualified: (t.table, t.policy.archive_dir)
        for t in targets
        if t.table is not None and t.policy.archive_dir
    }
    if not dirs:
        return out  # no archive_dir: the archive modules are not even imported
    from pgpart.db.archive.summary import summarize

    result = []
    for s in out:
        found = dirs.get(s.table)
        if found is not None:
            table, directory = found
            where = Path(directory).expanduser().absolute()
            s = replace(s, archives=summarize(where, database, table.schema, table.name))
        result.append(s)
    return result


def _stats_usable(table: PartitionedTable | None) -> bool:
    return table is not None and table.relkind == "p" and table.is_time_range


def plan_changes(
    conn: psycopg.Connection[Any],
    settings: Settings,
    tables: Sequence[str],
    now: datetime,
    request: Request,
    *,
    allow_standby: bool = False,
    on_wait: Callable[[ReadWait], None] | None = None,
) -> Plan:
    """Plan a writing command (create, maintain, drop).

    create and maintain wait for a newest partition another session holds
    (its definition is what new partitions copy) as their DDL waits for a
    lock: ``on_wait`` sees each wait (pgpart.db.snapshot_read)."""

    def read() -> Gathered:
        return gather(
            conn,
            settings,
            tables,
            interval=request.interval,
            for_writing=True,
            list_unsupported=True,
            # Every range holding DEFAULT rows, and how many: what relocation needs.
            exact=True,
            any_removal=request.mode is Mode.DROP,
        )

    gathered = read()
    if gathered.snapshot.in_recovery and not allow_standby:
        raise StandbyRefused(
            "the server is in recovery (a hot standby): run writing commands against the primary"
        )
    planned = _plan_guarded(gathered.targets, gathered.snapshot, now, request)
    if request.mode not in (Mode.CREATE, Mode.MAINTAIN):
        return planned
    from pgpart.db.snapshot_read import LockWaits

    waits = LockWaits(conn, on_wait)
    while due := waits.due(planned, gathered.targets):
        released = [waits.wait(target, locked) for target, locked in due]
        if any(released):
            gathered = read()  # what the holder left is what new partitions copy
        targets = waits.annotated(gathered.targets)
        planned = _plan_guarded(targets, gathered.snapshot, now, request)
    return planned


def _plan_guarded(
    targets: Sequence[Target], snapshot: Snapshot, now: datetime, request: Request
) -> Plan:
    """plan(), but a table whose dates fall outside what Python can represent
    (years 1-9999: a huge premake or retention, --now 9999-12-31, --older-than
    "9999 years") is reported as UNKNOWN (out_of_range) instead of crashing the
    run; the other tables are planned as usual."""
    try:
        return plan(targets, snapshot, now, request)
    except (OverflowError, ValueError) as exc:
        if not _out_of_range(exc):
            raise
    tables: list[TablePlan] = []
    for target in targets:
        try:
            tables.extend(plan([target], snapshot, now, request).tables)
        except (OverflowError, ValueError) as exc:
            if not _out_of_range(exc):
                raise
            name = target.table.qualified if target.table else target.argument
            tables.append(
                TablePlan(
                    table=name,
                    status=Status.UNKNOWN,
                    interval=None,
                    interval_source=None,
                    partitions=len(target.table.partitions) if target.table else 0,
                    covered_from=None,
                    covered_until=None,
                    default_rows=None,
                    problems=(
                        Problem(
                            Status.UNKNOWN,
                            ProblemCode.OUT_OF_RANGE,
                            _out_of_range_message(name, exc),
                        ),
                    ),
                    blocked=True,
                )
            )
    return Plan(now.astimezone(timezone.utc), tuple(tables), snapshot.server_version)


def _out_of_range_message(name: str, exc: BaseException) -> str:
    reason = " ".join(str(exc).split())
    if " is out of range for " in reason:  # an encoded key's type (pgpart.core.encoding)
        return (
            f"{name}: cannot plan: a new bound does not fit the key's type ({reason});"
            " an integer holds epoch seconds until 2038-01-19 03:14:07 UTC, a bigint"
            " nanoseconds until 2262: widen the column (ALTER TABLE ... TYPE bigint)"
        )
    return (
        f"{name}: cannot plan: a date falls outside the years 1 to 9999 ({reason}); check"
        " premake, retention, warn_ahead/critical_ahead and --now/--from/--to/--older-than"
    )


def _out_of_range(exc: BaseException) -> bool:
    """Date arithmetic beyond datetime's range (and nothing else) raised this."""
    if isinstance(exc, OverflowError):
        return True
    # datetime's "year 10000 is out of range", Duration's "... + 9999 years is out of range"
    return "is out of range" in str(exc)


def apply(
    settings: Settings,
    planned: Plan,
    *,
    dry_run: bool = False,
    log: Callable[[str], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> list[ActionResult]:
    """Run a plan's actions, each in its own short transaction, as its
    table's plan says (its lock_timeout, retry_for, ...: the policy the
    planner resolved for it)."""
    from pgpart.db.executor import ExecOptions, execute

    options = ExecOptions(
        dry_run=dry_run, log=log, progress=progress, server_version_num=planned.server_version
    )
    return execute(settings.dsn, planned.tables, options)


def restore(
    settings: Settings, request: RestoreRequest, *, log: Callable[[str], None] | None = None
) -> Restored:
    """Bring back a partition retention archived (``pgpart restore``): the
    archive opened and checked before anything reads it, then pg_restore,
    the mark that keeps it until ``request.keep_until`` and the ATTACH, each
    within its parent table's lock_timeout, statement_timeout and retry_for.
    Raises ArchiveError (a PgpartError) for what stops it."""
    from pgpart.db.archive.restore import restore as restore_archive
    from pgpart.db.archive.restore_open import open_archive

    archive = open_archive(request.path)
    try:
        m = archive.manifest
        policy = settings.policy_for(m.parent_schema or "", m.parent_table or "")
        with connect(settings.dsn) as conn:
            return restore_archive(conn, archive, request, policy, log)
    finally:
        archive.close()


def open_connection(settings: Settings) -> psycopg.Connection[Any]:
    return connect(settings.dsn)


def _beside(conn: psycopg.Connection[Any], settings: Settings) -> psycopg.Connection[Any]:
    """A connection beside ``conn``, whose statements are logged as its are
    (-v: the cursor factory it was given)."""
    side = open_connection(settings)
    side.cursor_factory = conn.cursor_factory
    return side
