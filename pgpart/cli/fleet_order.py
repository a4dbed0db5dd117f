"""The order of create and maintain over a fleet whose members replicate to
each other (logical replication), so that no subscriber's apply worker stops
and no row is lost, whatever order the members are given in.

A subscriber must have a partition before its publisher makes it (else the
first row written there stops the subscriber's apply worker: the table, or a
partition to route the row into, does not exist), and its subscription is
refreshed after (pgpart.core.replication: else the partition's changes are
skipped). So every member is planned first, then applied in stages, each
stage ``--jobs`` members at a time:

1. members that subscribe (a subscription in their database) and publish
   nothing: their creations (and finished detaches);
2. members that subscribe and publish (a relay: one level of it);
3. every other member (publishers, and databases that do neither): all of
   their plan;
4. the subscribers of 1 and 2: the rest of their plan, i.e. the refresh of
   their subscriptions and their retention (which then follows the
   publisher's: a subscriber never drops a partition its publisher may still
   send changes of).

A member's role is read from its own catalog (pgpart.db.replication):
nothing to configure. With no subscriber in the fleet, stage 3 is the whole
run. Dry runs are not ordered (nothing happens).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pgpart.core.plan import Action, CreatePartition, FinalizeDetach, Plan
from pgpart.core.record import record
from pgpart.core.request import Mode

if TYPE_CHECKING:
    import psycopg

    from pgpart.cli.fleet_members import Member, Outcome
    from pgpart.db.results import ActionResult

T = TypeVar("T")
Written = tuple[list["ActionResult"], Plan]
ORDERED_MODES = (Mode.CREATE, Mode.MAINTAIN)  # the commands that make partitions


class Role(str, Enum):
    SUBSCRIBER = "subscriber"  # subscribes, publishes nothing
    RELAY = "relay"  # subscribes and publishes
    OTHER = "other"  # a publisher, or neither

    @classmethod
    def of(cls, subscribes: bool, publishes: bool) -> Role:
        if not subscribes:
            return cls.OTHER
        return cls.RELAY if publishes else cls.SUBSCRIBER


def role_of(conn: psycopg.Connection[Any]) -> Role:
    from pgpart.db.replication import replication_roles

    return Role.of(*replication_roles(conn))


class Part(str, Enum):
    CREATION = "creation"  # creations and finished detaches
    ALL = "all"
    REST = "rest"  # all but CREATION: refreshes and retention


@record
class Stage:
    roles: tuple[Role, ...]
    part: Part


STAGES = (
    Stage((Role.SUBSCRIBER,), Part.CREATION),
    Stage((Role.RELAY,), Part.CREATION),
    Stage((Role.OTHER,), Part.ALL),
    Stage((Role.SUBSCRIBER, Role.RELAY), Part.REST),
)


def part_of(planned: Plan, part: Part) -> Plan:
    """``planned`` with only the actions of ``part`` (the findings all kept)."""
    if part is Part.ALL:
        return planned
    creation = part is Part.CREATION
    tables = tuple(
        replace(t, actions=tuple(a for a in t.actions if _creation(a) is creation))
        for t in planned.tables
    )
    return replace(planned, tables=tables)


def _creation(action: Action) -> bool:
    return isinstance(action, (CreatePartition, FinalizeDetach))


class Runner(Protocol):
    """Runs work on members, --jobs at a time (Fleet.run_members)."""

    def __call__(self, work: Callable[[Member], T], members: Sequence[Member]) -> list[Outcome[T]]:
        raise NotImplementedError


def run_ordered(
    members: Sequence[Member],
    run: Runner,
    plan_one: Callable[[Member], tuple[Plan, Role]],
    apply_one: Callable[[Member, Plan], Written],
) -> list[Outcome[Written]]:
    """Plan every member, then apply in STAGES; outcomes in member order, each
    with its results of every stage and its whole plan."""
    from pgpart.cli.fleet_members import Outcome

    planned = {o.member.name: o for o in run(plan_one, members)}
    roles: Mapping[str, Role] = {
        name: o.value[1] for name, o in planned.items() if o.value is not None
    }
    results: dict[str, list[ActionResult]] = {name: [] for name in roles}
    failed: dict[str, Outcome[Written]] = {
        name: Outcome(o.member, None, o.error, o.code)
        for name, o in planned.items()
        if o.value is None
    }
    for stage in STAGES:
        chosen = [m for m in members if roles.get(m.name) in stage.roles and m.name not in failed]
        if not chosen:
            continue
        for o in run(_applying(planned, apply_one, stage.part), chosen):
            if o.value is None:
                failed[o.member.name] = Outcome(o.member, None, o.error, o.code)
            else:
                results[o.member.name] += o.value[0]
    return _merged(members, planned, results, failed)


def _applying(
    planned: Mapping[str, Outcome[tuple[Plan, Role]]],
    apply_one: Callable[[Member, Plan], Written],
    part: Part,
) -> Callable[[Member], Written]:
    def work(m: Member) -> Written:
        whole = planned[m.name].value
        assert whole is not None
        return apply_one(m, part_of(whole[0], part))

    return work


def _merged(
    members: Sequence[Member],
    planned: Mapping[str, Outcome[tuple[Plan, Role]]],
    results: Mapping[str, list[ActionResult]],
    failed: Mapping[str, Outcome[Written]],
) -> list[Outcome[Written]]:
    """Each member's outcome: its results of every stage and its whole plan."""
    from pgpart.cli.fleet_members import Outcome

    out: list[Outcome[Written]] = []
    for m in members:
        if m.name in failed:
            out.append(failed[m.name])
            continue
        whole = planned[m.name].value
        assert whole is not None
        out.append(Outcome(m, (results[m.name], whole[0])))
    return out
