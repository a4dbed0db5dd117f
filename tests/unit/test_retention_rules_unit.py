"""Retention's pure rules (docs/retention.md): its marks, what a leftover
may be, what keeps a partition from going, the order of tables linked by
foreign keys, and a gap retention left. No server."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from pgpart.core.bounds import KeyKind
from pgpart.core.durations import Duration
from pgpart.core.leftovers import bounds_from_checks, judge, legacy_parent, mark_agrees
from pgpart.core.marks import (
    Mark,
    MarkKind,
    Phase,
    RetentionMark,
    parse_mark,
    parse_retention_mark,
    retention_mark_text,
)
from pgpart.core.plan import DetachPartition, DropPartition, Status, TablePlan
from pgpart.core.retention_facts import Blocker, BlockerKind, ForeignKeyLink, RetentionFacts
from pgpart.core.retention_rules import Removal, blockers, fk_order
from pgpart.core.snapshot import Leftover
from tests.unit.test_planner_unit import monthly, plan_one, policy, table, utc

__all__ = ["policy"]  # the fixture, used by name

SINCE = datetime(2026, 11, 22, tzinfo=timezone.utc)


def mark(phase: Phase = Phase.DETACHED, oid: int = 7) -> RetentionMark:
    return RetentionMark(
        MarkKind.RETENTION, 1, "public.events", utc(2026, 1), utc(2026, 2), SINCE, oid, phase
    )


def test_a_retention_mark_reads_back_and_is_no_relocations() -> None:
    for m in (mark(), mark(Phase.DETACHING), replace(mark(), lower=None)):
        text = retention_mark_text(m, "public.events_2026_01")
        assert parse_retention_mark(text) == m
        assert parse_mark(text) is None  # a relocation never mistakes it for its own
    relocation = Mark(MarkKind.RELOCATING, 1, "public.events", utc(2026, 1), utc(2026, 2), SINCE)
    from pgpart.core.marks import mark_text

    assert parse_retention_mark(mark_text(relocation, "x")) is None
    assert parse_retention_mark("legal hold: keep 7y") is None


def leftover(m: RetentionMark | None, upper: datetime | None = None) -> Leftover:
    hi = upper if upper is not None else (m.upper if m else None)
    return Leftover("public", "events_2026_01", "app", "note", 7, m, utc(2026, 1), hi)


def test_only_a_claim_on_the_very_table_still_expired_may_go() -> None:
    cutoff = utc(2026, 5)
    assert judge(leftover(mark()), cutoff, "").go
    intent = judge(leftover(mark(Phase.DETACHING)), cutoff, "")
    assert not intent.go and "did not see the detach succeed" in intent.why
    copy = judge(leftover(mark(oid=8)), cutoff, "")
    assert not copy.go and "another table" in copy.why
    assert not judge(leftover(mark()), utc(2026, 1, 15), "").go  # the retention in force keeps it
    gone = judge(leftover(mark()), None, "the table has no retention now")
    assert not gone.go and gone.why == "the table has no retention now"
    unknown = judge(replace(leftover(None), upper=None), cutoff, "")
    assert not unknown.go and "cannot tell which range" in unknown.why
    assert "COMMENT ON TABLE" in unknown.fix  # an earlier pgpart's mark: its comment


def test_an_earlier_pgparts_bounds_come_from_the_check_detach_added() -> None:
    check = (
        "CHECK (((created_at IS NOT NULL) AND (created_at >= '2026-07-01 00:00:00+00'::timestamp"
        " with time zone) AND (created_at < '2026-08-01 00:00:00+00'::timestamp with time zone)))"
    )
    assert bounds_from_checks(["CHECK ((x > 0))", check], "created_at", KeyKind.TIMESTAMPTZ) == (
        utc(2026, 7),
        utc(2026, 8),
    )
    assert bounds_from_checks([check], "other", KeyKind.TIMESTAMPTZ) == (None, None)
    open_low = 'CHECK ((("Day" IS NOT NULL) AND ("Day" < \'2026-08-01\'::date)))'
    assert bounds_from_checks([open_low], "Day", KeyKind.DATE) == (None, datetime(2026, 8, 1))


def test_a_marks_range_must_be_its_constraints() -> None:
    def check(lo: str, hi: str, valid: bool = False) -> str:
        text = (
            f"CHECK (((ts IS NOT NULL) AND (ts >= '{lo} 00:00:00+00'::timestamp with time zone)"
            f" AND (ts < '{hi} 00:00:00+00'::timestamp with time zone)))"
        )
        return text if valid else text + " NOT VALID"

    july, aug = utc(2026, 7), utc(2026, 8)
    mine = check("2026-07-01", "2026-08-01")
    added = check("2026-07-01", "2026-08-01", valid=True)
    tz = KeyKind.TIMESTAMPTZ
    assert mark_agrees(july, aug, mine, [added], "ts", tz)
    assert mark_agrees(july, aug, mine, [], "ts", tz)  # a plain detach adds no CHECK
    assert not mark_agrees(utc(2025, 7), aug, mine, [added], "ts", tz)  # the text edited
    other = check("2026-06-01", "2026-07-01", valid=True)
    assert not mark_agrees(july, aug, mine, [other], "ts", tz)  # another table's range


def test_an_earlier_pgparts_mark_is_read_exactly() -> None:
    assert (
        legacy_parent("pgpart: detached from public.m (oid 42) for retention, to be dropped") == 42
    )
    archive = (
        "pgpart: detached from public.m (oid 42) for archive from - to 2026-08-01, to be dropped"
    )
    assert legacy_parent(archive) == 42
    assert legacy_parent("pgpart: detached from nowhere") is None
    assert legacy_parent("pgpart: detached from public.m (oid 42) for retention") is None


def test_what_stands_in_the_way_depends_on_how_the_partition_goes() -> None:
    parts = monthly(range(-6, -4))
    seq = Blocker(parts[0].oid, BlockerKind.SEQUENCE_USED, "owns s", "ALTER SEQUENCE s ...")
    view = Blocker(parts[1].oid, BlockerKind.DEPENDS, "view v depends on it", "drop v")
    t = table(*parts, retention=RetentionFacts(blockers=(seq, view)))
    assert blockers(t, parts[0], Removal.DETACH) == (seq,)
    assert blockers(t, parts[1], Removal.DETACH) == ()  # a view reads a detached table
    assert blockers(t, parts[1], Removal.DROP) == (view,)
    rule = Blocker(parts[1].oid, BlockerKind.RULE, "has the rule r", "DROP RULE r ON {partition}")
    t = table(*parts, retention=RetentionFacts(blockers=(rule,)))
    assert blockers(t, parts[1], Removal.DROP) == () and blockers(t, parts[1], Removal.ARCHIVE)


def test_a_kept_partition_blocks_nothing_and_foreign_ones_are_detached_last(policy) -> None:
    parts = monthly(range(-7, 1))  # April .. November 2026
    view = Blocker(parts[0].oid, BlockerKind.DEPENDS, "view v depends on it", "drop v")
    facts = RetentionFacts(foreign=frozenset({parts[1].oid}), blockers=(view,))
    t = table(*parts, retention=facts)
    got = plan_one(t, replace(policy, retention=Duration(months=3)))
    removed = [(type(a).__name__, a.partition) for a in got.actions if a.action != "create"]
    assert removed == [
        ("DropPartition", parts[2].name),
        ("DropPartition", parts[3].name),
        ("DetachPartition", parts[1].name),  # the foreign one, after the rest
    ]
    assert got.blocked
    [problem] = [p for p in got.problems if p.code == "cannot_drop"]
    assert parts[0].name in problem.message and "view v depends on it" in problem.message
    assert all(isinstance(a, (DropPartition, DetachPartition)) for a in got.actions[-3:])


def test_a_hole_before_the_retention_cutoff_is_no_gap_warning(policy) -> None:
    parts = monthly(range(-7, 4))
    hole = [p for i, p in enumerate(parts) if i not in (1, 2)]  # May, June gone
    got = plan_one(table(*hole), replace(policy, retention=Duration(months=3)))
    [gap] = [p for p in got.problems if p.code == "gap"]
    assert gap.severity is Status.INFO and "retention left it" in gap.message
    recent = [p for i, p in enumerate(parts) if i != 8]  # December missing: a real gap
    got = plan_one(table(*recent), replace(policy, retention=Duration(months=3)))
    [gap] = [p for p in got.problems if p.code == "gap"]
    assert gap.severity is Status.WARNING


def plan_of(oid: int) -> TablePlan:
    return TablePlan(f"t{oid}", Status.OK, None, None, 0, None, None, None, oid=oid)


def test_referencing_tables_come_first_otherwise_the_order_stays() -> None:
    a, b, c = (table(), replace(table(), oid=2), replace(table(), oid=3))
    # c's foreign key references a; nothing references b or c
    a = replace(a, retention=RetentionFacts(referenced_by=(ForeignKeyLink("fk", 3, "t3"),)))
    ordered = fk_order([plan_of(1), plan_of(2), plan_of(3)], {1: a, 2: b, 3: c})
    assert [t.oid for t in ordered] == [2, 3, 1]
    assert [t.oid for t in fk_order([plan_of(2), plan_of(1)], {1: b, 2: b})] == [2, 1]
