"""The databases a command works on: one database is a fleet of one.

Every command runs its work once per member (pgpart.cli.fleet_members),
``--jobs`` members at a time, each on its own connection, then renders one
report and exits with the worst code over the members. With one member
nothing names it (no database column, no name before its lines), so one
database reads as it always has, however it was named (--dsn, --service or
a [[database]] block). Every line on stderr about a member of many starts
with its name; passwords are masked with that member's DSN (or service
file entry).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import typer

from pgpart.cli.console import say
from pgpart.cli.fleet_members import Member, Outcome, dsn_name, members, run
from pgpart.core.record import record

if TYPE_CHECKING:
    from pgpart.cli.requests import Where
    from pgpart.config import Settings

T = TypeVar("T")


@record
class Fleet:
    members: tuple[Member, ...]
    jobs: int
    # One database as pgpart always took it (a --dsn, $PGPART_DSN or libpq's
    # defaults), not named by --service or a [[database]] block: init then
    # writes no [[database]] block for it.
    classic: bool = False

    @classmethod
    def of(cls, where: Where, settings: Settings) -> Fleet:
        """The members ``where`` and the settings name (loaded for the
        first --dsn when there are not several)."""
        found = members(where.dsns, where.services, settings)
        if found is None:
            name = dsn_name(settings.dsn) if settings.dsn else "local"
            return cls((Member(name, settings),), where.jobs, classic=True)
        return cls(tuple(found), where.jobs)

    @property
    def labelled(self) -> bool:
        """Many databases: rows, samples and lines say which."""
        return len(self.members) > 1

    def tag(self, member: Member) -> str | None:
        """What the output calls ``member``: its name, or nothing when alone."""
        return member.name if self.labelled else None

    def say(self, member: Member, text: str) -> None:
        """A line on stderr about ``member`` (after its name, with many)."""
        say(member.scrub(f"{member.name}: {text}" if self.labelled else text))

    def run_members(
        self,
        work: Callable[[Member], T],
        chosen: Sequence[Member] | None = None,
        *,
        quiet: bool = False,
    ) -> list[Outcome[T]]:
        """``work`` on every member (or on ``chosen``); each failure is said
        once on stderr. Ctrl-C: the members not started are skipped."""
        chosen = self.members if chosen is None else chosen
        finished = None if quiet else _progress(len(chosen))
        outcomes = run(chosen, work, self.jobs, finished, alone=not self.labelled)
        for o in outcomes:
            if o.failed:
                self.say(o.member, o.error or "")
        return outcomes


def _progress(total: int) -> Callable[[Outcome[T], int], None] | None:
    """On a terminal, one stderr line as each database ends (cron logs stay clean)."""
    if total < 2 or not sys.stderr.isatty():
        return None

    def finished(outcome: Outcome[T], count: int) -> None:
        state = "failed" if outcome.failed else "finished"
        typer.echo(f"pgpart: [{count}/{total}] {outcome.member.name}: {state}", err=True)

    return finished
