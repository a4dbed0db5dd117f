"""The result table of create/maintain/drop (pure: no server)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pgpart.cli.output import Format, render_results
from pgpart.core.bounds import KeyKind
from pgpart.core.plan import (
    CreatePartition,
    Plan,
    Problem,
    ProblemCode,
    Status,
    StorageTemplate,
    TablePlan,
    TableRef,
)
from pgpart.db.results import ActionResult, Failure, FailureKind, Outcome

REF = TableRef(1, "public", "events", "ts", KeyKind.TIMESTAMPTZ, "app")
NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)


def _create(day: int) -> CreatePartition:
    lower = datetime(2026, 11, 22, tzinfo=timezone.utc) + timedelta(days=day)
    return CreatePartition(
        REF,
        f"events_{lower:%Y_%m_%d}",
        lower,
        lower + timedelta(days=1),
        None,
        None,
        False,
        StorageTemplate(),
    )


def _plan(*problems: Problem) -> Plan:
    table = TablePlan(
        "public.events", Status.CRITICAL, "daily", "inferred", 3, None, None, 0, problems=problems
    )
    return Plan(NOW, (table,))


def test_actions_not_attempted_after_a_failure_share_one_row() -> None:
    failed = ActionResult.failed(
        _create(0), Failure(FailureKind.LOCK, "lock timeout on public.events")
    )
    rest = [
        ActionResult.failed(
            _create(d),
            Failure(
                FailureKind.NOT_ATTEMPTED,
                "not attempted: an earlier create action on public.events failed",
            ),
        )
        for d in range(1, 110)
    ]
    out = render_results([failed, *rest], _plan(), Format.TABLE, quiet=False, dry_run=False)
    lines = [line for line in out.splitlines() if line.startswith("public.events")]
    assert len(lines) == 2, out
    assert lines[0].split()[1:3] == ["create", "events_2026_11_22"] and "failed" in lines[0]
    assert "create (109)" in lines[1] and "events_2026_11_23 .. events_2027_03_11" in lines[1]
    assert "not attempted" in lines[1]
    # each error once, below the table, and the closing summary counts them all
    assert out.count("lock timeout on public.events") == 1
    assert "created 0, dropped 0, rows moved 0, failed 110" in out


def test_quiet_prints_nothing_on_stdout_the_cli_says_it_once_on_stderr() -> None:
    failed = ActionResult.failed(
        _create(0), Failure(FailureKind.LOCK, "lock timeout on public.events")
    )
    assert render_results([failed], _plan(), Format.TABLE, quiet=True, dry_run=False) == ""


def test_after_a_run_the_summary_and_the_state_it_left_close_the_output() -> None:
    done = ActionResult(_create(0), Outcome.DONE, (), 1, 0.01, rows_moved=1234)
    problem = Problem(Status.CRITICAL, ProblemCode.MISSING_CURRENT, "nothing covers now")
    after = Plan(
        NOW, (TablePlan("public.events", Status.OK, "daily", "inferred", 4, None, None, 0),)
    )
    out = render_results(
        [done], _plan(problem), Format.TABLE, quiet=False, dry_run=False, after=after
    )
    # the problems found before the run are not repeated as if still true
    assert "missing_current" not in out and "found before" not in out
    assert out.rstrip().endswith("check now: OK (1 ok)"), out
    assert "created 1, dropped 0, rows moved 1,234, failed 0" in out


def test_tables_fit_80_columns_and_wide_prints_whole_lines() -> None:
    long = TableRef(
        1, "public", "livechat_messages_with_a_long_name", "ts", KeyKind.TIMESTAMPTZ, "app"
    )
    results = []
    for d in range(3):
        lower = datetime(2026, 11, 22, tzinfo=timezone.utc) + timedelta(days=d)
        action = CreatePartition(
            long,
            f"livechat_messages_with_a_long_name_{lower:%Y%m%d}",
            lower,
            lower + timedelta(days=1),
            None,
            None,
            False,
            StorageTemplate(),
        )
        results.append(
            ActionResult.failed(
                action,
                Failure(
                    FailureKind.LOCK,
                    'lock timeout on public.livechat_messages_with_a_long_name after 12 attempts over 30.0 s (waiting for ACCESS EXCLUSIVE; held by pid 4242 (AccessShareLock): "SELECT pg_sleep(600)")',
                ),
                attempts=12,
                seconds=30.0,
            )
        )
    plan = Plan(
        NOW,
        (
            TablePlan(
                "public.livechat_messages_with_a_long_name",
                Status.OK,
                "daily",
                "inferred",
                3,
                None,
                None,
                0,
            ),
        ),
    )
    out = render_results(results, plan, Format.TABLE, quiet=False, dry_run=False, width=80)
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "pg_sleep(600)" in out  # wrapped, not cut
    wide = render_results(results, plan, Format.TABLE, quiet=False, dry_run=False, width=None)
    assert any(len(line) > 80 for line in wide.splitlines())
    assert any("held by pid 4242 (AccessShareLock)" in line for line in wide.splitlines())
