"""What retention must know about a table beyond its bounds, read with the
catalog snapshot (pgpart.db.retention_read) and judged by the planner
(pgpart.core.retention_rules). Pure records.

* Partitions that are foreign tables: their rows live elsewhere, so
  retention detaches them and never drops them.
* Blockers: what would make removing a partition fail or break something
  else, found before anything is detached. ``DROP TABLE`` (never CASCADE)
  refuses when another object depends on the table (a view, a rule or a
  foreign key of another table, a function of its row type) or on a
  sequence the table owns (``ALTER SEQUENCE ... OWNED BY``: the parent's
  ``nextval`` default); an archive's dump may hold nothing but the table,
  so a sequence of its own or a rule on it is refused there too.
  https://www.postgresql.org/docs/current/ddl-depend.html
* Foreign keys of other partitioned tables referencing this one: detaching
  a referenced partition fails while rows of the referencing table point
  into it, so the referencing table's retention goes first.
* Retention marks left on partitions that are still attached (a detach
  that failed; a leftover attached again): never a licence, cleared.
"""

from __future__ import annotations

from enum import Enum

from pgpart.core.record import record


class BlockerKind(str, Enum):
    DEPENDS = "depends"  # another object depends on the partition (DROP needs CASCADE)
    SEQUENCE_USED = "sequence_used"  # a sequence it owns is used by another object
    SEQUENCE_OWNED = "sequence_owned"  # it owns a sequence (its dump would hold it)
    RULE = "rule"  # a rule on it (its dump would hold it)
    PARTITIONED = "partitioned"  # itself partitioned (a dump of it holds no rows)

    def __str__(self) -> str:
        return self.value


@record
class Blocker:
    partition_oid: int
    kind: BlockerKind
    what: str  # e.g. "view public.july_report depends on it"
    fix: str  # the statement (or the choice) that removes the obstacle


@record
class ForeignKeyLink:
    """A foreign key of another partitioned table referencing this one."""

    constraint: str
    referencing_oid: int
    referencing: str  # its display name


@record
class StaleMark:
    """A retention mark on a partition that is still attached: the detach it
    announced did not happen (or the table was attached again). ``legacy``:
    an earlier pgpart's comment mark, the table's own comment (``note``)."""

    schema: str
    name: str
    oid: int
    owner: str
    note: str
    legacy: bool


@record
class RetentionFacts:
    foreign: frozenset[int] = frozenset()  # oids of partitions that are foreign tables
    blockers: tuple[Blocker, ...] = ()
    referenced_by: tuple[ForeignKeyLink, ...] = ()
    stale_marks: tuple[StaleMark, ...] = ()

    def blockers_of(self, oid: int) -> tuple[Blocker, ...]:
        return tuple(b for b in self.blockers if b.partition_oid == oid)
