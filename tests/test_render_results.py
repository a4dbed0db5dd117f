"""The result table of create/maintain/drop (pure: no server)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pgpart.cli.output import Format, render_results
from pgpart.core.bounds import KeyKind
from pgpart.core.plan import (
    CreatePartition,
    Plan,
    Problem,
    Status,
    StorageTemplate,
    TablePlan,
    TableRef,
)
from pgpart.db.executor import ActionResult

REF = TableRef(1, "public", "events", "ts", KeyKind.TIMESTAMPTZ, "app")
NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)


def _create(day: int) -> CreatePartition:
    lower = datetime(2026, 11, 22, tzinfo=timezone.utc) + timedelta(days=day)
    return CreatePartition(
        REF, f"events_{lower:%Y_%m_%d}", lower, lower + timedelta(days=1), None, None, False,
        StorageTemplate(),
    )


def _plan(*problems: Problem) -> Plan:
    table = TablePlan("public.events", Status.CRITICAL, "daily", "inferred", 3, None, None, 0,
                      problems=problems)
    return Plan(NOW, (table,))


def test_actions_not_attempted_after_a_failure_share_one_row() -> None:
    failed = ActionResult(_create(0), False, False, "lock timeout on public.events", (), 5, 1.0)
    rest = [
        ActionResult(_create(d), False, False,
                     "not attempted: an earlier create action on public.events failed", (), 0, 0.0)
        for d in range(1, 110)
    ]
    out = render_results([failed, *rest], _plan(), Format.TABLE, quiet=True, dry_run=False)
    lines = [line for line in out.splitlines() if "public.events" in line]
    assert len(lines) == 2, out
    assert "lock timeout on public.events" in lines[0]
    assert "109 actions" in lines[1] and "events_2026_11_23 .. events_2027_03_11" in lines[1]


def test_problems_after_a_run_are_labelled_as_found_before_it() -> None:
    done = ActionResult(_create(0), True, False, None, (), 1, 0.01)
    problem = Problem(Status.CRITICAL, "missing_current", "nothing covers now")
    out = render_results([done], _plan(problem), Format.TABLE, quiet=False, dry_run=False)
    assert out.index("done") < out.index("found before this run:") < out.index("missing_current")
