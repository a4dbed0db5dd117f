"""Exception hierarchy and exit codes, mapped once for the CLI."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2  # check: critical; writing commands: something failed
    UNKNOWN = 3  # cannot connect, bad config or arguments, unknown table


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
