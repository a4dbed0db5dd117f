"""The commands that change nothing: check, stats, init."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pgpart.cli.console import emit, fail, finish, say, stdout_width
from pgpart.cli.databases import choose, load_settings
from pgpart.cli.exit_codes import ExitCode, check_exit_code, reported, stats_exit_code
from pgpart.cli.inputs import parse_now
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
from pgpart.cli.reporting import report_refused
from pgpart.cli.requests import Display, InitRequest, ReadRequest, Where
from pgpart.cli.sql_log import log_queries
from pgpart.errors import UsageError

if TYPE_CHECKING:
    from pgpart.cli.output.timeline import Block


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
        fail(
            f"--timeline draws for a terminal: it goes with --format table, not {fmt.value}",
            ExitCode.UNKNOWN,
        )
    request = ReadRequest(
        Where.of(dsns, services, jobs, config),
        Display(output_format(fmt), quiet=quiet, verbose=verbose, wide=wide),
        tuple(tables or ()),
        exact=exact,
        now=now,
        timeline=timeline,
    )
    dsn, fleet = request.where.dsn, choose(request.where)
    if fleet is not None:
        fleet.check(request)
    with reported(dsn):
        settings = load_settings(request.where, dsn)
        moment = parse_now(request.now)
        from pgpart import api
        from pgpart.cli.output import render_check
        from pgpart.db.did_you_mean import with_suggestions

        with api.open_connection(settings) as conn:
            log_queries(conn, verbose)
            planned = api.check(conn, settings, request.tables, moment, exact=exact)
            planned = with_suggestions(conn, planned)
        if timeline:
            from pgpart.cli.output.timeline import Block

            emit(timeline_text([Block(None, planned)], wide=wide, quiet=quiet))
        else:
            width = stdout_width(wide)
            emit(render_check(planned, request.display.fmt, quiet=quiet, width=width))
    finish(check_exit_code(planned.status))


def timeline_text(blocks: Sequence[Block], *, wide: bool, quiet: bool) -> str:
    """check --timeline for stdout: its width (the terminal's, $COLUMNS, else
    80; --wide: none) and its glyphs (ASCII unless stdout and the locale take UTF-8)."""
    from pgpart.cli.output.common import terminal_width
    from pgpart.cli.output.timeline import glyphs_for, render_timeline

    width = None if wide else terminal_width(sys.stdout) or TIMELINE_WIDTH
    glyphs = glyphs_for(sys.stdout.encoding, os.environ, bool(sys.flags.utf8_mode))
    return render_timeline(blocks, width, glyphs, quiet=quiet)


TIMELINE_WIDTH = 80  # a picture needs a width: piped, the timeline is drawn for 80 columns


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
    dsn, fleet = request.where.dsn, choose(request.where)
    if fleet is not None:
        fleet.stats(request)
    with reported(dsn):
        settings = load_settings(request.where, dsn)
        from pgpart import api
        from pgpart.cli.output import render_stats
        from pgpart.db.did_you_mean import with_suggestions

        with api.open_connection(settings) as conn:
            log_queries(conn, verbose)
            result, findings = api.stats(conn, settings, request.tables, exact=exact)
            findings = with_suggestions(conn, findings)
        if not quiet:
            emit(render_stats(result, request.display.fmt, width=stdout_width(wide)))
        report_refused(findings.tables, dsn)
    finish(stats_exit_code(refused=bool(findings.tables)))


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
    dsn, fleet = where.dsn, choose(where)
    with reported(dsn):
        target = _init_target(output, force)
        request = InitRequest(where, tuple(tables or ()), target, quiet=quiet)
        if fleet is not None:
            fleet.init(request)
        write_config(request, _suggested_config(request, dsn))


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


def _suggested_config(request: InitRequest, dsn: str | None) -> str:
    """The TOML text for one database; exit 3 (nothing written) when a table
    named on the command line cannot be described."""
    from pgpart import api
    from pgpart.cli.init_config import not_time_partitioned, suggest_config

    settings = load_settings(request.where, dsn)
    with api.open_connection(settings) as conn:
        gathered = api.gather(conn, settings, request.tables, probe=False, templates=False)
    # A TABLE named on the command line that is not a time-partitioned table is
    # an error (exit 3, nothing written), not a note: the config would lack it.
    refused = not_time_partitioned(gathered, request.tables)
    if refused:
        for line in refused:
            say(line)
        fail("nothing written", ExitCode.UNKNOWN)
    text, skipped = suggest_config(gathered, settings)
    for line in skipped:
        say(f"skipped {line}")
    if request.tables and skipped:
        # A table named on the command line that init cannot describe (no
        # partitions to infer the interval from): the file would lack it.
        fail("nothing written", ExitCode.UNKNOWN)
    return text


def write_config(request: InitRequest, text: str) -> None:
    """The file (or stdout), and 'wrote FILE' on stderr unless -q."""
    target = request.target
    if target is None:
        emit(text)
        return
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    if not request.quiet:
        typer.echo(f"wrote {target}", err=True)
