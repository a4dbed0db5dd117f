"""The commands on many databases: what pgpart.cli.app runs when it is given a fleet.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from pgpart.cli.app import (
    WITHHOLDING_CODES,
    _emit,
    _errors,
    _fail,
    _log_queries,
    _logger,
    _now,
    _refused,
    _say,
    failure_lines,
)
from pgpart.cli.output import Format
from pgpart.errors import ExitCode, UsageError
from pgpart.fleet import Member, Outcome, members, run, worst

if TYPE_CHECKING:
    from pgpart.config import Settings
    from pgpart.core.plan import Plan
    from pgpart.db.executor import ActionResult

Confirm = Callable[[Sequence[Outcome["Plan"]]], bool]


def _exit(code: int) -> NoReturn:
    raise typer.Exit(code)


@dataclass(frozen=True, slots=True)
class Fleet:
    members: tuple[Member, ...]
    jobs: int

    @classmethod
    def create(
        cls, dsns: Sequence[str], services: Sequence[str], jobs: int, settings: Settings
    ) -> Fleet | None:
        found = members(dsns, services, settings)
        return None if found is None else cls(tuple(found), jobs)

    @property
    def labelled(self) -> bool:
        return len(self.members) > 1

    def run_members(
        self,
        work: Callable[[Member], Any],
        members: Sequence[Member] | None = None,
        *,
        quiet: bool = False,
    ) -> list[Outcome[Any]]:
        # Ctrl-C: databases not started are skipped, running ones finish their
        # current action (each in its own transaction); then exit as for one database.
        chosen = self.members if members is None else members
        with _errors(None):
            outcomes = run(chosen, work, self.jobs, None if quiet else _progress(len(chosen)))
        for o in outcomes:
            if o.failed:
                _say(f"{o.member.name}: {o.error}")
        return outcomes

    # --- check and stats -----------------------------------------------------------

    def check(
        self,
        tables: Sequence[str],
        *,
        exact: bool,
        fmt: Format,
        quiet: bool,
        now: str | None,
        verbose: bool,
    ) -> NoReturn:
        from pgpart import api as service
        from pgpart.cli.fleet_output import render_check_fleet
        from pgpart.cli.output import render_check

        moment = _guarded(lambda: _now(now))

        def work(m: Member) -> Plan:
            with service.open_connection(m.settings) as conn:
                _log_queries(conn, verbose, m.name)
                return service.check(conn, m.settings, tables or m.tables, moment, exact=exact)

        outcomes = self.run_members(work, quiet=quiet)
        if self.labelled:
            _emit(render_check_fleet(outcomes, fmt, moment, quiet))
        elif outcomes[0].value is not None:
            _emit(render_check(outcomes[0].value, fmt, quiet=quiet))
        _exit(worst([o.value.status.rank if o.value is not None else o.code for o in outcomes]))

    def stats(
        self, tables: Sequence[str], *, exact: bool, fmt: Format, quiet: bool, verbose: bool
    ) -> NoReturn:
        from pgpart import api as service
        from pgpart.cli.fleet_output import render_stats_fleet
        from pgpart.cli.output import render_stats

        def work(m: Member) -> tuple[Any, Any]:
            with service.open_connection(m.settings) as conn:
                _log_queries(conn, verbose, m.name)
                result, findings = service.stats(conn, m.settings, tables or m.tables, exact=exact)
            return result, findings.tables

        outcomes = self.run_members(work, quiet=quiet)
        shown = [replace(o, value=o.value[0] if o.value is not None else None) for o in outcomes]
        if not quiet:
            if self.labelled:
                _emit(render_stats_fleet(shown, fmt))
            elif shown[0].value is not None:
                _emit(render_stats(shown[0].value, fmt))
        codes = []
        for o in outcomes:
            refused = o.value[1] if o.value is not None else ()
            for table in refused:
                for problem in table.problems:
                    _say(o.member.scrub(self._named(o.member, problem.message)))
            codes.append(o.code if o.failed else 3 if refused else 0)
        _exit(worst(codes))

    def _named(self, member: Member, text: str) -> str:
        return f"{member.name}: {text}" if self.labelled else text

    # --- create, maintain, drop ----------------------------------------------------

    def write(
        self,
        *,
        tables: Sequence[str],
        request_args: dict[str, Any],
        now: str | None,
        dry_run: bool,
        quiet: bool,
        verbose: bool,
        fmt: Format,
        confirm: Confirm | None,
    ) -> NoReturn:
        from pgpart import api as service
        from pgpart.core.planner import Request

        moment = _guarded(lambda: _now(now))

        def plan_one(m: Member) -> Plan:
            request = Request(max_new_partitions=m.settings.max_new_partitions, **request_args)
            with service.open_connection(m.settings) as conn:
                _log_queries(conn, verbose, m.name)
                return service.plan_changes(
                    conn, m.settings, tables or m.tables, moment, request, allow_standby=dry_run
                )

        def apply_one(m: Member, planned: Plan) -> tuple[list[ActionResult], Plan]:
            log = _logger(verbose, m.name)
            return service.apply(m.settings, planned, dry_run=dry_run, log=log), planned

        if confirm is None or dry_run:
            # Plan and apply in one go per member: a member waiting for a lock
            # holds up no other member.
            outcomes = self.run_members(lambda m: apply_one(m, plan_one(m)), quiet=quiet)
        else:
            plans = self.run_members(plan_one, quiet=quiet)
            if any(o.value is not None and o.value.actions for o in plans) and not confirm(plans):
                _say("nothing done")
                _exit(0)
            by_name = {o.member.name: o.value for o in plans if o.value is not None}
            applied = {
                o.member.name: o
                for o in self.run_members(
                    lambda m: apply_one(m, by_name[m.name]),
                    [m for m in self.members if m.name in by_name],
                    quiet=quiet,
                )
            }
            outcomes = [applied.get(o.member.name, o) for o in plans]
        self._report_writes(outcomes, fmt, quiet=quiet, dry_run=dry_run)

    def _report_writes(
        self, outcomes: list[Outcome[Any]], fmt: Format, *, quiet: bool, dry_run: bool
    ) -> NoReturn:
        from pgpart.cli.fleet_output import render_results_fleet
        from pgpart.cli.output import render_results
        from pgpart.core.plan import Plan

        shown: list[Outcome[Any]] = []
        codes: list[int] = []
        for o in outcomes:
            if o.value is None:
                shown.append(o)
                codes.append(o.code)
                continue
            results, planned = o.value
            refused = [t for t in planned.tables if _refused(t)]
            kept = planned
            if refused and fmt is not Format.JSON:  # said on stderr instead, as for one database
                kept = Plan(
                    planned.now,
                    tuple(t for t in planned.tables if not _refused(t)),
                    planned.server_version,
                )
            shown.append(replace(o, value=(results, kept)))
            failed = any(r.error for r in results) or any(t.blocked for t in planned.tables)
            codes.append(3 if refused else 2 if failed else 0)
        if self.labelled:
            _emit(render_results_fleet(shown, fmt, quiet=quiet, dry_run=dry_run))
        elif shown[0].value is not None:
            results, kept = shown[0].value
            if kept.tables or codes[0] != 3:  # as for one database: refusals only on stderr
                _emit(render_results(results, kept, fmt, quiet=quiet, dry_run=dry_run))
        for o in outcomes:
            if o.value is not None:
                self._say_problems(o.member, *o.value)
        _exit(worst(codes))

    def _say_problems(self, member: Member, results: list[ActionResult], planned: Plan) -> None:
        """What one database says on stderr: tables refused, failed, withheld."""

        def say(text: str) -> None:
            _say(member.scrub(self._named(member, text)))

        for table in planned.tables:
            if _refused(table):
                for p in table.problems:
                    say(p.message)
        for line in failure_lines(results):
            say(line)
        for table in planned.tables:
            if table.blocked:
                for p in table.problems:
                    if p.code in WITHHOLDING_CODES:
                        say(f"{table.table}: {p.code}: {p.message}")

    # --- init ------------------------------------------------------------------------

    def init(self, tables: Sequence[str], *, target: Path | None, quiet: bool) -> NoReturn:
        from pgpart.cli.fleet_init import fleet_config

        text = fleet_config(self, tables, quiet=quiet)
        if target is None:
            _emit(text)
        else:
            try:
                target.write_text(text, encoding="utf-8")
            except OSError as exc:
                _fail(f"cannot write {target}: {exc.strerror or exc}", ExitCode.UNKNOWN)
            if not quiet:
                typer.echo(f"wrote {target}", err=True)
        _exit(0)


def _progress(total: int) -> Callable[[Outcome[Any], int], None] | None:
    """On a terminal, one stderr line as each database ends (cron logs stay clean)."""
    if total < 2 or not sys.stderr.isatty():
        return None

    def finished(outcome: Outcome[Any], count: int) -> None:
        state = "failed" if outcome.failed else "finished"
        typer.echo(f"pgpart: [{count}/{total}] {outcome.member.name}: {state}", err=True)

    return finished


def _guarded(get: Callable[[], datetime]) -> datetime:
    try:
        return get()
    except UsageError as exc:
        _fail(exc.message, exc.exit_code)


def prompt_drop(plans: Sequence[Outcome[Plan]], *, detach: bool) -> bool:
    """Every database's partitions, then one question (on stderr)."""
    from pgpart.cli.fleet_output import render_results_fleet

    previews = [
        Outcome(o.member, (service_preview(o.value), o.value)) for o in plans if o.value is not None
    ]
    typer.echo(render_results_fleet(previews, Format.TABLE, quiet=False, dry_run=False), err=True)
    count = sum(len(o.value.actions) for o in plans if o.value is not None)
    where = sum(1 for o in plans if o.value is not None and o.value.actions)
    return typer.confirm(
        f"{'Detach' if detach else 'Drop'} these {count} partition(s) in {where} database(s)?",
        default=False,
        err=True,
    )


def service_preview(planned: Any) -> list[Any]:
    """Planned actions as not-yet-run results, for the confirmation prompt."""
    from pgpart.db.executor import ActionResult

    return [
        ActionResult(
            action=a, done=False, skipped=False, error=None, sql=(), attempts=0, seconds=0.0
        )
        for a in planned.actions
    ]
