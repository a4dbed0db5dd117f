"""Logical replication, judged per table: what a subscriber misses, what a
publisher's consumers need, and when a subscriber's subscription is refreshed.

Subscriber side. A subscription knows the tables it applies changes to
(pg_subscription_rel). With a publication that publishes partitions one by
one (leaf mode, publish_via_partition_root = false) each partition is such a
table: a partition made after the last ALTER SUBSCRIPTION ... REFRESH
PUBLICATION is unknown to it, and PostgreSQL silently skips the changes the
publisher sends for it (rows lost here). A partition whose siblings the
subscription knows but which it does not know itself is therefore reported
(``subscription_missing_partition``): critical when it covers now or the
past (rows are being lost), a warning when it lies ahead (nothing is written
there yet, but rows will be skipped unless the subscription is refreshed
after the publisher made its partition). Partitions older than every
partition the subscription knows are history kept here (the publisher may
have dropped its own) and are left alone. A subscription whose apply worker
is not running (``subscription_stopped``) applies nothing at all.

The refresh pgpart runs copies data (copy_data = true), the only choice that
loses nothing when the partitions it brings in are empty here, which pgpart's
own new partitions are: rows the publisher wrote before the refresh were
either skipped here (copy_data = false would lose them for good) or are still
waiting behind an apply worker stopped on the missing table (PostgreSQL does
not apply them twice: a table being copied takes changes only from past the
copy's own snapshot on). A partition here that already holds rows is refused
at run time (pgpart.db.ddl.subscription): copying would duplicate them.

Publisher side (``leaf_publication``, information): in leaf mode every
consumer sees a new partition under its own name, from its first row on, so
a subscriber must have it first; how far ahead partitions exist is what
protects them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pgpart.core.coverage import segment_at, segments
from pgpart.core.framing import live_partitions
from pgpart.core.identifiers import display_name, display_part
from pgpart.core.moments import describe_moment
from pgpart.core.plan import (
    Action,
    CreatePartition,
    FinalizeDetach,
    Problem,
    ProblemCode,
    RefreshSubscription,
    Status,
    TablePlan,
    TableRef,
)
from pgpart.core.record import record
from pgpart.core.replication_facts import Subscription
from pgpart.core.snapshot import Partition, PartitionedTable, Snapshot
from pgpart.core.table_frame import TableFrame

_SHOWN = 4  # partitions named in one message


@record
class Coverage:
    """How one subscription covers one table."""

    subscription: Subscription
    leaf: bool  # partition by partition (else the table itself: root mode)
    missing: tuple[Partition, ...] = ()  # leaf mode: partitions it does not know


def coverage(table: PartitionedTable, sub: Subscription) -> Coverage | None:
    """None when the subscription applies nothing to the table."""
    if table.oid in sub.relations:
        return Coverage(sub, leaf=False)
    known = [p for p in table.partitions if p.oid in sub.within]
    if not known:
        return None
    lowers = [p.lower for p in known if p.bound is not None]
    if not lowers:
        return Coverage(sub, leaf=True)  # only its DEFAULT: no span to judge by
    start = None if None in lowers else min(x for x in lowers if x is not None)
    missing = tuple(
        p
        for p in live_partitions(table)
        if p.oid not in sub.within and (start is None or p.upper is None or p.upper > start)
    )
    return Coverage(sub, leaf=True, missing=missing)


def refresh_sql(sub: Subscription) -> str:
    name = display_part(sub.name)
    return f"ALTER SUBSCRIPTION {name} REFRESH PUBLICATION WITH (copy_data = true)"


def why_no_refresh(sub: Subscription, snapshot: Snapshot) -> str | None:
    """Why pgpart may not refresh the subscription; None when it may."""
    login = snapshot.login
    if sub.two_phase:
        return (
            "two_phase is enabled on it, and PostgreSQL refuses REFRESH with copy_data then"
            " (copy_data = false would lose the rows already written there)"
        )
    if login.superuser:
        return None
    if not sub.password_required:
        return "it has password_required = false, which only a superuser may alter"
    if not sub.owner_usable:
        return (
            f"only its owner may alter it: GRANT {display_part(sub.owner)}"
            f" TO {display_part(login.name or 'pgpart')}"
        )
    return None


def table_problems(frame: TableFrame, snapshot: Snapshot, *, check: bool) -> list[Problem]:
    """What check (``check``) or a writing command reports about replication
    for one table: a writing command's own note is ``creation_notes``."""
    if not snapshot.replication.present:
        return []
    found = subscriber_problems(frame, snapshot)
    return found + publisher_problems(frame, snapshot) if check else found


