"""Replication judged without a server: what a subscription misses and how
bad that is, when maintain refreshes it (or may not), what a publisher's
consumers need, and the order of a fleet run (pgpart.cli.fleet_order)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pgpart.cli.fleet_members import Member, Outcome
from pgpart.cli.fleet_order import Part, Role, part_of, run_ordered
from pgpart.config import Overrides, Settings, TablePolicy, load_settings
from pgpart.core.bounds import KeyKind, RangeBound
from pgpart.core.plan import AnalyzeTable, CreatePartition, Plan, RefreshSubscription, Status
from pgpart.core.planner import Mode, Request, Target, plan
from pgpart.core.replication_facts import (
    DecodingSlot,
    LeafPublication,
    Replication,
    Subscription,
)
from pgpart.core.snapshot import Login, Partition, PartitionedTable, Snapshot

NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)


def utc(y: int, m: int) -> datetime:
    return datetime(y, m, 1, tzinfo=timezone.utc)


def month(offset: int) -> Partition:
    """The partition ``offset`` months from November 2026; its oid is 100 + offset."""
    y, m = divmod(2026 * 12 + 10 + offset, 12)
    y2, m2 = divmod(2026 * 12 + 11 + offset, 12)
    bound = RangeBound(utc(y, m + 1), utc(y2, m2 + 1))
    return Partition("public", f"ev_{y}_{m + 1:02d}", bound, 0, None, owner="app", oid=100 + offset)


def events(offsets: range) -> PartitionedTable:
    return PartitionedTable(
        oid=1,
        schema="public",
        name="ev",
        owner="app",
        relkind="p",
        strategy="range",
        key_column="at",
        key_type="timestamp with time zone",
        key_kind=KeyKind.TIMESTAMPTZ,
        partitions=tuple(month(o) for o in offsets),
    )


def subscription(known: range, **changes: object) -> Subscription:
    """Knows the partitions at ``known`` offsets (leaf mode)."""
    oids = frozenset(100 + o for o in known)
    sub = Subscription(1, "sub", "app", True, True, oids, oids | {1})
    return replace(sub, **changes)  # type: ignore[arg-type]


SUPERUSER = Login("app", superuser=True)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    empty: Path = tmp_path_factory.mktemp("cfg")
    return load_settings(Overrides(), {}, empty)


@pytest.fixture(scope="module")
def policy(settings: Settings) -> TablePolicy:
    return settings.defaults


def planned(
    table: PartitionedTable,
    replication: Replication,
    policy: TablePolicy,
    mode: Mode = Mode.CHECK,
    login: Login = SUPERUSER,
) -> Plan:
    snapshot = Snapshot(170000, False, ("public",), (table,), login=login, replication=replication)
    return plan([Target("ev", table, policy)], snapshot, NOW, Request(mode))


def codes(p: Plan) -> dict[str, tuple[Status, str]]:
    return {pr.code: (pr.severity, pr.message) for pr in p.tables[0].problems}


def test_a_partition_the_subscription_does_not_know_is_reported(policy: TablePolicy) -> None:
    table = events(range(-3, 4))  # Aug .. Feb
    # Known: Aug..Oct. Nov covers now: critical, every unknown one is named.
    found = codes(planned(table, Replication((subscription(range(-3, 0)),)), policy))
    severity, message = found["subscription_missing_partition"]
    assert severity is Status.CRITICAL
    assert "public.ev_2026_11, public.ev_2026_12, public.ev_2027_01, public.ev_2027_02" in message
    assert "ALTER SUBSCRIPTION sub REFRESH PUBLICATION WITH (copy_data = true)" in message
    # Known through Dec: what lies ahead is a warning.
    found = codes(planned(table, Replication((subscription(range(-3, 2)),)), policy))
    assert found["subscription_missing_partition"][0] is Status.WARNING
    # Known from Oct on: Aug and Sep are history kept here, not missing.
    assert "subscription_missing_partition" not in codes(
        planned(table, Replication((subscription(range(-1, 4)),)), policy)
    )


def test_root_mode_and_other_tables_are_not_judged_by_partition(policy: TablePolicy) -> None:
    table = events(range(-1, 2))
    root = Subscription(1, "sub", "app", True, True, frozenset({1}), frozenset({1}))
    assert codes(planned(table, Replication((root,)), policy)) == {}
    other = Subscription(1, "sub", "app", True, True, frozenset({7}), frozenset({7}))
    assert codes(planned(table, Replication((other,)), policy)) == {}


def test_a_stopped_or_disabled_subscription(policy: TablePolicy) -> None:
    table = events(range(-1, 4))
    known = range(-1, 4)
    stopped = subscription(known, worker=False, apply_errors=3)
    severity, message = codes(planned(table, Replication((stopped,)), policy))[
        "subscription_stopped"
    ]
    assert severity is Status.CRITICAL and "(3 apply errors so far)" in message
    disabled = subscription(known, enabled=False)
    severity, message = codes(planned(table, Replication((disabled,)), policy))[
        "subscription_stopped"
    ]
    assert severity is Status.WARNING and "ALTER SUBSCRIPTION sub ENABLE" in message


def test_maintain_refreshes_after_its_creations(policy: TablePolicy) -> None:
    table = events(range(-1, 1))  # Oct, Nov: maintain makes Dec..Feb
    p = planned(table, Replication((subscription(range(-1, 1)),)), policy, Mode.MAINTAIN)
    actions = p.tables[0].actions
    assert [type(a) for a in actions] == [CreatePartition] * 3 + [RefreshSubscription, AnalyzeTable]
    refresh = actions[-2]
    assert isinstance(refresh, RefreshSubscription)
    assert (refresh.subscription, refresh.owner, refresh.copy_data) == ("sub", "app", True)
    assert refresh.partitions == tuple(
        ("public", n) for n in ("ev_2026_12", "ev_2027_01", "ev_2027_02")
    )
    assert not p.tables[0].blocked
    # Nothing made, nothing missing: nothing to refresh; disabled: never.
    full = events(range(-1, 4))
    known = Replication((subscription(range(-1, 4)),))
    assert planned(full, known, policy, Mode.MAINTAIN).tables[0].actions == ()
    off = Replication((subscription(range(-1, 1), enabled=False),))
    assert all(
        not isinstance(a, RefreshSubscription)
        for a in planned(table, off, policy, Mode.MAINTAIN).tables[0].actions
    )


@pytest.mark.parametrize(
    ("sub", "login", "why"),
    [
        (subscription(range(-1, 1), owner="repl"), Login("ops"), "GRANT repl TO ops"),
        (
            subscription(range(-1, 1), password_required=False),
            Login("app"),
            "password_required = false",
        ),
        (subscription(range(-1, 1), two_phase=True), Login("app", superuser=True), "two_phase"),
    ],
)
def test_a_refresh_pgpart_may_not_run_fails_the_run_saying_why(
    policy: TablePolicy, sub: Subscription, login: Login, why: str
) -> None:
    sub = replace(sub, owner_usable=sub.owner == login.name)
    p = planned(events(range(-1, 1)), Replication((sub,)), policy, Mode.MAINTAIN, login)
    t = p.tables[0]
    assert t.blocked and not any(isinstance(a, RefreshSubscription) for a in t.actions)
    assert len([a for a in t.actions if isinstance(a, CreatePartition)]) == 3
    (message,) = [pr.message for pr in t.problems if pr.code == "subscription_missing_partition"]
    assert why in message and "ev_2026_12" in message


def test_a_publisher_says_who_sees_partitions_by_name(policy: TablePolicy) -> None:
    table = events(range(-1, 2))
    leaf = Replication(
        publications=(LeafPublication("pub", frozenset({1})),),
        slots=(DecodingSlot("cdc", "test_decoding"),),
    )
    severity, message = codes(planned(table, leaf, policy))["leaf_publication"]
    assert severity is Status.INFO
    assert 'publication "pub" and slot "cdc" (test_decoding) see' in message
    assert "partitions exist through 2027-01-01 00:00+00:00 (1 ahead of the current one)" in message
    # maintain says so only for a partition that takes rows at once.
    ahead = planned(table, leaf, policy, Mode.MAINTAIN)
    assert "leaf_publication" not in codes(ahead)
    late = planned(events(range(-2, 0)), leaf, policy, Mode.MAINTAIN)
    severity, message = codes(late)["leaf_publication"]
    assert message.startswith("public.ev_2026_11 takes rows at once (it covers now)")
    other = Replication(publications=(LeafPublication("pub", frozenset({2})),))
    assert codes(planned(table, other, policy)) == {}


def test_an_unreadable_catalog_is_said(policy: TablePolicy) -> None:
    found = codes(planned(events(range(0, 2)), Replication(error="cannot read x: denied"), policy))
    assert found["subscription_missing_partition"][0] is Status.WARNING
    publisher = Replication(publisher_error="cannot read pg_publication_tables: denied")
    severity, message = codes(planned(events(range(0, 2)), publisher, policy))["leaf_publication"]
    assert severity is Status.INFO and message.endswith("pg_publication_tables: denied")


# --- the order of a fleet run -------------------------------------------------------


def test_part_of_a_plan_splits_creations_from_the_rest(policy: TablePolicy) -> None:
    whole = planned(
        events(range(-1, 1)), Replication((subscription(range(-1, 1)),)), policy, Mode.MAINTAIN
    )
    made = part_of(whole, Part.CREATION).actions
    rest = part_of(whole, Part.REST).actions
    assert all(isinstance(a, CreatePartition) for a in made) and len(made) == 3
    assert [type(a) for a in rest] == [RefreshSubscription, AnalyzeTable]
    assert part_of(whole, Part.ALL) == whole


@pytest.mark.parametrize(
    "order", [("pub", "sub", "relay", "plain"), ("plain", "relay", "sub", "pub")]
)
def test_subscribers_make_partitions_first_and_refresh_last(
    policy: TablePolicy, settings: Settings, order: tuple[str, ...]
) -> None:
    roles = {"pub": Role.OTHER, "sub": Role.SUBSCRIBER, "relay": Role.RELAY, "plain": Role.OTHER}
    whole = planned(
        events(range(-1, 1)), Replication((subscription(range(-1, 1)),)), policy, Mode.MAINTAIN
    )
    members = [Member(name, settings) for name in order]
    calls: list[list[tuple[str, str]]] = []

    def run(work, chosen):
        outcomes = [Outcome(m, work(m)) for m in chosen]
        calls.append([(m.name, stage) for m, stage in _stages])
        _stages.clear()
        return outcomes

    _stages: list[tuple[Member, str]] = []

    def apply_one(m: Member, p: Plan):
        kinds = {a.action for a in p.actions}
        _stages.append((m, "refresh" if "refresh_subscription" in kinds else "create"))
        return [], p

    out = run_ordered(members, run, lambda m: (whole, roles[m.name]), apply_one)
    assert [o.member.name for o in out] == list(order)
    applied = [sorted(stage) for stage in calls[1:]]  # calls[0]: planning
    assert applied == [
        [("sub", "create")],
        [("relay", "create")],
        sorted([("pub", "refresh"), ("plain", "refresh")]),  # others: their whole plan
        sorted([("sub", "refresh"), ("relay", "refresh")]),
    ]
    assert all(o.value == ([], whole) for o in out)


def test_a_member_that_failed_is_left_out_of_the_later_stages(
    policy: TablePolicy, settings: Settings
) -> None:
    whole = planned(events(range(-1, 1)), Replication(), policy, Mode.MAINTAIN)
    members = [Member("sub", settings), Member("pub", settings)]
    seen: list[str] = []

    def run(work, chosen):
        outcomes = []
        for m in chosen:
            try:
                outcomes.append(Outcome(m, work(m)))
            except RuntimeError as exc:
                outcomes.append(Outcome(m, None, str(exc), 2))
        return outcomes

    def apply_one(m: Member, p: Plan):
        seen.append(m.name)
        if m.name == "sub":
            raise RuntimeError("lost the connection")
        return [], p

    roles = {"sub": Role.SUBSCRIBER, "pub": Role.OTHER}
    out = run_ordered(members, run, lambda m: (whole, roles[m.name]), apply_one)
    assert seen == ["sub", "pub"]  # sub's refresh stage never ran
    assert (out[0].error, out[0].code) == ("lost the connection", 2)
    assert out[1].value == ([], whole)
