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
from pgpart.errors import ExitCode, PgpartError, UsageError, primary_message

if TYPE_CHECKING:
    from pgpart.config import Settings
    from pgpart.render import Format

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
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Group,
    name="pgpart",
    help="Keep PostgreSQL time-partitioned tables healthy: create partitions ahead, "
    "check coverage, apply retention, without stalling application traffic.",
    no_args_is_help=True,
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
        help="libpq connection string or URI; repeat it for many databases "
        "[env: PGPART_DSN; else libpq's PG* variables]",
        show_default=False,
    ),
]
ServiceOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--service",
        help="A database by its name in libpq's pg_service.conf; repeatable",
        show_default=False,
    ),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs", min=1, help="Databases worked on at once when there are many (1: one by one)."
    ),
]
DEFAULT_JOBS = 4
ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--config",
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
    ),
]
TableArg = Annotated[
    str, typer.Argument(help="The partitioned table (schema.table or a name on search_path).")
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Print every SQL statement that would run; change nothing."),
]
LockTimeoutOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--lock-timeout",
        help="Longest any application query may wait behind pgpart's DDL, "
        "e.g. 500ms; retried with backoff [env: PGPART_LOCK_TIMEOUT; default 500ms]",
        show_default=False,
    ),
]
ReadFormatOpt = Annotated[ReadFormat, typer.Option("--format", "-f", help="Output format.")]
WriteFormatOpt = Annotated[WriteFormat, typer.Option("--format", "-f", help="Output format.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pgpart {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Keep PostgreSQL time-partitioned tables healthy."""


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
        from pgpart.connect import scrub

        _fail(scrub(exc.message, _effective_dsn(dsn)), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.CRITICAL)
    except Exception as exc:
        import psycopg

        from pgpart.connect import scrub

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


def _logger(verbose: bool) -> Callable[[str], None] | None:
    if not verbose:
        return None
    return lambda line: typer.echo(f"pgpart: sql: {line}", err=True)


def _log_queries(conn: Any, verbose: bool) -> None:
    """With -v, log every query pgpart sends on ``conn`` (catalog reads too)."""
    maybe = _logger(verbose)
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
    from pgpart.render import Format

    return Format(value.value)


def _fleet(
    dsns: list[str] | None, services: list[str] | None, jobs: int, config: Path | None, **flags: Any
) -> tuple[str | None, Any]:
    """(the DSN, None) for one database as always; (first DSN, Fleet) for many
    databases: repeated --dsn, any --service, or [[database]] blocks in the config
    (unless $PGPART_DSN names one database). See pgpart.fleet_cli."""
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
    from pgpart.fleet_cli import Fleet

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
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    now: NowOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Read-only health of each table's partitions; the exit code is the verdict
    (0 ok, 1 warning, 2 critical, 3 unknown)."""
    dsn, fleet = _fleet(dsns, services, jobs, config)
    if fleet is not None:
        fleet.check(
            tables or [], exact=exact, fmt=_format(fmt), quiet=quiet, now=now, verbose=verbose
        )
    settings = None
    with _errors(dsn):
        settings = _settings(dsn, config)
        moment = _now(now)
        from pgpart import service
        from pgpart.render import render_check

        with service.open_connection(settings) as conn:
            _log_queries(conn, verbose)
            planned = service.check(conn, settings, tables or [], moment, exact=exact)
        _emit(render_check(planned, _format(fmt), quiet=quiet))
    raise typer.Exit(planned.status.rank)


@app.command()
def stats(
    tables: TablesArg = None,
    exact: Annotated[
        bool,
        typer.Option("--exact", help="Count rows with count(*) instead of the planner's estimate."),
    ] = False,
    fmt: ReadFormatOpt = ReadFormat.table,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Per-partition range, rows (estimate unless --exact) and bytes, with totals."""
    dsn, fleet = _fleet(dsns, services, jobs, config)
    if fleet is not None:
        fleet.stats(tables or [], exact=exact, fmt=_format(fmt), quiet=quiet, verbose=verbose)
    with _errors(dsn):
        settings = _settings(dsn, config)
        from pgpart import service
        from pgpart.render import render_stats

        with service.open_connection(settings) as conn:
            _log_queries(conn, verbose)
            result, findings = service.stats(conn, settings, tables or [], exact=exact)
        if not quiet:
            _emit(render_stats(result, _format(fmt)))
        _report_refused(findings.tables, dsn)
    raise typer.Exit(3 if findings.tables else 0)


@app.command()
def init(
    tables: TablesArg = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="File to write, or - for stdout.")
    ] = "pgpart.toml",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Introspect the database and write a pgpart.toml for its partitioned tables."""
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
        from pgpart import service
        from pgpart.init import suggest_config

        with service.open_connection(settings) as conn:
            gathered = service.gather(conn, settings, tables or [], probe=False)
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
    confirm: Callable[[Any], bool] | None = None,
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
    with _errors(dsn):
        settings = _settings(dsn, config, **flags)
        moment = _now(now)
        from pgpart import service
        from pgpart.planner import Request
        from pgpart.render import render_results

        request = Request(max_new_partitions=settings.max_new_partitions, **request_args)
        with service.open_connection(settings) as conn:
            _log_queries(conn, verbose)
            planned = service.plan_changes(
                conn, settings, tables, moment, request, allow_standby=dry_run
            )
        if confirm is not None and not dry_run and planned.actions and not confirm(planned):
            _fail("nothing done", ExitCode.CRITICAL)
        results = service.apply(settings, planned, dry_run=dry_run, log=_logger(verbose))
        refused = [t for t in planned.tables if _refused(t)]
        shown = planned
        if refused and fmt is not WriteFormat.json:
            # Said once on stderr below; stdout keeps the tables pgpart could work on.
            # JSON keeps every table: its readers want one document, whatever happened.
            from pgpart.plan import Plan

            kept = tuple(t for t in planned.tables if not _refused(t))
            shown = Plan(planned.now, kept, planned.server_version)
        if shown.tables or not refused:
            _emit(render_results(results, shown, _format(fmt), quiet=quiet, dry_run=dry_run))
        _report_refused(refused, dsn)
        _report_failures(results, dsn)
        _report_withheld(planned.tables, dsn)
        failed = any(r.error for r in results) or any(t.blocked for t in planned.tables)
    raise typer.Exit(3 if refused else 2 if failed else 0)


def _report_failures(results: list[Any], dsn: str | None) -> None:
    """One stderr line per table whose actions failed (stdout has the details):
    the first error, and what the login role lacks when it is a privilege."""
    from pgpart.connect import scrub
    from pgpart.executor import FailureKind

    by_table: dict[str, list[Any]] = {}
    for r in results:
        if r.error:
            by_table.setdefault(r.action.table.qualified, []).append(r)
    for table, failed in by_table.items():
        first = next(
            (r for r in failed if r.failure and r.failure.kind is not FailureKind.NOT_ATTEMPTED),
            failed[0],
        )
        more = len(failed) - 1
        line = f"{table}: {first.error}"
        if more:
            line += f" ({more} more action{'s' if more > 1 else ''} not done)"
        _say(scrub(line, _effective_dsn(dsn)))


# Problems that make pgpart leave part of a table's work undone (exit 2).
WITHHOLDING_CODES = frozenset({"cannot_reproduce", "relocation_blocked", "cannot_drop"})


def _report_withheld(tables: Any, dsn: str | None) -> None:
    """One stderr line per problem for which work was deliberately left undone."""
    from pgpart.connect import scrub

    for table in tables:
        if table.blocked:
            for p in table.problems:
                if p.code in WITHHOLDING_CODES:
                    _say(scrub(f"{table.table}: {p.code}: {p.message}", _effective_dsn(dsn)))


# Problems that mean "this is not a table pgpart can work on": UNKNOWN, exit 3.
REFUSED_CODES = frozenset({"unknown_table", "not_partitioned", "unsupported_key", "out_of_range"})


def _refused(table: Any) -> bool:
    return bool(
        table.status.value == "unknown"
        and table.blocked
        and not table.actions
        and any(p.code in REFUSED_CODES for p in table.problems)
    )


def _report_refused(tables: Any, dsn: str | None) -> None:
    """One stderr line per table pgpart cannot work on (the problem names it)."""
    from pgpart.connect import scrub

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
            help="Start (ISO date or timestamp; default: the current period).",
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="End, exclusive (default: the premake horizon).", show_default=False
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            help="hourly, daily, weekly, monthly, quarterly or yearly"
            " (default: configured, else inferred).",
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
    verbose: VerboseOpt = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """Create the missing partitions covering [--from, --to) (default: the current
    one through the premake horizon), moving matching rows out of DEFAULT."""
    from pgpart.planner import Mode

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
    from pgpart.calendar import parse_interval

    try:
        return parse_interval(text)
    except ValueError as exc:
        raise UsageError(f"--interval: {exc}") from None


@app.command()
def maintain(
    tables: TablesArg = None,
    dry_run: DryRunOpt = False,
    lock_timeout: LockTimeoutOpt = None,
    fmt: WriteFormatOpt = WriteFormat.table,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """What cron runs: create partitions through the premake horizon, move DEFAULT rows
    into them, finish interrupted detaches, apply configured retention. Idempotent."""
    from pgpart.planner import Mode

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
        flags={"lock_timeout": lock_timeout},
        request_args={"mode": Mode.MAINTAIN},
    )


@app.command()
def drop(
    table: TableArg,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Drop partitions lying wholly before now minus this, e.g. '90 days'.",
            show_default=False,
        ),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before", help="Drop partitions lying wholly before this date.", show_default=False
        ),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="Detach instead of dropping (keep the tables).")
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
    verbose: VerboseOpt = False,
    dsns: DsnOpt = None,
    services: ServiceOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """Remove (or --detach) partitions lying wholly before a cutoff. The partition
    holding the current time, and every later one, is never touched."""
    from pgpart.planner import Mode

    dsn, fleet = _fleet(dsns, services, jobs, config, lock_timeout=lock_timeout)

    with _errors(dsn):
        if (older_than is None) == (before is None):
            raise UsageError("give exactly one of --older-than DURATION or --before DATE")
        duration = None
        if older_than is not None:
            from pgpart.duration import Duration

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

    def confirm(planned: Any) -> bool:
        if yes:
            return True
        from pgpart.render import Format, render_results

        preview = service_preview(planned)
        typer.echo(
            render_results(preview, planned, Format.TABLE, quiet=False, dry_run=False), err=True
        )
        return typer.confirm(
            f"{'Detach' if detach else 'Drop'} these {len(planned.actions)} partition(s)?",
            default=False,
            err=True,
        )

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
        flags={"lock_timeout": lock_timeout},
        confirm=confirm,
        confirm_all=None if yes else partial(_prompt_drop, detach=detach),
        request_args={
            "mode": Mode.DROP,
            "drop_older_than": duration,
            "drop_before": cutoff,
            "drop_detach": detach,
        },
    )


def _prompt_drop(plans: Any, *, detach: bool) -> bool:
    from pgpart.fleet_cli import prompt_drop

    return prompt_drop(plans, detach=detach)


def service_preview(planned: Any) -> list[Any]:
    """Planned actions as not-yet-run results, for the confirmation prompt."""
    from pgpart.executor import ActionResult

    return [
        ActionResult(
            action=a, done=False, skipped=False, error=None, sql=(), attempts=0, seconds=0.0
        )
        for a in planned.actions
    ]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
