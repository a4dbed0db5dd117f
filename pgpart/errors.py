"""Exception hierarchy and exit codes, mapped once for the CLI."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of CONTRACT.md ("Exit codes"); README.md lists them too."""

    OK = 0  # also a deliberate no-op: standby, declined confirmation, partman's table
    WARNING = 1
    CRITICAL = 2  # check: critical; writing commands: something failed
    UNKNOWN = 3  # cannot connect, bad config or arguments, unknown table
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


def write_exit_code(*, refused: bool, failed: bool, interrupted: bool = False) -> ExitCode:
    """The one place a writing command's outcome becomes its exit code.

    ``interrupted``: Ctrl-C (what was done is reported); ``refused``: a table,
    argument or config value pgpart cannot work with (UNKNOWN); ``failed``: an
    action failed or a table's problems blocked it. A run that did everything
    asked, or deliberately nothing (standby, declined confirmation), is OK.
    """
    if interrupted:
        return ExitCode.INTERRUPTED
    if refused:
        return ExitCode.UNKNOWN
    if failed:
        return ExitCode.CRITICAL
    return ExitCode.OK


class PgpartError(Exception):
    """An expected failure: printed as one line, never as a traceback."""

    exit_code: ExitCode = ExitCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(PgpartError):
    """Bad config file, environment variable or flag value."""


class UsageError(PgpartError):
    """Arguments that make no sense together (e.g. --from after --to)."""


class ConnectError(PgpartError):
    """The server cannot be reached or refuses the login."""


class UnknownTableError(PgpartError):
    """A TABLE argument that does not resolve to a relation."""


class CatalogError(PgpartError):
    """The catalog holds something pgpart cannot interpret."""


class WriteRefused(PgpartError):
    """A writing command refused before touching anything (standby, no --yes...)."""

    exit_code = ExitCode.CRITICAL


class StandbyRefused(WriteRefused):
    """The server is a hot standby: nothing can be written there. For
    `maintain` (the same cron on every node, to survive failover) that is a
    deliberate no-op, exit 0."""


def primary_message(exc: BaseException) -> str:
    """A database error as one line: the server's primary message ("permission
    denied for table t"), without the LINE/caret context that quotes pgpart's
    own SQL back; else the exception's text, else its class name."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc) or type(exc).__name__
    return " ".join(text.split())
