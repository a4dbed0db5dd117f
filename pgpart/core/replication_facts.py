"""What the catalog says about logical replication, as pgpart needs it:
the subscriptions of this database (subscriber side), its publications that
publish partitions one by one and its logical decoding slots (publisher
side). Read by ``pgpart.db.replication``, judged by ``pgpart.core.replication``.

Records only, importing nothing else of pgpart: the snapshot holds them.
"""

from __future__ import annotations

from pgpart.core.record import record


@record
class Subscription:
    """One subscription of this database (pg_subscription, pg_subscription_rel,
    pg_stat_subscription)."""

    oid: int
    name: str
    owner: str
    enabled: bool
    worker: bool  # an apply worker is running for it
    relations: frozenset[int]  # pg_subscription_rel: the tables it applies changes to
    within: frozenset[int]  # those and the partitioned tables they are partitions of
    owner_usable: bool = True  # the login role is the owner, or may act as it
    password_required: bool = True  # false (16+): only a superuser may alter it
    two_phase: bool = False  # two_phase enabled: no REFRESH with copy_data
    apply_errors: int | None = None  # pg_stat_subscription_stats (15+), since its reset


@record
class LeafPublication:
    """A publication with publish_via_partition_root = false that publishes
    partitions of some partitioned tables: each partition goes out under its
    own name."""

    name: str
    roots: frozenset[int]  # the partitioned tables (top of the tree) whose partitions it publishes


@record
class DecodingSlot:
    """A logical replication slot of this database whose consumer is not a
    subscription's (its plugin is not pgoutput): a CDC pipeline."""

    name: str
    plugin: str


@record
class Replication:
    subscriptions: tuple[Subscription, ...] = ()
    publications: tuple[LeafPublication, ...] = ()
    slots: tuple[DecodingSlot, ...] = ()
    error: str | None = None  # subscriptions could not be read, and why
    publisher_error: str | None = None  # publications or slots could not be read, and why

    @property
    def present(self) -> bool:
        """Anything to judge (or to say that it could not be read)."""
        return bool(
            self.subscriptions
            or self.publications
            or self.slots
            or self.error
            or self.publisher_error
        )
