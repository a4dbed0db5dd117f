"""The problem codes the command line acts on, gathered in one place.

Each set decides what a problem means for a writing command's exit code or
its stderr lines; the codes themselves are the planner's (pgpart.core).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pgpart.core.problem_code import ProblemCode

if TYPE_CHECKING:
    from pgpart.core.plan import TablePlan

# Problems that mean "this is not a table pgpart can work on": UNKNOWN, exit 3.
REFUSED_CODES = frozenset(
    {
        ProblemCode.UNKNOWN_TABLE,
        ProblemCode.NOT_PARTITIONED,
        ProblemCode.UNSUPPORTED_KEY,
        ProblemCode.OUT_OF_RANGE,
        ProblemCode.RETENTION_TOO_SHORT,
    }
)

# A refusal of a config value or argument found only while planning (it needs
# the table's interval): UNKNOWN, exit 3, even when other actions ran.
BAD_CONFIG_CODES = frozenset({ProblemCode.RETENTION_TOO_SHORT})

# Problems that make pgpart leave part of a table's work undone (exit 2).
WITHHOLDING_CODES = frozenset(
    {
        ProblemCode.CANNOT_REPRODUCE,
        ProblemCode.RELOCATION_BLOCKED,
        ProblemCode.RELOCATION_NEEDS_CHOICE,
        ProblemCode.CANNOT_DROP,
        ProblemCode.CANNOT_CREATE,
        ProblemCode.LOCKED,
    }
)

# What new partitions will lack although they are made (a publication pgpart
# may not change), or need elsewhere first (a subscriber's partition): said on
# stderr even when the table's work went ahead.
LACKING_CODES = frozenset({ProblemCode.CANNOT_REPRODUCE, ProblemCode.LEAF_PUBLICATION})

# What a writing run says on stderr even with -q: planning at a moment later
# than the server's clock (a stale PGPART_NOW in cron's environment...) kept
# partitions from retention.
NOTICE_CODES = frozenset({ProblemCode.RETENTION_CLOCK})

# Nothing but the DEFAULT partition covers now (Prometheus: 0 s of coverage ahead).
MISSING_CURRENT_CODE = ProblemCode.MISSING_CURRENT


def is_refused(table: TablePlan) -> bool:
    """Not a table pgpart can work on (unknown, not partitioned...): UNKNOWN."""
    from pgpart.core.plan import Status

    return bool(
        table.status is Status.UNKNOWN
        and table.blocked
        and not table.actions
        and any(p.code in REFUSED_CODES for p in table.problems)
    )


def has_bad_config(tables: Iterable[TablePlan]) -> bool:
    """A config value or argument refused while planning (it needed the interval)."""
    return any(p.code in BAD_CONFIG_CODES for t in tables for p in t.problems)
