"""The commands that change the database: create, maintain, drop, restore.

Each reads its flags into a WriteRequest (flag values checked here, exit 3
when they cannot be read) and hands it to pgpart.cli.write_run.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import typer

from pgpart.cli.console import emit, say
from pgpart.cli.databases import choose
from pgpart.cli.exit_codes import reported
from pgpart.cli.inputs import (
    as_utc_if_naive,
    parse_duration,
    parse_interval,
    parse_moment,
    parse_now,
)
from pgpart.cli.options import (
    DEFAULT_JOBS,
    ConfigOpt,
    DryRunOpt,
    DsnOpt,
    JobsOpt,
    LockTimeoutOpt,
    NoAnalyzeOpt,
    NowOpt,
    QuietOpt,
    RelocationChoice,
    RelocationOpt,
    ServiceOpt,
    TableArg,
    TablesArg,
    VerboseOpt,
    WideOpt,
    WriteFormat,
    WriteFormatOpt,
    output_format,
)
from pgpart.cli.requests import Display, Where, WriteRequest
from pgpart.cli.sql_log import logger
from pgpart.cli.write_run import run_write
from pgpart.errors import UsageError


def create(
    table: TableArg,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DATE",
            help="Start (ISO date or timestamp; default: the current period).",
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="DATE",
            help="End, exclusive (default: the premake horizon).",
            show_default=False,
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            metavar="INTERVAL",
            help="hourly, daily, weekly, monthly, quarterly, yearly, or e.g. '15 minutes',"
            " '2 weeks' (default: configured, else inferred).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow creating more than max_new_partitions.")
    ] = False,
    relocation: RelocationOpt = None,
    dry_run: DryRunOpt = False,
    lock_timeout: LockTimeoutOpt = None,
    no_analyze: NoAnalyzeOpt = False,
    fmt: WriteFormatOpt = WriteFormat.table,
    quiet: QuietOpt = False,
    wide: WideOpt = False,
    verbose: VerboseOpt = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """Create the missing partitions covering [--from, --to) (default: the current
    one through the premake horizon), moving matching rows out of DEFAULT.

    Examples:

    \b
      pgpart create public.events                                   # now .. premake
      pgpart create public.events --from 2026-10-01 --to 2026-12-01 # a backfill
      pgpart create audit_log --interval daily --dry-run            # no partitions yet
    """
    from pgpart.core.planner import Mode, Request

    where = _with_relocation(Where.of(dsns, services, jobs, config, lock_timeout), relocation)
    with reported(where.dsn):
        parsed_interval = parse_interval(interval)
        start = parse_moment(from_, "--from") if from_ is not None else None
        end = parse_moment(to, "--to") if to is not None else None
        if start and end and as_utc_if_naive(start) >= as_utc_if_naive(end):
            raise UsageError(f"--from {from_} is not before --to {to}")
        if start is None and end is not None and _before_now(end, now):
            raise UsageError(
                f"--to {to} lies before now: without --from, create covers [the current"
                " period, --to), which is empty; pass --from to backfill earlier periods"
            )
    change = Request(
        Mode.CREATE,
        interval=parsed_interval,
        create_from=start,
        create_to=end,
        force=force,
        analyze=not no_analyze,
    )
    display = Display(output_format(fmt), quiet=quiet, verbose=verbose, wide=wide)
    run_write(WriteRequest(where, display, (table,), change, now, dry_run), choose(where))


def _before_now(end: datetime, now: str | None) -> bool:
    """--to lies before --now (else $PGPART_NOW, else the clock) in every
    zone: a naive value is read in the table's zone, at most 14 hours off UTC."""
    slack = timedelta(0) if end.tzinfo else timedelta(hours=14)
    return as_utc_if_naive(end) + slack <= parse_now(now)


def maintain(
    tables: TablesArg = None,
    dry_run: DryRunOpt = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Apply a retention shorter than one partition interval (refused otherwise: "
            "a typo must not drop data), and create more than max_new_partitions.",
        ),
    ] = False,
    relocation: RelocationOpt = None,
    lock_timeout: LockTimeoutOpt = None,
    no_analyze: NoAnalyzeOpt = False,
    fmt: WriteFormatOpt = WriteFormat.table,
    quiet: QuietOpt = False,
    wide: WideOpt = False,
    verbose: VerboseOpt = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """What cron runs: create partitions through the premake horizon, move DEFAULT rows
    into them, finish interrupted detaches, apply configured retention; on a logical
    replication subscriber, refresh its subscriptions. Idempotent.

    Examples:

    \b
      pgpart maintain -q                    # cron: silent unless something failed
      pgpart maintain --dry-run             # the summary, then every statement
      pgpart maintain public.messages --lock-timeout 200ms
    """
    from pgpart.core.planner import Mode, Request

    where = _with_relocation(Where.of(dsns, services, jobs, config, lock_timeout), relocation)
    display = Display(output_format(fmt), quiet=quiet, verbose=verbose, wide=wide)
    change = Request(Mode.MAINTAIN, force=force, analyze=not no_analyze)
    request = WriteRequest(where, display, tuple(tables or ()), change, now, dry_run)
    run_write(request, choose(where))


