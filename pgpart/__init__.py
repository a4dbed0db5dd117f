"""pgpart: keep PostgreSQL time-partitioned tables healthy.

The library API is what the CLI itself runs, importable from here::

    from pgpart import Overrides, load_settings, open_connection, check

    settings = load_settings(Overrides(dsn="postgresql:///app"), os.environ, Path.cwd())
    with open_connection(settings) as conn:
        report = check(conn, settings, [], datetime.now(timezone.utc))
    print(report.status)          # Status.OK / WARNING / CRITICAL / UNKNOWN

The pipeline: ``load_settings`` -> ``gather`` (one catalog snapshot) ->
``check`` / ``read_stats`` / ``plan_changes`` (a ``Plan``) -> ``apply``
(a list of ``ActionResult``) -> ``render_*`` (the CLI's text, JSON, CSV or
Prometheus output).

Importing this package stays cheap (``pgpart --version`` must start fast):
every name below is imported on first use, through ``__getattr__``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pgpart.calendar import Interval
    from pgpart.catalog import Partition, PartitionedTable, Snapshot
    from pgpart.config import Overrides, RetentionMode, Settings, TablePolicy, load_settings
    from pgpart.duration import Duration
    from pgpart.errors import ConfigError, ExitCode, PgpartError
    from pgpart.executor import ActionResult
    from pgpart.plan import (
        Action,
        CreatePartition,
        DetachPartition,
        DropPartition,
        FinalizeDetach,
        Plan,
        Problem,
        Status,
        TablePlan,
    )
    from pgpart.planner import Mode, Request
    from pgpart.render import Format, render_check, render_results, render_stats
    from pgpart.service import Gathered, apply, check, gather, open_connection, plan_changes
    from pgpart.service import stats as read_stats
    from pgpart.stats import PartitionStats, TableStats

# name -> (module, attribute). `stats` is the module pgpart.stats, so the
# service function is exported as read_stats.
_EXPORTS: dict[str, tuple[str, str]] = {
    # settings
    "Overrides": ("pgpart.config", "Overrides"),
    "RetentionMode": ("pgpart.config", "RetentionMode"),
    "Settings": ("pgpart.config", "Settings"),
    "TablePolicy": ("pgpart.config", "TablePolicy"),
    "load_settings": ("pgpart.config", "load_settings"),
    "Duration": ("pgpart.duration", "Duration"),
    "Interval": ("pgpart.calendar", "Interval"),
    # the pipeline
    "open_connection": ("pgpart.service", "open_connection"),
    "gather": ("pgpart.service", "gather"),
    "Gathered": ("pgpart.service", "Gathered"),
    "check": ("pgpart.service", "check"),
    "read_stats": ("pgpart.service", "stats"),
    "plan_changes": ("pgpart.service", "plan_changes"),
    "apply": ("pgpart.service", "apply"),
    "Mode": ("pgpart.planner", "Mode"),
    "Request": ("pgpart.planner", "Request"),
    # what it reads and produces
    "Snapshot": ("pgpart.catalog", "Snapshot"),
    "PartitionedTable": ("pgpart.catalog", "PartitionedTable"),
    "Partition": ("pgpart.catalog", "Partition"),
    "Plan": ("pgpart.plan", "Plan"),
    "TablePlan": ("pgpart.plan", "TablePlan"),
    "Problem": ("pgpart.plan", "Problem"),
    "Status": ("pgpart.plan", "Status"),
    "Action": ("pgpart.plan", "Action"),
    "CreatePartition": ("pgpart.plan", "CreatePartition"),
    "DropPartition": ("pgpart.plan", "DropPartition"),
    "DetachPartition": ("pgpart.plan", "DetachPartition"),
    "FinalizeDetach": ("pgpart.plan", "FinalizeDetach"),
    "ActionResult": ("pgpart.executor", "ActionResult"),
    "TableStats": ("pgpart.stats", "TableStats"),
    "PartitionStats": ("pgpart.stats", "PartitionStats"),
    # output, as the CLI prints it
    "Format": ("pgpart.render", "Format"),
    "render_check": ("pgpart.render", "render_check"),
    "render_stats": ("pgpart.render", "render_stats"),
    "render_results": ("pgpart.render", "render_results"),
    # errors
    "PgpartError": ("pgpart.errors", "PgpartError"),
    "ConfigError": ("pgpart.errors", "ConfigError"),
    "ExitCode": ("pgpart.errors", "ExitCode"),
}

__all__ = [
    "Action",
    "ActionResult",
    "ConfigError",
    "CreatePartition",
    "DetachPartition",
    "DropPartition",
    "Duration",
    "ExitCode",
    "FinalizeDetach",
    "Format",
    "Gathered",
    "Interval",
    "Mode",
    "Overrides",
    "Partition",
    "PartitionStats",
    "PartitionedTable",
    "PgpartError",
    "Plan",
    "Problem",
    "Request",
    "RetentionMode",
    "Settings",
    "Snapshot",
    "Status",
    "TablePlan",
    "TablePolicy",
    "TableStats",
    "__version__",
    "apply",
    "check",
    "gather",
    "load_settings",
    "open_connection",
    "plan_changes",
    "read_stats",
    "render_check",
    "render_results",
    "render_stats",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        # AttributeError lets `from pgpart import config` fall back to the submodule.
        raise AttributeError(f"module 'pgpart' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
