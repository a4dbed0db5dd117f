"""The library API: `from pgpart import ...`, against the real test database."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import cast

import pytest

import pgpart
from pgpart import (
    ActionResult,
    ConfigError,
    CreatePartition,
    Mode,
    Overrides,
    Plan,
    Request,
    Settings,
    Status,
    TableStats,
    apply,
    check,
    gather,
    load_settings,
    open_connection,
    plan_changes,
    read_stats,
)
from pgpart.cli.output import Format, render_check  # the command line's, not the library's
from tests.support.cli_helpers import NOW, TODAY, month_start, monthly_table

MOMENT = datetime.fromisoformat(NOW)

CONFIG = """\
[defaults]
timezone = "UTC"

[[table]]
name = "public.messages"
interval = "monthly"
premake = 2
"""


def settings_for(tmp_path: Path, dsn: str) -> Settings:
    path = tmp_path / "pgpart.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_settings(Overrides(dsn=dsn, config=path), {}, tmp_path)


def test_every_exported_name_resolves() -> None:
    for name in pgpart.__all__:
        assert getattr(pgpart, name) is not None, name
    assert set(pgpart.__all__) <= set(dir(pgpart))
    with pytest.raises(AttributeError):
        pgpart.no_such_name  # noqa: B018


def test_submodules_are_still_importable() -> None:
    # `stats` and `config` are modules; the stats function is exported as read_stats.
    from pgpart import config
    from pgpart.db import stats

    assert config.load_settings is load_settings
    assert callable(stats.table_stats)
    assert read_stats is not cast(object, stats)


def test_import_stays_lazy() -> None:
    code = (
        "import sys, pgpart; "
        "heavy = [m for m in ('psycopg', 'pgpart.api', 'pgpart.config', 'typer') "
        "if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_load_settings_reports_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "pgpart.toml"
    path.write_text('[defaults]\npremake = "three"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="premake"):
        load_settings(Overrides(config=path), {}, tmp_path)


def test_check_plan_apply_check(pg_conn, pg_dsn, tmp_path: Path) -> None:
    # Three months before NOW's month, none for it: inserts at NOW would fail.
    monthly_table(pg_conn, "messages", months=range(-3, 0))
    settings = settings_for(tmp_path, pg_dsn)
    assert [t.name for t in settings.tables] == ["public.messages"]

    with open_connection(settings) as conn:
        gathered = gather(conn, settings, [])
        before = check(conn, settings, [], MOMENT)
    assert [t.argument for t in gathered.targets] == ["public.messages"]
    assert isinstance(before, Plan)
    assert before.status is Status.CRITICAL
    (table,) = before.tables
    assert "missing_current" in {p.code for p in table.problems}
    assert '"status": "critical"' in render_check(before, Format.JSON)

    with open_connection(settings) as conn:
        planned = plan_changes(conn, settings, ["public.messages"], MOMENT, Request(Mode.MAINTAIN))
    creates = [a for a in planned.actions if isinstance(a, CreatePartition)]
    # The current month first, then premake (2) months ahead.
    assert [a.lower.date() for a in creates] == [month_start(TODAY, i) for i in range(3)]
    assert [a.partition for a in creates] == [
        "messages_2026_11",
        "messages_2026_12",
        "messages_2027_01",
    ]

    dry = apply(settings, planned, dry_run=True)
    assert all(isinstance(r, ActionResult) and not r.done for r in dry)
    assert any("ATTACH PARTITION" in s for s in dry[0].sql)
    with open_connection(settings) as conn:
        assert check(conn, settings, [], MOMENT).status is Status.CRITICAL  # dry run: no change

    logged: list[str] = []
    results = apply(settings, planned, log=logged.append)
    assert [(r.done, r.error) for r in results] == [(True, None)] * 4  # 3 creates, 1 analyze
    assert any("ATTACH PARTITION" in line for line in logged)

    with open_connection(settings) as conn:
        after = check(conn, settings, [], MOMENT)
        again = plan_changes(conn, settings, [], MOMENT, Request(Mode.MAINTAIN))
    assert after.status is Status.OK, after
    assert again.actions == ()
    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES (%s, 'hi')", (MOMENT,))


def test_read_stats(pg_conn, pg_dsn, tmp_path: Path) -> None:
    monthly_table(pg_conn, "messages", months=range(-1, 2))
    pg_conn.execute("INSERT INTO messages (created_at, body) VALUES (%s, 'x')", (MOMENT,))
    settings = settings_for(tmp_path, pg_dsn)
    with open_connection(settings) as conn:
        tables, unreadable = read_stats(conn, settings, [], exact=True)
    assert unreadable.tables == ()
    (stats,) = tables
    assert isinstance(stats, TableStats)
    assert stats.table == "public.messages"
    assert len(stats.partitions) == 3
    assert stats.total_rows == 1


def test_unknown_table_is_a_finding_not_an_exception(pg_dsn, tmp_path: Path) -> None:
    settings = load_settings(Overrides(dsn=pg_dsn), {}, tmp_path)
    with open_connection(settings) as conn:
        report = check(conn, settings, ["public.nope"], MOMENT)
    assert report.status is Status.UNKNOWN
    assert report.tables[0].problems[0].code == "unknown_table"


def test_each_table_runs_with_the_limits_its_plan_carries(pg_conn, pg_dsn, tmp_path) -> None:
    """lock_timeout per table, statement_timeout and retry_for of the run:
    each TablePlan carries them (its ``execution``), and apply runs its
    actions with them, nothing looked up again by table."""
    from dataclasses import replace

    from pgpart.core.policy import Execution

    monthly_table(pg_conn, "messages", months=range(-1, 0))
    monthly_table(pg_conn, "events", months=range(-1, 0))
    path = tmp_path / "pgpart.toml"
    path.write_text(
        '[defaults]\nstatement_timeout = "45s"\n\n'
        '[[table]]\nname = "public.messages"\ninterval = "monthly"\nlock_timeout = "123ms"\n\n'
        '[[table]]\nname = "public.events"\ninterval = "monthly"\n',
        encoding="utf-8",
    )
    settings = load_settings(Overrides(dsn=pg_dsn, config=path), {}, tmp_path)
    with open_connection(settings) as conn:
        planned = plan_changes(conn, settings, [], MOMENT, Request(Mode.MAINTAIN, analyze=False))
    by_name = {t.table: t for t in planned.tables}
    assert by_name["public.messages"].execution == Execution(123, 45_000, 30.0, 100_000)
    assert by_name["public.events"].execution == Execution(500, 45_000, 30.0, 100_000)

    def statements(results: list[ActionResult], table: str) -> set[str]:
        return {s for r in results if r.action.table.name == table for s in r.sql}

    dry = apply(settings, planned, dry_run=True)
    assert "SET LOCAL lock_timeout = '123ms'" in statements(dry, "messages")
    assert "SET LOCAL lock_timeout = '500ms'" in statements(dry, "events")
    assert "SET LOCAL statement_timeout = '45000ms'" in statements(dry, "events")
    # What the plan carries is what runs: the settings are not read again.
    tables = tuple(
        replace(t, execution=replace(t.execution, lock_timeout_ms=77)) for t in planned.tables
    )
    again = apply(settings, replace(planned, tables=tables), dry_run=True)
    assert "SET LOCAL lock_timeout = '77ms'" in statements(again, "messages")
    assert not any("123ms" in s for s in statements(again, "messages"))
