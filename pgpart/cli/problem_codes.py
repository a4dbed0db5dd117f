"""The problem codes the command line acts on, gathered in one place.

Each set decides what a problem means for a writing command's exit code or
its stderr lines; the codes themselves are the planner's (pgpart.core).
"""

from __future__ import annotations

from pgpart.core.problem_code import ProblemCode

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
    {ProblemCode.CANNOT_REPRODUCE, ProblemCode.RELOCATION_BLOCKED, ProblemCode.CANNOT_DROP}
)

# What new partitions will lack although they are made (a publication pgpart
# may not change): said on stderr even when the table's work went ahead.
LACKING_CODE = ProblemCode.CANNOT_REPRODUCE

# Nothing but the DEFAULT partition covers now (Prometheus: 0 s of coverage ahead).
MISSING_CURRENT_CODE = ProblemCode.MISSING_CURRENT