def subscriber_problems(frame: TableFrame, snapshot: Snapshot) -> list[Problem]:
    """subscription_stopped and subscription_missing_partition of one table."""
    table, replication = frame.table, snapshot.replication
    if replication.error is not None:
        return [_unreadable(replication.error)]
    problems: list[Problem] = []
    for sub in replication.subscriptions:
        cover = coverage(table, sub)
        if cover is None:
            continue
        stopped = _stopped(sub, table)
        problems += [stopped] if stopped else []
        if cover.missing:
            problems.append(_missing(frame, cover, snapshot))
    return problems


def _unreadable(error: str) -> Problem:
    return Problem(
        Status.WARNING,
        ProblemCode.SUBSCRIPTION_MISSING_PARTITION,
        f"cannot tell whether this database's subscriptions know every partition: {error}",
    )


def _stopped(sub: Subscription, table: PartitionedTable) -> Problem | None:
    name = display_part(sub.name)
    if not sub.enabled:
        return Problem(
            Status.WARNING,
            ProblemCode.SUBSCRIPTION_STOPPED,
            f'subscription "{sub.name}" is disabled: no change reaches {table.qualified}'
            f" (its publisher keeps the WAL meanwhile); ALTER SUBSCRIPTION {name} ENABLE",
        )
    if sub.worker:
        return None
    errors = f" ({sub.apply_errors} apply errors so far)" if sub.apply_errors else ""
    return Problem(
        Status.CRITICAL,
        ProblemCode.SUBSCRIPTION_STOPPED,
        f'subscription "{sub.name}" is enabled but its apply worker is not running{errors}:'
        f" no change reaches {table.qualified} and its publisher keeps the WAL; the server"
        " log says why (a partition missing here stops it with `logical replication target"
        " relation ... does not exist`: pgpart maintain creates it)",
    )


def _missing(frame: TableFrame, cover: Coverage, snapshot: Snapshot) -> Problem:
    sub, parts = cover.subscription, cover.missing
    names = ", ".join(p.qualified for p in parts[:_SHOWN])
    if len(parts) > _SHOWN:
        names += f" and {len(parts) - _SHOWN} more"
    live = [p for p in parts if p.lower is None or p.lower <= frame.now]
    if live:
        at = describe_moment(frame.now, frame.tz)
        why = f"{live[0].qualified} covers now ({at}) or the past: rows written there are lost"
    else:
        why = "nothing is written there yet: rows will be lost once they are"
    fix = refresh_sql(sub)
    if not sub.enabled:
        fix = f"ALTER SUBSCRIPTION {display_part(sub.name)} ENABLE, then {fix}"
    refused = why_no_refresh(sub, snapshot)
    tail = f"; pgpart cannot run it: {refused}" if refused else " (pgpart maintain runs it)"
    return Problem(
        Status.CRITICAL if live else Status.WARNING,
        ProblemCode.SUBSCRIPTION_MISSING_PARTITION,
        f'subscription "{sub.name}" does not know {names} of {frame.table.qualified}:'
        f" PostgreSQL skips the changes its publisher sends for them ({why});"
        f" {fix} copies the publisher's rows of them (empty here, as new ones are){tail}",
    )


# --- publisher side ----------------------------------------------------------------


def _consumers(table: PartitionedTable, snapshot: Snapshot) -> tuple[str, int]:
    """Who sees this table's partitions under their own names, and how many."""
    r = snapshot.replication
    names = [f'publication "{p.name}"' for p in r.publications if table.oid in p.roots]
    names += [f'slot "{s.name}" ({s.plugin})' for s in r.slots]
    if len(names) < 2:
        return "".join(names), len(names)
    return f"{', '.join(names[:-1])} and {names[-1]}", len(names)


def publisher_problems(frame: TableFrame, snapshot: Snapshot) -> list[Problem]:
    """leaf_publication (check): who needs new partitions first, and how far
    ahead they exist."""
    error = snapshot.replication.publisher_error
    if error is not None:
        why = f"cannot tell who sees partitions under their own names: {error}"
        return [Problem(Status.INFO, ProblemCode.LEAF_PUBLICATION, why)]
    who, count = _consumers(frame.table, snapshot)
    if not count:
        return []
    live = live_partitions(frame.table)
    current = segment_at(segments(live), frame.now)
    if current is None:
        reach = "no partition covers now"
    else:
        ahead = sum(1 for p in live if p.lower is not None and p.lower > frame.now)
        until = "the end of time" if current[1] is None else describe_moment(current[1], frame.tz)
        reach = f"partitions exist through {until} ({ahead} ahead of the current one)"
    return [
        Problem(
            Status.INFO,
            ProblemCode.LEAF_PUBLICATION,
            f"{who} {'sees' if count == 1 else 'see'} each partition under its own name:"
            " a subscriber needs a new partition, and a refreshed subscription, before its"
            f" first row is written here; {reach}",
        )
    ]


