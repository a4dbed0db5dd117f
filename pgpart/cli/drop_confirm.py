"""drop's confirmation on a terminal: what is about to go, then one question.

The question names what will happen: "Drop", "Detach", or, on a table whose
retention archives, "Archive and drop" (each partition dumped to archive_dir,
verified and sent before it goes); with --no-archive on such a table it says
that the partitions are dropped without an archive."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer

from pgpart.cli.console import fail, say
from pgpart.errors import ExitCode, PgpartError

if TYPE_CHECKING:
    from pgpart.cli.fleet_members import Outcome
    from pgpart.config import Settings
    from pgpart.core.plan import Action, Plan
    from pgpart.db.results import ActionResult
    from pgpart.db.stats import PartitionStats


def drop_verb(actions: Sequence[tuple[Action, Settings]], *, detach: bool) -> tuple[str, str]:
    """What the question asks to do (each action with its database's
    settings), and a note saying where archives go or that an archive-mode
    table's partitions go without one."""
    from pgpart.config import RetentionMode
    from pgpart.core.plan import ArchivePartition

    if detach:
        return "detach", ""
    archives = [a for a, _ in actions if isinstance(a, ArchivePartition)]
    if archives:
        where = ", ".join(sorted({a.archive_dir for a in archives}))
        return "archive and drop", (
            f"each partition is archived to {where} (pg_dump, verified"
            + (", archive_command" if any(a.archive_command for a in archives) else "")
            + ") before it is dropped; --no-archive drops without archiving\n"
        )
    unarchived = sorted(
        {
            a.table.qualified
            for a, settings in actions
            if settings.policy_for(a.table.schema, a.table.name).retention_mode
            is RetentionMode.ARCHIVE
        }
    )
    if unarchived:
        return "drop", (
            f"WITHOUT archiving (--no-archive), although retention_mode = archive for"
            f" {', '.join(unarchived)}: these rows will be gone\n"
        )
    return "drop", ""


def confirm_drop(planned: Plan, settings: Settings, *, detach: bool, width: int | None) -> bool:
    """The partitions with their sizes, then [y/N] on stderr; Ctrl-C: exit 130."""
    verb, note = drop_verb([(a, settings) for a in planned.actions], detach=detach)
    typer.echo(drop_preview(planned, settings, verb, width) + note, err=True, nl=not note)
    try:
        question = f"{verb[0].upper()}{verb[1:]} these {len(removals(planned))} partition(s)?"
        sys.stderr.write(f"{question} [y/N]: ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        typer.echo("", err=True)
        fail(f"interrupted (Ctrl-C): {_nothing(verb)}", ExitCode.INTERRUPTED)
    if answer.strip().lower() in ("y", "yes"):
        return True
    if not answer:
        typer.echo("", err=True)  # end of input: end the prompt's line
    say(f"not confirmed: {_nothing(verb)}")
    return False


def _nothing(verb: str) -> str:
    return "nothing detached" if verb == "detach" else "nothing dropped"


def drop_preview(planned: Plan, settings: Settings, verb: str, width: int | None) -> str:
    """What the prompt is about to remove: each partition with its range,
    estimated rows and size, and the total."""
    import psycopg

    from pgpart import api
    from pgpart.cli.output import render_drop_preview
    from pgpart.cli.output.drop_preview import partition_name

    going = removals(planned)
    names = [partition_name(a) for a in going]
    found: dict[str, PartitionStats] = {}
    try:
        with api.open_connection(settings) as conn:
            tables = sorted({a.table.qualified for a in going})
            stats, _ = api.stats(conn, settings, tables)
        found = {p.name: p for s in stats for p in s.partitions}
    except (PgpartError, psycopg.Error):
        pass  # sizes unknown: the list of partitions is still shown
    return render_drop_preview(going, [found.get(n) for n in names], verb, width)


def removals(planned: Plan) -> tuple[Action, ...]:
    """The planned actions that remove a partition (not the ANALYZE after them)."""
    from pgpart.core.plan import AnalyzeTable

    return tuple(a for a in planned.actions if not isinstance(a, AnalyzeTable))


def confirm_fleet_drop(plans: Sequence[Outcome[Plan]], *, detach: bool) -> bool:
    """Every database's partitions, then one question (on stderr)."""
    from pgpart.cli.fleet_members import Outcome
    from pgpart.cli.fleet_output import render_results_fleet
    from pgpart.cli.output import Format

    previews = [
        Outcome(o.member, (not_yet_run(o.value), o.value)) for o in plans if o.value is not None
    ]
    typer.echo(render_results_fleet(previews, Format.TABLE, quiet=False, dry_run=False), err=True)
    count = sum(len(removals(o.value)) for o in plans if o.value is not None)
    where = sum(1 for o in plans if o.value is not None and o.value.actions)
    actions = [
        (a, o.member.settings) for o in plans if o.value is not None for a in o.value.actions
    ]
    verb, note = drop_verb(actions, detach=detach)
    if note:
        typer.echo(note, err=True, nl=False)
    return typer.confirm(
        f"{verb[0].upper()}{verb[1:]} these {count} partition(s) in {where} database(s)?",
        default=False,
        err=True,
    )


def not_yet_run(planned: Plan) -> list[ActionResult]:
    """Planned actions as not-yet-run results, for the confirmation prompt."""
    from pgpart.db.results import ActionResult, Outcome

    return [ActionResult(a, Outcome.NOT_RUN) for a in planned.actions]
