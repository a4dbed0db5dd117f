"""How new partitions of one table are made: from its newest sibling, unless
that sibling cannot be reproduced; and how rows leave the DEFAULT partition
for them. With the findings that decide it (cannot_reproduce, cannot_create,
sibling_drift, relocation_blocked)."""

from __future__ import annotations

from dataclasses import replace

from pgpart.core.marks import MARK_CONSTRAINT
from pgpart.core.placement import cannot_create
from pgpart.core.plan import DefaultRows, Problem, ProblemCode, Status
from pgpart.core.record import record
from pgpart.core.relocation import DefaultFacts
from pgpart.core.row_code import relocation_refusal
from pgpart.core.sibling_findings import drift, template_issues
from pgpart.core.siblings import Relocation, SiblingTemplate, relocation_for
from pgpart.core.snapshot import PartitionedTable, Snapshot


@record
class Copying:
    """How new partitions of one table are made."""

    template: SiblingTemplate | None
    refuse: bool  # cannot_reproduce, cannot_create: no partition is created
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
    denied = cannot_create(table)
    if denied is not None:
        problems.append(denied)
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
            why = _settle_blocker(table, facts) or relocation_refusal(
                table.row_code, login.name, login.superuser, indexes_filled=True
            )
            relocation = None if why or _hidden_from_owner(table) else relocation
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
    # The newest sibling locked: new partitions would copy a definition unread.
    locked = table.templates.locked
    refuse = (
        any(i.blocks for i in issues)
        or denied is not None
        or (locked is not None and locked.newest)
    )
    return Copying(newest, refuse, relocation), problems


def _unmarked(template: SiblingTemplate | None) -> SiblingTemplate | None:
    if template is None or not any(c.name == MARK_CONSTRAINT for c in template.constraints):
        return template
    kept = tuple(c for c in template.constraints if c.name != MARK_CONSTRAINT)
    return replace(template, constraints=kept)


def _hidden_from_owner(table: PartitionedTable) -> bool:
    """Row security hides the DEFAULT's rows from its owner (findings'
    hidden_default_rows says so: relocation_blocked)."""
    sec = table.facts.default_security
    return sec.enabled and not sec.owner_bypasses and (sec.forced or not sec.owner_owns)


def _settle_blocker(table: PartitionedTable, facts: DefaultFacts) -> str | None:
    """What keeps the owner from moving every row of a range (besides watchers
    and row security on the DEFAULT, which findings reports)."""
    default = table.default.qualified if table.default else None
    forced = [t for t in facts.force_rls if t != default]
    if forced:
        return (
            f"row-level security is forced on {forced[0]}: the rows go back in through it as its"
            " owner, whom its policies would then check, so a move could fail or refuse rows;"
            f" for the repair run ALTER TABLE {forced[0]} NO FORCE ROW LEVEL SECURITY, then"
            " FORCE it again"
        )
    if facts.temp_denied:
        return (
            f"rows leave the DEFAULT through a temporary table, and {table.owner} (the owner of "
            f"{table.qualified}) may not create one: GRANT TEMPORARY ON DATABASE ... TO "
            f"{table.owner}"
        )
    return None
