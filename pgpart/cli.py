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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, TypeVar

import typer

from pgpart import __version__
from pgpart.errors import ExitCode, PgpartError, UsageError

if TYPE_CHECKING:
    from pgpart.config import Settings
    from pgpart.render import Format

T = TypeVar("T")

app = typer.Typer(
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
    Optional[str],  # noqa: UP045 - typer needs Optional at runtime on 3.10
    typer.Option(
        "--dsn",
        help="libpq connection string or URI [env: PGPART_DSN; else libpq's PG* variables]",
        show_default=False,
    ),
]
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


def _fail(message: str, code: ExitCode) -> NoReturn:
    typer.echo(f"pgpart: {message}", err=True)
    raise typer.Exit(int(code))


@contextmanager
def _errors(dsn: str | None) -> Iterator[None]:
    """Map every expected failure to one line and an exit code."""
    try:
        yield
    except PgpartError as exc:
        from pgpart.connect import scrub

        _fail(scrub(exc.message, dsn), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.CRITICAL)
    except Exception as exc:
        import psycopg

        from pgpart.connect import scrub

        if isinstance(exc, psycopg.Error):
            reason = " ".join(str(exc).split()) or type(exc).__name__
            code = ExitCode.UNKNOWN
            if isinstance(exc, psycopg.OperationalError):
                reason = f"lost the connection to the server: {reason}"
            _fail(scrub(reason, dsn), code)
        raise


def _settings(dsn: str | None, config: Path | None, **flags: Any) -> Settings:
    from pgpart.config import Overrides, load_settings

    return load_settings(Overrides(dsn=dsn, config=config, **flags), os.environ, Path.cwd())


def _now(text: str | None) -> datetime:
    text = text or os.environ.get("PGPART_NOW") or None
    if not text:
        return datetime.now(timezone.utc)
    value = _parse_moment(text, "--now")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


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


def _emit(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


def _format(value: Enum) -> Format:
    from pgpart.render import Format

    return Format(value.value)


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
    dsn: DsnOpt = None,
    config: ConfigOpt = None,
    now: NowOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Read-only health of each table's partitions; the exit code is the verdict
    (0 ok, 1 warning, 2 critical, 3 unknown)."""
    settings = None
    with _errors(dsn):
        settings = _settings(dsn, config)
        moment = _now(now)
        from pgpart import service
        from pgpart.render import render_check

        with service.open_connection(settings) as conn:
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
    dsn: DsnOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Per-partition range, rows (estimate unless --exact) and bytes, with totals."""
    with _errors(dsn):
        settings = _settings(dsn, config)
        from pgpart import service
        from pgpart.render import render_check, render_stats

        with service.open_connection(settings) as conn:
            result, findings = service.stats(conn, settings, tables or [], exact=exact)
        _emit(render_stats(result, _format(fmt)))
        if findings.tables:
            typer.echo(render_check(findings, _format(ReadFormat.table)).rstrip(), err=True)
    raise typer.Exit(3 if findings.tables else 0)


@app.command()
def init(
    tables: TablesArg = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="File to write, or - for stdout.")
    ] = "pgpart.toml",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    dsn: DsnOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Introspect the database and write a pgpart.toml for its partitioned tables."""
    with _errors(dsn):
        target = None if output == "-" else Path(output)
        if target is not None and target.exists() and not force:
            raise UsageError(f"{target} already exists: pass --force to overwrite it")
        settings = _settings(dsn, config)
        from pgpart import service
        from pgpart.init import suggest_config

        with service.open_connection(settings) as conn:
            gathered = service.gather(conn, settings, tables or [], probe=False)
        text, skipped = suggest_config(gathered, settings)
        for line in skipped:
            typer.echo(f"pgpart: skipped {line}", err=True)
        if target is None:
            _emit(text)
        else:
            target.write_text(text, encoding="utf-8")
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
) -> None:
    with _errors(dsn):
        settings = _settings(dsn, config, **flags)
        moment = _now(now)
        from pgpart import service
        from pgpart.planner import Request
        from pgpart.render import render_results

        request = Request(max_new_partitions=settings.max_new_partitions, **request_args)
        with service.open_connection(settings) as conn:
            planned = service.plan_changes(
                conn, settings, tables, moment, request, allow_standby=dry_run
            )
        if confirm is not None and not dry_run and planned.actions and not confirm(planned):
            _fail("nothing done", ExitCode.CRITICAL)
        results = service.apply(settings, planned, dry_run=dry_run, log=_logger(verbose))
        _emit(render_results(results, planned, _format(fmt), quiet=quiet, dry_run=dry_run))
        unknown = any(
            t.status.value == "unknown"
            and t.blocked
            and not t.actions
            and any(
                p.code in ("unknown_table", "not_partitioned", "unsupported_key")
                for p in t.problems
            )
            for t in planned.tables
        )
        failed = any(r.error for r in results) or any(t.blocked for t in planned.tables)
    raise typer.Exit(3 if unknown else 2 if failed else 0)


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
    dsn: DsnOpt = None,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """Create the missing partitions covering [--from, --to) (default: the current
    one through the premake horizon), moving matching rows out of DEFAULT."""
    from pgpart.planner import Mode

    with _errors(dsn):
        parsed_interval = _interval(interval)
        start = _parse_moment(from_, "--from") if from_ else None
        end = _parse_moment(to, "--to") if to else None
        if start and end and _comparable(start) >= _comparable(end):
            raise UsageError(f"--from {from_} is not before --to {to}")
    _write(
        dsn=dsn,
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
    dsn: DsnOpt = None,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """What cron runs: create partitions through the premake horizon, move DEFAULT rows
    into them, finish interrupted detaches, apply configured retention. Idempotent."""
    from pgpart.planner import Mode

    _write(
        dsn=dsn,
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
    dsn: DsnOpt = None,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """Remove (or --detach) partitions lying wholly before a cutoff. The partition
    holding the current time, and every later one, is never touched."""
    from pgpart.planner import Mode

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
        cutoff = _parse_moment(before, "--before") if before else None
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
        config=config,
        tables=[table],
        now=now,
        dry_run=dry_run,
        quiet=quiet,
        verbose=verbose,
        fmt=fmt,
        flags={"lock_timeout": lock_timeout},
        confirm=confirm,
        request_args={
            "mode": Mode.DROP,
            "drop_older_than": duration,
            "drop_before": cutoff,
            "drop_detach": detach,
        },
    )


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
