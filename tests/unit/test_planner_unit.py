"""The pure planner on hand-built snapshots: no server, whole action tuples
compared with ``==`` (plans are frozen values)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pgpart.config import Overrides, RetentionMode, TablePolicy, load_settings
from pgpart.core.bounds import KeyKind, RangeBound
from pgpart.core.durations import Duration
from pgpart.core.plan import (
    CreatePartition,
    DefaultPeriod,
    DefaultRows,
    DropLeftover,
    DropPartition,
    StorageTemplate,
    TableRef,
)
from pgpart.core.planner import Mode, Request, Target, plan
from pgpart.core.policy import Execution
from pgpart.core.relocation import DefaultFacts, Method, Relocating, Strategy, settle_estimate
from pgpart.core.siblings import (
    MoveWatcher,
    ParentFacts,
    Relocation,
    SiblingTemplate,
    SubPartitioning,
    Templates,
)
from pgpart.core.snapshot import Leftover, Login, Partition, PartitionedTable, Snapshot

NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)


def utc(y: int, m: int, d: int = 1) -> datetime:
    return datetime(y, m, d, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> TablePolicy:
    empty: Path = tmp_path_factory.mktemp("cfg")
    return load_settings(Overrides(), {}, empty).defaults


def part(name: str, lo: datetime, hi: datetime, owner: str = "app") -> Partition:
    return Partition("public", name, RangeBound(lo, hi), 0, None, owner=owner, oid=hash(name))


DEFAULT = Partition("public", "events_default", None, 0, None, owner="app", oid=99)


def table(*parts: Partition, **changes: object) -> PartitionedTable:
    base = PartitionedTable(
        oid=1,
        schema="public",
        name="events",
        owner="app",
        relkind="p",
        strategy="range",
        key_column="ts",
        key_type="timestamp with time zone",
        key_kind=KeyKind.TIMESTAMPTZ,
        partitions=parts,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def monthly(months: range, owner: str = "app") -> list[Partition]:
    out = []
    for off in months:
        y, m = divmod(2026 * 12 + 10 + off, 12)  # offset 0 = November 2026
        lo = utc(y, m + 1)
        y2, m2 = divmod(2026 * 12 + 11 + off, 12)
        out.append(part(f"events_{y}_{m + 1:02d}", lo, utc(y2, m2 + 1), owner))
    return out


def snapshot(t: PartitionedTable, login: Login | None = None) -> Snapshot:
    names = frozenset(p.name for p in t.partitions) | {t.name}
    return Snapshot(
        server_version=150000,
        in_recovery=False,
        search_path=("public",),
        tables=(t,),
        taken_names={"public": names},
        login=login or Login("app", False, False, frozenset({"app"})),
    )


def ref(t: PartitionedTable) -> TableRef:
    return TableRef(1, "public", "events", "ts", KeyKind.TIMESTAMPTZ, "app", (), t.facts)


def settling(rows: int = 0, *, stash: bool = True, tuples: int = 0) -> Relocating:
    """How a create on a table with a DEFAULT of ``tuples`` rows (and no size
    known) relocates ``rows``."""
    estimate = settle_estimate(rows, DefaultFacts(), stash=stash, tuples=tuples)
    return Relocating(Method.SETTLE, estimate, Strategy.AUTO, 0.5, stash=stash)


def make(
    t: PartitionedTable, name: str, lo: datetime, hi: datetime, **changes: object
) -> CreatePartition:
    default = t.default
    base = CreatePartition(
        table=ref(t),
        partition=name,
        lower=lo,
        upper=hi,
        default_partition=default.name if default else None,
        default_schema=default.schema if default else None,
        move_rows=False,
        storage=StorageTemplate(),
        template=t.templates.newest,
        schema=t.schema,
        relocating=settling() if default else None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def plan_one(
    t: PartitionedTable,
    policy: TablePolicy,
    mode: Mode = Mode.MAINTAIN,
    rows: DefaultRows | None = None,
    login: Login | None = None,
    **request: object,
):
    planned = plan(
        [Target(t.qualified, t, policy, rows)],
        snapshot(t, login),
        NOW,
        # The DDL only: the ANALYZE planned after it is tested in test_analyze.
        Request(mode, **{"analyze": False, **request}),  # type: ignore[arg-type]
    )
    (table_plan,) = planned.tables
    return table_plan


def test_maintain_creates_the_missing_months_in_order(policy: TablePolicy) -> None:
    t = table(*monthly(range(-2, 1)))
    got = plan_one(t, policy)
    assert got.actions == (
        make(t, "events_2026_12", utc(2026, 12), utc(2027, 1)),
        make(t, "events_2027_01", utc(2027, 1), utc(2027, 2)),
        make(t, "events_2027_02", utc(2027, 2), utc(2027, 3)),
    )
    assert not got.blocked and got.oid == 1
    assert got.execution == Execution(500, 300_000, 30.0, 100_000)
    # check plans the same table without actions
    assert plan_one(t, policy, Mode.CHECK).actions == ()


def test_new_partitions_copy_the_newest_sibling_with_their_own_names(
    policy: TablePolicy,
) -> None:
    from pgpart.core.siblings import IndexCopy

    newest = SiblingTemplate(
        "public", "events_2026_11", "app", "r", False, (), (), None, "d", True, False,
        ("app=arwdDxt/app", "reader=r/app"),
        indexes=(IndexCopy("events_2026_11_tenant_idx", False, "USING btree (t)", None,
                           False, False, False),),
    )  # fmt: skip
    t = table(*monthly(range(-1, 1)), templates=Templates(newest, ()))
    got = plan_one(t, policy)
    assert [a.copy_names for a in got.actions] == [
        (("events_2026_11_tenant_idx", "events_2026_12_tenant_idx"),),
        (("events_2026_11_tenant_idx", "events_2027_01_tenant_idx"),),
        (("events_2026_11_tenant_idx", "events_2027_02_tenant_idx"),),
    ]
    assert all(a.template is newest for a in got.actions)


FK = MoveWatcher("foreign key f of public.orders (ON DELETE CASCADE)", "O")


def test_rows_that_cannot_be_relocated_keep_their_month_uncreated(policy: TablePolicy) -> None:
    t = table(*monthly(range(-1, 1)), DEFAULT, facts=ParentFacts(move_watchers=(FK,)))
    rows = DefaultRows(5, True, (DefaultPeriod(utc(2027, 1), 5),))
    got = plan_one(t, policy, rows=rows)
    # no stash: rows arriving meanwhile would make ATTACH fail, never move
    unmoved = settling(stash=False, tuples=5)
    assert got.actions == (
        make(t, "events_2026_12", utc(2026, 12), utc(2027, 1), relocating=unmoved),
        make(t, "events_2027_02", utc(2027, 2), utc(2027, 3), relocating=unmoved),
    )
    assert got.blocked  # exit 2: a month was withheld
    assert [p.code for p in got.problems] == ["default_has_rows", "relocation_blocked"]
    # with the right to set session_replication_role, January moves its rows
    allowed = Login("app", False, True, frozenset({"app"}))
    moved = plan_one(t, policy, rows=rows, login=allowed)
    assert moved.actions[1] == make(
        t, "events_2027_01", utc(2027, 1), utc(2027, 2),
        move_rows=True, relocation=Relocation.REPLICA_ROLE, relocating=settling(5, tuples=5),
    )  # fmt: skip
    assert not moved.blocked


def test_retention_leaves_what_the_login_role_may_not_drop(policy: TablePolicy) -> None:
    parts = monthly(range(-6, 1))
    parts[0] = replace(parts[0], owner="archiver")
    t = table(*parts)
    keep = replace(policy, retention=Duration(months=3), retention_mode=RetentionMode.DROP)
    got = plan_one(t, keep)
    drops = [a for a in got.actions if isinstance(a, DropPartition)]
    assert [(d.partition, d.owner) for d in drops] == [
        ("events_2026_06", "app"),
        ("events_2026_07", "app"),
    ]
    assert got.blocked
    (problem,) = [p for p in got.problems if p.code == "cannot_drop"]
    assert "events_2026_05" in problem.message and "GRANT archiver TO app" in problem.message


LEGACY = "pgpart: detached from public.events (oid 1) for retention, to be dropped"


def test_a_leftover_is_reported_and_dropped(policy: TablePolicy) -> None:
    """Dropped only while still expired under the retention in force, and
    while its range is known."""
    jan = Leftover("public", "events_2026_01", "app", LEGACY, 7, None, utc(2026, 1), utc(2026, 2))
    t = table(*monthly(range(-1, 1)), leftovers=(jan,))
    keep = replace(policy, retention=Duration(months=6))
    got = plan_one(t, keep)
    assert (
        DropLeftover(
            ref(t), "events_2026_01", "public", "app", 7, LEGACY, utc(2026, 1), utc(2026, 2)
        )
        in got.actions
    )
    assert "detached_leftover" in [p.code for p in got.problems]
    # retention raised past its range: reported, left alone
    longer = plan_one(t, replace(keep, retention=Duration(months=12)))
    assert not [a for a in longer.actions if isinstance(a, DropLeftover)]
    (found,) = [p for p in longer.problems if p.code == "detached_leftover"]
    assert "the retention in force keeps its range" in found.message
    # a range pgpart cannot tell: reported, left alone
    unknown = table(*monthly(range(-1, 1)), leftovers=(replace(jan, lower=None, upper=None),))
    assert not [a for a in plan_one(unknown, keep).actions if isinstance(a, DropLeftover)]


def test_what_cannot_be_reproduced_creates_nothing(policy: TablePolicy) -> None:
    newest = SiblingTemplate(
        "public", "events_2026_11", "app", "p", False, (), (), None, "d", False, False, None,
        subpartitioning=SubPartitioning("RANGE (ts)", ("ts",), (), False),
    )  # fmt: skip
    t = table(*monthly(range(-1, 1)), templates=Templates(newest, ()))
    got = plan_one(t, policy)
    assert got.actions == () and got.blocked
    assert [p.code for p in got.problems] == ["cannot_reproduce"]
    covered = table(*monthly(range(-1, 4)), templates=Templates(newest, ()))
    # nothing to create: a warning for check, no failure
    assert not plan_one(covered, policy).blocked
