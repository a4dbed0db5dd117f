"""Logical replication as the catalog tells it: this database's subscriptions
(with the tables each applies changes to and whether its apply worker runs),
its publications that publish partitions one by one, and its logical
decoding slots other than subscriptions'.

One query says whether there is anything at all; only then are the others
sent (at most three more), inside the snapshot's transaction. Every view read
here is readable by any role on PostgreSQL 12 to 18 (pg_subscription but its
subconninfo column, which is not read); a locked-down server that revoked
one of them is said (``Replication.error``, ``publisher_error``), and the
rest of the snapshot stands (each read runs in a savepoint).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from psycopg import sql

from pgpart.core.replication_facts import (
    DecodingSlot,
    LeafPublication,
    Replication,
    Subscription,
)

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

_THIS_DATABASE = (
    "(SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())"
)
_NOT_PGOUTPUT = "s.plugin <> 'pgoutput'"
_SLOTS_OF_THIS_DATABASE = "s.slot_type = 'logical' AND s.database = pg_catalog.current_database()"


def _any_sql(version: int) -> sql.Composed:
    leaf = "NOT p.pubviaroot" if version >= 130000 else "true"
    return sql.SQL(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_subscription s"
        "  WHERE s.subdbid = {db}),"
        " EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE {leaf}),"
        " EXISTS (SELECT FROM pg_catalog.pg_replication_slots s WHERE {slots} AND {plugin})"
    ).format(
        db=sql.SQL(_THIS_DATABASE),
        leaf=sql.SQL(leaf),
        slots=sql.SQL(_SLOTS_OF_THIS_DATABASE),
        plugin=sql.SQL(_NOT_PGOUTPUT),
    )


def _subscriptions_sql(version: int) -> sql.Composed:
    # Owning a subscription is what ALTER SUBSCRIPTION asks for: through an
    # inherited membership, or SET ROLE to it (16 split SET out of MEMBER).
    # https://www.postgresql.org/docs/current/sql-altersubscription.html
    usable = (
        "pg_catalog.pg_has_role(s.subowner, 'USAGE') OR pg_catalog.pg_has_role(s.subowner, 'SET')"
        if version >= 160000
        else "pg_catalog.pg_has_role(s.subowner, 'MEMBER')"
    )
    return sql.SQL(
        "SELECT s.oid, s.subname::text, pg_catalog.pg_get_userbyid(s.subowner)::text,"
        " s.subenabled,"
        " EXISTS (SELECT FROM pg_catalog.pg_stat_subscription w"
        "  WHERE w.subid = s.oid AND w.pid IS NOT NULL AND w.relid IS NULL),"
        " ARRAY(SELECT r.srrelid FROM pg_catalog.pg_subscription_rel r"
        "  WHERE r.srsubid = s.oid),"
        " ARRAY(SELECT DISTINCT i.inhparent FROM pg_catalog.pg_subscription_rel r"
        "  JOIN pg_catalog.pg_inherits i ON i.inhrelid = r.srrelid WHERE r.srsubid = s.oid),"
        " {usable}, {password}, {two_phase}, {errors}"
        " FROM pg_catalog.pg_subscription s"
        " WHERE s.subdbid = {db} ORDER BY s.subname"
    ).format(
        usable=sql.SQL(usable),
        password=sql.SQL("s.subpasswordrequired" if version >= 160000 else "true"),
        two_phase=sql.SQL("s.subtwophasestate = 'e'" if version >= 150000 else "false"),
        errors=sql.SQL(
            "(SELECT st.apply_error_count FROM pg_catalog.pg_stat_subscription_stats st"
            " WHERE st.subid = s.oid)"
            if version >= 150000
            else "NULL::bigint"
        ),
        db=sql.SQL(_THIS_DATABASE),
    )


def _publications_sql(version: int) -> sql.Composed:
    # What a leaf-mode publication sends: the partitions themselves, whether
    # it names them, their parent, their schema or all tables; grouped by the
    # top of each partition tree (pgpart handles two levels: a partition and
    # its sub-partitions). pg_get_publication_tables, not the view of the
    # same name, which would also deparse every table's columns and filter.
    leaf = "NOT p.pubviaroot" if version >= 130000 else "true"
    return sql.SQL(
        "SELECT p.pubname::text,"
        " pg_catalog.array_agg(DISTINCT coalesce(up.inhparent, i.inhparent))"
        " FROM pg_catalog.pg_publication p"
        " CROSS JOIN LATERAL pg_catalog.pg_get_publication_tables(p.pubname::text) g"
        " JOIN pg_catalog.pg_inherits i ON i.inhrelid = g.relid"
        " LEFT JOIN pg_catalog.pg_inherits up ON up.inhrelid = i.inhparent"
        " WHERE {leaf} GROUP BY p.pubname ORDER BY 1"
    ).format(leaf=sql.SQL(leaf))


def _slots_sql() -> sql.Composed:
    return sql.SQL(
        "SELECT s.slot_name::text, s.plugin::text FROM pg_catalog.pg_replication_slots s"
        " WHERE {slots} AND {plugin} ORDER BY 1"
    ).format(slots=sql.SQL(_SLOTS_OF_THIS_DATABASE), plugin=sql.SQL(_NOT_PGOUTPUT))


def read_replication(conn: psycopg.Connection[Any], version: int) -> Replication:
    """What pgpart.core.replication judges; empty (one query) when this
    database neither subscribes nor publishes partitions nor decodes."""
    try:
        row = _read(conn, "pg_subscription", lambda: conn.execute(_any_sql(version)).fetchone())
    except _Unreadable as exc:
        return Replication(error=exc.reason)
    assert row is not None
    subscribes, publishes, decodes = row
    subs: tuple[Subscription, ...] = ()
    pubs: tuple[LeafPublication, ...] = ()
    slots: tuple[DecodingSlot, ...] = ()
    error = publisher_error = None
    try:
        if subscribes:
            subs = _read(conn, "pg_subscription_rel", lambda: _subscriptions(conn, version))
    except _Unreadable as exc:
        error = exc.reason
    try:
        if publishes:
            pubs = _read(conn, "pg_publication_tables", lambda: _publications(conn, version))
        if decodes:
            slots = _read(conn, "pg_replication_slots", lambda: _slots(conn))
    except _Unreadable as exc:
        publisher_error = exc.reason
    return Replication(subs, pubs, slots, error, publisher_error)


class _Unreadable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read(conn: psycopg.Connection[Any], what: str, read: Callable[[], T]) -> T:
    """``read()`` in a savepoint: a view the login role may not read (revoked
    on a locked-down server) leaves the snapshot's transaction usable."""
    import psycopg

    from pgpart.errors import primary_message

    try:
        with conn.transaction():
            return read()
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _Unreadable(f"cannot read {what}: {primary_message(exc)}") from None