def _with_relocation(where: Where, choice: RelocationChoice | None) -> Where:
    from dataclasses import replace

    return where if choice is None else replace(where, relocation=choice.value)


def drop(
    table: TableArg,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Drop partitions lying wholly before now minus this, e.g. '90 days' or "
            "'6 mon' (a bare m is refused). Required unless --before (give exactly one).",
            show_default=False,
        ),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="DATE",
            help="Drop partitions lying wholly before this date (ISO 8601). "
            "Required unless --older-than (give exactly one).",
            show_default=False,
        ),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="Detach instead of dropping (keep the tables).")
    ] = False,
    no_archive: Annotated[
        bool,
        typer.Option(
            "--no-archive",
            help='On a table with retention_mode = "archive": drop without archiving first'
            " (by default each partition is archived, as maintain does, before it is dropped).",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Allow --older-than shorter than one partition interval (refused otherwise: "
            "a typo such as '6 min' for '6 mon' must not drop data).",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Do not ask for confirmation (required without a terminal)."
        ),
    ] = False,
    dry_run: DryRunOpt = False,
    lock_timeout: LockTimeoutOpt = None,
    no_analyze: NoAnalyzeOpt = False,
    fmt: WriteFormatOpt = WriteFormat.table,
    quiet: QuietOpt = False,
    wide: WideOpt = False,
    verbose: VerboseOpt = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """Remove (or --detach) partitions lying wholly before a cutoff. The partition
    holding the current time, and every later one, is never touched. On a table
    whose retention_mode is "archive", each partition is archived first (as maintain
    does) unless --no-archive.

    Exactly one of --older-than DURATION or --before DATE is required.

    Examples:

    \b
      pgpart drop public.events --older-than "90 days" --dry-run
      pgpart drop public.events --before 2026-01-01 --yes
      pgpart drop public.messages --older-than "12 months" --detach
    """
    from pgpart.core.planner import Mode, Request

    where = Where.of(dsns, services, jobs, config, lock_timeout)
    with reported(where.dsn):
        if (older_than is None) == (before is None):
            raise UsageError("give exactly one of --older-than DURATION or --before DATE")
        duration = parse_duration(older_than, "--older-than")
        cutoff = parse_moment(before, "--before") if before is not None else None
        if not dry_run and not yes and not sys.stdin.isatty():
            raise UsageError(
                "refusing to drop without a terminal to confirm: pass --yes "
                "(or --dry-run to see what would go)"
            )
    change = Request(
        Mode.DROP,
        drop_older_than=duration,
        drop_before=cutoff,
        drop_detach=detach,
        drop_no_archive=no_archive,
        force=force,
        analyze=not no_analyze,
    )
    display = Display(output_format(fmt), quiet=quiet, verbose=verbose, wide=wide)
    request = WriteRequest(where, display, (table,), change, now, dry_run, confirm=not yes)
    run_write(request, choose(where))


def restore(
    archive: Annotated[
        Path,
        typer.Argument(help="An archive's dump (.dump) or manifest (.json), as maintain wrote it."),
    ],
    keep_until: Annotated[
        str | None,
        typer.Option(
            "--keep-until",
            metavar="DATE",
            help="Keep the restored partition until then: retention (maintain, drop) leaves it"
            " alone until this date (ISO 8601; default: 30 days from now).",
            show_default=False,
        ),
    ] = None,
    from_other_database: Annotated[
        bool,
        typer.Option(
            "--from-other-database",
            help="Restore an archive that another database or cluster made (refused otherwise).",
        ),
    ] = False,
    dry_run: DryRunOpt = False,
    lock_timeout: LockTimeoutOpt = None,
    fmt: WriteFormatOpt = WriteFormat.table,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Bring back a partition that retention_mode = "archive" dumped: check the archive
    (path, sha256, nothing but its table, from this database), pg_restore it, count its
    rows, and re-attach it when its range is free (else keep it as a plain table and say
    why). Retention leaves it alone until --keep-until."""
    where = Where.of(dsns, services, lock_timeout=lock_timeout, config=config)
    with reported(where.dsn):
        until = _keep_until(keep_until)
    fleet = choose(where)
    with reported(where.dsn):
        if fleet.labelled:
            raise UsageError(
                "restore works on one database: name one (one --dsn or --service, or a"
                " config with one [[database]] block)"
            )
        from pgpart import api
        from pgpart.cli.output.restore import render_restore
        from pgpart.db.archive.restore import RestoreRequest

        request = RestoreRequest(archive, until, dry_run, from_other_database)
        result = api.restore(fleet.members[0].settings, request, log=logger(verbose))
        if not quiet or fmt is WriteFormat.json:
            emit(render_restore(result, fmt.value))
        if not result.attached and not dry_run and quiet:
            say(f"{result.table} restored as a plain table: {result.why}")


KEEP_DAYS = 30


def _keep_until(text: str | None) -> datetime:
    """--keep-until (a date is its midnight, UTC when naive), in the future;
    else 30 days from now."""
    now = datetime.now(timezone.utc)
    if text is None:
        return now + timedelta(days=KEEP_DAYS)
    until = as_utc_if_naive(parse_moment(text, "--keep-until"))
    if until <= now:
        raise UsageError(
            f"--keep-until {text} is not in the future: the next maintain would archive the"
            " partition again"
        )
    return until
