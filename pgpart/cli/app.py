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
import importlib
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Annotated, Any

import typer
import typer.core

from pgpart import __version__
from pgpart.cli.exit_codes import interrupted, no_op, refuse

# The commands, in this order in --help (README.md quotes it): the module
# each lives in, and the first paragraph of its docstring, which is what
# `pgpart --help` and shell completion list. A command's module is imported
# only when that command runs or shows its own help, so that `--version`,
# `--help` and completion import none of them (tests/cli/test_startup.py checks
# the summaries against the docstrings).
COMMANDS: dict[str, tuple[str, str]] = {
    "check": (
        "pgpart.cli.read_commands",
        "Read-only health of each table's partitions; the exit code is the verdict\n"
        "(0 ok, 1 warning, 2 critical, 3 unknown).",
    ),
    "stats": (
        "pgpart.cli.read_commands",
        "Per-partition range, rows (estimate unless --exact) and bytes, with totals.",
    ),
    "init": (
        "pgpart.cli.read_commands",
        "Introspect the database and write a pgpart.toml for its partitioned tables.",
    ),
    "create": (
        "pgpart.cli.write_commands",
        "Create the missing partitions covering [--from, --to) (default: the current\n"
        "one through the premake horizon), moving matching rows out of DEFAULT.",
    ),
    "maintain": (
        "pgpart.cli.write_commands",
        "What cron runs: create partitions through the premake horizon, move DEFAULT rows\n"
        "into them, finish interrupted detaches, apply configured retention; on a logical\n"
        "replication subscriber, refresh its subscriptions. Idempotent.",
    ),
    "drop": (
        "pgpart.cli.write_commands",
        "Remove (or --detach) partitions lying wholly before a cutoff. The partition\n"
        "holding the current time, and every later one, is never touched. On a table\n"
        'whose retention_mode is "archive", each partition is archived first (as maintain\n'
        "does) unless --no-archive.",
    ),
    "restore": (
        "pgpart.cli.write_commands",
        'Bring back a partition that retention_mode = "archive" dumped: check the archive\n'
        "(path, sha256, nothing but its table, from this database), pg_restore it, count its\n"
        "rows, and re-attach it when its range is free (else keep it as a plain table and say\n"
        "why). Retention leaves it alone until --keep-until.",
    ),
}


def _click_class(name: str) -> type[Exception]:
    """A class of the click that typer uses (typer >= 0.2x vendors its own copy)."""
    for klass in typer.BadParameter.__mro__:
        if klass.__name__ == name:
            return klass
    raise LookupError(name)  # pragma: no cover - every click has UsageError


_CLICK_USAGE_ERROR = _click_class("UsageError")


@contextmanager
def _arguments_exit_3() -> Iterator[None]:
    """Bad arguments are UNKNOWN (exit 3, "bad config or arguments" in docs/output.md),
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
        refuse(f"{message} (see '{command} -h')")


def load_command(name: str) -> Any:
    """The click command ``name`` runs, its module imported now."""
    module = importlib.import_module(COMMANDS[name][0])
    single = typer.Typer(
        add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None
    )
    single.command()(getattr(module, name))
    return typer.main.get_command(single)


class _Commands(MutableMapping[str, Any]):
    """The group's commands by name, each loaded on first use (click reads
    a group's ``commands`` to resolve a command and to suggest a name)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = load_command(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("pgpart's commands are fixed")

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)

    def listed(self, name: str) -> Any:
        """The command as listed: loaded, or a stand-in with its summary."""
        if name in self._loaded:
            return self._loaded[name]
        return typer.core.TyperCommand(name, help=COMMANDS[name][1], rich_markup_mode=None)


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
                interrupted("interrupted (Ctrl-C)")

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands: Any = _Commands()

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    @contextmanager
    def _summaries(self) -> Iterator[None]:
        """The commands not loaded yet stand in with their summaries while
        help or completion lists them (``click`` asks every listed command
        for its short help)."""
        loaded = self.commands
        self.commands = {name: loaded.listed(name) for name in COMMANDS}
        try:
            yield
        finally:
            self.commands = loaded

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with self._summaries():
            super().format_commands(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        with self._summaries():
            return list(super().shell_complete(ctx, incomplete))


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
        no_op()


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
        refuse("no command given: pick one of the commands above")


def main() -> None:
    # A short-lived process: the objects of the imports live to the end, so
    # the collector need not walk them again on every cycle (about 25 ms of
    # CPU for check at 10,000 partitions, tests/benchmarks/run.py c).
    gc.freeze()
    app()


if __name__ == "__main__":
    main()
