"""The pure half of faithful siblings: copied names, relocation, findings."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgpart.core.sibling_findings import drift, template_issues
from pgpart.core.siblings import (
    IndexCopy,
    MoveWatcher,
    ParentFacts,
    PublicationCopy,
    Relocation,
    SiblingTemplate,
    SubPartition,
    SubPartitioning,
    copied_name,
    copy_names,
    relocation_for,
)


def template(name: str = "events_2026_10", **changes: object) -> SiblingTemplate:
    base = SiblingTemplate(
        schema="public",
        name=name,
        owner="app",
        relkind="r",
        unlogged=False,
        reloptions=(),
        toast_reloptions=(),
        tablespace=None,
        replica_identity="d",
        rls=False,
        force_rls=False,
        acl=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def index(name: str, using: str = "USING btree (tenant)", **changes: object) -> IndexCopy:
    base = IndexCopy(name, False, using, None, False, False, False)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_copied_name_continues_the_siblings_pattern() -> None:
    assert copied_name("events_2026_10_tenant_idx", "events_2026_10", "events_2026_12", set()) == (
        "events_2026_12_tenant_idx"
    )
    # a name that does not start with the sibling's is prefixed by the new one
    assert copied_name("by_tenant", "events_2026_10", "events_2026_12", set()) == (
        "events_2026_12_by_tenant"
    )


@given(
    old=st.text(min_size=1, max_size=70),
    new=st.text(min_size=1, max_size=63),
    taken=st.sets(st.text(max_size=70), max_size=5),
)
def test_copied_name_fits_and_never_collides(old: str, new: str, taken: set[str]) -> None:
    name = copied_name(old, "sib", new, taken)
    assert len(name.encode()) <= 63
    assert name not in taken


def test_copied_name_avoids_taken_names_with_a_hash() -> None:
    taken = {"events_2026_12_tenant_idx"}
    name = copied_name("events_2026_10_tenant_idx", "events_2026_10", "events_2026_12", taken)
    assert name != "events_2026_12_tenant_idx" and name.startswith("events_2026_12_tenant_idx"[:40])


def test_copy_names_cover_indexes_constraints_and_children() -> None:
    t = template(
        indexes=(index("events_2026_10_t_idx"), index("events_2026_10_pkey", constraint=True)),
        subpartitioning=SubPartitioning(
            "HASH (id)",
            ("id",),
            (SubPartition("events_2026_10_h0", "FOR VALUES ...", False),),
            False,
        ),
    )
    taken: set[str] = set()
    names = dict(copy_names(t, "events_2026_12", taken))
    assert names == {
        "events_2026_10_t_idx": "events_2026_12_t_idx",
        "events_2026_10_h0": "events_2026_12_h0",
    }
    assert taken == set(names.values())


CASCADE = MoveWatcher("foreign key f of public.orders (ON DELETE CASCADE)", "O")


@pytest.mark.parametrize(
    ("watchers", "may_set", "expected"),
    [
        ((), False, Relocation.PLAIN),
        ((CASCADE,), True, Relocation.REPLICA_ROLE),
        ((CASCADE,), False, None),
        (
            (MoveWatcher("trigger audit on the DEFAULT partition", "O"),),
            True,
            Relocation.REPLICA_ROLE,
        ),
        ((MoveWatcher("trigger audit on the DEFAULT partition", "A"),), True, None),
        ((CASCADE, MoveWatcher("trigger r on the DEFAULT partition", "R")), True, None),
        ((MoveWatcher("trigger r on the DEFAULT partition", "R"),), False, Relocation.PLAIN),
    ],
)
def test_relocation_for(
    watchers: tuple[MoveWatcher, ...], may_set: bool, expected: Relocation | None
) -> None:
    relocation, why = relocation_for(ParentFacts(move_watchers=watchers), "pgpart", may_set, 150000)
    assert relocation is expected
    assert (why is None) == (expected is not None)


def test_relocation_refusal_names_the_watcher_and_the_grant() -> None:
    _, why = relocation_for(ParentFacts(move_watchers=(CASCADE,)), "Job Runner", False, 150000)
    assert why is not None
    assert "public.orders" in why
    assert 'GRANT SET ON PARAMETER session_replication_role TO "Job Runner"' in why
    _, old = relocation_for(ParentFacts(move_watchers=(CASCADE,)), "pgpart", False, 140000)
    assert old is not None and "superuser" in old


def test_template_issues() -> None:
    assert template_issues(None, "ts") == ()
    assert template_issues(template(), "ts") == ()
    by_time = template(subpartitioning=SubPartitioning("RANGE (ts)", ("ts",), (), False))
    (issue,) = template_issues(by_time, "ts")
    assert issue.blocks and "RANGE (ts)" in issue.message
    by_other = template(subpartitioning=SubPartitioning("RANGE (id)", ("id",), (), False))
    assert template_issues(by_other, "ts") == ()
    nested = template(subpartitioning=SubPartitioning("LIST (r)", ("r",), (), True))
    assert [i.blocks for i in template_issues(nested, "ts")] == [True]
    unpublishable = template(publications=(PublicationCopy("pub", "other", False),))
    (warn,) = template_issues(unpublishable, "ts")
    assert not warn.blocks and '"pub"' in warn.message


def test_drift_names_the_template_and_the_difference() -> None:
    newest = template("events_2026_11")
    older = template("events_2026_10", indexes=(index("events_2026_10_tenant_idx"),))
    line = drift(newest, [older])
    assert line is not None
    assert "events_2026_11" in line and "events_2026_10" in line
    assert "indexes (lacks USING btree (tenant)" in line
    # the same index under each partition's own name is no drift
    same = template("events_2026_11", indexes=(index("events_2026_11_tenant_idx"),))
    assert drift(same, [older]) is None
    # nor are privileges that differ only by the owner's own entry
    assert drift(template(acl=("app=arwdDxt/app",)), [template("x")]) is None
