"""The problem codes the command line acts on, gathered in one place.

Each set decides what a problem means for a writing command's exit code or
its stderr lines; the codes themselves are the planner's (pgpart.core).
"""

from __future__ import annotations

# Problems that mean "this is not a table pgpart can work on": UNKNOWN, exit 3.
REFUSED_CODES = frozenset(
    {"unknown_table", "not_partitioned", "unsupported_key", "out_of_range", "retention_too_short"}
)

# A refusal of a config value or argument found only while planning (it needs
# the table's interval): UNKNOWN, exit 3, even when other actions ran.
BAD_CONFIG_CODES = frozenset({"retention_too_short"})

# Problems that make pgpart leave part of a table's work undone (exit 2).
WITHHOLDING_CODES = frozenset({"cannot_reproduce", "relocation_blocked", "cannot_drop"})

# What new partitions will lack although they are made (a publication pgpart
# may not change): said on stderr even when the table's work went ahead.
LACKING_CODE = "cannot_reproduce"

# Nothing but the DEFAULT partition covers now (Prometheus: 0 s of coverage ahead).
MISSING_CURRENT_CODE = "missing_current"
