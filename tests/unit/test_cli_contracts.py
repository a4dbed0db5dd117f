"""The command line's own contracts, without a server: exit codes mapped in
one place, expected failures as one line, the typed request feeding the
settings, and the one error boundary left in the code."""

from __future__ import annotations

import ast
from pathlib import Path

import psycopg
import pytest

from pgpart.cli.exit_codes import (
    Stop,
    check_exit_code,
    expected_failure,
    stats_exit_code,
    worst,
    write_exit_code,
    written_exit_code,
)
from pgpart.cli.requests import Where
from pgpart.config import Overrides
from pgpart.core.plan import Plan, Problem, ProblemCode, Status, TablePlan
from pgpart.errors import ConfigError, ExitCode, UsageError, WriteRefused

PGPART = Path(__file__).resolve().parents[2] / "pgpart"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (Status.OK, ExitCode.OK),
        (Status.WARNING, ExitCode.WARNING),
        (Status.CRITICAL, ExitCode.CRITICAL),
        (Status.UNKNOWN, ExitCode.UNKNOWN),
    ],
)
def test_check_exit_code_is_the_verdict(status: Status, code: ExitCode) -> None:
    assert check_exit_code(status) is code


def test_stats_exit_code() -> None:
    assert stats_exit_code(refused=False) is ExitCode.OK
    assert stats_exit_code(refused=True) is ExitCode.UNKNOWN


@pytest.mark.parametrize(
    ("refused", "failed", "interrupted", "code"),
    [
        (False, False, False, ExitCode.OK),
        (False, True, False, ExitCode.CRITICAL),
        (True, True, False, ExitCode.UNKNOWN),
        (True, True, True, ExitCode.INTERRUPTED),
        (False, False, True, ExitCode.INTERRUPTED),
    ],
)
def test_write_exit_code_precedence(
    refused: bool, failed: bool, interrupted: bool, code: ExitCode
) -> None:
    assert write_exit_code(refused=refused, failed=failed, interrupted=interrupted) is code


def test_worst_over_databases_ranks_critical_above_unknown() -> None:
    assert worst([]) is ExitCode.OK
    assert worst([0, 1]) is ExitCode.WARNING
    assert worst([1, 3]) is ExitCode.UNKNOWN
    assert worst([3, 2, 1]) is ExitCode.CRITICAL


def test_expected_failures_are_one_line_with_their_code() -> None:
    assert expected_failure(ConfigError("bad key")) == Stop("bad key", ExitCode.UNKNOWN)
    assert expected_failure(UsageError("--from")) == Stop("--from", ExitCode.UNKNOWN)
    assert expected_failure(WriteRefused("no --yes")) == Stop("no --yes", ExitCode.CRITICAL)
    lost = expected_failure(psycopg.OperationalError("server closed\n  the connection"))
    assert lost == Stop(
        "lost the connection to the server: server closed the connection", ExitCode.UNKNOWN
    )
    assert expected_failure(psycopg.ProgrammingError("bad")) == Stop("bad", ExitCode.UNKNOWN)


def test_a_bug_is_not_an_expected_failure() -> None:
    assert expected_failure(KeyError("x")) is None


def test_where_builds_the_settings_overrides() -> None:
    where = Where.of(["host=a", "host=b"], ["svc"], 2, Path("p.toml"), "200ms")
    assert where.dsn == "host=a"
    assert where.overrides(None) == Overrides(config=Path("p.toml"), lock_timeout="200ms")
    assert where.overrides("host=a") == Overrides(
        dsn="host=a", config=Path("p.toml"), lock_timeout="200ms"
    )
    assert Where.of(None).dsn is None


def _broad_handlers(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ExceptHandler)
        and (
            node.type is None
            or (isinstance(node.type, ast.Name) and node.type.id in {"Exception", "BaseException"})
        )
        # a clean-up that re-raises (kill the child processes, then raise) catches nothing
        and not (isinstance(node.body[-1], ast.Raise) and node.body[-1].exc is None)
    ]


