"""Where a new partition is created, and whether its owner may create it there.

A new partition goes into the schema of the newest partition (so that grants
and publications given per schema keep applying), or into the parent's
schema when the table has no partition yet. pgpart creates it as the
parent's owner, who needs CREATE on that schema: PostgreSQL 15 no longer
grants CREATE on ``public`` to every role, so a table whose owner used to
rely on it cannot get a new partition there.
https://www.postgresql.org/docs/current/ddl-schemas.html#DDL-SCHEMAS-PATTERNS
"""

from __future__ import annotations

from pgpart.core.identifiers import display_part
from pgpart.core.plan import Problem, ProblemCode, Status
from pgpart.core.snapshot import Partition, PartitionedTable


def newest_partition(table: PartitionedTable) -> Partition | None:
    """The partition with the latest range bounded on both sides (the one new
    partitions are made like); None when there is none."""
    for p in reversed(table.partitions):  # in bound order, DEFAULT last
        b = p.bound
        if b is not None and not p.pending_detach and b.lower is not None and b.upper is not None:
            return p
    return None


def new_partition_schema(table: PartitionedTable) -> str:
    """The schema new partitions of ``table`` are created in."""
    newest = newest_partition(table)
    return newest.schema if newest is not None else table.schema


def owner_may_create(table: PartitionedTable) -> bool | None:
    """Whether the parent's owner may create tables in the new partitions'
    schema; None when the catalog facts read do not say."""
    schema = new_partition_schema(table)
    template = table.templates.newest
    if template is not None and template.schema == schema:
        return template.owner_may_create
    if schema == table.schema and newest_partition(table) is None:
        return table.facts.owner_may_create
    return None


def cannot_create(table: PartitionedTable) -> Problem | None:
    """cannot_create: the owner may not create tables where new partitions go."""
    if owner_may_create(table) is not False:
        return None
    schema, owner = display_part(new_partition_schema(table)), display_part(table.owner)
    return Problem(
        Status.WARNING,
        ProblemCode.CANNOT_CREATE,
        f"role {owner}, which owns {table.qualified} and as which pgpart creates its "
        f"partitions, may not create tables in schema {schema}, where new partitions go: "
        f"GRANT CREATE ON SCHEMA {schema} TO {owner}; pgpart creates no partition for "
        "this table until then",
    )
