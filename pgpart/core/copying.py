"""How new partitions of one table are made: from its newest sibling, unless
that sibling cannot be reproduced; and how rows leave the DEFAULT partition
for them. With the findings that decide it (cannot_reproduce, sibling_drift,
relocation_blocked)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pgpart.core.marks import MARK_CONSTRAINT
from pgpart.core.plan import DefaultRows, Problem, ProblemCode, Status
from pgpart.core.relocation import DefaultFacts
from pgpart.core.siblings import Relocation, SiblingTemplate, drift, relocation_for, template_issues
from pgpart.core.snapshot import PartitionedTable, Snapshot


@dataclass(frozen=True, slots=True)
class Copying:
    """How new partitions of one table are made."""

    template: SiblingTemplate | None
    refuse: bool  # cannot_reproduce: no partition is created
    relocation: Relocation | None  # None: rows cannot leave DEFAULT unnoticed


def copying(
    table: PartitionedTable, rows: DefaultRows | None, snapshot: Snapshot
) -> tuple[Copying, list[Problem]]:
    # A partition still marked (its moved rows being republished) is a
    # sibling like any other, but its mark is no part of what is copied.
    newest = _unmarked(table.templates.newest)
    previous = tuple(t for t in map(_unmarked, table.templates.previous) if t is not None)
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
    if newest is not None:
        differs = drift(newest, previous)
        if differs:
            problems.append(Problem(Status.WARNING, ProblemCode.SIBLING_DRIFT, differs))
    relocation: Relocation | None = Relocation.PLAIN
    if table.default is not None:
        login = snapshot.login
        facts = rows.facts if rows is not None else DefaultFacts()
        relocation, why = relocation_for(
            table.facts,
            login.name,
            login.may_set_replication_role,
            snapshot.server_version,
            extra=facts.watchers,
        )
        if why is None:
            why = _settle_blocker(table, facts)
            relocation = None if why else relocation
        holds = rows is None or rows.error is not None or rows.rows > rows.null_rows
        if why is not None and holds:
            problems.append(
                Problem(
                    Status.WARNING,
                    ProblemCode.RELOCATION_BLOCKED,
                    f"{why}; the rows stay in {table.default.qualified} and their ranges get no "
                    "partition until then",
                )
            )
    refuse = any(i.blocks for i in issues)
    return Copying(newest, refuse, relocation), problems


def _unmarked(template: SiblingTemplate | None) -> SiblingTemplate | None:
    if template is None or not any(c.name == MARK_CONSTRAINT for c in template.constraints):
        return template
    kept = tuple(c for c in template.constraints if c.name != MARK_CONSTRAINT)
    return replace(template, constraints=kept)


def _settle_blocker(table: PartitionedTable, facts: DefaultFacts) -> str | None:
    """What keeps the owner from moving every row of a range (besides watchers)."""
    if facts.force_rls:
        tables = " and ".join(facts.force_rls)
        return (
            f"row-level security is forced on {tables}: the owner would see only the rows its "
            "policies allow, so a move could not take them all; for the repair run "
            f"ALTER TABLE {facts.force_rls[0]} NO FORCE ROW LEVEL SECURITY, then FORCE it again"
        )
    if facts.temp_denied:
        return (
            f"rows leave the DEFAULT through a temporary table, and {table.owner} (the owner of "
            f"{table.qualified}) may not create one: GRANT TEMPORARY ON DATABASE ... TO "
            f"{table.owner}"
        )
    return None
