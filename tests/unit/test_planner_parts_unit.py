"""The planner's parts on hand-built tables, no server: findings (coverage,
DEFAULT rows, hygiene, tables pgpart cannot work on), what retention finds
expired, drop's removals, and create's window. Whole problem lists and
action tuples are compared (they are frozen values)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pgpart.config import Overrides, TablePolicy, load_settings
from pgpart.core import calendar as cal
from pgpart.core.bounds import KeyKind
from pgpart.core.coverage import covered, overlaps, segment_at, segments
from pgpart.core.durations import Duration
from pgpart.core.findings import (
    coverage_problems,
    default_problems,
    hygiene_problems,
    unreadable_bound,
    unsupported,
)
from pgpart.core.interval import parse_interval
from pgpart.core.plan import (
    CreatePartition,
    DefaultPeriod,
    DefaultRows,
    DetachPartition,
    DropPartition,
    FinalizeDetach,
    Problem,
    ProblemCode,
    Status,
)
from pgpart.core.planner import Mode, Request, Target, plan
from pgpart.core.retention import (
    drop_right_problems,
    expired_before,
    removals,
    retention_cutoff,
    too_short,
)
from pgpart.core.retention_rules import Removal
from pgpart.core.snapshot import Login, Partition, PartitionedTable
from pgpart.core.table_frame import TableFrame, table_ref
from tests.unit.test_planner_unit import DEFAULT, NOW, monthly, part, snapshot, table, utc

MONTHLY = parse_interval("monthly")
UTC = ZoneInfo("UTC")


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> TablePolicy:
    empty: Path = tmp_path_factory.mktemp("cfg")
    return load_settings(Overrides(), {}, empty).defaults


def frame(t: PartitionedTable, now: datetime = NOW) -> TableFrame:
    return TableFrame(t, KeyKind.TIMESTAMPTZ, UTC, UTC, MONTHLY, now, cal.Grid(MONTHLY))


# --- coverage ---------------------------------------------------------------


def test_segments_merge_touching_partitions_and_keep_holes() -> None:
    parts = [
        part("a", utc(2026, 1), utc(2026, 2)),
        part("b", utc(2026, 2), utc(2026, 3)),
        part("c", utc(2026, 4), utc(2026, 5)),
    ]
    stretches = segments(parts)
    assert stretches == [(utc(2026, 1), utc(2026, 3)), (utc(2026, 4), utc(2026, 5))]
    assert segment_at(stretches, utc(2026, 2, 15)) == (utc(2026, 1), utc(2026, 3))
    assert segment_at(stretches, utc(2026, 3, 15)) is None
    assert covered(stretches, utc(2026, 1, 5), utc(2026, 3))
    assert not covered(stretches, utc(2026, 2), utc(2026, 4, 2))
    assert overlaps(parts, utc(2026, 2, 20), utc(2026, 4, 2)) == parts[1:]


def test_missing_current_and_gap(policy: TablePolicy) -> None:
    parts = monthly(range(-4, -2)) + monthly(range(-1, 0)) + monthly(range(1, 3))
    f = frame(table(*parts))
    assert coverage_problems(f, parts, policy) == [
        Problem(
            Status.CRITICAL,
            ProblemCode.MISSING_CURRENT,
            "no partition covers now (2026-11-22 12:00+00:00): inserts are failing",
        ),
        Problem(
            Status.WARNING,
            ProblemCode.GAP,
            "no partition covers [2026-09-01 00:00+00:00, 2026-10-01 00:00+00:00)",
        ),
    ]


def test_insufficient_ahead_is_critical_before_it_is_a_warning(policy: TablePolicy) -> None:
    parts = monthly(range(-1, 1))  # up to 2026-12-01, 9 days ahead of NOW
    f = frame(table(*parts))
    warn = replace(policy, warn_ahead=Duration(days=20), critical_ahead=Duration(days=5))
    assert coverage_problems(f, parts, warn) == [
        Problem(
            Status.WARNING,
            ProblemCode.INSUFFICIENT_AHEAD,
            "partitions end at 2026-12-01 00:00+00:00, less than 20 days ahead",
        )
    ]
    crit = replace(warn, critical_ahead=Duration(days=10))
    assert [(p.severity, p.code) for p in coverage_problems(f, parts, crit)] == [
        (Status.CRITICAL, "insufficient_ahead")
    ]
    assert coverage_problems(f, parts, replace(warn, warn_ahead=Duration(days=3))) == []


# --- the DEFAULT partition ----------------------------------------------------


def test_default_rows_name_their_periods_and_the_command_moving_them() -> None:
    f = frame(table(*monthly(range(-1, 1)), DEFAULT))
    rows = DefaultRows(7, True, (DefaultPeriod(utc(2026, 3), 4), DefaultPeriod(utc(2026, 12), 3)))
    (problem,) = default_problems(f, rows, premake=3)
    assert problem == Problem(
        Status.WARNING,
        ProblemCode.DEFAULT_HAS_ROWS,
        "DEFAULT partition public.events_default holds 7 rows: 2026-03 (4), 2026-12 (3); "
        "maintain leaves rows outside [now, premake] there: move them with "
        "`pgpart create public.events --from 2026-03-01 --to 2026-04-01`",
    )


def test_far_future_strays_stay_out_of_the_command() -> None:
    """Rows of March 2026 and one stray of 2099: the command moves March,
    not a range stretched to 2099 (about 870 monthly partitions)."""
    f = frame(table(*monthly(range(-1, 1)), DEFAULT))
    periods = (DefaultPeriod(utc(2026, 3), 4), DefaultPeriod(utc(2099, 1), 1))
    (problem,) = default_problems(f, DefaultRows(5, True, periods), premake=3)
    assert problem.message.endswith(
        "1 far-future period: stray rows?; maintain leaves rows outside [now, premake] there:"
        " move them with `pgpart create public.events --from 2026-03-01 --to 2026-04-01`"
    )
    (alone,) = default_problems(f, DefaultRows(1, True, periods[1:]), premake=3)
    assert "pgpart create" not in alone.message and "stray rows?" in alone.message


def test_default_rows_when_sampled_failed_or_empty() -> None:
    f = frame(table(*monthly(range(-1, 1)), DEFAULT))
    sampled = default_problems(f, DefaultRows(2, False, (DefaultPeriod(utc(2026, 11), 2),)), 3)
    assert [p.message for p in sampled] == [
        "DEFAULT partition public.events_default holds at least 2 rows: 2026-11 (2)"
    ]
    failed = default_problems(f, DefaultRows(0, False, (), error="lock timeout"), 3)
    assert failed == [
        Problem(
            Status.WARNING,
            ProblemCode.DEFAULT_HAS_ROWS,
            "could not probe the DEFAULT partition: lock timeout",
        )
    ]
    assert default_problems(f, DefaultRows(0, True, ()), 3) == []
    assert default_problems(frame(table(*monthly(range(-1, 1)))), None, 3) == []


# --- hygiene and retention ------------------------------------------------------


def pending_and_old() -> PartitionedTable:
    parts = monthly(range(-8, 1))
    parts[0] = replace(parts[0], pending_detach=True)  # 2026-03, half-detached
    parts[6] = replace(parts[6], pending_detach=True)  # 2026-09
    return table(*parts)


def test_expired_partitions_are_computed_once_with_and_without_pending() -> None:
    t = pending_and_old()
    f = frame(t)
    cutoff = retention_cutoff(f, Duration(months=4))
    expired = expired_before(f, cutoff)
    assert expired.cutoff == datetime(2026, 7, 22, 12, tzinfo=timezone.utc) == cutoff
    assert [p.name for p in expired.partitions] == ["events_2026_03", "events_2026_04",
                                                   "events_2026_05", "events_2026_06"]  # fmt: skip
    assert [p.name for p in expired.settled] == ["events_2026_04", "events_2026_05",
                                                "events_2026_06"]  # fmt: skip
    # never the partition holding now, whatever the cutoff
    assert [p.name for p in expired_before(f, utc(2030, 1)).partitions][-1] == "events_2026_10"


def test_hygiene_reports_pending_detaches_and_overdue_retention() -> None:
    f = frame(pending_and_old())
    expired = expired_before(f, retention_cutoff(f, Duration(months=4)))
    assert hygiene_problems(f, expired, Duration(months=4)) == [
        Problem(
            Status.WARNING,
            ProblemCode.PENDING_DETACH,
            "public.events_2026_03 is half-detached (DETACH CONCURRENTLY was interrupted);"
            " maintain finishes it",
        ),
        Problem(
            Status.WARNING,
            ProblemCode.PENDING_DETACH,
            "public.events_2026_09 is half-detached (DETACH CONCURRENTLY was interrupted);"
            " maintain finishes it",
        ),
        Problem(
            Status.WARNING,
            ProblemCode.RETENTION_OVERDUE,
            "3 partition(s) lie wholly before the retention cutoff 2026-07-22 12:00+00:00"
            " (retention 4 months)",
        ),
    ]
    assert [p.code for p in hygiene_problems(f, None, None)] == ["pending_detach"] * 2


def test_a_retention_shorter_than_every_period_is_too_short() -> None:
    f = frame(table(*monthly(range(-1, 1))))
    assert too_short(f, Duration(days=27))
    assert not too_short(f, Duration(days=31))
    assert not too_short(replace(f, interval=None), Duration(microseconds=60_000_000))


def test_drop_rights_name_the_owner_to_grant() -> None:
    parts = monthly(range(-6, 1), owner="archiver")
    t = table(*parts)
    f = frame(t)
    snap = snapshot(t)
    expired = expired_before(f, utc(2026, 7))
    assert drop_right_problems(t, snap, expired) == [
        Problem(
            Status.WARNING,
            ProblemCode.CANNOT_DROP,
            "retention cannot drop public.events_2026_05 and 1 more: owned by role archiver,"
            " and the login role app is neither that role nor a member of it; nothing was"
            " detached. Fix: GRANT archiver TO app",
        )
    ]
    assert drop_right_problems(t, snap, None) == []
    boss = replace(snap, login=Login("boss", True, False, frozenset({"boss"})))
    assert drop_right_problems(t, boss, expired) == []


def test_drop_removes_pending_detaches_too_and_detach_leaves_them_to_finalize(
    policy: TablePolicy,
) -> None:
    t = pending_and_old()
    f = frame(t)
    ref = table_ref(f)
    expired = expired_before(f, utc(2026, 6))
    dropped, refused = removals(f, ref, snapshot(t), expired, Removal.DROP)
    assert not refused
    assert [(type(a), a.partition) for a in dropped] == [
        (DropPartition, "events_2026_03"),
        (DropPartition, "events_2026_04"),
        (DropPartition, "events_2026_05"),
    ]
    detached, _ = removals(f, ref, snapshot(t), expired, Removal.DETACH)
    assert [(type(a), a.partition) for a in detached] == [
        (DetachPartition, "events_2026_04"),
        (DetachPartition, "events_2026_05"),
    ]
    # through the planner: the 2026-09 pending detach is finalized, 2026-03 dropped
    got = plan(
        [Target(t.qualified, t, policy)],
        snapshot(t),
        NOW,
        Request(Mode.DROP, drop_before=datetime(2026, 6, 1), analyze=False),
    ).tables[0]
    assert got.actions[0] == FinalizeDetach(ref, "events_2026_09", "public")
    assert got.actions[1:] == dropped


# --- tables pgpart cannot work on ---------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"relkind": "r"}, "not_partitioned", "public.events is not a partitioned table"),
        (
            {"strategy": "list"},
            "unsupported_key",
            "public.events is partitioned by list, not by a time range",
        ),
        (
            {"key_column": None},
            "unsupported_key",
            "public.events has a multi-column or expression partition key",
        ),
        (
            {"key_kind": None, "key_type": "integer"},
            "unsupported_key",
            "public.events is partitioned on ts of type integer, not a date or time column",
        ),
    ],
)
def test_unsupported_tables(
    policy: TablePolicy, changes: dict[str, object], code: str, message: str
) -> None:
    t = table(**changes)
    assert unsupported(Target("events", t, policy)) == Problem(
        Status.UNKNOWN, ProblemCode(code), message
    )


def test_unknown_and_unreadable_tables(policy: TablePolicy) -> None:
    assert unsupported(Target("nope", None, policy)) == Problem(
        Status.UNKNOWN, ProblemCode.UNKNOWN_TABLE, "table nope does not exist"
    )
    assert unsupported(Target("events", table(), policy)) is None
    bad = Partition("public", "odd", None, 0, None, bound_error="FROM (x)", oid=7)
    assert unreadable_bound(table(bad)) == Problem(
        Status.UNKNOWN,
        ProblemCode.UNSUPPORTED_KEY,
        "cannot read the bound of public.odd: FROM (x)",
    )
    assert unreadable_bound(table(*monthly(range(0, 1)))) is None


# --- create's window ------------------------------------------------------------


def test_create_from_to_and_the_cap_on_new_partitions(policy: TablePolicy) -> None:
    t = table(*monthly(range(0, 1)))
    asked = Request(
        Mode.CREATE,
        create_from=datetime(2026, 8, 1),
        create_to=datetime(2026, 11, 1),
        analyze=False,
    )
    got = plan([Target(t.qualified, t, policy)], snapshot(t), NOW, asked).tables[0]
    creates = [a for a in got.actions if isinstance(a, CreatePartition)]
    assert creates == list(got.actions)
    assert [(a.partition, a.lower, a.upper) for a in creates] == [
        ("events_2026_08", utc(2026, 8), utc(2026, 9)),
        ("events_2026_09", utc(2026, 9), utc(2026, 10)),
        ("events_2026_10", utc(2026, 10), utc(2026, 11)),
    ]
    capped = plan(
        [Target(t.qualified, t, policy)], snapshot(t), NOW, replace(asked, max_new_partitions=2)
    ).tables[0]
    assert capped.actions == () and capped.blocked
    assert [(p.severity, p.code) for p in capped.problems] == [(Status.CRITICAL, "refused")]
    forced = replace(asked, max_new_partitions=2, force=True)
    assert len(plan([Target(t.qualified, t, policy)], snapshot(t), NOW, forced).actions) == 3


def test_drop_removes_by_its_own_cutoff_and_reports_the_policy_s(policy: TablePolicy) -> None:
    """Two cutoffs for one table: drop's --before decides what goes, the
    configured retention what check calls overdue."""
    t = table(*monthly(range(-8, 1), owner="archiver"))
    keep = replace(policy, retention=Duration(months=6))
    asked = Request(Mode.DROP, drop_before=datetime(2026, 6, 1))
    got = plan([Target(t.qualified, t, keep)], snapshot(t), NOW, asked).tables[0]
    overdue = [p.message for p in got.problems if p.code == ProblemCode.RETENTION_OVERDUE]
    assert overdue == [
        "2 partition(s) lie wholly before the retention cutoff 2026-05-22 12:00+00:00"
        " (retention 6 months)"
    ]
    (denied,) = [p.message for p in got.problems if p.code == ProblemCode.CANNOT_DROP]
    assert denied.startswith("retention cannot drop public.events_2026_03 and 2 more:")
    assert got.actions == () and got.blocked
