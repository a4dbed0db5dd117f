"""What keeps retention from removing an expired partition, decided before
anything is detached. Pure.

* A foreign-table partition is never dropped (its rows live on another
  server): retention detaches it, after the local partitions, so that it
  never holds them up.
* A partition that removing would break something for (a view or a foreign
  key of another table depending on it, a sequence it owns that the parent
  uses, in archive mode anything its dump would hold besides itself) stays
  attached and is reported (cannot_drop), naming the obstacle and its fix;
  the newer expired partitions still go. Retention may so leave a hole in
  the past, which ``check`` does not call a gap (pgpart.core.findings).
* Partitioned tables linked by a foreign key: the referencing table's
  retention runs first (the plan orders them), and the referenced table's
  is refused up front when the referencing table would keep rows pointing
  into the range it would remove (a longer retention, none, or detach mode:
  a detached table keeps its foreign key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from enum import Enum

from pgpart.core.plan import Problem, ProblemCode, Status, TablePlan
from pgpart.core.policy import RetentionMode, TablePolicy
from pgpart.core.request import Mode, Request, Target
from pgpart.core.retention_facts import Blocker, BlockerKind
from pgpart.core.snapshot import Partition, PartitionedTable


class Removal(str, Enum):
    """How this run's retention removes a table's expired partitions."""

    DROP = "drop"
    DETACH = "detach"
    ARCHIVE = "archive"


def removal_of(policy: TablePolicy, request: Request) -> Removal:
    if request.mode is Mode.DROP:
        if request.drop_detach:
            return Removal.DETACH
        archive = policy.retention_mode is RetentionMode.ARCHIVE and not request.drop_no_archive
        return Removal.ARCHIVE if archive else Removal.DROP
    return {
        RetentionMode.DROP: Removal.DROP,
        RetentionMode.DETACH: Removal.DETACH,
        RetentionMode.ARCHIVE: Removal.ARCHIVE,
    }[policy.retention_mode]


# What stands in the way of each kind of removal. Detaching breaks nothing
# that depends on the partition (a view reads the detached table), except
# the parent's own use of a sequence the partition owns: whoever drops the
# detached table later takes the parent's default with it.
_APPLIES = {
    Removal.DROP: {BlockerKind.DEPENDS, BlockerKind.SEQUENCE_USED},
    Removal.DETACH: {BlockerKind.SEQUENCE_USED},
    Removal.ARCHIVE: set(BlockerKind),
}


def applies(how: Removal) -> frozenset[BlockerKind]:
    """The blockers that keep a partition from being removed ``how``."""
    return frozenset(_APPLIES[how])


def is_foreign(table: PartitionedTable, p: Partition) -> bool:
    return p.oid in table.retention.foreign


def blockers(table: PartitionedTable, p: Partition, how: Removal) -> tuple[Blocker, ...]:
    """What keeps ``p`` from being removed ``how`` (none for a foreign table:
    it is only ever detached, and a detach breaks nothing of those)."""
    applies = _APPLIES[Removal.DETACH if is_foreign(table, p) else how]
    return tuple(b for b in table.retention.blockers_of(p.oid) if b.kind in applies)


def blocker_problems(
    table: PartitionedTable, partitions: Sequence[Partition], how: Removal
) -> list[Problem]:
    """One cannot_drop per expired partition that must stay attached."""
    out = []
    for p in partitions:
        found = blockers(table, p, how)
        if not found:
            continue
        verb = "detach" if how is Removal.DETACH or is_foreign(table, p) else how.value
        what = "; ".join(b.what for b in found)
        fix = "; ".join(b.fix.replace("{partition}", p.qualified) for b in found)
        out.append(
            Problem(
                Status.WARNING,
                ProblemCode.CANNOT_DROP,
                f"retention cannot {verb} {p.qualified}: {what}; it stays attached (the newer"
                f" expired partitions still go). Fix: {fix}; the next maintain then {verb}s it",
            )
        )
    return out


# --- foreign keys between partitioned tables ---------------------------------------------


def fk_refusals(targets: Sequence[Target], request: Request) -> dict[int, Problem]:
    """Per referenced table: why its retention is refused this run. A
    referencing partitioned table must be in the run, with a retention that
    drops (drop or archive mode) and is no longer than the referenced one's.
    ``pgpart drop`` names one table: there PostgreSQL's own check at DETACH
    decides (its error names the key)."""
    if request.mode is Mode.DROP:
        return {}
    planned = {t.table.oid: t for t in targets if t.table is not None}
    out: dict[int, Problem] = {}
    for target in planned.values():
        table, policy = target.table, target.policy
        assert table is not None
        if policy.retention is None or policy.retention_mode is RetentionMode.DETACH:
            continue  # removes nothing a foreign key could refuse
        for link in table.retention.referenced_by:
            why = _keeps_rows(planned.get(link.referencing_oid), policy)
            if why is None:
                continue
            out[table.oid] = Problem(
                Status.WARNING,
                ProblemCode.CANNOT_DROP,
                f"retention of {table.qualified} is refused: the foreign key {link.constraint} of"
                f" {link.referencing} references it, and {link.referencing} {why}: detaching the"
                f" expired partitions of {table.qualified} would fail on its rows. Fix: give"
                f" {link.referencing} a retention no longer than {policy.retention} (retention_mode"
                " drop or archive) and run maintain on both tables, or drop the foreign key",
            )
            break
    return out


def _keeps_rows(referencing: Target | None, policy: TablePolicy) -> str | None:
    """Why the referencing table keeps rows the referenced one's retention
    would remove the targets of; None when its own retention removes them
    first (or at the same time)."""
    if referencing is None or referencing.table is None:
        return "is not in this run"
    mine = referencing.policy
    if mine.retention is None:
        return "has no retention"
    if mine.retention_mode is RetentionMode.DETACH:
        return "detaches its old partitions, keeping their rows and their foreign key"
    assert policy.retention is not None
    moment = datetime(2000, 1, 1, tzinfo=timezone.utc)
    if mine.retention.before(moment, None) < policy.retention.before(moment, None):
        return f"keeps its rows longer (retention = {mine.retention})"
    return None


def fk_order(
    tables: Sequence[TablePlan], snapshot_tables: Mapping[int, PartitionedTable]
) -> tuple[TablePlan, ...]:
    """``tables`` with every referencing table before the tables it
    references (by a foreign key between partitioned tables), otherwise in
    their order: the executor runs actions in plan order, so a referencing
    table's retention goes first. A cycle keeps the given order."""
    index = {t.oid: i for i, t in enumerate(tables) if t.oid is not None}
    before: dict[int, set[int]] = {i: set() for i in range(len(tables))}
    for oid, i in index.items():
        table = snapshot_tables.get(oid)
        for link in table.retention.referenced_by if table else ():
            j = index.get(link.referencing_oid)
            if j is not None and j != i:
                before[i].add(j)  # j must come before i
    if not any(before.values()):
        return tuple(tables)
    out: list[int] = []
    left = list(range(len(tables)))
    while left:
        ready = next((i for i in left if before[i] <= set(out)), left[0])
        out.append(ready)
        left.remove(ready)
    return tuple(tables[i] for i in out)
