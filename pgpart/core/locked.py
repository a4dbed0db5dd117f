"""A partition another session holds while pgpart reads what new partitions
copy from it (what that means for each command: pgpart.core.findings).

Reading a partition's definition (its indexes, constraints, triggers,
policies) takes ACCESS SHARE on it, which waits behind anyone holding, or
queued for, ACCESS EXCLUSIVE: a migration, VACUUM FULL, a LOCK TABLE.
``check`` never waits: it reports the table as ``locked`` (information) and
goes on. ``create`` and ``maintain`` wait for it within the table's
lock_timeout per attempt and the retry budget, as their DDL does; the lock
outlasting the budget fails the table's creation, naming the relation and
the holder. https://www.postgresql.org/docs/current/explicit-locking.html
"""

from __future__ import annotations

from pgpart.core.record import record

QUERY_CHARS = 60  # of the holder's query, as the DDL's lock messages show it


@record
class LockHolder:
    """Who holds (or is queued for) ACCESS EXCLUSIVE on a relation."""

    oid: int  # the relation held: the partition, one of its indexes or sub-partitions
    relation: str  # its display name
    pid: int | None  # None: a prepared transaction
    mode: str  # as pg_locks spells it, e.g. AccessExclusiveLock
    granted: bool  # False: queued ahead (itself waiting for the lock)
    query: str | None = None  # the holder's current query, where the login role may see it

    def describe(self) -> str:
        """'held by pid 4242 (AccessExclusiveLock): "ALTER TABLE ..."', as
        the DDL's lock-timeout messages name a holder."""
        state = "held" if self.granted else "queued ahead"
        who = "a prepared transaction" if self.pid is None else f"pid {self.pid}"
        text = " ".join((self.query or "").split())
        if len(text) > QUERY_CHARS:
            text = text[: QUERY_CHARS - 3] + "..."
        return f"{state} by {who} ({self.mode})" + (f': "{text}"' if text else "")


@record
class Locked:
    """A sibling whose definition could not be read: another session holds it."""

    partition: str  # display name of the sibling
    holder: LockHolder | None  # None: gone by the time pgpart looked
    newest: bool  # the newest sibling: new partitions copy it, so creation needs it
    oid: int = 0  # the sibling's
    attempts: int = 0  # lock waits spent on it (create, maintain); 0: not waited for
    seconds: float = 0.0

    @property
    def relation(self) -> str:
        """The relation held (the sibling, one of its indexes or sub-partitions)."""
        return self.holder.relation if self.holder is not None else self.partition

    @property
    def relation_oid(self) -> int:
        return self.holder.oid if self.holder is not None else self.oid
