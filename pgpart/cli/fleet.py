"""The commands on many databases: what the commands run when given a fleet.

Each command runs the single-database pipeline (pgpart.api) once per
member, ``--jobs`` members at a time, each on its own connection, then prints
one report and exits with the worst code over the members. With one member
(one --service, one [[database]] block) the output is exactly the
single-database output. Every line on stderr about a member starts with its
name; passwords are masked with that member's DSN (or service file entry).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

from pgpart.cli.console import emit, fail, finish, say
from pgpart.cli.exit_codes import (
    ExitCode,
    check_exit_code,
    reported,
    stats_exit_code,
    worst,
    written_exit_code,
)
from pgpart.cli.fleet_members import Member, Outcome, members, run
from pgpart.cli.fleet_order import ORDERED_MODES, Role, role_of, run_ordered
from pgpart.cli.inputs import parse_now
from pgpart.cli.output import Format
from pgpart.cli.problem_codes import is_refused
from pgpart.cli.reporting import run_lines, without_refused
from pgpart.cli.sql_log import log_queries, logger
from pgpart.errors import UsageError

if TYPE_CHECKING:
    from pgpart.cli.requests import Display, InitRequest, ReadRequest, Where, WriteRequest
    from pgpart.config import Settings
    from pgpart.core.plan import Plan, TablePlan
    from pgpart.db.results import ActionResult
    from pgpart.db.stats import TableStats

T = TypeVar("T")
Written = tuple[list["ActionResult"], "Plan"]  # a member's results, and the plan they ran


@dataclass(frozen=True, slots=True)
class Fleet:
    members: tuple[Member, ...]
    jobs: int

    @classmethod
    def create(cls, where: Where, settings: Settings) -> Fleet | None:
        found = members(where.dsns, where.services, settings)
        return None if found is None else cls(tuple(found), where.jobs)

    @property
    def labelled(self) -> bool:
        return len(self.members) > 1

    def run_members(
        self,
        work: Callable[[Member], T],
        members: Sequence[Member] | None = None,
        *,
        quiet: bool = False,
    ) -> list[Outcome[T]]:
        # Ctrl-C: databases not started are skipped, running ones finish their
        # current action (each in its own transaction); then exit as for one database.
        chosen = self.members if members is None else members
        with reported(None):
            outcomes = run(chosen, work, self.jobs, None if quiet else _progress(len(chosen)))
        for o in outcomes:
            if o.failed:
                say(f"{o.member.name}: {o.error}")
        return outcomes

    # --- check and stats -----------------------------------------------------------

    def check(self, request: ReadRequest) -> NoReturn:
        from pgpart import api
        from pgpart.cli.fleet_output import render_check_fleet
        from pgpart.cli.output import render_check

        display = request.display
        moment = _guarded(lambda: parse_now(request.now))

        def work(m: Member) -> Plan:
            with api.open_connection(m.settings) as conn:
                log_queries(conn, display.verbose, m.name)
                tables = request.tables or m.tables
                return api.check(conn, m.settings, tables, moment, exact=request.exact)

        outcomes = self.run_members(work, quiet=display.quiet)
        if request.timeline:
            emit(_timeline(outcomes, self.labelled, display))
        elif self.labelled:
            emit(render_check_fleet(outcomes, display.fmt, moment, display.quiet))
        elif outcomes[0].value is not None:
            emit(render_check(outcomes[0].value, display.fmt, quiet=display.quiet))
        codes = [
            check_exit_code(o.value.status) if o.value is not None else o.code for o in outcomes
        ]
        finish(worst(codes))

    def stats(self, request: ReadRequest) -> NoReturn:
        from pgpart import api
        from pgpart.cli.fleet_output import render_stats_fleet
        from pgpart.cli.output import render_stats

        display = request.display

        def work(m: Member) -> tuple[list[TableStats], tuple[TablePlan, ...]]:
            with api.open_connection(m.settings) as conn:
                log_queries(conn, display.verbose, m.name)
                tables = request.tables or m.tables
                result, findings = api.stats(conn, m.settings, tables, exact=request.exact)
            return result, findings.tables

        outcomes = self.run_members(work, quiet=display.quiet)
        shown = [
            Outcome(o.member, o.value[0] if o.value is not None else None, o.error, o.code)
            for o in outcomes
        ]
        if not display.quiet:
            if self.labelled:
                emit(render_stats_fleet(shown, display.fmt))
            elif shown[0].value is not None:
                emit(render_stats(shown[0].value, display.fmt))
        codes = []
        for o in outcomes:
            refused = o.value[1] if o.value is not None else ()
            for table in refused:
                for problem in table.problems:
                    say(o.member.scrub(self._named(o.member, problem.message)))
            codes.append(o.code if o.failed else stats_exit_code(refused=bool(refused)))
        finish(worst(codes))

    def _named(self, member: Member, text: str) -> str:
        return f"{member.name}: {text}" if self.labelled else text

    # --- create, maintain, drop ----------------------------------------------------

    def write(self, request: WriteRequest) -> NoReturn:
        from pgpart import api

        moment = _guarded(lambda: parse_now(request.now))
        dry_run, display = request.dry_run, request.display
        # Subscribers' partitions before their publishers' (pgpart.cli.fleet_order).
        ordered = self.labelled and not dry_run and request.change.mode in ORDERED_MODES

        def plan_with_role(m: Member) -> tuple[Plan, Role]:
            change = replace(request.change, max_new_partitions=m.settings.max_new_partitions)
            with api.open_connection(m.settings) as conn:
                log_queries(conn, display.verbose, m.name)
                tables = request.tables or m.tables
                planned = api.plan_changes(
                    conn, m.settings, tables, moment, change, allow_standby=dry_run
                )
                return planned, role_of(conn) if ordered else Role.OTHER

        def plan_one(m: Member) -> Plan:
            return plan_with_role(m)[0]

        def apply_one(m: Member, planned: Plan) -> Written:
            log = logger(display.verbose, m.name)
            return api.apply(m.settings, planned, dry_run=dry_run, log=log), planned

        if ordered:
            runner = partial(self.run_members, quiet=display.quiet)
            outcomes = run_ordered(self.members, runner, plan_with_role, apply_one)
        elif not request.confirm or dry_run:
            # Plan and apply in one go per member: a member waiting for a lock
            # holds up no other member.
            outcomes = self.run_members(lambda m: apply_one(m, plan_one(m)), quiet=display.quiet)
        else:
            outcomes = self._confirmed(request, plan_one, apply_one)
        self._report_writes(outcomes, display.fmt, quiet=display.quiet, dry_run=dry_run)

    def _confirmed(
        self,
        request: WriteRequest,
        plan_one: Callable[[Member], Plan],
        apply_one: Callable[[Member, Plan], Written],
    ) -> list[Outcome[Written]]:
        """Plan everywhere, ask once, then apply where there is something to do."""
        from pgpart.cli.drop_confirm import confirm_fleet_drop

        quiet = request.display.quiet
        plans = self.run_members(plan_one, quiet=quiet)
        detach = request.change.drop_detach
        if any(o.value is not None and o.value.actions for o in plans) and not confirm_fleet_drop(
            plans, detach=detach
        ):
            say("nothing done")
            finish(ExitCode.OK)
        by_name = {o.member.name: o.value for o in plans if o.value is not None}
        applied = {
            o.member.name: o
            for o in self.run_members(
                lambda m: apply_one(m, by_name[m.name]),
                [m for m in self.members if m.name in by_name],
                quiet=quiet,
            )
        }
        failed: list[Outcome[Written]] = [Outcome(o.member, None, o.error, o.code) for o in plans]
        return [applied.get(o.member.name, f) for o, f in zip(plans, failed, strict=True)]

    def _report_writes(
        self, outcomes: list[Outcome[Written]], fmt: Format, *, quiet: bool, dry_run: bool
    ) -> NoReturn:
        from pgpart.cli.fleet_output import render_results_fleet
        from pgpart.cli.output import render_results

        shown: list[Outcome[Written]] = []
        codes: list[int] = []
        for o in outcomes:
            if o.value is None:
                shown.append(o)
                codes.append(o.code)
                continue
            results, planned = o.value
            refused = any(is_refused(t) for t in planned.tables)
            kept = planned
            if refused and fmt is not Format.JSON:  # said on stderr instead, as for one database
                kept = without_refused(planned)
            shown.append(replace(o, value=(results, kept)))
            codes.append(written_exit_code(planned, results))
        if self.labelled:
            emit(render_results_fleet(shown, fmt, quiet=quiet, dry_run=dry_run))
        elif shown[0].value is not None:
            results, kept = shown[0].value
            if kept.tables or codes[0] != ExitCode.UNKNOWN:  # as for one database
                emit(render_results(results, kept, fmt, quiet=quiet, dry_run=dry_run))
        for o in outcomes:
            if o.value is not None:
                self._say_problems(o.member, *o.value, quiet=quiet)
        finish(worst(codes))

    def _say_problems(
        self, member: Member, results: list[ActionResult], planned: Plan, *, quiet: bool
    ) -> None:
        """What one database says on stderr, as alone: tables refused, failed,
        withheld (with -q: every problem of the tables not changed as asked)."""

        def say_member(text: str) -> None:
            say(member.scrub(self._named(member, text)))

        for line in run_lines(planned, results, quiet=quiet):
            say_member(line)

    # --- init ------------------------------------------------------------------------

    def init(self, request: InitRequest) -> NoReturn:
        from pgpart.cli.fleet_init import fleet_config
        from pgpart.cli.read_commands import write_config

        write_config(request, fleet_config(self, request.tables, quiet=request.quiet))
        finish(ExitCode.OK)


def _timeline(outcomes: Sequence[Outcome[Plan]], labelled: bool, display: Display) -> str:
    """check --timeline: one block per database (alone, as for one database)."""
    from pgpart.cli.output.timeline import Block
    from pgpart.cli.read_commands import timeline_text

    blocks = [Block(o.member.name if labelled else None, o.value, o.error) for o in outcomes]
    if not labelled:
        blocks = [b for b in blocks if b.plan is not None]  # its error is said on stderr
    return timeline_text(blocks, wide=display.wide, quiet=display.quiet)


def _progress(total: int) -> Callable[[Outcome[T], int], None] | None:
    """On a terminal, one stderr line as each database ends (cron logs stay clean)."""
    if total < 2 or not sys.stderr.isatty():
        return None

    def finished(outcome: Outcome[T], count: int) -> None:
        state = "failed" if outcome.failed else "finished"
        typer.echo(f"pgpart: [{count}/{total}] {outcome.member.name}: {state}", err=True)

    return finished


def _guarded(get: Callable[[], datetime]) -> datetime:
    try:
        return get()
    except UsageError as exc:
        fail(exc.message, exc.exit_code)