def test_one_boundary_catches_everything() -> None:
    """In the whole package, only a fleet member's boundary catches (and
    keeps) every exception (a bug in one member must not stop the others); everything
    else names what it expects."""
    files = sorted(PGPART.rglob("*.py"))
    found = {str(p.relative_to(PGPART)): _broad_handlers(p) for p in files}
    runner = "cli/fleet_members.py"
    assert {name: lines for name, lines in found.items() if lines} == {runner: found[runner]}
    assert len(found[runner]) == 1


def _table(*problems: Problem, blocked: bool = False) -> TablePlan:
    return TablePlan(
        "public.events", Status.OK, "1 day", "inferred", 3, None, None, 0, problems, (), blocked
    )


def test_a_writing_run_maps_the_same_alone_and_in_a_fleet() -> None:
    """One function for one database and for each fleet member: a retention
    refused while planning is UNKNOWN even when the table's other work ran."""
    from datetime import datetime, timezone

    now = datetime(2026, 11, 29, tzinfo=timezone.utc)
    too_short = Problem(Status.UNKNOWN, ProblemCode.RETENTION_TOO_SHORT, "retention too short")
    withheld = Problem(Status.CRITICAL, ProblemCode.CANNOT_DROP, "not the owner")
    assert written_exit_code(Plan(now, (_table(),)), []) is ExitCode.OK
    assert written_exit_code(Plan(now, (_table(too_short),)), []) is ExitCode.UNKNOWN
    assert written_exit_code(Plan(now, (_table(withheld, blocked=True),)), []) is ExitCode.CRITICAL
    assert written_exit_code(Plan(now, (_table(),)), [], interrupted=True) is ExitCode.INTERRUPTED
    callers = [
        p.relative_to(PGPART).as_posix()
        for p in sorted((PGPART / "cli").rglob("*.py"))
        if "written_exit_code(" in p.read_text(encoding="utf-8") and p.stem != "exit_codes"
    ]
    assert callers == ["cli/write_run.py"]  # one writing run, whatever the databases


def _exit_code_picks(path: Path) -> list[str]:
    """Where a module names an exit code or leaves the process itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "ExitCode":
            found.append(f"{node.lineno}: ExitCode.{node.attr}")
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if called in {"typer.Exit", "sys.exit", "os._exit", "exit", "SystemExit", "Exit"}:
                found.append(f"{node.lineno}: {called}()")
        if isinstance(node, ast.Raise) and ast.unparse(node.exc or node) == "SystemExit":
            found.append(f"{node.lineno}: raise SystemExit")
    return found


def test_exit_codes_are_chosen_in_one_place() -> None:
    """Only pgpart/cli/exit_codes.py names an exit code (errors.py defines
    them): the commands ask it to refuse, to stop on Ctrl-C, to end a
    deliberate no-op, or to finish with a code it computed."""
    files = sorted(PGPART.rglob("*.py"))
    picks = {
        str(p.relative_to(PGPART)): _exit_code_picks(p)
        for p in files
        if p.relative_to(PGPART).as_posix() not in {"cli/exit_codes.py", "errors.py"}
    }
    assert {name: found for name, found in picks.items() if found} == {}
    assert _exit_code_picks(PGPART / "cli" / "exit_codes.py")  # the finder finds


def test_an_exception_s_code_is_its_class_s() -> None:
    from pgpart.errors import ArchiveError, StandbyRefused

    assert expected_failure(StandbyRefused("in recovery")) == Stop("in recovery", ExitCode.CRITICAL)
    assert expected_failure(ArchiveError("pg_dump failed")).code is ExitCode.CRITICAL  # type: ignore[union-attr]
    assert not hasattr(ConfigError("x"), "exit_code")


def test_every_renderer_name_resolves_and_only_its_module_is_imported() -> None:
    """pgpart.cli.output imports a renderer's module when it is asked for:
    check does not import the results' renderer, maintain not the stats'."""
    import subprocess
    import sys

    import pgpart.cli.output as output

    for name in output.__all__:
        assert getattr(output, name) is not None, name
    with pytest.raises(AttributeError):
        output.no_such_renderer  # noqa: B018
    code = (
        "import sys; from pgpart.cli.output import render_checks;"
        " print(sorted(m for m in sys.modules if m.startswith('pgpart.cli.output.')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = run.stdout
    assert "pgpart.cli.output.check" in loaded and "pgpart.cli.output.stats" not in loaded
    assert "pgpart.cli.output.results" not in loaded
