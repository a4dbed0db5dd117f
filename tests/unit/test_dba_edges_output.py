"""Issue 22, the pure half: where new partitions go, row security on the
DEFAULT partition, and how the results read (names kept whole when the
table can fit them, each problem once, ranges in order, counts in words)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from pgpart.cli.output import Format, render_results
from pgpart.cli.output.common import tabulate
from pgpart.core.bounds import KeyKind
from pgpart.core.findings import default_problems, hidden_default_rows
from pgpart.core.placement import cannot_create, new_partition_schema
from pgpart.core.plan import (
    CreatePartition,
    DefaultPeriod,
    DefaultRows,
    Plan,
    Problem,
    ProblemCode,
    Status,
    StorageTemplate,
    TablePlan,
    TableRef,
)
from pgpart.core.siblings import DefaultRowSecurity, ParentFacts, Templates
from pgpart.db.results import ActionResult, Outcome
from tests.unit.test_planner_parts_unit import frame
from tests.unit.test_planner_unit import DEFAULT, monthly, table, utc
from tests.unit.test_sibling_unit import template

NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
REF = TableRef(1, "public", "messages", "created_at", KeyKind.TIMESTAMPTZ, "app")


# -- where new partitions go (row 6) ---------------------------------------------------


def test_new_partitions_go_to_the_newest_partitions_schema() -> None:
    parts = monthly(range(-2, 1))
    moved = [*parts[:-1], replace(parts[-1], schema="archive")]
    assert new_partition_schema(table(*parts)) == "public"
    assert new_partition_schema(table(*moved, DEFAULT)) == "archive"
    assert new_partition_schema(table()) == "public"  # no partition: the parent's


def test_cannot_create_names_the_schema_and_the_grant() -> None:
    parts = monthly(range(-2, 1))
    newest = template(parts[-1].name, owner_may_create=False)
    denied = cannot_create(table(*parts, templates=Templates(newest)))
    assert denied is not None and denied.code is ProblemCode.CANNOT_CREATE
    assert "GRANT CREATE ON SCHEMA public TO app" in denied.message
    assert cannot_create(table(*parts, templates=Templates(template(parts[-1].name)))) is None
    empty = table(facts=ParentFacts(owner_may_create=False))
    assert empty.partitions == () and cannot_create(empty) is not None


# -- row security on the DEFAULT partition (row 12) -----------------------------------


def _secured(**changes: object) -> ParentFacts:
    base = DefaultRowSecurity(enabled=True)
    return ParentFacts(default_security=replace(base, **changes))  # type: ignore[arg-type]


def test_forced_row_security_on_default_hides_rows_from_the_owner() -> None:
    facts = _secured(forced=True, owner_bypasses=False)
    rows = DefaultRows(3, True, (DefaultPeriod(utc(2026, 12), 3),))
    (problem,) = hidden_default_rows(table(DEFAULT, facts=facts), rows)
    assert problem.code is ProblemCode.RELOCATION_BLOCKED
    assert "public.events_default" in problem.message
    assert "ALTER TABLE public.events_default NO FORCE ROW LEVEL SECURITY" in problem.message
    # an empty DEFAULT, seen by a login that sees every row: nothing to move
    assert hidden_default_rows(table(DEFAULT, facts=facts), DefaultRows(0, True, ())) == []
    # an owner with BYPASSRLS is not hidden anything
    assert hidden_default_rows(table(DEFAULT, facts=_secured(forced=True)), rows) == []


def test_row_security_hiding_rows_from_the_login_says_the_count_may_be_short() -> None:
    facts = _secured(login_bypasses=False, login_owns=False)
    empty = DefaultRows(0, True, ())
    (problem,) = hidden_default_rows(table(DEFAULT, facts=facts), empty)
    assert problem.code is ProblemCode.DEFAULT_HAS_ROWS and "BYPASSRLS" in problem.message
    both = _secured(forced=True, login_bypasses=False, owner_bypasses=False)
    assert [p.code for p in hidden_default_rows(table(DEFAULT, facts=both), empty)] == [
        ProblemCode.DEFAULT_HAS_ROWS,
        ProblemCode.RELOCATION_BLOCKED,
    ]
    assert hidden_default_rows(table(DEFAULT, facts=_secured()), empty) == []


def test_one_row_is_one_row() -> None:
    f = frame(table(*monthly(range(-1, 1)), DEFAULT))
    (problem,) = default_problems(f, DefaultRows(1, True, (DefaultPeriod(utc(2026, 11), 1),)), 3)
    assert "holds 1 row:" in problem.message


# -- results ----------------------------------------------------------------------------


def _create(name: str, lower: datetime, upper: datetime) -> CreatePartition:
    return CreatePartition(REF, name, lower, upper, None, None, False, StorageTemplate())


def test_names_break_between_words_not_inside_an_identifier() -> None:
    rows = [
        [
            "public.messages_2026_11",
            "create (3)",
            "messages_2026_11_2026_12_01 .. messages_2026_11_2026_12_31",
            "2026-12-01 .. 2027-01-15",
            "done",
        ]
    ]
    headers = ["table", "action", "partitions", "range", "result"]
    text = tabulate(rows, headers, 80, (2, 3), split_words=False)
    assert "messages_2026_11_2026_12_01 .." in text and "messages_2026_11_2026_12_31" in text
    # where a name cannot fit whole, it breaks after a "_" (never mid-component)
    narrow = tabulate(rows, headers, 75, (2, 3))
    assert max(len(line) for line in narrow.splitlines()) <= 75
    head = narrow.splitlines()[0]
    start, end = head.index("partitions"), head.index("range")
    pieces = [line[start:end].strip() for line in narrow.splitlines()[2:]]
    assert pieces == ["messages_2026_", "11_2026_12_01", "..", "messages_2026_", "11_2026_12_31"]


def test_an_interrupted_create_shows_its_ranges_in_order() -> None:
    """The current period is created first: done were November, then August."""
    nov = _create("messages_2026_11", utc(2026, 11), utc(2026, 12))
    aug = _create("messages_2026_08", utc(2026, 8), utc(2026, 9))
    done = [ActionResult(a, Outcome.DONE, (), 1, 0.01) for a in (nov, aug)]
    plan = Plan(
        NOW, (TablePlan("public.messages", Status.OK, "monthly", "inferred", 1, None, None, 0),)
    )
    out = render_results(done, plan, Format.TABLE, quiet=False, dry_run=False, interrupted=True)
    rows = [line for line in out.splitlines() if line.startswith("public.messages")]
    assert len(rows) == 2, out
    assert "messages_2026_11" in rows[0] and "2026-11-01 .. 2026-12-01" in rows[0]
    assert "messages_2026_08" in rows[1] and "2026-08-01 .. 2026-09-01" in rows[1]
    assert "2026_11 .. messages_2026_08" not in out


def test_a_blocked_tables_problem_is_shown_once() -> None:
    problem = Problem(Status.WARNING, ProblemCode.CANNOT_CREATE, "role app may not create")
    blocked = TablePlan(
        "public.messages", Status.WARNING, "monthly", "inferred", 2, None, None, 0,
        problems=(problem,), blocked=True,
    )  # fmt: skip
    after = Plan(NOW, (replace(blocked, blocked=False),))
    out = render_results(
        [], Plan(NOW, (blocked,)), Format.TABLE, quiet=False, dry_run=False, after=after
    )
    assert out.count("role app may not create") == 1, out
    assert "check now: WARNING (1 warning; 1 problem shown above)" in out
