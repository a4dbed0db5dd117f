"""The `pgpart` command: the typer app, its global options and `main`.

Each command builds a typed request from its flags (pgpart.cli.requests),
loads the settings, calls the library (pgpart.api), renders
(pgpart.cli.output) and exits with the code pgpart.cli.exit_codes maps,
inside its one boundary (``exit_codes.reported``): an expected failure is
one line on stderr, never a traceback. The commands live in read_commands
(check, stats, init) and write_commands (create, maintain, drop, restore).

No SQL and no date arithmetic here. Heavy modules (psycopg, tabulate, the
planner) are imported inside the commands so `pgpart --version` stays fast.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
import typer.core

from pgpart import __version__
from pgpart.cli.console import fail
from pgpart.cli.read_commands import check, init, stats
from pgpart.cli.write_commands import create, drop, maintain, restore
from pgpart.errors import ExitCode


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
        fail(f"{message} (see '{command} -h')", ExitCode.UNKNOWN)


class _Group(typer.core.TyperGroup):
    # Contexts are click's: Any, since which click (typer's vendored copy or
    # click itself) depends on the typer version installed.
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
                fail("interrupted (Ctrl-C)", ExitCode.INTERRUPTED)


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
        fail("no command given: pick one of the commands above", ExitCode.UNKNOWN)


# In this order in --help (README.md quotes it).
for _command in (check, stats, init, create, maintain, drop, restore):
    app.command()(_command)


def main() -> None:
    # A short-lived process: the objects of the imports live to the end, so
    # the collector need not walk them again on every cycle (about 25 ms of
    # CPU for check at 10,000 partitions, tests/benchmarks/run.py c).
    gc.freeze()
    app()


if __name__ == "__main__":
    main()
