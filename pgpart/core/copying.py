"""How new partitions of one table are made: from its newest sibling, unless
that sibling cannot be reproduced; and how rows leave the DEFAULT partition
for them. With the findings that decide it (cannot_reproduce, cannot_create,
sibling_drift, relocation_blocked)."""

from __future__ import annotations

from dataclasses import dataclass

from pgpart.core.placement import cannot_create
from pgpart.core.plan import DefaultRows, Problem, ProblemCode, Status
from pgpart.core.sibling_findings import drift, template_issues
from pgpart.core.siblings import Relocation, SiblingTemplate, relocation_for
from pgpart.core.snapshot import PartitionedTable, Snapshot


@dataclass(frozen=True, slots=True)
class Copying:
    """How new partitions of one table are made."""

    template: SiblingTemplate | None
    refuse: bool  # cannot_reproduce, cannot_create: no partition is created
    relocation: Relocation | None  # None: rows cannot leave DEFAULT unnoticed


def copying(
    table: PartitionedTable, rows: DefaultRows | None, snapshot: Snapshot
) -> tuple[Copying, list[Problem]]:
    newest = table.templates.newest
    problems: list[Problem] = []
    issues = template_issues(newest, table.key_column or "", table.templates.unreadable)
    for issue in issues:
        problems.append(
            Problem(
                Status.WARNING,
                ProblemCode.CANNOT_REPRODUCE,
                issue.message
                + ("; pgpart creates no partition for this table" if issue.blocks else ""),
            )
        )
    denied = cannot_create(table)
    if denied is not None:
        problems.append(denied)
    if newest is not None:
        differs = drift(newest, table.templates.previous)
        if differs:
            problems.append(Problem(Status.WARNING, ProblemCode.SIBLING_DRIFT, differs))
    relocation: Relocation | None = Relocation.PLAIN
    if table.default is not None:
        login = snapshot.login
        relocation, why = relocation_for(
            table.facts, login.name, login.may_set_replication_role, snapshot.server_version
        )
        holds = rows is None or rows.error is not None or rows.rows > 0
        if why is not None and holds:
            problems.append(
                Problem(
                    Status.WARNING,
                    ProblemCode.RELOCATION_BLOCKED,
                    f"{why}; the rows stay in {table.default.qualified} and their ranges get no "
                    "partition until then",
                )
            )
    # The newest sibling locked: new partitions would copy a definition unread.
    locked = table.templates.locked
    refuse = (
        any(i.blocks for i in issues)
        or denied is not None
        or (locked is not None and locked.newest)
    )
    return Copying(newest, refuse, relocation), problems
