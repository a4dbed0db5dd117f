"""create, maintain and drop over the databases of a run (one, or many):
plan, confirm, apply, check the state left, report once.

Each database's work returns its plan and results; the output is rendered
once over all of them (pgpart.cli.output.results), what went wrong is said
once on stderr (pgpart.cli.reporting), and the exit code is the worst over
the databases (pgpart.cli.exit_codes). The rules are the same for one
database and for many: a hot standby makes maintain a no-op (exit 0), the
summary and "check now:" close the report, each problem is said once.
Ctrl-C while one database applies its plan reports what was done (130).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, NoReturn

from pgpart.cli.console import emit, is_terminal, say, stdout_width
from pgpart.cli.exit_codes import (
    ExitCode,
    finish,
    interrupted,
    no_op,
    reported,
    worst,
    written_exit_code,
)
from pgpart.cli.fleet_members import Outcome
from pgpart.cli.inputs import parse_now
from pgpart.cli.problem_codes import is_refused
from pgpart.cli.progress import RunProgress
from pgpart.cli.reporting import failure_lines, run_lines, without_refused
from pgpart.cli.sql_log import log_queries, logger
from pgpart.core.identifiers import display_part
from pgpart.errors import PgpartError, StandbyRefused, primary_message

if TYPE_CHECKING:
    from typing import Any

    import psycopg

    from pgpart.cli.fleet import Fleet
    from pgpart.cli.fleet_members import Member
    from pgpart.cli.fleet_order import Role
    from pgpart.cli.output import Run
    from pgpart.cli.requests import WriteRequest
    from pgpart.core.plan import Action, Plan
    from pgpart.db.results import ActionResult

Written = tuple[list["ActionResult"], "Plan"]  # a database's results, and the plan they ran

# The same cron runs on every node so that it survives a failover: on a hot
# standby maintain is a deliberate no-op (as pg_partman's is).
STANDBY = (
    "the server is in recovery (a hot standby): nothing to do here; maintain runs on the primary"
)


class InterruptedRun(BaseException):
    """Ctrl-C while the only database applied its plan: what finished and
    what was in flight (rolled back). Not an Exception: no member boundary
    takes it for a failure."""

    def __init__(self, planned: Plan, done: list[ActionResult], in_flight: Action | None) -> None:
        super().__init__("interrupted")
        self.planned, self.done, self.in_flight = planned, done, in_flight


def run_write(request: WriteRequest, fleet: Fleet) -> NoReturn:
    with reported(request.where.dsn):
        moment = parse_now(request.now)
    writing = _Writing(request, fleet, moment, stdout_width(request.display.wide))
    try:
        with reported(request.where.dsn):
            try:
                outcomes = writing.apply_all()
            except KeyboardInterrupt:
                if fleet.labelled:
                    interrupted(
                        "interrupted (Ctrl-C): the databases not started were skipped; one"
                        " under way finishes (or rolls back) its current work; run"
                        " `pgpart check` for the state they are in"
                    )
                raise
    except InterruptedRun as stop:
        writing.interrupted(stop)
    finish(writing.report(outcomes))


@dataclass
class _Writing:
    """One writing run over the databases of ``fleet``."""

    request: WriteRequest
    fleet: Fleet
    moment: datetime
    width: int | None
    standbys: set[str] = field(default_factory=set)  # members that are hot standbys

    # --- plan and apply -----------------------------------------------------------------

    def apply_all(self) -> list[Outcome[Written]]:
        request, fleet = self.request, self.fleet
        quiet = request.display.quiet
        if fleet.labelled and not request.dry_run:
            # Subscribers' partitions before their publishers' (pgpart.cli.fleet_order).
            from pgpart.cli.fleet_order import ORDERED_MODES, run_ordered

            if request.change.mode in ORDERED_MODES:
                runner = partial(fleet.run_members, quiet=quiet)
                return run_ordered(fleet.members, runner, self.plan_with_role, self.apply)
        if request.confirm and not request.dry_run:
            return self._confirmed()
        # Plan and apply in one go per database: one waiting for a lock holds up no other.
        return fleet.run_members(lambda m: self.apply(m, self.plan(m)), quiet=quiet)

    def plan_with_role(self, m: Member) -> tuple[Plan, Role]:
        """The plan, and whether the database subscribes or publishes."""
        from pgpart.cli.fleet_order import Role, role_of

        roles: list[Role] = []
        planned = self.plan(m, role=lambda conn: roles.append(role_of(conn)))
        return planned, roles[0] if roles else Role.OTHER

    def plan(
        self, m: Member, role: Callable[[psycopg.Connection[Any]], None] | None = None
    ) -> Plan:
        """The database's plan (``role`` reads what it needs on the same connection)."""
        from pgpart import api
        from pgpart.core.plan import Plan
        from pgpart.core.planner import Mode
        from pgpart.db.did_you_mean import with_suggestions

        request, display = self.request, self.request.display
        change = replace(request.change, max_new_partitions=m.settings.max_new_partitions)
        show = self._progress(m)
        try:
            with api.open_connection(m.settings) as conn:
                log_queries(conn, display.verbose, self.fleet.tag(m))
                planned = api.plan_changes(
                    conn,
                    m.settings,
                    request.tables or m.tables,
                    self.moment,
                    change,
                    allow_standby=request.dry_run,
                    on_wait=show.read_wait,
                )
                if role is not None:
                    role(conn)
                return with_suggestions(conn, planned)
        except StandbyRefused:
            if change.mode is not Mode.MAINTAIN:
                raise
            self.standbys.add(m.name)
            if not display.quiet:
                show.clear()
                self.fleet.say(m, STANDBY)
            return Plan(self.moment, ())
        finally:
            show.clear()  # a lock wait's line, before anything else is said

    def apply(self, m: Member, planned: Plan) -> Written:
        from pgpart import api

        if not planned.actions:
            return [], planned
        display = self.request.display
        show = self._progress(m)
        try:
            results = api.apply(
                m.settings,
                planned,
                dry_run=self.request.dry_run,
                log=logger(display.verbose, self.fleet.tag(m)),
                progress=show,
            )
        except KeyboardInterrupt:
            show.clear()
            if self.fleet.labelled:
                raise
            raise InterruptedRun(planned, list(show.finished), show.in_flight) from None
        show.clear()
        return results, planned

    def _progress(self, m: Member) -> RunProgress:
        """Lock waits and rows moved on one status line: one database, a
        terminal, not -q. Notices (the wait a relocation costs) unless -q."""
        quiet = self.request.display.quiet
        alone = not self.fleet.labelled and is_terminal(sys.stderr)
        return RunProgress(enabled=alone and not quiet, notices=not quiet, member=self.fleet.tag(m))

    def _confirmed(self) -> list[Outcome[Written]]:
        """Plan everywhere, ask once (what every database is about to lose),
        then apply where there is something to do."""
        from pgpart.cli.drop_confirm import confirm_drop

        fleet, quiet = self.fleet, self.request.display.quiet
        plans = fleet.run_members(self.plan, quiet=quiet)
        found = [(fleet.tag(o.member), o.value, o.member.settings) for o in plans if o.value]
        detach = self.request.change.drop_detach
        going = any(p.actions for _, p, _ in found)
        if going and not confirm_drop(found, detach=detach, width=self.width):
            no_op()  # a declined confirmation: a deliberate no-op
        by_name = {o.member.name: o.value for o in plans if o.value is not None}
        chosen = [m for m in fleet.members if m.name in by_name]
        applied = fleet.run_members(lambda m: self.apply(m, by_name[m.name]), chosen, quiet=quiet)
        done = {o.member.name: o for o in applied}
        return [done.get(o.member.name, Outcome(o.member, None, o.error, o.code)) for o in plans]

    # --- the state left, the report ------------------------------------------------------

    def report(self, outcomes: Sequence[Outcome[Written]]) -> ExitCode:
        """The results on stdout, the problems on stderr; the exit code."""
        from pgpart.cli.output import Format, Report, Run, render_runs

        request, display = self.request, self.request.display
        json = display.fmt is Format.JSON
        shown: dict[str, Run] = {}
        for o in outcomes:
            if o.value is not None:
                results, planned = o.value
                # Refusals are said once on stderr; stdout keeps the tables pgpart
                # could work on. JSON keeps every table: its readers want one document.
                kept = planned if json else without_refused(planned)
                standby = o.member.name in self.standbys
                shown[o.member.name] = Run(results, kept, standby=standby)
        afters, stopped = self._check_after(outcomes, shown)
        reports = [
            Report(
                self.fleet.tag(o.member),
                replace(shown[o.member.name], after=afters.get(o.member.name))
                if o.member.name in shown
                else None,
                o.error,
            )
            for o in outcomes
            if o.member.name in shown or self.fleet.labelled
        ]
        if any(self._visible(o, shown) for o in outcomes):
            emit(
                render_runs(
                    reports,
                    display.fmt,
                    quiet=display.quiet,
                    dry_run=request.dry_run,
                    width=self.width,
                )
            )
        if stopped:
            say("interrupted (Ctrl-C) while checking the state after the run; the run is complete")
        # Both streams on one terminal: the report above already shows what failed.
        on_screen = is_terminal(sys.stdout) and is_terminal(sys.stderr)
        echoed = on_screen and not display.quiet and not json
        codes = []
        for o in outcomes:
            if o.value is None:
                codes.append(o.code)
                continue
            results, planned = o.value
            for line in run_lines(planned, results, quiet=display.quiet, echoed=echoed):
                self.fleet.say(o.member, line)
            codes.append(written_exit_code(planned, results, interrupted=stopped))
        return worst(codes)

    def _visible(self, o: Outcome[Written], shown: dict[str, Run]) -> bool:
        """Whether a database gives stdout anything: not when all it had were
        tables refused (said on stderr), nor when it failed alone."""
        if o.value is None:
            return self.fleet.labelled
        return bool(shown[o.member.name].plan.tables) or not _refused(o.value[1])

    def _check_after(
        self, outcomes: Sequence[Outcome[Written]], shown: dict[str, Run]
    ) -> tuple[dict[str, Plan], bool]:
        """The check status each database was left in (a fresh catalog
        read), unless a dry run or -q; Ctrl-C stops it (the run stands)."""
        request = self.request
        if request.dry_run or request.display.quiet:
            return {}, False
        chosen = [
            o.member
            for o in outcomes
            if o.value is not None
            and o.member.name not in self.standbys
            and (shown[o.member.name].plan.tables or not _refused(o.value[1]))
        ]

        def after(m: Member) -> Plan | None:
            # The tables named (minus those refused: said once already), else the
            # config's or discovery's, as the run itself chose them.
            named = [t.table for t in shown[m.name].plan.tables] if request.tables else []
            return self._after_one(m, named)

        try:
            found = self.fleet.run_members(after, chosen, quiet=True)
        except KeyboardInterrupt:
            return {}, True
        return {o.member.name: o.value for o in found if o.value is not None}, False

    def _after_one(self, m: Member, tables: list[str]) -> Plan | None:
        """One database's state after the run; None when it cannot be read
        (said on stderr: the run's own result stands)."""
        import psycopg

        from pgpart import api

        try:
            with api.open_connection(m.settings) as conn:
                return api.check(conn, m.settings, tables, self.moment)
        except (PgpartError, psycopg.Error) as exc:
            reason = exc.message if isinstance(exc, PgpartError) else primary_message(exc)
            self.fleet.say(m, f"could not check the state after the run: {reason}")
            return None

    # --- Ctrl-C ---------------------------------------------------------------------------

    def interrupted(self, stop: InterruptedRun) -> NoReturn:
        """Ctrl-C while applying: what was done, what was rolled back, exit 130."""
        from pgpart.cli.output import render_results

        emit(
            render_results(
                stop.done,
                stop.planned,
                self.request.display.fmt,
                quiet=False,
                dry_run=False,
                width=self.width,
                interrupted=True,
            )
        )
        current = stop.in_flight
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
        left = len(stop.planned.actions) - len(stop.done) - (1 if current is not None else 0)
        (member,) = self.fleet.members
        for line in failure_lines(stop.done):
            self.fleet.say(member, line)
        count = len(stop.done)
        finished = f"{count} action(s) finished before" if current else f"{count} finished"
        where = where or " between two actions"
        interrupted(f"interrupted (Ctrl-C){where}; {finished}, {left} not attempted")


def _refused(planned: Plan) -> bool:
    return any(is_refused(t) for t in planned.tables)