def creation_notes(
    frame: TableFrame, actions: Sequence[Action], snapshot: Snapshot
) -> list[Problem]:
    """leaf_publication (create, maintain): partitions this run makes that take
    rows at once, which subscribers must have first."""
    who, count = _consumers(frame.table, snapshot)
    now = frame.now
    hot = [a for a in actions if isinstance(a, CreatePartition) and (a.move_rows or a.lower <= now)]
    if not count or not hot:
        return []
    one = len(hot) == 1
    names = ", ".join(display_name(a.table.schema, a.partition) for a in hot[:_SHOWN])
    if any(a.move_rows for a in hot):
        why = "rows move in from DEFAULT"
    elif any(a.lower <= now < a.upper for a in hot):
        why = "it covers now" if one else "they cover now or the past"
    else:
        why = "it covers the past" if one else "they cover the past"
    it = "it" if one else "them"
    return [
        Problem(
            Status.INFO,
            ProblemCode.LEAF_PUBLICATION,
            f"{names} {'takes' if one else 'take'} rows at once ({why}), and {who}"
            f" {'sends' if count == 1 else 'send'} them under the partition's own name: every"
            f" subscriber needs {it} first (run pgpart there before here; one fleet run does),"
            " else its apply worker stops on a table that does not exist",
        )
    ]


# --- refreshing subscriptions --------------------------------------------------------


def with_refreshes(tables: Sequence[TablePlan], snapshot: Snapshot) -> tuple[TablePlan, ...]:
    """``tables`` with one RefreshSubscription per subscription that has
    partitions to bring in (unknown to it, or made by this run), after the
    creations of the last table it covers; or, where pgpart may not refresh
    it, the table failed with the reason."""
    out = list(tables)
    for sub in snapshot.replication.subscriptions:
        if not sub.enabled:
            continue  # subscription_stopped says so; REFRESH needs it enabled
        covered: list[int] = []  # indexes into out
        missing: list[tuple[str, str]] = []
        made: list[tuple[str, str]] = []
        for i, plan in enumerate(out):
            table = snapshot.find(plan.oid) if plan.oid is not None else None
            cover = coverage(table, sub) if table is not None else None
            if table is None or cover is None or not cover.leaf:
                continue
            covered.append(i)
            missing += [(p.schema, p.name) for p in cover.missing]
            made += [
                (table.schema, a.partition) for a in plan.actions if isinstance(a, CreatePartition)
            ]
        if missing or made:
            last = covered[-1]
            out[last] = _refreshed(out[last], snapshot, sub, missing, made)
    return tuple(out)


def _refreshed(
    plan: TablePlan,
    snapshot: Snapshot,
    sub: Subscription,
    missing: list[tuple[str, str]],
    made: list[tuple[str, str]],
) -> TablePlan:
    refused = why_no_refresh(sub, snapshot)
    if refused is not None:
        # Needed and not done: the run fails. Partitions already missing say
        # why (subscriber_problems); those this run makes are said here.
        problems = plan.problems
        if made:
            names = ", ".join(display_name(s, n) for s, n in made[:_SHOWN])
            problems += (
                Problem(
                    Status.WARNING,
                    ProblemCode.SUBSCRIPTION_MISSING_PARTITION,
                    f'subscription "{sub.name}" must be refreshed to apply the changes of'
                    f" {names} ({refresh_sql(sub)}), and pgpart cannot: {refused}",
                ),
            )
        return replace(plan, problems=problems, blocked=True)
    table = snapshot.find(plan.oid) if plan.oid is not None else None
    assert table is not None and table.key_column is not None and table.key_kind is not None
    ref = TableRef(
        oid=table.oid,
        schema=table.schema,
        name=table.name,
        key_column=table.key_column,
        key_kind=table.key_kind,
        owner=table.owner,
    )
    parts = tuple(dict.fromkeys([*missing, *made]))
    refresh = RefreshSubscription(ref, sub.name, sub.owner, parts)
    after = (CreatePartition, FinalizeDetach)
    at = max((i + 1 for i, a in enumerate(plan.actions) if isinstance(a, after)), default=0)
    return replace(plan, actions=(*plan.actions[:at], refresh, *plan.actions[at:]))
