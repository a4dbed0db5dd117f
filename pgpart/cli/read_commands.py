"""The commands that change nothing: check, stats, init."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pgpart.cli.databases import choose
from pgpart.cli.exit_codes import refuse, reported
from pgpart.cli.options import (
    DEFAULT_JOBS,
    ConfigOpt,
    DsnOpt,
    JobsOpt,
    NowOpt,
    QuietOpt,
    ReadFormat,
    ReadFormatOpt,
    ServiceOpt,
    TablesArg,
    TimelineOpt,
    VerboseOpt,
    WideOpt,
    output_format,
)
from pgpart.cli.requests import Display, InitRequest, ReadRequest, Where
from pgpart.errors import UsageError


def check(
    tables: TablesArg = None,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact", help="Count DEFAULT rows exactly (reads them all) instead of sampling."
        ),
    ] = False,
    fmt: ReadFormatOpt = ReadFormat.table,
    timeline: TimelineOpt = False,
    quiet: QuietOpt = False,
    wide: WideOpt = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    now: NowOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Read-only health of each table's partitions; the exit code is the verdict
    (0 ok, 1 warning, 2 critical, 3 unknown).

    Examples:

    \b
      pgpart check                          # every configured (or discovered) table
      pgpart check --timeline               # coverage at a glance, one line per table
      pgpart check -q                       # Nagios/Icinga: silent unless not OK
    """
    if timeline and fmt is not ReadFormat.table:
        refuse(f"--timeline draws for a terminal: it goes with --format table, not {fmt.value}")
    request = ReadRequest(
        Where.of(dsns, services, jobs, config),
        Display(output_format(fmt), quiet=quiet, verbose=verbose, wide=wide),
        tuple(tables or ()),
        exact=exact,
        now=now,
        timeline=timeline,
    )
    from pgpart.cli.read_run import run_check

    run_check(request, choose(request.where))


def stats(
    tables: TablesArg = None,
    exact: Annotated[
        bool,
        typer.Option("--exact", help="Count rows with count(*) instead of the planner's estimate."),
    ] = False,
    fmt: ReadFormatOpt = ReadFormat.table,
    wide: WideOpt = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Per-partition range, rows (estimate unless --exact) and bytes, with totals.

    Examples:

    \b
      pgpart stats public.events
      pgpart stats --exact public.events    # count(*) every partition
      pgpart stats -f prometheus > /var/lib/node_exporter/pgpart_stats.prom
    """
    request = ReadRequest(
        Where.of(dsns, services, jobs, config),
        Display(output_format(fmt), quiet=quiet, verbose=verbose, wide=wide),
        tuple(tables or ()),
        exact=exact,
    )
    from pgpart.cli.read_run import run_stats

    run_stats(request, choose(request.where))


def init(
    tables: TablesArg = None,
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE", help="File to write, or - for stdout.")
    ] = "pgpart.toml",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Introspect the database and write a pgpart.toml for its partitioned tables.

    Examples:

    \b
      pgpart init                           # every time-partitioned table
      pgpart init public.events -o -        # one table, to stdout
      pgpart init --force                   # overwrite ./pgpart.toml
    """
    where = Where.of(dsns, services, jobs, config)
    with reported(where.dsn):
        target = _init_target(output, force)
    fleet = choose(where)
    with reported(where.dsn):
        from pgpart.cli.read_run import run_init

        run_init(InitRequest(where, tuple(tables or ()), target, quiet=quiet), fleet)


def _init_target(output: str, force: bool) -> Path | None:
    """The file init writes (None: stdout); an existing one only with --force."""
    target = None if output == "-" else Path(output)
    try:
        exists = target is not None and target.exists()
    except (OSError, ValueError) as exc:  # NUL in the name, name too long
        raise UsageError(f"--output: cannot use {output!r}: {exc}") from None
    if exists and not force:
        raise UsageError(f"{target} already exists: pass --force to overwrite it")
    return target
