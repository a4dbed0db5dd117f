"""pg_partman's range CHECK on each partition of an epoch or UUIDv7 set.

On a set whose integer or uuid key encodes time, pg_partman (4 and 5) adds
to every partition it makes a second, time-based constraint besides the
integer bound: ``<partition>_partition_check`` CHECK (the key decoded
``>= '<start>' AND < '<end>'``), so that queries on the decoded time are
excluded too. It pins that partition's own range: copied as it is onto a
new partition (a faithful sibling), it would refuse every row of the new
range. A new partition gets it as pg_partman would give it: named after the
new partition, with the new range; siblings are compared with it taken out
(it differs from one partition to the next by design).

The definition is recognised as PostgreSQL prints it back (catalog reads
pin ``TimeZone = UTC``): ``CHECK (((expr >= '2026-03-01 00:00:00+00'::timestamp
with time zone) AND (expr < '2026-03-02 00:00:00+00'::timestamp with time zone)))``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone

from pgpart.core.identifiers import MAX_NAME_BYTES, cut_to_bytes
from pgpart.core.siblings import ConstraintCopy, SiblingTemplate

__all__ = ["is_range_check", "rebound", "without_range_checks"]

SUFFIX = "_partition_check"
_TSTZ = "::timestamp with time zone"
_DEFINITION = re.compile(
    r"^CHECK \(\(\((?P<expr>.+) >= '(?P<lo>[^']+)'" + re.escape(_TSTZ) + r"\) AND "
    r"\((?P=expr) < '(?P<hi>[^']+)'" + re.escape(_TSTZ) + r"\)\)\)$",
    re.S,
)


def _name_for(partition: str) -> str:
    # PostgreSQL cuts a longer name to 63 bytes (whole characters) as it stores it.
    return cut_to_bytes(partition + SUFFIX, MAX_NAME_BYTES)


def is_range_check(c: ConstraintCopy, partition: str) -> bool:
    """Whether ``c`` is pg_partman's range CHECK of ``partition``."""
    return (
        c.kind == "c"
        and not c.inherited
        and c.name == _name_for(partition)
        and _DEFINITION.match(c.definition.removesuffix(" NOT VALID")) is not None
    )


def without_range_checks(t: SiblingTemplate) -> SiblingTemplate:
    """``t`` without its range CHECK: what siblings are compared by."""
    kept = tuple(c for c in t.constraints if not is_range_check(c, t.name))
    return t if len(kept) == len(t.constraints) else replace(t, constraints=kept)


def rebound(
    t: SiblingTemplate | None, partition: str, lower: datetime, upper: datetime
) -> SiblingTemplate | None:
    """The template of a new partition [lower, upper) named ``partition``:
    the sibling's range CHECK, if it has one, named and bounded for it."""
    if t is None or not any(is_range_check(c, t.name) for c in t.constraints):
        return t
    constraints = []
    for c in t.constraints:
        found = _DEFINITION.match(c.definition.removesuffix(" NOT VALID"))
        if found is None or not is_range_check(c, t.name):
            constraints.append(c)
            continue
        expr = found["expr"]
        definition = (
            f"CHECK ((({expr} >= '{_text(lower)}'{_TSTZ}) AND ({expr} < '{_text(upper)}'{_TSTZ})))"
        )
        if c.definition.endswith(" NOT VALID"):
            definition += " NOT VALID"
        constraints.append(replace(c, name=_name_for(partition), definition=definition))
    return replace(t, constraints=tuple(constraints))


def _text(moment: datetime) -> str:
    """A timestamptz as PostgreSQL prints it with TimeZone UTC."""
    utc = moment.astimezone(timezone.utc)
    text = utc.strftime("%Y-%m-%d %H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "+00"
