"""create, maintain and drop on one database: plan, confirm, apply, report.

What the run did goes to stdout (or JSON); what went wrong is said once on
stderr (pgpart.cli.reporting); the outcome becomes the exit code in
pgpart.cli.exit_codes. Ctrl-C while applying reports what was done (130).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from pgpart.cli.console import emit, fail, finish, is_terminal, masked, say, stdout_width
from pgpart.cli.databases import load_settings
from pgpart.cli.exit_codes import ExitCode, reported, written_exit_code
from pgpart.cli.inputs import parse_now
from pgpart.cli.problem_codes import is_refused
from pgpart.cli.progress import RunProgress
from pgpart.cli.reporting import (
    report_failures,
    run_lines,
    without_refused,
)
from pgpart.cli.sql_log import log_queries, logger
from pgpart.core.identifiers import display_part
from pgpart.errors import PgpartError, StandbyRefused, primary_message

if TYPE_CHECKING:
    from pgpart.cli.fleet import Fleet
    from pgpart.cli.requests import WriteRequest
    from pgpart.config import Settings
    from pgpart.core.plan import Plan
    from pgpart.core.planner import Request
    from pgpart.db.results import ActionResult


def run_write(request: WriteRequest, fleet: Fleet | None) -> NoReturn:
    if fleet is not None:
        fleet.write(request)
    dsn = request.where.dsn
    width = stdout_width(request.display.wide)
    with reported(dsn):
        settings = load_settings(request.where, dsn)
        moment = parse_now(request.now)
        change = replace(request.change, max_new_partitions=settings.max_new_partitions)
        quiet = request.display.quiet
        show = RunProgress(enabled=not quiet and is_terminal(sys.stderr), notices=not quiet)
        try:
            planned = _plan(request, settings, change, moment, show)
        finally:
            show.clear()  # a lock wait's line, before anything else is said
        if request.confirm and not request.dry_run and planned.actions:
            from pgpart.cli.drop_confirm import confirm_drop

            if not confirm_drop(planned, settings, detach=change.drop_detach, width=width):
                finish(ExitCode.OK)  # a declined confirmation: a deliberate no-op
        results = _apply(request, settings, planned, width, show)
        code = _report(request, settings, planned, results, moment, width)
    finish(code)


def _plan(
    request: WriteRequest,
    settings: Settings,
    change: Request,
    moment: datetime,
    show: RunProgress,
) -> Plan:
    from pgpart import api
    from pgpart.core.planner import Mode
    from pgpart.db.did_you_mean import with_suggestions

    try:
        with api.open_connection(settings) as conn:
            log_queries(conn, request.display.verbose)
            planned = api.plan_changes(
                conn,
                settings,
                request.tables,
                moment,
                change,
                allow_standby=request.dry_run,
                on_wait=show.read_wait,
            )
            return with_suggestions(conn, planned)
    except StandbyRefused as exc:
        if change.mode is not Mode.MAINTAIN:
            raise
        # The same cron runs on every node so that it survives a failover:
        # on the standby it is a deliberate no-op (as pg_partman does).
        if not request.display.quiet:
            say(f"{exc.message.split(':')[0]}: nothing to do here; maintain runs on the primary")
        finish(ExitCode.OK)


def _apply(
    request: WriteRequest, settings: Settings, planned: Plan, width: int | None, show: RunProgress
) -> list[ActionResult]:
    from pgpart import api

    display = request.display
    try:
        results = api.apply(
            settings,
            planned,
            dry_run=request.dry_run,
            log=logger(display.verbose),
            progress=show,
        )
    except KeyboardInterrupt:
        show.clear()
        _interrupted(show, planned, request, width)
    show.clear()
    return results


def _report(
    request: WriteRequest,
    settings: Settings,
    planned: Plan,
    results: list[ActionResult],
    moment: datetime,
    width: int | None,
) -> ExitCode:
    """The results on stdout, the problems on stderr; the exit code."""
    from pgpart.cli.output import Format, render_results

    display, dsn = request.display, request.where.dsn
    refused = [t for t in planned.tables if is_refused(t)]
    # Refusals are said once on stderr; stdout keeps the tables pgpart could work
    # on. JSON keeps every table: its readers want one document, whatever happened.
    shown = without_refused(planned) if refused and display.fmt is not Format.JSON else planned
    after = None
    stopped = False  # Ctrl-C during the check after the run: its result stands
    if not request.dry_run and not display.quiet and (shown.tables or not refused):
        # The tables named (minus those refused: said once already), else the
        # config's or discovery's, as the run itself chose them.
        named = [t.table for t in shown.tables] if request.tables else []
        try:
            after = _check_after(settings, named, moment, dsn)
        except KeyboardInterrupt:
            stopped = True
    if shown.tables or not refused:
        emit(
            render_results(
                results,
                shown,
                display.fmt,
                quiet=display.quiet,
                dry_run=request.dry_run,
                width=width,
                after=after,
            )
        )
    if stopped:
        say("interrupted (Ctrl-C) while checking the state after the run; the run is complete")
    # Both streams on one terminal: the report above already shows what failed.
    on_screen = is_terminal(sys.stdout) and is_terminal(sys.stderr)
    echoed = on_screen and not display.quiet and display.fmt is Format.TABLE
    for line in run_lines(planned, results, quiet=display.quiet, echoed=echoed):
        say(masked(line, dsn))
    return written_exit_code(planned, results, interrupted=stopped)


def _interrupted(
    show: RunProgress, planned: Plan, request: WriteRequest, width: int | None
) -> NoReturn:
    """Ctrl-C while applying: what was done, what was rolled back, exit 130."""
    from pgpart.cli.output import render_results

    done = list(show.finished)
    emit(
        render_results(
            done,
            planned,
            request.display.fmt,
            quiet=False,
            dry_run=False,
            width=width,
            interrupted=True,
        )
    )
    current = show.in_flight
    part = (
        f" {display_part(current.partition)}"
        if current is not None and current.partition is not None
        else ""
    )
    where = (
        f" during {current.action}{part} of {current.table.qualified}"
        " (rolled back: it is as before)"
        if current is not None
        else ""
    )
    left = len(planned.actions) - len(done) - (1 if current is not None else 0)
    report_failures(done, request.where.dsn)
    finished = f"{len(done)} action(s) finished before" if current else f"{len(done)} finished"
    fail(
        f"interrupted (Ctrl-C){where or ' between two actions'}; {finished}, {left} not attempted",
        ExitCode.INTERRUPTED,
    )


def _check_after(
    settings: Settings, tables: list[str], moment: datetime, dsn: str | None
) -> Plan | None:
    """The check status a writing run left (a fresh catalog read); None when
    it cannot be read (said on stderr: the run's own result stands)."""
    import psycopg

    from pgpart import api

    try:
        with api.open_connection(settings) as conn:
            return api.check(conn, settings, tables, moment)
    except (PgpartError, psycopg.Error) as exc:
        reason = exc.message if isinstance(exc, PgpartError) else primary_message(exc)
        say(masked(f"could not check the state after the run: {reason}", dsn))
        return None
