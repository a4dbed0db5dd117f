"""The `pgpart` command: parse, load settings, call the service, render, exit.

No SQL and no date arithmetic here. Heavy modules (psycopg, tabulate, the
planner) are imported inside the commands so `pgpart --version` stays fast.
Every expected failure becomes one line on stderr and an exit code, mapped
in one place (`_run`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import Enum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, TypeVar

import typer
import typer.core

from pgpart import __version__
from pgpart.errors import (
    ExitCode,
    PgpartError,
    StandbyRefused,
    UsageError,
    primary_message,
    write_exit_code,
)

if TYPE_CHECKING:
    from pgpart.cli.output import Format
    from pgpart.config import Settings

T = TypeVar("T")


def _click_class(name: str) -> type[Exception]:
    """A class of the click that typer uses (typer >= 0.2x vendors its own copy)."""
    for klass in typer.BadParameter.__mro__:
        if klass.__name__ == name:
            return klass
    raise LookupError(name)  # pragma: no cover - every click has UsageError


_CLICK_USAGE_ERROR = _click_class("UsageError")


@contextmanager
def _arguments_exit_3() -> Iterator[None]:
    """Bad arguments are UNKNOWN (exit 3, the CONTRACT's "bad config or arguments"),
    not click's 2, which means CRITICAL to a monitoring probe; and one line.

    Only ``pgpart`` alone (help shown, click's no_args_is_help) keeps click's way.
    """
    try:
        yield
    except _CLICK_USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            raise
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "pgpart"
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        _fail(f"{message} (see '{command} -h')", ExitCode.UNKNOWN)


class _Group(typer.core.TyperGroup):
    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        with _arguments_exit_3():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _arguments_exit_3():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt:
                # Outside the commands' own handling (which reports what was
                # done): click would say "Aborted!" and exit 1, i.e. WARNING.
                _fail("interrupted (Ctrl-C)", ExitCode.INTERRUPTED)


app = typer.Typer(
    cls=_Group,
    name="pgpart",
    help="Keep PostgreSQL time-partitioned tables healthy: create partitions ahead, "
    "check coverage, apply retention, without stalling application traffic.",
    no_args_is_help=False,  # `pgpart` alone: help on stderr and exit 3 (see _main)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class ReadFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    prometheus = "prometheus"


class WriteFormat(str, Enum):
    table = "table"
    json = "json"


# Options shared by every command, declared once.
DsnOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional at runtime on 3.10
    typer.Option(
        "--dsn",
        metavar="DSN",
        help="libpq connection string or URI; repeat it for many databases "
        "[env: PGPART_DSN; else libpq's PG* variables]",
        show_default=False,
    ),
]
ServiceOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--service",
        metavar="NAME",
        help="A database by its name in libpq's pg_service.conf; repeatable",
        show_default=False,
    ),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        min=1,
        metavar="N",
        help="Databases worked on at once when there are many (1: one by one).",
    ),
]
DEFAULT_JOBS = 4
ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--config",
        metavar="FILE",
        help="pgpart.toml to read [env: PGPART_CONFIG; else ./pgpart.toml if present]",
        show_default=False,
        dir_okay=False,
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing unless something is wrong.")
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log each SQL statement to stderr.")
]
NowOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--now",
        metavar="TIMESTAMP",
        help="Plan as if it were this moment (ISO 8601; for incidents and "
        "rehearsals) [env: PGPART_NOW]",
        show_default=False,
    ),
]
TablesArg = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Argument(
        help="Tables (schema.table or a name on search_path). Default: the config's "
        "tables, else every time-range-partitioned table.",
        show_default=False,
        metavar="[TABLE]...",
    ),
]
TableArg = Annotated[
    str,
    typer.Argument(
        help="The partitioned table (schema.table or a name on search_path).", metavar="TABLE"
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Print every SQL statement that would run; change nothing."),
]
LockTimeoutOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--lock-timeout",
        metavar="DURATION",
        help="Longest any application query may wait behind pgpart's DDL, "
        "e.g. 500ms; retried with backoff [env: PGPART_LOCK_TIMEOUT; default 500ms]",
        show_default=False,
    ),
]
WideOpt = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="Print long lines whole instead of fitting the terminal's width "
        "(COLUMNS, else the terminal; piped output is never cut).",
    ),
]
ReadFormatOpt = Annotated[ReadFormat, typer.Option("--format", "-f", help="Output format.")]
WriteFormatOpt = Annotated[WriteFormat, typer.Option("--format", "-f", help="Output format.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pgpart {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Keep PostgreSQL time-partitioned tables healthy."""
    if ctx.invoked_subcommand is None:
        # No command is a usage error (exit 3, like any bad argument): the
        # help goes to stderr so that nothing reads it as data.
        typer.echo(ctx.get_help(), err=True)
        _fail("no command given: pick one of the commands above", ExitCode.UNKNOWN)


# --- plumbing ---------------------------------------------------------------


def _one_line(text: str) -> str:
    """Control characters (a newline in a table name...) escaped: one line, always."""
    text = text.strip()  # libpq ends some messages with a newline
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _say(message: str) -> None:
    typer.echo(f"pgpart: {_one_line(message)}", err=True)


def _fail(message: str, code: ExitCode) -> NoReturn:
    _say(message)
    raise typer.Exit(int(code))


def _effective_dsn(dsn: str | None) -> str | None:
    """The DSN whose password must never be shown: the flag's, else $PGPART_DSN's."""
    return dsn if dsn is not None else os.environ.get("PGPART_DSN") or None


@contextmanager
def _errors(dsn: str | None) -> Iterator[None]:
    """Map every expected failure to one line and an exit code."""
    try:
        yield
    except PgpartError as exc:
        from pgpart.db.connect import scrub

        _fail(scrub(exc.message, _effective_dsn(dsn)), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted (Ctrl-C): nothing was changed", ExitCode.INTERRUPTED)
    except Exception as exc:
        import psycopg

        from pgpart.db.connect import scrub

        if isinstance(exc, psycopg.Error):
            reason = primary_message(exc)
            code = ExitCode.UNKNOWN
            if isinstance(exc, psycopg.OperationalError):
                reason = f"lost the connection to the server: {reason}"
            _fail(scrub(reason, _effective_dsn(dsn)), code)
        raise


def _settings(dsn: str | None, config: Path | None, **flags: Any) -> Settings:
    from pgpart.config import Overrides, load_settings

    return load_settings(Overrides(dsn=dsn, config=config, **flags), os.environ, Path.cwd())


def _now(text: str | None) -> datetime:
    if text is None:
        text = os.environ.get("PGPART_NOW") or None
    if text is None:
        return datetime.now(timezone.utc)
    value = _parse_moment(text, "--now")
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise UsageError(f"--now: {text!r} lies outside the years 1 to 9999") from None
    return value


def _parse_moment(text: str, flag: str) -> datetime:
    """ISO 8601 date or timestamp; naive values are read in the table's zone later."""
    from dateutil.parser import isoparse

    try:
        return isoparse(text.strip())
    except (ValueError, OverflowError) as exc:
        raise UsageError(f"{flag}: {text!r} is not an ISO 8601 date or timestamp ({exc})") from None


def _logger(verbose: bool, member: str | None = None) -> Callable[[str], None] | None:
    """With -v, how statements are logged (after a fleet member's name)."""
    if not verbose:
        return None
    prefix = f"pgpart: sql: {member}: " if member else "pgpart: sql: "
    return lambda line: typer.echo(f"{prefix}{line}", err=True)


def _log_queries(conn: Any, verbose: bool, member: str | None = None) -> None:
    """With -v, log every query pgpart sends on ``conn`` (catalog reads too)."""
    maybe = _logger(verbose, member)
    if maybe is None:
        return
    log: Callable[[str], None] = maybe
    import psycopg

    class LoggingCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            text = query if isinstance(query, str) else query.as_string(self)
            log(" ".join(text.split()))
            return super().execute(query, params, **kwargs)

    conn.cursor_factory = LoggingCursor


def _emit(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


def _format(value: Enum) -> Format:
    from pgpart.cli.output import Format

    return Format(value.value)


def _fleet(
    dsns: list[str] | None, services: list[str] | None, jobs: int, config: Path | None, **flags: Any
) -> tuple[str | None, Any]:
    """(the DSN, None) for one database as always; (first DSN, Fleet) for many
    databases: repeated --dsn, any --service, or [[database]] blocks in the config
    (unless $PGPART_DSN names one database). See pgpart.cli.fleet."""
    dsns, services = list(dsns or []), list(services or [])
    dsn = dsns[0] if dsns else None
    if len(dsns) <= 1 and not services:
        if dsn is not None:
            return dsn, None
        try:
            settings = _settings(None, config, **flags)
        except PgpartError:
            return dsn, None  # the single-database path says what is wrong, as always
        if settings.databases and os.environ.get("PGPART_DSN"):
            _say(
                f"PGPART_DSN is set: working on that one database, not on the "
                f"[[database]] blocks of {settings.config_path} (unset it for them)"
            )
            return dsn, None
        if not settings.databases:
            return dsn, None
    from pgpart.cli.fleet import Fleet

    with _errors(dsn):
        return dsn, Fleet.create(dsns, services, jobs, _settings(None, config, **flags))


# --- read commands ----------------------------------------------------------


@app.command()
def check(
    tables: TablesArg = None,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact", help="Count DEFAULT rows exactly (reads them all) instead of sampling."
        ),
    ] = False,
    fmt: ReadFormatOpt = ReadFormat.table,
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
      pgpart check public.events -f json    # one table, for a script
      pgpart check -q                       # Nagios/Icinga: silent unless not OK
    """

    dsn, fleet = _fleet(dsns, services, jobs, config)
    if fleet is not None:
        fleet.check(
            tables or [], exact=exact, fmt=_format(fmt), quiet=quiet, now=now, verbose=verbose
        )
    settings = None
    with _errors(dsn):
        settings = _settings(dsn, config)
        moment = _now(now)
        from pgpart import api as service
        from pgpart.cli.output import render_check

        with service.open_connection(settings) as conn:
            _log_queries(conn, verbose)
            planned = service.check(conn, settings, tables or [], moment, exact=exact)
            planned = _with_suggestions(conn, planned)
        _emit(render_check(planned, _format(fmt), quiet=quiet, width=None if wide else _width()))
    raise typer.Exit(planned.status.rank)


@app.command()
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

    dsn, fleet = _fleet(dsns, services, jobs, config)
    if fleet is not None:
        fleet.stats(tables or [], exact=exact, fmt=_format(fmt), quiet=quiet, verbose=verbose)
    with _errors(dsn):
        settings = _settings(dsn, config)
        from pgpart import api as service
        from pgpart.cli.output import render_stats

        with service.open_connection(settings) as conn:
            _log_queries(conn, verbose)
            result, findings = service.stats(conn, settings, tables or [], exact=exact)
            findings = _with_suggestions(conn, findings)
        if not quiet:
            _emit(render_stats(result, _format(fmt), width=None if wide else _width()))
        _report_refused(findings.tables, dsn)
    raise typer.Exit(3 if findings.tables else 0)


@app.command()
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

    dsn, fleet = _fleet(dsns, services, jobs, config)
    with _errors(dsn):
        target = None if output == "-" else Path(output)
        try:
            exists = target is not None and target.exists()
        except (OSError, ValueError) as exc:  # NUL in the name, name too long
            raise UsageError(f"--output: cannot use {output!r}: {exc}") from None
        if exists and not force:
            raise UsageError(f"{target} already exists: pass --force to overwrite it")
        if fleet is not None:
            fleet.init(tables or [], target=target, quiet=quiet)
        settings = _settings(dsn, config)
        from pgpart import api as service
        from pgpart.cli.init_config import suggest_config

        with service.open_connection(settings) as conn:
            gathered = service.gather(conn, settings, tables or [], probe=False, templates=False)
        # A TABLE named on the command line that is not a time-partitioned table is
        # an error (exit 3, nothing written), not a note: the config would lack it.
        refused = [
            t
            for t in gathered.targets
            if tables and (t.table is None or not t.table.is_time_range or t.table.relkind != "p")
        ]
        if refused:
            for t in refused:
                _say(
                    f"table {t.argument} does not exist"
                    if t.table is None
                    else f"{t.table.qualified} is not range-partitioned on a date/time column"
                )
            _fail("nothing written", ExitCode.UNKNOWN)
        text, skipped = suggest_config(gathered, settings)
        for line in skipped:
            _say(f"skipped {line}")
        if tables and skipped:
            # A table named on the command line that init cannot describe (no
            # partitions to infer the interval from): the file would lack it.
            _fail("nothing written", ExitCode.UNKNOWN)
        if target is None:
            _emit(text)
        else:
            try:
                target.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
            if not quiet:
                typer.echo(f"wrote {target}", err=True)


# --- write commands ---------------------------------------------------------


def _write(
    *,
    dsn: str | None,
    config: Path | None,
    tables: list[str],
    request_args: dict[str, Any],
    flags: dict[str, Any],
    now: str | None,
    dry_run: bool,
    quiet: bool,
    verbose: bool,
    fmt: WriteFormat,
    wide: bool = False,
    confirm: Callable[[Any, Any], bool] | None = None,
    fleet: Any = None,
    confirm_all: Callable[[Any], bool] | None = None,
) -> None:
    if fleet is not None:
        fleet.write(
            tables=tables,
            request_args=request_args,
            now=now,
            dry_run=dry_run,
            quiet=quiet,
            verbose=verbose,
            fmt=_format(fmt),
            confirm=confirm_all,
        )
    width = None if wide else _width()
    with _errors(dsn):
        settings = _settings(dsn, config, **flags)
        moment = _now(now)
        from pgpart import api as service
        from pgpart.cli.output import render_results
        from pgpart.core.planner import Mode, Request

        request = Request(max_new_partitions=settings.max_new_partitions, **request_args)
        try:
            with service.open_connection(settings) as conn:
                _log_queries(conn, verbose)
                planned = service.plan_changes(
                    conn, settings, tables, moment, request, allow_standby=dry_run
                )
                planned = _with_suggestions(conn, planned)
        except StandbyRefused as exc:
            if request.mode is not Mode.MAINTAIN:
                raise
            # The same cron runs on every node so that it survives a failover:
            # on the standby it is a deliberate no-op (as pg_partman does).
            if not quiet:
                _say(
                    f"{exc.message.split(':')[0]}: nothing to do here; maintain runs on the primary"
                )
            raise typer.Exit(int(ExitCode.OK)) from None
        declined = confirm is not None and not dry_run and planned.actions
        if declined and confirm is not None and not confirm(planned, settings):
            raise typer.Exit(int(ExitCode.OK))  # a declined confirmation: a deliberate no-op
        show = _Progress(planned, enabled=not quiet and _is_terminal(sys.stderr))
        try:
            results = service.apply(
                settings, planned, dry_run=dry_run, log=_logger(verbose), progress=show
            )
        except KeyboardInterrupt:
            show.clear()
            _interrupted(show, planned, fmt, width, dsn)
        show.clear()
        from pgpart.core.plan import Plan

        refused = [t for t in planned.tables if _refused(t)]
        shown = planned
        if refused and fmt is not WriteFormat.json:
            # Said once on stderr below; stdout keeps the tables pgpart could work on.
            # JSON keeps every table: its readers want one document, whatever happened.
            kept = tuple(t for t in planned.tables if not _refused(t))
            shown = Plan(planned.now, kept, planned.server_version)
        after = None
        stopped = False  # Ctrl-C during the check after the run: its result stands
        if not dry_run and not quiet and (shown.tables or not refused):
            # The tables named (minus those refused: said once already), else the
            # config's or discovery's, as the run itself chose them.
            named = [t.table for t in shown.tables] if tables else []
            try:
                after = _check_after(settings, named, moment, dsn)
            except KeyboardInterrupt:
                stopped = True
        if shown.tables or not refused:
            _emit(
                render_results(
                    results,
                    shown,
                    _format(fmt),
                    quiet=quiet,
                    dry_run=dry_run,
                    width=width,
                    after=after,
                )
            )
        if stopped:
            _say("interrupted (Ctrl-C) while checking the state after the run; the run is complete")
        _report_refused(refused, dsn)
        if quiet:
            _report_blocked(
                [
                    t
                    for t in planned.tables
                    if not _refused(t) and (t.blocked or _bad_config(Plan(planned.now, (t,))))
                ],
                dsn,
            )
        _report_failures(results, dsn)
        _report_withheld(planned.tables, dsn, quiet=quiet)
        failed = any(r.error for r in results) or any(t.blocked for t in planned.tables)
        bad = bool(refused) or _bad_config(planned)
    code = write_exit_code(refused=bad, failed=failed, interrupted=stopped)
    raise typer.Exit(int(code))


def _with_suggestions(conn: Any, planned: Any) -> Any:
    from pgpart.db.did_you_mean import with_suggestions

    return with_suggestions(conn, planned)


def _width() -> int | None:
    from pgpart.cli.output import terminal_width

    return terminal_width(sys.stdout)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Progress:
    """Receives the executor's progress events: keeps the finished results
    (what was done, should Ctrl-C come) and, on a terminal, shows lock waits
    and rows moved on stderr. Nothing in cron (no terminal) or with -q."""

    def __init__(self, planned: Any, *, enabled: bool) -> None:
        self.planned = planned
        self.enabled = enabled
        self.finished: list[Any] = []
        self.started: Any = None  # the action in flight, if any
        self.shown = False

    def __call__(self, event: Any) -> None:
        if event.kind == "started":
            self.started = event.action
            return
        if event.kind == "finished":
            self.finished.append(event.result)
            self.started = None
            return
        if not self.enabled:
            return
        if event.kind == "lock_wait":
            # Who first (pid, mode), then the query, which the width may cut.
            import re

            who = re.match(r"(held|queued ahead) by pid (\d+)[^:]*(?:: (.*))?", event.holder or "")
            holder = f" {who.group(1)} by pid {who.group(2)}" if who else ""
            query = f": {who.group(3)}" if who and who.group(3) else ""
            text = (
                f"waiting for a lock on {event.relation or '?'}{holder},"
                f" attempt {event.attempt}{query}"
            )
        else:
            text = f"{event.action.partition}: {event.rows:,} rows moved out of DEFAULT so far"
        from pgpart.cli.output import terminal_width

        width = (terminal_width(sys.stderr) or 80) - 1
        if len(text) > width:
            text = text[: width - 3] + "..."
        # One status line, rewritten in place; cleared before the result.
        sys.stderr.write("\r\x1b[2K" + _one_line(text))
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            self.shown = False

    @property
    def in_flight(self) -> Any:
        return self.started


def _interrupted(
    show: _Progress, planned: Any, fmt: WriteFormat, width: int | None, dsn: str | None
) -> NoReturn:
    """Ctrl-C while applying: what was done, what was rolled back, exit 130."""
    from pgpart.cli.output import render_results

    done = list(show.finished)
    _emit(
        render_results(
            done, planned, _format(fmt), quiet=False, dry_run=False, width=width, interrupted=True
        )
    )
    current = show.in_flight
    where = (
        f" during {current.action} {current.partition} of {current.table.qualified}"
        " (rolled back: it is as before)"
        if current is not None
        else ""
    )
    left = len(planned.actions) - len(done) - (1 if current is not None else 0)
    _report_failures(done, dsn)
    finished = f"{len(done)} action(s) finished before" if current else f"{len(done)} finished"
    _fail(
        f"interrupted (Ctrl-C){where or ' between two actions'}; {finished}, {left} not attempted",
        ExitCode.INTERRUPTED,
    )


def _check_after(settings: Any, tables: list[str], moment: datetime, dsn: str | None) -> Any:
    """The check status a writing run left (a fresh catalog read); None when
    it cannot be read (said on stderr: the run's own result stands)."""
    import psycopg

    from pgpart import api as service
    from pgpart.db.connect import scrub

    try:
        with service.open_connection(settings) as conn:
            return service.check(conn, settings, tables, moment)
    except (PgpartError, psycopg.Error) as exc:
        reason = exc.message if isinstance(exc, PgpartError) else primary_message(exc)
        _say(scrub(f"could not check the state after the run: {reason}", _effective_dsn(dsn)))
        return None


# A refusal of a config value or argument found only while planning (it needs
# the table's interval): UNKNOWN, exit 3, even when other actions ran.
BAD_CONFIG_CODES = frozenset({"retention_too_short"})


def _bad_config(planned: Any) -> bool:
    return any(p.code in BAD_CONFIG_CODES for t in planned.tables for p in t.problems)


def _report_blocked(tables: Any, dsn: str | None) -> None:
    """With -q, the problems that kept pgpart from changing a table (stdout is silent)."""
    for table in tables:
        for problem in table.problems:
            _say_problem(table, problem, dsn)


def _say_problem(table: Any, problem: Any, dsn: str | None) -> None:
    """One stderr line: 'TABLE: CODE: MESSAGE', the password masked."""
    from pgpart.db.connect import scrub

    _say(scrub(f"{table.table}: {problem.code}: {problem.message}", _effective_dsn(dsn)))


def _report_failures(results: list[Any], dsn: str | None) -> None:
    """One stderr line per table whose actions failed (stdout has the details)."""
    from pgpart.db.connect import scrub

    for line in failure_lines(results):
        _say(scrub(line, _effective_dsn(dsn)))


def failure_lines(results: list[Any]) -> list[str]:
    """Per table whose actions failed: its first real failure (not a 'not
    attempted'), and how many more actions were not done."""
    from pgpart.db.executor import FailureKind

    by_table: dict[str, list[Any]] = {}
    for r in results:
        if r.error:
            by_table.setdefault(r.action.table.qualified, []).append(r)
    lines = []
    for table, failed in by_table.items():
        first = next(
            (r for r in failed if r.failure and r.failure.kind is not FailureKind.NOT_ATTEMPTED),
            failed[0],
        )
        more = len(failed) - 1
        line = f"{table}: {first.error}"
        if more:
            line += f" ({more} more action{'s' if more > 1 else ''} not done)"
        lines.append(line)
    return lines


# Problems that make pgpart leave part of a table's work undone (exit 2).
WITHHOLDING_CODES = frozenset({"cannot_reproduce", "relocation_blocked", "cannot_drop"})


def _report_withheld(tables: Any, dsn: str | None, *, quiet: bool) -> None:
    """One stderr line per problem for which work was deliberately left undone
    (with -q, _report_blocked says those), and per thing new partitions will
    lack although they are made (a publication pgpart may not change)."""
    for table in tables:
        for p in table.problems:
            withheld = table.blocked and not quiet and p.code in WITHHOLDING_CODES
            lacking = not table.blocked and table.actions and p.code == "cannot_reproduce"
            if withheld or lacking:
                _say_problem(table, p, dsn)


# Problems that mean "this is not a table pgpart can work on": UNKNOWN, exit 3.
REFUSED_CODES = frozenset(
    {"unknown_table", "not_partitioned", "unsupported_key", "out_of_range", "retention_too_short"}
)


def _refused(table: Any) -> bool:
    return bool(
        table.status.value == "unknown"
        and table.blocked
        and not table.actions
        and any(p.code in REFUSED_CODES for p in table.problems)
    )


def _report_refused(tables: Any, dsn: str | None) -> None:
    """One stderr line per table pgpart cannot work on (the problem names it)."""
    from pgpart.db.connect import scrub

    for table in tables:
        for problem in table.problems:
            _say(scrub(problem.message, _effective_dsn(dsn)))


@app.command()
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
    dry_run: DryRunOpt = False,
    lock_timeout: LockTimeoutOpt = None,
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
    from pgpart.core.planner import Mode

    dsn, fleet = _fleet(dsns, services, jobs, config, lock_timeout=lock_timeout)

    with _errors(dsn):
        parsed_interval = _interval(interval)
        start = _parse_moment(from_, "--from") if from_ is not None else None
        end = _parse_moment(to, "--to") if to is not None else None
        if start and end and _comparable(start) >= _comparable(end):
            raise UsageError(f"--from {from_} is not before --to {to}")
    _write(
        dsn=dsn,
        fleet=fleet,
        config=config,
        tables=[table],
        now=now,
        dry_run=dry_run,
        quiet=quiet,
        verbose=verbose,
        fmt=fmt,
        wide=wide,
        flags={"lock_timeout": lock_timeout},
        request_args={
            "mode": Mode.CREATE,
            "interval": parsed_interval,
            "create_from": start,
            "create_to": end,
            "force": force,
        },
    )


def _comparable(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _interval(text: str | None) -> Any:
    if text is None:
        return None
    from pgpart.core.calendar import parse_interval

    try:
        return parse_interval(text)
    except ValueError as exc:
        raise UsageError(f"--interval: {exc}") from None


@app.command()
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
    lock_timeout: LockTimeoutOpt = None,
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
    into them, finish interrupted detaches, apply configured retention. Idempotent.

    Examples:

    \b
      pgpart maintain -q                    # cron: silent unless something failed
      pgpart maintain --dry-run             # the summary, then every statement
      pgpart maintain public.messages --lock-timeout 200ms
    """
    from pgpart.core.planner import Mode

    dsn, fleet = _fleet(dsns, services, jobs, config, lock_timeout=lock_timeout)

    _write(
        dsn=dsn,
        fleet=fleet,
        config=config,
        tables=tables or [],
        now=now,
        dry_run=dry_run,
        quiet=quiet,
        verbose=verbose,
        fmt=fmt,
        wide=wide,
        flags={"lock_timeout": lock_timeout},
        request_args={"mode": Mode.MAINTAIN, "force": force},
    )


@app.command()
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
    holding the current time, and every later one, is never touched.

    Exactly one of --older-than DURATION or --before DATE is required.

    Examples:

    \b
      pgpart drop public.events --older-than "90 days" --dry-run
      pgpart drop public.events --before 2026-01-01 --yes
      pgpart drop public.messages --older-than "12 months" --detach
    """
    from pgpart.core.planner import Mode

    dsn, fleet = _fleet(dsns, services, jobs, config, lock_timeout=lock_timeout)

    with _errors(dsn):
        if (older_than is None) == (before is None):
            raise UsageError("give exactly one of --older-than DURATION or --before DATE")
        duration = None
        if older_than is not None:
            from pgpart.core.durations import Duration

            try:
                duration = Duration.parse(older_than)
            except ValueError as exc:
                raise UsageError(f"--older-than: {exc}") from None
        cutoff = _parse_moment(before, "--before") if before is not None else None
        if not dry_run and not yes and not sys.stdin.isatty():
            raise UsageError(
                "refusing to drop without a terminal to confirm: pass --yes "
                "(or --dry-run to see what would go)"
            )

    def confirm(planned: Any, settings: Any) -> bool:
        if yes:
            return True
        verb = "detach" if detach else "drop"
        typer.echo(_drop_preview(planned, settings, verb, None if wide else _width()), err=True)
        try:
            sys.stderr.write(
                f"{verb.capitalize()} these {len(planned.actions)} partition(s)? [y/N]: "
            )
            sys.stderr.flush()
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            typer.echo("", err=True)
            _fail(f"interrupted (Ctrl-C): nothing {verb}ped", ExitCode.INTERRUPTED)
        if answer.strip().lower() in ("y", "yes"):
            return True
        if not answer:
            typer.echo("", err=True)  # end of input: end the prompt's line
        _say(f"not confirmed: nothing {verb}ped")
        return False

    _write(
        dsn=dsn,
        fleet=fleet,
        config=config,
        tables=[table],
        now=now,
        dry_run=dry_run,
        quiet=quiet,
        verbose=verbose,
        fmt=fmt,
        wide=wide,
        flags={"lock_timeout": lock_timeout},
        confirm=confirm,
        confirm_all=None if yes else partial(_prompt_drop, detach=detach),
        request_args={
            "mode": Mode.DROP,
            "drop_older_than": duration,
            "drop_before": cutoff,
            "drop_detach": detach,
            "force": force,
        },
    )


def _prompt_drop(plans: Any, *, detach: bool) -> bool:
    from pgpart.cli.fleet import prompt_drop

    return prompt_drop(plans, detach=detach)


def _drop_preview(planned: Any, settings: Any, verb: str, width: int | None) -> str:
    """What the prompt is about to remove: each partition with its range,
    estimated rows and size, and the total."""
    import psycopg

    from pgpart import api as service
    from pgpart.cli.output import render_drop_preview
    from pgpart.core.identifiers import display_name

    names = [display_name(a.partition_schema, a.partition) for a in planned.actions]
    found: dict[str, Any] = {}
    try:
        with service.open_connection(settings) as conn:
            tables = sorted({a.table.qualified for a in planned.actions})
            stats, _ = service.stats(conn, settings, tables)
        found = {p.name: p for s in stats for p in s.partitions}
    except (PgpartError, psycopg.Error):
        pass  # sizes unknown: the list of partitions is still shown
    return render_drop_preview(planned.actions, [found.get(n) for n in names], verb, width)


@app.command()
def restore(
    archive: Annotated[
        Path,
        typer.Argument(help="An archive's dump (.dump) or manifest (.json), as maintain wrote it."),
    ],
    dry_run: DryRunOpt = False,
    lock_timeout: LockTimeoutOpt = None,
    fmt: WriteFormatOpt = WriteFormat.table,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    dsns: DsnOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Bring back a partition that retention_mode = "archive" dumped: pg_restore it,
    check its rows and checksum, and re-attach it when its range is free (else keep
    it as a plain table and say why)."""
    dsn = dsns[0] if dsns else None
    with _errors(dsn):
        if dsns and len(dsns) > 1:
            raise UsageError("restore works on one database: give one --dsn")
        settings = _settings(dsn, config, lock_timeout=lock_timeout)
        from pgpart.db.restore import render_restore, restore

        result = restore(settings, archive, dry_run=dry_run, log=_logger(verbose))
        if not quiet or fmt is WriteFormat.json:
            _emit(render_restore(result, fmt.value))
        if not result.attached and not dry_run and quiet:
            _say(f"{result.table} restored as a plain table: {result.why}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
