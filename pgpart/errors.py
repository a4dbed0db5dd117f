"""The exceptions of expected failures, and the exit codes (mapped in pgpart.cli.exit_codes)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes, as docs/output.md ("Exit codes") lists them."""

    OK = 0  # also a deliberate no-op: standby, declined confirmation, partman's table
    WARNING = 1
    CRITICAL = 2  # check: critical; writing commands: something failed
    UNKNOWN = 3  # cannot connect, bad config or arguments, unknown table
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class PgpartError(Exception):
    """An expected failure: printed as one line, never as a traceback (its
    exit code is chosen by its class, in pgpart.cli.exit_codes)."""

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


class ArchiveError(PgpartError):
    """Archiving or restoring failed; the rows are still in the database."""


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