def _subscriptions(conn: psycopg.Connection[Any], version: int) -> tuple[Subscription, ...]:
    return tuple(_subscription(row) for row in conn.execute(_subscriptions_sql(version)))


def _subscription(row: tuple[Any, ...]) -> Subscription:
    oid, name, owner, enabled, worker, relations, parents, usable, password, two_phase, errors = row
    return Subscription(
        oid=oid,
        name=name,
        owner=owner,
        enabled=bool(enabled),
        worker=bool(worker),
        relations=frozenset(relations),
        within=frozenset(relations) | frozenset(parents),
        owner_usable=bool(usable),
        password_required=bool(password),
        two_phase=bool(two_phase),
        apply_errors=errors,
    )


def _publications(conn: psycopg.Connection[Any], version: int) -> tuple[LeafPublication, ...]:
    rows = conn.execute(_publications_sql(version)).fetchall()
    return tuple(LeafPublication(name, frozenset(roots)) for name, roots in rows)


def _slots(conn: psycopg.Connection[Any]) -> tuple[DecodingSlot, ...]:
    rows = conn.execute(_slots_sql()).fetchall()
    return tuple(DecodingSlot(name, plugin) for name, plugin in rows)


def replication_roles(conn: psycopg.Connection[Any]) -> tuple[bool, bool]:
    """(subscribes, publishes): this database has a subscription; it has a
    publication or a logical slot (a consumer reads its changes). What a
    fleet run orders its members by (pgpart.cli.fleet_order)."""
    row = conn.execute(
        sql.SQL(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_subscription s WHERE s.subdbid = {db}),"
            " EXISTS (SELECT FROM pg_catalog.pg_publication)"
            " OR EXISTS (SELECT FROM pg_catalog.pg_replication_slots s WHERE {slots})"
        ).format(db=sql.SQL(_THIS_DATABASE), slots=sql.SQL(_SLOTS_OF_THIS_DATABASE))
    ).fetchone()
    assert row is not None
    return bool(row[0]), bool(row[1])
