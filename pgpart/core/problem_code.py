"""What a problem is about: the codes check reports.

Its own module, importing nothing else of pgpart: the command line's code
sets need it at start-up, which must stay fast (``pgpart --version``).
"""

from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10 (still supported): the same behaviour, spelt out

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str.__str__(self)

        def __format__(self, spec: str) -> str:
            return str.__format__(str(self), spec)


class ProblemCode(StrEnum):
    """What a problem is about: the ``code`` of check's JSON, text and metrics
    (README, "check"). A StrEnum: f-strings, ``str()``, JSON and comparisons
    with plain strings see the bare value."""

    # a table pgpart cannot work on
    UNKNOWN_TABLE = "unknown_table"
    NOT_PARTITIONED = "not_partitioned"
    UNSUPPORTED_KEY = "unsupported_key"
    OUT_OF_RANGE = "out_of_range"
    # its zone and interval
    TIMEZONE_INFERRED = "timezone_inferred"
    KEY_ENCODING_INFERRED = "key_encoding_inferred"  # info: how an integer/uuid key holds time
    UNKNOWN_INTERVAL = "unknown_interval"
    INTERVAL_MISMATCH = "interval_mismatch"
    INTERVAL_CHANGE = "interval_change"
    # coverage and the DEFAULT partition
    MISSING_CURRENT = "missing_current"
    INSUFFICIENT_AHEAD = "insufficient_ahead"
    GAP = "gap"
    OVERLAP = "overlap"
    DEFAULT_HAS_ROWS = "default_has_rows"
    CATCHALL_HAS_ROWS = "catchall_has_rows"
    # detaches and retention
    PENDING_DETACH = "pending_detach"
    RETENTION_OVERDUE = "retention_overdue"
    RETENTION_TOO_SHORT = "retention_too_short"
    CANNOT_DROP = "cannot_drop"
    DETACHED_LEFTOVER = "detached_leftover"
    RETENTION_CLOCK = "retention_clock"
    RESTORED = "restored"  # info: a restored partition retention leaves alone until a date
    # making new partitions like their siblings
    CANNOT_REPRODUCE = "cannot_reproduce"
    SIBLING_DRIFT = "sibling_drift"
    RELOCATION_BLOCKED = "relocation_blocked"
    RELOCATION_NEEDS_CHOICE = "relocation_needs_choice"
    RELOCATION_IN_PROGRESS = "relocation_in_progress"
    CANNOT_CREATE = "cannot_create"
    LOCKED = "locked"  # another session holds the partition new ones copy
    # logical replication: subscribers and publishers
    SUBSCRIPTION_MISSING_PARTITION = "subscription_missing_partition"
    SUBSCRIPTION_STOPPED = "subscription_stopped"
    LEAF_PUBLICATION = "leaf_publication"
    # refusals
    MANAGED_ELSEWHERE = "managed_elsewhere"
    REFUSED = "refused"
