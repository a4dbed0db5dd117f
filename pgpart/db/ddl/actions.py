"""Turn a planned action into the steps that carry it out.

Pure: no I/O. The executor sends exactly these statements and the dry run
prints them, so what a user reviews is what runs.

Lock rules the statement builders rely on (PostgreSQL 12+, CONCURRENTLY 14+):
https://www.postgresql.org/docs/current/sql-altertable.html (ATTACH/DETACH)
https://www.postgresql.org/docs/current/ddl-partitioning.html#DDL-PARTITIONING-DECLARATIVE-MAINTENANCE
https://www.postgresql.org/docs/current/explicit-locking.html (conflict table)
"""

from __future__ import annotations

from collections.abc import Sequence

from pgpart.core.plan import (
    Action,
    AnalyzeTable,
    CreatePartition,
    DetachPartition,
    DropLeftover,
    DropPartition,
    FinalizeDetach,
    RefreshSubscription,
    UnmarkPartition,
)
from pgpart.db.ddl.analyze import analyze_step
from pgpart.db.ddl.create import create_step
from pgpart.db.ddl.retention import detach_step, drop_steps, finalize_step, leftover_step, unmark
from pgpart.db.ddl.step import DdlOptions, Step
from pgpart.db.ddl.subscription import refresh_step


def steps_for(
    action: Action, options: DdlOptions, *, columns: Sequence[str] | None = None
) -> tuple[Step, ...]:
    """The steps of one action, run in order.

    ``columns`` (insertable columns of the parent, see ``columns_query``) is
    needed only for a CreatePartition that moves rows out of the default.
    """
    if isinstance(action, CreatePartition):
        return (create_step(action, options, columns),)
    if isinstance(action, DropPartition):
        return drop_steps(action, options)
    if isinstance(action, DetachPartition):
        return (detach_step(action, options),)
    if isinstance(action, FinalizeDetach):
        return (finalize_step(action.table, action.partition_schema, action.partition, options),)
    if isinstance(action, AnalyzeTable):
        return (analyze_step(action, options),)
    if isinstance(action, RefreshSubscription):
        return (refresh_step(action, options),)
    if isinstance(action, DropLeftover):
        return (leftover_step(action, options),)
    if isinstance(action, UnmarkPartition):
        return (unmark(action, options),)
    raise TypeError(f"unknown action {action!r}")
