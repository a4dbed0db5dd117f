"""The one place where outcomes and errors become exit codes (README "Exit codes").

0 OK (also a deliberate no-op), 1 WARNING, 2 CRITICAL or a writing command
that failed, 3 UNKNOWN (cannot connect, bad config or arguments, unknown
table), 130 interrupted. Over many databases the worst code wins, CRITICAL
ranked above UNKNOWN. ``reported`` is the boundary every command runs in:
an expected failure becomes one stderr line and its code, never a traceback.

Nothing else in pgpart picks a code: the commands call the functions here
(``refuse``, ``interrupted``, ``no_op``, ``finish`` with a code computed here),
and an exception's code is decided by its class, below.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer

from pgpart.cli.console import masked, say
from pgpart.core.record import record
from pgpart.errors import ExitCode, PgpartError, primary_message

if TYPE_CHECKING:
    from pgpart.core.plan import Plan, Status
    from pgpart.db.results import ActionResult

__all__ = [
    "ExitCode",
    "Stop",
    "check_exit_code",
    "check_status",
    "expected_failure",
    "finish",
    "interrupted",
    "member_failure",
    "no_op",
    "refuse",
    "reported",
    "stats_exit_code",
    "worst",
    "write_exit_code",
    "written_exit_code",
]


# --- leaving the process --------------------------------------------------------------


def finish(code: ExitCode) -> NoReturn:
    """Exit with a code one of the functions of this module chose."""
    raise typer.Exit(int(code))


def refuse(message: str) -> NoReturn:
    """Bad arguments, config or input, or nothing could be done: the line and UNKNOWN."""
    say(message)
    finish(ExitCode.UNKNOWN)


def interrupted(message: str) -> NoReturn:
    """Ctrl-C: the line saying what was (not) done, and 130."""
    say(message)
    finish(ExitCode.INTERRUPTED)


def no_op() -> NoReturn:
    """A deliberate no-op (a declined confirmation), or a command that is done: OK."""
    finish(ExitCode.OK)


# --- outcomes as codes ------------------------------------------------------------------


def check_exit_code(status: Status) -> ExitCode:
    """check's verdict: ok 0, warning 1, critical 2, unknown 3."""
    return ExitCode(status.rank)


def check_status(code: int) -> Status:
    """The check status whose exit code ``code`` is (the verdict over databases)."""
    from pgpart.core.plan import Status

    for status in (Status.OK, Status.WARNING, Status.CRITICAL):
        if check_exit_code(status) == code:
            return status
    return Status.UNKNOWN


def stats_exit_code(*, refused: bool) -> ExitCode:
    """stats: UNKNOWN when a table named is not one it can show."""
    return ExitCode.UNKNOWN if refused else ExitCode.OK


def write_exit_code(*, refused: bool, failed: bool, interrupted: bool = False) -> ExitCode:
    """A writing command's outcome as its exit code.

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


def written_exit_code(
    planned: Plan, results: Sequence[ActionResult], *, interrupted: bool = False
) -> ExitCode:
    """A writing run on one database (alone or among many), from its plan and results."""
    from pgpart.cli.problem_codes import has_bad_config, is_refused

    refused = any(is_refused(t) for t in planned.tables) or has_bad_config(planned.tables)
    failed = any(r.fails_run for r in results) or any(t.blocked for t in planned.tables)
    return write_exit_code(refused=refused, failed=failed, interrupted=interrupted)


# Across databases, the worst exit code by this order: a database known to be
# CRITICAL (inserts failing, an action failed) outranks one that could not be
# checked (UNKNOWN), which outranks WARNING. See README "Many databases".
_SEVERITY: dict[int, int] = {
    ExitCode.OK: 0,
    ExitCode.WARNING: 1,
    ExitCode.UNKNOWN: 2,
    ExitCode.CRITICAL: 3,
}


def worst(codes: Sequence[int]) -> ExitCode:
    """The worst exit code: 2 (critical, failed) > 3 (unknown) > 1 > 0; an
    interruption (130) above all. One database's code is its own."""
    return ExitCode(max(codes, key=lambda c: _SEVERITY.get(c, 4), default=0))


def fleet_status(statuses: Sequence[Status]) -> Status:
    """The verdict over databases (each one's check status), as the exit code ranks it."""
    return check_status(worst([check_exit_code(s) for s in statuses]))


# --- exceptions as codes ------------------------------------------------------------------


@record
class Stop:
    """An expected failure: the line that says it, and the exit code."""

    message: str
    code: ExitCode


def _code_of(exc: PgpartError) -> ExitCode:
    """A refused write (a hot standby, no --yes) and a failed archive are
    CRITICAL (something asked of a writing command was not done); every
    other expected failure (config, arguments, connection, tables) UNKNOWN."""
    from pgpart.errors import ArchiveError, WriteRefused

    if isinstance(exc, (WriteRefused, ArchiveError)):
        return ExitCode.CRITICAL
    return ExitCode.UNKNOWN


def expected_failure(exc: BaseException) -> Stop | None:
    """What an exception means for the user, or None when it is not an
    expected failure (a bug: its traceback is worth seeing)."""
    if isinstance(exc, PgpartError):
        return Stop(exc.message, _code_of(exc))
    import psycopg

    if not isinstance(exc, psycopg.Error):
        return None
    reason = primary_message(exc)
    if isinstance(exc, psycopg.OperationalError):
        reason = f"lost the connection to the server: {reason}"
    return Stop(" ".join(reason.split()), ExitCode.UNKNOWN)


def member_failure(exc: Exception) -> Stop:
    """One database among many failed: an expected failure as for one
    database, a bug as one line (the other databases carry on)."""
    stop = expected_failure(exc)
    if stop is not None:
        return stop
    return Stop(" ".join(f"internal error: {type(exc).__name__}: {exc}".split()), ExitCode.UNKNOWN)


@contextmanager
def reported(dsn: str | None) -> Iterator[None]:
    """Every expected failure inside as one line (password masked) and its
    exit code; Ctrl-C before anything was changed as 130."""
    import psycopg

    try:
        yield
    except KeyboardInterrupt:
        interrupted("interrupted (Ctrl-C): nothing was changed")
    except (PgpartError, psycopg.Error) as exc:
        stop = expected_failure(exc)
        assert stop is not None
        say(masked(stop.message, dsn))
        finish(stop.code)
