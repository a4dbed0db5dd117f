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

from pgpart.cli.console import say
from pgpart.cli.exit_codes import interrupted
from pgpart.core.plan import DetachPartition
from pgpart.errors import PgpartError

if TYPE_CHECKING:
    from pgpart.config import Settings
    from pgpart.core.plan import Action, Plan
    from pgpart.db.stats import PartitionStats

    # A database's name (None: the run's only one), its plan and its settings.
    Planned = tuple[str | None, Plan, Settings]


def drop_verb(actions: Sequence[tuple[Action, Settings]], *, detach: bool) -> tuple[str, str]:
    """What the question asks to do (each action with its database's
    settings), and a note saying where archives go or that an archive-mode
    table's partitions go without one."""
    from pgpart.core.plan import ArchivePartition
    from pgpart.core.policy import RetentionMode

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


def confirm_drop(plans: Sequence[Planned], *, detach: bool, width: int | None) -> bool:
    """What every database is about to lose, with the sizes, then one
    [y/N] on stderr; Ctrl-C: exit 130. ``plans``: each database's name
    (None for the only one), plan and settings."""
    verb, note = drop_verb([(a, s) for _, plan, s in plans for a in plan.actions], detach=detach)
    typer.echo(drop_preview(plans, verb, width) + note, err=True, nl=not note)
    going = [a for _, plan, _ in plans for a in removals(plan)]
    # Foreign-table partitions are detached, never dropped: said apart.
    foreign = sum(1 for a in going if isinstance(a, DetachPartition)) if verb != "detach" else 0
    many = any(name is not None for name, _, _ in plans)
    where = sum(1 for _, plan, _ in plans if plan.actions)
    try:
        question = f"{verb[0].upper()}{verb[1:]} these {len(going) - foreign} partition(s)"
        if foreign:
            question += f" and detach {foreign} foreign-table partition(s)"
        question += f" in {where} database(s)?" if many else "?"
        sys.stderr.write(f"{question} [y/N]: ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        typer.echo("", err=True)
        interrupted(f"interrupted (Ctrl-C): {_nothing(verb)}")
    if answer.strip().lower() in ("y", "yes"):
        return True
    if not answer:
        typer.echo("", err=True)  # end of input: end the prompt's line
    say(f"not confirmed: {_nothing(verb)}")
    return False


def _nothing(verb: str) -> str:
    return "nothing detached" if verb == "detach" else "nothing dropped"


def drop_preview(plans: Sequence[Planned], verb: str, width: int | None) -> str:
    """What the prompt is about to remove: each partition with its range,
    estimated rows and size, and the total."""
    from pgpart.cli.output import render_drop_preview
    from pgpart.cli.output.drop_preview import partition_name

    items: list[tuple[str | None, Action, PartitionStats | None]] = []
    for name, planned, settings in plans:
        going = removals(planned)
        if going:
            found = _sizes(settings, going)
            items += [(name, a, found.get(partition_name(a))) for a in going]
    return render_drop_preview(items, verb, width)


def _sizes(settings: Settings, going: Sequence[Action]) -> dict[str, PartitionStats]:
    """The partitions' rows and sizes by name; none when they cannot be read
    (the list of partitions is still shown)."""
    import psycopg

    from pgpart import api

    try:
        with api.open_connection(settings) as conn:
            tables = sorted({a.table.qualified for a in going})
            stats, _ = api.stats(conn, settings, tables)
    except (PgpartError, psycopg.Error):
        return {}
    return {p.name: p for s in stats for p in s.partitions}


def removals(planned: Plan) -> tuple[Action, ...]:
    """The planned actions that remove a partition (not the ANALYZE after them)."""
    from pgpart.core.plan import AnalyzeTable

    return tuple(a for a in planned.actions if not isinstance(a, AnalyzeTable))
