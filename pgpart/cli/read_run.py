"""check, stats and init over the databases of a run (one, or many).

Each database's work returns its report (a Plan, stats rows, a suggested
config); the reports are rendered once (pgpart.cli.output), and the exit
code is the worst over the databases (pgpart.cli.exit_codes).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

import typer

from pgpart.cli.console import emit, stdout_width
from pgpart.cli.exit_codes import (
    check_exit_code,
    finish,
    refuse,
    reported,
    stats_exit_code,
    worst,
)
from pgpart.cli.inputs import parse_now
from pgpart.cli.sql_log import log_queries
from pgpart.errors import UsageError

if TYPE_CHECKING:
    from pgpart.cli.fleet import Fleet
    from pgpart.cli.fleet_members import Member
    from pgpart.cli.init_config import Suggestion
    from pgpart.cli.output.report import Report
    from pgpart.cli.requests import InitRequest, ReadRequest
    from pgpart.core.plan import Plan, TablePlan
    from pgpart.db.stats import TableStats


def run_check(request: ReadRequest, fleet: Fleet) -> NoReturn:
    from pgpart import api
    from pgpart.cli.output import Report, render_checks
    from pgpart.db.did_you_mean import with_suggestions

    display = request.display
    with reported(request.where.dsn):
        moment = parse_now(request.now)

    def work(m: Member) -> Plan:
        with api.open_connection(m.settings) as conn:
            log_queries(conn, display.verbose, fleet.tag(m))
            tables = request.tables or m.tables
            planned = api.check(conn, m.settings, tables, moment, exact=request.exact)
            return with_suggestions(conn, planned)

    outcomes = fleet.run_members(work, quiet=display.quiet)
    reports = [Report(fleet.tag(o.member), o.value, o.error) for o in outcomes]
    if not fleet.labelled:  # its failure is said on stderr, as the only database's
        reports = [r for r in reports if r.value is not None]
    codes = [check_exit_code(o.value.status) if o.value is not None else o.code for o in outcomes]
    if request.timeline:
        emit(timeline_text(reports, wide=display.wide, quiet=display.quiet))
    elif reports:
        width = stdout_width(display.wide)
        text = render_checks(reports, display.fmt, quiet=display.quiet, width=width, now=moment)
        emit(text)
    finish(worst(codes))


def timeline_text(reports: Sequence[Report[Plan]], *, wide: bool, quiet: bool) -> str:
    """check --timeline for stdout: one block per database; its width (the
    terminal's, $COLUMNS, else 80; --wide: none) and its glyphs (ASCII
    unless stdout and the locale take UTF-8)."""
    from pgpart.cli.output.common import terminal_width
    from pgpart.cli.output.timeline import Block, glyphs_for, render_timeline

    blocks = [Block(r.database, r.value, r.error) for r in reports]
    width = None if wide else terminal_width(sys.stdout) or TIMELINE_WIDTH
    glyphs = glyphs_for(sys.stdout.encoding, os.environ, bool(sys.flags.utf8_mode))
    return render_timeline(blocks, width, glyphs, quiet=quiet)


TIMELINE_WIDTH = 80  # a picture needs a width: piped, the timeline is drawn for 80 columns


def run_stats(request: ReadRequest, fleet: Fleet) -> NoReturn:
    from pgpart import api
    from pgpart.cli.output import Report, render_stats_reports
    from pgpart.db.did_you_mean import with_suggestions

    display = request.display

    def work(m: Member) -> tuple[list[TableStats], tuple[TablePlan, ...]]:
        with api.open_connection(m.settings) as conn:
            log_queries(conn, display.verbose, fleet.tag(m))
            tables = request.tables or m.tables
            # Over many databases, --jobs is the parallelism: one connection each.
            result, findings = api.stats(
                conn, m.settings, tables, exact=request.exact, sizes_beside=not fleet.labelled
            )
            return result, with_suggestions(conn, findings).tables

    outcomes = fleet.run_members(work, quiet=display.quiet)
    reports = [
        Report(fleet.tag(o.member), o.value[0] if o.value is not None else None, o.error)
        for o in outcomes
        if o.value is not None or fleet.labelled
    ]
    if not display.quiet and reports:
        emit(render_stats_reports(reports, display.fmt, width=stdout_width(display.wide)))
    codes = []
    for o in outcomes:
        refused = o.value[1] if o.value is not None else ()
        for table in refused:  # not a table stats can show: said once, here
            for problem in table.problems:
                fleet.say(o.member, problem.message)
        codes.append(o.code if o.failed else stats_exit_code(refused=bool(refused)))
    finish(worst(codes))


def run_init(request: InitRequest, fleet: Fleet) -> None:
    """The suggested config of every database, written once: the file of the
    one database, or (named by --service, several --dsn or [[database]]
    blocks) one with a [[database]] block each. Nothing is written (exit 3)
    when a database failed or a table named cannot be described."""
    from pgpart.cli.fleet_init import fleet_config

    outcomes = fleet.run_members(lambda m: _suggest(m, request.tables), quiet=request.quiet)
    suggestions = [(o.member, o.value) for o in outcomes if o.value is not None]
    if not fleet.labelled and not suggestions:
        finish(worst([o.code for o in outcomes]))  # its failure is said
    refused = [(m, line) for m, s in suggestions for line in s.refused]
    for member, line in refused:
        fleet.say(member, line)
    if refused or len(suggestions) < len(outcomes):
        refuse("nothing written")

    def say_skipped() -> None:
        for member, s in suggestions:
            for line in s.skipped:
                fleet.say(member, f"skipped {line}")

    if request.tables and any(s.skipped for _, s in suggestions):
        # A table named on the command line that init cannot describe (no
        # partitions to infer the interval from): the file would lack it.
        say_skipped()
        refuse("nothing written")
    if fleet.classic:
        write_config(request, suggestions[0][1].text())
    else:
        write_config(request, fleet_config(fleet, suggestions))
    say_skipped()  # after the file: a file that cannot be written is the one line said


def _suggest(member: Member, tables: Sequence[str]) -> Suggestion:
    """What init writes for one database, and what it cannot."""
    from pgpart import api
    from pgpart.cli.init_config import suggest

    names = list(tables or member.tables)
    with api.open_connection(member.settings) as conn:
        gathered = api.gather(conn, member.settings, names, probe=False, templates=False)
    return suggest(gathered, member.settings, names)


def write_config(request: InitRequest, text: str) -> None:
    """The file (or stdout), and 'wrote FILE' on stderr unless -q."""
    target = request.target
    if target is None:
        emit(text)
        return
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    if not request.quiet:
        typer.echo(f"wrote {target}", err=True)
